//! How many connections the server plans to hold in each process, and the limits question it
//! asks for them: what `--check`, `--workers auto` and the dashboard's limits panel share.
//!
//! Each worker is one process with its own RLIMIT_NOFILE: a connection is one descriptor, and a
//! worker keeps [`FDS_PER_WORKER`] for itself. With SO_REUSEPORT the kernel hashes each new
//! connection to a listener whatever its worker holds, so `--workers auto` fills only
//! [`AUTO_FILL_PERCENT`] of each worker's room and keeps the rest as head-room.

use c10m_cli::addr;
use c10m_limits::{Procs, ServerAsk};

use crate::cli::{Config, Workers};

/// Descriptors a worker keeps for itself (stdio, epoll, listener, /proc files, reserve).
pub(crate) const FDS_PER_WORKER: u64 = 16;
/// Share of a worker's fd room that `--workers auto` plans to fill.
pub(crate) const AUTO_FILL_PERCENT: u64 = 90;

/// How many workers serve `max_conns`, each under soft limit `fd_soft`.
pub(crate) fn count(workers: Workers, max_conns: Option<u64>, fd_soft: u64) -> usize {
    match workers {
        Workers::Count(n) => n as usize,
        Workers::Auto => {
            let room = fd_soft.saturating_sub(FDS_PER_WORKER).max(1);
            let per = (room * AUTO_FILL_PERCENT / 100).max(1);
            max_conns.unwrap_or(per).div_ceil(per) as usize
        }
    }
}

/// The limits question for `connections` served the way `config` says.
pub(crate) fn ask(config: &Config, connections: u64) -> ServerAsk {
    ServerAsk {
        connections,
        workers: match config.workers {
            Workers::Count(c) => Procs::Count(u64::from(c)),
            Workers::Auto => Procs::Auto,
        },
        backlog: config.backlog.map(|b| b.max(0) as u64),
        nofile: config.nofile,
        loopback: addr::is_loopback(config.listen.ip()),
        reserve: FDS_PER_WORKER,
        auto_fill_percent: AUTO_FILL_PERCENT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_enough_workers_at_90_percent() {
        assert_eq!(count(Workers::Count(3), None, 20_000), 3);
        // (20,000 - 16) x 90% = 17,985 per worker.
        assert_eq!(count(Workers::Auto, Some(1_000_000), 20_000), 56);
        assert_eq!(count(Workers::Auto, Some(17_985), 20_000), 1);
        assert_eq!(count(Workers::Auto, Some(17_986), 20_000), 2);
    }
}
