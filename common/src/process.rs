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
//! # Counters in shared memory
//! Each child writes its counters into its own slot of an anonymous `MAP_SHARED` mapping made
//! before fork; the parent sums the slots once per interval. That is O(children) per tick, with no
//! pipes to drain and no text to parse, and a child that dies leaves its last numbers readable.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

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

pub fn signal_name(sig: i32) -> &'static str {
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

/// `n` slots of `stride` counters each, in memory shared with children forked after it.
pub struct SharedCounters {
    ptr: *mut AtomicU64,
    slots: usize,
    stride: usize,
}

// SAFETY: the memory is only reached through atomics.
unsafe impl Send for SharedCounters {}
// SAFETY: the memory is only reached through atomics.
unsafe impl Sync for SharedCounters {}

impl SharedCounters {
    pub fn new(slots: usize, stride: usize) -> io::Result<SharedCounters> {
        let len = (slots * stride).max(1) * std::mem::size_of::<AtomicU64>();
        // SAFETY: an anonymous mapping with no address hint; the result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(SharedCounters {
            ptr: p as *mut AtomicU64,
            slots,
            stride,
        })
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Slot `i`'s counters.
    pub fn slot(&self, i: usize) -> &[AtomicU64] {
        assert!(i < self.slots, "slot {i} of {}", self.slots);
        // SAFETY: the mapping holds slots * stride zero-initialised AtomicU64s (all-zero is a
        // valid AtomicU64), lives as long as `self`, and is only accessed atomically.
        unsafe { std::slice::from_raw_parts(self.ptr.add(i * self.stride), self.stride) }
    }

    pub fn get(&self, i: usize, field: usize) -> u64 {
        self.slot(i)[field].load(Ordering::Relaxed)
    }

    pub fn set(&self, i: usize, field: usize, v: u64) {
        self.slot(i)[field].store(v, Ordering::Relaxed);
    }

    pub fn clear(&self, i: usize) {
        for c in self.slot(i) {
            c.store(0, Ordering::Relaxed);
        }
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        let len = (self.slots * self.stride).max(1) * std::mem::size_of::<AtomicU64>();
        // SAFETY: unmapping exactly the mapping made in `new`; no slice into it outlives `self`.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, len) };
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_writes_parent_reads() {
        let shared = SharedCounters::new(2, 3).unwrap();
        match fork(Session::Inherit).unwrap() {
            Fork::Child => {
                shared.set(1, 2, 42);
                exit_now(7);
            }
            Fork::Parent { child } => {
                assert_eq!(wait_for(child), Some(Exit::Code(7)));
                assert_eq!(shared.get(1, 2), 42);
                assert_eq!(shared.get(0, 2), 0);
            }
        }
    }

    /// Waits for this test's own child only: tests run in parallel threads of one process, so
    /// `reap_any` could take another test's child.
    fn wait_for(child: i32) -> Option<Exit> {
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid, writable int.
            match unsafe { libc::waitpid(child, &mut status, 0) } {
                -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
                pid => return (pid == child).then(|| decode(status)),
            }
        }
    }

    #[test]
    fn own_session_leads_a_new_one_inherit_keeps_the_parents() {
        let shared = SharedCounters::new(2, 1).unwrap();
        // SAFETY: getsid(0) takes no pointers.
        let parent_sid = unsafe { libc::getsid(0) };
        for (slot, session) in [(0, Session::Own), (1, Session::Inherit)] {
            match fork(session).unwrap() {
                Fork::Child => {
                    // SAFETY: as above.
                    let (sid, pid) = unsafe { (libc::getsid(0), libc::getpid()) };
                    shared.set(slot, 0, if sid == pid { 1 } else { 2 });
                    exit_now(0);
                }
                Fork::Parent { child } => {
                    assert_eq!(wait_for(child), Some(Exit::Code(0)));
                }
            }
        }
        assert_eq!(
            shared.get(0, 0),
            1,
            "Session::Own: the child leads its own session"
        );
        assert_eq!(
            shared.get(1, 0),
            2,
            "Session::Inherit: the child stays in the parent's"
        );
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getsid(0) }, parent_sid);
    }
}
