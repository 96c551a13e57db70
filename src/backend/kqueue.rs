//! kqueue (macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly): one kernel filter per direction.
//!
//! A registration is up to two knotes, `(fd, EVFILT_READ)` and `(fd, EVFILT_WRITE)`, each
//! carrying the token in `udata`. The kernel keeps the set; a user-space table
//! (fd -> token, interest) gives modify its old interest to diff against, counts the
//! registered filters (the size of the event buffer) and merges the read and write events of
//! one fd into one [`Event`](crate::Event).
//!
//! Everything above the `kevent` records is platform-neutral: [`Change`] and [`Fired`] are
//! this module's own records and the functions over them compile and are unit-tested on every
//! platform. Only `Kqueue` (the [`Driver`](super::Driver)) and the record conversions touch
//! the kernel, under `cfg(kqueue_available)`.
// Off kqueue platforms only the tests use the translation functions; on kqueue platforms the
// driver uses all of them and the cross-platform check (`.ci/cross-check`) denies dead code.
#![cfg_attr(not(kqueue_available), allow(dead_code))]

use super::Registry;
use crate::event::flags;
use crate::own::OwnFds;
use crate::{Events, Interest, Token};
use std::os::fd::RawFd;

/// A kqueue filter: the direction a knote watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Filter {
    /// `EVFILT_READ`.
    Read,
    /// `EVFILT_WRITE`.
    Write,
}

/// What a change record does to its knote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// `EV_ADD`: create the knote, or update the `udata` of an existing one.
    Add,
    /// `EV_DELETE`: remove the knote.
    Delete,
}

/// A platform-neutral change record (`kevent` with `EV_ADD` or `EV_DELETE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) fd: RawFd,
    pub(crate) filter: Filter,
    pub(crate) action: Action,
    pub(crate) token: Token,
}

/// At most two change records (one per filter), without allocating.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Changes {
    list: [Change; 2],
    len: usize,
}

impl Changes {
    fn new() -> Changes {
        let unused = Change {
            fd: -1,
            filter: Filter::Read,
            action: Action::Delete,
            token: Token(0),
        };
        Changes {
            list: [unused; 2],
            len: 0,
        }
    }

    fn push(&mut self, change: Change) {
        self.list[self.len] = change;
        self.len += 1;
    }

    /// The records, in the order they are applied.
    pub(crate) fn as_slice(&self) -> &[Change] {
        &self.list[..self.len]
    }
}

/// The filters an interest needs, read first.
fn filters(interest: Interest) -> impl Iterator<Item = Filter> {
    [
        (interest.is_readable(), Filter::Read),
        (interest.is_writable(), Filter::Write),
    ]
    .into_iter()
    .filter_map(|(on, f)| on.then_some(f))
}

/// Whether `interest` includes `filter`'s direction.
fn has(interest: Interest, filter: Filter) -> bool {
    match filter {
        Filter::Read => interest.is_readable(),
        Filter::Write => interest.is_writable(),
    }
}

/// `interest` with `filter`'s direction set or cleared.
fn with(interest: Interest, filter: Filter, on: bool) -> Interest {
    let bit = match filter {
        Filter::Read => Interest::READABLE,
        Filter::Write => Interest::WRITABLE,
    };
    if on {
        interest | bit
    } else {
        interest.without(bit)
    }
}

/// Number of kernel filters (knotes) `interest` uses.
pub(crate) fn filter_count(interest: Interest) -> usize {
    filters(interest).count()
}

/// Records that register `fd`: one `EV_ADD` per filter of `interest`.
pub(crate) fn register_changes(fd: RawFd, token: Token, interest: Interest) -> Changes {
    let mut changes = Changes::new();
    for filter in filters(interest) {
        changes.push(Change {
            fd,
            filter,
            action: Action::Add,
            token,
        });
    }
    changes
}

/// Records that take `fd` from `old` to `(token, new)`: `EV_DELETE` for each filter of `old`
/// that `new` drops, `EV_ADD` for every filter of `new`. Re-adding a kept filter updates its
/// `udata` to the new token and, like the stdlib's unregister-then-register, fails with
/// `EBADF` if the fd was closed and re-creates the knote if the fd number was reused.
pub(crate) fn modify_changes(fd: RawFd, old: Interest, token: Token, new: Interest) -> Changes {
    let mut changes = Changes::new();
    for filter in [Filter::Read, Filter::Write] {
        let action = match (has(old, filter), has(new, filter)) {
            (_, true) => Action::Add,
            (true, false) => Action::Delete,
            (false, false) => continue,
        };
        changes.push(Change {
            fd,
            filter,
            action,
            token,
        });
    }
    changes
}

/// Records that unregister `fd`: one `EV_DELETE` per filter of `interest`.
pub(crate) fn unregister_changes(fd: RawFd, interest: Interest) -> Changes {
    let mut changes = Changes::new();
    for filter in filters(interest) {
        changes.push(Change {
            fd,
            filter,
            action: Action::Delete,
            token: Token(0),
        });
    }
    changes
}

/// The outcome of one applied change, given its receipt's errno (0: success).
///
/// Deleting a knote that is not there (`ENOENT`), or whose fd is already closed (`EBADF`:
/// closing an fd removes its knotes), leaves the kernel in the wanted state: success.
pub(crate) fn outcome(change: &Change, errno: i32) -> Result<(), i32> {
    match (change.action, errno) {
        (_, 0) => Ok(()),
        (Action::Delete, libc::ENOENT | libc::EBADF) => Ok(()),
        (_, e) => Err(e),
    }
}

/// The interest the kernel holds for an fd after applying `changes` to `before`, given each
/// change's outcome: a failed change leaves its filter as it was.
pub(crate) fn applied(
    before: Interest,
    changes: &[Change],
    results: &[Result<(), i32>],
) -> Interest {
    changes
        .iter()
        .zip(results)
        .filter(|(_, r)| r.is_ok())
        .fold(before, |interest, (c, _)| {
            with(interest, c.filter, c.action == Action::Add)
        })
}

/// Size of the `kevent` result buffer: one slot per registered filter (see
/// [`super::result_slots`]).
pub(crate) fn max_events(filters: usize, fds: usize, capacity: usize) -> usize {
    super::result_slots(filters, fds, capacity)
}

/// A platform-neutral kernel event (what `kevent` returned in one record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fired {
    /// The `ident`: the fd.
    pub(crate) fd: RawFd,
    /// The filter, `None` for any other (not registered by this backend).
    pub(crate) filter: Option<Filter>,
    /// The token from `udata`.
    pub(crate) token: Token,
    /// `EV_EOF`: the peer closed (reading returns 0 / writing fails).
    pub(crate) eof: bool,
    /// `EV_ERROR`: the kernel attached an error to this knote.
    pub(crate) error: bool,
}

/// Event flags for one kernel event: the filter's direction (as the stdlib's
/// `KqueueSelector`, which translates the filter alone), plus [`flags::HANGUP`] for `EV_EOF` and
/// [`flags::ERROR`] for `EV_ERROR` (the fd has failed: any operation on it returns at once
/// with the error, so it is reported like poll's `POLLERR`).
pub(crate) fn ready_flags(ready: &Fired) -> u8 {
    let mut f = match ready.filter {
        Some(Filter::Read) => flags::READABLE,
        Some(Filter::Write) => flags::WRITABLE,
        None => 0,
    };
    if ready.eof {
        f |= flags::HANGUP;
    }
    if ready.error {
        f |= flags::ERROR;
    }
    f
}

/// One registration in the user-space table.
#[derive(Clone, Copy, Debug)]
struct Reg {
    token: Token,
    interest: Interest,
    /// The `collect` pass that last saw this fd, and the flags merged in that pass.
    seen: u64,
    merged: u8,
}

/// The user-space mirror of the kernel set.
#[derive(Default)]
pub(crate) struct Mirror {
    regs: Registry<Reg>,
    /// Registered filters in total (sizes the event buffer).
    filters: usize,
    /// Counts `collect` passes (never 0 after the first, so a fresh `Reg` is never "seen").
    pass: u64,
}

impl Mirror {
    /// `AlreadyExists` if `fd` is registered.
    pub(crate) fn vacant(&self, fd: RawFd, own: &OwnFds) -> std::io::Result<()> {
        self.regs.vacant(fd, own)
    }

    /// Whether a registration names `fd`.
    pub(crate) fn contains(&self, fd: RawFd) -> bool {
        self.regs.contains(fd)
    }

    /// The token and interest of `fd` (`NotFound` if it is not registered).
    pub(crate) fn get(&self, fd: RawFd) -> std::io::Result<(Token, Interest)> {
        self.regs.registered(fd).map(|r| (r.token, r.interest))
    }

    /// Records `fd` as `(token, interest)` (replacing any previous registration).
    pub(crate) fn set(&mut self, fd: RawFd, token: Token, interest: Interest) {
        let reg = Reg {
            token,
            interest,
            seen: 0,
            merged: 0,
        };
        if let Some(old) = self.regs.insert(fd, reg) {
            self.filters -= filter_count(old.interest);
        }
        self.filters += filter_count(interest);
    }

    /// Forgets `fd`, returning its interest (`NotFound` if it is not registered).
    pub(crate) fn remove(&mut self, fd: RawFd) -> std::io::Result<Interest> {
        let reg = self.regs.take(fd)?;
        self.filters -= filter_count(reg.interest);
        Ok(reg.interest)
    }

    /// Registered filters in total.
    pub(crate) fn filters(&self) -> usize {
        self.filters
    }

    /// Registered fds.
    pub(crate) fn len(&self) -> usize {
        self.regs.len()
    }

    /// Translates the kernel's events into `events`, merging the read and write events of an
    /// fd into one [`Event`](crate::Event) at the position of the first, in kernel order.
    /// Events of the notifier (token [`Token::NOTIFY`]) are not stored: returns whether there
    /// was one. Events for fds no longer registered (unregistered while the caller waited),
    /// or for a direction no longer in their interest, are dropped; the others carry the
    /// current token. At most `events.capacity()` events are stored: the rest stay ready
    /// (level-triggered) for the next wait.
    pub(crate) fn collect<I>(&mut self, ready: I, events: &mut Events) -> bool
    where
        I: IntoIterator<Item = Fired>,
        I::IntoIter: Clone,
    {
        let ready = ready.into_iter();
        self.pass = self.pass.wrapping_add(1).max(1);
        let pass = self.pass;
        let mut woken = false;
        // First pass: OR each fd's flags together.
        for r in ready.clone() {
            if r.token == Token::NOTIFY {
                woken = true;
                continue;
            }
            let Some(reg) = self.regs.get_mut(r.fd) else {
                continue;
            };
            if r.filter.is_some_and(|f| !has(reg.interest, f)) {
                continue;
            }
            if reg.seen != pass {
                reg.seen = pass;
                reg.merged = 0;
            }
            reg.merged |= ready_flags(&r);
        }
        // Second pass: one event per fd, where its first kernel event was.
        for r in ready {
            if events.is_full() {
                break;
            }
            if r.token == Token::NOTIFY {
                continue;
            }
            if let Some(reg) = self.regs.get_mut(r.fd) {
                if reg.seen == pass && reg.merged != 0 {
                    events.push(crate::Event::new(reg.token, reg.merged));
                    reg.merged = 0;
                }
            }
        }
        woken
    }
}

#[cfg(kqueue_available)]
pub(crate) use driver::Kqueue;

/// The kernel glue: record conversions and the [`Driver`](super::Driver).
#[cfg(kqueue_available)]
mod driver {
    use super::*;
    use crate::backend::Driver;
    use crate::own::{OwnFd, Watch};
    use crate::sync::{Mutex, MutexGuard};
    use crate::sys::kqueue::{self as sys, Kevent, KqueueFd};
    use crate::waker::WakeState;
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd};
    use std::time::Duration;

    /// The kernel record for a change, with `EV_RECEIPT` so each gets its own result.
    fn to_kevent(c: &Change) -> Kevent {
        let filter = match c.filter {
            Filter::Read => sys::EVFILT_READ,
            Filter::Write => sys::EVFILT_WRITE,
        };
        let action = match c.action {
            Action::Add => sys::EV_ADD,
            Action::Delete => sys::EV_DELETE,
        };
        sys::kevent(c.fd, filter, action | sys::EV_RECEIPT, c.token.0)
    }

    /// The neutral view of a kernel event.
    fn to_fired(ev: &Kevent) -> Fired {
        let filter = if ev.filter() == sys::EVFILT_READ {
            Some(Filter::Read)
        } else if ev.filter() == sys::EVFILT_WRITE {
            Some(Filter::Write)
        } else {
            None
        };
        Fired {
            fd: ev.ident() as RawFd,
            filter,
            token: Token(ev.udata()),
            eof: ev.flags() & sys::EV_EOF != 0,
            error: ev.flags() & sys::EV_ERROR != 0,
        }
    }

    pub(crate) struct Kqueue {
        kq: KqueueFd,
        table: Mutex<Mirror>,
    }

    impl Kqueue {
        fn lock(&self) -> MutexGuard<'_, Mirror> {
            crate::sync::lock(&self.table)
        }

        /// Applies `changes`, returning each one's outcome (see [`outcome`]).
        fn apply(&self, changes: &Changes) -> io::Result<[Result<(), i32>; 2]> {
            let changes = changes.as_slice();
            let mut results = [Ok(()); 2];
            if changes.is_empty() {
                return Ok(results);
            }
            let mut list = [sys::kevent(-1, sys::EVFILT_READ, 0, 0); 2];
            for (k, c) in list.iter_mut().zip(changes) {
                *k = to_kevent(c);
            }
            let list = &list[..changes.len()];
            let mut receipts = [sys::kevent(-1, sys::EVFILT_READ, 0, 0); 2];
            let n = loop {
                match self.kq.apply(list, &mut receipts) {
                    // Re-applying is harmless: an add is idempotent and a repeated delete
                    // fails with ENOENT, which `outcome` treats as done.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            // Receipts come back in change order, one per change (each with EV_ERROR set and
            // the errno, or 0, in `data`).
            for (i, c) in changes.iter().enumerate() {
                let errno = match receipts[..n].get(i) {
                    Some(r) if r.flags() & sys::EV_ERROR != 0 => r.data() as i32,
                    Some(_) => 0,
                    None => libc::EIO,
                };
                results[i] = outcome(c, errno);
            }
            Ok(results)
        }
    }

    /// The first error among `results`.
    fn first_error(results: &[Result<(), i32>]) -> io::Result<()> {
        match results.iter().find_map(|r| r.err()) {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }

    impl Driver for Kqueue {
        fn new() -> io::Result<Kqueue> {
            Ok(Kqueue {
                kq: KqueueFd::new()?,
                table: Mutex::new(Mirror::default()),
            })
        }

        fn register(
            &self,
            fd: RawFd,
            token: Token,
            interest: Interest,
            own: &OwnFds,
        ) -> io::Result<()> {
            let mut table = self.lock();
            table.vacant(fd, own)?;
            let changes = register_changes(fd, token, interest);
            let results = self.apply(&changes)?;
            let n = changes.as_slice().len();
            if let Err(e) = first_error(&results[..n]) {
                // Leave nothing behind: undo the filters that were added.
                let added = applied(Interest::NONE, changes.as_slice(), &results[..n]);
                let _ = self.apply(&unregister_changes(fd, added));
                return Err(e);
            }
            table.set(fd, token, interest);
            Ok(())
        }

        fn modify(
            &self,
            fd: RawFd,
            token: Token,
            interest: Interest,
            _: &OwnFds,
        ) -> io::Result<()> {
            let mut table = self.lock();
            let old = table.get(fd)?;
            let changes = modify_changes(fd, old.1, token, interest);
            let results = self.apply(&changes)?;
            let n = changes.as_slice().len();
            // The table follows the kernel, even after a partial failure.
            table.set(fd, token, applied(old.1, changes.as_slice(), &results[..n]));
            first_error(&results[..n])
        }

        fn unregister(&self, fd: RawFd, _: &OwnFds) -> io::Result<()> {
            let mut table = self.lock();
            let interest = table.remove(fd)?;
            let changes = unregister_changes(fd, interest);
            let results = self.apply(&changes)?;
            first_error(&results[..changes.as_slice().len()])
        }

        fn wait(
            &self,
            events: &mut Events,
            timeout: Option<Duration>,
            _: Watch,
        ) -> io::Result<bool> {
            events.clear();
            let max = {
                let table = self.lock();
                max_events(table.filters(), table.len(), events.capacity())
            };
            let mut raw: Vec<Kevent> = std::mem::take(&mut events.raw.kqueue);
            let result = self.kq.wait(&mut raw, max, timeout);
            let woken = match result {
                Ok(_) => self.lock().collect(raw.iter().map(to_fired), events),
                Err(_) => false,
            };
            events.raw.kqueue = raw;
            result.map(|_| woken)
        }

        fn add_own<'a, T: OwnFd>(
            &self,
            token: Token,
            make: impl FnOnce(&dyn Fn(RawFd) -> bool) -> io::Result<&'a T>,
        ) -> io::Result<&'a T> {
            // A knote is keyed by fd number: a registration under its number would share it.
            let table = self.lock();
            let fd = make(&|n| table.contains(n))?;
            let changes = register_changes(fd.watched(), token, Interest::READABLE);
            first_error(&self.apply(&changes)?[..1])?;
            Ok(fd)
        }

        fn adopt(&self, fresh: Kqueue, _: &WakeState) -> io::Result<()> {
            let mut table = self.lock();
            self.kq.replace(fresh.kq)?;
            *table = crate::sync::into_inner(fresh.table);
            Ok(())
        }

        fn as_fd(&self) -> Option<BorrowedFd<'_>> {
            Some(self.kq.as_fd())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn ch(fd: RawFd, filter: Filter, action: Action, token: usize) -> Change {
        Change {
            fd,
            filter,
            action,
            token: Token(token),
        }
    }

    fn fired(fd: RawFd, filter: Filter, token: usize) -> Fired {
        Fired {
            fd,
            filter: Some(filter),
            token: Token(token),
            eof: false,
            error: false,
        }
    }

    #[test]
    fn register_adds_one_filter_per_direction() {
        use Action::Add;
        use Filter::{Read, Write};
        assert_eq!(
            register_changes(5, Token(1), Interest::READABLE).as_slice(),
            [ch(5, Read, Add, 1)]
        );
        assert_eq!(
            register_changes(5, Token(1), Interest::WRITABLE).as_slice(),
            [ch(5, Write, Add, 1)]
        );
        assert_eq!(
            register_changes(5, Token(1), Interest::BOTH).as_slice(),
            [ch(5, Read, Add, 1), ch(5, Write, Add, 1)]
        );
        assert!(register_changes(5, Token(1), Interest::NONE)
            .as_slice()
            .is_empty());
    }

    #[test]
    fn modify_deletes_dropped_filters_and_adds_the_rest() {
        use Action::{Add, Delete};
        use Filter::{Read, Write};
        let (r, w, b) = (Interest::READABLE, Interest::WRITABLE, Interest::BOTH);
        assert_eq!(
            modify_changes(3, r, Token(1), r).as_slice(),
            [ch(3, Read, Add, 1)]
        );
        assert_eq!(
            modify_changes(3, r, Token(2), b).as_slice(),
            [ch(3, Read, Add, 2), ch(3, Write, Add, 2)]
        );
        assert_eq!(
            modify_changes(3, b, Token(1), w).as_slice(),
            [ch(3, Read, Delete, 1), ch(3, Write, Add, 1)]
        );
        assert_eq!(
            modify_changes(3, r, Token(1), w).as_slice(),
            [ch(3, Read, Delete, 1), ch(3, Write, Add, 1)]
        );
        assert_eq!(
            modify_changes(3, b, Token(1), Interest::NONE).as_slice(),
            [ch(3, Read, Delete, 1), ch(3, Write, Delete, 1)]
        );
        assert!(modify_changes(3, Interest::NONE, Token(1), Interest::NONE)
            .as_slice()
            .is_empty());
    }

    #[test]
    fn unregister_deletes_every_registered_filter() {
        use Action::Delete;
        use Filter::{Read, Write};
        let c = unregister_changes(4, Interest::BOTH);
        assert_eq!(
            c.as_slice(),
            [ch(4, Read, Delete, 0), ch(4, Write, Delete, 0)]
        );
        assert_eq!(
            unregister_changes(4, Interest::WRITABLE).as_slice(),
            [ch(4, Write, Delete, 0)]
        );
    }

    #[test]
    fn deleting_from_a_closed_fd_is_not_an_error() {
        let del = ch(4, Filter::Read, Action::Delete, 0);
        let add = ch(4, Filter::Read, Action::Add, 0);
        assert_eq!(outcome(&del, 0), Ok(()));
        assert_eq!(outcome(&del, libc::EBADF), Ok(()));
        assert_eq!(outcome(&del, libc::ENOENT), Ok(()));
        assert_eq!(outcome(&del, libc::ENOMEM), Err(libc::ENOMEM));
        assert_eq!(outcome(&add, libc::EBADF), Err(libc::EBADF));
        assert_eq!(outcome(&add, libc::EPIPE), Err(libc::EPIPE));
    }

    #[test]
    fn applied_follows_the_changes_that_succeeded() {
        let t = Token(1);
        let c = modify_changes(3, Interest::READABLE, t, Interest::WRITABLE);
        let c = c.as_slice();
        assert_eq!(
            applied(Interest::READABLE, c, &[Ok(()), Ok(())]),
            Interest::WRITABLE
        );
        // The delete worked, the add failed: nothing is left.
        assert_eq!(
            applied(Interest::READABLE, c, &[Ok(()), Err(9)]),
            Interest::NONE
        );
        assert_eq!(
            applied(Interest::READABLE, c, &[Err(12), Ok(())]),
            Interest::BOTH
        );
        // A failed register rolls back exactly what was added.
        let c = register_changes(3, t, Interest::BOTH);
        assert_eq!(
            applied(Interest::NONE, c.as_slice(), &[Ok(()), Err(32)]),
            Interest::READABLE
        );
    }

    #[test]
    fn max_events_counts_filters_and_is_never_zero() {
        // bpo-29255: nothing registered still asks for one event.
        assert_eq!(max_events(0, 0, 16), 1);
        assert_eq!(max_events(0, 0, 0), 1);
        // gh-110038: two fds registered for both directions need four slots.
        assert_eq!(max_events(4, 2, 2), 5);
        assert_eq!(max_events(3, 2, 16), 4);
        // More fds than the caller takes: one kernel event per event, none dropped.
        assert_eq!(max_events(1000, 500, 10), 10);
    }

    #[test]
    fn table_counts_filters() {
        let mut t = Mirror::default();
        t.set(3, Token(3), Interest::BOTH);
        t.set(4, Token(4), Interest::READABLE);
        assert_eq!(t.filters(), 3);
        t.set(3, Token(3), Interest::WRITABLE);
        assert_eq!(t.filters(), 2);
        assert_eq!(t.remove(3).ok(), Some(Interest::WRITABLE));
        assert!(t.remove(3).is_err());
        assert_eq!(t.filters(), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(4).ok(), Some((Token(4), Interest::READABLE)));
    }

    fn collected(t: &mut Mirror, ready: &[Fired], capacity: usize) -> (bool, Vec<Event>) {
        let mut events = Events::with_capacity(capacity);
        let woken = t.collect(ready.iter().copied(), &mut events);
        (woken, events.iter().copied().collect())
    }

    #[test]
    fn read_and_write_events_of_one_fd_merge() {
        use Filter::{Read, Write};
        let mut t = Mirror::default();
        t.set(3, Token(30), Interest::BOTH);
        t.set(4, Token(40), Interest::BOTH);
        let evs = [fired(3, Read, 30), fired(4, Write, 40), fired(3, Write, 30)];
        let (woken, got) = collected(&mut t, &evs, 8);
        assert!(!woken);
        assert_eq!(
            got,
            [
                Event::new(Token(30), flags::READABLE | flags::WRITABLE),
                Event::new(Token(40), flags::WRITABLE)
            ]
        );
        // Python sees (key, 3), not two tuples.
        assert_eq!(
            got[0].selectors_mask(),
            crate::EVENT_READ | crate::EVENT_WRITE
        );
        // A second pass starts afresh.
        let (_, got) = collected(&mut t, &[fired(3, Write, 30)], 8);
        assert_eq!(got, [Event::new(Token(30), flags::WRITABLE)]);
    }

    #[test]
    fn eof_and_error_keep_the_filter_mask() {
        let mut t = Mirror::default();
        t.set(3, Token(3), Interest::BOTH);
        let eof = Fired {
            eof: true,
            ..fired(3, Filter::Read, 3)
        };
        let (_, got) = collected(&mut t, &[eof], 8);
        assert_eq!(got, [Event::new(Token(3), flags::READABLE | flags::HANGUP)]);
        // EV_EOF adds nothing to the stdlib's READ/WRITE: kqueue translates the filter only;
        // it is the hang-up (for registrations that ask for it).
        assert_eq!(
            got[0].selectors_mask(),
            crate::EVENT_READ | crate::EVENT_HANGUP
        );
        assert!(got[0].is_hangup());
        let err = Fired {
            error: true,
            ..fired(3, Filter::Write, 3)
        };
        let (_, got) = collected(&mut t, &[err], 8);
        assert_eq!(got, [Event::new(Token(3), flags::WRITABLE | flags::ERROR)]);
    }

    #[test]
    fn notifier_stale_and_unwanted_events_are_not_stored() {
        use Filter::{Read, Write};
        let mut t = Mirror::default();
        t.set(3, Token(3), Interest::READABLE);
        let evs = [
            fired(9, Read, Token::NOTIFY.0),
            // Unregistered while the caller waited.
            fired(7, Read, 7),
            // Write interest was dropped while the caller waited.
            fired(3, Write, 3),
            Fired {
                filter: None,
                ..fired(3, Read, 3)
            },
        ];
        let (woken, got) = collected(&mut t, &evs, 8);
        assert!(woken);
        assert!(got.is_empty());
        // A token changed by modify during the wait: the current one is reported.
        t.set(3, Token(33), Interest::READABLE);
        let (_, got) = collected(&mut t, &[fired(3, Read, 3)], 8);
        assert_eq!(got, [Event::new(Token(33), flags::READABLE)]);
    }

    #[test]
    fn capacity_limits_merged_events() {
        use Filter::{Read, Write};
        let mut t = Mirror::default();
        for fd in 3..6 {
            t.set(fd, Token(fd as usize), Interest::BOTH);
        }
        let evs = [
            fired(3, Read, 3),
            fired(4, Read, 4),
            fired(3, Write, 3),
            fired(5, Read, 5),
            fired(4, Write, 4),
        ];
        let (_, got) = collected(&mut t, &evs, 2);
        assert_eq!(
            got,
            [
                Event::new(Token(3), flags::READABLE | flags::WRITABLE),
                Event::new(Token(4), flags::READABLE | flags::WRITABLE)
            ]
        );
    }
}
