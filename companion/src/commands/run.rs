//! `companion run`: the daemon in the foreground until SIGINT or SIGTERM.

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::daemon::Daemon;

/// Runs `daemon` until a stop signal.
pub async fn run(daemon: Daemon) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop signal received");
        signals.cancel();
    });
    daemon.run(shutdown).await?;
    Ok(())
}

/// The daemon for these settings, with every part this build has: the
/// owner side, the invitee side (cloud link, member tasks) and the dashboard.
pub fn daemon(settings: Settings) -> Daemon {
    let live = crate::live::Live::new();
    let daemon = crate::invitee::MemberSide::new(live.clone()).plug(Daemon::new(settings));
    daemon.with_service("dashboard", move |ctx| Box::pin(crate::ui::Dashboard::service(ctx, live)))
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
