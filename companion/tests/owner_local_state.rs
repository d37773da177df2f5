//! What the companion keeps on this machine is this user's only: the state
//! directory is 0700, the manifest (and its WAL files) and `dashboard.url`
//! 0600, and looser ones left by an older version are tightened at start.
//! The dashboard's secret never reaches stderr (the journal, under
//! systemd): `companion run` without a terminal names the file instead.

use crate::owner_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use owner_support::*;
use syncthing_fixtures::poll::eventually;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_dir_and_manifest_are_private() {
    let Owner { cloud, token, cluster: _cluster, mut companion, .. } = Owner::new(10).await;
    companion.ok(&["init"]);
    let state = companion.state_dir();
    assert_eq!(mode(&state), 0o700, "state dir created by `init`");
    assert_eq!(mode(&state.join("manifest.db")), 0o600, "manifest created by `init`");
    std::fs::remove_dir_all(&state).unwrap();
    companion.login_and_share(&cloud.url(), &token, "proj");
    assert_eq!(mode(&state), 0o700, "state dir created by `share`");
    assert_eq!(mode(&state.join("manifest.db")), 0o600, "manifest created by `share`");

    // As an older version left them.
    set_mode(&state, 0o755);
    set_mode(&state.join("manifest.db"), 0o644);
    companion.start();
    let url_file = state.join("dashboard.url");
    eventually("dashboard.url", DEADLINE, || url_file.exists().then_some(())).await;
    assert_eq!(mode(&state), 0o700, "state dir tightened at start");
    for name in ["manifest.db", "manifest.db-wal", "manifest.db-shm", "dashboard.url"] {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
    eventually("the tightening said once in the log", DEADLINE, || {
        companion.log().contains("permissions tightened").then_some(())
    })
    .await;
    companion.stop().await;

    // Already private: nothing to say the second time.
    companion.start();
    eventually("dashboard.url", DEADLINE, || url_file.exists().then_some(())).await;
    companion.stop().await;
    assert!(!companion.log().contains("permissions tightened"), "{}", companion.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_secret_stays_out_of_the_log() {
    let Owner { cloud, token, cluster: _cluster, mut companion, .. } = Owner::new(10).await;
    companion.login_and_share(&cloud.url(), &token, "proj");
    // stderr goes to a file: not a terminal, as under systemd.
    companion.start();
    let url_file = companion.state_dir().join("dashboard.url");
    let url = eventually("dashboard.url", DEADLINE, || {
        std::fs::read_to_string(&url_file).ok().filter(|u| u.contains("?key="))
    })
    .await;
    let url = url.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(mode(&url_file), 0o600);
    let key = url.split("?key=").nth(1).unwrap().to_owned();
    assert_eq!(key.len(), 64, "{url}");
    // Once the daemon has said something about its dashboard: not the secret.
    eventually("the dashboard in the log", DEADLINE, || {
        companion.log().to_lowercase().contains("dashboard").then_some(())
    })
    .await;
    let log = companion.log();
    assert!(!log.contains(&key), "the dashboard secret is in the log:\n{log}");
    // The log says where the URL is, and `status` shows it.
    eventually("the log names dashboard.url", DEADLINE, || companion.log().contains("dashboard.url").then_some(()))
        .await;
    assert!(companion.ok(&["status"]).contains(&url));
    companion.stop().await;
    let log = companion.log();
    assert!(!log.contains(&key), "the dashboard secret is in the log:\n{log}");
}
