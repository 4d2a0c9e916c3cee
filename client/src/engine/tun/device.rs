//! The TUN device of one client process, and the routes that send its addresses' replies to it.
//!
//! The device is created non-persistent ([`c10m_sys::tun`]), so it and its routes vanish with
//! the process however it ends: SIGKILL included. What the kernel routes to the device is every
//! packet to one of the client's source addresses: one `/32` (IPv6: `/128`) route per address,
//! so that several client processes, each with its own device and its own addresses, never take
//! each other's replies. The queue between the kernel and the reader is raised from 500
//! packets: at a ramp of 100,000+ handshakes a second the default drops SYN-ACKs, and each drop
//! costs that connection a 1 s SYN retransmission.

use std::io;
use std::net::IpAddr;
use std::process::Command;

use c10m_sys::errno;
use c10m_sys::tun::{self, Tun};

/// Packets the kernel may queue for the reader.
pub(super) const TXQUEUELEN: u32 = 65_536;

/// Why the device could not be set up, with what to do.
#[derive(Debug)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn ip(args: &[&str]) -> Result<(), SetupError> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        SetupError(format!(
            "cannot run `ip {}`: {e}; install iproute2",
            args.join(" ")
        ))
    })?;
    if !out.status.success() {
        return Err(SetupError(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Creates the device, brings it up with a long queue, and routes `sources` to it.
pub(super) fn create(sources: &[IpAddr]) -> Result<Tun, SetupError> {
    let dev = tun::open("c10m%d").map_err(|e| {
        SetupError(match e.raw_os_error() {
            Some(errno::EPERM) | Some(errno::EACCES) => format!(
                "cannot create a TUN device: {e}; --engine tun needs CAP_NET_ADMIN (root, or a \
                 network namespace of your own: ip netns add NAME; ip netns exec NAME c10m-client ...)"
            ),
            Some(errno::ENOENT) | Some(errno::ENODEV) => format!(
                "cannot create a TUN device: {e}; the kernel has no TUN driver here (modprobe tun)"
            ),
            _ => format!("cannot create a TUN device: {e}"),
        })
    })?;
    let q = TXQUEUELEN.to_string();
    ip(&["link", "set", "dev", &dev.name, "txqueuelen", &q, "up"])?;
    for s in sources {
        let prefix = if s.is_ipv4() { 32 } else { 128 };
        ip(&["route", "add", &format!("{s}/{prefix}"), "dev", &dev.name])?;
    }
    log::debug!(
        "TUN device {} up, txqueuelen {TXQUEUELEN}, routes to {} source address(es)",
        dev.name,
        sources.len()
    );
    Ok(dev)
}

impl From<SetupError> for io::Error {
    fn from(e: SetupError) -> io::Error {
        io::Error::other(e.0)
    }
}
