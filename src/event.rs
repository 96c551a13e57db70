//! Readiness events and the reusable buffer `select` fills.

use crate::Token;
use std::fmt;

/// Event flag bits, set by the backends' translation functions.
pub(crate) mod flags {
    /// Readable (EPOLLIN, POLLIN, in the read set, EVFILT_READ): `EVENT_READ`'s bit.
    pub const READABLE: u8 = super::EVENT_READ;
    /// Writable (EPOLLOUT, POLLOUT, in the write set, EVFILT_WRITE): `EVENT_WRITE`'s bit.
    pub const WRITABLE: u8 = super::EVENT_WRITE;
    /// Error condition (EPOLLERR, POLLERR, POLLNVAL).
    pub const ERROR: u8 = 4;
    /// A full hang-up (EPOLLHUP, POLLHUP), reported whatever the interest: like an error, it
    /// marks both READ and WRITE in the stdlib's translation. Always set with [`HANGUP`].
    pub const HUP: u8 = 8;
    /// Priority data (EPOLLPRI, POLLPRI, in the except set), only for a priority interest:
    /// `EVENT_PRIORITY`'s bit, so that the Python mask takes it as it is.
    pub const PRIORITY: u8 = super::EVENT_PRIORITY;
    /// Any hang-up: a full one ([`HUP`]), the peer's shutdown of writing (EPOLLRDHUP,
    /// POLLRDHUP, only for a hang-up interest) or kqueue's end of file (EV_EOF, with its
    /// filter's readiness): `EVENT_HANGUP`'s bit.
    pub const HANGUP: u8 = super::EVENT_HANGUP;
    /// A full hang-up as the poll-style backends report it.
    #[cfg(unix)]
    pub const FULL_HANGUP: u8 = HUP | HANGUP;
}

/// Python's `selectors.EVENT_READ`.
pub const EVENT_READ: u8 = 1;
/// Python's `selectors.EVENT_WRITE`.
pub const EVENT_WRITE: u8 = 2;
/// `rselectors.EVENT_PRIORITY`: priority data (see [`Interest::PRIORITY`](crate::Interest::PRIORITY)).
///
/// Not a stdlib constant. Its bit, like [`EVENT_HANGUP`]'s, is neither of the stdlib's (1, 2)
/// nor one of the next two (4, 8), which the stdlib would take first if it ever added events:
/// an rselectors constant must never mean something other than a stdlib one of the same
/// value. Every mask the stdlib accepts means the same here, and a stdlib selector refuses
/// these bits (`ValueError: Invalid events`), so code that passes them to one fails loudly.
pub const EVENT_PRIORITY: u8 = 16;
/// `rselectors.EVENT_HANGUP`: the peer hung up (see [`Interest::HANGUP`](crate::Interest::HANGUP)).
/// Not a stdlib constant; see [`EVENT_PRIORITY`] for its value.
pub const EVENT_HANGUP: u8 = 32;

/// One ready registration: its token and what the kernel reported for it.
///
/// Readiness is level-triggered: an fd that stays ready is reported by every `select`.
///
/// # Examples
///
/// ```ignore-windows
/// use rselectors::{Events, Interest, Selector, Token};
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (a, _b) = UnixStream::pair()?;
/// let selector = Selector::new()?;
/// selector.register(&a, Token(1), Interest::WRITABLE)?;
/// let mut events = Events::with_capacity(8);
/// selector.select(&mut events, Some(Duration::from_secs(1)))?;
/// let event = events.iter().next().unwrap();
/// assert_eq!(event.token(), Token(1));
/// assert!(event.is_writable() && !event.is_readable());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    token: Token,
    flags: u8,
}

impl Event {
    pub(crate) const fn new(token: Token, flags: u8) -> Event {
        Event { token, flags }
    }

    /// The token the fd was registered with.
    ///
    /// ```
    /// # use rselectors::Token;
    /// # fn f(event: &rselectors::Event) { let _: Token = event.token(); }
    /// ```
    pub const fn token(&self) -> Token {
        self.token
    }

    /// Data can be read (or a peer closed: reading will not block).
    ///
    /// ```
    /// # fn f(event: &rselectors::Event) -> bool { event.is_readable() }
    /// ```
    pub const fn is_readable(&self) -> bool {
        self.flags & flags::READABLE != 0
    }

    /// Data can be written without blocking.
    ///
    /// ```
    /// # fn f(event: &rselectors::Event) -> bool { event.is_writable() }
    /// ```
    pub const fn is_writable(&self) -> bool {
        self.flags & flags::WRITABLE != 0
    }

    /// The fd has an error condition (or, for poll and select, is not an open fd).
    ///
    /// ```
    /// # fn f(event: &rselectors::Event) -> bool { event.is_error() }
    /// ```
    pub const fn is_error(&self) -> bool {
        self.flags & flags::ERROR != 0
    }

    /// The peer hung up: shut down its writing side (EPOLLRDHUP, POLLRDHUP, for a
    /// [`HANGUP`](crate::Interest::HANGUP) interest), closed the connection or left a pipe
    /// (EPOLLHUP, POLLHUP, for any interest), or kqueue's EV_EOF.
    ///
    /// ```
    /// # fn f(event: &rselectors::Event) -> bool { event.is_hangup() }
    /// ```
    pub const fn is_hangup(&self) -> bool {
        self.flags & flags::HANGUP != 0
    }

    /// Priority data is available (for a [`PRIORITY`](crate::Interest::PRIORITY) interest):
    /// TCP urgent data, or a `POLLPRI` notification.
    ///
    /// ```
    /// # fn f(event: &rselectors::Event) -> bool { event.is_priority() }
    /// ```
    pub const fn is_priority(&self) -> bool {
        self.flags & flags::PRIORITY != 0
    }

    /// The mask Python's `selectors` module reports for this event, before it is masked with
    /// the registration's events: `EVENT_READ | EVENT_WRITE` by the stdlib's rules, plus
    /// [`EVENT_PRIORITY`] and [`EVENT_HANGUP`] for priority data and hang-ups.
    ///
    /// As in the stdlib, every condition the stdlib's registrations can see other than
    /// "writable" sets `EVENT_READ` and every one other than "readable" sets `EVENT_WRITE`, so
    /// an error or a full hang-up marks both; kqueue reports only its filter, as the stdlib's
    /// `KqueueSelector` does. Priority data and a peer's shutdown of its writing side, which
    /// the kernel reports only to registrations that ask for them (which the stdlib cannot
    /// make), set their own bit alone.
    ///
    /// ```
    /// # fn f(event: &rselectors::Event) {
    /// use rselectors::{EVENT_HANGUP, EVENT_PRIORITY, EVENT_READ, EVENT_WRITE};
    /// let mask = event.selectors_mask();
    /// assert!(mask & !(EVENT_READ | EVENT_WRITE | EVENT_PRIORITY | EVENT_HANGUP) == 0);
    /// # }
    /// ```
    pub const fn selectors_mask(&self) -> u8 {
        // The readable, writable, priority and hang-up flags are the Python bits; an error or
        // a full hang-up marks both READ and WRITE.
        const SAME: u8 = flags::READABLE | flags::WRITABLE | flags::PRIORITY | flags::HANGUP;
        let both = if self.flags & (flags::ERROR | flags::HUP) != 0 {
            EVENT_READ | EVENT_WRITE
        } else {
            0
        };
        (self.flags & SAME) | both
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token)
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("error", &self.is_error())
            .field("hangup", &self.is_hangup())
            .field("priority", &self.is_priority())
            .finish()
    }
}

/// A reusable buffer of [`Event`]s filled by [`Selector::select`](crate::Selector::select).
///
/// `select` clears it first and stores at most [`capacity`](Events::capacity) events; ready
/// fds beyond that stay ready and are reported by the next call (readiness is
/// level-triggered). Reusing one `Events` across calls avoids allocating per wait.
///
/// # Examples
///
/// ```
/// use rselectors::Events;
///
/// let mut events = Events::with_capacity(128);
/// assert!(events.is_empty());
/// events.set_capacity(1024);
/// assert_eq!(events.capacity(), 1024);
/// ```
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
    woken: bool,
    #[cfg(unix)]
    pub(crate) raw: crate::sys::RawEvents,
}

impl Events {
    /// An empty buffer that holds up to `capacity` events per `select` (at least 1).
    ///
    /// ```
    /// let events = rselectors::Events::with_capacity(0);
    /// assert_eq!(events.capacity(), 1);
    /// ```
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            list: Vec::with_capacity(capacity.min(4096)),
            capacity,
            woken: false,
            #[cfg(unix)]
            raw: crate::sys::RawEvents::default(),
        }
    }

    /// The most events one `select` stores.
    ///
    /// ```
    /// assert_eq!(rselectors::Events::with_capacity(3).capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the most events one `select` stores (at least 1). Memory grows on demand.
    ///
    /// ```
    /// let mut events = rselectors::Events::with_capacity(1);
    /// events.set_capacity(10);
    /// assert_eq!(events.capacity(), 10);
    /// ```
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
    }

    /// Number of events from the last `select`.
    ///
    /// ```
    /// assert_eq!(rselectors::Events::with_capacity(1).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the last `select` reported nothing.
    ///
    /// ```
    /// assert!(rselectors::Events::with_capacity(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Removes all events (the capacity is kept).
    ///
    /// ```
    /// let mut events = rselectors::Events::with_capacity(4);
    /// events.clear();
    /// assert!(events.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// The events from the last `select`, in the order the kernel reported them.
    ///
    /// ```
    /// let events = rselectors::Events::with_capacity(4);
    /// assert_eq!(events.iter().count(), 0);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    /// Whether a wake-up ([`Selector::wake`](crate::Selector::wake), a
    /// [`Waker`](crate::Waker), or [`Selector::shut_down`](crate::Selector::shut_down)) ended
    /// the last `select`, with or without events.
    ///
    /// ```
    /// use rselectors::{Events, Selector};
    /// use std::time::Duration;
    ///
    /// let selector = Selector::new()?;
    /// let mut events = Events::with_capacity(4);
    /// selector.wake()?;
    /// selector.select(&mut events, Some(Duration::from_secs(5)))?;
    /// assert!(events.woken() && events.is_empty());
    /// selector.select(&mut events, Some(Duration::ZERO))?;
    /// assert!(!events.woken());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn woken(&self) -> bool {
        self.woken
    }

    pub(crate) fn set_woken(&mut self, woken: bool) {
        self.woken = woken;
    }

    /// Whether another event fits.
    pub(crate) fn is_full(&self) -> bool {
        self.list.len() >= self.capacity
    }

    /// Appends an event (callers check [`Events::is_full`] first).
    pub(crate) fn push(&mut self, event: Event) {
        self.list.push(event);
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.list.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::{flags, Event, EVENT_HANGUP, EVENT_PRIORITY, EVENT_READ, EVENT_WRITE};
    use crate::Token;

    fn mask(f: u8) -> u8 {
        Event::new(Token(0), f).selectors_mask()
    }

    #[test]
    fn selectors_mask_matches_stdlib_rules() {
        assert_eq!(mask(flags::READABLE), EVENT_READ);
        assert_eq!(mask(flags::WRITABLE), EVENT_WRITE);
        assert_eq!(
            mask(flags::READABLE | flags::WRITABLE),
            EVENT_READ | EVENT_WRITE
        );
        // Anything but IN sets WRITE, anything but OUT sets READ (the hang-up bit comes on
        // top, for registrations that ask for it).
        const BOTH: u8 = EVENT_READ | EVENT_WRITE;
        assert_eq!(mask(flags::ERROR), BOTH);
        assert_eq!(mask(flags::HUP | flags::HANGUP), BOTH | EVENT_HANGUP);
        assert_eq!(
            mask(flags::READABLE | flags::HUP | flags::HANGUP),
            BOTH | EVENT_HANGUP
        );
        // kqueue's EOF (a hang-up flag alone) rides on its filter and adds nothing to
        // READ/WRITE (stdlib KqueueSelector).
        assert_eq!(
            mask(flags::READABLE | flags::HANGUP),
            EVENT_READ | EVENT_HANGUP
        );
        assert_eq!(
            mask(flags::WRITABLE | flags::HANGUP),
            EVENT_WRITE | EVENT_HANGUP
        );
        assert_eq!(mask(0), 0);
        // Priority data and a peer's shutdown of writing set their own bit alone: a
        // registration for WRITE | HANGUP whose peer shuts down is not made writable by it.
        assert_eq!(mask(flags::PRIORITY), EVENT_PRIORITY);
        assert_eq!(mask(flags::HANGUP), EVENT_HANGUP);
        assert_eq!(mask(flags::PRIORITY | flags::ERROR), BOTH | EVENT_PRIORITY);
    }

    #[test]
    fn accessors() {
        let e = Event::new(Token(3), flags::READABLE | flags::HANGUP);
        assert!(e.is_readable() && e.is_hangup() && !e.is_writable() && !e.is_error());
        assert_eq!(e.token(), Token(3));
        let e = Event::new(Token(3), flags::HANGUP);
        assert!(e.is_hangup() && !e.is_readable() && !e.is_priority());
        assert!(Event::new(Token(3), flags::PRIORITY).is_priority());
    }
}
