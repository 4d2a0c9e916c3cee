//! RLIMIT_NOFILE: how many file descriptors this process may hold, and so how many sockets.
//!
//! Every TCP connection a process holds is one file descriptor. The kernel checks three numbers:
//! - the **soft** limit (`ulimit -n`), which `accept()`/`socket()` hit with EMFILE; a process may
//!   raise it freely up to
//! - the **hard** limit (`ulimit -Hn`), which only a process with CAP_SYS_RESOURCE may raise, and
//!   never past
//! - `fs.nr_open` (default 1,048,576), the most any process may be granted.
//!
//! Across processes, `fs.file-max` bounds all open files of the machine (ENFILE). So one process
//! holds at most `hard - a few` connections unless it is privileged, and a million connections
//! takes either a raised hard limit or several processes (claim C12).
//!
//! "Privileged" means a capability, not uid 0: root in a container often lacks CAP_SYS_RESOURCE
//! and then cannot raise its hard limit either. The effective set is the `CapEff:` line of
//! `/proc/self/status`, a hex bit mask with bit `CAP_SYS_RESOURCE` (24) for this one. The kernel
//! checks it against the *initial* user namespace (`capable()`), so capabilities held inside a
//! child user namespace (rootless containers; `/proc/self/uid_map` is then not the identity map)
//! do not raise the hard limit.

use std::io;

use c10m_kernel::sysctl;
use c10m_report::fmt::thousands;
use c10m_sys::nofile;

/// What limits the grant when it is less than asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The hard limit, and this process may not raise it (no CAP_SYS_RESOURCE).
    HardLimit { hard: u64 },
    /// `fs.nr_open`: not even root may go past it.
    NrOpen { nr_open: u64 },
}

/// The outcome of [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileGrant {
    pub requested: u64,
    pub soft: u64,
    pub hard: u64,
    /// Set when `soft < requested`.
    pub binding: Option<Binding>,
}

impl NofileGrant {
    /// A sentence naming the knob that binds and how to move it. `spread` names the flag that
    /// spreads the load over processes (`--workers N` for the server, `--processes N` for the
    /// client).
    pub fn advice(&self, spread: &str) -> Option<String> {
        let b = self.binding?;
        Some(match b {
            Binding::HardLimit { hard } => format!(
                "asked for {} file descriptors but the RLIMIT_NOFILE hard limit is {} and raising it \
                 needs CAP_SYS_RESOURCE; raise it with `ulimit -Hn {}` as root, LimitNOFILE= in a \
                 systemd unit or nofile in /etc/security/limits.conf, or run {spread} to spread \
                 the connections over processes",
                thousands(self.requested),
                thousands(hard),
                self.requested
            ),
            Binding::NrOpen { nr_open } => format!(
                "asked for {} file descriptors but fs.nr_open caps every process at {}; raise it \
                 with `sysctl -w fs.nr_open={}` (as root), or run {spread}",
                thousands(self.requested),
                thousands(nr_open),
                self.requested
            ),
        })
    }
}

/// Sets the soft RLIMIT_NOFILE to `requested` (default: the hard limit). Above the hard limit it
/// tries to raise the hard limit too; when that is refused (EPERM), it settles for the hard limit
/// and says which knob bound it. Asking for less than the current soft limit lowers it (tests use
/// that to reach EMFILE quickly).
pub fn raise_nofile(requested: Option<u64>) -> io::Result<NofileGrant> {
    let (soft, hard) = nofile::get()?;
    log::debug!("RLIMIT_NOFILE was soft {soft}, hard {hard}; asked for {requested:?}");
    let want = requested.unwrap_or(hard);
    if want <= hard {
        if want != soft {
            nofile::set(want, hard)?;
        }
        return Ok(NofileGrant {
            requested: want,
            soft: want,
            hard,
            binding: None,
        });
    }
    match nofile::set(want, want) {
        Ok(()) => Ok(NofileGrant {
            requested: want,
            soft: want,
            hard: want,
            binding: None,
        }),
        Err(e) if e.raw_os_error() == Some(c10m_sys::errno::EPERM) => {
            let nr_open = sysctl::read_sysctl("fs.nr_open")
                .ok()
                .and_then(|t| sysctl::parse_u64(&t));
            let binding = match nr_open {
                Some(n) if want > n => Binding::NrOpen { nr_open: n },
                _ => Binding::HardLimit { hard },
            };
            if soft != hard {
                nofile::set(hard, hard)?;
            }
            Ok(NofileGrant {
                requested: want,
                soft: hard,
                hard,
                binding: Some(binding),
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_knob() {
        let g = NofileGrant {
            requested: 1_000_000,
            soft: 20_000,
            hard: 20_000,
            binding: Some(Binding::HardLimit { hard: 20_000 }),
        };
        let a = g.advice("--workers N").unwrap();
        assert!(a.contains("hard limit is 20,000"), "{a}");
        assert!(a.contains("ulimit -Hn"), "{a}");
        assert!(a.contains("LimitNOFILE="), "{a}");
        assert!(a.contains("--workers N"), "{a}");
        let g = NofileGrant {
            binding: Some(Binding::NrOpen { nr_open: 1_048_576 }),
            ..g
        };
        assert!(g.advice("--processes N").unwrap().contains("fs.nr_open"));
        let ok = NofileGrant { binding: None, ..g };
        assert_eq!(ok.advice("x"), None);
    }

    #[test]
    fn lowering_and_restoring_soft_limit() {
        let (soft, _) = nofile::get().unwrap();
        let g = raise_nofile(Some(soft.min(512))).unwrap();
        assert_eq!(g.soft, soft.min(512));
        assert_eq!(nofile::get().unwrap().0, soft.min(512));
        raise_nofile(Some(soft)).unwrap();
    }
}
