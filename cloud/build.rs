//! Rebuilds the cloud when a migration is added or changed: `sqlx::migrate!`
//! embeds the `migrations/` directory at compile time, and without this
//! cargo does not notice a new file there (a stale binary would then miss it).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
