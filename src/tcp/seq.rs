//! Sequence numbers (RFC 9293 3.4).
//!
//! The sequence space is finite, 0 to 2^32 - 1, and wraps: "before" and "after" are decided
//! modulo 2^32, by the sign of the 32-bit difference (RFC 9293 3.4: "comparisons ... must use
//! modulo 2**32 arithmetic"). Two numbers more than 2^31 apart cannot be ordered; a TCP window
//! is far smaller, so the reassembler never needs to.

use std::fmt;

/// A TCP sequence number; arithmetic wraps at 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(super) struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self + n`, modulo 2^32.
    pub fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// `self + n` for a byte count that may exceed 2^32, modulo 2^32.
    pub fn add_u64(self, n: u64) -> SeqNumber {
        // Only the low 32 bits move a sequence number (RFC 9293 3.4, modulo 2^32).
        let low = u32::try_from(n & u64::from(u32::MAX)).unwrap_or(0);
        self.add(low)
    }

    /// `self - n`, modulo 2^32.
    pub fn sub(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }

    /// Signed distance `self - earlier`, in -2^31 ..= 2^31 - 1: positive when `self` is after
    /// `earlier` in sequence space.
    pub fn diff(self, earlier: SeqNumber) -> i64 {
        // RFC 9293 3.4: the wrapped difference read as a signed 32-bit number orders two
        // sequence numbers less than 2^31 apart.
        i64::from(self.0.wrapping_sub(earlier.0) as i32)
    }

    /// `self` comes strictly before `other` (RFC 9293 3.4 "<").
    pub fn before(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }

    /// `self` comes strictly after `other` (RFC 9293 3.4 ">").
    pub fn after(self, other: SeqNumber) -> bool {
        self.diff(other) > 0
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordering_without_wrap() {
        let a = SeqNumber(100);
        let b = SeqNumber(200);
        assert!(a.before(b));
        assert!(b.after(a));
        assert!(!a.before(a));
        assert!(!a.after(a));
        assert_eq!(b.diff(a), 100);
        assert_eq!(a.diff(b), -100);
    }

    #[test]
    fn ordering_across_wrap() {
        let a = SeqNumber(u32::MAX - 10);
        let b = a.add(20);
        assert_eq!(b, SeqNumber(9));
        assert!(a.before(b));
        assert!(b.after(a));
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
        assert_eq!(b.sub(20), a);
    }

    #[test]
    fn add_u64_keeps_low_bits() {
        let a = SeqNumber(5);
        assert_eq!(a.add_u64((1u64 << 32) + 7), SeqNumber(12));
        assert_eq!(a.add_u64(u64::MAX), SeqNumber(4));
    }

    #[test]
    fn half_space_is_the_limit() {
        let a = SeqNumber(0);
        assert_eq!(SeqNumber(0x7fff_ffff).diff(a), i64::from(i32::MAX));
        assert_eq!(SeqNumber(0x8000_0000).diff(a), i64::from(i32::MIN));
    }

    proptest! {
        #[test]
        fn diff_inverts_add(base: u32, n in 0u32..0x8000_0000) {
            let a = SeqNumber(base);
            let b = a.add(n);
            prop_assert_eq!(b.diff(a), i64::from(n));
            prop_assert_eq!(b.sub(n), a);
            prop_assert_eq!(n == 0, !a.before(b) && !b.before(a));
        }
    }
}
