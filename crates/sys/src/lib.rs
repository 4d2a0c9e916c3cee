//! c10m-sys: every `libc` call of the project, behind safe wrappers.
//!
//! Each raw file descriptor becomes an [`std::os::fd::OwnedFd`] (or a std socket type that owns
//! one) the moment the kernel returns it, so no path can leak or double-close it. Syscalls go
//! through `cvt`, which turns the C convention (`-1` and `errno`) into `io::Result`.
//!
//! - [`socket`]: listening with our own backlog, nonblocking connects from a bound source,
//!   socket options (`SO_LINGER`, `TCP_NODELAY`), the accept queue from `TCP_INFO`.
//! - [`signal`]: SIGINT/SIGTERM as a flag the event loops poll.
//! - [`mem`]: page size, clock ticks, malloc's top pad, shared anonymous mappings.
//! - [`nofile`]: RLIMIT_NOFILE read and set.
//! - [`errno`]: errno names, meanings and the knob for each failure a flood meets.
//! - [`process`]: fork with no orphans, reaping, signals, network namespaces.
//! - [`shm`]: typed records in memory shared with forked children.
//! - [`supervisor`]: N children: fork, reap, restart by policy, stop.
//! - [`tun`]: a TUN device, the network interface whose other end is a file descriptor.

pub mod errno;
pub mod mem;
pub mod nofile;
pub mod process;
pub mod shm;
pub mod signal;
pub mod socket;
pub mod supervisor;
pub mod tun;

use std::io;

/// The C convention (`-1` and `errno`) as `io::Result`.
fn cvt<T: Copy + PartialEq + From<i8>>(res: T) -> io::Result<T> {
    if res == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}
