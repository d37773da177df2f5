//! Tests of `config.rs`: precedence, defaults, file round trip and mode.

use super::*;

fn env_in(dir: &Path) -> ConfigEnv {
    ConfigEnv { dirs: BaseDirs::home(dir.join("home")), ..ConfigEnv::default() }
}

/// A `[cloud]` section with both keys set.
fn cloud_section(url: &str, token: &str) -> CloudSection {
    CloudSection { url: Some(url.into()), token: Some(token.into()), ca: None }
}

#[test]
fn defaults_follow_xdg() {
    let env = ConfigEnv { dirs: BaseDirs::home("/h"), ..ConfigEnv::default() };
    assert_eq!(env.default_config_path().unwrap(), PathBuf::from("/h/.config/syncthing-companion/config.toml"));
    assert_eq!(env.default_state_dir().unwrap(), PathBuf::from("/h/.local/state/syncthing-companion"));
    let dirs = BaseDirs { xdg_config_home: Some("/c".into()), xdg_state_home: Some("/s".into()), ..env.dirs };
    let env = ConfigEnv { dirs, ..env };
    assert_eq!(env.default_config_path().unwrap(), PathBuf::from("/c/syncthing-companion/config.toml"));
    assert_eq!(env.default_state_dir().unwrap(), PathBuf::from("/s/syncthing-companion"));
    assert!(matches!(ConfigEnv::default().default_state_dir(), Err(ConfigError::NoHome)));
}

#[test]
fn missing_file_gives_defaults_and_no_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::resolve(&Flags::default(), &env_in(dir.path())).unwrap();
    assert_eq!(s.file, FileConfig::default());
    assert!(matches!(s.cloud(), Err(ConfigError::NotLoggedIn)));
    assert_eq!(s.dashboard_listen, DEFAULT_DASHBOARD_LISTEN);
    assert_eq!(s.manifest_path(), dir.path().join("home/.local/state/syncthing-companion/manifest.db"));
}

#[test]
fn flags_beat_env_beat_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let file = FileConfig {
        cloud: CloudSection {
            url: Some("http://file".into()),
            token: Some("file-token".into()),
            // Relative to the config file's directory.
            ca: Some("certs/ca.pem".into()),
        },
        syncthing: Overrides { home: None, url: Some("http://st-file".into()), api_key: Some("k-file".into()) },
        dashboard: DashboardSection {
            listen: Some("127.0.0.1:1".into()),
            allowed_hosts: vec!["nas.local:8385".into()],
        },
    };
    file.save(&path).unwrap();

    let flags = Flags { config: Some(path.clone()), ..Flags::default() };
    let s = Settings::resolve(&flags, &env_in(dir.path())).unwrap();
    let file_ca = dir.path().join("certs/ca.pem");
    assert_eq!(
        s.cloud().unwrap(),
        CloudAccess { url: "http://file".into(), token: "file-token".into(), ca: Some(file_ca.clone()) }
    );
    assert_eq!(s.cloud.ca, Some(file_ca));
    assert_eq!(s.syncthing.url.as_deref(), Some("http://st-file"));
    assert_eq!(s.dashboard_listen, "127.0.0.1:1");
    assert_eq!(s.dashboard_allowed_hosts, ["nas.local:8385"]);

    let env = ConfigEnv {
        cloud_url: Some("http://env".into()),
        dashboard_listen: Some("127.0.0.1:2".into()),
        dashboard_allowed_hosts: Some(vec!["companion:8385".into()]),
        ..env_in(dir.path())
    };
    let flags = Flags {
        config: Some(path),
        state_dir: Some(dir.path().join("state")),
        cloud_ca: Some("/flag/ca.pem".into()),
        syncthing: Overrides { url: Some("http://st-flag".into()), ..Overrides::default() },
    };
    let s = Settings::resolve(&flags, &env).unwrap();
    assert_eq!(
        s.cloud().unwrap(),
        CloudAccess { url: "http://env".into(), token: "file-token".into(), ca: Some("/flag/ca.pem".into()) }
    );
    assert_eq!(s.dashboard_allowed_hosts, ["companion:8385"]);
    assert_eq!(s.syncthing.url.as_deref(), Some("http://st-flag"));
    assert_eq!(s.syncthing.api_key.as_deref(), Some("k-file"));
    assert_eq!(s.dashboard_listen, "127.0.0.1:2");
    assert_eq!(s.state_dir, dir.path().join("state"));
}

#[test]
fn saved_file_is_private_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/config.toml");
    let file = FileConfig { cloud: cloud_section("http://c", "t"), ..FileConfig::default() };
    file.save(&path).unwrap();
    file.save(&path).unwrap();
    assert_eq!(FileConfig::load(&path).unwrap(), file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temp file left behind");
}

#[test]
fn a_bad_file_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[cloud]\nurl = 3\n").unwrap();
    let err = FileConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains("c.toml") && err.contains("not valid"), "{err}");
    std::fs::write(&path, "[nope]\n").unwrap();
    assert!(matches!(FileConfig::load(&path), Err(ConfigError::Parse { .. })));
}

/// The file's text is the user's: its sections and keys stay as they are.
#[test]
fn rendered_file_is_pinned() {
    let file = FileConfig {
        cloud: cloud_section("http://c", "t"),
        syncthing: Overrides { home: Some("/st".into()), url: Some("http://st".into()), api_key: Some("k".into()) },
        dashboard: DashboardSection { listen: Some("127.0.0.1:1".into()), allowed_hosts: vec![] },
    };
    let text = file.render().unwrap();
    assert_eq!(
        text,
        "# The Syncthing companion's settings. It holds the cloud token: keep it private.\n\
         [cloud]\nurl = \"http://c\"\ntoken = \"t\"\n\n\
         [syncthing]\nhome = \"/st\"\nurl = \"http://st\"\napi_key = \"k\"\n\n\
         [dashboard]\nlisten = \"127.0.0.1:1\"\n"
    );
    assert_eq!(FileConfig::parse(Path::new("c.toml"), &text).unwrap(), file);
    let unknown = FileConfig::parse(Path::new("c.toml"), "[syncthing]\nport = 1\n");
    assert!(matches!(unknown, Err(ConfigError::Parse { .. })));
}

#[test]
fn stall_after_is_positive_milliseconds_or_nothing() {
    assert_eq!(positive_millis(Some(" 8000 ")), Some(std::time::Duration::from_secs(8)));
    for ignored in [None, Some(""), Some("0"), Some("-5"), Some("8s")] {
        assert_eq!(positive_millis(ignored), None, "{ignored:?}");
    }
}
