//! The rules for `c10m-client --engine tun`: the client holds no kernel socket, so ports, fds
//! and TIME_WAIT do not bound it. What bounds N is the server's side on this machine: its
//! sockets' kernel memory (one socket per connection instead of a pair), the machine's open
//! files and epoll watches (the server's descriptors alone), and conntrack if it tracks.
//!
//! The memory row keeps the client's memory guard out of what it allows: the run stops opening
//! connections at `--min-mem-available`, so that much is never planned for.

use super::costs::{KERNEL_BYTES_PER_SOCKET, SERVER_USER_BYTES_PER_CONN};
use super::facts::Facts;
use super::row::{Row, Unit};
use super::shared::{conntrack_row, epoll_row, file_max_row};
use c10m_report::fmt::{self, thousands};

/// The TUN engine's bytes per connection on the client's side (the driver's 12 and the server's
/// initial sequence number).
pub const TUN_CLIENT_BYTES_PER_CONN: f64 = 16.0;

/// The rows for `n` connections through the TUN engine, with `guard` bytes of MemAvailable kept
/// free by the memory guard.
pub fn tun_client_rows(f: &Facts, n: u64, guard: u64) -> Vec<Row> {
    let mut rows = vec![
        tun_memory_row(f, n, guard),
        file_max_row(f, n, 1),
        epoll_row(f, n, 1),
    ];
    rows.extend(conntrack_row(f, n));
    rows
}

fn tun_memory_row(f: &Facts, n: u64, guard: u64) -> Row {
    let per_conn = KERNEL_BYTES_PER_SOCKET + SERVER_USER_BYTES_PER_CONN + TUN_CLIENT_BYTES_PER_CONN;
    let room = f.mem_available.map(|m| m.saturating_sub(guard));
    let allows = room.map(|r| (r as f64 / per_conn) as u64);
    let mut row = Row::new("memory", "memory", Unit::Connections).limit(allows, Some(n));
    row.value = format!(
        "MemAvailable {} minus the guard's {}; N x {} B = {}",
        f.mem_available.map_or("?".into(), fmt::bytes),
        fmt::bytes(guard),
        thousands(per_conn.round() as u64),
        fmt::bytes((n as f64 * per_conn).round() as u64)
    );
    row.note = format!(
        "one kernel socket per connection, the server's ({} B of slab), {SERVER_USER_BYTES_PER_CONN} B \
         of the server's user RSS and {TUN_CLIENT_BYTES_PER_CONN} B of the client's: the TUN client \
         keeps no socket. The memory guard stops the ramp with {} still available",
        thousands(KERNEL_BYTES_PER_SOCKET.round() as u64),
        fmt::bytes(guard)
    );
    row.fix = "free or add memory, lower --min-mem-available (not below what the machine needs to \
               stay up), or put the server's connections on several machines"
        .into();
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::first_binding;
    use crate::fixtures::facts;

    #[test]
    fn memory_binds_first_and_keeps_the_guard() {
        let f = facts(); // 24 GiB available, fs.file-max 2,466,177
        let rows = tun_client_rows(&f, 3_000_000, 1 << 30);
        let keys: Vec<_> = rows.iter().map(|r| r.key).collect();
        assert_eq!(keys, ["memory", "file_max", "epoll_watches"]);
        // 23 GiB at ~5,133 B a connection: ~4.8M fit, so memory does not bind for 3M...
        let mem = &rows[0];
        assert!(!mem.binds && mem.allows.unwrap() > 4_700_000, "{mem:?}");
        // ...but fs.file-max does: the server needs 3M descriptors.
        assert_eq!(first_binding(&rows).unwrap().key, "file_max");
        let big = tun_client_rows(&f, 6_000_000, 1 << 30);
        assert!(big[0].binds);
        let all_guard = tun_client_rows(&f, 10, 24 << 30);
        assert_eq!(all_guard[0].allows, Some(0));
    }
}
