//! `/proc/net/tcp` (and `tcp6`): one line per socket of this network namespace, TIME_WAIT
//! minisockets and half-open requests included, with addresses as hex `IP:PORT` and the state as
//! a hex number (`include/net/tcp_states.h`: `01` ESTABLISHED, `06` TIME_WAIT, `0A` LISTEN...).
//! For a LISTEN socket the `rx_queue` column is the accept queue's length (`sk_ack_backlog`):
//! connections whose handshake is done, waiting for `accept()`. Reading the file walks every
//! socket, so it is for lab-sized counts (the churn live line, the lab's censuses), never for a
//! million. A socket listening on `[::]` takes IPv4 connections too and lists them in `tcp6`, so
//! the counts here take both files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;

use serde::Serialize;

const TCP_TIME_WAIT: u8 = 0x06;
const TCP_LISTEN: u8 = 0x0A;

/// The columns of one `/proc/net/tcp` line that the project reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    local_port: u16,
    remote_port: u16,
    state: u8,
    /// Bytes queued to read; for a LISTEN socket, connections waiting for `accept()`.
    rx_queue: u64,
}

/// One socket line (`sl local_address rem_address st tx_queue:rx_queue ...`); `None` for the
/// header and anything malformed.
fn parse_row(line: &str) -> Option<Row> {
    let mut w = line.split_whitespace();
    let _sl = w.next()?;
    let port = |addr: &str| u16::from_str_radix(addr.rsplit_once(':')?.1, 16).ok();
    let local_port = port(w.next()?)?;
    let remote_port = port(w.next()?)?;
    let state = u8::from_str_radix(w.next()?, 16).ok()?;
    let rx_queue = u64::from_str_radix(w.next()?.split_once(':')?.1, 16).ok()?;
    Some(Row {
        local_port,
        remote_port,
        state,
        rx_queue,
    })
}

fn rows(text: &str) -> impl Iterator<Item = Row> + '_ {
    text.lines().skip(1).filter_map(parse_row)
}

/// The kernel's name of a TCP state number, as `ss` and `include/net/tcp_states.h` spell it. A
/// half-open request is listed as SYN_RECV (3), not NEW_SYN_RECV (12).
fn state_name(state: u8) -> String {
    const NAMES: [&str; 13] = [
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
        "BOUND_INACTIVE",
    ];
    match NAMES.get(usize::from(state).wrapping_sub(1)) {
        Some(name) => (*name).to_string(),
        None => format!("STATE_{state:02X}"),
    }
}

/// Connections waiting in the accept queue of each listening port: the LISTEN sockets' `rx_queue`,
/// summed when several listen on one port (SO_REUSEPORT, or one on IPv4 and one on IPv6), over the
/// texts of `/proc/net/tcp` and `tcp6`.
pub fn listen_queues<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<u16, u64> {
    let mut queues = BTreeMap::new();
    for row in texts.into_iter().flat_map(rows) {
        if row.state == TCP_LISTEN {
            let q = queues.entry(row.local_port).or_insert(0u64);
            *q = q.saturating_add(row.rx_queue);
        }
    }
    queues
}

/// The sockets of one port, by state name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortStates {
    /// Sockets whose local port is the port: its listeners and the connections they accepted.
    pub local: BTreeMap<String, u64>,
    /// Sockets whose remote port is the port: the clients' ends of connections to it.
    pub remote: BTreeMap<String, u64>,
    /// For the sockets of `remote`, how many distinct local ports they hold: client ports carry
    /// one connection per destination, so this can be fewer than `remote`.
    pub client_ports: BTreeMap<String, u64>,
}

/// [`PortStates`] of `port` over the texts of `/proc/net/tcp` and `tcp6`.
pub fn port_states<'a>(texts: impl IntoIterator<Item = &'a str>, port: u16) -> PortStates {
    let mut out = PortStates::default();
    let mut client_ports = BTreeSet::new();
    for row in texts.into_iter().flat_map(rows) {
        if row.local_port == port {
            *out.local.entry(state_name(row.state)).or_default() += 1;
        }
        if row.remote_port == port {
            *out.remote.entry(state_name(row.state)).or_default() += 1;
            client_ports.insert((row.state, row.local_port));
        }
    }
    for (state, _) in client_ports {
        *out.client_ports.entry(state_name(state)).or_default() += 1;
    }
    out
}

/// What `/proc/net/tcp` says about local ports: who holds TIME_WAIT and how many ephemeral ports
/// are taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCensus {
    /// TIME_WAIT sockets whose local port is one of the server ports: the server closed first.
    pub tw_server: u64,
    /// Every other TIME_WAIT socket: the client closed first.
    pub tw_client: u64,
    /// Distinct local ports inside the ephemeral range held by any socket but a listener
    /// (a TIME_WAIT socket keeps its port).
    pub ephemeral_in_use: u64,
}

/// Parses the text of `/proc/net/tcp` or `/proc/net/tcp6` into `census`. `ephemeral` is
/// ip_local_port_range (inclusive), `seen` a 65,536-bit set shared across the files so a port
/// used over IPv4 and IPv6 counts once.
pub fn parse_tcp_ports(
    text: &str,
    ephemeral: (u16, u16),
    server_ports: &[u16],
    seen: &mut [u64; 1024],
    census: &mut PortCensus,
) {
    for row in rows(text) {
        let port = row.local_port;
        if row.state == TCP_LISTEN {
            continue;
        }
        if row.state == TCP_TIME_WAIT {
            if server_ports.contains(&port) {
                census.tw_server += 1;
            } else {
                census.tw_client += 1;
            }
        }
        if (ephemeral.0..=ephemeral.1).contains(&port) {
            let (word, bit) = (usize::from(port / 64), port % 64);
            if seen[word] & (1 << bit) == 0 {
                seen[word] |= 1 << bit;
                census.ephemeral_in_use += 1;
            }
        }
    }
}

/// [`parse_tcp_ports`] over this namespace's `/proc/net/tcp` and `/proc/net/tcp6`.
pub fn read_tcp_ports(ephemeral: (u16, u16), server_ports: &[u16]) -> io::Result<PortCensus> {
    let mut seen = [0u64; 1024];
    let mut census = PortCensus::default();
    let v4 = fs::read_to_string("/proc/net/tcp")?;
    parse_tcp_ports(&v4, ephemeral, server_ports, &mut seen, &mut census);
    if let Ok(v6) = fs::read_to_string("/proc/net/tcp6") {
        parse_tcp_ports(&v6, ephemeral, server_ports, &mut seen, &mut census);
    }
    Ok(census)
}

#[cfg(test)]
mod tests {
    use super::*;

    // From a Linux 6.18 machine; the kernel pads each line with spaces, kept here.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1597 1 0000000027783839 100 0 0 10 0                      
   1: 0100007F:A66B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3492733 1 000000000d7190c5 100 0 0 10 0                   
   2: 0100007F:8DE9 0100007F:A5CE 06 00000000:00000000 03:00000774 00000000     0        0 0 3 00000000012345ba                                      
   3: 0100007F:AFC0 0100007F:A66B 01 00000000:00000000 00:00000000 00000000     0        0 3492734 2 0000000030b64b02 20 0 0 10 -1                   
   4: 0100007F:A66B 0100007F:AFC0 01 00000000:00000000 00:00000000 00000000     0        0 3492735 1 00000000e5cd088b 20 0 0 10 -1                   
";

    // A listener on 198.18.0.1:7000 (backlog 16) that never accepts: 17 connections wait
    // (rx_queue 0x11), two of them listed.
    const FULL_LISTENER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 010012C6:1B58 00000000:0000 0A 00000000:00000011 00:00000000 00000000     0        0 101575649 18 000000001509d515 100 0 0 10 0
   1: 010012C6:1B58 010012C6:A0AA 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000b789d155 20 0 0 10 -1
   2: 010012C6:1B58 010012C6:A0E2 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000c90a784c 20 0 0 10 -1
";

    // A second SO_REUSEPORT listener of port 7000 on [::], with 3 waiting, and an IPv4
    // connection it accepted, listed as an IPv4-mapped address.
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1B58 00000000000000000000000000000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 4711 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF0000010012C6:1B58 0000000000000000FFFF0000010012C6:A0F0 01 00000000:00000000 00:00000000 00000000     0        0 4712 1 0000000000000000 20 4 0 10 -1
";

    #[test]
    fn rows_of_a_real_table() {
        let got: Vec<_> = rows(TCP)
            .map(|r| (r.local_port, r.remote_port, r.state))
            .collect();
        assert_eq!(
            got,
            [
                (2024, 0, 10),     // 0.0.0.0:2024 LISTEN
                (42603, 0, 10),    // 127.0.0.1:42603 LISTEN
                (36329, 42446, 6), // TIME_WAIT
                (44992, 42603, 1), // ESTABLISHED, the client's end
                (42603, 44992, 1), // ESTABLISHED, the accepted end on the listener's port
            ]
        );
        assert_eq!(rows(TCP.lines().next().unwrap()).count(), 0);
        assert_eq!(parse_row("   5: garbage"), None);
        assert_eq!(parse_row("0: 0100007F:1B58 0100007F:0001 01"), None); // no queues column
    }

    #[test]
    fn accept_queues_per_port() {
        assert_eq!(listen_queues([FULL_LISTENER]), BTreeMap::from([(7000, 17)]));
        assert_eq!(
            listen_queues([FULL_LISTENER, TCP6]),
            BTreeMap::from([(7000, 20)])
        );
        assert_eq!(
            listen_queues([TCP]),
            BTreeMap::from([(2024, 0), (42603, 0)])
        );
        assert_eq!(listen_queues([""]), BTreeMap::new());
    }

    #[test]
    fn one_port_by_state() {
        let s = port_states([TCP], 42603);
        assert_eq!(
            s.local,
            BTreeMap::from([("ESTABLISHED".into(), 1), ("LISTEN".into(), 1)])
        );
        assert_eq!(s.remote, BTreeMap::from([("ESTABLISHED".into(), 1)]));
        assert_eq!(s.client_ports, BTreeMap::from([("ESTABLISHED".into(), 1)]));

        let s = port_states([FULL_LISTENER, TCP6], 7000);
        assert_eq!(
            s.local,
            BTreeMap::from([("ESTABLISHED".into(), 3), ("LISTEN".into(), 2)])
        );
        assert!(s.remote.is_empty() && s.client_ports.is_empty());
        assert_eq!(port_states([TCP], 1), PortStates::default());
    }

    #[test]
    fn client_ports_are_distinct_per_state() {
        // One client port (0x9C40) connected to two destinations' port 7000, another once.
        let text = "header
   0: 0100007F:9C40 0100C6C6:1B58 01 00000000:00000000 00:00000000 00000000 0 0 1 1
   1: 0100007F:9C40 0200C6C6:1B58 01 00000000:00000000 00:00000000 00000000 0 0 2 1
   2: 0100007F:9C41 0100C6C6:1B58 01 00000000:00000000 00:00000000 00000000 0 0 3 1
   3: 0100007F:9C42 0100C6C6:1B58 05 00000000:00000000 00:00000000 00000000 0 0 0 3
";
        let s = port_states([text], 7000);
        assert_eq!(
            s.remote,
            BTreeMap::from([("ESTABLISHED".into(), 3), ("FIN_WAIT2".into(), 1)])
        );
        assert_eq!(
            s.client_ports,
            BTreeMap::from([("ESTABLISHED".into(), 2), ("FIN_WAIT2".into(), 1)])
        );
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name(1), "ESTABLISHED");
        assert_eq!(state_name(3), "SYN_RECV");
        assert_eq!(state_name(8), "CLOSE_WAIT");
        assert_eq!(state_name(10), "LISTEN");
        assert_eq!(state_name(13), "BOUND_INACTIVE");
        assert_eq!(state_name(0), "STATE_00");
        assert_eq!(state_name(0xEE), "STATE_EE");
    }

    #[test]
    fn tcp_ports_census() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1B58 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   2: 0100007F:1B58 0100007F:9C41 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   3: 0100007F:9C42 0100007F:1B58 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 0 10 -1
   4: 0100007F:9C42 0200007F:1B58 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 0 10 -1
   5: garbage
";
        let mut seen = [0u64; 1024];
        let mut c = PortCensus::default();
        parse_tcp_ports(text, (40000, 40999), &[7000], &mut seen, &mut c);
        assert_eq!(
            c,
            PortCensus {
                tw_server: 1,
                tw_client: 1,
                ephemeral_in_use: 2, // 0x9C40 and 0x9C42 (twice); 0x9C41 is the peer's
            }
        );
    }
}
