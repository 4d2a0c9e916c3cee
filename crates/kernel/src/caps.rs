//! Capabilities, as `/proc/self/status` and `/proc/self/uid_map` show them.
//!
//! "Privileged" means a capability, not uid 0: root in a container often lacks CAP_SYS_RESOURCE
//! and then cannot raise its RLIMIT_NOFILE hard limit either. The effective set is the `CapEff:`
//! line of `/proc/self/status`, a hex bit mask. The kernel checks it against the *initial* user
//! namespace (`capable()`), so capabilities held inside a child user namespace (rootless
//! containers; `/proc/self/uid_map` is then not the identity map) do not count.

use std::fs;
use std::io;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
