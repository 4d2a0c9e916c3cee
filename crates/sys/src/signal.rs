//! SIGINT and SIGTERM as a flag: the event loops poll [`stop_requested`] and end cleanly.

use std::io;
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cvt;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Installs SIGINT and SIGTERM handlers that only set a flag ([`stop_requested`]).
///
/// No SA_RESTART: a signal interrupts `epoll_wait` with EINTR (it is never restarted anyway, see
/// signal(7)), so the event loop sees the flag at once instead of at its next timeout.
pub fn install_stop_handler() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction is plain old data; all-zero is a valid starting value.
        let mut sa: libc::sigaction = unsafe { mem::zeroed() };
        sa.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
        sa.sa_flags = 0;
        // SAFETY: sa.sa_mask is a valid sigset_t to initialise.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: `sa` is fully initialised; the handler only touches atomics (async-signal-safe).
        cvt(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) })?;
    }
    Ok(())
}

/// True once SIGINT or SIGTERM has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
