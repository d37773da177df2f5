//! The whole system, assembled from the real built binaries: a `cloud serve`
//! process (optionally behind nginx with TLS), a real Syncthing pair
//! (syncthing-fixtures) and two `companion` processes. Used by the
//! one-command demo (`src/bin/demo.rs`) and by the end-to-end tests in `tests/`;
//! [`docker`] and [`docker_stack`] run the same pieces as containers (the
//! `docker_*` tests). And the test kit every crate's tests share: one process
//! harness per binary ([`cloud`], [`companion`]) and the support code of the
//! product crates' integration tests ([`kit`]).

pub mod bins;
pub mod cloud;
pub mod companion;
pub mod docker;
pub mod docker_stack;
pub mod kit;
pub mod nginx;
pub mod proc;
pub mod stack;

pub use cloud::{CloudDb, CloudProc, CloudUser};
pub use companion::{Companion, dashboard_status, file_entry};
pub use nginx::{Nginx, TlsFront};
pub use proc::Proc;
pub use stack::{Stack, StackOptions};
