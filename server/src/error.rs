//! Run-time failures of the server as a whole, each with what to do about it. A connection
//! that fails is not one: it is counted.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use c10m_sys::errno;
use c10m_sys::process::Exit;

#[derive(Debug)]
pub(crate) enum Error {
    /// sigaction() for SIGINT/SIGTERM.
    Signals(io::Error),
    /// setrlimit(RLIMIT_NOFILE), or reading it.
    Nofile(io::Error),
    /// socket(), bind() or listen() on the address.
    Listen(SocketAddr, io::Error),
    /// getsockname() on the new listener.
    LocalAddr(io::Error),
    /// epoll_create(), epoll_ctl() on the listener, or epoll_wait() failing for another reason
    /// than a signal.
    Poll(io::Error),
    /// fork(), waitpid() or the shared memory of `--workers`.
    Workers(io::Error),
    /// A worker ended before its listener was open.
    WorkerStart { pid: i32, exit: Exit },
    /// The workers did not all open their listener in time.
    WorkersSlow,
    /// `--metrics`, `--dashboard` or `--report` cannot be served as given (bad usage).
    Page(c10m_report::page_error::BindError),
    /// A page's thread could not start.
    PageStart(c10m_report::page_error::StartError),
    /// A worker died more often than it is restarted.
    WorkerGaveUp {
        index: usize,
        deaths: u32,
        pid: i32,
        exit: Exit,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Error::Nofile(e) => write!(f, "cannot set RLIMIT_NOFILE: {e}"),
            Error::Listen(addr, e) => {
                let hint = match e.raw_os_error() {
                    Some(errno::EADDRINUSE) => "another socket already listens there; pick another port (--listen IP:0 picks a free one)",
                    Some(errno::EADDRNOTAVAIL) => "that address is not on this machine; use 127.0.0.1 or another local address",
                    Some(errno::EACCES) => "ports below 1024 need root (CAP_NET_BIND_SERVICE)",
                    Some(errno::EMFILE) => "no file descriptor left for the listener; raise --nofile",
                    _ => "",
                };
                let sep = if hint.is_empty() { "" } else { ": " };
                write!(f, "cannot listen on {addr}: {e}{sep}{hint}")
            }
            Error::LocalAddr(e) => write!(f, "getsockname: {e}"),
            Error::Page(e) => write!(f, "{e}"),
            Error::PageStart(e) => write!(f, "{e}"),
            Error::Poll(e) => write!(f, "epoll: {e}"),
            Error::Workers(e) => write!(
                f,
                "cannot run the --workers: {e}; lower --workers, or check `ulimit -u` and free memory"
            ),
            Error::WorkerStart { pid, exit } => write!(f, "worker (pid {pid}) {exit} while starting"),
            Error::WorkersSlow => f.write_str("workers did not start within 10 s"),
            Error::WorkerGaveUp {
                index,
                deaths,
                pid,
                exit,
            } => write!(
                f,
                "worker {index} died {deaths} times (last: pid {pid} {exit}); stopping. Its stderr above says why"
            ),
        }
    }
}

impl std::error::Error for Error {}
