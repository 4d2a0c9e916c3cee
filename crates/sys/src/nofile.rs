//! RLIMIT_NOFILE, read and set: the number of descriptors, and so of sockets, a process may hold.

use std::io;

use crate::cvt;

/// RLIMIT_NOFILE as (soft, hard).
pub fn get() -> io::Result<(u64, u64)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, writable rlimit struct.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) })?;
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on 64-bit Linux, u32 elsewhere
    Ok((rl.rlim_cur as u64, rl.rlim_max as u64))
}

/// Sets RLIMIT_NOFILE. Raising `hard` needs CAP_SYS_RESOURCE (EPERM otherwise) and can never go
/// past `fs.nr_open` (EPERM too).
pub fn set(soft: u64, hard: u64) -> io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `rl` is a valid rlimit struct that outlives the call.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) })?;
    Ok(())
}
