//! A `Change` (one entry of a delta) and the rules that make it valid.

use serde::{Deserialize, Serialize};

use crate::{MAX_FILE_SIZE, PathError, validate_path};

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// One content change of one file. `hash`, `size` and `mtime` are present for
/// create/update and absent for delete (see [`Change::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub path: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::size")]
    pub size: Option<u64>,
    /// Milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::mtime")]
    pub mtime: Option<i64>,
}

/// `size` and `mtime` as JSON reads them: one kind of number, so `190.0` is
/// the integer 190 (as JSON Schema's `integer`, which the cloud's OpenAPI
/// document promises); a fraction, or a value out of range, is refused.
mod integral {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::Number;

    /// 2^63 and 2^64 as `f64` (exact): the first values out of range.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    const U64_END: f64 = 18_446_744_073_709_551_616.0;

    fn whole(n: &Number, low: f64, end: f64) -> Option<f64> {
        n.as_f64().filter(|f| f.fract() == 0.0 && *f >= low && *f < end)
    }

    pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let Some(n) = Option::<Number>::deserialize(d)? else { return Ok(None) };
        // `as` is exact here: `whole` checked the value is an integer in range.
        let value = n.as_u64().or_else(|| whole(&n, 0.0, U64_END).map(|f| f as u64));
        value.map(Some).ok_or_else(|| D::Error::custom(format!("size must be an integer >= 0, not {n}")))
    }

    pub fn mtime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let Some(n) = Option::<Number>::deserialize(d)? else { return Ok(None) };
        let value = n.as_i64().or_else(|| whole(&n, -I64_END, I64_END).map(|f| f as i64));
        value.map(Some).ok_or_else(|| D::Error::custom(format!("mtime must be a 64-bit integer, not {n}")))
    }
}

impl Change {
    /// A create or update of `path` with its content hash, size and mtime.
    pub fn upsert(op: Op, path: impl Into<String>, hash: impl Into<String>, size: u64, mtime: i64) -> Self {
        Change { path: path.into(), op, hash: Some(hash.into()), size: Some(size), mtime: Some(mtime) }
    }

    /// A delete of `path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Change { path: path.into(), op: Op::Delete, hash: None, size: None, mtime: None }
    }

    /// Checks the path and that the fields match the op.
    pub fn validate(&self) -> Result<(), ChangeError> {
        validate_path(&self.path)?;
        match self.op {
            Op::Create | Op::Update => {
                let hash = self.hash.as_deref().ok_or(ChangeError::Missing("hash"))?;
                validate_hash(hash)?;
                match self.size {
                    None => return Err(ChangeError::Missing("size")),
                    Some(size) if size > MAX_FILE_SIZE => return Err(ChangeError::SizeTooLarge(size)),
                    Some(_) => {}
                }
                match self.mtime {
                    None => return Err(ChangeError::Missing("mtime")),
                    Some(m) if m < 0 => return Err(ChangeError::NegativeMtime),
                    Some(_) => {}
                }
            }
            Op::Delete => {
                for (field, present) in
                    [("hash", self.hash.is_some()), ("size", self.size.is_some()), ("mtime", self.mtime.is_some())]
                {
                    if present {
                        return Err(ChangeError::Unexpected(field));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{0} is required for create and update")]
    Missing(&'static str),
    #[error("{0} must be absent for delete")]
    Unexpected(&'static str),
    #[error("hash must be \"blake3:\" followed by 64 lowercase hex digits")]
    BadHash,
    #[error("mtime must not be negative")]
    NegativeMtime,
    #[error("size {0} is larger than the {MAX_FILE_SIZE} bytes (2^53) a file may have")]
    SizeTooLarge(u64),
}

/// Checks the `blake3:<64 lowercase hex>` form.
pub fn validate_hash(hash: &str) -> Result<(), ChangeError> {
    let hex = hash.strip_prefix("blake3:").ok_or(ChangeError::BadHash)?;
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(ChangeError::BadHash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    /// Found by schemathesis: JSON has one kind of number, and JSON Schema's
    /// `integer` (the OpenAPI document's) includes `190.0`; serde took only `190`.
    #[test]
    fn integers_written_with_a_zero_fraction_are_integers() {
        let json = format!(r#"{{"path": "a", "op": "create", "hash": "{HASH}", "size": 190.0, "mtime": -2.0e3}}"#);
        let change: Change = serde_json::from_str(&json).unwrap();
        assert_eq!((change.size, change.mtime), (Some(190), Some(-2000)));
        for bad in [r#""size": 1.5"#, r#""size": -1.0"#, r#""size": 1e30"#, r#""mtime": 1e300"#, r#""mtime": 0.1"#] {
            let json = format!(r#"{{"path": "a", "op": "create", "hash": "{HASH}", {bad}}}"#);
            let err = serde_json::from_str::<Change>(&json).unwrap_err().to_string();
            assert!(err.contains("integer"), "{bad}: {err}");
        }
    }

    #[test]
    fn change_fields_follow_op() {
        assert_eq!(Change::upsert(Op::Create, "a", HASH, 1, 0).validate(), Ok(()));
        assert_eq!(Change::delete("a").validate(), Ok(()));
        let mut c = Change::upsert(Op::Update, "a", HASH, 1, 0);
        c.hash = None;
        assert_eq!(c.validate(), Err(ChangeError::Missing("hash")));
        let mut c = Change::upsert(Op::Update, "a", HASH, 1, 0);
        c.mtime = None;
        assert_eq!(c.validate(), Err(ChangeError::Missing("mtime")));
        let mut c = Change::delete("a");
        c.size = Some(3);
        assert_eq!(c.validate(), Err(ChangeError::Unexpected("size")));
        for bad in ["sha256:00", "blake3:XYZ", &HASH.to_uppercase(), &HASH[..HASH.len() - 1]] {
            assert_eq!(Change::upsert(Op::Create, "a", bad, 1, 0).validate(), Err(ChangeError::BadHash), "{bad}");
        }
        assert_eq!(Change::upsert(Op::Create, "a", HASH, MAX_FILE_SIZE, 0).validate(), Ok(()));
        for too_big in [MAX_FILE_SIZE + 1, u64::MAX] {
            assert_eq!(
                Change::upsert(Op::Create, "a", HASH, too_big, 0).validate(),
                Err(ChangeError::SizeTooLarge(too_big))
            );
        }
        assert_eq!(
            Change::upsert(Op::Create, "../a", HASH, 1, 0).validate(),
            Err(ChangeError::Path(PathError::DotSegment))
        );
    }

    #[test]
    fn change_json_round_trip_and_shape() {
        let c = Change::upsert(Op::Create, "shots/a.mp4", HASH, 123, 1_732_850_000_123);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"path": "shots/a.mp4", "op": "create", "hash": HASH, "size": 123, "mtime": 1_732_850_000_123_i64})
        );
        assert_eq!(serde_json::from_value::<Change>(json).unwrap(), c);
        let d = serde_json::to_value(Change::delete("x")).unwrap();
        assert_eq!(d, serde_json::json!({"path": "x", "op": "delete"}));
    }

    #[test]
    fn unknown_op_and_fields_are_refused() {
        let err = serde_json::from_str::<Change>(r#"{"path":"a","op":"move"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `move`"), "{err}");
        let err = serde_json::from_str::<Change>(r#"{"path":"a","op":"delete","extra":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    }
}
