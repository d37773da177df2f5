//! A companion next to a Syncthing in a container: that Syncthing's
//! config.xml says its GUI listens on all interfaces, and the companion's
//! sidecar may name it by a host name instead. `companion doctor` (the built
//! binary) against a real node, with a real config.xml rewritten the way a
//! container writes it.

use super::*;
use std::path::{Path, PathBuf};

/// The node's own config.xml with its GUI address replaced, in a home of its own.
fn rewritten_home(node: &Node, dir: &Path, address: &str) -> PathBuf {
    let real = std::fs::read_to_string(node.home.join("config.xml")).unwrap();
    let from = format!("<address>127.0.0.1:{}</address>", node.gui_port);
    assert_eq!(real.matches(&from).count(), 1, "the fixture's GUI address changed shape");
    let home = dir.join(address.replace([':', '[', ']', '/'], "_"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("config.xml"), real.replace(&from, &format!("<address>{address}</address>"))).unwrap();
    home
}

/// `companion doctor` living in `dir`, given Syncthing's home (and `url`, as a
/// compose file sets it for the sidecar); whether it passed, and what it said.
async fn doctor(dir: &Path, home: &Path, url: Option<&str>) -> (bool, String) {
    let mut companion = e2e::Companion::in_dir("doctor", dir, home).unwrap();
    if let Some(url) = url {
        companion.set_env("COMPANION_SYNCTHING_URL", url);
    }
    let out = companion.command(&["doctor"]).unwrap().output().await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_gui_is_reached_through_loopback_and_a_given_url_wins() {
    let cluster = ClusterBuilder::new()
        .nodes(1)
        .folder("proj", &[FolderType::SendReceive])
        .start()
        .await
        .expect("a Syncthing node starts");
    let node = cluster.node(0);
    let port = node.gui_port;
    let dir = tempfile::tempdir().unwrap();

    // config.xml says 0.0.0.0 (or :PORT): nothing given, loopback is used.
    for address in [format!("0.0.0.0:{port}"), format!(":{port}")] {
        let home = rewritten_home(node, dir.path(), &address);
        let (ok, text) = doctor(dir.path(), &home, None).await;
        assert!(ok, "{address}: {text}");
        assert!(text.contains(&format!(" at http://127.0.0.1:{port}\n")), "{address}: {text}");
    }

    // config.xml names an address the companion cannot use from its own
    // container; the URL given by name (as a compose service name) wins,
    // and the API key still comes from config.xml.
    let home = rewritten_home(node, dir.path(), "0.0.0.0:1");
    let (ok, text) = doctor(dir.path(), &home, None).await;
    assert!(!ok, "doctor reached Syncthing at a port nothing listens on: {text}");
    let by_name = format!("http://localhost:{port}");
    let (ok, text) = doctor(dir.path(), &home, Some(&by_name)).await;
    assert!(ok, "{text}");
    assert!(text.contains(&format!(" at {by_name}\n")), "{text}");
}
