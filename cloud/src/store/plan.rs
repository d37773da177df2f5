//! Turns a batch of changes into the writes `append_batch` makes: the events (one per
//! change, dense seqs) and the `remote_files` updates, grouped into rounds.
//!
//! A multi-row upsert may touch each row only once (PostgreSQL refuses otherwise), so
//! the changes of one path are collapsed: consecutive changes that leave the same
//! content (same hash, or delete after delete) keep only the last one. What remains
//! per path is applied in rounds, round `r` holding the `r`-th step of every path, so a
//! batch that changes a file's content twice still bumps its version twice and a
//! create followed by a delete of a new path leaves a deleted row behind. Nearly every
//! batch names each path once and needs a single round.

use std::collections::HashMap;

use cloud_protocol::{Change, Event, Op};

use super::{StoreError, StoreResult, rfc3339, rows::size_to_db};

/// One path's write to `remote_files`, with the seq of the change that made it: the
/// new content (hash, size, mtime), or `None` for a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write<'a> {
    pub path: &'a str,
    pub seq: i64,
    pub content: Option<(&'a str, i64, i64)>,
}

/// Writes to `remote_files` that touch each path at most once, in byte order.
pub(crate) type Round<'a> = Vec<Write<'a>>;

/// The content a change leaves. The API validates changes before they reach the
/// store; a create/update that still lacks a field is a caller bug, reported instead
/// of stored.
fn content_of(change: &Change) -> StoreResult<Option<(&str, i64, i64)>> {
    match (change.op, change.hash.as_deref(), change.size, change.mtime) {
        (Op::Delete, ..) => Ok(None),
        (_, Some(hash), Some(size), Some(mtime)) => Ok(Some((hash, size_to_db(size), mtime))),
        _ => Err(StoreError::Corrupt(format!(
            "unvalidated change: {} of {:?} lacks hash, size or mtime",
            change.op.as_str(),
            change.path
        ))),
    }
}

/// The rounds of `remote_files` writes for `changes`, the first of which gets `first_seq`.
pub(crate) fn file_rounds(changes: &[Change], first_seq: i64) -> StoreResult<Vec<Round<'_>>> {
    let mut order: Vec<&str> = Vec::new();
    let mut steps: HashMap<&str, Vec<Write<'_>>> = HashMap::new();
    for (seq, change) in (first_seq..).zip(changes) {
        let write = Write { path: &change.path, seq, content: content_of(change)? };
        let path_steps = steps.entry(&change.path).or_insert_with(|| {
            order.push(&change.path);
            Vec::new()
        });
        match path_steps.last_mut() {
            // The same content again (same hash, or delete after delete): only the last counts.
            Some(last) if last.content.map(|c| c.0) == write.content.map(|c| c.0) => *last = write,
            _ => path_steps.push(write),
        }
    }
    let depth = steps.values().map(Vec::len).max().unwrap_or(0);
    let mut rounds: Vec<Round<'_>> = vec![Vec::new(); depth];
    for path in order {
        for (round, write) in rounds.iter_mut().zip(steps.remove(path).unwrap_or_default()) {
            round.push(write);
        }
    }
    // Byte order, the order of the primary key: rows land next to each other, which
    // fills SQLite's b-tree pages instead of splitting them, and every writer locks
    // PostgreSQL rows in the same order.
    for round in &mut rounds {
        round.sort_unstable_by(|a, b| a.path.cmp(b.path));
    }
    Ok(rounds)
}

/// The distinct paths the rounds create or update (those that may be new rows).
pub(crate) fn upserted_paths<'a>(rounds: &[Round<'a>]) -> Vec<&'a str> {
    let mut paths: Vec<&str> = rounds.iter().flatten().filter(|w| w.content.is_some()).map(|w| w.path).collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// Whether `new` more paths fit a project holding `count` under `max`; the
/// refusal names the total it would reach.
pub(crate) fn check_quota(count: i64, new: usize, max: u64) -> StoreResult<()> {
    let would = u64::try_from(count).unwrap_or(0).saturating_add(new as u64);
    if would > max { Err(StoreError::QuotaExceeded { would, max }) } else { Ok(()) }
}

/// The events of a batch exactly as they are stored: seq, change and creation time.
pub(crate) fn events_of(changes: &[Change], first_seq: i64, now_ms: i64) -> Vec<Event> {
    let created_at = rfc3339(now_ms);
    (first_seq..)
        .zip(changes)
        .map(|(seq, change)| Event { seq, change: change.clone(), created_at: created_at.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "blake3:1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "blake3:2222222222222222222222222222222222222222222222222222222222222222";

    fn up(path: &str, hash: &str, mtime: i64) -> Change {
        Change::upsert(Op::Update, path, hash, 1, mtime)
    }

    #[test]
    fn distinct_paths_need_one_round() {
        let changes = [up("a", H1, 1), Change::delete("b"), up("c", H2, 3)];
        let rounds = file_rounds(&changes, 10).unwrap();
        assert_eq!(rounds.len(), 1);
        let writes: Vec<_> = rounds[0].iter().map(|w| (w.path, w.seq, w.content.is_some())).collect();
        assert_eq!(writes, vec![("a", 10, true), ("b", 11, false), ("c", 12, true)]);
        let unsorted = [up("z", H1, 1), up("b/x", H1, 1), up("a", H1, 1)];
        let sorted = file_rounds(&unsorted, 1).unwrap();
        assert_eq!(sorted[0].iter().map(|w| w.path).collect::<Vec<_>>(), vec!["a", "b/x", "z"]);
    }

    #[test]
    fn same_content_collapses_to_the_last_change() {
        let changes = [up("a", H1, 1), up("a", H1, 2), Change::delete("b"), Change::delete("b")];
        let a = Write { path: "a", seq: 2, content: Some((H1, 1, 2)) };
        assert_eq!(file_rounds(&changes, 1).unwrap(), vec![vec![a, Write { path: "b", seq: 4, content: None }]]);
    }

    #[test]
    fn content_changes_of_one_path_keep_their_order() {
        let changes = [up("a", H1, 1), up("a", H2, 2), Change::delete("a"), up("b", H1, 4), up("a", H2, 5)];
        let rounds = file_rounds(&changes, 1).unwrap();
        let seqs: Vec<Vec<_>> = rounds.iter().map(|r| r.iter().map(|w| (w.path, w.seq)).collect()).collect();
        assert_eq!(seqs, vec![vec![("a", 1), ("b", 4)], vec![("a", 2)], vec![("a", 3)], vec![("a", 5)]]);
        assert_eq!((rounds[1][0].content.map(|c| c.0), rounds[2][0].content), (Some(H2), None));
    }

    #[test]
    fn an_incomplete_upsert_is_refused_not_stored() {
        let mut bad = up("a", H1, 1);
        bad.size = None;
        assert!(matches!(file_rounds(&[bad], 1), Err(StoreError::Corrupt(_))));
    }

    /// The rest of the quota (distinct new paths, the refusal's figures) is told by
    /// the store story's `path_quota` on both backends.
    #[test]
    fn quota_saturates_never_wraps() {
        assert!(check_quota(i64::MAX, usize::MAX, u64::MAX).is_ok());
    }
}
