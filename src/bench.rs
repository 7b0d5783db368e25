//! `shoal bench …`: prints the figures the issues ask for.

use shoal_cli::{BenchArgs, BenchTarget};
use std::process::ExitCode;

pub async fn run(args: BenchArgs) -> ExitCode {
    match args.what {
        BenchTarget::Raft => raft(args).await,
    }
}

async fn raft(args: BenchArgs) -> ExitCode {
    println!(
        "raft commit benchmark: one manager, fsync on, {} writes per run",
        args.writes
    );
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>10}",
        "writers", "writes/s", "p50", "p99", "max"
    );
    for &c in &args.concurrency {
        let tmp;
        let dir = match &args.data_dir {
            Some(d) => d.join(format!("bench-{c}")),
            None => {
                tmp = match tempfile::tempdir() {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("cannot create a temporary directory: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                tmp.path().to_path_buf()
            }
        };
        match shoal_raft::bench_writes(&dir, args.writes, c).await {
            Ok(r) => println!(
                "{:>8} {:>12.0} {:>10.2?} {:>10.2?} {:>10.2?}{}",
                c,
                r.writes_per_sec,
                r.p50,
                r.p99,
                r.max,
                if r.failed > 0 {
                    format!("  ({} failed)", r.failed)
                } else {
                    String::new()
                }
            ),
            Err(e) => {
                eprintln!("benchmark with {c} writers failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
