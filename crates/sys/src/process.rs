//! Several processes behind one job: fork, supervise, signal, and share counters.
//!
//! # Why processes, not threads
//! RLIMIT_NOFILE is per process. On a machine whose hard limit cannot be raised (no
//! CAP_SYS_RESOURCE), the only way past it is more processes, each with its own descriptor table.
//!
//! # No orphans
//! Each child asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), so even a
//! parent killed with SIGKILL leaves no worker holding ports and sockets behind. The parent checks
//! that it is still the parent right after, closing the race where it died before the prctl.
//!
//! # A session per child, or one for all
//! With `kernel.sched_autogroup_enabled=1` (the default in most distribution kernels), CFS
//! groups tasks by *session* and shares the CPU fairly among the groups first, then among the
//! tasks inside each. A job whose 100 children share one session is one group: against one other
//! busy program it gets half the CPU, not 100/101. Programs started separately each have a session
//! of their own. [`Session::Own`] makes each child one too (`setsid()` right after fork), so the
//! scheduler treats N workers as it would N separately started programs, such as the C floor's
//! processes in `make bench`. [`Session::Inherit`] keeps them in the parent's group, the way a
//! shell's `&` would. The lab `autogroup` measures the difference.
//!
//! The supervisor that uses these ([`crate::supervisor`]) shares counters with its children
//! through [`crate::shm`].

use std::io;

fn cvt(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// Which side of a fork this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    Parent { child: i32 },
    Child,
}

/// Where a forked child is scheduled from: see "A session per child" above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// `setsid()` in the child: a session, process group and (with autogroup) CPU share of its own.
    Own,
    /// The parent's session and process group.
    Inherit,
}

/// Forks. Call it only while the process has one thread (the binaries start none).
pub fn fork(session: Session) -> io::Result<Fork> {
    let parent = std::process::id() as i32;
    // SAFETY: the process is single-threaded at this point, so the child's copy of every lock and
    // allocator state is consistent.
    let pid = cvt(unsafe { libc::fork() })?;
    if pid > 0 {
        return Ok(Fork::Parent { child: pid });
    }
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no pointers are passed.
    let death_signal = cvt(unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    });
    if death_signal.is_err() {
        exit_now(1); // a child must never run on in the parent's code path
    }
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        exit_now(1); // the parent died before the prctl took effect
    }
    // SAFETY: setsid has no preconditions; a forked child is never a process group leader, so it
    // cannot fail with EPERM.
    if session == Session::Own && unsafe { libc::setsid() } == -1 {
        exit_now(1);
    }
    Ok(Fork::Child)
}

/// Ends this process at once with `code`, running no atexit handlers and flushing no stdio: the
/// way out for a forked child, whose copies of the parent's buffers are not its own to flush.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Exit::Code(c) => write!(f, "exited with status {c}"),
            Exit::Signal(s) => write!(f, "was killed by signal {s} ({})", signal_name(s)),
        }
    }
}

pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

/// Reaps one child that has ended, without blocking: `Ok(None)` when none has.
pub fn reap_any() -> io::Result<Option<(i32, Exit)>> {
    let mut status = 0;
    // SAFETY: `status` is a valid, writable int.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        0 => Ok(None),
        -1 => {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ECHILD) {
                Ok(None)
            } else {
                Err(e)
            }
        }
        pid => Ok(Some((pid, decode(status)))),
    }
}

fn decode(status: libc::c_int) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

/// Waits (blocking) for child `pid` alone and returns how it ended; `None` if `pid` is not a
/// child of this process. Unlike [`reap_any`] it cannot take another caller's child, which
/// matters where several threads fork (tests).
pub fn wait_for(pid: i32) -> Option<Exit> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable int.
        match unsafe { libc::waitpid(pid, &mut status, 0) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            p => return (p == pid).then(|| decode(status)),
        }
    }
}

/// Sends `sig` to `pid`; a process that is already gone is not an error.
pub fn signal(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers.
    match cvt(unsafe { libc::kill(pid, sig) }) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map(|_| ()),
    }
}

pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGKILL: i32 = libc::SIGKILL;

pub const SIGINT: i32 = libc::SIGINT;

/// Asks the kernel to send `sig` to this process when its parent dies (`PR_SET_PDEATHSIG`).
///
/// "Parent" is the *thread* that forked this process: the signal comes when that thread ends,
/// even if the rest of its process lives on. The setting survives exec (unless the binary is
/// set-user-ID), so it is typically made in a `pre_exec` hook: this function makes one prctl
/// call and nothing else, which is async-signal-safe, so it may run between fork and exec.
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no pointers are passed.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) })?;
    Ok(())
}

/// Moves this process into a network namespace of its own (`unshare(CLONE_NEWNET)`), where the
/// only interface is a loopback that is down: nothing it sends can leave the machine, not even
/// to 127.0.0.1. Needs CAP_SYS_ADMIN (EPERM otherwise). One system call and nothing else, which
/// is async-signal-safe, so it may run in a `pre_exec` hook between fork and exec.
pub fn unshare_network_namespace() -> io::Result<()> {
    // SAFETY: unshare takes a flag word; no pointers are passed.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Moves this process into the network namespace `ns` refers to (an fd of
/// `/var/run/netns/NAME`, as `ip netns add` makes them): `setns(fd, CLONE_NEWNET)`. Needs
/// CAP_SYS_ADMIN. One system call, async-signal-safe: it may run in a `pre_exec` hook.
pub fn enter_network_namespace(ns: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns takes an fd the caller keeps open and a flag word.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Tests that fork hold this: [`reap_any`] in one test could otherwise reap another's child.
#[cfg(test)]
pub(crate) fn fork_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_session_leads_a_new_one_inherit_keeps_the_parents() {
        let _g = fork_lock();
        let shared: crate::shm::Board<u64, u64> = crate::shm::Board::new(2).unwrap();
        // SAFETY: getsid(0) takes no pointers.
        let parent_sid = unsafe { libc::getsid(0) };
        for (slot, session) in [(0, Session::Own), (1, Session::Inherit)] {
            match fork(session).unwrap() {
                Fork::Child => {
                    // SAFETY: as above.
                    let (sid, pid) = unsafe { (libc::getsid(0), libc::getpid()) };
                    shared.store(slot, &if sid == pid { 1 } else { 2 });
                    exit_now(0);
                }
                Fork::Parent { child } => {
                    assert_eq!(wait_for(child), Some(Exit::Code(0)));
                }
            }
        }
        assert_eq!(
            shared.load(0),
            1,
            "Session::Own: the child leads its own session"
        );
        assert_eq!(
            shared.load(1),
            2,
            "Session::Inherit: the child stays in the parent's"
        );
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getsid(0) }, parent_sid);
    }
}
