//! Why `--metrics`, `--dashboard` or `--report` cannot be served, in two kinds a binary answers
//! differently:
//!
//! - a [`BindError`] is found in what the flags say (an address in use or of another machine, a
//!   report in a folder that cannot be written), before the binary forks or connects: bad usage,
//!   exit status 2;
//! - a [`StartError`] is the machine's, met after the address was bound (no thread, no epoll
//!   instance for the page): a run-time failure, exit status 1.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Which page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Metrics,
    Dashboard,
    /// `--report` without `--dashboard`: a dashboard's thread with no address, that samples the
    /// run and writes the file.
    Report,
}

impl Page {
    pub fn flag(self) -> &'static str {
        match self {
            Page::Metrics => "--metrics",
            Page::Dashboard => "--dashboard",
            Page::Report => "--report",
        }
    }
}

/// A page's flag that cannot be served as given.
#[derive(Debug)]
pub enum BindError {
    /// Its address cannot be listened on.
    Listen {
        page: Page,
        addr: SocketAddr,
        error: io::Error,
    },
    /// `--report FILE` cannot be written.
    Report { path: PathBuf, reason: String },
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Listen { page, addr, error } => {
                let flag = page.flag();
                write!(f, "{flag} {addr}: cannot listen: ")?;
                match error.kind() {
                    io::ErrorKind::AddrInUse => f.write_str("the port is in use")?,
                    io::ErrorKind::AddrNotAvailable => {
                        f.write_str("the address is not one of this machine's")?
                    }
                    _ => write!(f, "{error}")?,
                }
                f.write_str(
                    "; pick a free IP:PORT of this machine (127.0.0.1:0 picks a free port)",
                )
            }
            BindError::Report { path, reason } => write!(
                f,
                "--report {}: cannot write it: {reason}; name a file in a folder that exists and can be written",
                path.display()
            ),
        }
    }
}

impl std::error::Error for BindError {}

/// A page whose address was bound but whose thread could not start.
#[derive(Debug)]
pub struct StartError {
    pub page: Page,
    pub error: io::Error,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = self.page.flag();
        write!(
            f,
            "{flag}: cannot start the page's thread: {}; free some memory, threads (ulimit -u) or \
             descriptors (ulimit -n, --nofile), or run without {flag}",
            self.error
        )
    }
}

impl std::error::Error for StartError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_says_what_went_wrong_and_what_to_do() {
        let addr: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        let in_use = BindError::Listen {
            page: Page::Dashboard,
            addr,
            error: io::ErrorKind::AddrInUse.into(),
        };
        assert_eq!(
            in_use.to_string(),
            "--dashboard 127.0.0.1:9090: cannot listen: the port is in use; pick a free IP:PORT \
             of this machine (127.0.0.1:0 picks a free port)"
        );
        let report = BindError::Report {
            path: "/r/x.html".into(),
            reason: "it is a folder".into(),
        };
        assert!(report
            .to_string()
            .starts_with("--report /r/x.html: cannot write it: it is"));
        let start = StartError {
            page: Page::Report,
            error: io::Error::from_raw_os_error(c10m_sys::errno::ENOMEM),
        };
        let said = start.to_string();
        assert!(said.starts_with("--report: cannot start"), "{said}");
        assert!(
            !said.contains("listen") && !said.contains("0.0.0.0"),
            "{said}"
        );
    }
}
