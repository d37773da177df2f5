//! One connection to the status socket: answers its requests from the
//! manifest (through [`crate::listing`], as `companion ls` does) and pushes
//! `changed` lines for the paths it subscribed to, from the daemon's
//! [`Live`] channel.
//!
//! Memory per client is bounded: a request line is at most
//! [`MAX_LINE`](super::protocol::MAX_LINE) bytes, answers are written before
//! the next request is read (a client that does not read stops being read),
//! and news waits in the shared broadcast ring, not in a queue of its own.
//! A subscriber that falls more than the ring behind gets one `resync` line
//! per subscription instead of what it missed. A client whose answer cannot
//! be written for [`WRITE_STALL`] is dropped: it holds a client slot.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::FileState;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::protocol::{Line, LineReader, Read, Request, RequestError};
use crate::config::Settings;
use crate::listing::{self, Entry, Kind, LocateError};
use crate::live::{Live, LiveUpdate};
use crate::manifest::ManifestError;

/// How long an answer may wait for the client to read before it is dropped.
pub const WRITE_STALL: Duration = Duration::from_secs(10);
/// Subscriptions one client may hold (a file manager has a few windows open).
pub const MAX_SUBSCRIPTIONS: usize = 64;

/// An error line's code and words.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

impl From<RequestError> for Refusal {
    fn from(e: RequestError) -> Refusal {
        Refusal { code: e.code(), message: e.to_string() }
    }
}

impl From<&LocateError> for Refusal {
    fn from(e: &LocateError) -> Refusal {
        let code = match e {
            LocateError::Outside { .. } => "outside",
            LocateError::NotUtf8 { .. } => "bad_request",
            LocateError::Io { .. } => "io",
            LocateError::Manifest(_) => "internal",
        };
        Refusal { code, message: e.to_string() }
    }
}

impl From<anyhow::Error> for Refusal {
    fn from(e: anyhow::Error) -> Refusal {
        if let Some(located) = e.downcast_ref::<LocateError>() {
            return located.into();
        }
        let code = if e.downcast_ref::<ManifestError>().is_some() { "internal" } else { "unknown" };
        Refusal { code, message: format!("{e:#}") }
    }
}

/// A path a client subscribed to, as it wrote it and as the manifest knows it.
#[derive(Debug)]
struct Subscription {
    asked: String,
    project: Uuid,
    rel: String,
}

/// Serves one client until it leaves, stalls, or the daemon stops.
pub async fn serve(stream: UnixStream, settings: Arc<Settings>, live: Live) {
    let (read, mut write) = stream.into_split();
    let mut lines = LineReader::new(BufReader::new(read));
    let mut subs: Vec<Subscription> = Vec::new();
    // Taken at the first subscription: a client that only asks holds no place in the ring.
    let mut news: Option<broadcast::Receiver<LiveUpdate>> = None;
    if send(&mut write, vec![Line::hello()]).await.is_err() {
        return;
    }
    loop {
        let out = tokio::select! {
            read = lines.next() => match read {
                Ok(Some(Read::Text(text))) => answer(&settings, &live, &mut subs, &mut news, &text).await,
                Ok(Some(Read::NotUtf8)) => vec![refuse(None, RequestError::NotUtf8.into())],
                Ok(Some(Read::TooLong)) => vec![refuse(None, RequestError::TooLong.into())],
                Ok(None) | Err(_) => return,
            },
            update = recv(&mut news) => match update {
                Ok(update) => changed(&subs, &update),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a status socket subscriber fell behind; resync");
                    subs.iter().map(|s| Line::new("resync").field("path", &s.asked)).collect()
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if send(&mut write, out).await.is_err() {
            return;
        }
    }
}

/// The next piece of news, or never without a subscription.
async fn recv(news: &mut Option<broadcast::Receiver<LiveUpdate>>) -> Result<LiveUpdate, broadcast::error::RecvError> {
    match news {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes `lines`, giving up (dropping the client) after [`WRITE_STALL`].
async fn send(write: &mut tokio::net::unix::OwnedWriteHalf, lines: Vec<Line>) -> std::io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let bytes: Vec<u8> = lines.into_iter().flat_map(Line::into_bytes).collect();
    match tokio::time::timeout(WRITE_STALL, write.write_all(&bytes)).await {
        Ok(done) => done,
        Err(_) => {
            tracing::info!("a status socket client stopped reading; dropped");
            Err(std::io::ErrorKind::TimedOut.into())
        }
    }
}

fn refuse(path: Option<&str>, why: Refusal) -> Line {
    Line::error(path, why.code, &why.message)
}

/// The answer lines to one request line.
async fn answer(
    settings: &Arc<Settings>,
    live: &Live,
    subs: &mut Vec<Subscription>,
    news: &mut Option<broadcast::Receiver<LiveUpdate>>,
    text: &str,
) -> Vec<Line> {
    let request = match Request::parse(text) {
        Ok(r) => r,
        Err(e) => return vec![refuse(None, e.into())],
    };
    let asked = match &request {
        Request::Ping => return vec![Line::new("pong")],
        Request::Badge(p) | Request::List(p) | Request::Subscribe(p) | Request::Unsubscribe(p) => shown(p),
    };
    match request {
        Request::Ping => Vec::new(),
        Request::Badge(path) => match blocking(settings, move |s| badge(s, &path)).await {
            Ok(entry) => vec![Line::badge("badge", &asked, &entry)],
            Err(why) => vec![refuse(Some(&asked), why)],
        },
        Request::List(path) => match blocking(settings, move |s| list(s, &path)).await {
            Ok(entries) => {
                let mut out: Vec<Line> = entries
                    .iter()
                    .map(|(name, e)| Line::badge("entry", &name.as_ref().map_or(asked.clone(), |n| join(&asked, n)), e))
                    .collect();
                out.push(Line::new("end").field("path", &asked).field("entries", entries.len()));
                out
            }
            Err(why) => vec![refuse(Some(&asked), why)],
        },
        Request::Subscribe(path) => {
            if subs.len() >= MAX_SUBSCRIPTIONS {
                let message = format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection");
                return vec![Line::error(Some(&asked), "busy", &message)];
            }
            match blocking(settings, move |s| locate(s, &path)).await {
                Ok(located) => {
                    subs.retain(|s| s.asked != asked);
                    subs.push(Subscription {
                        asked: asked.clone(),
                        project: located.project.project_id,
                        rel: located.rel,
                    });
                    news.get_or_insert_with(|| live.subscribe());
                    vec![Line::new("subscribed").field("path", &asked)]
                }
                Err(why) => vec![refuse(Some(&asked), why)],
            }
        }
        Request::Unsubscribe(_) => {
            subs.retain(|s| s.asked != asked);
            if subs.is_empty() {
                *news = None;
            }
            vec![Line::new("unsubscribed").field("path", &asked)]
        }
    }
}

/// A requested path as answers name it: as the client wrote it, without a trailing `/`.
fn shown(path: &Path) -> String {
    let text = path.to_string_lossy();
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() }
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') { format!("{dir}{name}") } else { format!("{dir}/{name}") }
}

/// Runs manifest work off the async workers.
async fn blocking<T: Send + 'static>(
    settings: &Arc<Settings>,
    work: impl FnOnce(&Settings) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || work(&settings))
        .await
        .unwrap_or_else(|e| Err(Refusal { code: "internal", message: format!("the answer failed: {e}") }))
}

fn locate(settings: &Settings, path: &Path) -> Result<listing::Located, Refusal> {
    let manifest = settings.open_manifest().map_err(|e| Refusal { code: "internal", message: e.to_string() })?;
    listing::locate(&manifest, path, Path::new("/")).map_err(|e| (&e).into())
}

/// One path's badge: a file's own, a directory's files aggregated.
fn badge(settings: &Settings, path: &Path) -> Result<Entry, Refusal> {
    let manifest = settings.open_manifest().map_err(|e| Refusal { code: "internal", message: e.to_string() })?;
    let located = listing::locate(&manifest, path, Path::new("/")).map_err(|e| Refusal::from(&e))?;
    let files = listing::project_files(settings, &manifest, located.project.project_id)?.files;
    let name = located.rel.rsplit('/').next().unwrap_or_default();
    if let Some(file) = files.iter().find(|f| f.path == located.rel) {
        return Ok(listing::entry_of_file(file, name));
    }
    let under = files.iter().filter(|f| f.state != FileState::Deleted && listing::is_under(&f.path, &located.rel));
    match listing::aggregate(under) {
        Some(badge) => Ok(Entry { name: name.to_owned(), path: located.rel, kind: Kind::Dir, badge }),
        None => Err(Refusal { code: "unknown", message: format!("the companion knows no file at {}", path.display()) }),
    }
}

/// A directory's entries by name (or a file as itself, named `None`), as `companion ls` lists them.
fn list(settings: &Settings, path: &Path) -> Result<Vec<(Option<String>, Entry)>, Refusal> {
    let listing = listing::list(settings, path, Path::new("/"))?;
    let is_file = matches!(&listing.entries[..], [e] if e.kind == Kind::File && e.path == listing.path);
    Ok(listing.entries.into_iter().map(|e| ((!is_file).then(|| e.name.clone()), e)).collect())
}

/// `changed` lines for the files of `update` under a subscription.
fn changed(subs: &[Subscription], update: &LiveUpdate) -> Vec<Line> {
    match update {
        LiveUpdate::Files { project_id, files } => {
            let mut out = Vec::new();
            for sub in subs.iter().filter(|s| s.project == *project_id) {
                for f in files.iter().filter(|f| listing::is_under(&f.path, &sub.rel)) {
                    let rest =
                        if sub.rel.is_empty() { format!("/{}", f.path) } else { f.path[sub.rel.len()..].to_owned() };
                    let path = format!("{}{rest}", sub.asked.trim_end_matches('/'));
                    out.push(
                        Line::new("changed")
                            .field("path", path)
                            .field("state", f.state.as_str())
                            .field("percent", format_args!("{:.1}", f.percent)),
                    );
                }
            }
            out
        }
        // Access to the project was revoked: everything under it may differ.
        LiveUpdate::Project { project_id } => subs
            .iter()
            .filter(|s| s.project == *project_id)
            .map(|s| Line::new("resync").field("path", &s.asked))
            .collect(),
        LiveUpdate::Folder { .. } | LiveUpdate::Members { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base_dirs::BaseDirs;
    use crate::config::{ConfigEnv, Flags};
    use cloud_protocol::FileProgress;

    /// A client that sends and never reads: the daemon stops reading it once
    /// its answers back up, and drops it after [`WRITE_STALL`] (paused time).
    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_reads_is_not_read_and_then_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let env = ConfigEnv { dirs: BaseDirs::home(dir.path().join("home")), ..ConfigEnv::default() };
        let settings = Arc::new(Settings::resolve(&Flags::default(), &env).unwrap());
        let (server, mut client) = UnixStream::pair().unwrap();
        let served = tokio::spawn(serve(server, settings, Live::new()));
        let pings = "ping\n".repeat(64 * 1024);
        let (mut sent, started) = (0usize, tokio::time::Instant::now());
        // Succeeds until the daemon, its answers unread, stops reading; fails once it hung up.
        while client.write_all(pings.as_bytes()).await.is_ok() {
            sent += pings.len();
            assert!(sent < 64 << 20, "the daemon read 64 MiB without its answers being read");
        }
        served.await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= WRITE_STALL && waited < 2 * WRITE_STALL, "dropped after {waited:?}");
    }

    fn progress(path: &str, state: FileState, percent: f64) -> FileProgress {
        serde_json::from_value(serde_json::json!({"path": path, "state": state, "percent": percent})).unwrap()
    }

    /// Subscribed, the client reads nothing while more news comes than the
    /// daemon's ring holds: what it gets first is one `resync`, not a backlog.
    #[tokio::test]
    async fn a_subscriber_that_falls_behind_gets_resync() {
        use crate::manifest::{Manifest, ProjectRow};
        use cloud_protocol::Role;
        use tokio::io::AsyncBufReadExt;
        let dir = tempfile::tempdir().unwrap();
        let (film, state) = (dir.path().join("film"), dir.path().join("state"));
        std::fs::create_dir_all(&film).unwrap();
        let project = Uuid::new_v4();
        let mut manifest = Manifest::open_in(&state).unwrap();
        manifest.insert_project(&ProjectRow::new(project, "http://c", "film", "f", &film, Role::Member)).unwrap();
        let env = ConfigEnv { dirs: BaseDirs::home(dir.path().join("home")), ..ConfigEnv::default() };
        let flags = Flags { state_dir: Some(state), ..Flags::default() };
        let settings = Arc::new(Settings::resolve(&flags, &env).unwrap());
        let live = Live::new();
        let (server, client) = UnixStream::pair().unwrap();
        tokio::spawn(serve(server, settings, live.clone()));
        let (read, mut write) = client.into_split();
        let mut lines = BufReader::new(read).lines();
        let film = film.display().to_string();
        write.write_all(format!("subscribe {film}\n").as_bytes()).await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "hello\tprotocol=1");
        assert_eq!(lines.next_line().await.unwrap().unwrap(), format!("subscribed\tpath={film}"));
        // This runtime has one thread: the daemon's side sees nothing until all is published.
        for i in 0..10_000 {
            let files = vec![progress(&format!("f{i}"), FileState::Synced, 100.0)];
            live.publish(LiveUpdate::Files { project_id: project, files });
        }
        assert_eq!(lines.next_line().await.unwrap().unwrap(), format!("resync\tpath={film}"));
        let next = lines.next_line().await.unwrap().unwrap();
        assert!(next.starts_with(&format!("changed\tpath={film}/f")), "{next}");
    }

    #[test]
    fn news_becomes_one_changed_line_per_path_under_a_subscription() {
        let project = Uuid::new_v4();
        let subs = [
            Subscription { asked: "/home/u/film/shots".into(), project, rel: "shots".into() },
            Subscription { asked: "/home/u/link-to-film/".into(), project, rel: String::new() },
        ];
        let update = LiveUpdate::Files {
            project_id: project,
            files: vec![
                progress("shots/a.mov", FileState::Syncing, 12.34),
                progress("shotsx/b", FileState::Synced, 100.0),
            ],
        };
        let lines: Vec<String> = changed(&subs, &update).iter().map(|l| l.as_str().to_owned()).collect();
        assert_eq!(
            lines,
            [
                "changed\tpath=/home/u/film/shots/a.mov\tstate=syncing\tpercent=12.3",
                "changed\tpath=/home/u/link-to-film/shots/a.mov\tstate=syncing\tpercent=12.3",
                "changed\tpath=/home/u/link-to-film/shotsx/b\tstate=synced\tpercent=100.0",
            ]
        );
        let other =
            LiveUpdate::Files { project_id: Uuid::new_v4(), files: vec![progress("shots/a", FileState::Synced, 1.0)] };
        assert!(changed(&subs, &other).is_empty());
        let reload = changed(&subs, &LiveUpdate::Project { project_id: project });
        assert_eq!(reload.len(), 2);
        assert_eq!(reload[0].as_str(), "resync\tpath=/home/u/film/shots");
        assert_eq!((shown(Path::new("/a/b/")), shown(Path::new("/"))), ("/a/b".into(), "/".into()));
    }
}
