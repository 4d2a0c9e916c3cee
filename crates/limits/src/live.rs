//! Every row of `--check` as a live gauge on the dashboard: how much of the limit a run uses now.
//!
//! `--check` says, before a run, how many connections each limit allows. During the run the
//! same limits fill up: descriptors in the fullest process against its RLIMIT_NOFILE, the
//! machine's open files against `fs.file-max`, ports in use per (source, destination) pair
//! against the port range, MemAvailable against the memory guard, conntrack entries against
//! `nf_conntrack_max`, socket buffers against `tcp_mem`'s pressure mark. A gauge's `share` is
//! used over limit, so the one nearest 1 is the limit the run meets first, and its `knob` is the
//! row's own fix, in the words `--check` uses. The listen queues bound bursts, not a count: their
//! gauges are 1 while `ListenOverflows` or `ListenDrops` rise (the queue is dropping handshakes
//! now) and 0 otherwise.
//!
//! [`gauges`] is pure: the binaries read the facts and what they hold (on the dashboard's thread)
//! and hand both in.

use c10m_kernel::memory::MemInfo;
use c10m_report::dashboard::Gauge;
use c10m_report::fmt::{self, thousands};
use c10m_sys::errno;

use super::facts::Facts;
use super::row::Row;

/// The listen queue's drop counters (TcpExt in /proc/net/netstat), and how much they rose over
/// the last interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenDrops {
    pub overflows: u64,
    pub drops: u64,
    pub overflows_rose: u64,
    pub drops_rose: u64,
}

/// What a run holds now, as far as the limits care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Descriptors open in the fullest process, and its soft limit.
    pub fds: u64,
    pub fd_limit: u64,
    /// `the process`, `the fullest worker`, `the fullest process`.
    pub fds_of: &'static str,
    /// Connections this binary holds (all its processes).
    pub conns: u64,
    /// 2 when both ends of each connection are on this machine.
    pub ends: u64,
    /// The client's ports in use in the fullest (source, destination) pair, and ports per pair.
    pub ports: Option<(u64, u64)>,
    /// The client's memory guard: MemAvailable less reclaimable slab is kept above this.
    pub guard: Option<u64>,
    pub tcp_mem_pages: u64,
    pub tcp_tw: u64,
    /// The server's listen queues.
    pub listen: Option<ListenDrops>,
}

fn gauge(row: &Row, used: Option<f64>, limit: Option<f64>, reading: String) -> Gauge {
    let share = match (used, limit) {
        (Some(u), Some(l)) if l > 0.0 => Some(u / l),
        _ => None,
    };
    Gauge {
        key: row.key.to_string(),
        name: row.name.to_string(),
        used,
        limit,
        share,
        reading,
        value: row.value.clone(),
        knob: row.fix.clone(),
        binds_with: binds_with(row.key).to_string(),
    }
}

/// What the binaries say when the row's limit binds.
fn binds_with(key: &str) -> &'static str {
    match key {
        "fds_per_process" => errno::meaning(errno::EMFILE),
        "file_max" => errno::meaning(errno::ENFILE),
        "epoll_watches" => {
            "epoll_ctl() fails with ENOSPC: the connection cannot be watched and is closed"
        }
        "memory" => {
            "the client's memory guard stops the ramp at --min-mem-available and holds what is \
             open; without it the kernel's OOM killer ends processes"
        }
        "tcp_mem" => errno::meaning(errno::ENOBUFS),
        "accept_queue" | "syn_backlog" => errno::meaning(errno::ETIMEDOUT),
        "conntrack" => {
            "new SYNs are dropped (\"nf_conntrack: table full\" in the kernel log), so connects \
             time out: ETIMEDOUT"
        }
        "ports" | "time_wait" | "tw_reuse" => errno::meaning(errno::EADDRNOTAVAIL),
        _ => "see --check",
    }
}

fn of(used: u64, limit: u64, what: &str) -> String {
    format!("{} of {} {what}", thousands(used), thousands(limit))
}

/// One gauge per row of `rows` (the binary's `--check` rows for this run), from the facts and
/// meminfo read now and what the run holds.
pub fn gauges(rows: &[Row], f: &Facts, mem: &MemInfo, u: &Usage) -> Vec<Gauge> {
    rows.iter().map(|row| live(row, f, mem, u)).collect()
}

fn live(row: &Row, f: &Facts, mem: &MemInfo, u: &Usage) -> Gauge {
    let some = |v: u64| Some(v as f64);
    match row.key {
        "fds_per_process" => gauge(
            row,
            some(u.fds),
            some(u.fd_limit),
            of(u.fds, u.fd_limit, &format!("descriptors in {}", u.fds_of)),
        ),
        "file_max" => match (f.files_allocated, f.file_max) {
            (Some(a), Some(m)) if f.cap_sys_admin => gauge(
                row,
                None,
                None,
                format!(
                    "{}; this process has CAP_SYS_ADMIN, which the kernel exempts",
                    of(a, m, "files open on the machine")
                ),
            ),
            (Some(a), Some(m)) => gauge(
                row,
                some(a),
                some(m),
                of(a, m, "files open on the machine (fs.file-nr)"),
            ),
            _ => gauge(row, None, None, "fs.file-nr unreadable".into()),
        },
        "epoll_watches" => {
            let used = u.conns.saturating_mul(u.ends);
            let reading = match f.max_user_watches {
                Some(m) => of(
                    used,
                    m,
                    if u.ends == 2 {
                        "watches (both ends' connections)"
                    } else {
                        "watches"
                    },
                ),
                None => "fs.epoll.max_user_watches unreadable".into(),
            };
            gauge(
                row,
                some(used),
                f.max_user_watches.map(|m| m as f64),
                reading,
            )
        }
        "memory" => {
            // As the memory guard counts it: reclaimable slab is not free for sockets, which pin
            // their own inodes and dentries.
            let floor = u.guard.unwrap_or(0);
            let total = mem.mem_total;
            let used = total.saturating_sub(mem.available_for_sockets());
            let limit = total.saturating_sub(floor);
            let reading = match u.guard {
                Some(g) => format!(
                    "{} of {} used (MemTotal less MemAvailable; the memory guard stops at {} available)",
                    fmt::bytes(used),
                    fmt::bytes(limit),
                    fmt::bytes(g)
                ),
                None => format!(
                    "{} of {} used (MemTotal less MemAvailable less reclaimable slab)",
                    fmt::bytes(used),
                    fmt::bytes(total)
                ),
            };
            gauge(
                row,
                some(used),
                (total > 0).then_some(limit as f64),
                reading,
            )
        }
        "tcp_mem" => match f.tcp_mem {
            Some(m) => gauge(
                row,
                some(u.tcp_mem_pages),
                some(m.pressure),
                format!(
                    "{} of {} of socket buffers (sockstat mem against tcp_mem's pressure mark)",
                    fmt::bytes(u.tcp_mem_pages * f.page_size),
                    fmt::bytes(m.pressure * f.page_size)
                ),
            ),
            None => gauge(row, None, None, "tcp_mem unreadable".into()),
        },
        "accept_queue" | "syn_backlog" => {
            let Some(l) = u.listen else {
                return gauge(row, None, None, "netstat unreadable".into());
            };
            let (rose, total, name) = if row.key == "accept_queue" {
                (l.overflows_rose, l.overflows, "ListenOverflows")
            } else {
                (l.drops_rose, l.drops, "ListenDrops")
            };
            gauge(
                row,
                some(u64::from(rose > 0)),
                Some(1.0),
                format!(
                    "{name} {} ({}): {}",
                    thousands(total),
                    if rose > 0 {
                        format!("+{} in the last second", thousands(rose))
                    } else {
                        "not rising".into()
                    },
                    if rose > 0 {
                        "handshakes are being dropped now"
                    } else {
                        "no handshake dropped now"
                    }
                ),
            )
        }
        "conntrack" => match f.conntrack {
            Some(ct) if ct.count.unwrap_or(0) > 0 => {
                let c = ct.count.unwrap_or(0);
                gauge(
                    row,
                    some(c),
                    some(ct.max),
                    of(c, ct.max, "conntrack entries"),
                )
            }
            Some(_) => gauge(
                row,
                None,
                None,
                "conntrack is loaded but tracks nothing here".into(),
            ),
            None => gauge(row, None, None, "conntrack is not loaded".into()),
        },
        "ports" => match u.ports {
            Some((used, ports)) => gauge(
                row,
                some(used),
                some(ports),
                of(
                    used,
                    ports,
                    "ports of the fullest (source, destination) pair",
                ),
            ),
            None => gauge(row, None, None, "-".into()),
        },
        "time_wait" => match f.tcp_max_tw_buckets {
            Some(m) => gauge(
                row,
                some(u.tcp_tw),
                some(m),
                of(u.tcp_tw, m, "TIME_WAIT sockets (tcp_max_tw_buckets)"),
            ),
            None => gauge(row, None, None, "-".into()),
        },
        _ => gauge(row, None, None, row.value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, server};
    use crate::{server_rows, Procs};
    use c10m_report::dashboard::nearest;

    #[test]
    fn the_fullest_descriptor_room_is_nearest_with_its_knob() {
        let f = facts();
        let rows = server_rows(&f, &server(19_984, Procs::Count(1)));
        let mem = MemInfo {
            mem_total: 24 << 30,
            mem_available: 20 << 30,
            ..MemInfo::default()
        };
        let u = Usage {
            fds: 19_996,
            fd_limit: 20_000,
            fds_of: "the process",
            conns: 19_984,
            ends: 2,
            tcp_mem_pages: 10,
            listen: Some(ListenDrops::default()),
            ..Usage::default()
        };
        let g = gauges(&rows, &f, &mem, &u);
        assert_eq!(g.len(), rows.len());
        let near = nearest(&g).unwrap();
        assert_eq!(near.key, "fds_per_process");
        assert!(near.knob.contains("--workers"), "{}", near.knob);
        assert!(near.binds_with.contains("RLIMIT_NOFILE"));
        let queue = g.iter().find(|g| g.key == "accept_queue").unwrap();
        assert_eq!(queue.share, Some(0.0));
        // A rising overflow count binds now.
        let rising = Usage {
            listen: Some(ListenDrops {
                overflows: 5,
                overflows_rose: 5,
                ..ListenDrops::default()
            }),
            ..u
        };
        let g = gauges(&rows, &f, &mem, &rising);
        assert_eq!(nearest(&g).unwrap().key, "accept_queue");
    }
}
