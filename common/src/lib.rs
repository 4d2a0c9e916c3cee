//! c10m-common: what both binaries share.
//!
//! - [`sys`]: every `libc` call of the project, behind safe wrappers (sockets, rlimits, signals).
//! - [`rlimit`]: RLIMIT_NOFILE, raised as far as the kernel allows, with the knob that binds.
//! - [`procfs`]: pure parsers for /proc and /sys text, and the thin readers around them.
//! - [`probe`]: per-interval readings (RSS, system TCP) from /proc files kept open.
//! - [`process`]: fork with no orphans, reaping, signals.
//! - [`shm`]: typed records in memory shared with forked children.
//! - [`supervisor`]: N children: fork, reap, restart by policy, stop; server workers and client
//!   processes alike.
//! - [`kernel`]: the kernel limits that bound connection counts, typed.
//! - [`check`]: `--check`: those limits computed for N connections, and the first that binds.
//! - [`addr`]: address and range parsing for `--listen`, `--target`, `--source`.
//! - [`errno`]: errno names, meanings and the knob for each failure a flood meets.
//! - [`counts`]: failures counted by kind in a fixed array.
//! - [`histogram`]: a fixed, mergeable latency histogram.
//! - [`rss`]: user-space bytes per connection from RSS growth.
//! - [`tick`]: the live line's steady interval.
//! - [`cli`], [`output`]: the flags, parsers and output helpers both binaries share.
//! - [`nonblock`]: writing to a non-blocking socket.
//! - [`tun`]: a TUN device, the network interface whose other end is a file descriptor.
//! - [`fmt`]: human numbers (19.9k, 1.05M, KiB/MiB).
//! - [`metrics`]: `--metrics`: the Prometheus text format, served from a thread of its own.

pub mod addr;
pub mod check;
pub mod cli;
pub mod counts;
pub mod errno;
pub mod fmt;
pub mod histogram;
pub mod kernel;
pub mod metrics;
pub mod nonblock;
pub mod output;
pub mod probe;
pub mod process;
pub mod procfs;
pub mod rlimit;
pub mod rss;
pub mod shm;
pub mod supervisor;
pub mod sys;
pub mod tick;
pub mod tun;
