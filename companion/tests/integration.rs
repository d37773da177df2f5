//! The companion's integration tests, as one binary: linking each file on its
//! own gave twenty-odd ~40 MB binaries (disk and link time on 2-core CI). Every
//! file is a module; nextest still runs each test in its own process.

// The support code lives in the workspace's test kit (a library, so each
// binary may use only part of it).
use e2e::kit::{member_support, owner_support};

mod live;

mod badge_delete_wins;
mod badge_engine;
mod badge_rule;
mod badge_stall;
mod badge_store;
mod captures;
mod cli_ls_wait;
mod cloud_tls;
mod dashboard_hosts;
mod dashboard_live;
mod ignore;
mod link_limits;
mod manifest;
mod manifest_remote;
mod member_big_file;
mod member_catch_up;
mod member_clock_skew;
mod member_conflict_copies;
mod member_false_conflict;
mod member_faults;
mod member_hardening;
mod member_partition;
mod member_reports;
mod member_scenarios;
mod member_status;
mod member_subscription;
mod owner_changes;
mod owner_commands;
mod owner_dirs;
mod owner_latency;
mod owner_local_state;
mod owner_outage;
mod owner_quarantine;
mod owner_sender;
mod owner_sources;
mod owner_symlinks;
mod owner_truncate;
mod path_beneath;
mod scan;
mod status_socket;
