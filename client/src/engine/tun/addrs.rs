//! Which client address and port each slot uses, and back.
//!
//! The TUN engine keeps no table of 4-tuples: slot `s` of a process is always source address
//! `sources[s / PORTS]`, port `FIRST_PORT + s % PORTS`, so a segment the kernel sends back names
//! its slot by its destination address and port, in O(1) and with no memory per connection. The
//! addresses are not on this machine (they are routed to the TUN device), so no local socket
//! can hold those ports and every port of the range is free: 64,512 connections per address and
//! target, where a kernel socket gets `ip_local_port_range` (28,232 by default). IPv4 and IPv6
//! addresses map the same way.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The first source port used: below are the ports a server might listen on.
pub(crate) const FIRST_PORT: u16 = 1024;
/// Ports per source address.
pub(crate) const PORTS: u32 = 65536 - FIRST_PORT as u32;
/// The default IPv4 client range, 198.19.0.0/16 (the benchmarking range, RFC 2544).
pub(crate) const DEFAULT_BASE: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// Addresses in the default IPv4 range, from 198.19.0.1 to 198.19.255.254.
pub(crate) const DEFAULT_COUNT: u32 = 65534;
/// The default IPv6 client range: 2001:2:0:1::/64, a /64 of the IPv6 benchmarking range
/// 2001:2::/48 (RFC 5180) that leaves 2001:2::/64 to servers (2001:2::1, say).
pub(crate) const DEFAULT_BASE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
/// Addresses the plan takes from the IPv6 range at most: as many as from the IPv4 one.
pub(crate) const DEFAULT_COUNT_V6: u32 = 65534;

/// One process's addresses and the slots they map to.
#[derive(Debug, Clone)]
pub(crate) struct Addrs {
    sources: Vec<IpAddr>,
    index: HashMap<IpAddr, u32>,
}

impl Addrs {
    pub(crate) fn new(sources: Vec<IpAddr>) -> Addrs {
        let index = sources
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, i as u32))
            .collect();
        Addrs { sources, index }
    }

    pub(crate) fn sources(&self) -> &[IpAddr] {
        &self.sources
    }

    /// Slots these addresses have ports for.
    pub(crate) fn capacity(&self) -> u64 {
        self.sources.len() as u64 * u64::from(PORTS)
    }

    /// Slot `slot`'s address and port; `None` past [`Addrs::capacity`].
    pub(crate) fn of(&self, slot: u32) -> Option<(IpAddr, u16)> {
        let ip = *self.sources.get((slot / PORTS) as usize)?;
        Some((ip, FIRST_PORT + (slot % PORTS) as u16))
    }

    /// The slot that owns `(ip, port)`, if these addresses have it.
    pub(crate) fn slot(&self, ip: IpAddr, port: u16) -> Option<u32> {
        let i = *self.index.get(&ip)?;
        let p = port.checked_sub(FIRST_PORT)?;
        Some(i * PORTS + u32::from(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(count: u32) -> Vec<IpAddr> {
        (0..count)
            .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(DEFAULT_BASE) + i)))
            .collect()
    }

    #[test]
    fn slots_map_to_addresses_and_back() {
        let a = Addrs::new(first(2));
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert_eq!(a.capacity(), 129_024);
        assert_eq!(a.of(0), Some((v4(198, 19, 0, 1), 1024)));
        assert_eq!(a.of(64_511), Some((v4(198, 19, 0, 1), 65535)));
        assert_eq!(a.of(64_512), Some((v4(198, 19, 0, 2), 1024)));
        assert_eq!(a.of(129_024), None);
        for s in [0, 1, 64_511, 64_512, 129_023] {
            let (ip, port) = a.of(s).unwrap();
            assert_eq!(a.slot(ip, port), Some(s));
        }
        assert_eq!(a.slot(v4(198, 19, 0, 3), 2000), None);
        assert_eq!(a.slot(v4(198, 19, 0, 1), 80), None);
        let six = Addrs::new(vec![IpAddr::V6(DEFAULT_BASE_V6)]);
        let (ip, port) = six.of(70).unwrap();
        assert_eq!((ip.to_string(), port), ("2001:2:0:1::1".to_string(), 1094));
        assert_eq!(six.slot(ip, port), Some(70));
    }
}
