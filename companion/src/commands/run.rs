//! `companion run`: the daemon in the foreground until SIGINT or SIGTERM.

use tokio_util::sync::CancellationToken;

use crate::cloud_client::CloudClient;
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

/// One look at the cloud before the daemon starts. A certificate the
/// companion does not trust is a setting to fix, not an outage to wait out:
/// it stops `run` with the reason. Anything else (the cloud down, a refused
/// token) only warns: the daemon works offline and retries by itself. A
/// cloud that does not answer within [`PREFLIGHT_WAIT`] does not hold the
/// daemon back either.
pub async fn preflight(settings: &Settings) -> anyhow::Result<()> {
    let client = CloudClient::from_access(&settings.cloud()?)?;
    match tokio::time::timeout(PREFLIGHT_WAIT, client.me()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_certificate_problem() => Err(super::cloud_error(e)),
        Ok(Err(e)) => {
            tracing::warn!("{}", e.advice());
            Ok(())
        }
        Err(_) => {
            tracing::warn!(cloud = %client.base_url(), "the cloud did not answer in time; starting anyway");
            Ok(())
        }
    }
}

/// How long `run` waits for the cloud's first answer before starting anyway.
pub const PREFLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The daemon for these settings, with every part this build has: the
/// owner side, the invitee side (cloud link, member tasks), the dashboard
/// and the status socket.
pub fn daemon(settings: Settings) -> Daemon {
    let live = crate::live::Live::new();
    let daemon = crate::invitee::MemberSide::new(live.clone()).plug(Daemon::new(settings));
    let socket_live = live.clone();
    daemon
        .with_service("dashboard", move |ctx| Box::pin(crate::ui::Dashboard::service(ctx, live)))
        .with_service("status socket", move |ctx| Box::pin(crate::socket::service(ctx, socket_live)))
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
