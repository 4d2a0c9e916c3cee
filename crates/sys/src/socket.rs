//! Every `libc` call of the project, behind safe wrappers.
//!
//! Each raw file descriptor becomes an [`OwnedFd`] (or a std socket type that owns one) the moment
//! the kernel returns it, so no path can leak or double-close it. Syscalls go through
//! `cvt`, which turns the C convention (`-1` and `errno`) into `io::Result`.
//!
//! Why not `std::net` for everything? Three things the project needs are not in std:
//! - a listen backlog of our choosing (std and mio use 128/1024; the kernel clamps to
//!   `net.core.somaxconn`, 4096 by default since Linux 5.4),
//! - `bind()` before a nonblocking `connect()` with `IP_BIND_ADDRESS_NO_PORT`, so that binding a
//!   source address reserves no port: the kernel picks the port at `connect()` time, when it knows
//!   the whole 4-tuple, and one source port can then serve many destinations (claims C10, C11),
//! - `SO_LINGER {on, 0}`: close with a reset and leave no TIME_WAIT behind.

use std::io::{self, Write};
use std::mem::{self, MaybeUninit};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::cvt;

/// A C `sockaddr` built from a Rust address, with its length.
struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn new(addr: SocketAddr) -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in).write(sin) };
                mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in6).write(sin6) };
                mem::size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }
}

fn domain(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// A nonblocking, close-on-exec TCP socket, owned from birth.
fn tcp_socket(domain: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments; the returned fd is owned at once below.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: socket() just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` is a valid c_int that outlives the call; the length matches it.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &v as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Options for [`listen_tcp`].
#[derive(Debug, Clone, Copy)]
pub struct ListenOpts {
    /// Passed to listen(2); the kernel silently clamps it to `net.core.somaxconn`.
    pub backlog: i32,
    /// SO_REUSEPORT: several sockets (one per worker) share the port; the kernel hashes each new
    /// connection to one of them.
    pub reuseport: bool,
}

/// A nonblocking listening socket with the backlog we ask for.
pub fn listen_tcp(addr: SocketAddr, opts: ListenOpts) -> io::Result<TcpListener> {
    let fd = tcp_socket(domain(&addr))?;
    set_int_opt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if opts.reuseport {
        set_int_opt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let raw = RawAddr::new(addr);
    // SAFETY: `raw` holds a valid sockaddr of length `raw.len`.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len) })?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), opts.backlog) })?;
    Ok(TcpListener::from(fd))
}

/// The outcome of starting a nonblocking connect.
#[derive(Debug)]
pub struct Connecting {
    pub stream: TcpStream,
    /// false when connect() completed at once (possible on loopback); true for EINPROGRESS.
    pub in_progress: bool,
}

/// Where a failed connect attempt failed: the errno alone does not always say (EADDRINUSE from
/// bind, EADDRNOTAVAIL from connect, EMFILE from socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectStep {
    Socket,
    Bind,
    Connect,
}

/// A connect attempt that failed before any event: the errno and the step.
#[derive(Debug)]
pub struct ConnectError {
    pub step: ConnectStep,
    pub error: io::Error,
}

/// Starts a nonblocking TCP connect to `dst`, optionally from source address `src`.
///
/// With a source address the socket is bound first with `IP_BIND_ADDRESS_NO_PORT`: without it,
/// `bind(port 0)` must pick a port that is free for *every* destination, so each source address
/// would be capped at the size of `ip_local_port_range` in total; with it, the port is chosen at
/// `connect()` and only has to be unique per 4-tuple.
pub fn connect_nonblocking(
    dst: SocketAddr,
    src: Option<IpAddr>,
    bind_no_port: bool,
) -> Result<Connecting, ConnectError> {
    let fail = |step| move |error| ConnectError { step, error };
    let fd = tcp_socket(domain(&dst)).map_err(fail(ConnectStep::Socket))?;
    if let Some(ip) = src {
        if bind_no_port && ip.is_ipv4() {
            set_int_opt(
                fd.as_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                1,
            )
            .map_err(fail(ConnectStep::Bind))?;
        }
        let raw = RawAddr::new(SocketAddr::new(ip, 0));
        // SAFETY: `raw` holds a valid sockaddr of length `raw.len`.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len) })
            .map_err(fail(ConnectStep::Bind))?;
    }
    let raw = RawAddr::new(dst);
    // SAFETY: `raw` holds a valid sockaddr of length `raw.len`.
    let in_progress = match cvt(unsafe { libc::connect(fd.as_raw_fd(), raw.as_ptr(), raw.len) }) {
        Ok(_) => false,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => true,
        Err(e) => {
            return Err(ConnectError {
                step: ConnectStep::Connect,
                error: e,
            })
        }
    };
    Ok(Connecting {
        stream: TcpStream::from(fd),
        in_progress,
    })
}

/// `SO_LINGER {on, 0}`: the next close() sends a RST and skips TIME_WAIT (claim C1's escape
/// hatch, and how the client tears down thousands of connections without leaving 60 s of
/// TIME_WAIT on the machine).
pub fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `lg` is a valid linger struct that outlives the call; the length matches it.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &lg as *const libc::linger as *const libc::c_void,
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// A listener's accept queue: connections that finished their handshake and wait for `accept()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptQueue {
    pub queued: u32,
    /// The backlog in force: listen()'s argument clamped to `net.core.somaxconn`.
    pub max: u32,
}

/// Reads a TCP listener's accept queue with `getsockopt(TCP_INFO)`: for a socket in LISTEN state
/// the kernel reuses two fields, `tcpi_unacked` for the connections queued and `tcpi_sacked` for
/// the backlog (`tcp_get_info()` in net/ipv4/tcp.c; `ss -lt` shows the same as Recv-Q and
/// Send-Q). It takes no socket lock and allocates nothing.
pub fn accept_queue(fd: BorrowedFd<'_>) -> io::Result<AcceptQueue> {
    let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes; the kernel writes at most that much.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr() as *mut libc::c_void,
            &mut len,
        )
    })?;
    debug_assert!(len as usize >= mem::offset_of!(libc::tcp_info, tcpi_sacked) + 4);
    // SAFETY: zero-initialised, then (partly) filled in by getsockopt; every field is an integer.
    let info = unsafe { info.assume_init() };
    Ok(AcceptQueue {
        queued: info.tcpi_unacked,
        max: info.tcpi_sacked,
    })
}

/// TCP_NODELAY: send small writes at once instead of waiting for an ACK (Nagle), so a ping's
/// round trip measures the network path, not Nagle and delayed ACKs.
pub fn set_nodelay(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Writes as much of `buf` as the socket takes now, retrying on EINTR; `Ok(n < buf.len())`
/// means it would block. A write that takes 0 bytes is `WriteZero`.
pub fn write_some(w: &mut impl Write, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match w.write(&buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_queue_counts_what_waits_for_accept() {
        let opts = ListenOpts {
            backlog: 8,
            reuseport: false,
        };
        let listener = listen_tcp("127.0.0.1:0".parse().unwrap(), opts).unwrap();
        let addr = listener.local_addr().unwrap();
        let q = accept_queue(listener.as_fd()).unwrap();
        assert_eq!(q, AcceptQueue { queued: 0, max: 8 });
        let _clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // On loopback the handshake normally completes inside connect(); allow a loaded machine
        // a moment for the last ACK's softirq.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while accept_queue(listener.as_fd()).unwrap().queued < 3
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(accept_queue(listener.as_fd()).unwrap().queued, 3);
        let _first = listener.accept().unwrap();
        assert_eq!(accept_queue(listener.as_fd()).unwrap().queued, 2);
    }

    /// Takes `room` bytes, three at a time, after one EINTR; then would block.
    struct Sock {
        room: usize,
        taken: Vec<u8>,
        interrupted: bool,
    }

    impl Write for Sock {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if !self.interrupted {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = b.len().min(3).min(self.room - self.taken.len());
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.taken.extend_from_slice(&b[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_until_the_buffer_is_full() {
        let mut s = Sock {
            room: 7,
            taken: vec![],
            interrupted: false,
        };
        assert_eq!(write_some(&mut s, b"0123456789").unwrap(), 7);
        assert_eq!(s.taken, b"0123456");
        let mut all = Sock {
            room: 100,
            taken: vec![],
            interrupted: true,
        };
        assert_eq!(write_some(&mut all, b"abcd").unwrap(), 4);
    }
}
