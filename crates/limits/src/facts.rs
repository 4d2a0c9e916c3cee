//! What `--check` and the run-time planning of both binaries read from the machine: rlimits, the
//! effective capabilities, sysctls, meminfo. [`Facts::read`] is the only part of the check that
//! touches the system; everything else is computed from its result.

use std::io;

use c10m_kernel::caps;
use c10m_kernel::memory;
use c10m_kernel::sysctl::{self, KernelLimits, PortRange, TcpMem};
use c10m_sys::{mem, nofile};

/// conntrack's table: present only when `nf_conntrack` is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conntrack {
    pub max: u64,
    /// `nf_conntrack_count`: entries now.
    pub count: Option<u64>,
}

/// Everything the rows are computed from, read once from this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub nofile_soft: u64,
    pub nofile_hard: u64,
    /// CAP_SYS_RESOURCE in this process's effective set (in the initial user namespace): may
    /// raise the hard limit.
    pub cap_sys_resource: bool,
    /// CAP_SYS_ADMIN, likewise: exempt from `fs.file-max`.
    pub cap_sys_admin: bool,
    pub nr_open: Option<u64>,
    pub file_max: Option<u64>,
    /// `fs.file-nr`'s first field: files open on the whole machine now.
    pub files_allocated: Option<u64>,
    pub max_user_watches: Option<u64>,
    /// Bytes.
    pub mem_available: Option<u64>,
    pub page_size: u64,
    pub somaxconn: Option<u64>,
    pub tcp_max_syn_backlog: Option<u64>,
    pub tcp_syncookies: Option<u64>,
    pub tcp_mem: Option<TcpMem>,
    pub conntrack: Option<Conntrack>,
    pub port_range: Option<PortRange>,
    pub tcp_tw_reuse: Option<u64>,
    pub tcp_tw_reuse_delay_ms: Option<u64>,
    pub tcp_timestamps: Option<u64>,
    pub tcp_fin_timeout: Option<u64>,
    pub tcp_max_tw_buckets: Option<u64>,
}

impl Facts {
    /// Reads this process's limits and the machine's knobs. Only the rlimit read can fail; a
    /// missing file leaves its field `None` (a missing `CapEff` line reads as no capabilities).
    pub fn read() -> io::Result<Facts> {
        let (soft, hard) = nofile::get()?;
        // Capabilities of a child user namespace do not count for capable().
        let caps = if caps::in_initial_user_ns() {
            caps::read_cap_eff().unwrap_or(0)
        } else {
            0
        };
        let k = KernelLimits::read();
        let num = |name: &str| {
            sysctl::read_sysctl(name)
                .ok()
                .as_deref()
                .and_then(sysctl::parse_u64)
        };
        let mem = memory::read_meminfo().ok();
        Ok(Facts {
            nofile_soft: soft,
            nofile_hard: hard,
            cap_sys_resource: caps::has_cap(caps, caps::CAP_SYS_RESOURCE),
            cap_sys_admin: caps::has_cap(caps, caps::CAP_SYS_ADMIN),
            nr_open: k.nr_open,
            file_max: k.file_max,
            files_allocated: k.file_nr.map(|f| f.allocated),
            max_user_watches: k.epoll_max_user_watches,
            mem_available: mem.map(|m| m.mem_available).filter(|b| *b > 0),
            page_size: mem::page_size(),
            somaxconn: k.somaxconn,
            tcp_max_syn_backlog: k.tcp_max_syn_backlog,
            tcp_syncookies: num("net.ipv4.tcp_syncookies"),
            tcp_mem: k.tcp_mem,
            conntrack: k.nf_conntrack_max.map(|max| Conntrack {
                max,
                count: num("net.netfilter.nf_conntrack_count"),
            }),
            port_range: k.ip_local_port_range,
            tcp_tw_reuse: k.tcp_tw_reuse,
            tcp_tw_reuse_delay_ms: k.tcp_tw_reuse_delay,
            tcp_timestamps: num("net.ipv4.tcp_timestamps"),
            tcp_fin_timeout: k.tcp_fin_timeout,
            tcp_max_tw_buckets: k.tcp_max_tw_buckets,
        })
    }

    /// [`Facts::read`] for `--check`: on failure, the message and exit status 1.
    pub fn read_for_check() -> Result<Facts, std::process::ExitCode> {
        Facts::read().map_err(|e| {
            log::error!("cannot read RLIMIT_NOFILE: {e}");
            std::process::ExitCode::from(1)
        })
    }

    /// The soft limit each process runs with: the hard limit by default; `--nofile` above the
    /// hard limit only with CAP_SYS_RESOURCE and up to `fs.nr_open` (else the binary settles for
    /// the hard limit, as `rlimit::raise_nofile` does).
    pub fn soft_limit_for(&self, nofile: Option<u64>) -> u64 {
        match nofile {
            None => self.nofile_hard,
            Some(x) if x <= self.nofile_hard => x,
            Some(x) if self.cap_sys_resource && self.nr_open.is_none_or(|n| x <= n) => x,
            Some(_) => self.nofile_hard,
        }
    }

    /// Files the machine may still open (`fs.file-max` minus those open now); `None` when
    /// `fs.file-max` is unknown.
    pub fn files_free(&self) -> Option<u64> {
        match (self.file_max, self.files_allocated) {
            (Some(m), Some(a)) => Some(m.saturating_sub(a)),
            (m, _) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::facts;

    #[test]
    fn read_does_not_fail() {
        let f = Facts::read().unwrap();
        assert!(f.nofile_soft <= f.nofile_hard);
        assert!(f.page_size >= 4096);
    }

    #[test]
    fn soft_limit_and_free_files() {
        let f = facts();
        assert_eq!(f.soft_limit_for(None), 20_000);
        assert_eq!(f.soft_limit_for(Some(1000)), 1000);
        assert_eq!(f.soft_limit_for(Some(50_000)), 20_000);
        let cap = Facts {
            cap_sys_resource: true,
            ..facts()
        };
        assert_eq!(cap.soft_limit_for(Some(50_000)), 50_000);
        assert_eq!(cap.soft_limit_for(Some(2_000_000)), 20_000);
        assert_eq!(f.files_free(), Some(2_466_177 - 343));
        assert_eq!(
            Facts {
                files_allocated: None,
                ..facts()
            }
            .files_free(),
            Some(2_466_177)
        );
        assert_eq!(
            Facts {
                file_max: None,
                ..facts()
            }
            .files_free(),
            None
        );
    }
}
