//! The server's rules: fds, files, epoll, memory, socket buffers (`tcp_mem`), the two listen
//! queues (C14), conntrack.

use super::costs::SERVER_USER_BYTES_PER_CONN;
use super::facts::Facts;
use super::row::{Row, Unit};
use super::shared::{conntrack_row, epoll_row, fd_row, file_max_row, memory_row, Procs, Spread};
use c10m_report::fmt::{self, thousands};

/// What `c10m-server --check` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAsk {
    pub connections: u64,
    pub workers: Procs,
    /// `--backlog`; `None`: somaxconn, the server's default.
    pub backlog: Option<u64>,
    /// `--nofile`; `None`: the hard limit, the server's default.
    pub nofile: Option<u64>,
    /// Listening on a loopback address: the clients' sockets are on this machine too.
    pub loopback: bool,
    /// Descriptors a worker keeps for itself (the server's `FDS_PER_WORKER`).
    pub reserve: u64,
    /// Share of a worker's room `--workers auto` fills (the server's `AUTO_FILL_PERCENT`).
    pub auto_fill_percent: u64,
}

/// The server role: fds, files, epoll, memory, buffers, the two listen queues, conntrack.
pub fn server_rows(f: &Facts, ask: &ServerAsk) -> Vec<Row> {
    let n = ask.connections;
    let ends = if ask.loopback { 2 } else { 1 };
    let auto_note = match ask.workers {
        Procs::Auto => format!(
            "; --workers auto plans each worker at {}% of its room",
            ask.auto_fill_percent
        ),
        Procs::Count(_) => String::new(),
    };
    let mut rows = vec![
        fd_row(
            f,
            n,
            Spread {
                procs: ask.workers,
                nofile: ask.nofile,
                reserve: ask.reserve,
                fill_percent: ask.auto_fill_percent,
                flag: "--workers",
                counted_note: &auto_note,
            },
        ),
        file_max_row(f, n, ends),
        epoll_row(f, n, ends),
        memory_row(f, n, SERVER_USER_BYTES_PER_CONN, ask.loopback),
        tcp_mem_row(f, n),
    ];
    let backlog = accept_queue(f, ask.backlog);
    let mut queue = accept_queue_row(f, ask.backlog, backlog);
    if ask.workers != Procs::Count(1) {
        queue
            .note
            .push_str("; each worker's own listener (SO_REUSEPORT) has its own queue");
    }
    rows.push(queue);
    rows.push(syn_backlog_row(f, backlog));
    rows.extend(conntrack_row(f, n));
    rows
}

/// The listen backlog the kernel grants: `min(backlog, somaxconn)`.
fn accept_queue(f: &Facts, backlog: Option<u64>) -> Option<u64> {
    match (backlog, f.somaxconn) {
        (Some(b), Some(s)) => Some(b.min(s)),
        (None, s) => s,
        (b, None) => b,
    }
}

fn tcp_mem_row(f: &Facts, n: u64) -> Row {
    let mut row = Row::new("tcp_mem", "net.ipv4.tcp_mem", Unit::Connections);
    let page = f.page_size;
    match f.tcp_mem {
        Some(m) => {
            let pressure = m.pressure.saturating_mul(page);
            row.value = format!(
                "pressure {}, max {} ({} / {} pages)",
                fmt::bytes(pressure),
                fmt::bytes(m.max.saturating_mul(page)),
                thousands(m.pressure),
                thousands(m.max)
            );
            row.note = format!(
                "buffers of all TCP sockets together (sockstat mem), not connections: an idle \
                 socket holds none. Across {} connections, pressure starts at ~{} of queued data \
                 each",
                thousands(n),
                fmt::bytes(pressure / n.max(1))
            );
        }
        None => {
            row.value = "?".into();
            row.note = "buffers of all TCP sockets together, not connections".into();
        }
    }
    row.fix = "sysctl -w net.ipv4.tcp_mem='MIN PRESSURE MAX' (in pages)".into();
    row
}

fn accept_queue_row(f: &Facts, asked: Option<u64>, granted: Option<u64>) -> Row {
    let mut row =
        Row::new("accept_queue", "somaxconn vs backlog", Unit::Queued).limit(granted, None);
    let some = f.somaxconn.map_or("?".into(), thousands);
    row.value = match asked {
        None => format!("somaxconn {some}, backlog = somaxconn (the server's default)"),
        Some(b) if f.somaxconn.is_some_and(|s| b > s) => {
            format!("somaxconn {some}, --backlog {} clamped to it", thousands(b))
        }
        Some(b) => format!("somaxconn {some}, --backlog {}", thousands(b)),
    };
    row.note = format!(
        "each listener's accept queue: finished handshakes not yet accept()ed. It bounds a \
         burst, not how many connections are held: past {} at once the kernel drops the \
         handshake's last ACK (TcpExt.ListenOverflows) and the client's SYN is retried",
        granted.map_or("?".into(), thousands)
    );
    row.fix = "sysctl -w net.core.somaxconn=M and --backlog M".into();
    row
}

fn syn_backlog_row(f: &Facts, backlog: Option<u64>) -> Row {
    let cookies = f.tcp_syncookies.unwrap_or(1);
    let msb = f.tcp_max_syn_backlog;
    let allows = if cookies == 0 {
        // Without cookies the last quarter is kept for peers proven alive.
        match (msb.map(|m| m - m / 4), backlog) {
            (Some(m), Some(b)) => Some(m.min(b)),
            (m, b) => m.or(b),
        }
    } else {
        backlog
    };
    let mut row = Row::new("syn_backlog", "tcp_max_syn_backlog", Unit::Queued).limit(allows, None);
    row.value = format!(
        "{}, tcp_syncookies {}",
        msb.map_or("?".into(), thousands),
        f.tcp_syncookies.map_or("?".into(), |c| c.to_string())
    );
    row.note = if cookies == 0 {
        "half-open (SYN_RECV) requests per listener; with syncookies off, SYNs from unproven \
         peers are dropped once 3/4 of tcp_max_syn_backlog is used. A burst bound, not a \
         concurrency bound"
            .into()
    } else {
        "half-open (SYN_RECV) requests per listener: bounded by the listen backlog, and past it \
         SYN cookies answer instead of dropping (tcp_max_syn_backlog only counts with \
         syncookies off). A burst bound, not a concurrency bound"
            .into()
    };
    row.fix =
        "sysctl -w net.ipv4.tcp_max_syn_backlog=M (with syncookies 0), and the backlog".into();
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, row, server};
    use crate::{first_binding, verdict_line};

    #[test]
    fn server_without_cap_sys_resource_names_workers() {
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Count(1)));
        let first = first_binding(&rows).unwrap();
        assert_eq!(first.key, "fds_per_process");
        assert_eq!(first.allows, Some(19_984));
        // 17,985 per worker at 90% of 19,984: 56 workers, as the 1,000,000 bench used.
        assert!(first.fix.starts_with("--workers 56"), "{}", first.fix);
        assert!(
            first
                .fix
                .contains("cannot be raised without CAP_SYS_RESOURCE"),
            "{}",
            first.fix
        );
        // Only the fd row binds: files, watches and memory fit a loopback million here.
        let binding: Vec<_> = rows.iter().filter(|r| r.binds).map(|r| r.key).collect();
        assert_eq!(binding, ["fds_per_process"]);
        assert_eq!(row(&rows, "file_max").allows, Some((2_466_177 - 343) / 2));
        let v = verdict_line(&rows, 1_000_000);
        assert!(v.starts_with("first binding limit: fds per process"), "{v}");
        assert!(v.contains("do: --workers 56"), "{v}");
    }

    #[test]
    fn server_with_cap_sys_resource_says_how_to_raise() {
        let f = Facts {
            cap_sys_resource: true,
            ..facts()
        };
        let rows = server_rows(&f, &server(1_000_000, Procs::Count(1)));
        let first = first_binding(&rows).unwrap();
        assert_eq!(first.key, "fds_per_process");
        for want in [
            "--nofile 1000016",
            "ulimit -Hn 1000016",
            "LimitNOFILE=",
            "fs.nr_open",
        ] {
            assert!(first.fix.contains(want), "{want}: {}", first.fix);
        }
        // Asking for it with --nofile: the binary raises its own hard limit, nothing binds.
        let ask = ServerAsk {
            nofile: Some(1_000_016),
            ..server(1_000_000, Procs::Count(1))
        };
        let rows = server_rows(&f, &ask);
        assert_eq!(first_binding(&rows), None);
        // Past fs.nr_open even the capability is not enough.
        let rows = server_rows(&f, &server(2_000_000, Procs::Count(1)));
        let fd = row(&rows, "fds_per_process");
        assert!(
            fd.fix.contains("sysctl -w fs.nr_open=2000016"),
            "{}",
            fd.fix
        );
        // Without the capability, --nofile above the hard limit changes nothing.
        let rows = server_rows(&facts(), &ask);
        assert_eq!(row(&rows, "fds_per_process").allows, Some(19_984));
    }

    #[test]
    fn workers_auto_or_enough_workers_unbind_the_fd_row() {
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Auto));
        let fd = row(&rows, "fds_per_process");
        assert!(!fd.binds);
        assert_eq!(fd.allows, Some(56 * 19_984));
        assert_eq!(first_binding(&rows), None);
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Count(51)));
        assert!(!row(&rows, "fds_per_process").binds);
        let v = verdict_line(&rows, 1_000_000);
        assert_eq!(v, "nothing binds for 1,000,000 connections on this machine");
    }

    #[test]
    fn queues_bound_bursts_and_never_bind() {
        let ask = ServerAsk {
            backlog: Some(65_535),
            ..server(100, Procs::Count(1))
        };
        let rows = server_rows(&facts(), &ask);
        let q = row(&rows, "accept_queue");
        assert_eq!(
            (q.allows, q.unit, q.binds),
            (Some(4096), Unit::Queued, false)
        );
        assert!(q.value.contains("clamped"), "{}", q.value);
        let syn = row(&rows, "syn_backlog");
        assert_eq!((syn.allows, syn.binds), (Some(4096), false));
        let off = Facts {
            tcp_syncookies: Some(0),
            ..facts()
        };
        let rows = server_rows(&off, &ask);
        assert_eq!(row(&rows, "syn_backlog").allows, Some(1536));
    }
}
