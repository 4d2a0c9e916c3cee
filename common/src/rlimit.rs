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

use std::fs;
use std::io;

use crate::fmt::thousands;
use crate::kernel;
use crate::sys;

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

/// Capability bit numbers (`linux/capability.h`).
pub const CAP_SYS_ADMIN: u32 = 21;
/// Lets a process raise its RLIMIT_NOFILE hard limit (up to `fs.nr_open`).
pub const CAP_SYS_RESOURCE: u32 = 24;

/// The `CapEff:` mask of a `/proc/<pid>/status` text (`CapEff:\t000001fffeffffff`); `None` when
/// the line is missing or not hex.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix("CapEff:")?;
        u64::from_str_radix(rest.trim(), 16).ok()
    })
}

/// Whether capability bit `cap` is set in `mask`.
pub fn has_cap(mask: u64, cap: u32) -> bool {
    cap < 64 && mask & (1u64 << cap) != 0
}

/// True when a `/proc/<pid>/uid_map` text is the initial user namespace's identity map
/// (`0 0 4294967295`), where capabilities count for `capable()`.
pub fn is_initial_user_ns(uid_map: &str) -> bool {
    let lines: Vec<Vec<&str>> = uid_map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|w: &Vec<&str>| !w.is_empty())
        .collect();
    matches!(&lines[..], [only] if only[..] == ["0", "0", "4294967295"])
}

/// Whether this process runs in the initial user namespace (true if uid_map cannot be read).
pub fn in_initial_user_ns() -> bool {
    fs::read_to_string("/proc/self/uid_map").map_or(true, |t| is_initial_user_ns(&t))
}

/// This process's effective capability mask, from `/proc/self/status`.
pub fn read_cap_eff() -> io::Result<u64> {
    let text = fs::read_to_string("/proc/self/status")?;
    parse_cap_eff(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no CapEff line"))
}

/// Sets the soft RLIMIT_NOFILE to `requested` (default: the hard limit). Above the hard limit it
/// tries to raise the hard limit too; when that is refused (EPERM), it settles for the hard limit
/// and says which knob bound it. Asking for less than the current soft limit lowers it (tests use
/// that to reach EMFILE quickly).
pub fn raise_nofile(requested: Option<u64>) -> io::Result<NofileGrant> {
    let (soft, hard) = sys::get_nofile()?;
    let want = requested.unwrap_or(hard);
    if want <= hard {
        if want != soft {
            sys::set_nofile(want, hard)?;
        }
        return Ok(NofileGrant {
            requested: want,
            soft: want,
            hard,
            binding: None,
        });
    }
    match sys::set_nofile(want, want) {
        Ok(()) => Ok(NofileGrant {
            requested: want,
            soft: want,
            hard: want,
            binding: None,
        }),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let nr_open = kernel::read_sysctl("fs.nr_open")
                .ok()
                .and_then(|t| kernel::parse_u64(&t));
            let binding = match nr_open {
                Some(n) if want > n => Binding::NrOpen { nr_open: n },
                _ => Binding::HardLimit { hard },
            };
            if soft != hard {
                sys::set_nofile(hard, hard)?;
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
    fn cap_eff_from_status_text() {
        // Root in a container without CAP_SYS_RESOURCE (bit 24 clear), then full root.
        let status = "Name:\tcat\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n\
                      CapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n\
                      CapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n";
        let mask = parse_cap_eff(status).unwrap();
        assert_eq!(mask, 0x1fffeffffff);
        assert!(!has_cap(mask, CAP_SYS_RESOURCE));
        assert!(has_cap(mask, CAP_SYS_ADMIN));
        let full = parse_cap_eff("CapEff:\t000001ffffffffff\n").unwrap();
        assert!(has_cap(full, CAP_SYS_RESOURCE));
        // An unprivileged user: nothing.
        assert!(!has_cap(
            parse_cap_eff("CapEff:\t0000000000000000\n").unwrap(),
            CAP_SYS_RESOURCE
        ));
        assert_eq!(parse_cap_eff("CapPrm:\t00ff\n"), None);
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
        assert!(!has_cap(u64::MAX, 64));
        assert!(read_cap_eff().is_ok());
    }

    #[test]
    fn initial_user_namespace() {
        assert!(is_initial_user_ns("         0          0 4294967295\n"));
        // A rootless container: root inside is uid 100000 outside.
        assert!(!is_initial_user_ns("         0     100000      65536\n"));
        assert!(!is_initial_user_ns("0 0 4294967295\n1 1 1\n"));
        assert!(!is_initial_user_ns(""));
    }

    #[test]
    fn lowering_and_restoring_soft_limit() {
        let (soft, _) = sys::get_nofile().unwrap();
        let g = raise_nofile(Some(soft.min(512))).unwrap();
        assert_eq!(g.soft, soft.min(512));
        assert_eq!(sys::get_nofile().unwrap().0, soft.min(512));
        raise_nofile(Some(soft)).unwrap();
    }
}
