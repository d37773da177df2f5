//! The shipped `docker-compose.yml`, brought up for real (with the images
//! `scripts/images` built, and without its host port publishing, so parallel
//! runs and the host's own services do not collide): the cloud and both
//! Syncthings start, alice's companion is set up with one-off `run --rm`
//! containers as the README says, its daemon starts, and both the cloud and
//! alice's companion turn `healthy`: their HEALTHCHECKs (`cloud healthcheck`,
//! `companion doctor`, which reaches Syncthing by service name with the key
//! from the read-only config volume) pass.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use e2e::docker::{Images, images, require_daemon};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;
use tokio::process::Command;

/// A compose project, taken down with its volumes when dropped.
struct Compose {
    project: String,
    file: PathBuf,
    root: PathBuf,
    images: Images,
    _dir: tempfile::TempDir,
}

/// `docker compose` (the v2 plugin) where it exists, else `docker-compose` (v1).
fn compose_program() -> (&'static str, &'static [&'static str]) {
    let plugin = std::process::Command::new("docker").args(["compose", "version"]).output();
    if plugin.is_ok_and(|o| o.status.success()) { ("docker", &["compose"]) } else { ("docker-compose", &[]) }
}

impl Compose {
    fn command(&self, args: &[&str]) -> Command {
        let (program, first) = compose_program();
        let mut cmd = Command::new(program);
        cmd.args(first)
            .arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(&self.file)
            .arg("--project-directory")
            .arg(&self.root);
        cmd.args(args)
            .env("CLOUD_IMAGE", &self.images.cloud)
            .env("COMPANION_IMAGE", &self.images.companion)
            .env("SYNCTHING_IMAGE", &self.images.syncthing);
        cmd
    }

    async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.command(args).output().await.context("cannot run docker compose")?;
        if !out.status.success() {
            bail!(
                "docker compose {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The health of `service`'s container: starting, healthy or unhealthy.
    async fn health(&self, service: &str) -> anyhow::Result<String> {
        let id = self.run(&["ps", "-q", service]).await?;
        let out = Command::new("docker").args(["inspect", "-f", "{{.State.Health.Status}}", &id]).output().await?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let (program, first) = compose_program();
        if std::thread::panicking() {
            let logs = std::process::Command::new(program)
                .args(first)
                .args(["-p", &self.project, "-f"])
                .arg(&self.file)
                .args(["logs", "--tail", "40"])
                .output();
            if let Ok(o) = logs {
                eprintln!("{}", String::from_utf8_lossy(&o.stdout));
            }
        }
        let down = std::process::Command::new(program)
            .args(first)
            .args(["-p", &self.project, "-f"])
            .arg(&self.file)
            .arg("--project-directory")
            .arg(&self.root)
            .args(["down", "-v", "--remove-orphans", "-t", "5"])
            .env("CLOUD_IMAGE", &self.images.cloud)
            .env("COMPANION_IMAGE", &self.images.companion)
            .env("SYNCTHING_IMAGE", &self.images.syncthing)
            .output();
        match down {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("docker compose down failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("docker compose down failed: {e}"),
        }
    }
}

/// Removes the containers, networks and volumes of earlier compose runs whose
/// process was killed before `down` ran (project `cstcompose<pid>x…`, pid gone).
fn sweep_dead_projects() {
    let docker = |args: &[&str]| -> Vec<String> {
        let out = std::process::Command::new("docker").args(args).output().ok();
        out.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect()).unwrap_or_default()
    };
    let label = "{{.Label \"com.docker.compose.project\"}}";
    let mut projects = docker(&["ps", "-a", "--filter", "label=com.docker.compose.project", "--format", label]);
    projects.extend(docker(&["volume", "ls", "--filter", "label=com.docker.compose.project", "--format", label]));
    projects.sort();
    projects.dedup();
    for project in projects {
        let pid =
            project.strip_prefix("cstcompose").and_then(|r| r.split('x').next()).and_then(|p| p.parse::<u32>().ok());
        if pid.is_none_or(|pid| Path::new(&format!("/proc/{pid}")).exists()) {
            continue;
        }
        let filter = format!("label=com.docker.compose.project={project}");
        let containers = docker(&["ps", "-aq", "--filter", &filter]);
        let _ = std::process::Command::new("docker").args(["rm", "-f", "-v"]).args(&containers).output();
        let networks = docker(&["network", "ls", "-q", "--filter", &filter]);
        let _ = std::process::Command::new("docker").args(["network", "rm"]).args(&networks).output();
        let volumes = docker(&["volume", "ls", "-q", "--filter", &filter]);
        let _ = std::process::Command::new("docker").args(["volume", "rm"]).args(&volumes).output();
    }
}

/// The compose file without its `ports:` lists.
fn without_ports(yaml: &str) -> String {
    let mut out = Vec::new();
    let mut skip_deeper_than: Option<usize> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(level) = skip_deeper_than {
            if line.trim().is_empty() || indent > level || line.trim_start().starts_with("- ") && indent >= level {
                continue;
            }
            skip_deeper_than = None;
        }
        if line.trim() == "ports:" {
            skip_deeper_than = Some(indent);
            continue;
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_file_comes_up_healthy() {
    let started = Instant::now();
    require_daemon().unwrap();
    sweep_dead_projects();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let shipped = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(&file, without_ports(&shipped)).unwrap();
    assert!(!std::fs::read_to_string(&file).unwrap().contains("8384:8384"), "ports left in the copy");
    let images = tokio::task::spawn_blocking(images).await.unwrap().unwrap();
    let project = format!("cstcompose{}x{:04x}", std::process::id(), rand::random::<u16>());
    let compose = Compose { project, file, root: root.clone(), images, _dir: dir };

    // The shipped file itself is valid.
    let (program, first) = compose_program();
    let shipped_ok = Command::new(program)
        .args(first)
        .arg("-f")
        .arg(root.join("docker-compose.yml"))
        .args(["config", "-q"])
        .output()
        .await
        .unwrap();
    assert!(shipped_ok.status.success(), "docker-compose config: {}", String::from_utf8_lossy(&shipped_ok.stderr));

    compose.run(&["up", "-d", "cloud", "syncthing-alice", "syncthing-bob"]).await.unwrap();
    let user = compose.run(&["exec", "-T", "cloud", "cloud", "user", "add", "alice", "--json"]).await.unwrap();
    let token = serde_json::from_str::<Value>(&user).unwrap()["token"].as_str().unwrap().to_owned();
    // init finds Syncthing once it has written its config and answers.
    try_eventually_async("companion init against syncthing-alice", Duration::from_secs(90), || {
        compose.run(&["run", "--rm", "companion-alice", "init"])
    })
    .await
    .unwrap();
    compose
        .run(&["run", "--rm", "companion-alice", "login", "--cloud", "http://cloud:3001", "--token", &token])
        .await
        .unwrap();
    compose.run(&["up", "-d", "companion-alice"]).await.unwrap();
    let status = compose.run(&["exec", "-T", "companion-alice", "companion", "status", "--json"]).await;
    eprintln!("companion-alice status: {status:?}");

    // Docker runs the first check one interval (30 s) after the start.
    for service in ["cloud", "companion-alice"] {
        let what = format!("{service} to turn healthy");
        try_eventually_async(&what, Duration::from_secs(150), || async {
            let health = compose.health(service).await.map_err(|e| e.to_string())?;
            (health == "healthy").then_some(()).ok_or(health)
        })
        .await
        .unwrap();
    }
    eprintln!("the compose deployment came up healthy in {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn ports_are_dropped_and_the_rest_is_kept() {
    let yaml = "services:\n  a:\n    image: x\n    ports:\n      - \"1:1\"\n      - \"2:2\"   # note\n    restart: no\n  b:\n    image: y\n";
    assert_eq!(without_ports(yaml), "services:\n  a:\n    image: x\n    restart: no\n  b:\n    image: y\n");
}
