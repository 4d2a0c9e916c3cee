//! The numbers the rows plan with that are not read from the machine: the bytes each connection
//! costs (measured in the reference runs of `bench/reference/`) and TIME_WAIT's length, which
//! the kernel compiles in; and the CPU each connection and each message cost (`--size-for`).

/// Kernel slab per idle connection **pair** on loopback (two sockets: TCP, sock_inode_cache,
/// dentry, filp, eventpoll_epi and small caches) that `--check` plans with. It sits just above both
/// reference runs in `bench/reference/`: 9,810.7 B per pair at 1,000,000 (`bench-1m`, loopback)
/// and 2 x 5,046.9 B per server socket at 3,000,000 (`bench-tun-3m`), so a plan that fits here
/// fits there (docs/scale.md, "What each connection costs").
pub const KERNEL_BYTES_PER_PAIR: f64 = 10_202.4;
/// Half a pair: one socket, for a peer on another machine (~5.1 KB).
pub const KERNEL_BYTES_PER_SOCKET: f64 = KERNEL_BYTES_PER_PAIR / 2.0;
/// Server RSS growth per idle connection at 1,000,000 (`bench/reference/bench-1m`: 23.454 B,
/// counting each worker's own start-up spread over its connections).
pub const SERVER_USER_BYTES_PER_CONN: f64 = 23.5;
/// Client RSS growth per connection, same run (30.876 B).
pub const CLIENT_USER_BYTES_PER_CONN: f64 = 30.9;
/// Memory kept free under the connections: the larger of 1 GiB and 5% of `total`, the memory
/// guard's default threshold (`--min-mem-available`) and what `--size-for` leaves aside.
pub fn memory_kept_free(total: u64) -> u64 {
    (1u64 << 30).max(total / 20)
}

/// A CPU cost measured per operation, in microseconds of one core: the server processes'
/// alone, and the client's kernel time that carried the server's receive path.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CpuCost {
    pub server_us: f64,
    pub receive_path_us: f64,
}

/// CPU per connection set up, in µs of one core: `bench/reference/bench-tun-3m` (3,000,000
/// connections from the TUN client): the server's processes and the kernel threads used 61.01 s
/// of the ramp's CPU (151.48 s busy, less the client's 59.11 s and other processes' 31.36 s);
/// the client's 59.11 s carried the server's receive path (its writes to the device deliver each
/// packet): 19.7 µs is an upper bound on that share.
pub(crate) const SETUP_CPU: CpuCost = CpuCost {
    server_us: 20.3,
    receive_path_us: 19.7,
};
/// CPU per echoed message, in µs of one core: `bench/reference/echo` (`make bench-echo`) at
/// 1,000,000 connections, at the highest rate whose p99 stayed at most 10 ms (28,000/s, the
/// median of three rounds): the server processes' user and system time per message
/// (1.50 + 11.64 µs). The kernel runs much of a packet's receive path in softirq on whichever
/// process is on the CPU, here the TUN client writing the packets; the client's 14.57 µs per
/// message bounds that share.
pub(crate) const MESSAGE_CPU: CpuCost = CpuCost {
    server_us: 13.14,
    receive_path_us: 14.57,
};
/// The payload of those messages, each way.
pub(crate) const MESSAGE_BYTES: u64 = 64;
/// The records [`SETUP_CPU`], [`MESSAGE_CPU`] and the bytes per connection come from.
pub(crate) const SIZING_RECORDS: &[&str] = &[
    "bench/reference/bench-tun-3m (BENCH_CONNS=3000000 make bench-tun): slab per server socket, CPU per connection set up",
    "bench/reference/bench-1m (BENCH_CONNS=1000000 make bench): server user bytes per connection",
    "bench/reference/echo (make bench-echo): CPU per message at 1,000,000 connections",
];

/// `TCP_TIMEWAIT_LEN`: compiled into the kernel, no sysctl moves it (claim C2).
pub const TIME_WAIT_SECS: u64 = 60;
/// `tcp_tw_reuse_delay`'s default, and the 1 s granularity of older kernels that lack the knob.
pub(crate) const DEFAULT_TW_REUSE_DELAY_MS: u64 = 1000;
