//! The cloud behind a TLS reverse proxy, as the README tells teams to run
//! it: Debian's nginx with the shipped site file
//! (`contrib/nginx/syncthing-companion-cloud.conf`), a certificate from a
//! CA made here, the companions on `https://` and `wss://` trusting that CA
//! through `--cloud-ca`. The whole path reaches ✓ through it; a companion
//! given the wrong CA (or none) says which certificate problem it met, from
//! `login`, `doctor` and `run`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::Context as _;
use e2e::docker_stack::{member_file, write_random};
use e2e::{CloudDb, CloudProc, Companion, Nginx, Stack, StackOptions, TlsFront, cloud, file_entry};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;

const LONG: Duration = Duration::from_secs(120);
const UNTRUSTED: &str = "the cloud's TLS certificate is not trusted (UnknownIssuer)";

/// A CA of its own, as a team's private PKI: its certificate in `ca.pem`.
fn make_ca(dir: &Path, name: &str) -> anyhow::Result<(CertifiedIssuer<'static, KeyPair>, PathBuf)> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, format!("{name} test CA"));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let path = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&path, ca.pem())?;
    Ok((ca, path))
}

/// The proxy's certificate for `localhost`, signed by a fresh CA; and the
/// certificate of another CA that signed nothing here.
fn make_pki(dir: &Path) -> anyhow::Result<(TlsFront, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (ca, ca_path) = make_ca(dir, "team")?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &*ca)?;
    let (cert_path, key_path) = (dir.join("cloud.pem"), dir.join("cloud.key"));
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    let (_, wrong) = make_ca(dir, "other")?;
    Ok((TlsFront { cert: cert_path, key: key_path, ca: ca_path, host: "localhost".into() }, wrong))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_path_through_nginx_with_tls_reaches_synced() {
    let mut dir = tempfile::tempdir().unwrap();
    let (front, _) = make_pki(&dir.path().join("pki")).unwrap();
    let options = StackOptions {
        fs_watcher_delay_s: 1,
        invitee_recv_limit_kibps: Some(2048),
        tls_front: Some(front.clone()),
        ..StackOptions::default()
    };
    let mut stack = Stack::start(dir.path(), options).await.unwrap();
    let result = scenario(&stack, &front).await;
    stack.stop_after(&mut dir, result).await.unwrap();
    // Both companions' WebSockets went through nginx and were upgraded (a
    // socket's line is logged when it closes: the companions have stopped).
    let log = stack.proxy.as_ref().unwrap().access_log();
    let upgraded = log.lines().filter(|l| l.contains("\"GET /api/ws HTTP/1.1\" 101")).count();
    assert!(upgraded >= 2, "fewer than two WebSocket upgrades through nginx:\n{log}");
    assert!(log.contains("\"POST /api/projects/"), "the owner's batches did not go through nginx:\n{log}");
}

async fn scenario(stack: &Stack, front: &TlsFront) -> anyhow::Result<()> {
    anyhow::ensure!(stack.cloud_url.starts_with("https://localhost:"), "{}", stack.cloud_url);
    // `login --cloud-ca` kept the CA for the daemons.
    for home in [&stack.owner, &stack.invitee] {
        let config = std::fs::read_to_string(home.config_path())?;
        let ca = front.ca.display().to_string();
        anyhow::ensure!(config.contains(&format!("ca = \"{ca}\"")), "{}: no CA in {config}", home.name);
    }

    let path = "footage/take-01.mov";
    let expected = write_random(&stack.owner_folder().join(path), 3 << 20)?;
    let synced = try_eventually_async("the file synced on the invitee, through nginx", LONG, || async {
        let status = stack.invitee.status_json().await.map_err(|e| e.to_string())?;
        let file = file_entry(&status, path).ok_or_else(|| status.to_string())?;
        (file["state"] == "synced").then(|| file.clone()).ok_or_else(|| file.to_string())
    })
    .await?;
    assert_eq!(synced["local_hash"], Value::from(expected.clone()), "{synced}");
    assert_eq!(synced["expected_hash"], Value::from(expected), "{synced}");

    try_eventually_async("the owner to see the invitee at 100%, through nginx", LONG, || async {
        let status = stack.owner.status_json().await.ok()?;
        let file = member_file(&status, "invitee", path)?;
        (file["state"] == "synced" && file["percent"].as_f64() == Some(100.0)).then_some(())
    })
    .await?;
    Ok(())
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

async fn companion(home: &Companion, args: &[&str], ca_env: Option<&Path>) -> anyhow::Result<Output> {
    let mut cmd = home.command(args)?;
    cmd.env_remove("COMPANION_CLOUD_CA");
    if let Some(ca) = ca_env {
        cmd.env("COMPANION_CLOUD_CA", ca);
    }
    let run = cmd.kill_on_drop(true).output();
    tokio::time::timeout(LONG, run).await.context("companion did not exit")?.context("cannot run companion")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_missing_ca_is_named_by_login_doctor_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let (front, wrong) = make_pki(&dir.path().join("pki")).unwrap();
    let db = CloudDb::DataDir(dir.path().join("cloud"));
    let user = cloud::add_user(&db, "alice").await.unwrap();
    let mut cloud = CloudProc::start(db, dir.path()).await.unwrap();
    let mut proxy = Nginx::start(&dir.path().join("nginx"), cloud.port(), &front).await.unwrap();
    // No Syncthing: the cloud's side is what is checked here.
    let home = Companion::in_dir("alice", &dir.path().join("alice"), &dir.path().join("no-syncthing")).unwrap();
    let url = proxy.url.clone();
    let login = ["login", "--cloud", &url, "--token", &user.token];

    // No CA given: the system's roots do not know the team's CA.
    let out = companion(&home, &login, None).await.unwrap();
    assert!(!out.status.success() && text(&out).contains(UNTRUSTED), "{}", text(&out));
    assert!(text(&out).contains("--cloud-ca FILE"), "{}", text(&out));
    // The wrong CA, by flag.
    let wrong_s = wrong.display().to_string();
    let with_wrong: Vec<&str> = login.iter().copied().chain(["--cloud-ca", &wrong_s]).collect();
    let out = companion(&home, &with_wrong, None).await.unwrap();
    assert!(!out.status.success() && text(&out).contains(UNTRUSTED), "{}", text(&out));
    assert!(!home.config_path().exists(), "a failed login wrote the config file");
    // A file that holds no certificate.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let junk_s = junk.display().to_string();
    let with_junk: Vec<&str> = login.iter().copied().chain(["--cloud-ca", &junk_s]).collect();
    let out = companion(&home, &with_junk, None).await.unwrap();
    assert!(!out.status.success() && text(&out).contains("holds no certificate"), "{}", text(&out));

    // The right CA, by environment: login works and keeps it.
    let out = companion(&home, &login, Some(&front.ca)).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let config = std::fs::read_to_string(home.config_path()).unwrap();
    assert!(config.contains(&format!("ca = \"{}\"", front.ca.display())), "{config}");
    let out = companion(&home, &["doctor"], None).await.unwrap();
    assert!(text(&out).contains(&format!("Cloud:     {url} as alice")), "{}", text(&out));

    // The environment's wrong CA wins over the file's right one: doctor and
    // run both name the problem, and run stops instead of retrying blind.
    let out = companion(&home, &["doctor"], Some(&wrong)).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let cloud_line = String::from_utf8_lossy(&out.stdout).lines().find(|l| l.starts_with("Cloud:")).map(str::to_owned);
    assert!(cloud_line.as_deref().is_some_and(|l| l.contains(UNTRUSTED)), "{}", text(&out));
    let out = companion(&home, &["run"], Some(&wrong)).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(UNTRUSTED) && stderr.contains("--cloud-ca FILE"), "{stderr}");

    proxy.proc.stop(Duration::from_secs(10)).await.unwrap();
    cloud.proc.stop(Duration::from_secs(10)).await.unwrap();
}
