//! The owner's commands through the real binary: `init`, `login`, `share`,
//! `invite`, `scan`, `run`, their help, and their one-sentence errors.

use crate::owner_support;

use cloud_protocol::{MemberStatus, Op};
use owner_support::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_login_share_invite_scan_run() {
    let cloud = start_cloud().await;
    let (_, token) = cloud.add_user("alice").await;
    let (_, bob_token) = cloud.add_user("bob").await;
    let cluster = pair(&["proj"], 1).await;
    let root = cluster.node(0).folder_path("proj");
    let mut companion = Companion::new(cluster.node(0));

    // Every command explains itself with an example.
    for cmd in ["init", "login", "share", "invite", "scan", "run"] {
        let help = companion.ok(&[cmd, "--help"]);
        assert!(help.contains("Example"), "{cmd} --help: {help}");
    }

    // Nothing works before login, and the error says what to do.
    let out = companion.output(&["run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("companion login --cloud URL --token TOKEN"), "{}", stderr(&out));

    let init = companion.ok(&["init"]);
    assert!(init.contains("Found Syncthing") && init.contains("Next: companion login"), "{init}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(companion.config_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let out = companion.output(&["login", "--cloud", &cloud.url(), "--token", "not-a-token"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("rejected the token") && err.lines().count() == 1, "{err}");

    let login = companion.ok(&["login", "--cloud", &cloud.url(), "--token", &token]);
    assert!(login.contains("as alice"), "{login}");
    let doctor = companion.ok(&["doctor"]);
    assert!(doctor.contains(&format!("Cloud:     {} as alice", cloud.url())), "{doctor}");
    let config = std::fs::read_to_string(companion.config_path()).unwrap();
    assert!(config.contains(&cloud.url()) && config.contains(&token), "{config}");

    let out = companion.output(&["share", "nope"]);
    assert!(stderr(&out).contains("Syncthing has no folder \"nope\" (it has: proj)"), "{}", stderr(&out));
    let project = companion.share("proj");
    let out = companion.output(&["share", "proj"]);
    assert!(stderr(&out).contains("already shared"), "{}", stderr(&out));

    // An invite code that bob can accept.
    let code = companion.ok(&["invite", "proj"]);
    let member = cloud.client(&bob_token).accept_invite(code.trim()).await.expect("bob accepts");
    assert_eq!((member.project_id, member.status), (project, MemberStatus::Accepted));

    // `scan` alone queues; `run` sends.
    std::fs::write(root.join("scanned.txt"), b"found by the scan").unwrap();
    let scan = companion.ok(&["scan"]);
    assert!(scan.contains("1 queued"), "{scan}");
    assert_eq!(companion.manifest().pending_count(None).unwrap().changes, 1);
    let api = cloud.client(&token);
    assert!(all_events(&api, project).await.is_empty(), "scan does not send");
    companion.start();
    let events = wait_count(&api, project, 1).await;
    assert_upsert(&events[0].change, Op::Create, "scanned.txt", &root.join("scanned.txt"));
    companion.stop().await;
}
