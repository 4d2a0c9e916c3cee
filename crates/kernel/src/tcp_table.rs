//! `/proc/net/tcp` (and `tcp6`): one line per socket of this network namespace, TIME_WAIT
//! minisockets included (state `06`), with addresses as hex `IP:PORT`. Reading it walks every
//! socket, so it is for lab-sized counts (the churn live line), never for a million.

use std::fs;
use std::io;

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

const TCP_TIME_WAIT: u8 = 0x06;
const TCP_LISTEN: u8 = 0x0A;

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
    for line in text.lines().skip(1) {
        let mut w = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(st)) =
            (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let Some(port) = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
        else {
            continue;
        };
        let Ok(state) = u8::from_str_radix(st, 16) else {
            continue;
        };
        if state == TCP_LISTEN {
            continue;
        }
        if state == TCP_TIME_WAIT {
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
