//! `c10m-server --check --size-for CORES,MEMORY`: what a machine of another size would hold,
//! accept and carry, extrapolated from what this project measured on its reference machine.
//!
//! An estimate, and it says so. Memory scales exactly: an idle connection costs the server's
//! kernel a socket's slab objects and its process a few bytes, whatever the machine, so the
//! memory left after what the kernel and the memory guard keep free, divided by that cost, is
//! how many connections fit. CPU is assumed to scale with cores: setting up a connection and
//! echoing a message cost the CPU time measured here, spread over every core by SO_REUSEPORT
//! workers. What the reference measurements leave out is said beside each figure: with the
//! TUN client, the kernel's receive path runs in the client's context (its `write()` to the
//! device delivers each packet), while on a real network it runs in softirq on the server's
//! cores, so each rate is given as a range: the server processes' CPU alone, and that plus the
//! client's kernel time (an upper bound on the receive path's share).

use serde::Serialize;

use crate::costs::{
    memory_kept_free, CpuCost, KERNEL_BYTES_PER_SOCKET, MESSAGE_BYTES, MESSAGE_CPU,
    SERVER_USER_BYTES_PER_CONN, SETUP_CPU, SIZING_RECORDS,
};

/// The machine to size for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    pub cores: u32,
    pub memory_bytes: u64,
}

/// What the estimate extrapolates from, with where each figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    pub kernel_bytes_per_socket: f64,
    pub user_bytes_per_conn: f64,
    pub setup: CpuCost,
    pub message: CpuCost,
    /// The payload each message carried (bytes each way).
    pub message_bytes: u64,
    /// The records, by command, these figures come from.
    pub records: &'static [&'static str],
}

/// The project's own measurements (bench/reference/), as [`crate::costs`] records them.
pub const MEASURED: Measured = Measured {
    kernel_bytes_per_socket: KERNEL_BYTES_PER_SOCKET,
    user_bytes_per_conn: SERVER_USER_BYTES_PER_CONN,
    setup: SETUP_CPU,
    message: MESSAGE_CPU,
    message_bytes: MESSAGE_BYTES,
    records: SIZING_RECORDS,
};

/// A rate as a range: every core on the server's processes, and on them plus the receive path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    pub low: f64,
    pub high: f64,
}

/// What a machine of `cores` and `memory_bytes` would do, by [`estimate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub cores: u32,
    pub memory_bytes: u64,
    /// Kept free: the larger of 1 GiB and 5% (the client's memory guard's default).
    pub memory_kept_free_bytes: u64,
    pub bytes_per_connection: f64,
    pub connections: u64,
    pub accepts_per_s: Range,
    pub messages_per_s: Range,
    pub measured: Measured,
    pub assumes: &'static [&'static str],
}

/// What the estimate takes for granted.
pub const ASSUMPTIONS: &[&str] = &[
    "CPU work spreads evenly over the cores (one SO_REUSEPORT worker per core or more)",
    "the network card and its interrupts keep up with the packets, and nothing else runs",
    "RLIMIT_NOFILE and fs.nr_open raised for the workers (or enough workers), fs.file-max above N",
    "no connection tracking on the path (nf_conntrack would cost memory and CPU per connection)",
    "idle connections for the connection count; the message rate with all of them held",
];

/// The estimate for `m` from `measured`.
pub fn estimate(m: Machine, measured: &Measured) -> Estimate {
    let kept = memory_kept_free(m.memory_bytes);
    let per_conn = measured.kernel_bytes_per_socket + measured.user_bytes_per_conn;
    let connections = (m.memory_bytes.saturating_sub(kept) as f64 / per_conn) as u64;
    let rate = |c: CpuCost| Range {
        low: f64::from(m.cores) * 1e6 / (c.server_us + c.receive_path_us),
        high: f64::from(m.cores) * 1e6 / c.server_us,
    };
    Estimate {
        kind: "size_estimate",
        cores: m.cores,
        memory_bytes: m.memory_bytes,
        memory_kept_free_bytes: kept,
        bytes_per_connection: per_conn,
        connections,
        accepts_per_s: rate(measured.setup),
        messages_per_s: rate(measured.message),
        measured: *measured,
        assumes: ASSUMPTIONS,
    }
}

/// The estimate for people.
pub fn render_text(e: &Estimate) -> String {
    use c10m_report::fmt::{bytes, count};
    let r = |x: Range| format!("{} to {}", count(x.low as u64), count(x.high as u64));
    let ms = &e.measured;
    let mut lines = vec![
        format!(
            "c10m-server --check --size-for: an ESTIMATE for a machine of {} cores and {}, extrapolated from this project's measurements",
            e.cores,
            bytes(e.memory_bytes)
        ),
        format!(
            "  holds     ~{} idle connections: {} less {} kept free, at {:.0} B each ({:.1} B of kernel slab per socket + {:.1} B of the server's memory)",
            count(e.connections),
            bytes(e.memory_bytes),
            bytes(e.memory_kept_free_bytes),
            e.bytes_per_connection,
            ms.kernel_bytes_per_socket,
            ms.user_bytes_per_conn
        ),
        format!(
            "  accepts   {} new connections/s: {} cores at {:.1} us of server CPU per connection set up, {:.1} us with the receive path",
            r(e.accepts_per_s),
            e.cores,
            ms.setup.server_us,
            ms.setup.server_us + ms.setup.receive_path_us
        ),
        format!(
            "  carries   {} echoed {}-byte messages/s at the knee: {} cores at {:.1} us per message, {:.1} us with the receive path",
            r(e.messages_per_s),
            ms.message_bytes,
            e.cores,
            ms.message.server_us,
            ms.message.server_us + ms.message.receive_path_us
        ),
        format!("  from      {}", ms.records.join("; ")),
    ];
    for a in e.assumes {
        lines.push(format!("  assumes   {a}"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_bounds_the_count_and_cores_the_rates() {
        let m = Measured {
            kernel_bytes_per_socket: 5_000.0,
            user_bytes_per_conn: 24.0,
            setup: CpuCost {
                server_us: 10.0,
                receive_path_us: 10.0,
            },
            message: CpuCost {
                server_us: 5.0,
                receive_path_us: 5.0,
            },
            message_bytes: 64,
            records: &[],
        };
        let e = estimate(
            Machine {
                cores: 16,
                memory_bytes: 64 << 30,
            },
            &m,
        );
        // 64 GiB less 3.2 GiB (5%), at 5,024 B each.
        assert_eq!(e.memory_kept_free_bytes, (64u64 << 30) / 20);
        assert_eq!(e.connections, ((64u64 << 30) - (64u64 << 30) / 20) / 5_024);
        assert_eq!(e.accepts_per_s.high, 1.6e6);
        assert_eq!(e.accepts_per_s.low, 0.8e6);
        assert_eq!(e.messages_per_s.high, 3.2e6);
        let small = estimate(
            Machine {
                cores: 2,
                memory_bytes: 4 << 30,
            },
            &m,
        );
        assert_eq!(
            small.memory_kept_free_bytes,
            1 << 30,
            "at least 1 GiB kept free"
        );
        assert!(render_text(&e).contains("ESTIMATE"));
    }
}
