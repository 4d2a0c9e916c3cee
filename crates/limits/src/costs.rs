//! The numbers the rows plan with that are not read from the machine: the bytes each connection
//! costs (measured in the reference runs of `bench/reference/`) and TIME_WAIT's length, which
//! the kernel compiles in.

/// Kernel slab per idle connection **pair** on loopback (two sockets: TCP, sock_inode_cache,
/// dentry, filp, eventpoll_epi and small caches) that `--check` plans with. It sits just above both
/// reference runs in `bench/reference/`: 9,810.7 B per pair at 1,000,000 (`bench-1m`, loopback)
/// and 2 x 5,050.7 B per server socket at 3,000,000 (`bench-tun-3m`), so a plan that fits here
/// fits there (docs/scale.md, "What each connection costs").
pub const KERNEL_BYTES_PER_PAIR: f64 = 10_202.4;
/// Half a pair: one socket, for a peer on another machine (~5.1 KB).
pub const KERNEL_BYTES_PER_SOCKET: f64 = KERNEL_BYTES_PER_PAIR / 2.0;
/// Server RSS growth per idle connection at 1,000,000 (`bench/reference/bench-1m`: 23.454 B,
/// counting each worker's own start-up spread over its connections).
pub const SERVER_USER_BYTES_PER_CONN: f64 = 23.5;
/// Client RSS growth per connection, same run (30.876 B).
pub const CLIENT_USER_BYTES_PER_CONN: f64 = 30.9;
/// `TCP_TIMEWAIT_LEN`: compiled into the kernel, no sysctl moves it (claim C2).
pub const TIME_WAIT_SECS: u64 = 60;
/// `tcp_tw_reuse_delay`'s default, and the 1 s granularity of older kernels that lack the knob.
pub(crate) const DEFAULT_TW_REUSE_DELAY_MS: u64 = 1000;
