//! Runs the CLI half of `shoal` on its own (for trying commands against a daemon or a fake
//! without building the whole binary).

fn main() {
    let code = match shoal_cli::parse() {
        shoal_cli::Invocation::Cli(cli) => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(shoal_cli::run(cli)),
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                1
            }
        },
        _ => {
            eprintln!("this example only runs CLI commands");
            125
        }
    };
    std::process::exit(code);
}
