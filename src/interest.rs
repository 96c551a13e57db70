//! Readiness interest: which events a registration waits for, and how it is woken.

use crate::event::{EVENT_HANGUP, EVENT_PRIORITY, EVENT_READ, EVENT_WRITE};
use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The event bits an [`Interest`] can hold: Python's `EVENT_*` values.
const EVENT_BITS: u8 = EVENT_READ | EVENT_WRITE | EVENT_PRIORITY | EVENT_HANGUP;
/// [`Interest::EXCLUSIVE`]: no event, so no Python `EVENT_*` value (Python passes
/// `exclusive=True` to `register`).
const EXCLUSIVE_BIT: u8 = 0x80;

/// The readiness a registration is interested in (readable, writable, priority data,
/// hang-up), and whether it is [exclusive](Interest::EXCLUSIVE).
///
/// `READABLE` and `WRITABLE` work on every backend. [`PRIORITY`](Interest::PRIORITY) and
/// [`HANGUP`](Interest::HANGUP) work where the kernel has them
/// ([`Backend::supports`](crate::Backend::supports) says which): `register` and `modify` on
/// a backend that lacks one fail with `ErrorKind::Unsupported`.
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
/// assert_eq!(Interest::from_bits(1 | 32), Some(Interest::READABLE | Interest::HANGUP));
/// assert_eq!(Interest::from_bits(4), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// No readiness (errors and hang-ups are still reported by epoll and poll).
    pub const NONE: Interest = Interest(0);
    /// Wait for the fd to become readable (Python's `EVENT_READ`, bit 0).
    pub const READABLE: Interest = Interest(EVENT_READ);
    /// Wait for the fd to become writable (Python's `EVENT_WRITE`, bit 1).
    pub const WRITABLE: Interest = Interest(EVENT_WRITE);
    /// Both readable and writable.
    pub const BOTH: Interest = Interest(EVENT_READ | EVENT_WRITE);
    /// Wait for priority data ([`EVENT_PRIORITY`](crate::EVENT_PRIORITY)): TCP urgent
    /// (out-of-band) data, and the `POLLPRI` notifications of files such as
    /// `/proc/self/mounts`, cgroup `*.events`, PSI triggers and sysfs GPIO values.
    ///
    /// epoll (`EPOLLPRI`), poll and /dev/poll (`POLLPRI`), select (the except set; winsock:
    /// out-of-band data). Not kqueue.
    pub const PRIORITY: Interest = Interest(EVENT_PRIORITY);
    /// Wait for a hang-up ([`EVENT_HANGUP`](crate::EVENT_HANGUP)): the peer shut down its
    /// writing side (a TCP `shutdown(SHUT_WR)` or close), seen without reading.
    ///
    /// epoll (`EPOLLRDHUP`), poll on Linux and Android (`POLLRDHUP`), kqueue (`EV_EOF` of the
    /// read filter, so only together with [`READABLE`](Interest::READABLE)). Not select, not
    /// /dev/poll. A full hang-up (epoll's `EPOLLHUP`, poll's `POLLHUP`: a pipe whose writers
    /// are gone) is reported to every registration, with or without this flag.
    pub const HANGUP: Interest = Interest(EVENT_HANGUP);
    /// A registration mode, not an event: when several selectors (typically in several
    /// processes of a pre-fork server) wait on the same file, an event wakes one or more of
    /// them instead of all (epoll's `EPOLLEXCLUSIVE`, Linux 4.5 and later).
    ///
    /// Only with [`READABLE`](Interest::READABLE) and [`WRITABLE`](Interest::WRITABLE)
    /// (the kernel refuses `EPOLLEXCLUSIVE` with other events). A selector that is not woken
    /// for an event does not see it either, not even in a zero-timeout `select`, until the
    /// next event reaches it: the fd's readiness is delivered to the selectors the kernel
    /// wakes. The kernel cannot modify an exclusive registration, so epoll's `modify` of one
    /// (or to one) removes and re-adds it; an error of the re-add leaves it unregistered.
    /// Other backends have no such mode and ignore the flag: every waiter is woken, as
    /// without it (a wake-up that finds nothing to do must be harmless either way, since
    /// even epoll may wake more than one).
    ///
    /// ```
    /// use rselectors::{Interest, Selector, Token};
    /// use std::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let selector = Selector::new()?;
    /// selector.register(&listener, Token(0), Interest::READABLE | Interest::EXCLUSIVE)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const EXCLUSIVE: Interest = Interest(EXCLUSIVE_BIT);

    /// Builds an interest from Python's event bits (`EVENT_READ` 1, `EVENT_WRITE` 2,
    /// `EVENT_PRIORITY` 16, `EVENT_HANGUP` 32); `None` if any other bit is set.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert_eq!(Interest::from_bits(3), Some(Interest::BOTH));
    /// assert_eq!(Interest::from_bits(16), Some(Interest::PRIORITY));
    /// ```
    pub const fn from_bits(bits: u8) -> Option<Interest> {
        if bits & !EVENT_BITS == 0 {
            Some(Interest(bits))
        } else {
            None
        }
    }

    /// The event bits of this interest (Python's `EVENT_*` values;
    /// [`EXCLUSIVE`](Interest::EXCLUSIVE) is not an event and has none).
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert_eq!(Interest::WRITABLE.bits(), 2);
    /// assert_eq!((Interest::READABLE | Interest::EXCLUSIVE).bits(), 1);
    /// ```
    pub const fn bits(self) -> u8 {
        self.0 & EVENT_BITS
    }

    /// Whether readable readiness is requested.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!(Interest::READABLE.is_readable());
    /// ```
    pub const fn is_readable(self) -> bool {
        self.0 & EVENT_READ != 0
    }

    /// Whether writable readiness is requested.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!(!Interest::READABLE.is_writable());
    /// ```
    pub const fn is_writable(self) -> bool {
        self.0 & EVENT_WRITE != 0
    }

    /// Whether priority data is requested.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!((Interest::READABLE | Interest::PRIORITY).is_priority());
    /// ```
    pub const fn is_priority(self) -> bool {
        self.0 & EVENT_PRIORITY != 0
    }

    /// Whether hang-ups are requested.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!(Interest::HANGUP.is_hangup());
    /// ```
    pub const fn is_hangup(self) -> bool {
        self.0 & EVENT_HANGUP != 0
    }

    /// Whether the registration is exclusive.
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!((Interest::READABLE | Interest::EXCLUSIVE).is_exclusive());
    /// ```
    pub const fn is_exclusive(self) -> bool {
        self.0 & EXCLUSIVE_BIT != 0
    }

    /// Whether no event is requested ([`EXCLUSIVE`](Interest::EXCLUSIVE) is none).
    ///
    /// ```
    /// use rselectors::Interest;
    /// assert!(Interest::NONE.is_empty());
    /// assert!(Interest::EXCLUSIVE.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 & EVENT_BITS == 0
    }

    /// Whether any event beyond readable and writable is requested, or the registration is
    /// exclusive: what not every backend offers.
    pub(crate) const fn is_extended(self) -> bool {
        self.0 & !(EVENT_READ | EVENT_WRITE) != 0
    }

    /// This interest without `other`'s flags.
    #[cfg(unix)]
    pub(crate) const fn without(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
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
        let names = [
            (Interest::READABLE, "READABLE"),
            (Interest::WRITABLE, "WRITABLE"),
            (Interest::PRIORITY, "PRIORITY"),
            (Interest::HANGUP, "HANGUP"),
            (Interest::EXCLUSIVE, "EXCLUSIVE"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.0 & flag.0 != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("NONE")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Interest;

    #[test]
    fn bits_round_trip() {
        for bits in 0..=255u8 {
            match Interest::from_bits(bits) {
                Some(interest) => {
                    assert_eq!(bits & !(1 | 2 | 16 | 32), 0);
                    assert_eq!(interest.bits(), bits);
                }
                None => assert_ne!(bits & !(1 | 2 | 16 | 32), 0),
            }
        }
        // The stdlib's masks, and none of the bits it might take next (4, 8).
        for bits in [4, 8, 5, 7, 64, 128] {
            assert_eq!(Interest::from_bits(bits), None, "{bits}");
        }
        assert_eq!(Interest::READABLE | Interest::WRITABLE, Interest::BOTH);
        assert_eq!(format!("{:?}", Interest::BOTH), "READABLE | WRITABLE");
        assert_eq!(format!("{:?}", Interest::NONE), "NONE");
        assert_eq!(
            format!("{:?}", Interest::READABLE | Interest::EXCLUSIVE),
            "READABLE | EXCLUSIVE"
        );
        assert_eq!(
            format!("{:?}", Interest::PRIORITY | Interest::HANGUP),
            "PRIORITY | HANGUP"
        );
    }

    #[test]
    fn exclusive_is_a_mode_not_an_event() {
        let i = Interest::READABLE | Interest::EXCLUSIVE;
        assert!(i.is_exclusive() && i.is_readable() && !i.is_empty());
        assert_eq!(i.bits(), 1);
        assert!(Interest::EXCLUSIVE.is_empty());
        assert!(i.is_extended() && !Interest::BOTH.is_extended());
        #[cfg(unix)]
        assert_eq!(i.without(Interest::EXCLUSIVE), Interest::READABLE);
        assert!(Interest::HANGUP.is_hangup() && Interest::PRIORITY.is_priority());
    }
}
