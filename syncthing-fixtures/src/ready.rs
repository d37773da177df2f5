//! Cluster readiness, polled with a deadline: it re-checks every node at a
//! short interval until all are ready or time is up, and a timeout says what
//! was still missing. (Tests wait for their own conditions with [`crate::poll`].)

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{FixtureError, Node};

const READY_POLL: Duration = Duration::from_millis(100);

/// See [`Cluster::wait_ready`](crate::Cluster::wait_ready).
pub(crate) async fn wait_cluster_ready(nodes: &[Node], budget: Duration) -> Result<(), FixtureError> {
    let deadline = Instant::now() + budget;
    loop {
        let missing = not_ready(nodes).await?;
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(FixtureError::Timeout {
                what: format!("cluster ready: {}", missing.join("; ")),
                after: budget,
            });
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Everything that keeps the running nodes from being ready; empty when
/// ready. A node whose process died is an error, not something to wait for.
async fn not_ready(nodes: &[Node]) -> Result<Vec<String>, FixtureError> {
    let running: Vec<&Node> = nodes.iter().filter(|n| n.is_running()).collect();
    let mut missing = Vec::new();
    for node in &running {
        node.check_alive()?;
        if let Err(e) = node.ping().await {
            missing.push(format!("node {} REST not answering ({e})", node.name));
            continue;
        }
        match node.get_json("/rest/system/connections").await {
            Ok(connections) => {
                for peer in running.iter().filter(|p| p.device_id != node.device_id) {
                    if !is_connected(&connections, &peer.device_id) {
                        missing.push(format!("{} not connected to {}", node.name, peer.name));
                    }
                }
            }
            Err(e) => missing.push(format!("node {} connections: {e}", node.name)),
        }
        for folder in node.folder_ids() {
            match node.folder_state(folder).await {
                Ok(state) if state == "idle" => {}
                Ok(state) => missing.push(format!("folder {folder} on {} is {state:?}", node.name)),
                Err(e) => missing.push(format!("folder {folder} on {}: {e}", node.name)),
            }
        }
    }
    Ok(missing)
}

/// `/rest/system/connections` also lists the local device (never
/// connected), so only peers are ever asked about.
fn is_connected(connections: &Value, device_id: &str) -> bool {
    connections["connections"][device_id]["connected"].as_bool().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_recorded_connections() {
        let c = crate::recorded_json("system-connections-A.json");
        let ids: Vec<&String> = c["connections"].as_object().unwrap().keys().collect();
        assert_eq!(ids.len(), 2, "self and the peer");
        let connected: Vec<bool> = ids.iter().map(|id| is_connected(&c, id)).collect();
        assert!(connected.contains(&true) && connected.contains(&false), "{connected:?}");
        assert!(!is_connected(&c, "UNKNOWN"));
    }
}
