//! The one path rule of the wire contract, shared by the cloud (to refuse) and
//! the companion (to check before sending).
//!
//! A path names a file inside a shared folder on every peer, whatever its
//! system: relative, `/`-separated, and portable to Windows, so no drive letter,
//! no `:`, no name ending in `.` or space, no reserved device name (`CON`,
//! `NUL`, `COM1`, …, also with an extension) and no control character. Joining
//! a valid path onto a folder root never leaves the root.

use crate::MAX_PATH_BYTES;

/// Why a path was refused. The message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is {0} bytes, more than the {MAX_PATH_BYTES} allowed")]
    TooLong(usize),
    #[error("path must be relative (it starts with '/')")]
    Absolute,
    #[error("path contains a NUL byte")]
    Nul,
    #[error("path contains a backslash; use '/' as the separator")]
    Backslash,
    #[error("path contains a control character (U+{0:04X})")]
    Control(u32),
    #[error("path has an empty segment ('//' or a trailing '/')")]
    EmptySegment,
    #[error("path has a '.' or '..' segment")]
    DotSegment,
    #[error("path starts with a drive letter ({0:?}); paths are relative to the folder")]
    DriveLetter(String),
    #[error("name {0:?} contains ':', which Windows peers cannot store")]
    Colon(String),
    #[error("name {0:?} ends with a dot or a space, which Windows peers cannot store")]
    TrailingDotOrSpace(String),
    #[error("name {0:?} is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)")]
    ReservedName(String),
}

/// Windows device names, reserved with any extension and in any case.
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Checks `path` against the rule (see the module docs); the first broken rule.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong(path.len()));
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(PathError::Control(u32::from(c)));
    }
    for (index, segment) in path.split('/').enumerate() {
        validate_segment(index, segment)?;
    }
    Ok(())
}

/// One name of a path (`index` 0 is the first).
fn validate_segment(index: usize, segment: &str) -> Result<(), PathError> {
    match segment {
        "" => return Err(PathError::EmptySegment),
        "." | ".." => return Err(PathError::DotSegment),
        _ => {}
    }
    let bytes = segment.as_bytes();
    if index == 0 && bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PathError::DriveLetter(segment[..2].to_owned()));
    }
    if segment.contains(':') {
        return Err(PathError::Colon(segment.to_owned()));
    }
    if segment.ends_with(['.', ' ']) {
        return Err(PathError::TrailingDotOrSpace(segment.to_owned()));
    }
    // Windows reserves the name before the first dot, trailing spaces ignored.
    let stem = segment.split('.').next().unwrap_or_default().trim_end_matches(' ');
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Err(PathError::ReservedName(segment.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_table() {
        let long_ok = "a".repeat(MAX_PATH_BYTES);
        let long_bad = "a".repeat(MAX_PATH_BYTES + 1);
        let accepted = [
            "a.txt",
            "shots/a.mp4",
            "deep/er/still/file",
            "..hidden",
            "a..b/c",
            ".stignore-like",
            "ünïcødé/文件.txt",
            "with space/x y",
            "console.txt",
            "COM10",
            "nul_/x",
            "lpt",
            " leading space",
            &long_ok,
        ];
        for path in accepted {
            assert_eq!(validate_path(path), Ok(()), "path {path:?}");
        }
        let refused: &[(&str, PathError)] = &[
            ("", PathError::Empty),
            (&long_bad, PathError::TooLong(MAX_PATH_BYTES + 1)),
            ("/etc/passwd", PathError::Absolute),
            ("a\0b", PathError::Nul),
            ("a\\b", PathError::Backslash),
            ("..\\x", PathError::Backslash),
            ("a\u{7}b", PathError::Control(7)),
            ("a/b\nc", PathError::Control(10)),
            ("x\u{9b}", PathError::Control(0x9b)),
            ("a//b", PathError::EmptySegment),
            ("a/", PathError::EmptySegment),
            ("..", PathError::DotSegment),
            ("../x", PathError::DotSegment),
            ("a/../../x", PathError::DotSegment),
            ("./a", PathError::DotSegment),
            ("a/.", PathError::DotSegment),
            ("C:/x", PathError::DriveLetter("C:".into())),
            ("C:", PathError::DriveLetter("C:".into())),
            ("z:rel", PathError::DriveLetter("z:".into())),
            ("a/b:c", PathError::Colon("b:c".into())),
            ("file:stream", PathError::Colon("file:stream".into())),
            ("a/C:", PathError::Colon("C:".into())),
            ("name.", PathError::TrailingDotOrSpace("name.".into())),
            ("dir /x", PathError::TrailingDotOrSpace("dir ".into())),
            ("a/b...", PathError::TrailingDotOrSpace("b...".into())),
            ("CON", PathError::ReservedName("CON".into())),
            ("x/nul", PathError::ReservedName("nul".into())),
            ("con.txt", PathError::ReservedName("con.txt".into())),
            ("Aux.tar.gz", PathError::ReservedName("Aux.tar.gz".into())),
            ("com1/x", PathError::ReservedName("com1".into())),
            ("LPT9.log", PathError::ReservedName("LPT9.log".into())),
            ("prn .txt", PathError::ReservedName("prn .txt".into())),
        ];
        for (path, want) in refused {
            assert_eq!(validate_path(path), Err(want.clone()), "path {path:?}");
        }
    }
}

/// The rule as a property: whatever a peer sends, a path is refused or stays
/// strictly inside the folder it is joined onto, on Unix and on Windows.
#[cfg(test)]
mod properties {
    use std::path::{Component, Path};

    use proptest::prelude::*;

    use super::*;

    /// Pieces an attacker would combine.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("...".to_owned()),
            Just("\0".to_owned()),
            Just("C:".to_owned()),
            Just("c:x".to_owned()),
            Just("CON".to_owned()),
            Just("nul.txt".to_owned()),
            Just("Com1".to_owned()),
            Just("a:b".to_owned()),
            Just("end.".to_owned()),
            Just("end ".to_owned()),
            Just("\u{202e}rtl".to_owned()),
            Just("\u{1b}[31m".to_owned()),
            "[a-z]{1,8}",
            "\\PC{1,6}",
            "x{200,300}",
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec((piece(), prop_oneof![Just("/"), Just("\\"), Just("")]), 1..8).prop_map(|parts| {
            let mut path = String::new();
            for (piece, separator) in parts {
                path.push_str(&piece);
                path.push_str(separator);
            }
            path
        })
    }

    /// Splits as Windows would (both separators) and checks each name stays a name.
    fn inside_on_windows(path: &str) -> bool {
        path.split(['/', '\\']).all(|name| {
            !name.is_empty() && name != "." && name != ".." && !name.contains(':') && !name.ends_with(['.', ' '])
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn refused_or_strictly_inside(path in path()) {
            if validate_path(&path).is_ok() {
                let root = Path::new("/srv/folder");
                let joined = root.join(&path);
                prop_assert!(joined.starts_with(root), "{path:?} left the root: {joined:?}");
                let relative = joined.strip_prefix(root).expect("under the root");
                prop_assert!(
                    relative.components().all(|c| matches!(c, Component::Normal(_))),
                    "{path:?} has a component that is not a plain name"
                );
                prop_assert!(relative.components().count() >= 1);
                prop_assert!(inside_on_windows(&path), "{path:?} escapes on Windows");
                prop_assert!(!path.chars().any(char::is_control), "{path:?} carries a control character");
            }
        }
    }
}
