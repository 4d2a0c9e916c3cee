//! `--check`: every limit that bounds N connections on this machine, one row each, and the first
//! one that binds.
//!
//! The seed's table of limits (claims C5, C8-C14), computed instead of recited. [`Facts`] holds
//! the numbers read from the machine (rlimits, the effective capabilities, sysctls, meminfo);
//! [`Facts::read`] is the only part that touches the system. [`server_rows`] and [`client_rows`]
//! are pure: given the facts and what is asked for ([`ServerAsk`], [`ClientAsk`]) they return one
//! [`Row`] per limit with its value, how much it allows, whether it binds for the ask, what it
//! means and the command that moves it. So every verdict can be tested on made-up facts.
//!
//! # What "allows" counts
//! Most rows allow a number of **connections** (fds, files, epoll watches, memory, ports,
//! conntrack entries). The listen queues allow a **burst**: how many handshakes may wait for
//! `accept()` at once; they never bind for N, because they bound arrivals, not how many
//! connections are held. The TIME_WAIT row allows a **rate**: the churn of short connections per
//! second the port range sustains. A row binds when what it allows is less than what is asked
//! (`needs`: N connections, or the churn rate R).
//!
//! # Which limit binds first
//! [`first_binding`]: among the rows that bind, the one that covers the smallest share of its ask
//! (`allows / needs`, compared exactly); for rows counting connections that is simply the one
//! that allows the fewest. On a tie the earlier row in table order wins, and the tables list the
//! per-process fd limit first, because it is the one a student meets first (EMFILE).
//!
//! # Both ends on one machine
//! When the connections stay on loopback (a server listening on a loopback address, a client with
//! only loopback targets), both ends live here: each connection is two sockets, two fds counted
//! by `fs.file-max`, two epoll watches of the same user, and a socket pair's worth of kernel
//! memory. The rows then count both ends, and say so.
//!
//! # The parts
//! - [`facts`]: what is read from the machine, once; the run-time planning of both binaries
//!   reads the same [`Facts`].
//! - [`costs`]: the bytes per connection the memory rows plan with, and TIME_WAIT's length.
//! - [`row`]: one limit ([`Row`]) and [`first_binding`].
//! - [`shared`]: the rows both roles have (fds, files, epoll watches, memory, conntrack).
//! - [`server`], [`client`]: each role's rules; [`tun`]: the client's with `--engine tun`.
//! - [`render`]: the table and the JSON object.
//! - [`live`]: the same rows as live gauges of what a run uses, for the dashboard.
//! - [`rlimit`]: RLIMIT_NOFILE raised as far as the kernel allows, with the knob that binds.

mod client;
mod costs;
mod facts;
pub mod live;
mod render;
pub mod rlimit;
mod row;
mod server;
mod shared;
pub mod sizing;
mod tun;

pub use client::{client_rows, ClientAsk, Close};
pub use costs::{
    memory_kept_free, CpuCost, CLIENT_USER_BYTES_PER_CONN, KERNEL_BYTES_PER_PAIR,
    KERNEL_BYTES_PER_SOCKET, SERVER_USER_BYTES_PER_CONN, TIME_WAIT_SECS,
};
pub use facts::{Conntrack, Facts};
pub use render::{print, render, table_lines, verdict_line, CheckJson};
pub use row::{first_binding, Row, Unit};
pub use server::{server_rows, ServerAsk};
pub use shared::Procs;
pub use tun::{tun_client_rows, TUN_CLIENT_BYTES_PER_CONN};

/// The facts and asks the tests of every part start from.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use c10m_kernel::sysctl::{PortRange, TcpMem};

    /// This machine's shape: root without CAP_SYS_RESOURCE, hard limit 20,000, 24 GiB.
    pub(crate) fn facts() -> Facts {
        Facts {
            nofile_soft: 20_000,
            nofile_hard: 20_000,
            cap_sys_resource: false,
            cap_sys_admin: false,
            nr_open: Some(1_048_576),
            file_max: Some(2_466_177),
            files_allocated: Some(343),
            max_user_watches: Some(5_491_511),
            mem_available: Some(24 << 30),
            page_size: 4096,
            somaxconn: Some(4096),
            tcp_max_syn_backlog: Some(2048),
            tcp_syncookies: Some(1),
            tcp_mem: Some(TcpMem {
                min: 287_901,
                pressure: 383_868,
                max: 575_802,
            }),
            conntrack: None,
            port_range: Some(PortRange {
                low: 32768,
                high: 60999,
            }),
            tcp_tw_reuse: Some(2),
            tcp_tw_reuse_delay_ms: Some(1000),
            tcp_timestamps: Some(1),
            tcp_fin_timeout: Some(60),
            tcp_max_tw_buckets: Some(131_072),
        }
    }

    pub(crate) fn server(n: u64, workers: Procs) -> ServerAsk {
        ServerAsk {
            connections: n,
            workers,
            backlog: None,
            nofile: None,
            loopback: true,
            reserve: 16,
            auto_fill_percent: 90,
        }
    }

    pub(crate) fn client(n: u64) -> ClientAsk {
        ClientAsk {
            connections: n,
            processes: None,
            nofile: None,
            reserve: 16,
            targets: 1,
            sources: 79,
            sources_chosen: true,
            knee: Some(12_704),
            loopback: true,
            churn_rate: None,
            close: Close::Fin,
        }
    }

    pub(crate) fn row<'a>(rows: &'a [Row], key: &str) -> &'a Row {
        rows.iter().find(|r| r.key == key).expect(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_table_order_and_shares_compare_exactly() {
        let mk = |key, allows, needs, unit| Row {
            binds: true,
            ..Row::new(key, key, unit).limit(Some(allows), Some(needs))
        };
        let rows = vec![
            mk("a", 500, 1000, Unit::Connections),
            mk("b", 500, 1000, Unit::Connections),
            mk("c", 47, 100, Unit::PerSecond),
        ];
        assert_eq!(first_binding(&rows).unwrap().key, "c");
        assert_eq!(first_binding(&rows[..2]).unwrap().key, "a");
        assert_eq!(first_binding(&[]), None);
    }
}
