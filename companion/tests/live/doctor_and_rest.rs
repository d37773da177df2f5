//! The REST client's calls and typed errors against a live node, and
//! `companion doctor` (the built binary) against a live and a stopped node.

use super::*;
use companion::syncthing::ClientError;
use companion::syncthing::types::FolderType as StFolderType;
use std::process::Output;

async fn doctor(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_companion"))
        .arg("doctor")
        .args(args)
        .env_remove("COMPANION_SYNCTHING_URL")
        .env_remove("COMPANION_SYNCTHING_API_KEY")
        .env_remove("COMPANION_SYNCTHING_HOME")
        .output()
        .await
        .unwrap()
}

/// PATCHes Syncthing's GUI settings at `url` (loopback https is accepted
/// with Syncthing's self-signed certificate). A GUI change restarts
/// Syncthing's GUI listener, and under load it can close the connection
/// before the answer is whole (hyper's `IncompleteMessage`): the change is
/// applied by then, and every caller polls for its effect, so only an answer
/// that came back with an error status fails here.
async fn patch_gui(url: &str, api_key: &str, body: serde_json::Value) {
    let sent = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .patch(format!("{url}/rest/config/gui"))
        .header("X-API-Key", api_key)
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            response.error_for_status().unwrap();
        }
        Err(e) if e.is_connect() || e.is_builder() => panic!("PATCH /rest/config/gui was not sent: {e:?}"),
        Err(e) => {
            eprintln!("PATCH /rest/config/gui: the GUI restarted while answering ({e}); its effect is polled for")
        }
    }
}

/// Sets a GUI user and password through the API at `url`. The right key
/// keeps working; only a wrong key meets the password check.
async fn set_gui_password(url: &str, api_key: &str) {
    patch_gui(url, api_key, serde_json::json!({"user": "fixture", "password": "fixture-password"})).await;
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_calls_errors_and_doctor_against_a_live_pair() {
    let mut cluster = pair().await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let c = client(a);
    // "v1.19.2-ds1", "v1.29.5", ...: whichever binary the fixture runs.
    let version = format!("v{}", cluster.syncthing_version());

    // Typed calls.
    assert_eq!(c.ping().await.unwrap().ping, "pong");
    let status = c.system_status().await.unwrap();
    assert_eq!(status.my_id, a.device_id);
    assert!(c.system_version().await.unwrap().version.starts_with(&version));
    let conns = c.connections().await.unwrap();
    assert!(conns.connections[&b.device_id].connected);
    let folders = c.config_folders().await.unwrap();
    assert_eq!((folders[0].id.as_str(), &folders[0].folder_type), ("proj", &StFolderType::SendReceive));
    assert_eq!(c.config().await.unwrap().folders.len(), 1);
    assert_eq!(c.config_devices().await.unwrap().len(), 2);
    std::fs::write(a.folder_path("proj").join(".stignore"), "*.tmp\n").unwrap();
    std::fs::write(a.folder_path("proj").join("x.txt"), "x").unwrap();
    c.scan("proj", Some("x.txt")).await.unwrap();
    let file = c.db_file("proj", "x.txt").await.unwrap();
    assert_eq!((file.local.name.as_str(), file.local.size), ("x.txt", 1));
    assert_eq!(c.db_ignores("proj").await.unwrap().ignore, ["*.tmp"]);
    assert!(c.db_status("proj").await.unwrap().local_files >= 1);
    assert!(c.db_completion("proj", Some(&b.device_id)).await.unwrap().completion <= 100.0);
    // Once B has x.txt it has announced the folder: known on every version
    // (1.19 by a non-zero sequence, 1.20+ by remoteState "valid").
    syncthing_fixtures::poll::eventually_async("B's completion to be known on A", STEP, || {
        let c = c.clone();
        let b_id = b.device_id.clone();
        async move { c.db_completion("proj", Some(&b_id)).await.ok().filter(|x| x.is_known_for_peer()) }
    })
    .await;
    assert!(c.db_completion("proj", None).await.is_ok());
    assert!(c.db_need("proj", None).await.is_ok());
    assert!(c.db_remote_need("proj", &b.device_id, None).await.is_ok());
    assert!(c.db_local_changed("proj", None).await.is_ok());
    assert!(c.db_browse("proj").await.unwrap().iter().any(|e| e.name == "x.txt"));

    // Syncthing's plain-text errors, typed.
    let e = c.db_status("nope").await.unwrap_err();
    assert!(matches!(&e, ClientError::UnknownFolder { folder } if folder == "nope"), "{e}");
    // 1.19 answers 500, 1.27.1+ a 200 with `error` set: the same error.
    let e = c.db_ignores("nope").await.unwrap_err();
    assert!(matches!(&e, ClientError::UnknownFolder { .. }), "{e}");
    let e = c.db_file("nope", "x.txt").await.unwrap_err();
    assert!(matches!(&e, ClientError::UnknownFolder { folder } if folder == "nope"), "{e}");
    let e = c.db_file("proj", "missing.txt").await.unwrap_err();
    assert!(matches!(&e, ClientError::NotFound { .. }), "{e}");
    let wrong = Client::new(&a.api_url, "not-the-key").unwrap();
    let e = wrong.system_status().await.unwrap_err();
    assert!(e.to_string().contains("API key rejected") && !e.is_transient(), "{e}");
    let mut stream = EventStream::spawn(wrong, test_stream_config());
    let item = tokio::time::timeout(STEP, stream.recv()).await.unwrap().unwrap();
    assert!(
        matches!(&item, StreamItem::Disconnected { api_key_rejected: true, reason, .. } if reason.contains("API key rejected")),
        "{item:?}"
    );

    // Doctor, found through config.xml.
    let home = a.home.display().to_string();
    let out = doctor(&["--syncthing-home", &home]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.starts_with(&format!("Syncthing {version}")), "{stdout}");
    let config_line = format!("Config:    {} (given with --syncthing-home)", a.config_xml().display());
    assert!(stdout.contains(&config_line), "{stdout}");
    assert!(stdout.contains(&a.device_id), "{stdout}");
    assert!(stdout.contains("proj") && stdout.contains(&a.folder_path("proj").display().to_string()), "{stdout}");
    assert!(stdout.contains("sendreceive") && stdout.contains("idle"), "{stdout}");

    let out = doctor(&["--syncthing-home", &home, "--syncthing-api-key", "wrong"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("API key rejected"), "{}", text(&out.stderr));

    // TLS: `<gui tls="true">` in config.xml means https, with Syncthing's
    // self-signed certificate (accepted for loopback only).
    let https_url = a.api_url.replace("http://", "https://");
    patch_gui(&a.api_url, &a.api_key, serde_json::json!({"useTLS": true})).await;
    let tls = Client::new(&https_url, &a.api_key).unwrap();
    syncthing_fixtures::poll::eventually_async("the GUI to answer over https", STEP, || {
        let tls = tls.clone();
        async move { tls.ping().await }
    })
    .await;
    let out = doctor(&["--syncthing-home", &home]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.starts_with(&format!("Syncthing {version}")) && stdout.contains(&https_url), "{stdout}");

    // With a GUI password set, a wrong key is 401 up to 1.25 and a plain
    // `403 Forbidden` from 1.26: one "API key rejected" either way.
    set_gui_password(&https_url, &a.api_key).await;
    let wrong = Client::new(&https_url, "not-the-key").unwrap();
    let e = syncthing_fixtures::poll::eventually_async("the GUI to answer with a password set", STEP, || {
        let (tls, wrong) = (tls.clone(), wrong.clone());
        async move {
            tls.ping().await.ok()?;
            wrong.system_status().await.err().filter(|e| !e.is_transient())
        }
    })
    .await;
    assert!(matches!(&e, ClientError::ApiKeyRejected { .. }), "{e:?}");
    let out = doctor(&["--syncthing-home", &home, "--syncthing-api-key", "wrong"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("API key rejected"), "{}", text(&out.stderr));

    cluster.stop_node(0).await.unwrap();
    let out = doctor(&["--syncthing-home", &home]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "Syncthing is not reachable at {https_url}: is it running? Start it with `syncthing serve` or pass --syncthing-url."
    );
    assert_eq!(stderr.trim(), expected);

    let out = doctor(&["--no-such-flag"]).await;
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}
