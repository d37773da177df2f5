//! The cloud's integration tests, as one binary: linking each file on its own
//! gave a dozen ~40 MB binaries (disk and link time on 2-core CI). Every file
//! is a module; nextest still runs each test in its own process.

// The support code lives in the workspace's test kit (a library, so each
// binary may use only part of it).
use e2e::kit::{push_support, support};

mod api_auth;
mod api_cli;
mod api_input;
mod api_ops;
mod api_story;
mod crash;
mod hardening_http;
mod hardening_limits;
mod hardening_progress;
mod openapi;
mod push_cluster;
mod push_liveness;
mod push_order;
mod push_ws;
mod store_story;
