//! The status socket's wire format (docs/status-socket.md): requests are
//! `VERB PATH` lines, answers are tab-separated lines `kind\tkey=value…`.
//! Paths and values escape `\`, tab, newline and carriage return so that any
//! file name fits on one line. A reader that never holds more than
//! [`MAX_LINE`] bytes of a line ([`LineReader`]).

use std::fmt::Write as _;
use std::path::PathBuf;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::listing::{Entry, Kind};

/// The protocol's version, in the `hello` line.
pub const VERSION: u32 = 1;
/// The longest request line accepted, in bytes without its newline: an
/// absolute path (`PATH_MAX` is 4096) escaped, plus the verb.
pub const MAX_LINE: usize = 8192;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    /// The badge of one file or directory.
    Badge(PathBuf),
    /// The badge of every entry of a directory.
    List(PathBuf),
    /// `changed` lines for paths under this one from now on.
    Subscribe(PathBuf),
    Unsubscribe(PathBuf),
}

/// Why a request line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown request {0:?}; requests are ping, badge, list, subscribe and unsubscribe")]
    UnknownVerb(String),
    #[error("{0} needs a path: `{0} /absolute/path`")]
    MissingPath(&'static str),
    #[error("paths must be absolute: {0:?}")]
    Relative(String),
    #[error("bad escape in {0:?}: only \\\\, \\t, \\n and \\r are escapes")]
    BadEscape(String),
    #[error("the line is not UTF-8")]
    NotUtf8,
    #[error("the line is longer than {MAX_LINE} bytes")]
    TooLong,
}

impl RequestError {
    /// The `code=` of the error line.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::UnknownVerb(_) | RequestError::MissingPath(_) | RequestError::NotUtf8 => "bad_request",
            RequestError::BadEscape(_) => "bad_request",
            RequestError::Relative(_) => "relative",
            RequestError::TooLong => "too_long",
        }
    }
}

impl Request {
    /// One request line, without its newline (a trailing `\r` is dropped).
    pub fn parse(line: &str) -> Result<Request, RequestError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let verb = match verb {
            "ping" => return Ok(Request::Ping),
            "badge" => "badge",
            "list" => "list",
            "subscribe" => "subscribe",
            "unsubscribe" => "unsubscribe",
            other => return Err(RequestError::UnknownVerb(clip(other))),
        };
        if arg.is_empty() {
            return Err(RequestError::MissingPath(verb));
        }
        let path = unescape(arg).ok_or_else(|| RequestError::BadEscape(clip(arg)))?;
        if !path.starts_with('/') {
            return Err(RequestError::Relative(clip(&path)));
        }
        let path = PathBuf::from(path);
        Ok(match verb {
            "badge" => Request::Badge(path),
            "list" => Request::List(path),
            "subscribe" => Request::Subscribe(path),
            _ => Request::Unsubscribe(path),
        })
    }
}

/// At most 200 characters of client text, for an error line.
fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// `s` with `\`, tab, newline and carriage return escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`]; `None` for a lone or unknown escape.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

/// One answer line: a kind, then `key=value` fields (values escaped), `\n`-terminated.
#[derive(Debug, Clone, PartialEq)]
pub struct Line(String);

impl Line {
    pub fn new(kind: &str) -> Line {
        Line(kind.to_owned())
    }

    pub fn field(mut self, key: &str, value: impl std::fmt::Display) -> Line {
        let _ = write!(self.0, "\t{key}={}", escape(&value.to_string()));
        self
    }

    /// The bytes to send.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.0.push('\n');
        self.0.into_bytes()
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `hello\tprotocol=1`: the first line of every connection.
    pub fn hello() -> Line {
        Line::new("hello").field("protocol", VERSION)
    }

    /// `error\tpath=…\tcode=…\tmessage=…` (no path for a line that was not understood).
    pub fn error(path: Option<&str>, code: &str, message: &str) -> Line {
        let line = Line::new("error");
        let line = match path {
            Some(p) => line.field("path", p),
            None => line,
        };
        line.field("code", code).field("message", message)
    }

    /// A badge (`kind` is `badge` or `entry`) of the entry at `path`.
    pub fn badge(kind: &str, path: &str, entry: &Entry) -> Line {
        let b = &entry.badge;
        let mut line = Line::new(kind)
            .field("path", path)
            .field(
                "type",
                match entry.kind {
                    Kind::File => "file",
                    Kind::Dir => "dir",
                },
            )
            .field("state", b.state.as_str())
            .field("percent", format_args!("{:.1}", b.percent))
            .field("size", b.size)
            .field("files", b.files);
        if let Some(eta) = b.eta_s {
            line = line.field("eta_s", eta);
        }
        if let Some(error) = &b.error {
            line = line.field("error", error);
        }
        line
    }
}

/// A request line as read: its text, or the news that it was too long
/// (its bytes were read and dropped, never stored).
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Text(String),
    NotUtf8,
    TooLong,
}

/// Reads `\n`-terminated lines holding at most [`MAX_LINE`] bytes of one.
/// Cancel-safe: a partial line stays in the reader between calls.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    line: Vec<u8>,
    overflow: bool,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R) -> LineReader<R> {
        LineReader::with_max(inner, MAX_LINE)
    }

    pub fn with_max(inner: R, max: usize) -> LineReader<R> {
        LineReader { inner, line: Vec::new(), overflow: false, max }
    }

    /// The next line; `None` at the end of the stream (a last line without
    /// a newline is dropped: the client went away mid-request).
    pub async fn next(&mut self) -> std::io::Result<Option<Read>> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Ok(None);
            }
            let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], i + 1),
                None => (available, available.len()),
            };
            let ends = done > chunk.len();
            if !self.overflow && self.line.len() + chunk.len() <= self.max {
                self.line.extend_from_slice(chunk);
            } else {
                self.overflow = true;
                self.line.clear();
            }
            self.inner.consume(done);
            if ends {
                let line = std::mem::take(&mut self.line);
                if std::mem::take(&mut self.overflow) {
                    return Ok(Some(Read::TooLong));
                }
                return Ok(Some(String::from_utf8(line).map_or(Read::NotUtf8, Read::Text)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Aggregate;
    use cloud_protocol::FileState;

    #[test]
    fn requests_parse_with_escaped_paths_and_clear_refusals() {
        assert_eq!(Request::parse("ping"), Ok(Request::Ping));
        assert_eq!(Request::parse("badge /a b/c.txt\r"), Ok(Request::Badge("/a b/c.txt".into())));
        assert_eq!(Request::parse("list /x/new\\nline\\\\"), Ok(Request::List("/x/new\nline\\".into())));
        assert_eq!(Request::parse("subscribe /x"), Ok(Request::Subscribe("/x".into())));
        assert_eq!(Request::parse("unsubscribe /x"), Ok(Request::Unsubscribe("/x".into())));
        assert_eq!(Request::parse("badge x/y"), Err(RequestError::Relative("x/y".into())));
        assert_eq!(Request::parse("badge"), Err(RequestError::MissingPath("badge")));
        assert_eq!(Request::parse("badge /a\\q"), Err(RequestError::BadEscape("/a\\q".into())));
        assert_eq!(Request::parse("badge /a\\"), Err(RequestError::BadEscape("/a\\".into())));
        assert!(matches!(Request::parse("STATUS /a"), Err(RequestError::UnknownVerb(v)) if v == "STATUS"));
        assert_eq!(RequestError::TooLong.code(), "too_long");
    }

    #[test]
    fn escaping_round_trips_every_character_that_would_break_a_line() {
        for s in ["plain", "tab\there", "new\nline", "back\\slash\\n", "cr\r", "ünï"] {
            let e = escape(s);
            assert!(!e.contains(['\t', '\n', '\r']), "{e:?}");
            assert_eq!(unescape(&e).as_deref(), Some(s));
        }
    }

    #[test]
    fn answer_lines_are_tab_separated_fields() {
        let entry = Entry {
            name: "shots".into(),
            path: "shots".into(),
            kind: Kind::Dir,
            badge: Aggregate {
                state: FileState::Pending,
                percent: 75.0,
                size: 400,
                files: 2,
                eta_s: Some(9),
                error: Some("disk\tfull".into()),
            },
        };
        let line = Line::badge("entry", "/f/shots", &entry);
        assert_eq!(
            line.as_str(),
            "entry\tpath=/f/shots\ttype=dir\tstate=pending\tpercent=75.0\tsize=400\tfiles=2\teta_s=9\terror=disk\\tfull"
        );
        assert_eq!(Line::hello().into_bytes(), b"hello\tprotocol=1\n");
        assert_eq!(Line::error(None, "too_long", "x").as_str(), "error\tcode=too_long\tmessage=x");
    }

    #[tokio::test]
    async fn a_long_line_is_refused_without_being_kept_and_the_next_one_reads() {
        let long = "x".repeat(100);
        let input = format!("badge /a\n{long}\nping\npartial");
        // A tiny buffer, so that lines arrive in many pieces.
        let reader = tokio::io::BufReader::with_capacity(7, input.as_bytes());
        let mut lines = LineReader::with_max(reader, 20);
        assert_eq!(lines.next().await.unwrap(), Some(Read::Text("badge /a".into())));
        assert_eq!(lines.next().await.unwrap(), Some(Read::TooLong));
        // Growing by doubling, the buffer never passes twice the limit.
        assert!(lines.line.capacity() <= 2 * 20, "kept {} bytes", lines.line.capacity());
        assert_eq!(lines.next().await.unwrap(), Some(Read::Text("ping".into())));
        assert_eq!(lines.next().await.unwrap(), None);
        let mut bad = LineReader::new(&b"\xff\xfe\n"[..]);
        assert_eq!(bad.next().await.unwrap(), Some(Read::NotUtf8));
    }
}
