//! The support code of the product crates' integration tests and benches, as
//! a library (so each test binary or bench may use only part of it): the
//! cloud's HTTP and WebSocket test clients and throwaway PostgreSQL
//! (`support`, `push_support`), and the companion's owner and invitee set-ups
//! (`owner_support`, `member_support`). The process harnesses are
//! [`crate::cloud`] and [`crate::companion`]; the in-process cloud is
//! `cloud::testing`.

pub mod member_support;
pub mod owner_support;
pub mod push_support;
pub mod support;
