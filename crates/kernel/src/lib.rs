//! c10m-kernel: what the kernel says about connections, read from /proc and /sys.
//!
//! Every number c10m shows about "what the kernel is spending on connections" comes from a text
//! file under /proc. Each module here covers one file (or one family of files) with a pure parser
//! over `&str`, tested on fixture text copied from a Linux 6.x machine, and a thin reader that
//! only opens the file and hands its text over. Parsers never panic on what they are given.
//!
//! - [`sockstat`]: `/proc/net/sockstat`: sockets in use, TIME_WAIT, orphans, TCP memory pages.
//! - [`memory`]: `/proc/meminfo` and `/proc/slabinfo`: the slab caches sockets live in.
//! - [`netstat`]: `/proc/net/netstat` and `snmp`: the MIB counters (ListenOverflows...).
//! - [`tcp_table`]: `/proc/net/tcp`: sockets by port and state, accept queues, who holds
//!   TIME_WAIT, how many ephemeral ports are taken.
//! - [`conntrack`]: `/proc/net/stat/nf_conntrack`: the connection-tracking table's counters.
//! - [`cpu`]: `/proc/stat` and `/sys/devices/system/cpu/online`: CPU busy time, CPU count.
//! - [`pid`]: processes: resident memory, CPU time, descriptors, the process table and trees.
//! - [`sysctl`]: the sysctls that bound connection counts, typed.
//! - [`caps`]: the effective capabilities, and whether they count.
//! - [`probe`]: per-interval readings from /proc files kept open.
//!
//! The `c10m-kernel` program (`src/bin/c10m-kernel/`) prints these figures as JSON for the
//! Python harness, which measures from outside the processes it starts: one parser for both.

pub mod caps;
pub mod conntrack;
pub mod cpu;
pub mod memory;
pub mod netstat;
pub mod pid;
pub mod probe;
pub mod sockstat;
pub mod sysctl;
pub mod tcp_table;

#[cfg(test)]
mod hostile;
