//! Unit tests of config.xml parsing and of the search order.

use super::*;
use crate::syncthing::config_xml::GuiSettings;
use crate::syncthing::types::FolderType;

const A: &str = "ZFU3DGY-REEMN7X-CXHW2EQ-QCSEC36-MBRKX7Q-3YC5RCS-A6ONP7K-75TXIAZ";
const B: &str = "SWVCG5K-AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-HOBDPAW";

fn config_xml(gui: &str) -> String {
    format!(
        r#"<configuration version="36">
    <folder id="proj" label="Project" path="/srv/pair/a/proj" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="10">
        <filesystemType>basic</filesystemType>
        <device id="{A}" introducedBy=""><encryptionPassword></encryptionPassword></device>
        <device id="{B}" introducedBy=""><encryptionPassword></encryptionPassword></device>
        <minDiskFree unit="%">1</minDiskFree>
        <paused>false</paused>
    </folder>
    <folder id="in" label="" path="/srv/in" type="receiveonly">
        <device id="{A}" introducedBy=""></device>
    </folder>
    <device id="{B}" name="B" compression="metadata"><address>tcp://127.0.0.1:28387</address><paused>false</paused></device>
    <device id="{A}" name="A" compression="metadata"><address>dynamic</address></device>
    {gui}
    <ldap></ldap>
    <options><listenAddress>tcp://127.0.0.1:28386</listenAddress><progressUpdateIntervalS>5</progressUpdateIntervalS></options>
    <defaults>
        <folder id="" label="" path="~" type="sendreceive">
            <device id="{A}" introducedBy=""><encryptionPassword></encryptionPassword></device>
        </folder>
        <device id="" compression="metadata"><address>dynamic</address></device>
        <ignores></ignores>
    </defaults>
</configuration>"#
    )
}

const PLAIN_GUI: &str = r#"<gui enabled="true" tls="false" debugging="false">
        <address>127.0.0.1:28384</address>
        <apikey>lab-apikey-node-a</apikey>
        <theme>default</theme>
    </gui>"#;

fn parse(text: &str) -> Result<LocalConfig, DiscoveryError> {
    config_xml::parse(Path::new("/h/config.xml"), text)
}

#[test]
fn reads_gui_folders_and_own_device() {
    let c = parse(&config_xml(PLAIN_GUI)).unwrap();
    assert_eq!(c.gui.url().unwrap(), "http://127.0.0.1:28384");
    assert_eq!(c.gui.api_key.as_deref(), Some("lab-apikey-node-a"));
    assert_eq!(c.folders.len(), 2);
    let proj = &c.folders[0];
    assert_eq!((proj.id.as_str(), proj.label.as_str()), ("proj", "Project"));
    assert_eq!(proj.path, PathBuf::from("/srv/pair/a/proj"));
    assert_eq!(proj.folder_type, FolderType::SendReceive);
    assert_eq!(proj.devices, vec![A.to_owned(), B.to_owned()]);
    // An empty label falls back to the id, as Syncthing's GUI shows it.
    assert_eq!(c.folders[1].label, "in");
    assert_eq!(c.folders[1].folder_type, FolderType::ReceiveOnly);
    assert_eq!(c.devices.len(), 2);
    assert_eq!(c.device_id_hint.as_deref(), Some(A));
}

#[test]
fn interleaved_top_level_elements_parse() {
    // Syncthing accepts <device> and <folder> in any order (hand-edited or
    // generated files do this); the parser must too.
    let text = config_xml(PLAIN_GUI).replacen(
        "<configuration version=\"36\">",
        &format!(
            "<configuration version=\"36\">\n    <device id=\"{A}\" name=\"A\"><address>dynamic</address></device>"
        ),
        1,
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.folders.len(), 2);
    assert_eq!(c.devices.len(), 3);
}

#[test]
fn tls_gives_https_and_wildcards_go_through_loopback() {
    let gui = r#"<gui enabled="true" tls="true"><address>0.0.0.0:8384</address><apikey>k</apikey></gui>"#;
    let c = parse(&config_xml(gui)).unwrap();
    assert!(c.gui.tls);
    assert_eq!(c.gui.url().unwrap(), "https://127.0.0.1:8384");
    let gui = GuiSettings { enabled: true, address: "[::]:8384".into(), tls: false, api_key: None };
    assert_eq!(gui.url().unwrap(), "http://[::1]:8384");
    let unix = GuiSettings { address: "unix:///run/st.sock".into(), ..gui.clone() };
    assert!(unix.url().unwrap_err().contains("unix socket"));
    let no_port = GuiSettings { address: "localhost".into(), ..gui };
    assert!(no_port.url().is_err());
}

#[test]
fn every_wildcard_spelling_goes_through_loopback_of_its_family() {
    let gui = |address: &str, tls: bool| GuiSettings { enabled: true, address: address.into(), tls, api_key: None };
    for (address, url) in [
        (":8384", "http://127.0.0.1:8384"),
        ("0.0.0.0:8384", "http://127.0.0.1:8384"),
        ("[::]:8384", "http://[::1]:8384"),
        (":::8384", "http://[::1]:8384"),
        ("[0:0:0:0:0:0:0:0]:8384", "http://[::1]:8384"),
        ("http://0.0.0.0:8384", "http://127.0.0.1:8384"),
        ("https://[::]:8384/", "https://[::1]:8384"),
        // Specific addresses and names stay as written.
        ("192.168.1.10:8384", "http://192.168.1.10:8384"),
        ("[fd00::7]:8384", "http://[fd00::7]:8384"),
        ("syncthing:8384", "http://syncthing:8384"),
    ] {
        assert_eq!(gui(address, false).url().unwrap(), url, "{address}");
    }
    assert_eq!(gui(":8384", true).url().unwrap(), "https://127.0.0.1:8384");
}

/// The config.xml of a Syncthing in a container (the official image and
/// linuxserver's listen on all interfaces), as its companion sidecar sees it
/// through a read-only volume, at `home/config.xml`.
fn container_home(dir: &Path, gui_address: &str) -> PathBuf {
    let gui = format!(
        r#"<gui enabled="true" tls="false" debugging="false" sendBasicAuthPrompt="false">
        <address>{gui_address}</address>
        <metricsWithoutAuth>false</metricsWithoutAuth>
        <apikey>container-apikey</apikey>
        <theme>default</theme>
    </gui>"#
    );
    let home = dir.join("syncthing-config");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("config.xml"), config_xml(&gui)).unwrap();
    home
}

#[test]
fn in_a_container_the_flagged_url_wins_over_the_wildcard_in_config_xml() {
    let tmp = tempfile::tempdir().unwrap();
    let env = SearchEnv::default();
    for address in ["0.0.0.0:8384", "[::]:8384", ":8384"] {
        let home = container_home(tmp.path(), address);
        // Nothing flagged: config.xml's wildcard is reached through loopback.
        let local = resolve(&Overrides { home: Some(home.clone()), ..Overrides::default() }, &env).unwrap();
        let loopback = if address.starts_with('[') { "http://[::1]:8384" } else { "http://127.0.0.1:8384" };
        assert_eq!(local.url, loopback, "{address}");
        assert_eq!(local.api_key, "container-apikey");
        // The sidecar names Syncthing by its service name: that URL is used,
        // with the key (and folders) still read from config.xml.
        let flagged =
            Overrides { home: Some(home.clone()), url: Some("http://syncthing:8384".into()), ..Overrides::default() };
        let e = resolve(&flagged, &env).unwrap();
        assert_eq!((e.url.as_str(), e.api_key.as_str()), ("http://syncthing:8384", "container-apikey"), "{address}");
        assert_eq!(e.config.unwrap().folders.len(), 2);
        assert_eq!(e.config_reason, Some("given with --syncthing-home"));
    }
    // Once the URL is flagged, a GUI address the companion could not use
    // itself (a unix socket) no longer matters.
    let home = container_home(tmp.path(), "unix:///var/run/st.sock");
    assert!(resolve(&Overrides { home: Some(home.clone()), ..Overrides::default() }, &env).is_err());
    let flagged = Overrides { home: Some(home), url: Some("http://syncthing:8384".into()), ..Overrides::default() };
    assert_eq!(resolve(&flagged, &env).unwrap().url, "http://syncthing:8384");
}

#[test]
fn malformed_or_keyless_files_are_named() {
    let e = parse("<html>not syncthing</html>").unwrap_err();
    assert!(e.to_string().starts_with("/h/config.xml is not a valid Syncthing config.xml"), "{e}");
    let e = parse("<configuration><folder id=\"x\"><device").unwrap_err();
    assert!(matches!(e, DiscoveryError::Malformed { .. }), "{e}");
    let gui = r#"<gui enabled="true"><address>127.0.0.1:8384</address></gui>"#;
    let c = parse(&config_xml(gui)).unwrap();
    let e = endpoint_from(c, &Overrides::default()).unwrap_err();
    assert_eq!(e.to_string(), "/h/config.xml has no <gui><apikey>; pass --syncthing-api-key");
}

#[test]
fn overrides_win_over_the_file() {
    let c = parse(&config_xml(PLAIN_GUI)).unwrap();
    let o = Overrides { url: Some("http://127.0.0.1:9".into()), ..Overrides::default() };
    let e = endpoint_from(c, &o).unwrap();
    assert_eq!((e.url.as_str(), e.api_key.as_str()), ("http://127.0.0.1:9", "lab-apikey-node-a"));
}

#[test]
fn search_order_follows_syncthing() {
    // Syncthing 1.27+ and 2.x (lib/locations/locations.go, unixConfigDir): an
    // existing config under $XDG_CONFIG_HOME or ~/.config wins over the
    // ~/.local/state default; STHOMEDIR/STCONFDIR (--home/--config) win over all.
    let env = SearchEnv {
        st_home_dir: None,
        st_conf_dir: Some("/conf".into()),
        dirs: BaseDirs {
            xdg_state_home: Some("/x/state".into()),
            xdg_config_home: Some("relative/ignored".into()),
            home: Some("/home/u".into()),
        },
    };
    let got = candidate_homes(None, &env);
    let want: Vec<PathBuf> =
        ["/conf", "/home/u/.config/syncthing", "/x/state/syncthing", "/home/u/.local/state/syncthing"]
            .into_iter()
            .map(PathBuf::from)
            .collect();
    assert_eq!(got, want);
    let dirs = BaseDirs { xdg_config_home: Some("/x/config".into()), ..env.dirs };
    let env = SearchEnv { st_home_dir: Some("/h".into()), dirs, ..env };
    assert_eq!(candidate_homes(None, &env)[..3], [PathBuf::from("/h"), "/conf".into(), "/x/config/syncthing".into()]);
    assert_eq!(candidate_homes(Some(Path::new("/only")), &env), vec![PathBuf::from("/only")]);
    assert!(candidate_homes(None, &SearchEnv::default()).is_empty());
}

#[test]
fn an_existing_legacy_config_wins_over_the_new_default_and_says_why() {
    // A user upgraded from 1.2x to 1.27+: both directories exist, Syncthing
    // keeps using ~/.config/syncthing, so must we.
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    for dir in [".config/syncthing", ".local/state/syncthing"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
        let port = if dir.starts_with(".config") { "28384" } else { "9999" };
        std::fs::write(home.join(dir).join("config.xml"), config_xml(&PLAIN_GUI.replace("28384", port))).unwrap();
    }
    let env = SearchEnv { dirs: BaseDirs::home(&home), ..SearchEnv::default() };
    let endpoint = resolve(&Overrides::default(), &env).unwrap();
    assert_eq!(endpoint.url, "http://127.0.0.1:28384");
    assert_eq!(endpoint.config.unwrap().path, home.join(".config/syncthing/config.xml"));
    assert!(endpoint.config_reason.unwrap().contains("pre-1.27"), "{:?}", endpoint.config_reason);

    // Only the new default exists: it is used, and named as the default.
    std::fs::remove_file(home.join(".config/syncthing/config.xml")).unwrap();
    let endpoint = resolve(&Overrides::default(), &env).unwrap();
    assert_eq!(endpoint.url, "http://127.0.0.1:9999");
    assert_eq!(endpoint.config_reason, Some("Syncthing's default since 1.27"));
}

#[test]
fn finds_the_first_existing_config_and_names_what_it_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let legacy = home.join(".config/syncthing");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::write(legacy.join("config.xml"), config_xml(PLAIN_GUI)).unwrap();
    let env = SearchEnv { dirs: BaseDirs::home(&home), ..SearchEnv::default() };
    let found = find_config_xml(None, &env).unwrap();
    assert_eq!(found, legacy.join("config.xml"));
    let endpoint = resolve(&Overrides::default(), &env).unwrap();
    assert_eq!(endpoint.url, "http://127.0.0.1:28384");

    let missing = tmp.path().join("nowhere");
    let o = Overrides { home: Some(missing.clone()), ..Overrides::default() };
    let e = resolve(&o, &env).unwrap_err();
    assert!(e.to_string().contains(&missing.join("config.xml").display().to_string()), "{e}");

    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("config.xml"), "garbage").unwrap();
    let o = Overrides { home: Some(bad.clone()), ..Overrides::default() };
    let e = resolve(&o, &env).unwrap_err();
    assert!(e.to_string().contains(&bad.join("config.xml").display().to_string()), "{e}");
}
