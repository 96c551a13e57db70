//! Readiness interest: which events a registration waits for.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The readiness a registration is interested in: readable, writable, or both.
///
/// An empty interest is allowed: the kernel still reports errors and hang-ups for the fd
/// (epoll and poll always do), which is how a registration can be "paused" without losing it.
///
/// # Examples
///
/// ```
/// use rselectors::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert_eq!(Interest::from_bits(1), Some(Interest::READABLE));
/// assert_eq!(Interest::from_bits(4), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// No readiness (errors and hang-ups are still reported by epoll and poll).
    pub const NONE: Interest = Interest(0);
    /// Wait for the fd to become readable (Python's `EVENT_READ`, bit 0).
    pub const READABLE: Interest = Interest(1);
    /// Wait for the fd to become writable (Python's `EVENT_WRITE`, bit 1).
    pub const WRITABLE: Interest = Interest(2);
    /// Both readable and writable.
    pub const BOTH: Interest = Interest(3);

    /// Builds an interest from Python's `EVENT_READ | EVENT_WRITE` bits; `None` if any other
    /// bit is set.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert_eq!(Interest::from_bits(3), Some(Interest::BOTH));
    /// ```
    pub const fn from_bits(bits: u8) -> Option<Interest> {
        if bits & !3 == 0 {
            Some(Interest(bits))
        } else {
            None
        }
    }

    /// The `EVENT_READ | EVENT_WRITE` bits of this interest.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert_eq!(Interest::WRITABLE.bits(), 2);
    /// ```
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether readable readiness is requested.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!(Interest::READABLE.is_readable());
    /// ```
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether writable readiness is requested.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!(!Interest::READABLE.is_writable());
    /// ```
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// Whether nothing is requested.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!(Interest::NONE.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, rhs: Interest) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("READABLE | WRITABLE"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Interest;

    #[test]
    fn bits_round_trip() {
        for bits in 0..4u8 {
            assert_eq!(Interest::from_bits(bits).unwrap().bits(), bits);
        }
        for bits in 4..=255u8 {
            assert_eq!(Interest::from_bits(bits), None);
        }
        assert_eq!(Interest::READABLE | Interest::WRITABLE, Interest::BOTH);
        assert_eq!(format!("{:?}", Interest::BOTH), "READABLE | WRITABLE");
    }
}
