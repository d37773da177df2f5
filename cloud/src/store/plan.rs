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

/// A create or update of one path, as stored in `remote_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upsert<'a> {
    pub path: &'a str,
    pub hash: &'a str,
    pub size: i64,
    pub mtime: i64,
    pub seq: i64,
}

/// A delete of one path, with the seq of the event that deleted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delete<'a> {
    pub path: &'a str,
    pub seq: i64,
}

/// Writes to `remote_files` that touch each path at most once.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Round<'a> {
    pub upserts: Vec<Upsert<'a>>,
    pub deletes: Vec<Delete<'a>>,
}

#[derive(Debug, Clone)]
enum Step<'a> {
    Upsert(Upsert<'a>),
    Delete(Delete<'a>),
}

impl Step<'_> {
    /// Whether `next` leaves the file as this step did, so only `next` needs applying.
    fn absorbed_by(&self, next: &Step<'_>) -> bool {
        match (self, next) {
            (Step::Upsert(a), Step::Upsert(b)) => a.hash == b.hash,
            (Step::Delete(_), Step::Delete(_)) => true,
            _ => false,
        }
    }
}

/// The upsert fields of a create/update. The API validates changes before they reach
/// the store; one that still lacks a field is a caller bug, reported instead of stored.
fn upsert_of<'a>(change: &'a Change, seq: i64) -> StoreResult<Upsert<'a>> {
    match (change.hash.as_deref(), change.size, change.mtime) {
        (Some(hash), Some(size), Some(mtime)) => {
            Ok(Upsert { path: &change.path, hash, size: size_to_db(size), mtime, seq })
        }
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
    let mut steps: HashMap<&str, Vec<Step<'_>>> = HashMap::new();
    for (seq, change) in (first_seq..).zip(changes) {
        let step = match change.op {
            Op::Create | Op::Update => Step::Upsert(upsert_of(change, seq)?),
            Op::Delete => Step::Delete(Delete { path: &change.path, seq }),
        };
        let path_steps = steps.entry(&change.path).or_insert_with(|| {
            order.push(&change.path);
            Vec::new()
        });
        match path_steps.last_mut() {
            Some(last) if last.absorbed_by(&step) => *last = step,
            _ => path_steps.push(step),
        }
    }
    let depth = steps.values().map(Vec::len).max().unwrap_or(0);
    let mut rounds: Vec<Round<'_>> = (0..depth).map(|_| Round::default()).collect();
    for path in order {
        for (round, step) in rounds.iter_mut().zip(steps.remove(path).unwrap_or_default()) {
            match step {
                Step::Upsert(u) => round.upserts.push(u),
                Step::Delete(d) => round.deletes.push(d),
            }
        }
    }
    // Byte order, the order of the primary key: rows land next to each other, which
    // fills SQLite's b-tree pages instead of splitting them, and every writer locks
    // PostgreSQL rows in the same order.
    for round in &mut rounds {
        round.upserts.sort_unstable_by(|a, b| a.path.cmp(b.path));
        round.deletes.sort_unstable_by(|a, b| a.path.cmp(b.path));
    }
    Ok(rounds)
}

/// The distinct paths the rounds create or update (those that may be new rows).
pub(crate) fn upserted_paths<'a>(rounds: &[Round<'a>]) -> Vec<&'a str> {
    let mut paths: Vec<&str> = rounds.iter().flat_map(|r| r.upserts.iter().map(|u| u.path)).collect();
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
        let paths: Vec<_> = rounds[0].upserts.iter().map(|u| (u.path, u.seq)).collect();
        assert_eq!(paths, vec![("a", 10), ("c", 12)]);
        let unsorted = [up("z", H1, 1), up("b/x", H1, 1), up("a", H1, 1)];
        let sorted = file_rounds(&unsorted, 1).unwrap();
        assert_eq!(sorted[0].upserts.iter().map(|u| u.path).collect::<Vec<_>>(), vec!["a", "b/x", "z"]);
        assert_eq!(rounds[0].deletes, vec![Delete { path: "b", seq: 11 }]);
    }

    #[test]
    fn same_content_collapses_to_the_last_change() {
        let changes = [up("a", H1, 1), up("a", H1, 2), Change::delete("b"), Change::delete("b")];
        let rounds = file_rounds(&changes, 1).unwrap();
        assert_eq!(rounds.len(), 1);
        assert_eq!(rounds[0].upserts[0].mtime, 2);
        assert_eq!(rounds[0].upserts[0].seq, 2);
        assert_eq!(rounds[0].deletes, vec![Delete { path: "b", seq: 4 }]);
    }

    #[test]
    fn content_changes_of_one_path_keep_their_order() {
        let changes = [up("a", H1, 1), up("a", H2, 2), Change::delete("a"), up("b", H1, 4), up("a", H2, 5)];
        let rounds = file_rounds(&changes, 1).unwrap();
        assert_eq!(rounds.len(), 4);
        assert_eq!(rounds[0].upserts.iter().map(|u| u.path).collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(rounds[1].upserts[0].hash, H2);
        assert_eq!(rounds[2].deletes, vec![Delete { path: "a", seq: 3 }]);
        assert_eq!(rounds[3].upserts[0].seq, 5);
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
