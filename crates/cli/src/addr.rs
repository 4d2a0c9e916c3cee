//! Addresses and address ranges for `--listen`, `--target` and `--source`.
//!
//! A TCP connection is named by its 4-tuple (source IP, source port, destination IP, destination
//! port), not by a port (claim C7). Ranges of addresses are how one machine multiplies the
//! 4-tuples it can use: every (source IP, destination IP:port) pair has its own set of ephemeral
//! ports. Loopback is all of 127.0.0.0/8, so one host has sixteen million addresses to spread
//! connections over, with no network set-up.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The most addresses one range may name: larger is almost surely a typo.
pub const MAX_RANGE: u64 = 1 << 16;

/// Parses `IP:PORT` or `[IPv6]:PORT`.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse::<SocketAddr>().map_err(|_| {
        format!("'{s}' is not an address: expected IP:PORT, e.g. 127.0.0.1:7000 or [::1]:7000")
    })
}

/// Parses an IPv4 range `A.B.C.D-E.F.G.H`, an IPv4 range with a short end `127.0.0.1-4`, or a
/// single address (IPv4 or IPv6).
pub fn parse_ip_range(s: &str) -> Result<Vec<IpAddr>, String> {
    let s = s.trim();
    let Some((a, b)) = s.split_once('-') else {
        return s.parse::<IpAddr>().map(|ip| vec![ip]).map_err(|_| {
            format!("'{s}' is not an IP address or range (e.g. 127.1.0.1-127.1.0.8)")
        });
    };
    let bad =
        || format!("'{s}' is not an IPv4 range: expected FIRST-LAST, e.g. 127.1.0.1-127.1.0.8");
    let first: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let last: Ipv4Addr = match b.parse::<Ipv4Addr>() {
        Ok(ip) => ip,
        Err(_) => {
            let octet: u8 = b.parse().map_err(|_| bad())?;
            let o = first.octets();
            Ipv4Addr::new(o[0], o[1], o[2], octet)
        }
    };
    let (lo, hi) = (u32::from(first), u32::from(last));
    if hi < lo {
        return Err(format!("'{s}': the range ends before it starts"));
    }
    if u64::from(hi - lo) + 1 > MAX_RANGE {
        return Err(format!(
            "'{s}': more than {MAX_RANGE} addresses in one range"
        ));
    }
    Ok((lo..=hi).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect())
}

fn parse_port_range(s: &str) -> Result<Vec<u16>, String> {
    let bad = || format!("'{s}' is not a port or port range (e.g. 7000 or 7000-7003)");
    match s.split_once('-') {
        None => Ok(vec![s.parse().map_err(|_| bad())?]),
        Some((a, b)) => {
            let (lo, hi): (u16, u16) =
                (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if hi < lo {
                return Err(format!("'{s}': the port range ends before it starts"));
            }
            Ok((lo..=hi).collect())
        }
    }
}

/// Parses a target: `IP:PORT`, `IP-IP:PORT`, `IP:PORT-PORT`, `IP-IP:PORT-PORT`, `[IPv6]:PORT`.
/// Port 0 is refused: nothing can be reached there.
pub fn parse_targets(s: &str) -> Result<Vec<SocketAddr>, String> {
    let t = s.trim();
    let (ips, ports) = if let Some(rest) = t.strip_prefix('[') {
        let (ip, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("'{s}' is not an address: expected [IPv6]:PORT"))?;
        (parse_ip_range(ip)?, port)
    } else {
        let (ip, port) = t
            .rsplit_once(':')
            .ok_or_else(|| format!("'{s}' has no port: expected IP:PORT, e.g. 127.0.0.1:7000"))?;
        let ips = match parse_ip_range(ip) {
            Ok(ips) => ips,
            Err(_) if is_host_name(ip) => vec![resolve(ip).map_err(|r| format!("'{s}': {r}"))?],
            Err(e) => return Err(e),
        };
        (ips, port)
    };
    let ports = parse_port_range(ports)?;
    if ports.contains(&0) {
        return Err(format!("'{s}': port 0 cannot be a target"));
    }
    if (ips.len() as u64) * (ports.len() as u64) > MAX_RANGE {
        return Err(format!("'{s}': more than {MAX_RANGE} targets"));
    }
    Ok(ips
        .iter()
        .flat_map(|ip| ports.iter().map(move |p| SocketAddr::new(*ip, *p)))
        .collect())
}

/// A DNS name: letters, digits, `-` and `.`, with at least one letter (so that a mistyped
/// address is reported as one, not looked up).
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && !s.contains("..")
}

/// The first address `name` resolves to (the system resolver: /etc/hosts, then DNS), IPv4
/// first. A target is resolved once, at start: a Kubernetes Service name such as
/// `c10m-server` gives its stable ClusterIP.
fn resolve(name: &str) -> Result<IpAddr, String> {
    use std::net::ToSocketAddrs;
    let all: Vec<IpAddr> = (name, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {name}: {e}"))?
        .map(|a| a.ip())
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| format!("{name} resolves to no address"))
}

/// True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The `n`-th address of 127.0.0.0/8 counted from `base` (used to spread sources by default).
pub fn loopback_nth(base: Ipv4Addr, n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(base).wrapping_add(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn targets_single_and_ranges() {
        assert_eq!(
            parse_targets("127.0.0.1:7000").unwrap(),
            vec![sa("127.0.0.1:7000")]
        );
        assert_eq!(
            parse_targets("127.0.0.1-127.0.0.3:7000").unwrap(),
            vec![
                sa("127.0.0.1:7000"),
                sa("127.0.0.2:7000"),
                sa("127.0.0.3:7000")
            ]
        );
        assert_eq!(parse_targets("127.0.0.1-2:7000").unwrap().len(), 2);
        assert_eq!(
            parse_targets("127.0.0.1:7000-7001").unwrap(),
            vec![sa("127.0.0.1:7000"), sa("127.0.0.1:7001")]
        );
        assert_eq!(
            parse_targets("127.0.0.1-127.0.0.2:7000-7001")
                .unwrap()
                .len(),
            4
        );
        assert_eq!(parse_targets("[::1]:7000").unwrap(), vec![sa("[::1]:7000")]);
    }

    #[test]
    fn targets_rejected() {
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:x",
            "300.0.0.1:7000",
            "127.0.0.3-127.0.0.1:7000",
            "127.0.0.1:7001-7000",
            "127.0.0.1:0",
            "10.0.0.0-10.255.255.255:1",
            "127.0.0.1:70000",
        ] {
            assert!(parse_targets(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn host_names_resolve_once() {
        assert_eq!(
            parse_targets("localhost:7000").unwrap(),
            vec![sa("127.0.0.1:7000")]
        );
        assert!(is_host_name("c10m-server.lab.svc"));
        assert!(!is_host_name("300.0.0.1"));
        assert!(!is_host_name("a..b"));
    }

    #[test]
    fn ip_ranges() {
        assert_eq!(parse_ip_range("127.1.0.1-127.1.0.4").unwrap().len(), 4);
        assert_eq!(parse_ip_range("127.1.0.255-127.1.1.0").unwrap().len(), 2);
        assert_eq!(parse_ip_range("::1").unwrap().len(), 1);
        assert!(parse_ip_range("nope").is_err());
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.5.6.7".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(!is_loopback("198.18.0.1".parse().unwrap()));
        assert_eq!(
            loopback_nth(Ipv4Addr::new(127, 1, 0, 255), 1),
            "127.1.1.0".parse::<IpAddr>().unwrap()
        );
    }
}
