//! Pages of a project's progress: which rows a read asks for
//! ([`ProgressQuery`]), the cursor that says where the next page starts, and
//! grouping a page's rows per member.
//!
//! Rows are read in (member name, path) order, both unique together, so a
//! cursor is simply the last row's pair; it is handed out hex-encoded, opaque
//! to clients. Names and paths hold no NUL, which separates the two.

use cloud_protocol::{MemberFiles, ProgressReport};
use uuid::Uuid;

use super::StoreResult;
use super::rows::ProgressRow;

/// Which progress rows to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressQuery {
    /// Only this member's rows (a member reading their own).
    pub user: Option<Uuid>,
    /// Rows after this one.
    pub after: Option<ProgressCursor>,
    /// At most this many rows.
    pub limit: u32,
}

impl ProgressQuery {
    /// Every row, in one page: for callers that need them all and know the
    /// count is bounded (one member's rows are bounded by the project's paths).
    pub fn all() -> Self {
        ProgressQuery { user: None, after: None, limit: u32::MAX }
    }

    /// Every row of one member.
    pub fn of(user: Uuid) -> Self {
        ProgressQuery { user: Some(user), ..Self::all() }
    }
}

/// Where a page ended: the last row's member name and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressCursor {
    pub name: String,
    pub path: String,
}

impl ProgressCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        hex::encode(format!("{}\0{}", self.name, self.path))
    }

    /// `None` for text that is not a cursor this server handed out.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (name, path) = text.split_once('\0')?;
        Some(ProgressCursor { name: name.to_owned(), path: path.to_owned() })
    }
}

/// One page from rows read with `LIMIT limit + 1` (in name, path order): the
/// extra row only tells that more follow.
pub(crate) fn page(mut rows: Vec<ProgressRow>, limit: u32) -> StoreResult<ProgressReport> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor =
        more.then(|| rows.last().map(|r| ProgressCursor { name: r.name.clone(), path: r.path.clone() }.encode()));
    let mut members: Vec<MemberFiles> = Vec::new();
    for row in rows {
        let (user_id, name, file) = row.into_reported()?;
        match members.last_mut() {
            Some(last) if last.user_id == user_id => last.files.push(file),
            _ => members.push(MemberFiles { user_id, name, files: vec![file] }),
        }
    }
    Ok(ProgressReport { members, next_cursor: next_cursor.flatten() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = ProgressCursor { name: "bob".into(), path: "a/ü b.txt".into() };
        assert_eq!(ProgressCursor::decode(&c.encode()), Some(c));
        for junk in ["", "zz", "6162", &hex::encode([0xff, 0, 0x61])] {
            assert_eq!(ProgressCursor::decode(junk), None, "{junk}");
        }
    }
}
