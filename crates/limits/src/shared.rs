//! The rows both roles have: descriptors per process (C12), `fs.file-max`, epoll watches, memory
//! and conntrack. When both ends of each connection are on this machine (`ends` = 2), each
//! connection counts twice against the machine-wide ones.

use super::costs::{
    CLIENT_USER_BYTES_PER_CONN, KERNEL_BYTES_PER_PAIR, KERNEL_BYTES_PER_SOCKET,
    SERVER_USER_BYTES_PER_CONN,
};
use super::facts::Facts;
use super::row::{plural, Row, Unit};
use c10m_report::fmt::{self, thousands};

/// How many processes share the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Procs {
    Count(u64),
    /// As many as the per-process fd limit needs (`--workers auto`).
    Auto,
}

/// How one role spreads its connections over processes, for the fd row.
pub(crate) struct Spread<'a> {
    pub procs: Procs,
    pub nofile: Option<u64>,
    /// Descriptors each process keeps for itself.
    pub reserve: u64,
    /// How full the automatic count plans each process.
    pub fill_percent: u64,
    /// The flag that spreads the load: `--workers`, `--processes`.
    pub flag: &'a str,
    /// Appended to the row's note.
    pub counted_note: &'a str,
}

/// Per-process descriptors (claim C12).
pub(crate) fn fd_row(f: &Facts, n: u64, spread: Spread<'_>) -> Row {
    let Spread {
        procs,
        nofile,
        reserve,
        fill_percent,
        flag,
        counted_note,
    } = spread;
    let limit = f.soft_limit_for(nofile);
    let room = limit.saturating_sub(reserve).max(1);
    let planned = (room * fill_percent / 100).max(1);
    let k = n.div_ceil(planned);
    let count = match procs {
        Procs::Count(c) => c.max(1),
        Procs::Auto => k,
    };
    let allows = room.saturating_mul(count);
    let nr_open = f.nr_open.map_or("?".into(), thousands);
    let mut row = Row::new("fds_per_process", "fds per process", Unit::Connections)
        .limit(Some(allows), Some(n));
    row.value = format!(
        "soft {} / hard {}, fs.nr_open {}, CAP_SYS_RESOURCE {}",
        thousands(f.nofile_soft),
        thousands(f.nofile_hard),
        nr_open,
        if f.cap_sys_resource { "yes" } else { "no" }
    );
    row.note = format!(
        "RLIMIT_NOFILE: one fd per connection; {} x {} fds (the limit {} minus {reserve} the \
         process keeps); the soft limit is raised to the hard one by the binary itself{}",
        plural(count, "process", "processes"),
        thousands(room),
        thousands(limit),
        counted_note
    );
    // What one process would need to hold its share on its own.
    let per = n.div_ceil(count) + reserve;
    let split = if flag == "--workers" {
        format!("{flag} {k} (or {flag} auto)")
    } else {
        format!("{flag} {k}")
    };
    row.fix = if f.cap_sys_resource {
        match f.nr_open.filter(|o| per > *o) {
            Some(o) => format!(
                "{per} fds per process is past fs.nr_open {}: sysctl -w fs.nr_open={per} then \
                 --nofile {per} (this process has CAP_SYS_RESOURCE); or {split}",
                thousands(o)
            ),
            None => format!(
                "--nofile {per} (this process has CAP_SYS_RESOURCE, so the binary raises its hard \
                 limit itself; or ulimit -Hn {per} / LimitNOFILE={per}), up to fs.nr_open {nr_open}; \
                 or {split}"
            ),
        }
    } else {
        let past_nr_open = if f.nr_open.is_some_and(|o| per > o) {
            format!(", after sysctl -w fs.nr_open={per}")
        } else {
            format!(", up to fs.nr_open {nr_open}")
        };
        format!(
            "{split}: the hard limit {} cannot be raised without CAP_SYS_RESOURCE, which this \
             process lacks; or have whoever starts it grant more (ulimit -Hn {per} as a \
             privileged user, LimitNOFILE={per} in a systemd unit, docker run --ulimit \
             nofile={per}:{per}){past_nr_open}",
            thousands(f.nofile_hard)
        )
    };
    row
}

/// `ends`: 2 when both ends of each connection live on this machine.
pub(crate) fn file_max_row(f: &Facts, n: u64, ends: u64) -> Row {
    let needed = n.saturating_mul(ends);
    let free = f.files_free();
    let mut row = Row::new("file_max", "fs.file-max", Unit::Connections);
    row.value = format!(
        "{} ({} open now)",
        f.file_max.map_or("?".into(), thousands),
        f.files_allocated.map_or("?".into(), thousands)
    );
    let both = if ends == 2 {
        "; both ends are on this machine, so each connection is 2 open files"
    } else {
        ""
    };
    row = row.limit(free.map(|fr| fr / ends), Some(n));
    if f.cap_sys_admin {
        row.binds = false;
        row.note = format!(
            "all open files of the machine (ENFILE beyond); this process has CAP_SYS_ADMIN, which \
             the kernel exempts from it, so it does not bind here (a peer without it is bound){both}"
        );
    } else {
        row.note = format!("all open files of the machine: ENFILE beyond{both}");
    }
    let target = needed + f.files_allocated.unwrap_or(0);
    row.fix = format!("sysctl -w fs.file-max={target} (or more)");
    row
}

pub(crate) fn epoll_row(f: &Facts, n: u64, ends: u64) -> Row {
    let mut row = Row::new(
        "epoll_watches",
        "fs.epoll.max_user_watches",
        Unit::Connections,
    )
    .limit(f.max_user_watches.map(|w| w / ends), Some(n));
    row.value = f.max_user_watches.map_or("?".into(), thousands);
    row.note = format!(
        "fds one user may register in epoll, across all its processes: epoll_ctl() fails with \
         ENOSPC beyond{}",
        if ends == 2 {
            "; both ends here run as this user, so each connection takes 2"
        } else {
            ""
        }
    );
    row.fix = format!(
        "sysctl -w fs.epoll.max_user_watches={}",
        n.saturating_mul(ends) + 10_000
    );
    row
}

/// `own_user`: RSS per connection of the binary asking; `loopback`: both ends here.
pub(crate) fn memory_row(f: &Facts, n: u64, own_user: f64, loopback: bool) -> Row {
    let per_conn = if loopback {
        KERNEL_BYTES_PER_PAIR + SERVER_USER_BYTES_PER_CONN + CLIENT_USER_BYTES_PER_CONN
    } else {
        KERNEL_BYTES_PER_SOCKET + own_user
    };
    let total = (n as f64 * per_conn).round() as u64;
    let allows = f.mem_available.map(|m| (m as f64 / per_conn) as u64);
    let mut row = Row::new("memory", "memory", Unit::Connections).limit(allows, Some(n));
    row.value = format!(
        "MemAvailable {}; N x {} B = {}",
        f.mem_available.map_or("?".into(), fmt::bytes),
        thousands(per_conn.round() as u64),
        fmt::bytes(total)
    );
    row.note = format!(
        "idle connections at the cost `BENCH_CONNS=1000000 make bench` measured: {} ({} B of \
         kernel slab per socket{}, {} B of user RSS per connection); traffic adds socket buffers \
         on top (tcp_mem)",
        if loopback {
            "a socket pair each, both ends being here"
        } else {
            "one socket each"
        },
        thousands(KERNEL_BYTES_PER_SOCKET.round() as u64),
        if loopback { ", 2 per connection" } else { "" },
        if loopback {
            format!("{SERVER_USER_BYTES_PER_CONN} + {CLIENT_USER_BYTES_PER_CONN}")
        } else {
            format!("{own_user}")
        }
    );
    row.fix = "free or add memory, or put the other end on another machine (half the kernel \
               memory per connection)"
        .into();
    row
}

pub(crate) fn conntrack_row(f: &Facts, n: u64) -> Option<Row> {
    let ct = f.conntrack?;
    let mut row = Row::new("conntrack", "nf_conntrack_max", Unit::Connections);
    row.value = format!(
        "{} ({} tracked now)",
        thousands(ct.max),
        ct.count.map_or("?".into(), thousands)
    );
    row.fix = format!(
        "sysctl -w net.netfilter.nf_conntrack_max={} (and nf_conntrack_buckets), or exempt the \
         port with a NOTRACK rule in the raw table",
        n + n / 4
    );
    if ct.count == Some(0) {
        row = row.limit(None, Some(n));
        row.note = "conntrack is loaded but tracks nothing now: current kernels track in a \
                    network namespace only once a stateful or NAT rule asks for it. If one \
                    does, each connection takes an entry and a full table drops new SYNs \
                    (\"nf_conntrack: table full\")"
            .into();
    } else {
        let free = ct.max.saturating_sub(ct.count.unwrap_or(0));
        row = row.limit(Some(free), Some(n));
        row.note = "conntrack is tracking: every connection takes an entry until it is gone, and \
                    a full table drops new SYNs (\"nf_conntrack: table full\")"
            .into();
    }
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, row, server};
    use crate::{first_binding, server_rows, Conntrack, Procs, ServerAsk};

    #[test]
    fn memory_and_files_can_bind_first() {
        let f = Facts {
            mem_available: Some(1 << 30),
            cap_sys_resource: true,
            ..facts()
        };
        let ask = ServerAsk {
            nofile: Some(1_000_016),
            ..server(1_000_000, Procs::Count(1))
        };
        let rows = server_rows(&f, &ask);
        let first = first_binding(&rows).unwrap();
        assert_eq!(first.key, "memory");
        // 1 GiB at 10,256.8 B per loopback connection (slab pair + both RSS figures).
        assert_eq!(first.allows, Some(104_685));
        // Remote clients: one socket per connection, half the cost and half the files.
        let remote = ServerAsk {
            loopback: false,
            ..ask.clone()
        };
        let rows = server_rows(&f, &remote);
        assert_eq!(row(&rows, "memory").allows, Some(209_522));
        assert_eq!(row(&rows, "file_max").allows, Some(2_466_177 - 343));
        // CAP_SYS_ADMIN is exempt from fs.file-max.
        let small = Facts {
            file_max: Some(100_000),
            mem_available: Some(64 << 30),
            ..f.clone()
        };
        assert_eq!(
            first_binding(&server_rows(&small, &ask)).unwrap().key,
            "file_max"
        );
        let admin = Facts {
            cap_sys_admin: true,
            ..small
        };
        assert_eq!(first_binding(&server_rows(&admin, &ask)), None);
    }

    #[test]
    fn conntrack_binds_only_when_tracking() {
        let idle = Facts {
            conntrack: Some(Conntrack {
                max: 262_144,
                count: Some(0),
            }),
            ..facts()
        };
        let rows = server_rows(&idle, &server(1_000_000, Procs::Auto));
        let ct = row(&rows, "conntrack");
        assert!(
            !ct.binds && ct.note.contains("tracks nothing"),
            "{}",
            ct.note
        );
        let busy = Facts {
            conntrack: Some(Conntrack {
                max: 262_144,
                count: Some(44),
            }),
            ..facts()
        };
        let rows = server_rows(&busy, &server(1_000_000, Procs::Auto));
        let first = first_binding(&rows).unwrap();
        assert_eq!((first.key, first.allows), ("conntrack", Some(262_100)));
        assert!(first.fix.contains("nf_conntrack_max"));
    }
}
