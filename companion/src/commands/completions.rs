//! `companion completions SHELL` and `companion man`: the shell completion
//! script and the man page, generated from the command line's own
//! definition (so they never drift from `--help`), for packages to install.

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Generator as _;

use crate::cli::Cli;

/// The completion script of `companion` for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    // `clap_complete::generate` panics on a write error (say `| head`): not here.
    let mut cmd = Cli::command().bin_name("companion");
    cmd.build();
    shell.try_generate(&cmd, out)?;
    out.flush()
}

/// The `companion(1)` man page, in roff.
pub fn man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)?;
    out.flush()
}

/// `companion.1` and one page per command (`companion-ls.1`, …), which
/// the main page's SUBCOMMANDS section refers to, written into `dir`.
pub fn man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write man pages in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_page_name_every_command() {
        let mut bash = Vec::new();
        completions(clap_complete::Shell::Bash, &mut bash).unwrap();
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("complete -F _companion"), "{bash}");
        for command in ["doctor", "status", "ls", "wait", "completions", "man"] {
            assert!(bash.contains(command), "{command} missing from the bash completion");
        }
        let mut zsh = Vec::new();
        completions(clap_complete::Shell::Zsh, &mut zsh).unwrap();
        assert!(String::from_utf8(zsh).unwrap().contains("#compdef companion"));
        let mut page = Vec::new();
        man(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        for section in
            [".TH companion 1", ".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS", "companion\\-wait"]
        {
            assert!(page.contains(section), "{section} missing from the man page:\n{page}");
        }
        let dir = tempfile::tempdir().unwrap();
        man_pages(dir.path()).unwrap();
        for page in ["companion.1", "companion-ls.1", "companion-wait.1", "companion-status.1"] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.contains(".SH SYNOPSIS"), "{page}: {text}");
        }
    }
}
