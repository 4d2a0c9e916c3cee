//! IPv4 and TCP headers, built and parsed as bytes: what the TUN engine writes to and reads from
//! the device.
//!
//! A TUN device (`IFF_TUN | IFF_NO_PI`) carries bare IP packets: what the kernel routes to the
//! device is read from its fd, and what is written to the fd arrives as if from a wire. So the
//! engine must produce packets the kernel's input path accepts: a correct IPv4 header checksum
//! (RFC 791) and a TCP checksum over the pseudo-header (RFC 9293 3.1), both the 16-bit ones'
//! complement of the ones' complement sum. The kernel fills in the checksums of what it sends
//! to a device that offers no checksum offload, as a TUN device does by default, so the packets
//! read back are complete too.

use std::net::Ipv4Addr;

pub(super) const IP_HEADER: usize = 20;
pub(super) const TCP_HEADER: usize = 20;
/// The MSS option a SYN carries.
const MSS_OPTION: usize = 4;
/// Room for the largest packet the engine builds.
pub(super) const MAX_PACKET: usize = IP_HEADER + TCP_HEADER + MSS_OPTION + MAX_PAYLOAD;
/// The most payload one segment carries: the MSS of a 1500-byte MTU.
pub(super) const MAX_PAYLOAD: usize = 1460;

pub(super) const FIN: u8 = 0x01;
pub(super) const SYN: u8 = 0x02;
pub(super) const RST: u8 = 0x04;
pub(super) const PSH: u8 = 0x08;
pub(super) const ACK: u8 = 0x10;

const PROTO_TCP: u8 = 6;
const DONT_FRAGMENT: u16 = 0x4000;
const TTL: u8 = 64;

/// One segment to send, or one that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// The MSS option (SYNs only).
    pub mss: Option<u16>,
    pub payload: &'a [u8],
}

impl Segment<'_> {
    pub(super) fn has(&self, flags: u8) -> bool {
        self.flags & flags == flags
    }

    /// Sequence space the segment takes: its payload, plus one each for SYN and FIN.
    pub(super) fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.has(SYN)) + u32::from(self.has(FIN))
    }
}

/// The ones' complement sum of `data` as 16-bit big-endian words, added to `sum`, not folded.
fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds the carries and complements: the Internet checksum.
fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of an IPv4 header (its checksum field counted as zero, or as it is: a valid
/// header then sums to 0).
pub(super) fn ip_checksum(header: &[u8]) -> u16 {
    fold(sum16(0, header))
}

/// The TCP checksum of `tcp` (header and payload) between `src` and `dst`.
pub(super) fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, tcp: &[u8]) -> u16 {
    let mut sum = sum16(0, &src.octets());
    sum = sum16(sum, &dst.octets());
    sum += u32::from(PROTO_TCP) + tcp.len() as u32;
    fold(sum16(sum, tcp))
}

/// Writes `s` as an IPv4 packet into `buf` and returns its length. `buf` must hold
/// [`MAX_PACKET`]; a payload past [`MAX_PAYLOAD`] is a bug of the caller.
pub(super) fn build(buf: &mut [u8], s: &Segment<'_>) -> usize {
    assert!(
        s.payload.len() <= MAX_PAYLOAD,
        "segment payload over the MSS"
    );
    let opts = if s.mss.is_some() { MSS_OPTION } else { 0 };
    let tcp_len = TCP_HEADER + opts + s.payload.len();
    let total = IP_HEADER + tcp_len;
    let (ip, rest) = buf[..total].split_at_mut(IP_HEADER);
    ip[0] = 0x45; // version 4, 5 words
    ip[1] = 0;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0u16.to_be_bytes()); // id: unused with DF
    ip[6..8].copy_from_slice(&DONT_FRAGMENT.to_be_bytes());
    ip[8] = TTL;
    ip[9] = PROTO_TCP;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&s.src.octets());
    ip[16..20].copy_from_slice(&s.dst.octets());
    let c = ip_checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let tcp = rest;
    tcp[0..2].copy_from_slice(&s.sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&s.dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&s.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&s.ack.to_be_bytes());
    tcp[12] = (((TCP_HEADER + opts) / 4) as u8) << 4;
    tcp[13] = s.flags;
    tcp[14..16].copy_from_slice(&s.window.to_be_bytes());
    tcp[16..20].copy_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    if let Some(mss) = s.mss {
        tcp[20] = 2; // kind: MSS
        tcp[21] = 4;
        tcp[22..24].copy_from_slice(&mss.to_be_bytes());
    }
    tcp[TCP_HEADER + opts..].copy_from_slice(s.payload);
    let c = tcp_checksum(s.src, s.dst, tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    total
}

/// Why a packet read from the device is not a TCP segment the engine takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reject {
    /// Shorter than its headers say, or than an IPv4 + TCP header.
    Truncated,
    /// Not IPv4 (an IPv6 packet, say: the device gets those too when routed).
    NotIpv4,
    /// Not TCP.
    NotTcp,
    /// A fragment: the engine never sends anything that needs one.
    Fragment,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses an IPv4 packet holding a TCP segment. Checksums are not verified: the packets come
/// from this machine's kernel, which computed them.
pub(super) fn parse(p: &[u8]) -> Result<Segment<'_>, Reject> {
    if p.len() < IP_HEADER + TCP_HEADER {
        return Err(Reject::Truncated);
    }
    if p[0] >> 4 != 4 {
        return Err(Reject::NotIpv4);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(be16(p, 2));
    if ihl < IP_HEADER || total < ihl + TCP_HEADER || total > p.len() {
        return Err(Reject::Truncated);
    }
    if p[9] != PROTO_TCP {
        return Err(Reject::NotTcp);
    }
    if be16(p, 6) & 0x3fff != 0 {
        return Err(Reject::Fragment); // more-fragments set, or an offset
    }
    let tcp = &p[ihl..total];
    let off = usize::from(tcp[12] >> 4) * 4;
    if off < TCP_HEADER || off > tcp.len() {
        return Err(Reject::Truncated);
    }
    let mss = tcp[TCP_HEADER..off]
        .windows(4)
        .find(|o| o[0] == 2 && o[1] == 4)
        .map(|o| u16::from_be_bytes([o[2], o[3]]));
    Ok(Segment {
        src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        sport: be16(tcp, 0),
        dport: be16(tcp, 2),
        seq: be32(tcp, 4),
        ack: be32(tcp, 8),
        flags: tcp[13],
        window: be16(tcp, 14),
        mss,
        payload: &tcp[off..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
    const S: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// A SYN from 198.19.0.1:40000 to 198.18.0.1:7000, ISN 0xfffffff0, MSS 1460, built by an
    /// independent implementation (Python's struct, RFC 1071 sum).
    const SYN_FIXTURE: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0xa4, 0xc6, 0x13, 0x00,
        0x01, 0xc6, 0x12, 0x00, 0x01, 0x9c, 0x40, 0x1b, 0x58, 0xff, 0xff, 0xff, 0xf0, 0x00, 0x00,
        0x00, 0x00, 0x60, 0x02, 0xff, 0xff, 0x54, 0x75, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    /// The server's echo "ping", PSH|ACK, seq 0xfffffffe (it wraps inside the payload), window
    /// 502.
    const DATA_FIXTURE: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0xa4, 0xc6, 0x12, 0x00,
        0x01, 0xc6, 0x13, 0x00, 0x01, 0x1b, 0x58, 0x9c, 0x40, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff,
        0xff, 0xf1, 0x50, 0x18, 0x01, 0xf6, 0x8b, 0x50, 0x00, 0x00, 0x70, 0x69, 0x6e, 0x67,
    ];

    fn syn() -> Segment<'static> {
        Segment {
            src: C,
            dst: S,
            sport: 40000,
            dport: 7000,
            seq: 0xffff_fff0,
            ack: 0,
            flags: SYN,
            window: 65535,
            mss: Some(1460),
            payload: &[],
        }
    }

    #[test]
    fn builds_the_fixture_byte_for_byte() {
        let mut buf = [0u8; MAX_PACKET];
        let n = build(&mut buf, &syn());
        assert_eq!(&buf[..n], &SYN_FIXTURE[..]);
        let data = Segment {
            src: S,
            dst: C,
            sport: 7000,
            dport: 40000,
            seq: 0xffff_fffe,
            ack: 0xffff_fff1,
            flags: PSH | ACK,
            window: 502,
            mss: None,
            payload: b"ping",
        };
        let n = build(&mut buf, &data);
        assert_eq!(&buf[..n], &DATA_FIXTURE[..]);
    }

    #[test]
    fn parses_what_it_builds_and_checksums_verify() {
        let s = parse(&SYN_FIXTURE).unwrap();
        assert_eq!(s, syn());
        assert_eq!(s.seq_len(), 1);
        assert_eq!(ip_checksum(&SYN_FIXTURE[..IP_HEADER]), 0);
        assert_eq!(tcp_checksum(C, S, &SYN_FIXTURE[IP_HEADER..]), 0);
        let d = parse(&DATA_FIXTURE).unwrap();
        assert_eq!(d.payload, b"ping");
        assert!(d.has(ACK) && d.has(PSH) && !d.has(SYN));
        assert_eq!(d.mss, None);
        // The payload's end wraps past 2^32.
        assert_eq!(d.seq.wrapping_add(d.seq_len()), 2);
        // An odd-length payload checksums with a zero pad byte.
        let mut buf = [0u8; MAX_PACKET];
        let odd = Segment {
            payload: b"abc",
            mss: None,
            ..syn()
        };
        let n = build(&mut buf, &odd);
        assert_eq!(tcp_checksum(C, S, &buf[IP_HEADER..n]), 0);
        assert_eq!(parse(&buf[..n]).unwrap().payload, b"abc");
    }

    #[test]
    fn rejects_what_it_does_not_take() {
        assert_eq!(parse(&SYN_FIXTURE[..30]), Err(Reject::Truncated));
        let mut v6 = SYN_FIXTURE;
        v6[0] = 0x60;
        assert_eq!(parse(&v6), Err(Reject::NotIpv4));
        let mut udp = SYN_FIXTURE;
        udp[9] = 17;
        assert_eq!(parse(&udp), Err(Reject::NotTcp));
        let mut frag = SYN_FIXTURE;
        frag[6] = 0x20; // more fragments
        assert_eq!(parse(&frag), Err(Reject::Fragment));
        let mut long = SYN_FIXTURE;
        long[3] = 0x40; // total length past the buffer
        assert_eq!(parse(&long), Err(Reject::Truncated));
    }
}
