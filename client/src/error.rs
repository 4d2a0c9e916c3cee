//! Run-time failures of the client as a whole (a failed connection is not one: it is counted).

use std::fmt;
use std::io;

#[derive(Debug)]
pub(crate) enum Error {
    /// sigaction() for SIGINT/SIGTERM.
    Signals(io::Error),
    /// setrlimit(RLIMIT_NOFILE).
    Nofile(io::Error),
    /// epoll_create(), or epoll_wait() failing for another reason than a signal.
    Poll(io::Error),
    /// fork() or the shared memory of `--processes`.
    Processes(io::Error),
    /// The TUN engine's device or routes.
    Tun(io::Error),
    /// The plan does not fit the engine (the message says why and what to do).
    Plan(String),
    /// `--metrics`, `--dashboard` or `--report` cannot be served as given (bad usage).
    Page(c10m_report::page_error::BindError),
    /// A page's thread could not start.
    PageStart(c10m_report::page_error::StartError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Error::Nofile(e) => write!(
                f,
                "cannot set RLIMIT_NOFILE: {e}; pass --nofile N at or below `ulimit -Hn`"
            ),
            Error::Poll(e) => write!(
                f,
                "epoll: {e}; if it says too many open files, lower -n or raise --nofile"
            ),
            Error::Processes(e) => write!(
                f,
                "cannot start the --processes children: {e}; lower --processes, or check `ulimit -u` and free memory"
            ),
            Error::Tun(e) => write!(f, "--engine tun: {e}"),
            Error::Plan(msg) => f.write_str(msg),
            Error::Page(e) => write!(f, "{e}"),
            Error::PageStart(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}
