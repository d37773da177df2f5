//! `companion completions SHELL` and `companion man`: the shell completion
//! script and the man page, generated from the command line's own
//! definition (so they never drift from `--help`), for packages to install.
//! `cli` hands its [`clap::Command`] in (the test is there too).

use std::path::Path;

use anyhow::Context as _;
use clap_complete::Generator as _;

/// The completion script of `companion` (`cmd`) for `shell`.
pub fn completions(
    cmd: clap::Command,
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    // `clap_complete::generate` panics on a write error (say `| head`): not here.
    let mut cmd = cmd.bin_name("companion");
    cmd.build();
    shell.try_generate(&cmd, out)?;
    out.flush()
}

/// The `companion(1)` man page of `cmd`, in roff.
pub fn man(cmd: clap::Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd).render(out)?;
    out.flush()
}

/// `companion.1` and one page per command (`companion-ls.1`, …), which
/// the main page's SUBCOMMANDS section refers to, written into `dir`.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir).with_context(|| format!("cannot write man pages in {}", dir.display()))
}
