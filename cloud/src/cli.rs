//! The `cloud` command line: `cloud serve`, `cloud user add`, and
//! `cloud completions SHELL` / `cloud man` for packagers.
//!
//! Exit codes: 0 success, 1 runtime error (one plain sentence on stderr saying
//! what went wrong and what to do), 2 usage error (clap's message).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use tracing_subscriber::EnvFilter;

use crate::auth;
use crate::config::{self, Config, Database};
use crate::server;
use crate::state::Settings;
use crate::store::{StoreError, now_ms};

const EXIT_CODES: &str = "Exit codes: 0 success, 1 runtime error, 2 usage error.";

#[derive(Debug, Parser)]
#[command(
    name = "cloud",
    version,
    about = "The Syncthing companion's cloud: sequences project changes, stores them, pushes them to members",
    after_help = format!("Examples:\n  cloud user add alice\n  cloud serve --listen 0.0.0.0:3001\n\n{EXIT_CODES}")
)]
pub struct Cli {
    /// Log format on stderr (the level comes from RUST_LOG; default info for serve).
    #[arg(long, global = true, env = "CLOUD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP and WebSocket server.
    #[command(after_help = format!(
        "Examples:\n  cloud serve\n  cloud serve --listen 0.0.0.0:3001 --data-dir /var/lib/cloud\n  \
         cloud serve --database-url postgres://cloud:secret@db/cloud --log-format json\n\n{EXIT_CODES}"
    ))]
    Serve(ServeArgs),
    /// Exit 0 if the `cloud serve` at --listen answers GET /healthz (for container health checks).
    #[command(after_help = format!("Examples:\n  cloud healthcheck\n  cloud healthcheck --listen 127.0.0.1:3001\n\n{EXIT_CODES}"))]
    Healthcheck(HealthcheckArgs),
    /// Manage user accounts.
    #[command(subcommand, after_help = format!("Example:\n  cloud user add alice\n\n{EXIT_CODES}"))]
    User(UserCommand),
    /// Print a shell completion script on stdout.
    #[command(after_help = format!(
        "Examples:\n  cloud completions bash > /usr/share/bash-completion/completions/cloud\n  \
         cloud completions zsh > /usr/share/zsh/vendor-completions/_cloud\n\n{EXIT_CODES}"
    ))]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, or write one page per command into a directory.
    #[command(after_help = format!(
        "Examples:\n  cloud man | man -l -\n  cloud man --dir debian/man   # cloud.1, cloud-serve.1, …\n\n{EXIT_CODES}"
    ))]
    Man {
        /// Write cloud.1 and a page per command (cloud-serve.1, …) into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print their id and token (shown this once only).
    #[command(after_help = format!(
        "Examples:\n  cloud user add alice\n  cloud user add bob --data-dir /var/lib/cloud --json\n\n\
         Output: `user_id: <uuid>` and `token: <token>` lines, or one JSON object with --json.\n\n{EXIT_CODES}"
    ))]
    Add(UserAddArgs),
}

/// Where the data lives; shared by every command that opens the database.
///
/// The environment is read here rather than by clap: a flag must beat either
/// variable (`DATABASE_URL` is often set for other tools), which clap's `env`
/// would turn into a conflict between the two options.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// postgres://… selects PostgreSQL; sqlite://PATH or a plain path selects SQLite
    /// [env: DATABASE_URL]
    #[arg(long, conflicts_with = "data_dir")]
    pub database_url: Option<String>,
    /// Directory holding the SQLite database [env: CLOUD_DATA_DIR]
    /// [default: $XDG_DATA_HOME/syncthing-companion-cloud, else ~/.local/share/…]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DatabaseArgs {
    /// Flags first, then `DATABASE_URL`, then `CLOUD_DATA_DIR`, then the default directory.
    pub fn database(&self) -> Result<Database, config::ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (&self.database_url, &self.data_dir) {
            (Some(url), _) => Database::from_url(url),
            (None, Some(dir)) => Ok(Database::in_dir(dir)),
            (None, None) => match (env("DATABASE_URL"), env("CLOUD_DATA_DIR")) {
                (Some(url), _) => Database::from_url(&url),
                (None, Some(dir)) => Ok(Database::in_dir(&PathBuf::from(dir))),
                (None, None) => Ok(Database::in_dir(&config::default_data_dir()?)),
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the log says which).
    #[arg(long, env = "CLOUD_LISTEN", default_value = config::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Browser origin allowed to open the WebSocket (repeat, or comma-separate in the env var).
    #[arg(long = "allowed-origin", env = "CLOUD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "CLOUD_BODY_LIMIT", default_value_t = Settings::default().body_limit)]
    pub body_limit: usize,
    /// Requests per second allowed per token (bursts of twice that); 0 disables the limit.
    #[arg(long, env = "CLOUD_RATE_LIMIT", default_value_t = Settings::default().rate_limit_per_s)]
    pub rate_limit: u32,
    /// Requests per second allowed per client address without a valid token (bursts of
    /// twice that); 0 disables the limit.
    #[arg(long, env = "CLOUD_IP_RATE_LIMIT", default_value_t = Settings::default().ip_rate_limit_per_s)]
    pub ip_rate_limit: u32,
    /// Take the client address from the last X-Forwarded-For entry; only behind a
    /// reverse proxy that sets it, else clients choose their own address.
    #[arg(long, env = "CLOUD_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Seconds a client has to send a whole request head.
    #[arg(long, env = "CLOUD_HEADER_READ_TIMEOUT", value_name = "SECS", default_value_t = Settings::default().header_read_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,
    /// Seconds a request may take, body included, before it is answered 408.
    #[arg(long, env = "CLOUD_REQUEST_TIMEOUT", value_name = "SECS", default_value_t = Settings::default().request_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    /// Connections open at once, WebSockets included; keep it under the file-descriptor limit.
    #[arg(long, env = "CLOUD_MAX_CONNECTIONS", default_value_t = Settings::default().max_connections, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9101), not on --listen.
    #[arg(long, env = "CLOUD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Paths one project may hold (also the most progress rows per member).
    #[arg(long, env = "CLOUD_MAX_PATHS_PER_PROJECT", default_value_t = Settings::default().max_paths_per_project, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_paths_per_project: u64,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The address `cloud serve` listens on (0.0.0.0 is checked on 127.0.0.1).
    #[arg(long, env = "CLOUD_LISTEN", default_value = config::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The user's name, shown to the owners of projects they join.
    pub name: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Print one JSON object: {"user_id", "name", "token"}.
    #[arg(long)]
    pub json: bool,
}

/// Entry point of the `cloud` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Prints help/version (exit 0) or the usage error (exit 2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::User(_) | Command::Healthcheck(_) | Command::Completions { .. } | Command::Man { .. } => "warn",
    };
    init_tracing(cli.log_format, default_level);
    let result = tokio::runtime::Runtime::new().context("cannot start the async runtime").and_then(|rt| {
        rt.block_on(async {
            match cli.command {
                Command::Serve(args) => serve(args).await,
                Command::User(UserCommand::Add(args)) => user_add(args).await,
                Command::Healthcheck(args) => {
                    crate::healthcheck::check(args.listen, Duration::from_secs(args.timeout)).await
                }
                Command::Completions { shell } => print_generated(|out| generate_completions(shell, out)),
                Command::Man { dir: None } => print_generated(generate_man),
                Command::Man { dir: Some(dir) } => generate_man_pages(&dir),
            }
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloud: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completion script of `cloud` for `shell`.
pub fn generate_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    use clap_complete::Generator as _;
    // `clap_complete::generate` panics on a write error (say `| head`): not here.
    let mut cmd = Cli::command().bin_name("cloud");
    cmd.build();
    shell.try_generate(&cmd, out)
}

/// The `cloud(1)` man page, in roff.
pub fn generate_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `cloud.1` and one page per command (`cloud-serve.1`, …), which the main
/// page's SUBCOMMANDS section refers to, written into `dir`.
pub fn generate_man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write man pages in {}", dir.display()))
}

fn print_generated(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    write(&mut out).and_then(|()| std::io::Write::flush(&mut out)).context("cannot write to stdout")
}

fn init_tracing(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colours only for a person at a terminal, not in files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Installed before binding: a SIGTERM that arrives as soon as the address is
    // logged must already mean "shut down gracefully", not the default kill.
    let signal = shutdown_signal()?;
    let settings = Settings {
        allowed_origins: args.allowed_origins,
        body_limit: args.body_limit,
        rate_limit_per_s: args.rate_limit,
        ip_rate_limit_per_s: args.ip_rate_limit,
        trust_forwarded_for: args.trust_forwarded_for,
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        request_timeout: Duration::from_secs(args.request_timeout),
        max_connections: args.max_connections,
        max_paths_per_project: args.max_paths_per_project,
        metrics_listen: args.metrics_listen,
        ..Settings::default()
    };
    let config = Config { listen: args.listen, database: args.database.database()?, settings };
    let server = server::build(config).await?;
    server.run(signal).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
            _ = term => tracing::info!("SIGTERM received"),
        }
    })
}

async fn user_add(args: UserAddArgs) -> anyhow::Result<()> {
    let name = args.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("the user name must be 1 to 100 characters without control characters; pick another name");
    }
    let store = server::open_database(&args.database.database()?).await?.store;
    let token = auth::generate_token();
    let user = store.create_user(name, auth::digest(&token), now_ms()).await.map_err(|e| match e {
        StoreError::UserExists(name) => anyhow::anyhow!("a user named {name:?} already exists; pick another name"),
        other => anyhow::anyhow!("cannot create the user: {other}"),
    })?;
    if args.json {
        println!("{}", json!({"user_id": user.id, "name": user.name, "token": token}));
    } else {
        println!("user_id: {}", user.id);
        println!("token: {token}");
        eprintln!("Keep the token now: it is not stored and cannot be shown again.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn completions_and_man_page_name_the_commands() {
        let mut bash = Vec::new();
        generate_completions(clap_complete::Shell::Bash, &mut bash).unwrap();
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("complete -F _cloud") && bash.contains("serve") && bash.contains("healthcheck"));
        let mut man = Vec::new();
        generate_man(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        for section in [".TH cloud 1", ".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS", "cloud\\-serve"] {
            assert!(man.contains(section), "{section} missing from the man page:\n{man}");
        }
        let dir = tempfile::tempdir().unwrap();
        generate_man_pages(dir.path()).unwrap();
        for page in ["cloud.1", "cloud-serve.1", "cloud-user-add.1"] {
            assert!(dir.path().join(page).is_file(), "{page} missing");
        }
    }

    #[test]
    fn database_url_and_data_dir_conflict() {
        let err = Cli::try_parse_from(["cloud", "serve", "--database-url", "x.db", "--data-dir", "d"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
