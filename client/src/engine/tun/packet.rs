//! IPv4, IPv6 and TCP headers, built and parsed as bytes: what the TUN engine writes to and reads
//! from the device.
//!
//! A TUN device (`IFF_TUN | IFF_NO_PI`) carries bare IP packets: what the kernel routes to the
//! device is read from its fd, and what is written to the fd arrives as if from a wire. So the
//! engine must produce packets the kernel's input path accepts: a correct IPv4 header checksum
//! (RFC 791; IPv6 has none, RFC 8200) and a TCP checksum over the pseudo-header (RFC 9293 3.1
//! for IPv4, RFC 8200 8.1 for IPv6), both the 16-bit ones' complement of the ones' complement
//! sum. The kernel fills in the checksums of what it sends to a device that offers no checksum
//! offload, as a TUN device does by default, so the packets read back are complete too.
//!
//! The engine sends no IPv6 extension header. What it reads is walked past the hop-by-hop,
//! routing and destination options headers (RFC 8200 4.3-4.6, each a next-header byte and a
//! length); a fragment, or any other header, is refused. Parsing never trusts a length field:
//! every slice is checked against the bytes read, so no packet can make it panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(super) const IP_HEADER: usize = 20;
pub(super) const IPV6_HEADER: usize = 40;
pub(super) const TCP_HEADER: usize = 20;
/// The MSS option a SYN carries.
const MSS_OPTION: usize = 4;
/// The most payload one IPv4 segment carries: the MSS of a 1500-byte MTU.
pub(super) const MAX_PAYLOAD: usize = 1460;
/// The same over IPv6, whose header is 20 bytes longer.
pub(super) const MAX_PAYLOAD_V6: usize = 1440;
/// Room for the largest packet the engine builds.
pub(super) const MAX_PACKET: usize = IPV6_HEADER + TCP_HEADER + MSS_OPTION + MAX_PAYLOAD_V6;

pub(super) const FIN: u8 = 0x01;
pub(super) const SYN: u8 = 0x02;
pub(super) const RST: u8 = 0x04;
pub(super) const PSH: u8 = 0x08;
pub(super) const ACK: u8 = 0x10;

const PROTO_TCP: u8 = 6;
const DONT_FRAGMENT: u16 = 0x4000;
const TTL: u8 = 64;
/// IPv6 next-header values of the extension headers parse walks past, and the fragment header.
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DEST_OPTIONS: u8 = 60;

/// The most payload a segment between these addresses carries (a 1500-byte MTU).
pub(super) fn max_payload(ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(_) => MAX_PAYLOAD,
        IpAddr::V6(_) => MAX_PAYLOAD_V6,
    }
}

/// One segment to send, or one that arrived. `src` and `dst` are of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
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

/// The TCP checksum of `tcp` (header and payload) between `src` and `dst`: the pseudo-header
/// of either family, then the segment.
pub(super) fn tcp_checksum(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> u16 {
    let sum = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum16(sum16(0, &s.octets()), &d.octets()),
        (s, d) => sum16(sum16(0, &v6(s).octets()), &v6(d).octets()),
    };
    // The protocol and the length: IPv4's are 8 and 16 bits, IPv6's 8 and 32; as 16-bit
    // words both add up to the same thing for a segment under 64 KiB.
    let sum = sum + u32::from(PROTO_TCP) + tcp.len() as u32;
    fold(sum16(sum, tcp))
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// Writes `s` as an IP packet of its addresses' family into `buf` and returns its length.
/// `buf` must hold [`MAX_PACKET`]; a payload past the family's MSS, or addresses of two
/// families, are bugs of the caller.
pub(super) fn build(buf: &mut [u8], s: &Segment<'_>) -> usize {
    assert!(
        s.payload.len() <= max_payload(s.src),
        "segment payload over the MSS"
    );
    assert_eq!(
        s.src.is_ipv4(),
        s.dst.is_ipv4(),
        "addresses of two families"
    );
    let opts = if s.mss.is_some() { MSS_OPTION } else { 0 };
    let tcp_len = TCP_HEADER + opts + s.payload.len();
    let ip_len = match s.src {
        IpAddr::V4(_) => IP_HEADER,
        IpAddr::V6(_) => IPV6_HEADER,
    };
    let total = ip_len + tcp_len;
    let (ip, tcp) = buf[..total].split_at_mut(ip_len);
    match (s.src, s.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => ipv4_header(ip, total, src, dst),
        (src, dst) => ipv6_header(ip, tcp_len, v6(src), v6(dst)),
    }
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

fn ipv4_header(ip: &mut [u8], total: usize, src: Ipv4Addr, dst: Ipv4Addr) {
    ip[0] = 0x45; // version 4, 5 words
    ip[1] = 0;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0u16.to_be_bytes()); // id: unused with DF
    ip[6..8].copy_from_slice(&DONT_FRAGMENT.to_be_bytes());
    ip[8] = TTL;
    ip[9] = PROTO_TCP;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = ip_checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
}

fn ipv6_header(ip: &mut [u8], payload_len: usize, src: Ipv6Addr, dst: Ipv6Addr) {
    ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]); // version 6, traffic class 0, flow label 0
    ip[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    ip[6] = PROTO_TCP;
    ip[7] = TTL; // hop limit
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
}

/// Why a packet read from the device is not a TCP segment the engine takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reject {
    /// Shorter than its headers say, or than an IP + TCP header.
    Truncated,
    /// Neither IPv4 nor IPv6.
    NotIp,
    /// Not TCP (ICMPv6 neighbour discovery, say), or behind an extension header parse does
    /// not walk.
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

/// Parses an IPv4 or IPv6 packet holding a TCP segment. Checksums are not verified: the packets
/// come from this machine's kernel, which computed them.
pub(super) fn parse(p: &[u8]) -> Result<Segment<'_>, Reject> {
    let (src, dst, tcp) = match p.first().map(|b| b >> 4) {
        Some(4) => ipv4(p)?,
        Some(6) => ipv6(p)?,
        Some(_) => return Err(Reject::NotIp),
        None => return Err(Reject::Truncated),
    };
    if tcp.len() < TCP_HEADER {
        return Err(Reject::Truncated);
    }
    let off = usize::from(tcp[12] >> 4) * 4;
    if off < TCP_HEADER || off > tcp.len() {
        return Err(Reject::Truncated);
    }
    Ok(Segment {
        src,
        dst,
        sport: be16(tcp, 0),
        dport: be16(tcp, 2),
        seq: be32(tcp, 4),
        ack: be32(tcp, 8),
        flags: tcp[13],
        window: be16(tcp, 14),
        mss: mss_option(&tcp[TCP_HEADER..off]),
        payload: &tcp[off..],
    })
}

/// The MSS option among `opts` (RFC 9293 3.1: kind 0 ends the list, 1 is one byte, every other
/// kind carries its length).
fn mss_option(mut opts: &[u8]) -> Option<u16> {
    loop {
        match *opts {
            [] | [0, ..] => return None,
            [1, ref rest @ ..] => opts = rest,
            [2, 4, a, b, ..] => return Some(u16::from_be_bytes([a, b])),
            [_, len, ..] if len >= 2 && usize::from(len) <= opts.len() => {
                opts = &opts[usize::from(len)..]
            }
            _ => return None,
        }
    }
}

type Ip<'a> = (IpAddr, IpAddr, &'a [u8]);

fn ipv4(p: &[u8]) -> Result<Ip<'_>, Reject> {
    if p.len() < IP_HEADER {
        return Err(Reject::Truncated);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(be16(p, 2));
    if ihl < IP_HEADER || total < ihl || total > p.len() {
        return Err(Reject::Truncated);
    }
    if p[9] != PROTO_TCP {
        return Err(Reject::NotTcp);
    }
    if be16(p, 6) & 0x3fff != 0 {
        return Err(Reject::Fragment); // more-fragments set, or an offset
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    Ok((src.into(), dst.into(), &p[ihl..total]))
}

fn ipv6(p: &[u8]) -> Result<Ip<'_>, Reject> {
    if p.len() < IPV6_HEADER {
        return Err(Reject::Truncated);
    }
    let total = IPV6_HEADER + usize::from(be16(p, 4));
    if total > p.len() {
        return Err(Reject::Truncated); // a jumbogram's length 0 ends up here too
    }
    let octets = |at: usize| -> [u8; 16] { p[at..at + 16].try_into().expect("16 bytes") };
    let (src, dst) = (Ipv6Addr::from(octets(8)), Ipv6Addr::from(octets(24)));
    let (mut next, mut at) = (p[6], IPV6_HEADER);
    // Each header walked is at least 8 bytes: the walk ends within the packet.
    loop {
        match next {
            PROTO_TCP => return Ok((src.into(), dst.into(), &p[at..total])),
            HOP_BY_HOP | ROUTING | DEST_OPTIONS => {
                if at + 8 > total {
                    return Err(Reject::Truncated);
                }
                next = p[at];
                at += (usize::from(p[at + 1]) + 1) * 8;
                if at > total {
                    return Err(Reject::Truncated);
                }
            }
            FRAGMENT => return Err(Reject::Fragment),
            _ => return Err(Reject::NotTcp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const C: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1));
    const S: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
    const C6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1));
    const S6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1));

    /// A SYN from 198.19.0.1:40000 to 198.18.0.1:7000, ISN 0xfffffff0, MSS 1460, built by an
    /// independent implementation (Python's struct, RFC 1071 sum).
    const SYN_FIXTURE: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0xa4, 0xc6, 0x13, 0x00,
        0x01, 0xc6, 0x12, 0x00, 0x01, 0x9c, 0x40, 0x1b, 0x58, 0xff, 0xff, 0xff, 0xf0, 0x00, 0x00,
        0x00, 0x00, 0x60, 0x02, 0xff, 0xff, 0x54, 0x75, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    /// The same SYN from [2001:2:0:1::1]:40000 to [2001:2::1]:7000 with MSS 1440, built the
    /// same independent way (the RFC 8200 pseudo-header).
    const SYN6_FIXTURE: [u8; 64] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x06, 0x40, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9c, 0x40, 0x1b, 0x58, 0xff,
        0xff, 0xff, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xff, 0xff, 0xa0, 0xa8, 0x00, 0x00,
        0x02, 0x04, 0x05, 0xa0,
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
    fn builds_the_fixtures_byte_for_byte() {
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
        let syn6 = Segment {
            src: C6,
            dst: S6,
            mss: Some(1440),
            ..syn()
        };
        let n = build(&mut buf, &syn6);
        assert_eq!(&buf[..n], &SYN6_FIXTURE[..]);
    }

    #[test]
    fn parses_what_it_builds_and_checksums_verify() {
        let s = parse(&SYN_FIXTURE).unwrap();
        assert_eq!(s, syn());
        assert_eq!(s.seq_len(), 1);
        assert_eq!(ip_checksum(&SYN_FIXTURE[..IP_HEADER]), 0);
        assert_eq!(tcp_checksum(C, S, &SYN_FIXTURE[IP_HEADER..]), 0);
        assert_eq!(tcp_checksum(C6, S6, &SYN6_FIXTURE[IPV6_HEADER..]), 0);
        assert_eq!(parse(&SYN6_FIXTURE).unwrap().mss, Some(1440));
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
        assert_eq!(parse(&[]), Err(Reject::Truncated));
        let mut v5 = SYN_FIXTURE;
        v5[0] = 0x55;
        assert_eq!(parse(&v5), Err(Reject::NotIp));
        let mut udp = SYN_FIXTURE;
        udp[9] = 17;
        assert_eq!(parse(&udp), Err(Reject::NotTcp));
        let mut frag = SYN_FIXTURE;
        frag[6] = 0x20; // more fragments
        assert_eq!(parse(&frag), Err(Reject::Fragment));
        let mut long = SYN_FIXTURE;
        long[3] = 0x40; // total length past the buffer
        assert_eq!(parse(&long), Err(Reject::Truncated));
        let mut icmp6 = SYN6_FIXTURE;
        icmp6[6] = 58;
        assert_eq!(parse(&icmp6), Err(Reject::NotTcp));
        let mut frag6 = SYN6_FIXTURE;
        frag6[6] = FRAGMENT;
        assert_eq!(parse(&frag6), Err(Reject::Fragment));
        assert_eq!(parse(&SYN6_FIXTURE[..50]), Err(Reject::Truncated));
    }

    #[test]
    fn walks_past_ipv6_options_headers() {
        // The SYN behind an 8-byte destination options header (two PadN bytes... all padding).
        let mut p = SYN6_FIXTURE[..IPV6_HEADER].to_vec();
        p[4..6].copy_from_slice(&(24u16 + 8).to_be_bytes());
        p[6] = DEST_OPTIONS;
        p.extend_from_slice(&[PROTO_TCP, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&SYN6_FIXTURE[IPV6_HEADER..]);
        let s = parse(&p).unwrap();
        assert_eq!((s.src, s.dst, s.sport, s.mss), (C6, S6, 40000, Some(1440)));
        // A header whose length runs past the packet.
        p[IPV6_HEADER + 1] = 9;
        assert_eq!(parse(&p), Err(Reject::Truncated));
    }

    fn addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![
            any::<([u8; 4], [u8; 4])>().prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
            any::<([u8; 16], [u8; 16])>().prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
        ]
    }

    type Fields = ((u16, u16), (u32, u32), (u8, u16), Option<u16>);

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_bytes_behind_a_plausible_header_never_panic(
            v6 in any::<bool>(),
            head in proptest::collection::vec(any::<u8>(), 0..80),
            tail in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut p = if v6 { SYN6_FIXTURE.to_vec() } else { SYN_FIXTURE.to_vec() };
            p.truncate(if v6 { 8 } else { 4 });
            p.extend_from_slice(&head);
            p.extend_from_slice(&tail);
            let _ = parse(&p);
        }

        #[test]
        fn parse_gives_back_what_build_put_in(
            (src, dst) in addrs(),
            fields in any::<Fields>(),
            payload in proptest::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD_V6),
        ) {
            let ((sport, dport), (seq, ack), (flags, window), mss) = fields;
            let s = Segment { src, dst, sport, dport, seq, ack, flags, window, mss, payload: &payload };
            let mut buf = [0u8; MAX_PACKET];
            let n = build(&mut buf, &s);
            prop_assert_eq!(parse(&buf[..n]), Ok(s));
            let ip = if src.is_ipv4() { IP_HEADER } else { IPV6_HEADER };
            prop_assert_eq!(tcp_checksum(src, dst, &buf[ip..n]), 0);
            if src.is_ipv4() {
                prop_assert_eq!(ip_checksum(&buf[..IP_HEADER]), 0);
            }
        }
    }
}
