//! `demo`: the whole product on this machine in one command (README command one).
//!
//! Starts a real Syncthing pair, the cloud on its embedded SQLite, an owner and an
//! invitee companion; creates the accounts, the project and the invite; writes
//! sample files into the owner's folder (the invitee's receive rate is limited so
//! the progress is visible); prints both dashboards and a live `status` view until
//! Ctrl-C, then stops everything it started and says where the data is.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use clap::Parser;
use e2e::{Stack, StackOptions};
use rand::RngExt;
use tokio::signal::unix::{SignalKind, signal};

/// Runs the Syncthing companion demo: a Syncthing pair, the cloud and two companions.
#[derive(Debug, Parser)]
#[command(
    after_help = "Example:\n  scripts/demo                      # builds, then runs this\n  demo --large-mib 200 --recv-limit-kibps 2048\n\nExit codes: 0 stopped by Ctrl-C/SIGTERM, 1 something failed to start."
)]
struct Args {
    /// Where to keep the demo's data (cloud database, companion state, logs). Default: a new /tmp/companion-demo-* directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Size of the large sample file, MiB.
    #[arg(long, default_value_t = 64)]
    large_mib: usize,
    /// Receive-rate limit of the invitee's Syncthing, KiB/s (0: unlimited).
    #[arg(long, default_value_t = 4096)]
    recv_limit_kibps: u32,
    /// Syncthing's fsWatcherDelayS on both nodes (Syncthing's default is 10 s: the
    /// companion announces changes long before Syncthing starts moving bytes).
    #[arg(long, default_value_t = 10)]
    fs_watcher_delay_s: u32,
    /// Don't start the live `companion status --watch` view (e.g. when output is a log).
    #[arg(long)]
    no_watch: bool,
}

fn say(text: &str) {
    println!("==> {text}");
    let _ = std::io::stdout().flush();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new().prefix("companion-demo-").tempdir()?.keep(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;

    say(&format!("starting a Syncthing pair, the cloud and two companions (data in {})", dir.display()));
    let options = StackOptions {
        folder: "demo".into(),
        fs_watcher_delay_s: args.fs_watcher_delay_s,
        invitee_recv_limit_kibps: (args.recv_limit_kibps > 0).then_some(args.recv_limit_kibps),
        ..StackOptions::default()
    };
    let mut stack = tokio::select! {
        s = Stack::start(&dir, options) => s?,
        _ = interrupt.recv() => anyhow::bail!("interrupted while starting"),
        _ = terminate.recv() => anyhow::bail!("terminated while starting"),
    };
    stack.cluster.keep_logs();
    say(&format!(
        "cloud {} ({}); project {} shared by 'owner', joined by 'invitee'",
        stack.cloud.url,
        stack.cloud.db.describe(),
        stack.project_id
    ));
    println!(
        "processes: cloud={} owner={} invitee={} syncthing={}",
        pid(stack.cloud.proc.pid()),
        pid(stack.owner.pid()),
        pid(stack.invitee.pid()),
        stack.cluster.nodes().iter().map(|n| pid(n.pid())).collect::<Vec<_>>().join(",")
    );

    say("writing sample files into the owner's folder");
    write_samples(&stack.owner_folder(), args.large_mib).await?;

    println!("Owner dashboard:   {}", stack.owner.dashboard_url().await?);
    println!("Invitee dashboard: {}", stack.invitee.dashboard_url().await?);
    say("live status of the invitee below; Ctrl-C stops the demo");

    let mut watch = if args.no_watch {
        None
    } else {
        let mut cmd = stack.invitee.command(&["status", "--watch"])?;
        cmd.stdin(Stdio::null()).kill_on_drop(true).process_group(0);
        Some(cmd.spawn().context("cannot start companion status --watch")?)
    };

    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    println!();
    say("stopping");
    if let Some(child) = watch.as_mut() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    stack.stop().await?;
    let syncthing = stack.cluster.root().map(Path::to_path_buf);
    drop(stack);
    say(&format!("stopped everything; the demo data is in {}", dir.display()));
    if let Some(root) = syncthing {
        say(&format!("the Syncthing homes and folders are in {}", root.display()));
    }
    Ok(())
}

fn pid(p: Option<u32>) -> String {
    p.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
}

/// A few small files and one large one, like a real shared project.
async fn write_samples(folder: &Path, large_mib: usize) -> anyhow::Result<()> {
    let folder = folder.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        std::fs::create_dir_all(folder.join("notes"))?;
        std::fs::create_dir_all(folder.join("footage"))?;
        std::fs::write(folder.join("README.txt"), "Shared with the Syncthing companion demo.\n")?;
        std::fs::write(folder.join("notes/shot-list.md"), "# Shot list\n\n1. Opening\n2. Interview\n")?;
        let mut rng = rand::rng();
        let mut small = vec![0u8; 300 * 1024];
        rng.fill(&mut small[..]);
        std::fs::write(folder.join("footage/still-001.jpg"), &small)?;
        let mut big = std::fs::File::create(folder.join("footage/take-01.mov"))?;
        let mut chunk = vec![0u8; 1024 * 1024];
        for _ in 0..large_mib {
            rng.fill(&mut chunk[..]);
            big.write_all(&chunk)?;
        }
        big.sync_all()?;
        Ok(())
    })
    .await?
}
