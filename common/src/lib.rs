//! c10m-common: what both binaries share.
//!
//! - [`sys`]: every `libc` call of the project, behind safe wrappers (sockets, rlimits, signals).
//! - [`rlimit`]: RLIMIT_NOFILE, raised as far as the kernel allows, with the knob that binds.
//! - [`procfs`]: pure parsers for /proc and /sys text, and the thin readers around them.
//! - [`probe`]: per-interval readings (RSS, system TCP) from /proc files kept open.
//! - [`process`]: fork with no orphans, reaping, signals, counters shared with children.
//! - [`kernel`]: the kernel limits that bound connection counts, typed.
//! - [`check`]: `--check`: those limits computed for N connections, and the first that binds.
//! - [`addr`]: address and range parsing for `--listen`, `--target`, `--source`.
//! - [`errno`]: errno names, meanings and the knob for each failure a flood meets.
//! - [`fmt`]: human numbers (19.9k, 1.05M, KiB/MiB).
//! - [`json`]: a small JSON writer for `--json` output.

pub mod addr;
pub mod check;
pub mod errno;
pub mod fmt;
pub mod json;
pub mod kernel;
pub mod probe;
pub mod process;
pub mod procfs;
pub mod rlimit;
pub mod sys;
