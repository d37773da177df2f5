//! The status socket of a real `companion run` (the invitee of the live
//! pair), asked by real clients on the real socket: its mode and place in
//! `status --json` and `doctor`; while a client that never reads holds its place:
//! another subscribes and sees a badge change arrive, one path's badge, a
//! directory's entries with a subdirectory aggregated, a path outside every
//! shared folder, an over-long line, 50 clients at once.

use crate::member_support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cloud_protocol::FileState;
use member_support::*;
use syncthing_fixtures::poll::eventually;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// An answer line: its kind and its fields.
#[derive(Debug)]
struct Answer {
    kind: String,
    fields: HashMap<String, String>,
}

impl Answer {
    fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }
}

fn parse(line: &str) -> Answer {
    let mut parts = line.trim_end_matches('\n').split('\t');
    let kind = parts.next().unwrap_or_default().to_owned();
    let fields = parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    Answer { kind, fields }
}

/// A client of the socket, as a file manager's extension would be.
struct Client {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Client {
    /// Connects and reads the greeting.
    async fn connect(path: &Path) -> Client {
        let (read, write) = UnixStream::connect(path).await.expect("the status socket answers").into_split();
        let mut client = Client { read: BufReader::new(read), write };
        let hello = client.next().await;
        assert_eq!((hello.kind.as_str(), hello.get("protocol")), ("hello", "1"));
        client
    }

    async fn next(&mut self) -> Answer {
        let mut line = String::new();
        // News waits on Syncthing reconnecting: as long as any badge may take.
        let read = tokio::time::timeout(DEADLINE, self.read.read_line(&mut line)).await;
        let n = read.expect("an answer in time").expect("the socket reads");
        assert!(n > 0, "the daemon closed the connection");
        parse(&line)
    }

    async fn send(&mut self, line: &str) {
        self.write.write_all(format!("{line}\n").as_bytes()).await.expect("the socket takes a request");
    }

    async fn ask(&mut self, line: &str) -> Answer {
        self.send(line).await;
        self.next().await
    }

    /// `list PATH`: the entries until `end`.
    async fn list(&mut self, path: &str) -> Vec<Answer> {
        self.send(&format!("list {path}")).await;
        let mut entries = Vec::new();
        loop {
            let a = self.next().await;
            match a.kind.as_str() {
                "entry" => entries.push(a),
                "end" => {
                    assert_eq!(a.get("entries"), entries.len().to_string());
                    return entries;
                }
                _ => panic!("unexpected in a listing: {a:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_socket_answers_badges_listings_and_news_to_many_clients_and_survives_one_that_never_reads() {
    let s = setup(Knobs::default()).await;
    std::fs::create_dir(s.a("shots")).unwrap();
    s.write_synced("top.txt", b"top\n").await;
    s.write_synced("shots/a.txt", &[b'a'; 300]).await;
    let folder = s.cluster.node(1).folder_path(FOLDER).display().to_string();
    let (shots, top) = (format!("{folder}/shots"), format!("{folder}/top.txt"));

    // In the state directory, for this user only, and named by `status --json`.
    let socket = s.member.state_dir().join("status.sock");
    eventually("the status socket answering", DEADLINE, || std::os::unix::net::UnixStream::connect(&socket).ok()).await;
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    let status = s.member.status_json().await.unwrap();
    assert_eq!(status["socket"], socket.display().to_string());
    let doctor = s.member.command(&["doctor"]).unwrap().output().await.unwrap();
    let doctor = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.contains(&format!("Socket:    {} (answering)", socket.display())), "{doctor}");

    // A client that sends and never reads: its answers back up until the
    // daemon stops reading it. Everything below is served meanwhile.
    let hog = UnixStream::connect(&socket).await.unwrap();
    let pings = "ping\n".repeat(16 * 1024);
    let mut sent = 0;
    loop {
        hog.writable().await.unwrap();
        match hog.try_write(pings.as_bytes()) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("writing to the socket: {e}"),
        }
        assert!(sent < 64 << 20, "the daemon read 64 MiB of requests without anyone reading its answers");
    }

    // A subscriber sees a new file's badge change until it is ✓.
    let mut watcher = Client::connect(&socket).await;
    let subscribed = watcher.ask(&format!("subscribe {shots}")).await;
    assert_eq!((subscribed.kind.as_str(), subscribed.get("path")), ("subscribed", &*shots), "{subscribed:?}");
    std::fs::write(s.a("shots/c.txt"), [b'c'; 100]).unwrap();
    let c_txt = format!("{shots}/c.txt");
    loop {
        let news = watcher.next().await;
        assert_eq!(news.kind, "changed", "{news:?}");
        assert!(news.get("path").starts_with(&format!("{shots}/")), "only paths under the subscription: {news:?}");
        if news.get("path") == c_txt && news.get("state") == "synced" {
            break;
        }
    }

    // B cannot get what A writes now: announced, pending on B.
    s.pause_pair().await;
    wait_apart(&s).await;
    std::fs::write(s.a("shots/b.bin"), [b'b'; 100]).unwrap();
    s.wait_badge("shots/b.bin", "pending", |b| b.state == FileState::Pending).await;

    let mut c = Client::connect(&socket).await;
    let badge = c.ask(&format!("badge {top}")).await;
    assert_eq!((badge.kind.as_str(), badge.get("type"), badge.get("state")), ("badge", "file", "synced"), "{badge:?}");
    assert_eq!((badge.get("path"), badge.get("percent"), badge.get("size")), (&*top, "100.0", "4"));

    // The folder's entries: the subdirectory is its worst file, byte-weighted (400 B ✓, 100 B pending).
    let entries = c.list(&folder).await;
    let got: Vec<(&str, &str, &str, &str)> =
        entries.iter().map(|e| (e.get("path"), e.get("type"), e.get("state"), e.get("percent"))).collect();
    assert_eq!(got, [(&*shots, "dir", "pending", "80.0"), (&*top, "file", "synced", "100.0")]);
    assert_eq!((entries[0].get("files"), entries[0].get("size")), ("3", "500"));
    let dir = c.ask(&format!("badge {shots}/")).await;
    assert_eq!((dir.get("path"), dir.get("state"), dir.get("percent")), (&*shots, "pending", "80.0"), "{dir:?}");

    // Outside every shared folder, and a line longer than the limit: error lines, the connection stays.
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = c.ask(&format!("badge {}", elsewhere.path().display())).await;
    assert_eq!((outside.kind.as_str(), outside.get("code")), ("error", "outside"), "{outside:?}");
    assert!(outside.get("message").contains("is in no shared folder"), "{outside:?}");
    let long = c.ask(&format!("badge /{}", "x".repeat(20_000))).await;
    assert_eq!((long.kind.as_str(), long.get("code")), ("error", "too_long"), "{long:?}");
    assert_eq!(c.ask("ping").await.kind, "pong");

    // 50 clients at once, each answered.
    let asks = (0..50).map(|_| {
        let (socket, path) = (socket.clone(), format!("{shots}/a.txt"));
        tokio::spawn(async move { Client::connect(&socket).await.ask(&format!("badge {path}")).await })
    });
    for answer in futures_util::future::join_all(asks).await {
        let answer = answer.expect("a client task");
        assert_eq!((answer.kind.as_str(), answer.get("state")), ("badge", "synced"), "{answer:?}");
    }
    drop(hog);
}
