//! Finds the workspace's built binaries (`cloud`, `companion`) next to the
//! running executable, so the demo and the tests run exactly what was built.

use std::path::PathBuf;

/// Path of a workspace binary: `$<NAME>_BIN` if set (e.g. `CLOUD_BIN`), else the
/// `target/<profile>/<name>` beside the current executable (tests live one level
/// deeper, in `deps/`).
pub fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let var = format!("{}_BIN", name.to_uppercase());
    if let Some(path) = std::env::var_os(&var) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    anyhow::bail!(
        "the `{name}` binary is not built next to {}; run `cargo build --workspace --bins` first (or set {var})",
        exe.display()
    )
}
