//! Which paths of a Syncthing folder Syncthing itself skips, so we skip them too.
//!
//! Three rules, in Syncthing's order (lib/ignore, lib/fs):
//! - temporary files: a base name starting with `.syncthing.` or `~syncthing~`
//!   (Syncthing's pull temp files, on Unix and on Windows);
//! - internal files: `.stfolder`, `.stignore`, `.stversions` at the folder
//!   root and everything below them (`.stignore` is local, never synced);
//! - the folder's ignore patterns, with `.stignore` semantics.
//!
//! Patterns come from `GET /rest/db/ignores` (`expanded`, so `#include` is
//! already resolved; re-expanding an expanded line is harmless). Each line is
//! expanded the way Syncthing does (`foo` → `foo`, `**/foo`, `foo/**`,
//! `**/foo/**`; a leading `/` anchors), and the first matching line decides.
//! Globs are compiled with `globset` into one set per case mode.
//!
//! Known difference: globset matches bytes, so `?` matches one byte where
//! Syncthing matches one character (only matters next to non-ASCII names).

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Most in-component `**` one line may hold (each doubles the globs we compile).
const MAX_INNER_DOUBLE_STARS: usize = 4;

/// A pattern line we cannot use. Names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("ignore pattern {line:?} has no pattern after its prefixes")]
    MissingPattern { line: String },
    #[error("ignore pattern {line:?} is not a valid glob: {detail}")]
    BadGlob { line: String, detail: String },
    #[error("ignore line {line:?} is an #include: pass Syncthing's `expanded` patterns instead of the raw lines")]
    Include { line: String },
    #[error("ignore pattern {line:?} has more than {MAX_INNER_DOUBLE_STARS} '**' inside names")]
    TooComplex { line: String },
}

/// What the patterns say about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No pattern matched: the path syncs.
    NotMatched,
    /// A `!` pattern matched first: the path syncs.
    Included,
    /// An ignore pattern matched first. `deletable` is its `(?d)` flag.
    Ignored { deletable: bool },
}

impl Verdict {
    pub fn is_ignored(self) -> bool {
        matches!(self, Verdict::Ignored { .. })
    }
}

/// One parsed line, in file order.
#[derive(Debug, Clone)]
struct Line {
    ignore: bool,
    deletable: bool,
}

/// A folder's ignore rules, ready to match relative `/`-separated paths.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    lines: Vec<Line>,
    /// Globs matched against the path as is; `exact_owner[i]` is the line of glob i.
    exact: GlobSet,
    exact_owner: Vec<usize>,
    /// `(?i)` globs, lowercased, matched against the lowercased path.
    folded: GlobSet,
    folded_owner: Vec<usize>,
}

impl Default for IgnoreRules {
    fn default() -> Self {
        IgnoreRules::new::<&str>(&[]).expect("no patterns always compile")
    }
}

impl IgnoreRules {
    /// Compiles `.stignore` lines (Syncthing's `expanded` list). Blank lines
    /// and `//` comments are skipped.
    pub fn new<S: AsRef<str>>(lines: &[S]) -> Result<Self, IgnoreError> {
        // Syncthing folds case for every pattern on macOS and Windows.
        let fold_all = cfg!(any(target_os = "macos", windows));
        let mut parsed = Vec::new();
        let (mut exact, mut exact_owner) = (GlobSetBuilder::new(), Vec::new());
        let (mut folded, mut folded_owner) = (GlobSetBuilder::new(), Vec::new());
        for raw in lines {
            let line = raw.as_ref().trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            if line.starts_with("#include") {
                return Err(IgnoreError::Include { line: line.to_owned() });
            }
            let (flags, pattern) = Prefixes::strip(line);
            if pattern.is_empty() {
                return Err(IgnoreError::MissingPattern { line: line.to_owned() });
            }
            let fold = flags.fold_case || fold_all;
            let pattern = if fold { pattern.to_lowercase() } else { pattern.to_owned() };
            let owner = parsed.len();
            for glob in expand(&pattern) {
                for variant in inner_double_star_variants(line, &glob)? {
                    let compiled = compile(line, &variant)?;
                    if fold {
                        folded.add(compiled);
                        folded_owner.push(owner);
                    } else {
                        exact.add(compiled);
                        exact_owner.push(owner);
                    }
                }
            }
            parsed.push(Line { ignore: !flags.negated, deletable: flags.deletable });
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| IgnoreError::BadGlob { line: "(pattern set)".into(), detail: e.to_string() })
        };
        Ok(IgnoreRules { lines: parsed, exact: build(exact)?, exact_owner, folded: build(folded)?, folded_owner })
    }

    /// True when there are no pattern lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// True when some line is a `!` pattern: an ignored directory may then
    /// hold included paths, so a walker must not skip its subtree.
    pub fn has_negations(&self) -> bool {
        self.lines.iter().any(|l| !l.ignore)
    }

    /// What the patterns alone say about `path` (relative, `/`-separated).
    pub fn verdict(&self, path: &str) -> Verdict {
        let first_exact = self.exact.matches(path).into_iter().map(|g| self.exact_owner[g]).min();
        let first_folded = if self.folded_owner.is_empty() {
            None
        } else {
            self.folded.matches(path.to_lowercase()).into_iter().map(|g| self.folded_owner[g]).min()
        };
        let first = match (first_exact, first_folded) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Verdict::NotMatched,
        };
        let line = &self.lines[first];
        if line.ignore { Verdict::Ignored { deletable: line.deletable } } else { Verdict::Included }
    }

    /// Whether Syncthing skips `path`: temporary, internal or ignored.
    pub fn should_skip(&self, path: &str) -> bool {
        is_temporary(path) || is_internal(path) || self.verdict(path).is_ignored()
    }
}

/// The `!`, `(?i)`, `(?d)`, `(?r)` prefixes, each allowed once, in any order.
#[derive(Debug, Default)]
struct Prefixes {
    negated: bool,
    fold_case: bool,
    deletable: bool,
}

impl Prefixes {
    fn strip(mut line: &str) -> (Prefixes, &str) {
        let mut p = Prefixes::default();
        let mut seen_remove = false;
        loop {
            if !p.negated && line.starts_with('!') {
                p.negated = true;
                line = &line[1..];
            } else if !p.fold_case && line.starts_with("(?i)") {
                p.fold_case = true;
                line = &line[4..];
            } else if !p.deletable && line.starts_with("(?d)") {
                p.deletable = true;
                line = &line[4..];
            } else if !seen_remove && line.starts_with("(?r)") {
                // Newer Syncthing: remove ignored files locally; still ignored.
                seen_remove = true;
                line = &line[4..];
            } else {
                return (p, line);
            }
        }
    }
}

/// Syncthing's expansion of one pattern into the globs it stands for.
fn expand(pattern: &str) -> Vec<String> {
    // A line names a path and, through `/**`, everything below it; a line
    // ending in `/` names only what is below.
    let bases: Vec<String> = if pattern.ends_with("/**") {
        vec![pattern.to_owned()]
    } else if pattern.ends_with('/') {
        vec![format!("{pattern}**")]
    } else {
        vec![pattern.to_owned(), format!("{pattern}/**")]
    };
    let mut globs = Vec::new();
    for base in bases {
        if let Some(rooted) = base.strip_prefix('/') {
            globs.push(rooted.to_owned());
        } else if let Some(rest) = base.strip_prefix("**/") {
            globs.push(base.clone());
            globs.push(rest.to_owned());
        } else {
            globs.push(format!("**/{base}"));
            globs.push(base);
        }
    }
    globs
}

/// Syncthing's `**` crosses `/` wherever it stands (`te**st` matches
/// `tele/sub/rest`); globset's does only as a whole path component. Each
/// in-component `**` becomes two globs: `*` (stays in one component) and
/// `*/**/*` (crosses one or more `/`).
fn inner_double_star_variants(line: &str, glob: &str) -> Result<Vec<String>, IgnoreError> {
    let bytes = glob.as_bytes();
    let mut inner = Vec::new();
    let (mut i, mut in_class) = (0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1, // skip the escaped byte
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'*' if !in_class && bytes.get(i + 1) == Some(&b'*') => {
                let starts = i == 0 || bytes[i - 1] == b'/';
                let ends = i + 2 == bytes.len() || bytes[i + 2] == b'/';
                if !(starts && ends) {
                    inner.push(i);
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    if inner.len() > MAX_INNER_DOUBLE_STARS {
        return Err(IgnoreError::TooComplex { line: line.to_owned() });
    }
    let mut variants = Vec::with_capacity(1 << inner.len());
    for choice in 0..(1usize << inner.len()) {
        let mut out = String::with_capacity(glob.len() + 8);
        let mut last = 0;
        for (bit, &at) in inner.iter().enumerate() {
            out.push_str(&glob[last..at]);
            out.push_str(if choice & (1 << bit) == 0 { "*" } else { "*/**/*" });
            last = at + 2;
        }
        out.push_str(&glob[last..]);
        variants.push(out);
    }
    Ok(variants)
}

fn compile(line: &str, glob: &str) -> Result<Glob, IgnoreError> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| IgnoreError::BadGlob { line: line.to_owned(), detail: e.kind().to_string() })
}

/// Syncthing's pull temp files: `.syncthing.NAME.tmp` (Unix) and
/// `~syncthing~NAME.tmp` (Windows); Syncthing checks the prefix only.
pub fn is_temporary(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.starts_with(".syncthing.") || base.starts_with("~syncthing~")
}

/// `.stfolder`, `.stignore`, `.stversions` at the folder root, and below them.
pub fn is_internal(path: &str) -> bool {
    [".stfolder", ".stignore", ".stversions"]
        .iter()
        .any(|internal| path.strip_prefix(internal).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// When `path` is a Syncthing conflict copy
/// (`dir/name.sync-conflict-20261129-051504-ASMRTYP.txt`), the path of the
/// file it is a copy of (`dir/name.txt`).
pub fn is_conflict_copy(path: &str) -> Option<String> {
    const MARK: &str = ".sync-conflict-";
    let (dir, base) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    };
    let at = base.find(MARK)?;
    let (stem, tail) = (&base[..at], &base[at + MARK.len()..]);
    // tail = YYYYMMDD-HHMMSS[-DEVICE][.ext]; DEVICE is a 7-char short ID
    // (Syncthing before v0.14.x left it out).
    let b = tail.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if !(digits(0..8) && b.get(8) == Some(&b'-') && digits(9..15)) {
        return None;
    }
    let short_id = b.get(16..23).is_some_and(|id| id.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    let ext = if b.get(15) == Some(&b'-') && short_id { &tail[23..] } else { &tail[15..] };
    if !(ext.is_empty() || ext.starts_with('.')) {
        return None;
    }
    let original = format!("{dir}{stem}{ext}");
    if stem.is_empty() && ext.is_empty() { None } else { Some(original) }
}
