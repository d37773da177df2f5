//! `companion status [PROJECT] [--json] [--watch]`: the badges of every
//! file, a percent bar per file and per folder, the ETA, errors in words,
//! and (owner) each member's progress. `--json` prints the shape in docs/badges.md;
//! `--watch` redraws every second until interrupted.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use cloud_protocol::{FileState, Role};

use crate::config::Settings;
use crate::ui::status::{MemberView, ProjectStatusView, StatusReport, dashboard_url, gather};

/// How often `--watch` redraws.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Width of a percent bar, in cells.
const BAR: usize = 20;

pub async fn run(
    settings: Settings,
    project: Option<&str>,
    json: bool,
    watch: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let report = snapshot(&settings, project)?;
        let text = if json { serde_json::to_string(&report)? + "\n" } else { render(&report) };
        if !watch {
            out.write_all(text.as_bytes())?;
            return Ok(());
        }
        if text != last {
            if json {
                out.write_all(text.as_bytes())?;
            } else {
                // Clear the screen and draw from the top.
                write!(out, "\x1b[2J\x1b[H{text}")?;
            }
            out.flush()?;
            last = text;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
    }
}

fn snapshot(settings: &Settings, project: Option<&str>) -> anyhow::Result<StatusReport> {
    let manifest = settings.open_manifest()?;
    let mut report = gather(&manifest, project, settings.heartbeat).context("cannot read the manifest")?;
    if let Some(key) = project
        && report.projects.is_empty()
    {
        anyhow::bail!("no project {key:?} on this machine; `companion status` lists them all");
    }
    report.dashboard = dashboard_url(&settings.state_dir);
    report.socket = crate::socket::answering(&settings.state_dir).map(|p| p.display().to_string());
    Ok(report)
}

/// The human table.
pub fn render(report: &StatusReport) -> String {
    let mut s = String::new();
    if report.projects.is_empty() {
        s.push_str(
            "No projects yet: `companion share FOLDER_ID` (owner) or `companion join CODE FOLDER_ID` (invitee).\n",
        );
    }
    for p in &report.projects {
        project(&mut s, p);
    }
    if let Some(url) = &report.dashboard {
        let _ = writeln!(s, "Dashboard: {url}");
    }
    if let Some(path) = &report.socket {
        let _ = writeln!(s, "Status socket: {path}");
    }
    s
}

fn project(s: &mut String, p: &ProjectStatusView) {
    let role = match p.role {
        Role::Owner => "owner",
        Role::Member => "member",
    };
    let _ = write!(s, "{} ({role}, folder {}, event {})", clean(&p.name), clean(&p.folder_id), p.last_seq);
    if p.status != "active" {
        let _ = write!(s, " — {}", p.status.to_uppercase());
    }
    let _ = writeln!(s);
    let mut line = format!("  {} {:>5.1}%", bar(p.percent), p.percent);
    if let Some(rate) = p.rate_bps {
        let _ = write!(line, "  {}/s", bytes(rate as u64));
    }
    if let Some(eta) = p.eta_s {
        let _ = write!(line, "  ETA {}", duration(eta));
    }
    let _ = writeln!(s, "{line}");
    if let Some(e) = &p.folder_error {
        let _ = writeln!(s, "  ✗ Syncthing stopped the folder: {}", clean(e));
    }
    for f in &p.files {
        // Not synced on this machine: no bar, no percent.
        let (bar, percent) = match f.state {
            FileState::IgnoredHere => (" ".repeat(BAR + 2), " ".repeat(6)),
            _ => (bar(f.percent), format!("{:>5.1}%", f.percent)),
        };
        let mut line =
            format!("  {} {bar} {percent} {:>9}  {}", badge(f.state, f.percent), bytes(f.size), clean(&f.path));
        if let Some(eta) = f.eta_s {
            let _ = write!(line, "  (ETA {})", duration(eta));
        }
        if let Some(e) = &f.error {
            let _ = write!(line, "\n      {}", clean(e));
        }
        if let Some(related) = relation(&f.conflict.copies, f.conflict.copy_of.as_deref()) {
            let _ = write!(line, "\n      {related}");
        }
        let _ = writeln!(s, "{line}");
    }
    for m in &p.members {
        let _ = writeln!(s, "  member {}: {} {:>5.1}%  ({})", clean(&m.name), bar(m.percent), m.percent, freshness(m));
        for f in &m.files {
            let mut line = format!(
                "    {} {:>5.1}%  {}  (reported {})",
                badge(f.state, f.percent),
                f.percent,
                clean(&f.path),
                f.reported_at
            );
            if let Some(e) = &f.error {
                let _ = write!(line, "\n        {}", clean(e));
            }
            if let Some(v) = &f.conflict_version {
                let _ = write!(line, "\n        {} {}", clean(&m.name), clean(&v.says));
            }
            let _ = writeln!(s, "{line}");
        }
    }
    s.push('\n');
}

/// A file's link to its conflict family, in words, if it has one.
fn relation(copies: &[String], copy_of: Option<&str>) -> Option<String> {
    if let Some(original) = copy_of {
        return Some(format!("conflict copy of {}", clean(original)));
    }
    let first = copies.first()?;
    let more = match copies.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Some(format!("conflicting copy: {}{more}", clean(first)))
}

/// "online, as of 12 s ago", "offline, as of 3 min ago", or "offline, never heard from".
fn freshness(m: &MemberView) -> String {
    let presence = if m.online { "online" } else { "offline" };
    match m.as_of_age_s {
        Some(age) => format!("{presence}, as of {} ago", crate::presence::age_words(Duration::from_secs(age))),
        None => format!("{presence}, never heard from"),
    }
}

/// The badge of a state (docs/badges.md#the-states).
pub fn badge(state: FileState, percent: f64) -> String {
    match state {
        FileState::Synced => "✓ synced ".into(),
        FileState::Syncing => format!("⟳ {:>3.0}%   ", percent.floor()),
        FileState::Pending => "… pending".into(),
        FileState::Conflict => "⚠ conflict".into(),
        FileState::Error => "✗ error  ".into(),
        FileState::Deleted => "– deleted".into(),
        FileState::IgnoredHere => "○ ignored here".into(),
    }
}

fn bar(percent: f64) -> String {
    let filled = ((percent.clamp(0.0, 100.0) / 100.0) * BAR as f64).round() as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR - filled))
}

pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

pub(crate) fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// File names and messages are untrusted: control characters (terminal
/// escapes) and invisible format characters (bidi overrides such as U+202E
/// that make `exe.txt` read as `txt.exe`, zero-width joiners, BOMs) are
/// shown escaped, never sent to the terminal.
pub fn clean(text: &str) -> String {
    text.chars().map(|c| if needs_escape(c) { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Controls (Cc), format characters (Cf) and the line and paragraph
/// separators (Zl, Zp), which all change how the text around them is shown.
fn needs_escape(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format | GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(bar(50.0), format!("[{}{}]", "#".repeat(10), ".".repeat(10)));
        assert_eq!(bytes(104_857_600), "100.0 MiB");
        assert_eq!(duration(65), "1m05s");
        assert_eq!(clean("a\x1b[31mb\n"), "a\\u{1b}[31mb\\n");
        // Bidi overrides, marks and isolates, zero-width characters, BOM,
        // line separators: escaped; ordinary letters of any script are not.
        assert_eq!(clean("invoice\u{202E}fdp.exe"), "invoice\\u{202e}fdp.exe");
        for c in
            ['\u{200E}', '\u{200F}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{FEFF}', '\u{200B}', '\u{2028}']
        {
            assert!(!clean(&format!("a{c}b")).contains(c), "U+{:04X}", c as u32);
        }
        assert_eq!(clean("Grüße/写真/שלום.txt"), "Grüße/写真/שלום.txt");
        assert!(badge(FileState::Syncing, 42.7).contains("42%"));
        let copies = ["a.sync-conflict-20261130-164500-ASMRTYP.txt".to_owned(), "b".to_owned()];
        assert_eq!(relation(&copies[..1], None).unwrap(), format!("conflicting copy: {}", copies[0]));
        assert_eq!(relation(&copies, None).unwrap(), format!("conflicting copy: {} (and 1 more)", copies[0]));
        assert_eq!(relation(&[], Some("a\u{202e}.txt")).unwrap(), "conflict copy of a\\u{202e}.txt");
        assert_eq!(relation(&[], None), None);
    }
}
