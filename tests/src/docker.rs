//! Containers for the e2e tests, driven through the `docker` CLI: the images
//! `scripts/images` builds from this build's binaries, and a [`Run`] that names
//! everything it makes with a per-run prefix (parallel runs never collide) and
//! removes every container and network it made when dropped, also when the test
//! failed. No Docker daemon is an error that says so: these tests never skip.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::bins;

/// The image references `scripts/images` printed (content-tagged for
/// companion and cloud, version-tagged for Syncthing).
#[derive(Debug, Clone)]
pub struct Images {
    pub companion: String,
    pub cloud: String,
    pub syncthing: String,
}

/// The uid and gid the images run as (`scripts/images`).
pub const IMAGE_UID: u32 = 1000;

/// Fails with the reason when there is no usable Docker daemon.
pub fn require_daemon() -> anyhow::Result<()> {
    let out = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .context("the container tests need Docker, and the `docker` command cannot be run (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "the container tests need a running Docker daemon, and `docker info` failed: {}; start it (e.g. `sudo service docker start`)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Builds (or finds in Docker's cache) the three images from the binaries this
/// test run uses, once per process; concurrent test processes take turns on a
/// lock file.
pub fn images() -> anyhow::Result<Images> {
    static IMAGES: OnceLock<Result<Images, String>> = OnceLock::new();
    IMAGES.get_or_init(|| build_images().map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
}

fn build_images() -> anyhow::Result<Images> {
    require_daemon()?;
    let root = workspace_root();
    let syncthing = syncthing_fixtures::syncthing_binary()?;
    let companion = bins::bin("companion")?;
    let lock = companion.parent().unwrap_or(&root).join("container-images.lock");
    let out = std::process::Command::new("flock")
        .arg(&lock)
        .arg(root.join("scripts/images"))
        .env("COMPANION_BIN", &companion)
        .env("CLOUD_BIN", bins::bin("cloud")?)
        .env("SYNCTHING_BIN", &syncthing)
        .output()
        .context("cannot run scripts/images (under flock)")?;
    if !out.status.success() {
        bail!("scripts/images failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let image = |role: &str| {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("image "))
            .find_map(|l| l.strip_prefix(role)?.strip_prefix(' ')?.split(' ').next().map(str::to_owned))
            .with_context(|| format!("scripts/images printed no `image {role} …` line:\n{stdout}"))
    };
    Ok(Images { companion: image("companion")?, cloud: image("cloud")?, syncthing: image("syncthing")? })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_owned).unwrap_or_default()
}

/// Runs `docker ARGS`; returns its trimmed stdout, or an error with its stderr.
pub async fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker").args(args).output().await.context("cannot run docker")?;
    check(args, out)
}

fn check(args: &[&str], out: Output) -> anyhow::Result<String> {
    if !out.status.success() {
        bail!("docker {} failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A container to start.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Short name; the container is `<prefix>-<name>`.
    pub name: String,
    pub image: String,
    /// The first network (short name) and the container's alias on it.
    pub network: String,
    pub alias: String,
    pub env: Vec<(String, String)>,
    /// Host path, container path, read-only.
    pub mounts: Vec<(PathBuf, String, bool)>,
    /// Arguments after the image (the command).
    pub args: Vec<String>,
}

/// Everything one test made, removed on drop.
pub struct Run {
    pub prefix: String,
    pub dir: tempfile::TempDir,
    containers: Mutex<Vec<String>>,
    networks: Mutex<Vec<String>>,
    keep: Mutex<bool>,
}

impl Run {
    /// A run for `test`, with a fresh prefix and a host directory for its
    /// bind mounts (owned by the images' user).
    pub fn new(test: &str) -> anyhow::Result<Run> {
        anyhow::ensure!(!test.contains('-'), "run name {test:?}: no dashes (the pid follows the first one)");
        require_daemon()?;
        sweep_dead_runs();
        let prefix = format!("cst-{test}-{}-{:04x}", std::process::id(), rand::random::<u16>());
        let dir = tempfile::Builder::new().prefix(&format!("{prefix}-")).tempdir()?;
        Ok(Run { prefix, dir, containers: Mutex::default(), networks: Mutex::default(), keep: Mutex::new(false) })
    }

    /// `<prefix>-<name>`.
    pub fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// A directory under the run's, owned by the images' user.
    pub fn mkdir(&self, rel: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        chown_tree(self.dir.path(), &path)?;
        Ok(path)
    }

    /// Creates network `<prefix>-<name>`; with `subnet`, that IPv4 /24 (needed to
    /// give a container back its address with [`Run::connect`]).
    pub async fn network(&self, name: &str, subnet: Option<&str>) -> anyhow::Result<String> {
        let full = self.name(name);
        let mut args = vec!["network", "create", "--label", "e2e-run"];
        if let Some(s) = subnet {
            args.extend(["--subnet", s]);
        }
        args.push(&full);
        docker(&args).await?;
        self.networks.lock().unwrap().push(full.clone());
        Ok(full)
    }

    /// Creates a network on a random private /24 (retrying when Docker says it
    /// overlaps one in use); returns its name and subnet.
    pub async fn network_with_subnet(&self, name: &str) -> anyhow::Result<(String, String)> {
        let mut last = None;
        for _ in 0..8 {
            let subnet = format!("10.{}.{}.0/24", 200 + rand::random::<u8>() % 50, rand::random::<u8>());
            match self.network(name, Some(&subnet)).await {
                Ok(net) => return Ok((net, subnet)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no subnet tried")))
    }

    /// `docker run -d` of `spec`; the container is removed when the run ends.
    pub async fn start(&self, spec: &Spec) -> anyhow::Result<Container> {
        let name = self.name(&spec.name);
        let network = self.name(&spec.network);
        let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.clone()];
        args.extend(["--network".into(), network, "--network-alias".into(), spec.alias.clone()]);
        args.extend(["--label".into(), "e2e-run".into()]);
        push_env_mounts_image(&mut args, spec);
        // Recorded before it exists: a `docker run` that fails half-way may leave one.
        self.containers.lock().unwrap().push(name.clone());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs).await?;
        Ok(Container { name })
    }

    /// `docker run --rm` of `spec` in the foreground; returns its stdout.
    pub async fn run_once(&self, spec: &Spec) -> anyhow::Result<String> {
        let name = self.name(&spec.name);
        let mut args: Vec<String> = vec!["run".into(), "--rm".into(), "--name".into(), name];
        args.extend(["--network".into(), self.name(&spec.network), "--label".into(), "e2e-run".into()]);
        push_env_mounts_image(&mut args, spec);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs).await
    }

    /// Attaches `container` to network `<prefix>-<net>` with `alias` (and `ip`).
    pub async fn connect(&self, net: &str, container: &Container, alias: &str, ip: Option<&str>) -> anyhow::Result<()> {
        let net = self.name(net);
        let mut args = vec!["network", "connect", "--alias", alias];
        if let Some(ip) = ip {
            args.extend(["--ip", ip]);
        }
        args.extend([net.as_str(), container.name.as_str()]);
        docker(&args).await.map(drop)
    }

    /// Detaches `container` from network `<prefix>-<net>`.
    pub async fn disconnect(&self, net: &str, container: &Container) -> anyhow::Result<()> {
        docker(&["network", "disconnect", &self.name(net), &container.name]).await.map(drop)
    }

    /// Keeps the host directory (bind mounts, logs) after the run, for a failure.
    pub fn keep_files(&self) {
        *self.keep.lock().unwrap() = true;
    }

    /// Prints each container's last log lines (for a failing test).
    pub fn print_logs(&self, lines: usize) {
        for name in self.containers.lock().unwrap().iter() {
            let out = std::process::Command::new("docker").args(["logs", "--tail", &lines.to_string(), name]).output();
            if let Ok(out) = out {
                eprintln!(
                    "----- docker logs {name} (last {lines}) -----\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    /// What the test returned, with the containers' logs printed and the files
    /// kept when it failed.
    pub fn finish<T>(&self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        if result.is_err() {
            self.print_logs(60);
            self.keep_files();
        }
        result
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Sync on purpose: this runs while a failed test unwinds, maybe with no runtime.
        let containers = std::mem::take(&mut *self.containers.lock().unwrap());
        if !containers.is_empty() {
            let mut cmd = std::process::Command::new("docker");
            cmd.args(["rm", "-f", "-v"]).args(&containers);
            report_cleanup(cmd.output(), "containers", &containers);
        }
        let networks = std::mem::take(&mut *self.networks.lock().unwrap());
        if !networks.is_empty() {
            let mut cmd = std::process::Command::new("docker");
            cmd.args(["network", "rm"]).args(&networks);
            report_cleanup(cmd.output(), "networks", &networks);
        }
        if *self.keep.lock().unwrap() || std::thread::panicking() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a temporary directory")).keep();
            eprintln!("kept the run's files in {}", kept.display());
        }
    }
}

fn report_cleanup(out: std::io::Result<Output>, what: &str, names: &[String]) {
    match out {
        Ok(o) if o.status.success() => {}
        // `docker rm -f` of a container that never started says so; nothing is left.
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No such") => {}
        Ok(o) => eprintln!("cleanup of {what} {names:?} failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => eprintln!("cleanup of {what} {names:?} failed: {e}"),
    }
}

/// Removes what earlier runs left behind when their process was killed before
/// its guard ran (a nextest timeout): containers and networks labelled
/// `e2e-run` whose name carries the pid of a process that no longer exists.
fn sweep_dead_runs() {
    let list = |args: &[&str]| -> Vec<String> {
        let out = std::process::Command::new("docker").args(args).output().ok();
        out.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect()).unwrap_or_default()
    };
    let dead = |name: &String| {
        // cst-<test>-<pid>-<hex>-…
        let pid = name.strip_prefix("cst-").and_then(|rest| rest.split('-').nth(1)).and_then(|p| p.parse::<u32>().ok());
        pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    let containers: Vec<String> =
        list(&["ps", "-a", "--filter", "label=e2e-run", "--format", "{{.Names}}"]).into_iter().filter(dead).collect();
    if !containers.is_empty() {
        let _ = std::process::Command::new("docker").args(["rm", "-f", "-v"]).args(&containers).output();
    }
    let networks: Vec<String> = list(&["network", "ls", "--filter", "label=e2e-run", "--format", "{{.Name}}"])
        .into_iter()
        .filter(dead)
        .collect();
    if !networks.is_empty() {
        let _ = std::process::Command::new("docker").args(["network", "rm"]).args(&networks).output();
    }
}

/// Gives `path` and its parents up to `top` to the images' user when we may
/// (as root); otherwise opens them to everyone, so that user can write there.
fn chown_tree(top: &Path, path: &Path) -> anyhow::Result<()> {
    for dir in path.ancestors().take_while(|p| p.starts_with(top)) {
        match std::os::unix::fs::chown(dir, Some(IMAGE_UID), Some(IMAGE_UID)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
                    .with_context(|| format!("cannot open {} to the containers' user", dir.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot chown {}", dir.display())),
        }
    }
    Ok(())
}

/// A started container.
#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker exec` of `args` in it; stdout, or an error with stderr.
    pub async fn exec(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["exec", self.name.as_str()];
        all.extend(args);
        docker(&all).await
    }

    /// Its IPv4 address on network `full_net` (full name).
    pub async fn ip(&self, full_net: &str) -> anyhow::Result<String> {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{full_net}\").IPAddress}}}}");
        let ip = docker(&["inspect", "-f", &format, &self.name]).await?;
        if ip.is_empty() {
            bail!("{} has no address on {full_net}", self.name);
        }
        Ok(ip)
    }

    pub async fn stop(&self) -> anyhow::Result<()> {
        docker(&["stop", "-t", "10", &self.name]).await.map(drop)
    }

    pub async fn kill(&self) -> anyhow::Result<()> {
        docker(&["kill", &self.name]).await.map(drop)
    }

    pub async fn start(&self) -> anyhow::Result<()> {
        docker(&["start", &self.name]).await.map(drop)
    }

    /// `docker inspect -f FORMAT`.
    pub async fn inspect(&self, format: &str) -> anyhow::Result<String> {
        docker(&["inspect", "-f", format, &self.name]).await
    }

    /// Its log (stdout and stderr), last `lines` lines.
    pub async fn logs(&self, lines: usize) -> String {
        let out = Command::new("docker").args(["logs", "--tail", &lines.to_string(), &self.name]).output().await;
        match out {
            Ok(o) => format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
            Err(e) => format!("(docker logs failed: {e})"),
        }
    }
}

/// The `docker run` arguments after the options of `spec`: its `-e`, its `-v`, its
/// image and the image's arguments.
fn push_env_mounts_image(args: &mut Vec<String>, spec: &Spec) {
    for (k, v) in &spec.env {
        args.extend(["-e".into(), format!("{k}={v}")]);
    }
    for (host, inside, ro) in &spec.mounts {
        let mode = if *ro { ":ro" } else { "" };
        args.extend(["-v".into(), format!("{}:{inside}{mode}", host.display())]);
    }
    args.push(spec.image.clone());
    args.extend(spec.args.iter().cloned());
}
