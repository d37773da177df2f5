//! Free loopback ports for servers a test starts on a port it must know in
//! advance (Syncthing, PostgreSQL, chromedriver, a `cloud serve` process).

use std::net::TcpListener;

/// `count` distinct free loopback ports. All listeners are held until every
/// port is chosen, so the ports of one call never collide; another process
/// could still grab one before its server binds it, which is rare enough on
/// a test machine (and retried where it matters).
pub fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

/// One free loopback port (see [`free_ports`]).
pub fn free_port() -> std::io::Result<u16> {
    Ok(free_ports(1)?[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(8).unwrap();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 8);
    }
}
