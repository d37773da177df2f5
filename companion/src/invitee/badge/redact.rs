//! Badge messages travel to the owner, so they name files by their
//! folder-relative path only: Syncthing's error texts (and any other words
//! a badge carries) often hold this machine's absolute paths
//! (`open /home/bob/film/a.mp4: operation not permitted`), which say where
//! the invitee keeps things and who they are. [`relative_words`] rewrites
//! paths inside the folder as relative ones and hides any other absolute
//! path.

use std::path::Path;

/// What an absolute path outside the folder is replaced by.
pub const HIDDEN_PATH: &str = "(a local path)";

/// `text` with every absolute path rewritten: beneath `root` (as given or
/// canonical) relative to it, the root itself as `.`, anything else hidden.
pub fn relative_words(root: &Path, text: &str) -> String {
    let roots: Vec<String> = [Some(root.to_path_buf()), std::fs::canonicalize(root).ok()]
        .into_iter()
        .flatten()
        .filter_map(|r| r.to_str().map(|s| s.trim_end_matches('/').to_owned()))
        .filter(|r| !r.is_empty())
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = next_path_start(rest) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ':' | ',' | ';' | ')'))
            .unwrap_or(tail.len());
        out.push_str(&rewrite(&roots, &tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Where the next absolute path starts: a `/` at the start or after a
/// space, quote, `(` or `=`.
fn next_path_start(text: &str) -> Option<usize> {
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let boundary = prev.is_none_or(|p| p.is_whitespace() || matches!(p, '"' | '\'' | '(' | '=' | '['));
        if c == '/' && boundary {
            return Some(i);
        }
        prev = Some(c);
    }
    None
}

fn rewrite(roots: &[String], path: &str) -> String {
    for root in roots {
        if path == root {
            return ".".into();
        }
        if let Some(rel) = path.strip_prefix(root.as_str()).and_then(|r| r.strip_prefix('/')) {
            return rel.to_owned();
        }
    }
    // A lone `/` or a one-level name (`/s`) is more likely prose than a path.
    if path.matches('/').count() >= 2 { HIDDEN_PATH.to_owned() } else { path.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_become_relative_and_others_hidden() {
        let root = Path::new("/home/bob/film");
        let say = |t: &str| relative_words(root, t);
        assert_eq!(
            say("open /home/bob/film/shots/a.mp4: operation not permitted"),
            "open shots/a.mp4: operation not permitted"
        );
        assert_eq!(
            say("rename /home/bob/film/.syncthing.a.tmp /home/bob/film/a: denied"),
            "rename .syncthing.a.tmp a: denied"
        );
        assert_eq!(say("folder path missing: \"/home/bob/film\""), "folder path missing: \".\"");
        assert_eq!(say("stat /home/bob/.ssh/id_rsa: no such file"), format!("stat {HIDDEN_PATH}: no such file"));
        assert_eq!(say("insufficient space (1 %) / 2"), "insufficient space (1 %) / 2");
        assert_eq!(say("no path here"), "no path here");
        // A sibling whose name starts like the root is not inside it.
        assert_eq!(say("open /home/bob/filmstrip/x"), format!("open {HIDDEN_PATH}"));
    }
}
