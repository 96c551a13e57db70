//! Per-backend state and kernel <-> core translation.
//!
//! Every backend offers the same small surface (the [`Driver`] trait) so
//! [`Selector`](crate::Selector) never branches on the platform. Translation functions that do not
//! need the kernel (kqueue's change records, /dev/poll's write protocol, winsock's set
//! building and result merging) compile and are unit-tested on every platform (kqueue's and
//! /dev/poll's on every Unix); only the syscall glue is `cfg`-gated.

use crate::own::{OwnFd, OwnFds, Watch};
use crate::waker::WakeState;
use crate::{Events, Interest, RawSource, Token};
pub(crate) use registry::Registry;
use std::io;
use std::iter::Chain;
use std::ops::Range;
#[cfg(unix)]
use std::os::fd::BorrowedFd;
use std::time::Duration;

#[cfg(epoll_available)]
pub(crate) mod epoll;
#[cfg(unix)]
pub(crate) mod poll;
mod registry;
#[cfg(unix)]
pub(crate) mod select;
// Translation logic is built everywhere (and tested on Linux); the kernel glue is gated inside.
#[cfg(unix)]
pub(crate) mod devpoll;
#[cfg(unix)]
pub(crate) mod kqueue;
pub(crate) mod winsock;

/// The surface every backend implements.
pub(crate) trait Driver: Send + Sync + Sized {
    /// Whether a wait that may block can start without the notifier: an fd added to the set
    /// while a thread waits reaches that wait (epoll), so the first wake-up that finds a
    /// thread waiting makes the notifier. Backends whose waits copy their set (poll, select)
    /// or whose late additions this crate cannot check (kqueue, /dev/poll) need it before.
    const BLOCKS_WITHOUT_NOTIFIER: bool = false;

    /// Creates the backend's kernel object (if any).
    fn new() -> io::Result<Self>;

    /// Adds `fd`. `AlreadyExists` if it is registered. `own` are the selector's own fds:
    /// user-space backends refuse their numbers under their lock ([`Registry`]) and nudge a
    /// waiter through the notifier.
    fn register(
        &self,
        fd: RawSource,
        token: Token,
        interest: Interest,
        own: &OwnFds,
    ) -> io::Result<()>;

    /// Changes `fd`'s token and interest. `NotFound` if it is not registered.
    fn modify(
        &self,
        fd: RawSource,
        token: Token,
        interest: Interest,
        own: &OwnFds,
    ) -> io::Result<()>;

    /// Removes `fd`. `NotFound` if it is not registered (a kernel error if the kernel refuses).
    fn unregister(&self, fd: RawSource, own: &OwnFds) -> io::Result<()>;

    /// Waits once for up to `timeout` (`None`: forever), appending at most
    /// `events.capacity()` events after `events.clear()`; returns whether the notifier was
    /// readable. `watch` names the selector's own fds for this wait: the notifier (if made)
    /// and the timer (if this wait is ended by it, armed). Kernel-set backends have them in
    /// their set already; user-space backends add them to a wait that may block. A
    /// zero-timeout wait, which cannot be woken, may leave the notifier out (poll and select
    /// do: one fd less for the kernel to scan; the selector reads a pending wake-up from its
    /// flag). `Interrupted` on EINTR.
    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        watch: Watch,
    ) -> io::Result<bool>;

    /// Adds one of the selector's own fds, which `make` returns (made now, or made before).
    /// `make` gets a test of whether a registration names a number, so that it can make one
    /// that none names; backends with a lock run it under the lock, so that no registration
    /// can take the number before the fd is published (their `register` refuses own numbers
    /// under the same lock). Kernel-set backends then add its watched fd to their set under
    /// `token`.
    fn add_own<'a, T: OwnFd>(
        &self,
        token: Token,
        make: impl FnOnce(&dyn Fn(RawSource) -> bool) -> io::Result<&'a T>,
    ) -> io::Result<&'a T>;

    /// Whether this backend's set holds `fd`'s registration (with `token` and `interest`) for
    /// the file `fd` names now: what [`Selector::reopen`](crate::Selector::reopen) carries
    /// over. A kernel set (epoll) keeps a registration by file, so a number closed or reused
    /// since no longer names it; user-space sets hold numbers.
    fn holds(&self, _fd: RawSource, _token: Token, _interest: Interest) -> bool {
        true
    }

    /// Takes over `fresh`'s kernel object (under this one's fd number) and registrations:
    /// `fresh` is a new driver of the same kind, holding the selector's own fds made so far
    /// and the registrations this one is to hold from now on (see `Selector::reopen`).
    fn adopt(&self, fresh: Self, wake: &WakeState) -> io::Result<()>;

    /// The kernel object's fd, for backends that have one (user-space backends, the default,
    /// have none).
    #[cfg(unix)]
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// The error for registering an fd that is registered: the same words on every backend.
pub(crate) fn already_registered(fd: RawSource) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("fd {fd} is already registered"),
    )
}

/// The error for modifying or unregistering an fd that is not registered.
pub(crate) fn not_registered(fd: RawSource) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("fd {fd} is not registered"),
    )
}

/// One selector's backend, chosen at run time.
pub(crate) enum AnyDriver {
    #[cfg(epoll_available)]
    Epoll(epoll::Epoll),
    #[cfg(kqueue_available)]
    Kqueue(kqueue::Kqueue),
    #[cfg(devpoll_available)]
    Devpoll(devpoll::Devpoll),
    #[cfg(unix)]
    Poll(poll::Poll),
    #[cfg(unix)]
    Select(select::Select),
    #[cfg(windows)]
    Select(winsock::Select),
}

/// Runs `$body` with `$d` bound to the concrete backend.
macro_rules! dispatch {
    ($driver:expr, $d:ident => $body:expr) => {
        match $driver {
            #[cfg(epoll_available)]
            $crate::backend::AnyDriver::Epoll($d) => $body,
            #[cfg(kqueue_available)]
            $crate::backend::AnyDriver::Kqueue($d) => $body,
            #[cfg(devpoll_available)]
            $crate::backend::AnyDriver::Devpoll($d) => $body,
            #[cfg(unix)]
            $crate::backend::AnyDriver::Poll($d) => $body,
            $crate::backend::AnyDriver::Select($d) => $body,
        }
    };
}
pub(crate) use dispatch;

/// How many result slots a kernel-set wait asks for (kqueue, /dev/poll), chosen so that no
/// result is ever dropped: the kernel re-queues returned level-triggered entries behind the
/// others (or resumes its scan after the last one returned), so a dropped result could be
/// skipped for as long as the others stay ready. When all `fds` fit in `capacity`: `slots`
/// (one per kernel entry: per fd for /dev/poll, per filter for kqueue, gh-110038) plus one
/// for the notifier; otherwise `capacity` (each result makes at most one event, and the
/// notifier takes a slot only when the caller is being woken anyway). Never 0 (bpo-29255:
/// kqueue ignores the timeout when asked for no events; the notifier's slot sees to it).
#[cfg_attr(not(any(kqueue_available, devpoll_available)), allow(dead_code))]
pub(crate) fn result_slots(slots: usize, fds: usize, capacity: usize) -> usize {
    if fds <= capacity {
        slots + 1
    } else {
        capacity.max(1)
    }
}

/// The readiness bits of one poll-style kernel interface (epoll, poll, /dev/poll): the one
/// translation between those bits and [`Interest`] / event flags that every such backend
/// shares. Any bit outside the table still means "something happened" and reads as an error,
/// so, as in the stdlib, it reports both READ and WRITE. A bit of 0 is one the interface lacks
/// (the selector refuses such an interest before it reaches the backend).
#[cfg(unix)]
pub(crate) struct ReadinessBits {
    pub(crate) readable: u32,
    pub(crate) writable: u32,
    pub(crate) error: u32,
    /// Reported whatever the interest (EPOLLHUP, POLLHUP).
    pub(crate) hangup: u32,
    /// Asked for by [`Interest::PRIORITY`].
    pub(crate) priority: u32,
    /// The peer shut down writing, asked for by [`Interest::HANGUP`] (EPOLLRDHUP, POLLRDHUP).
    pub(crate) rdhup: u32,
    /// The registration mode of [`Interest::EXCLUSIVE`] (EPOLLEXCLUSIVE); 0 where there is
    /// none (the flag is then ignored, as documented).
    pub(crate) exclusive: u32,
}

#[cfg(unix)]
impl ReadinessBits {
    /// Kernel interest bits for an [`Interest`] (level-triggered).
    pub(crate) const fn interest(&self, interest: Interest) -> u32 {
        let mut bits = 0;
        if interest.is_readable() {
            bits |= self.readable;
        }
        if interest.is_writable() {
            bits |= self.writable;
        }
        if interest.is_extended() {
            if interest.is_priority() {
                bits |= self.priority;
            }
            if interest.is_hangup() {
                bits |= self.rdhup;
            }
            if interest.is_exclusive() {
                bits |= self.exclusive;
            }
        }
        bits
    }

    /// Event flags for the bits the kernel reported.
    pub(crate) const fn flags(&self, bits: u32) -> u8 {
        use crate::event::flags;
        let known =
            self.readable | self.writable | self.error | self.hangup | self.priority | self.rdhup;
        let mut f = 0;
        if bits & self.readable != 0 {
            f |= flags::READABLE;
        }
        if bits & self.writable != 0 {
            f |= flags::WRITABLE;
        }
        if bits & (self.error | !known) != 0 {
            f |= flags::ERROR;
        }
        if bits & self.hangup != 0 {
            f |= flags::FULL_HANGUP;
        }
        // Only interests beyond READ/WRITE ask for these: one test when none is there.
        if bits & (self.priority | self.rdhup) != 0 {
            f |= self.extended_flags(bits);
        }
        f
    }

    /// The flags of the bits only extended interests ask for (priority data, a peer's
    /// shutdown of writing), out of the common path.
    #[cold]
    #[inline(never)]
    const fn extended_flags(&self, bits: u32) -> u8 {
        use crate::event::flags;
        let mut f = 0;
        if bits & self.priority != 0 {
            f |= flags::PRIORITY;
        }
        if bits & self.rdhup != 0 {
            f |= flags::HANGUP;
        }
        f
    }
}

/// Coordination between registration changes and waiters for backends whose set lives in
/// user space (poll, select; winsock's select): waiters copy the set, so a change made while one waits must wake
/// it to copy again.
#[derive(Default)]
pub(crate) struct UserSpaceSet {
    /// Bumped on every change; a waiter's copy is current iff its generation matches.
    pub(crate) generation: u64,
    /// Threads blocked with the notifier in their set.
    waiters: usize,
    /// Where the next scan of a wait's results starts (an index into the set; a hint, any
    /// value is safe). See [`UserSpaceSet::scan_order`].
    next_scan: usize,
}

impl UserSpaceSet {
    /// Records a change and nudges blocked waiters.
    pub(crate) fn changed(&mut self, wake: &WakeState) {
        self.generation = self.generation.wrapping_add(1);
        if self.waiters > 0 {
            // A failed write means the notifier is already readable: no waiter can be left
            // sleeping on a stale set because of it.
            let _ = wake.nudge();
        }
    }

    /// A thread starts waiting with the notifier in its set.
    pub(crate) fn enter(&mut self) {
        self.waiters += 1;
    }

    /// A thread stops waiting.
    pub(crate) fn leave(&mut self) {
        self.waiters -= 1;
    }

    /// The order in which to scan the `n` slots of a wait's results: from where the last
    /// truncated scan stopped, wrapping around. When more fds are ready than `Events` holds,
    /// the ones left out are reported by the next wait instead of the first slots again
    /// (level-triggered fds stay ready, so a fixed order would starve the later ones).
    pub(crate) fn scan_order(&self, n: usize) -> Chain<Range<usize>, Range<usize>> {
        let start = self.scan_start(n);
        (start..n).chain(0..start)
    }

    /// The first slot of [`scan_order`](UserSpaceSet::scan_order) over `n` slots.
    pub(crate) fn scan_start(&self, n: usize) -> usize {
        if self.next_scan < n {
            self.next_scan
        } else {
            0
        }
    }

    /// A scan stopped at slot `i` because `Events` was full: the next one starts there.
    pub(crate) fn truncated_at(&mut self, i: usize) {
        self.next_scan = i;
    }
}
