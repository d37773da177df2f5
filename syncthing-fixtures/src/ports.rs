//! Free loopback ports for servers a test starts on a port it must know in
//! advance (Syncthing, PostgreSQL, chromedriver, a `cloud serve` process).

use std::net::TcpListener;

/// `count` distinct free loopback ports, drawn at random below the kernel's
/// ephemeral range: a port from that range (what binding port 0 gives) can
/// be taken by any outgoing connection between being chosen and being bound,
/// which a busy test run does (a Syncthing node then fails "address already
/// in use"). Below it only other choosers like this one compete, and the
/// draw spreads them over ~20,000 ports. Each port is checked by binding it;
/// all are held until every one is chosen, so one call's ports never collide.
pub fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let (low, _) = ephemeral_range();
    let last = low.max(FIRST + 1000);
    let mut held: Vec<TcpListener> = Vec::with_capacity(count);
    let mut tries = 0;
    while held.len() < count {
        tries += 1;
        if tries > 1000 + 10 * count {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("no {count} free loopback ports in {FIRST}..{last}"),
            ));
        }
        let port = rand::random_range(FIRST..last);
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    held.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

/// The lowest port handed out (below it are well-known and registered services).
const FIRST: u16 = 10_000;

/// The kernel's range for ephemeral ports (outgoing connections, binds to
/// port 0): `/proc/sys/net/ipv4/ip_local_port_range`, Linux's default if unreadable.
fn ephemeral_range() -> (u16, u16) {
    let read = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok();
    let parsed = read.and_then(|text| {
        let mut parts = text.split_whitespace().map(str::parse::<u16>);
        Some((parts.next()?.ok()?, parts.next()?.ok()?))
    });
    parsed.unwrap_or((32_768, 60_999))
}

/// One free loopback port (see [`free_ports`]).
pub fn free_port() -> std::io::Result<u16> {
    Ok(free_ports(1)?[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port the kernel may hand to any outgoing connection can be taken
    /// between being chosen and being bound (seen: a Syncthing node of a
    /// pair failing "bind: address already in use" under load).
    #[test]
    fn free_ports_are_below_the_ephemeral_range() {
        let (low, _) = ephemeral_range();
        for port in free_ports(64).unwrap() {
            assert!(port >= FIRST && port < low, "port {port} is not in {FIRST}..{low}");
        }
    }

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(8).unwrap();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 8);
    }
}
