//! `st-pair`: starts two paired Syncthing nodes on loopback for a person
//! (or a demo script) to use, prints how to reach them, and stops them on
//! Ctrl-C or SIGTERM. All the work is in the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use syncthing_fixtures::{Cluster, FolderType, Node};
use tokio::signal::unix::{SignalKind, signal};

/// Start two paired Syncthing nodes (A and B) on 127.0.0.1 until Ctrl-C.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// ID of the folder both nodes share.
    #[arg(long, default_value = "proj")]
    folder: String,
    /// Folder type on node A: sendreceive, sendonly or receiveonly.
    #[arg(long, default_value = "sendreceive")]
    type_a: FolderType,
    /// Folder type on node B: sendreceive, sendonly or receiveonly.
    #[arg(long, default_value = "sendreceive")]
    type_b: FolderType,
    /// fsWatcherDelayS of the folder (Syncthing's default is 10).
    #[arg(long, default_value_t = 10)]
    watcher_delay: u32,
    /// Receive limit of node B in KiB/s (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    recv_limit: u32,
    /// progressUpdateIntervalS on both nodes (Syncthing's default is 5).
    #[arg(long)]
    progress_interval: Option<u32>,
    /// Keep the nodes' homes (config, database, logs) after exit.
    #[arg(long)]
    keep: bool,
    /// Print one JSON object instead of text (for scripts).
    #[arg(long)]
    json: bool,
    /// The syncthing executable (default: $SYNCTHING_BIN, then PATH).
    #[arg(long)]
    binary: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut builder = Cluster::builder()
        .nodes(2)
        .folder(&args.folder, &[args.type_a, args.type_b])
        .fs_watcher_delay_s(args.watcher_delay);
    if args.recv_limit > 0 {
        builder = builder.recv_limit_kibps(1, args.recv_limit);
    }
    if let Some(s) = args.progress_interval {
        builder = builder.progress_update_interval_s(s);
    }
    if let Some(binary) = &args.binary {
        builder = builder.binary(binary);
    }
    let mut cluster = builder.start().await.context("starting the Syncthing pair")?;
    if args.keep {
        cluster.keep_logs();
    }

    let types = [args.type_a, args.type_b];
    if args.json {
        let nodes: Vec<_> = cluster.nodes().iter().zip(types).map(|(n, t)| node_json(n, &args.folder, t)).collect();
        println!("{}", serde_json::json!({ "nodes": nodes }));
    } else {
        for (node, folder_type) in cluster.nodes().iter().zip(types) {
            print_node(node, &args.folder, folder_type);
        }
        println!("Both nodes are connected and idle. Press Ctrl-C to stop them.");
    }

    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    drop(cluster);
    eprintln!("st-pair: nodes stopped");
    Ok(())
}

fn print_node(node: &Node, folder: &str, folder_type: FolderType) {
    println!("Node {}", node.name);
    println!("  GUI/REST:  {}/", node.api_url);
    println!("  API key:   {}", node.api_key);
    println!("  device ID: {}", node.device_id);
    println!("  folder {folder} ({folder_type}): {}", node.folder_path(folder).display());
    println!("  config:    {}", node.config_xml().display());
    println!("  log:       {}", node.log_path().display());
    println!();
}

fn node_json(node: &Node, folder: &str, folder_type: FolderType) -> serde_json::Value {
    serde_json::json!({
        "name": node.name,
        "api_url": node.api_url,
        "api_key": node.api_key,
        "device_id": node.device_id,
        "pid": node.pid(),
        "folder": {"id": folder, "type": folder_type.as_str(), "path": node.folder_path(folder)},
        "config_xml": node.config_xml(),
        "log": node.log_path(),
    })
}
