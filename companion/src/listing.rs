//! Badges by place on disk: which project a path is in ([`locate`]), the
//! files under a path, and a directory's entries with their badges
//! aggregated ([`entries`]), read from the manifest the daemon keeps
//! ([`list`], [`project_files`]). `companion ls`, `companion wait` and the
//! status socket use it.
//!
//! A directory's badge is its worst file's state (see [`severity`]), its
//! percent is byte-weighted over its files like a project's, and its ETA is
//! the longest ETA of its files (they arrive side by side). Deleted files are
//! not entries; files ignored here show but count in no percent.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};
use cloud_protocol::FileState;
use serde::Serialize;
use uuid::Uuid;

use crate::config::Settings;
use crate::manifest::{Manifest, ManifestError, ProjectRow};
use crate::ui::status::{FileView, ProjectStatusView, gather, weighted_percent};

/// Why a path has no badges.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{} is in no shared folder on this machine (shared folders: {folders})", path.display())]
    Outside { path: PathBuf, folders: String },
    #[error("{} is not valid UTF-8; shared paths are", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("cannot tell where {} is: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// A path inside a project's folder.
#[derive(Debug, Clone)]
pub struct Located {
    pub project: ProjectRow,
    /// The folder on this machine, resolved (`~` expanded, symlinks followed).
    pub root: PathBuf,
    /// Relative to the folder, `/`-separated, as in the manifest; "" is the folder itself.
    pub rel: String,
}

/// The project whose folder holds `path` (relative paths start at `cwd`).
/// The path need not exist yet (a file still to arrive): its longest
/// existing ancestor is resolved, symlinks and all, and the rest appended.
pub fn locate(manifest: &Manifest, path: &Path, cwd: &Path) -> Result<Located, LocateError> {
    let target = resolve(&cwd.join(path))?;
    let projects = manifest.projects()?;
    // The deepest folder wins (a folder shared inside another one).
    let mut found: Vec<(PathBuf, &ProjectRow)> = projects
        .iter()
        .map(|p| (folder_root(&p.folder_path), p))
        .filter(|(root, _)| target.starts_with(root))
        .collect();
    found.sort_by_key(|(root, _)| Reverse(root.components().count()));
    let Some((root, project)) = found.into_iter().next() else {
        let folders: Vec<String> = projects.iter().map(|p| p.folder_path.display().to_string()).collect();
        let folders = if folders.is_empty() { "none yet".to_owned() } else { folders.join(", ") };
        return Err(LocateError::Outside { path: target, folders });
    };
    let mut parts = Vec::new();
    for part in target.strip_prefix(&root).unwrap_or(Path::new("")).components() {
        parts.push(part.as_os_str().to_str().ok_or_else(|| LocateError::NotUtf8 { path: target.clone() })?);
    }
    Ok(Located { project: project.clone(), rel: parts.join("/"), root })
}

/// A project's folder as a real path: Syncthing keeps `~/Sync` as written.
fn folder_root(path: &Path) -> PathBuf {
    let path = crate::base_dirs::expand_tilde(&path.to_string_lossy());
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// `path` made absolute without `.` and `..`, through its existing ancestors' symlinks.
fn resolve(path: &Path) -> Result<PathBuf, LocateError> {
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let mut missing = Vec::new();
    let mut existing = clean.as_path();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(mut real) => {
                real.extend(missing.iter().rev());
                return Ok(real);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    missing.push(name.to_owned());
                    existing = parent;
                }
                _ => return Err(LocateError::Io { path: clean.clone(), source: e }),
            },
            Err(e) => return Err(LocateError::Io { path: clean.clone(), source: e }),
        }
    }
}

/// Whether `file` is `rel` or under it ("" holds everything).
pub fn is_under(file: &str, rel: &str) -> bool {
    rel.is_empty() || file == rel || file.strip_prefix(rel).is_some_and(|rest| rest.starts_with('/'))
}

/// How far from ✓ a state is, worst highest: a directory shows its worst
/// file's state. Something to fix beats something to wait for, and a file
/// not started beats one arriving (the directory is further from done).
pub fn severity(state: FileState) -> u8 {
    match state {
        FileState::Error => 6,
        FileState::Conflict => 5,
        FileState::Pending => 4,
        FileState::Syncing => 3,
        FileState::Synced => 2,
        FileState::IgnoredHere => 1,
        FileState::Deleted => 0,
    }
}

/// A file or a directory, with its badge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its name in the listed directory.
    pub name: String,
    /// Relative to the shared folder.
    pub path: String,
    pub kind: Kind,
    /// Its badge (a directory's is its files' [`aggregate`]); in JSON, beside the name.
    #[serde(flatten)]
    pub badge: Aggregate,
}

/// What an [`Entry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
}

/// The badge of a set of files, as a directory shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    pub state: FileState,
    /// Byte-weighted over its files, 0..=100.
    pub percent: f64,
    /// Bytes, of all its files for a directory.
    pub size: u64,
    /// How many files it stands for (1 for a file).
    pub files: usize,
    pub eta_s: Option<u64>,
    /// A file's error in words, or a directory's first one.
    pub error: Option<String>,
}

/// The badge of a set of files; `None` when empty.
pub fn aggregate<'a>(files: impl IntoIterator<Item = &'a FileView>) -> Option<Aggregate> {
    let files: Vec<&FileView> = files.into_iter().collect();
    let state = files.iter().map(|f| f.state).max_by_key(|s| severity(*s))?;
    let counted: Vec<(u64, f64)> = files.iter().filter(|f| counts(f.state)).map(|f| (f.size, f.percent)).collect();
    let size = files.iter().filter(|f| f.state != FileState::Deleted).map(|f| f.size).sum();
    let eta = files.iter().filter_map(|f| f.eta_s).max();
    let error = files.iter().find_map(|f| f.error.clone());
    Some(Aggregate { state, percent: weighted_percent(&counted), size, files: files.len(), eta_s: eta, error })
}

/// Deleted files and files not synced here have nothing left to arrive.
fn counts(state: FileState) -> bool {
    !matches!(state, FileState::Deleted | FileState::IgnoredHere)
}

/// The entries of directory `dir` ("" = the folder), by name: its files
/// and its subdirectories (aggregated), from the project's `files`.
/// Deleted files are left out; a directory of only deleted files too.
pub fn entries(files: &[FileView], dir: &str) -> Vec<Entry> {
    let mut children: BTreeMap<&str, Vec<&FileView>> = BTreeMap::new();
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    for f in files.iter().filter(|f| f.state != FileState::Deleted) {
        if let Some(rest) = f.path.strip_prefix(&prefix) {
            let name = rest.split('/').next().unwrap_or(rest);
            if !name.is_empty() {
                children.entry(name).or_default().push(f);
            }
        }
    }
    children
        .into_iter()
        .filter_map(|(name, under)| {
            let path = format!("{prefix}{name}");
            let is_file = under.len() == 1 && under[0].path == path;
            if is_file {
                return Some(entry_of_file(under[0], name));
            }
            Some(Entry { name: name.to_owned(), path, kind: Kind::Dir, badge: aggregate(under)? })
        })
        .collect()
}

/// One file as an entry named `name`.
pub fn entry_of_file(f: &FileView, name: &str) -> Entry {
    Entry {
        name: name.to_owned(),
        path: f.path.clone(),
        kind: Kind::File,
        badge: Aggregate {
            state: f.state,
            percent: f.percent,
            size: f.size,
            files: 1,
            eta_s: f.eta_s,
            error: f.error.clone(),
        },
    }
}

/// `ls --json`: where, and the entries.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub project_id: Uuid,
    pub project: String,
    /// The shared folder on this machine.
    pub folder: String,
    /// The listed path, relative to the folder ("" for the folder itself).
    pub path: String,
    pub entries: Vec<Entry>,
}

/// The entries at `path`: a directory's children, or the file itself.
pub fn list(settings: &Settings, path: &Path, cwd: &Path) -> anyhow::Result<Listing> {
    if !settings.manifest_path().exists() {
        bail!(
            "no manifest in {} yet: `companion share` or `companion join` a folder first",
            settings.state_dir.display()
        );
    }
    let manifest = settings.open_manifest()?;
    let Located { project, rel, root } = locate(&manifest, path, cwd)?;
    let view = project_files(settings, &manifest, project.project_id)?;
    let entries = match view.files.iter().find(|f| f.path == rel) {
        Some(file) => vec![entry_of_file(file, rel.rsplit('/').next().unwrap_or(&rel))],
        None => {
            let entries = entries(&view.files, &rel);
            if entries.is_empty() && !rel.is_empty() && !root.join(&rel).is_dir() {
                bail!("the companion knows no file {rel:?} in {} ({})", project.name, root.display());
            }
            entries
        }
    };
    Ok(Listing {
        project_id: project.project_id,
        project: project.name,
        folder: root.display().to_string(),
        path: rel,
        entries,
    })
}

/// The project's files with their badges, as `status` reads them.
pub fn project_files(
    settings: &Settings,
    manifest: &crate::manifest::Manifest,
    project: Uuid,
) -> anyhow::Result<ProjectStatusView> {
    let report =
        gather(manifest, Some(&project.to_string()), settings.heartbeat).context("cannot read the manifest")?;
    report.projects.into_iter().next().with_context(|| format!("project {project} left the manifest"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::status::ConflictLinks;

    fn file(path: &str, state: FileState, percent: f64, size: u64) -> FileView {
        FileView {
            path: path.into(),
            state,
            percent,
            size,
            expected_hash: None,
            local_hash: None,
            error: None,
            eta_s: None,
            conflict: ConflictLinks::default(),
        }
    }

    #[test]
    fn a_directory_shows_its_worst_file_and_a_byte_weighted_percent() {
        let files = vec![
            file("a.txt", FileState::Synced, 100.0, 10),
            file("shots/one.bin", FileState::Synced, 100.0, 300),
            file("shots/two.bin", FileState::Syncing, 50.0, 100),
            file("shots/deep/three.bin", FileState::Pending, 0.0, 100),
            file("shots/gone.bin", FileState::Deleted, 0.0, 0),
            file("old/gone.bin", FileState::Deleted, 0.0, 0),
        ];
        let top = entries(&files, "");
        assert_eq!(top.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["a.txt", "shots"]);
        let shots = &top[1];
        let badge = &shots.badge;
        assert_eq!((shots.kind, badge.state, badge.files, badge.size), (Kind::Dir, FileState::Pending, 3, 500));
        // (300 × 100 + 100 × 50 + 100 × 0) / 500
        assert_eq!(badge.percent, 70.0);
        let inner = entries(&files, "shots");
        assert_eq!(inner.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["deep", "one.bin", "two.bin"]);
        assert!(entries(&files, "a.txt").is_empty());
        assert!(is_under("shots/a", "shots") && !is_under("shotsx/a", "shots") && is_under("x", ""));
    }

    #[test]
    fn locate_finds_the_deepest_folder_through_symlinks_for_paths_still_to_arrive() {
        use cloud_protocol::Role;
        use uuid::Uuid;
        let dir = tempfile::tempdir().unwrap();
        let film = dir.path().join("film");
        let nested = film.join("sub-share");
        std::fs::create_dir_all(nested.join("shots")).unwrap();
        std::os::unix::fs::symlink(&film, dir.path().join("link")).unwrap();
        let mut m = Manifest::open_in(&dir.path().join("state")).unwrap();
        let (outer, inner) = (Uuid::new_v4(), Uuid::new_v4());
        m.insert_project(&ProjectRow::new(outer, "http://c", "film", "f", &film, Role::Member)).unwrap();
        m.insert_project(&ProjectRow::new(inner, "http://c", "sub", "s", &nested, Role::Member)).unwrap();
        let at = |path: &str, cwd: &Path| locate(&m, Path::new(path), cwd).map(|l| (l.project.project_id, l.rel));
        assert_eq!(at("shots/not-yet/a.mov", &nested).unwrap(), (inner, "shots/not-yet/a.mov".into()));
        assert_eq!(at("../x.txt", &nested).unwrap(), (outer, "x.txt".into()));
        assert_eq!(at(".", &dir.path().join("link")).unwrap(), (outer, String::new()));
        assert_eq!(at("link/sub-share/shots/", dir.path()).unwrap(), (inner, "shots".into()));
        let outside = at("elsewhere", dir.path()).unwrap_err().to_string();
        assert!(outside.contains("is in no shared folder") && outside.contains("film"), "{outside}");
    }

    #[test]
    fn errors_beat_conflicts_beat_waiting_beat_done() {
        let mut states = [
            FileState::Synced,
            FileState::Error,
            FileState::Pending,
            FileState::Deleted,
            FileState::Conflict,
            FileState::Syncing,
            FileState::IgnoredHere,
        ];
        states.sort_by_key(|s| Reverse(severity(*s)));
        assert_eq!(states[..3], [FileState::Error, FileState::Conflict, FileState::Pending]);
    }
}
