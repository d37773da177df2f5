//! Debian's nginx as a child process terminating TLS in front of the cloud,
//! configured with the very site file the project ships
//! (`contrib/nginx/syncthing-companion-cloud.conf`): only its example port,
//! upstream and certificate paths are replaced, so the tested proxy is the
//! one users copy. Everything nginx writes (pid, logs, temp files) stays in
//! the given directory; it runs in the foreground as one process
//! (`master_process off`), so stopping the child stops all of it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::proc::Proc;
use syncthing_fixtures::poll::try_eventually_async;
use syncthing_fixtures::ports::free_port;

/// The shipped site file.
pub const SITE_FILE: &str = include_str!("../../contrib/nginx/syncthing-companion-cloud.conf");

/// The certificate nginx serves and the CA companions must trust for it.
#[derive(Debug, Clone)]
pub struct TlsFront {
    /// PEM: the server certificate (and any intermediates).
    pub cert: PathBuf,
    /// PEM: its private key.
    pub key: PathBuf,
    /// PEM: the CA that signed it, for `--cloud-ca`.
    pub ca: PathBuf,
    /// The name the certificate is issued for (the URL's host).
    pub host: String,
}

/// A running nginx.
#[derive(Debug)]
pub struct Nginx {
    /// `https://HOST:PORT`
    pub url: String,
    pub port: u16,
    pub dir: PathBuf,
    pub proc: Proc,
}

/// The shipped site file with the example values replaced. Each must occur
/// exactly once: a reworded file fails here instead of testing something else.
pub fn site(port: u16, upstream_port: u16, front: &TlsFront) -> anyhow::Result<String> {
    let replacements = [
        ("listen 443 ssl;", format!("listen 127.0.0.1:{port} ssl;")),
        ("server_name cloud.example.org;", format!("server_name {};", front.host)),
        ("server 127.0.0.1:3001;", format!("server 127.0.0.1:{upstream_port};")),
        ("/etc/ssl/cloud.example.org/fullchain.pem", front.cert.display().to_string()),
        ("/etc/ssl/cloud.example.org/privkey.pem", front.key.display().to_string()),
    ];
    let mut text = SITE_FILE.to_owned();
    for (from, to) in replacements {
        let count = text.matches(from).count();
        if count != 1 {
            bail!("contrib/nginx/syncthing-companion-cloud.conf holds {from:?} {count} times, not once");
        }
        text = text.replace(from, &to);
    }
    Ok(text)
}

/// The main config around the site: foreground, one process, every path in `dir`.
fn main_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n    access_log {d}/access.log;\n    client_body_temp_path {d}/client_body;\n    \
         proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    \
         scgi_temp_path {d}/scgi;\n    include {d}/site.conf;\n}}\n"
    )
}

/// `$NGINX_BIN`, else Debian's `/usr/sbin/nginx`, else `nginx` on PATH.
fn binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("NGINX_BIN") {
        return Ok(PathBuf::from(path));
    }
    let debian = PathBuf::from("/usr/sbin/nginx");
    if debian.is_file() {
        return Ok(debian);
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file());
    on_path.context("nginx is not installed (apt-get install nginx, or set NGINX_BIN)")
}

impl Nginx {
    /// Starts nginx in `dir` on a free loopback port, proxying to the cloud
    /// on `upstream_port`, and waits until it accepts connections.
    pub async fn start(dir: &Path, upstream_port: u16, front: &TlsFront) -> anyhow::Result<Nginx> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let port = free_port()?;
        std::fs::write(dir.join("site.conf"), site(port, upstream_port, front)?)?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, main_config(dir))?;
        let mut cmd = Command::new(binary()?);
        // -e: nginx opens its error log before reading the config.
        cmd.arg("-p").arg(dir).arg("-c").arg(&conf).arg("-e").arg(dir.join("error.log"));
        let mut proc = Proc::spawn("nginx", cmd, &dir.join("nginx.out"))?;
        let waited = try_eventually_async("nginx to accept connections", Duration::from_secs(30), || {
            let exited = proc.try_exit();
            async move {
                if let Some(status) = exited {
                    return Ok(Err(status));
                }
                match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                    Ok(_) => Ok(Ok(())),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        let logs = || format!("{}\n{}", proc.log_tail(20), crate::proc::log_tail(&dir.join("error.log"), 20));
        match waited {
            Ok(Ok(())) => {}
            Ok(Err(status)) => bail!("nginx exited ({status}) before it listened:\n{}", logs()),
            Err(e) => bail!("{e}:\n{}", logs()),
        }
        Ok(Nginx { url: format!("https://{}:{port}", front.host), port, dir: dir.to_owned(), proc })
    }

    /// What nginx logged about each request so far (a WebSocket's line is
    /// written when it closes).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}
