//! `completion bash|zsh|fish`: a completion script for the whole `shoal` command tree (the
//! CLI, `daemon` and `bench`), generated from the clap definition the CLI parses with, so it
//! never drifts from the real flags.

use crate::cmd::emit;
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to print a completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The script for `shell`, as text.
pub fn script(shell: Shell) -> String {
    let mut cmd = crate::args::command();
    let mut out = Vec::new();
    let gen_shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(gen_shell, &mut cmd, "shoal", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Prints the script; needs no daemon.
pub fn completion(a: CompletionArgs) -> anyhow::Result<()> {
    emit(&script(a.shell));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_cover_the_cli_the_daemon_and_their_flags() {
        let bash = script(Shell::Bash);
        assert!(
            bash.contains("complete -F _shoal"),
            "bash registers the function"
        );
        for word in ["service", "daemon", "events", "--data-root", "--replicas"] {
            assert!(bash.contains(word), "bash script lacks {word}");
        }
        assert!(script(Shell::Zsh).starts_with("#compdef shoal"));
        let fish = script(Shell::Fish);
        assert!(fish.contains("complete -c shoal"));
        assert!(fish.contains("data-root"));
    }
}
