//! The errors a connection flood meets, by name, with what each means and the knob behind it.
//!
//! A serious load tool never says "connection failed": the errno tells which limit was hit.
//! On Linux a client that has run out of ephemeral ports gets EADDRNOTAVAIL from `connect()`
//! ("Cannot assign requested address"), not EADDRINUSE, which comes from `bind()` (claim C1).

/// Errno constants, re-exported so the binaries need no `libc` of their own.
pub use libc::{
    EACCES, EADDRINUSE, EADDRNOTAVAIL, ECONNABORTED, ECONNREFUSED, ECONNRESET, EHOSTUNREACH,
    EINPROGRESS, EINVAL, EMFILE, ENETUNREACH, ENFILE, ENOBUFS, ENODEV, ENOENT, ENOMEM, EPERM,
    EPIPE, EPROTO, ETIMEDOUT,
};

/// The errno values counted by name; everything else counts as `other`.
pub const KNOWN: &[(i32, &str)] = &[
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENFILE, "ENFILE"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EPIPE, "EPIPE"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EPERM, "EPERM"),
    (libc::EACCES, "EACCES"),
    (libc::EINVAL, "EINVAL"),
];

/// The symbolic name of an errno (`EADDRNOTAVAIL`), or `other`.
pub fn name(errno: i32) -> &'static str {
    KNOWN
        .iter()
        .find(|(n, _)| *n == errno)
        .map(|(_, s)| *s)
        .unwrap_or("other")
}

/// What the error means for a flood, and which knob moves it.
pub fn meaning(errno: i32) -> &'static str {
    match errno {
        libc::EADDRNOTAVAIL => {
            "ephemeral ports exhausted for this (source, destination) pair: the kernel found no free \
             source port in net.ipv4.ip_local_port_range. Widen the range, add source addresses \
             (--source), add destination addresses or ports (--target), or let TIME_WAIT ports be \
             reused (net.ipv4.tcp_tw_reuse)"
        }
        libc::EADDRINUSE => {
            "bind() found the address and port taken (TIME_WAIT or another socket); without \
             IP_BIND_ADDRESS_NO_PORT, bind() must find a port free for every destination"
        }
        libc::EMFILE => {
            "this process reached its RLIMIT_NOFILE soft limit; raise it (--nofile, ulimit -n), \
             and past the hard limit with ulimit -Hn / LimitNOFILE= as root, or use more processes"
        }
        libc::ENFILE => {
            "the whole machine reached fs.file-max open files; raise it with sysctl -w fs.file-max=N"
        }
        libc::ECONNREFUSED => {
            "nothing listens on the target address and port (or the listener was closed)"
        }
        libc::ETIMEDOUT => {
            "the handshake did not finish in time: the server's SYN or accept queue is full \
             (net.core.somaxconn, net.ipv4.tcp_max_syn_backlog, the server's --backlog) or the \
             target is unreachable; raise --connect-timeout or lower --rate/--concurrency"
        }
        libc::ECONNRESET => "the peer reset the connection (it closed with unread data, or crashed)",
        libc::ECONNABORTED => "the connection was aborted before it could be accepted",
        libc::ENOBUFS | libc::ENOMEM => {
            "the kernel could not allocate socket memory: see net.ipv4.tcp_mem and free memory"
        }
        libc::EPIPE => "wrote to a connection the peer had already closed",
        libc::ENETUNREACH | libc::EHOSTUNREACH => "no route to the target address",
        libc::EPERM | libc::EACCES => "not permitted (a firewall rule, or a privileged port)",
        _ => "an unexpected error; its errno is printed with it",
    }
}

/// What an `accept()` error means for a loop that accepts (EINTR aside: that call is retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAcceptError {
    /// About one peer (ECONNABORTED: it reset before it was taken; EPERM: a firewall refused it;
    /// EPROTO): that connection has left the queue and the next one may be fine, so take it now.
    Skip,
    /// About this process or the machine (EMFILE, ENFILE, ENOBUFS, ENOMEM, anything else): the
    /// connection stays queued and the listener stays readable, so accepting again at once
    /// would spin, and waiting for the next readiness (edge-triggered) might wait forever. Pause
    /// accepting, and retry after a while.
    Pause,
}

/// The rule both event loops that accept (the server's, the pages') follow.
pub fn on_accept_error(errno: i32) -> OnAcceptError {
    match errno {
        libc::ECONNABORTED | libc::EPERM | libc::EPROTO => OnAcceptError::Skip,
        _ => OnAcceptError::Pause,
    }
}

/// The errno of an io::Error, or 0.
pub fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_meanings() {
        assert_eq!(name(libc::EADDRNOTAVAIL), "EADDRNOTAVAIL");
        assert_eq!(name(libc::EMFILE), "EMFILE");
        assert_eq!(name(9999), "other");
        assert!(meaning(libc::EADDRNOTAVAIL).contains("ip_local_port_range"));
        assert!(meaning(libc::ENFILE).contains("fs.file-max"));
    }

    #[test]
    fn an_accept_error_about_one_peer_is_skipped_and_any_other_pauses() {
        for skip in [libc::ECONNABORTED, libc::EPERM, libc::EPROTO] {
            assert_eq!(on_accept_error(skip), OnAcceptError::Skip, "{skip}");
        }
        for pause in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM, 0] {
            assert_eq!(on_accept_error(pause), OnAcceptError::Pause, "{pause}");
        }
    }
}
