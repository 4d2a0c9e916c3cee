//! A TUN device: a network interface whose other end is a file descriptor.
//!
//! Opening `/dev/net/tun` and asking for `IFF_TUN | IFF_NO_PI` with `TUNSETIFF` creates an
//! interface that carries bare IP packets: every packet the kernel routes to the interface is
//! read from the fd, one `read()` per packet, and every packet written to the fd enters the
//! kernel's input path as if it had arrived on a wire. A device made this way is not persistent:
//! it disappears, with every address and route on it, when the last fd to it closes, so a
//! process that dies by SIGKILL leaves nothing behind. Creating one needs CAP_NET_ADMIN in the
//! network namespace's user namespace (root in a namespace made by `ip netns add`).
//!
//! The kernel queues packets for the reader up to the interface's `txqueuelen` (500 by default)
//! and drops the rest, so a reader that takes bursts of SYN-ACKs raises it
//! (`ip link set dev NAME txqueuelen N`).

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `IFNAMSIZ`: an interface name and its NUL.
const IFNAMSIZ: usize = 16;

/// `struct ifreq` as `TUNSETIFF` reads it: the name, then the flags (a union in C, padded to
/// 40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

/// An open TUN device: read and write whole IP packets through [`Tun::file`].
#[derive(Debug)]
pub struct Tun {
    pub file: File,
    /// The interface name the kernel gave it.
    pub name: String,
}

/// Creates a TUN device named after `pattern` (`c10m%d`: the kernel picks the number),
/// non-blocking.
pub fn open(pattern: &str) -> io::Result<Tun> {
    if pattern.len() >= IFNAMSIZ || pattern.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an interface name has at most 15 bytes",
        ));
    }
    // SAFETY: a NUL-terminated literal path; the result is checked below.
    let raw = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just opened and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = IfReq {
        name: [0; IFNAMSIZ],
        flags: IFF_TUN | IFF_NO_PI,
        _pad: [0; 22],
    };
    req.name[..pattern.len()].copy_from_slice(pattern.as_bytes());
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is laid out as.
    let r = unsafe { libc::ioctl(raw, TUNSETIFF as _, &mut req as *mut IfReq) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let name = CStr::from_bytes_until_nul(&req.name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "interface name"))?
        .to_string_lossy()
        .into_owned();
    Ok(Tun {
        file: File::from(fd),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_is_the_kernels_size() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert!(open("a-name-that-is-far-too-long").is_err());
    }
}
