//! The command line: global options shared by every command, one variant
//! per command, and the mapping of outcomes to exit codes.
//!
//! Exit codes: 0 all good, 1 a problem was found (or an error occurred),
//! 2 usage error (clap's own code); `wait` adds its own (3–5, see
//! `commands/wait.rs`).

use crate::commands;
use crate::config::{Flags, Settings};
use crate::doctor;
use crate::syncthing::{Overrides, SearchEnv};
use clap::{Args, CommandFactory as _, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  everything is fine
  1  a problem was found (the message says what to do)
  2  usage error (unknown option, missing value)";

/// Runs next to a Syncthing node: watches, hashes, syncs deltas with the
/// cloud and shows per-file badges.
#[derive(Debug, Parser)]
#[command(
    name = "companion",
    version,
    after_help = format!("Example:\n  companion doctor --syncthing-home ~/.local/state/syncthing\n\n{EXIT_CODES}")
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. Each also reads a `COMPANION_*` variable.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The companion's config file.
    #[arg(long, global = true, value_name = "FILE", env = "COMPANION_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the companion keeps its state (manifest, outbox).
    #[arg(long, global = true, value_name = "DIR", env = "COMPANION_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for the cloud's TLS, on top of the
    /// system's (a private CA behind your reverse proxy). `login` saves it.
    #[arg(long, global = true, value_name = "FILE", env = "COMPANION_CLOUD_CA")]
    pub cloud_ca: Option<PathBuf>,
    /// Syncthing's home directory (the one holding config.xml). Default: searched in
    /// $XDG_STATE_HOME/syncthing, ~/.local/state/syncthing, ~/.config/syncthing.
    #[arg(long, global = true, value_name = "DIR", env = "COMPANION_SYNCTHING_HOME")]
    pub syncthing_home: Option<PathBuf>,
    /// Syncthing's GUI/REST address, e.g. http://127.0.0.1:8384. Default: from config.xml.
    #[arg(long, global = true, value_name = "URL", env = "COMPANION_SYNCTHING_URL")]
    pub syncthing_url: Option<String>,
    /// Syncthing's API key. Default: from config.xml.
    #[arg(long, global = true, value_name = "KEY", env = "COMPANION_SYNCTHING_API_KEY", hide_env_values = true)]
    pub syncthing_api_key: Option<String>,
}

impl GlobalArgs {
    /// The settings for this invocation: flags, environment, file, defaults.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let flags = Flags {
            config: self.config.clone(),
            state_dir: self.state_dir.clone(),
            cloud_ca: self.cloud_ca.clone(),
            syncthing: self.syncthing_overrides(),
        };
        Ok(Settings::from_process(&flags)?)
    }

    /// The Syncthing-related flags as discovery overrides.
    pub fn syncthing_overrides(&self) -> Overrides {
        Overrides {
            home: self.syncthing_home.clone(),
            url: self.syncthing_url.clone(),
            api_key: self.syncthing_api_key.clone(),
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that Syncthing can be reached and list its folders, or say what is wrong.
    #[command(after_help = format!(
        "Examples:\n  companion doctor\n  companion doctor --syncthing-url http://127.0.0.1:8384 --syncthing-api-key KEY\n\n{EXIT_CODES}"
    ))]
    Doctor(DoctorArgs),
    /// Find the local Syncthing and write the companion's config file.
    #[command(after_help = format!(
        "Examples:\n  companion init\n  companion init --syncthing-home ~/.local/state/syncthing\n\n{EXIT_CODES}"
    ))]
    Init,
    /// Check a cloud token and save it with the cloud's URL.
    #[command(after_help = format!(
        "Example:\n  companion login --cloud https://cloud.example.org --token TOKEN\n\n{EXIT_CODES}"
    ))]
    Login(LoginArgs),
    /// Make a cloud project for a Syncthing folder you own; prints the project id.
    #[command(after_help = format!("Examples:\n  companion share proj\n  companion share proj --name \"Film edit\"\n\n{EXIT_CODES}"))]
    Share(ShareArgs),
    /// Print a single-use invite code for one of your projects.
    #[command(after_help = format!(
        "Examples:\n  companion invite proj\n  companion invite 3f6c…-uuid --user 9a1b…-user-id\n\n{EXIT_CODES}"
    ))]
    Invite(InviteArgs),
    /// Compare your shared folders with what was sent and queue the changes.
    #[command(after_help = format!("Examples:\n  companion scan\n  companion scan proj\n\n{EXIT_CODES}"))]
    Scan(ScanArgs),
    /// Run the companion: watch, hash and send changes until Ctrl-C or SIGTERM.
    #[command(after_help = format!(
        "Examples:\n  companion run\n  RUST_LOG=companion=debug companion run --state-dir /tmp/c\n\n{EXIT_CODES}"
    ))]
    Run,
    /// Accept an invite and bind the project to a local Syncthing folder; prints the project id.
    #[command(after_help = format!("Example:\n  companion join 7Q2M-XK4D proj\n\n{EXIT_CODES}"))]
    Join(JoinArgs),
    /// Show each file's badge, percent and ETA (and, for owners, each member's progress).
    #[command(after_help = format!(
        "Examples:\n  companion status\n  companion status proj --json\n  companion status --watch\n\n{EXIT_CODES}"
    ))]
    Status(StatusArgs),
    /// List a directory of a shared folder like `ls`: each entry's badge, percent and ETA.
    #[command(after_help = format!(
        "Directories show their files aggregated: the worst state, the byte-weighted percent.\n\n\
         Examples:\n  companion ls\n  companion ls ~/Sync/film/shots --json\n\n{EXIT_CODES}"
    ))]
    Ls(LsArgs),
    /// Wait until files are ✓ verified here (or on a member's machine, for an owner).
    #[command(after_help = format!(
        "A directory means every file under it. The manifest is read every 500 ms.\n\n\
         Examples:\n  companion wait footage/ --timeout 2h && render footage/\n  \
         companion wait cut.mov --member bob\n\n{}",
        commands::wait::EXIT_CODES
    ))]
    Wait(WaitArgs),
    /// Print a shell completion script on stdout.
    #[command(after_help = format!(
        "Examples:\n  companion completions bash > ~/.local/share/bash-completion/completions/companion\n  \
         companion completions zsh > ~/.zfunc/_companion\n\n{EXIT_CODES}"
    ))]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command into a directory.
    #[command(after_help = format!(
        "Examples:\n  companion man | man -l -\n  companion man --dir debian/man   # companion.1, companion-ls.1, …\n\n{EXIT_CODES}"
    ))]
    Man(ManArgs),
}

/// Options of `companion man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write companion.1 and a page per command (companion-ls.1, …) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Options of `companion ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// A directory or file inside a shared folder; default: the working directory.
    pub path: Option<PathBuf>,
    /// Print JSON: {"project_id", "project", "folder", "path", "entries": [{"name", "path", "kind",
    /// "state", "percent", "size", "files", "eta_s", "error"}]}.
    #[arg(long)]
    pub json: bool,
}

/// Options of `companion wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Files or directories inside shared folders (they need not exist yet).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Give up after this long (30s, 5m, 2h, 500ms) with exit code 3; default: wait for ever.
    #[arg(long, value_name = "DUR", value_parser = commands::wait::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Owner: wait until this member (their name) reports the files ✓ instead.
    #[arg(long, value_name = "NAME")]
    pub member: Option<String>,
}

/// Options of `companion completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Options of `companion join`.
#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    /// The invite code the owner's `companion invite` printed.
    pub code: String,
    /// The local Syncthing folder id holding the shared folder.
    pub folder_id: String,
}

/// Options of `companion status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The project id, name or folder id; default: every project.
    pub project: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Redraw every second until interrupted.
    #[arg(long)]
    pub watch: bool,
}

/// Options of `companion login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The cloud's URL, e.g. https://cloud.example.org or http://127.0.0.1:3001.
    #[arg(long, value_name = "URL")]
    pub cloud: String,
    /// The token `cloud user add` printed.
    #[arg(long, value_name = "TOKEN", env = "COMPANION_CLOUD_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Options of `companion share`.
#[derive(Debug, Clone, Args)]
pub struct ShareArgs {
    /// The Syncthing folder id (see `companion doctor`).
    pub folder_id: String,
    /// The project's name; default: the folder's label.
    #[arg(long)]
    pub name: Option<String>,
}

/// Options of `companion invite`.
#[derive(Debug, Clone, Args)]
pub struct InviteArgs {
    /// The project id, name or folder id.
    pub project: String,
    /// Only this user (their id, from `cloud user add`) may accept.
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<uuid::Uuid>,
}

/// Options of `companion scan`.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// The project id, name or folder id; default: every project you own.
    pub project: Option<String>,
}

/// Options of `companion doctor`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Two workers: hashing and SQLite run on the blocking pool anyway.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut out = std::io::stdout();
    match cli.command {
        Command::Doctor(_) => {
            // The config file's [syncthing] section counts too (flags win).
            let settings = cli.global.settings();
            let overrides =
                settings.as_ref().map_or_else(|_| cli.global.syncthing_overrides(), |s| s.syncthing.clone());
            let env = SearchEnv::from_process();
            let outcome = runtime.block_on(doctor::run(&overrides, &env));
            let mut code = doctor::print(&outcome);
            if let Ok(settings) = settings {
                let (cloud_ok, lines) = runtime.block_on(commands::cloud_report(&settings));
                for line in lines.iter().chain(&commands::quarantine_report(&settings)) {
                    println!("{line}");
                }
                println!("{}", crate::socket::doctor_line(&settings.state_dir));
                if !cloud_ok {
                    code = ExitCode::from(1);
                }
            }
            Ok(code)
        }
        Command::Init => {
            runtime.block_on(commands::init::run(cli.global.settings()?, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Login(a) => {
            runtime.block_on(commands::login::run(cli.global.settings()?, &a.cloud, &a.token, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Share(a) => {
            let settings = cli.global.settings()?;
            runtime.block_on(commands::share::run(settings, &a.folder_id, a.name.as_deref(), &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Invite(a) => {
            runtime.block_on(commands::invite::run(cli.global.settings()?, &a.project, a.user, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(a) => {
            runtime.block_on(commands::scan::run(cli.global.settings()?, a.project.as_deref(), &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Join(a) => {
            let settings = cli.global.settings()?;
            runtime.block_on(commands::join::run(settings, &a.code, &a.folder_id, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(a) => {
            let settings = cli.global.settings()?;
            runtime.block_on(commands::status::run(settings, a.project.as_deref(), a.json, a.watch, &mut out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ls(a) => {
            commands::ls::run(&cli.global.settings()?, a.path.as_deref(), a.json, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wait(a) => {
            let settings = cli.global.settings()?;
            runtime.block_on(commands::wait::run(&settings, &a.paths, a.timeout, a.member.as_deref()))
        }
        Command::Completions(a) => {
            commands::completions::completions(Cli::command(), a.shell, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(a) => {
            match &a.dir {
                Some(dir) => commands::completions::man_pages(Cli::command(), dir)?,
                None => commands::completions::man(Cli::command(), &mut out)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            let settings = cli.global.settings()?;
            runtime.block_on(commands::run::preflight(&settings))?;
            let daemon = commands::run::daemon(settings);
            runtime.block_on(commands::run::run(daemon))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A second init (tests calling main twice) is harmless: ignore it.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::completions;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_command() {
        let cli = Cli::try_parse_from([
            "companion",
            "doctor",
            "--syncthing-url",
            "http://127.0.0.1:1",
            "--syncthing-api-key",
            "k",
        ])
        .unwrap();
        let o = cli.global.syncthing_overrides();
        assert_eq!(o.url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(o.api_key.as_deref(), Some("k"));
    }

    #[test]
    fn help_shows_an_example_and_the_exit_codes() {
        let mut cmd = Cli::command();
        let doctor = cmd.find_subcommand_mut("doctor").unwrap().render_long_help().to_string();
        assert!(doctor.contains("Examples:") && doctor.contains("Exit codes:"), "{doctor}");
        let top = Cli::command().render_long_help().to_string();
        assert!(top.contains("Example:") && top.contains("2  usage error"), "{top}");
        for name in ["ls", "wait", "completions", "man"] {
            let help = cmd.find_subcommand_mut(name).unwrap().render_long_help().to_string();
            assert!(help.contains("Example") && help.contains("Exit codes:"), "{name}: {help}");
        }
        let wait = cmd.find_subcommand_mut("wait").unwrap().render_long_help().to_string();
        for code in [
            "3  --timeout passed first",
            "4  a file has an error or conflict badge",
            "5  a file waited for was deleted",
        ] {
            assert!(wait.contains(code), "{code:?} missing from wait --help: {wait}");
        }
    }

    #[test]
    fn completions_and_man_page_name_every_command() {
        let mut bash = Vec::new();
        completions::completions(Cli::command(), clap_complete::Shell::Bash, &mut bash).unwrap();
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("complete -F _companion"), "{bash}");
        for command in ["doctor", "status", "ls", "wait", "completions", "man"] {
            assert!(bash.contains(command), "{command} missing from the bash completion");
        }
        let mut zsh = Vec::new();
        completions::completions(Cli::command(), clap_complete::Shell::Zsh, &mut zsh).unwrap();
        assert!(String::from_utf8(zsh).unwrap().contains("#compdef companion"));
        let mut page = Vec::new();
        completions::man(Cli::command(), &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        for section in
            [".TH companion 1", ".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS", "companion\\-wait"]
        {
            assert!(page.contains(section), "{section} missing from the man page:\n{page}");
        }
        let dir = tempfile::tempdir().unwrap();
        completions::man_pages(Cli::command(), dir.path()).unwrap();
        for page in ["companion.1", "companion-ls.1", "companion-wait.1", "companion-status.1"] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.contains(".SH SYNOPSIS"), "{page}: {text}");
        }
    }
}
