//! Which client address and port each slot uses, and back.
//!
//! The TUN engine keeps no table of 4-tuples: slot `s` of a process is always source address
//! `sources[s / PORTS]`, port `FIRST_PORT + s % PORTS`, so a segment the kernel sends back names
//! its slot by its destination address and port, in O(1) and with no memory per connection. The
//! addresses are not on this machine (they are routed to the TUN device), so no local socket
//! can hold those ports and every port of the range is free: 64,512 connections per address and
//! target, where a kernel socket gets `ip_local_port_range` (28,232 by default).

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// The first source port used: below are the ports a server might listen on.
pub(crate) const FIRST_PORT: u16 = 1024;
/// Ports per source address.
pub(crate) const PORTS: u32 = 65536 - FIRST_PORT as u32;
/// The default client range, 198.19.0.0/16 (the benchmarking range, RFC 2544).
pub(crate) const DEFAULT_BASE: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// Addresses in the default range, from 198.19.0.1 to 198.19.255.254.
pub(crate) const DEFAULT_COUNT: u32 = 65534;

/// One process's addresses and the slots they map to.
#[derive(Debug, Clone)]
pub(crate) struct Addrs {
    sources: Vec<Ipv4Addr>,
    index: HashMap<Ipv4Addr, u32>,
}

impl Addrs {
    pub(crate) fn new(sources: Vec<Ipv4Addr>) -> Addrs {
        let index = sources
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, i as u32))
            .collect();
        Addrs { sources, index }
    }

    pub(crate) fn sources(&self) -> &[Ipv4Addr] {
        &self.sources
    }

    /// Slots these addresses have ports for.
    pub(crate) fn capacity(&self) -> u64 {
        self.sources.len() as u64 * u64::from(PORTS)
    }

    /// Slot `slot`'s address and port; `None` past [`Addrs::capacity`].
    pub(crate) fn of(&self, slot: u32) -> Option<(Ipv4Addr, u16)> {
        let ip = *self.sources.get((slot / PORTS) as usize)?;
        Some((ip, FIRST_PORT + (slot % PORTS) as u16))
    }

    /// The slot that owns `(ip, port)`, if these addresses have it.
    pub(crate) fn slot(&self, ip: Ipv4Addr, port: u16) -> Option<u32> {
        let i = *self.index.get(&ip)?;
        let p = port.checked_sub(FIRST_PORT)?;
        Some(i * PORTS + u32::from(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(count: u32) -> Vec<Ipv4Addr> {
        (0..count)
            .map(|i| Ipv4Addr::from(u32::from(DEFAULT_BASE) + i))
            .collect()
    }

    #[test]
    fn slots_map_to_addresses_and_back() {
        let a = Addrs::new(first(2));
        assert_eq!(a.capacity(), 129_024);
        assert_eq!(a.of(0), Some((Ipv4Addr::new(198, 19, 0, 1), 1024)));
        assert_eq!(a.of(64_511), Some((Ipv4Addr::new(198, 19, 0, 1), 65535)));
        assert_eq!(a.of(64_512), Some((Ipv4Addr::new(198, 19, 0, 2), 1024)));
        assert_eq!(a.of(129_024), None);
        for s in [0, 1, 64_511, 64_512, 129_023] {
            let (ip, port) = a.of(s).unwrap();
            assert_eq!(a.slot(ip, port), Some(s));
        }
        assert_eq!(a.slot(Ipv4Addr::new(198, 19, 0, 3), 2000), None);
        assert_eq!(a.slot(Ipv4Addr::new(198, 19, 0, 1), 80), None);
    }
}
