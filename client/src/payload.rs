//! What a connection sends, as pure functions, so the echo is checked without storing it.
//!
//! Each connection's byte stream is a function of (slot, offset): byte `x` of slot `k` is the
//! same whenever it is computed, so the echo of any byte can be checked against a fresh
//! computation, byte for byte, and a connection keeps no copy of what it sent. Each exchange (a
//! ping, a request) is the next `len` bytes of the stream; its length is a function of the
//! exchange's number, so `--payload MIN-MAX` gives a random size per exchange.

/// Ping or request sizes: `min..=max` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Payload {
    pub min: u32,
    pub max: u32,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Payload {
    /// The length of exchange number `nonce`.
    pub(crate) fn len(&self, nonce: u64) -> u32 {
        if self.min == self.max {
            return self.min;
        }
        let span = u64::from(self.max - self.min) + 1;
        self.min + (mix(nonce ^ 0x5555) % span) as u32
    }

    /// Fills `out` with bytes `offset..offset + out.len()` of slot `slot`'s stream (the offset
    /// wraps at 4 GiB, like a TCP sequence number).
    pub(crate) fn fill(slot: u32, offset: u32, out: &mut [u8]) {
        let seed = mix(u64::from(slot));
        let mut pos = offset;
        let mut i = 0;
        while i < out.len() {
            let word = mix(seed ^ u64::from(pos / 8)).to_le_bytes();
            let start = (pos % 8) as usize;
            let n = (8 - start).min(out.len() - i);
            out[i..i + n].copy_from_slice(&word[start..start + n]);
            i += n;
            pos = pos.wrapping_add(n as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_random_access() {
        let mut whole = vec![0u8; 1000];
        Payload::fill(7, 0, &mut whole);
        let mut part = vec![0u8; 333];
        Payload::fill(7, 101, &mut part);
        assert_eq!(&whole[101..434], &part[..]);
        let mut other = vec![0u8; 1000];
        Payload::fill(8, 0, &mut other);
        assert_ne!(whole, other);
        // Across the 4 GiB wrap, the stream goes on from offset 0.
        let mut wrap = vec![0u8; 16];
        Payload::fill(7, u32::MAX - 7, &mut wrap);
        assert_eq!(&wrap[8..], &whole[..8]);
    }

    #[test]
    fn lengths_in_range() {
        let p = Payload { min: 1, max: 65536 };
        let lens: Vec<u32> = (0..100).map(|n| p.len(n)).collect();
        assert!(lens.iter().all(|l| (1..=65536).contains(l)));
        assert!(lens.iter().any(|l| *l != lens[0]));
        assert_eq!(Payload { min: 64, max: 64 }.len(9), 64);
    }
}
