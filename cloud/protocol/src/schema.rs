//! The OpenAPI schema of a [`Change`], written by hand: a derive cannot say that
//! `hash`, `size` and `mtime` are required for create/update and absent for
//! delete, and without that a fuzzer's changes are mostly refused for it.
//!
//! The path pattern is the path rule (crate::path) less what a regex says badly:
//! the byte count and Windows' reserved names. A change breaking those is
//! refused with `422 invalid_change` like any other.

use std::borrow::Cow;

use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

use crate::{Change, MAX_FILE_SIZE, MAX_PATH_BYTES};

/// A name: no control character, `\`, `/` or `:`, not ending in `.` or space.
const SEGMENT: &str = r"[^\x00-\x1f\x7f-\x9f\\/:]*[^\x00-\x1f\x7f-\x9f\\/:. ]";

fn path() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("relative, `/`-separated, portable to Windows (docs/wire.md); at most 4096 bytes"))
        .min_length(Some(1))
        .max_length(Some(MAX_PATH_BYTES))
        .pattern(Some(format!("^{SEGMENT}(/{SEGMENT})*$")))
}

fn op(ops: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(ops.iter().copied()))
}

/// create/update: all of `hash`, `size`, `mtime`.
fn upsert() -> Schema {
    ObjectBuilder::new()
        .property("path", path())
        .property("op", op(&["create", "update"]))
        .property(
            "hash",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("`blake3:` and 64 lowercase hex digits"))
                .pattern(Some("^blake3:[0-9a-f]{64}$")),
        )
        .property(
            "size",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .description(Some("bytes"))
                .minimum(Some(0))
                .maximum(Some(MAX_FILE_SIZE)),
        )
        .property(
            "mtime",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .description(Some("milliseconds since the Unix epoch"))
                .minimum(Some(i64::MIN))
                .maximum(Some(i64::MAX)),
        )
        .required("path")
        .required("op")
        .required("hash")
        .required("size")
        .required("mtime")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// delete: the path alone.
fn delete() -> Schema {
    ObjectBuilder::new()
        .property("path", path())
        .property("op", op(&["delete"]))
        .required("path")
        .required("op")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

impl utoipa::PartialSchema for Change {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new().description(Some("one content change of one file")).item(upsert()).item(delete()).into()
    }
}

impl utoipa::ToSchema for Change {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Change")
    }
}
