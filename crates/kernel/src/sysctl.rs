//! The kernel limits that bound connection counts, typed.
//!
//! Each knob is a sysctl, readable as a file under `/proc/sys` (dots become
//! slashes: `net.core.somaxconn` is `/proc/sys/net/core/somaxconn`). What each
//! one means for a student trying to hold a million connections:
//!
//! - `fs.file-max`: system-wide ceiling on open file structs; every socket is
//!   one. `fs.file-nr` shows `allocated  free(always 0 since 2.6)  max`.
//! - `fs.nr_open`: the highest value `RLIMIT_NOFILE`'s hard limit may be
//!   raised to (default 1,048,576), so it caps one process's descriptors.
//! - `fs.epoll.max_user_watches`: how many fds one user may register across
//!   all epoll instances; each watch costs kernel memory, so the default is
//!   about 4% of low memory divided by the cost of one watch.
//! - `net.core.somaxconn`: upper bound on a listen() backlog, i.e. the accept
//!   queue of fully established connections. Default 4096 since Linux 5.4
//!   (128 before). When it is full, `TcpExt.ListenOverflows` grows.
//! - `net.ipv4.tcp_max_syn_backlog`: bound on half-open (SYN_RECV) requests
//!   per listener; beyond it new SYNs are dropped or, with `tcp_syncookies`,
//!   answered with SYN cookies.
//! - `net.ipv4.ip_local_port_range`: ephemeral ports for outgoing connections.
//!   The default 32768-60999 is 28,232 ports, so one client IP reaches only
//!   28,232 connections to one server ip:port; more need more source IPs or
//!   more server ports.
//! - `net.ipv4.tcp_tw_reuse`: whether a new outgoing connection may take over
//!   a port still in TIME_WAIT. 0 = never, 1 = always (when timestamps prove
//!   it safe), 2 = loopback only (the default).
//! - `net.ipv4.tcp_tw_reuse_delay`: how long (ms) a TIME_WAIT socket must
//!   have waited before tw_reuse may take it (recent 6.x kernels; default
//!   1000 ms, absent on older kernels).
//! - `net.ipv4.tcp_tw_recycle`: removed in Linux 4.12 because it broke clients
//!   behind NAT; reads as `None` on modern kernels.
//! - `net.ipv4.tcp_fin_timeout`: how long an orphaned socket stays in
//!   FIN_WAIT_2. It does **not** shorten TIME_WAIT, which is
//!   `TCP_TIMEWAIT_LEN` = 60 s compiled into the kernel.
//! - `net.ipv4.tcp_max_tw_buckets`: how many TIME_WAIT sockets may exist;
//!   beyond that they are destroyed at once ("time wait bucket table
//!   overflow").
//! - `net.ipv4.tcp_mem`: `min pressure max` in **pages** (not bytes) for all
//!   TCP buffers together; compared against sockstat's `mem`. Above `max`,
//!   new buffer allocations fail and connections stall or get reset.
//! - `net.netfilter.nf_conntrack_max`: if conntrack is loaded, every
//!   connection takes a tracking entry; when the table is full, new packets
//!   are dropped ("nf_conntrack: table full"). Absent when the module is not
//!   loaded.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

/// `net.ipv4.ip_local_port_range`, inclusive on both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// Number of ports, `high - low + 1`; 0 if the range is inverted.
    pub fn count(&self) -> u32 {
        if self.high < self.low {
            0
        } else {
            u32::from(self.high) - u32::from(self.low) + 1
        }
    }
}

/// Parses `"32768\t60999\n"`.
pub fn parse_port_range(text: &str) -> Option<PortRange> {
    let mut w = text.split_whitespace();
    let low = w.next()?.parse().ok()?;
    let high = w.next()?.parse().ok()?;
    Some(PortRange { low, high })
}

/// `net.ipv4.tcp_mem`, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpMem {
    pub min: u64,
    pub pressure: u64,
    pub max: u64,
}

pub fn parse_tcp_mem(text: &str) -> Option<TcpMem> {
    let [min, pressure, max] = parse_three(text)?;
    Some(TcpMem { min, pressure, max })
}

/// `fs.file-nr`: allocated file handles, free ones (0 on modern kernels), max.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileNr {
    pub allocated: u64,
    pub free: u64,
    pub max: u64,
}

pub fn parse_file_nr(text: &str) -> Option<FileNr> {
    let [allocated, free, max] = parse_three(text)?;
    Some(FileNr {
        allocated,
        free,
        max,
    })
}

fn parse_three(text: &str) -> Option<[u64; 3]> {
    let mut w = text.split_whitespace();
    let mut next = || w.next()?.parse::<u64>().ok();
    Some([next()?, next()?, next()?])
}

/// A single-number sysctl, surrounding whitespace ignored.
pub fn parse_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The file of a sysctl: `/proc/sys/` and its name with dots turned into slashes.
pub fn sysctl_path(name: &str) -> io::Result<PathBuf> {
    if name.is_empty() || name.contains("..") || name.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad sysctl name {name:?}"),
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(name.replace('.', "/")))
}

/// Reads /proc/sys/<name with dots turned into slashes>, e.g. "net.core.somaxconn".
pub fn read_sysctl(name: &str) -> io::Result<String> {
    fs::read_to_string(sysctl_path(name)?)
}

/// Every knob above, read once; a field is `None` when its file is absent
/// or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelLimits {
    pub file_max: Option<u64>,
    pub file_nr: Option<FileNr>,
    pub nr_open: Option<u64>,
    pub epoll_max_user_watches: Option<u64>,
    pub somaxconn: Option<u64>,
    pub tcp_max_syn_backlog: Option<u64>,
    pub ip_local_port_range: Option<PortRange>,
    pub tcp_tw_reuse: Option<u64>,
    pub tcp_tw_reuse_delay: Option<u64>,
    /// Absent since Linux 4.12, so `None` on modern kernels.
    pub tcp_tw_recycle: Option<u64>,
    pub tcp_fin_timeout: Option<u64>,
    pub tcp_max_tw_buckets: Option<u64>,
    pub tcp_mem: Option<TcpMem>,
    pub nf_conntrack_max: Option<u64>,
}

fn sysctl_with<T>(name: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    read_sysctl(name).ok().as_deref().and_then(parse)
}

impl KernelLimits {
    /// Never fails: what cannot be read stays `None`.
    pub fn read() -> KernelLimits {
        let num = |name: &str| sysctl_with(name, parse_u64);
        KernelLimits {
            file_max: num("fs.file-max"),
            file_nr: sysctl_with("fs.file-nr", parse_file_nr),
            nr_open: num("fs.nr_open"),
            epoll_max_user_watches: num("fs.epoll.max_user_watches"),
            somaxconn: num("net.core.somaxconn"),
            tcp_max_syn_backlog: num("net.ipv4.tcp_max_syn_backlog"),
            ip_local_port_range: sysctl_with("net.ipv4.ip_local_port_range", parse_port_range),
            tcp_tw_reuse: num("net.ipv4.tcp_tw_reuse"),
            tcp_tw_reuse_delay: num("net.ipv4.tcp_tw_reuse_delay"),
            tcp_tw_recycle: num("net.ipv4.tcp_tw_recycle"),
            tcp_fin_timeout: num("net.ipv4.tcp_fin_timeout"),
            tcp_max_tw_buckets: num("net.ipv4.tcp_max_tw_buckets"),
            tcp_mem: sysctl_with("net.ipv4.tcp_mem", parse_tcp_mem),
            nf_conntrack_max: num("net.netfilter.nf_conntrack_max"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range() {
        let r = parse_port_range("32768\t60999\n").unwrap();
        assert_eq!(
            r,
            PortRange {
                low: 32768,
                high: 60999
            }
        );
        assert_eq!(r.count(), 28_232);
        assert_eq!(
            PortRange {
                low: 1,
                high: 65535
            }
            .count(),
            65535
        );
        assert_eq!(PortRange { low: 10, high: 9 }.count(), 0);
        assert_eq!(parse_port_range("32768"), None);
        assert_eq!(parse_port_range("1 70000"), None);
        assert_eq!(parse_port_range(""), None);
    }

    #[test]
    fn tcp_mem() {
        assert_eq!(
            parse_tcp_mem("287901\t383868\t575802\n"),
            Some(TcpMem {
                min: 287901,
                pressure: 383868,
                max: 575802
            })
        );
        assert_eq!(parse_tcp_mem("1 2"), None);
    }

    #[test]
    fn file_nr() {
        assert_eq!(
            parse_file_nr("351\t0\t2466177\n"),
            Some(FileNr {
                allocated: 351,
                free: 0,
                max: 2466177
            })
        );
        assert_eq!(parse_file_nr("a b c"), None);
    }

    #[test]
    fn single_numbers() {
        assert_eq!(parse_u64("4096\n"), Some(4096));
        assert_eq!(parse_u64(" 9223372036854775807 \n"), Some(i64::MAX as u64));
        assert_eq!(parse_u64("-1\n"), None);
        assert_eq!(parse_u64(""), None);
    }

    #[test]
    fn sysctl_names() {
        assert_eq!(
            sysctl_path("net.core.somaxconn").unwrap(),
            PathBuf::from("/proc/sys/net/core/somaxconn")
        );
        assert!(sysctl_path("../etc").is_err());
        assert!(read_sysctl("").is_err());
    }

    #[test]
    fn read_does_not_fail() {
        let k = KernelLimits::read();
        if std::path::Path::new("/proc/sys/fs/nr_open").exists() {
            assert!(k.nr_open.is_some());
        }
    }
}
