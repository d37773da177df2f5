//! `companion ls [PATH] [--json]`: like `ls`, one line per entry of a
//! directory in a shared folder with its badge, percent and ETA;
//! subdirectories show their files aggregated (see [`crate::listing`]).
//! Lists what the companion knows — files still to arrive included — read
//! from the manifest the running daemon keeps, as `status` does.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use cloud_protocol::FileState;

use crate::commands::status::{badge, bytes, clean, duration};
use crate::config::Settings;
use crate::listing::{Kind, Listing, list};

pub fn run(settings: &Settings, path: Option<&Path>, json: bool, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let listing = list(settings, path.unwrap_or(Path::new(".")), &cwd)?;
    if json {
        serde_json::to_writer(&mut *out, &listing)?;
        writeln!(out)?;
    } else {
        out.write_all(render(&listing).as_bytes())?;
    }
    Ok(())
}

/// One line per entry: badge, percent, size, name (`/` after a directory), ETA, error.
pub fn render(listing: &Listing) -> String {
    let mut s = String::new();
    for entry in &listing.entries {
        let e = &entry.badge;
        let percent = match e.state {
            FileState::IgnoredHere => " ".repeat(6),
            _ => format!("{:>5.1}%", e.percent),
        };
        let slash = if entry.kind == Kind::Dir { "/" } else { "" };
        let _ = write!(
            s,
            "{:<14} {percent} {:>10}  {}{slash}",
            badge(e.state, e.percent),
            bytes(e.size),
            clean(&entry.name)
        );
        if entry.kind == Kind::Dir {
            let _ = write!(s, "  ({} file{})", e.files, if e.files == 1 { "" } else { "s" });
        }
        if let Some(eta) = e.eta_s {
            let _ = write!(s, "  ETA {}", duration(eta));
        }
        if let Some(error) = &e.error {
            let _ = write!(s, "  — {}", clean(error));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{Aggregate, Entry};
    use uuid::Uuid;

    fn entry(name: &str, kind: Kind, state: FileState, percent: f64) -> Entry {
        Entry {
            name: name.into(),
            path: name.into(),
            kind,
            badge: Aggregate {
                state,
                percent,
                size: 3 << 20,
                files: if kind == Kind::Dir { 2 } else { 1 },
                eta_s: (state == FileState::Syncing).then_some(65),
                error: (state == FileState::Error).then(|| "Syncthing: permission denied".into()),
            },
        }
    }

    #[test]
    fn one_line_per_entry_with_badge_percent_size_eta_and_error() {
        let listing = Listing {
            project_id: Uuid::nil(),
            project: "film".into(),
            folder: "/home/bob/Sync/film".into(),
            path: String::new(),
            entries: vec![
                entry("shots", Kind::Dir, FileState::Syncing, 42.5),
                entry("bad\u{202e}.txt", Kind::File, FileState::Error, 0.0),
                entry("cache.tmp", Kind::File, FileState::IgnoredHere, 0.0),
            ],
        };
        let text = render(&listing);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "⟳  42%          42.5%    3.0 MiB  shots/  (2 files)  ETA 1m05s", "{text}");
        assert!(
            lines[1].starts_with("✗ error") && lines[1].ends_with("bad\\u{202e}.txt  — Syncthing: permission denied")
        );
        assert!(lines[2].starts_with("○ ignored here") && !lines[2].contains('%'), "{text}");
    }
}
