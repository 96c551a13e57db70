//! /dev/poll (illumos, Solaris): the kernel keeps a `pollfd` set fed by `write`.
//!
//! Writing a `pollfd` *adds* its events to the fd's registration (the kernel ORs them in), so
//! narrowing an interest needs the write-to-remove protocol: a `POLLREMOVE` record, then the
//! new events, in one write. `DP_POLL` returns ready fds, not tokens, so a user-space table
//! (fd -> token, interest) maps them back and drops fds unregistered during a wait.
//!
//! Record building and result translation are platform-neutral (they use the `pollfd` type
//! every Unix has) and unit-tested everywhere; only `Devpoll` (the
//! [`Driver`](super::Driver)) talks to the kernel, under `cfg(devpoll_available)`.
// Off illumos/Solaris only the tests use the translation functions; there the driver uses all
// of them and the cross-platform check (`.ci/cross-check`) denies dead code.
#![cfg_attr(not(devpoll_available), allow(dead_code))]

use super::poll::{event_flags, interest_bits};
use super::Registry;
use crate::own::OwnFds;
use crate::sys::poll::{pollfd, PollFd};
use crate::{Event, Events, Interest, Token};
use std::os::fd::RawFd;

/// `POLLREMOVE` from illumos' and Solaris' `<sys/poll.h>` (libc does not define it): as the
/// `events` of a record written to /dev/poll, removes the fd from the set.
pub(crate) const POLLREMOVE: i16 = 0x0800;

/// At most two records (remove, then add), without allocating.
#[derive(Clone, Copy)]
pub(crate) struct Records {
    list: [PollFd; 2],
    len: usize,
}

impl Records {
    fn new() -> Records {
        Records {
            list: [pollfd(-1, 0); 2],
            len: 0,
        }
    }

    fn push(&mut self, record: PollFd) {
        self.list[self.len] = record;
        self.len += 1;
    }

    /// The records, in the order they are written.
    pub(crate) fn as_slice(&self) -> &[PollFd] {
        &self.list[..self.len]
    }
}

/// Records that register `fd` for `interest` (none for an empty interest: the fd is only
/// remembered in the table).
pub(crate) fn register_records(fd: RawFd, interest: Interest) -> Records {
    let mut records = Records::new();
    if !interest.is_empty() {
        records.push(pollfd(fd, interest_bits(interest)));
    }
    records
}

/// Records that change `fd`'s interest: remove it, then add the new events (a plain write
/// would OR them into the old ones).
pub(crate) fn modify_records(fd: RawFd, interest: Interest) -> Records {
    let mut records = Records::new();
    records.push(pollfd(fd, POLLREMOVE));
    if !interest.is_empty() {
        records.push(pollfd(fd, interest_bits(interest)));
    }
    records
}

/// Records that unregister `fd`.
pub(crate) fn unregister_records(fd: RawFd) -> Records {
    let mut records = Records::new();
    records.push(pollfd(fd, POLLREMOVE));
    records
}

/// Size of the `DP_POLL` buffer: one slot per registered fd (see [`super::result_slots`]).
pub(crate) fn max_events(registered: usize, capacity: usize) -> usize {
    super::result_slots(registered, registered, capacity)
}

/// The user-space mirror of the kernel set.
#[derive(Default)]
pub(crate) struct Mirror {
    regs: Registry<(Token, Interest)>,
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

    /// `NotFound` if `fd` is not registered.
    pub(crate) fn registered(&self, fd: RawFd) -> std::io::Result<()> {
        self.regs.registered(fd).map(drop)
    }

    /// Records `fd` as `(token, interest)`; returns the previous registration.
    pub(crate) fn set(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> Option<(Token, Interest)> {
        self.regs.insert(fd, (token, interest))
    }

    /// Forgets `fd` (`NotFound` if it is not registered).
    pub(crate) fn remove(&mut self, fd: RawFd) -> std::io::Result<(Token, Interest)> {
        self.regs.take(fd)
    }

    /// Number of registered fds.
    pub(crate) fn len(&self) -> usize {
        self.regs.len()
    }

    /// Translates `DP_POLL` results into `events` (poll's flag translation, under the fd's
    /// current token). A result for `notify_fd` (the notifier, once made) is not stored:
    /// returns whether there was one.
    /// Fds no longer registered (unregistered while the caller waited) are dropped. At most
    /// `events.capacity()` events are stored.
    pub(crate) fn collect<'a>(
        &self,
        results: impl IntoIterator<Item = &'a PollFd>,
        notify_fd: Option<RawFd>,
        events: &mut Events,
    ) -> bool {
        let mut woken = false;
        for p in results {
            if Some(p.fd) == notify_fd {
                woken = true;
            } else if p.revents != 0 && !events.is_full() {
                if let Some(&(token, _)) = self.regs.get(p.fd) {
                    events.push(Event::new(token, event_flags(p.revents)));
                }
            }
        }
        woken
    }
}

#[cfg(devpoll_available)]
pub(crate) use driver::Devpoll;

/// The kernel glue: the [`Driver`](super::Driver).
#[cfg(devpoll_available)]
mod driver {
    use super::*;
    use crate::backend::Driver;
    use crate::own::{OwnFd, Watch};
    use crate::sync::{Mutex, MutexGuard};
    use crate::sys::devpoll::DevPollFd;
    use crate::waker::WakeState;
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd};
    use std::time::Duration;

    pub(crate) struct Devpoll {
        dp: DevPollFd,
        /// Also serialises writes, so the kernel set and the table change together.
        table: Mutex<Mirror>,
    }

    impl Devpoll {
        fn lock(&self) -> MutexGuard<'_, Mirror> {
            crate::sync::lock(&self.table)
        }

        /// Writes `records`, retrying on EINTR (an interrupted write applied nothing).
        fn write(&self, records: &Records) -> io::Result<()> {
            if records.as_slice().is_empty() {
                return Ok(());
            }
            loop {
                match self.dp.write(records.as_slice()) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => return other,
                }
            }
        }
    }

    impl Driver for Devpoll {
        fn new() -> io::Result<Devpoll> {
            Ok(Devpoll {
                dp: DevPollFd::new()?,
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
            self.write(&register_records(fd, interest))?;
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
            table.registered(fd)?;
            match self.write(&modify_records(fd, interest)) {
                Ok(()) => {
                    table.set(fd, token, interest);
                    Ok(())
                }
                Err(e) => {
                    // The kernel may hold the old events, none, or the new ones: make it
                    // none, so that the fd is registered with an empty interest, as the
                    // table then says.
                    let _ = self.write(&unregister_records(fd));
                    table.set(fd, token, Interest::NONE);
                    Err(e)
                }
            }
        }

        fn unregister(&self, fd: RawFd, _: &OwnFds) -> io::Result<()> {
            let mut table = self.lock();
            table.remove(fd)?;
            // Removing an fd the kernel does not know (closed, or registered with no events)
            // is not an error for /dev/poll.
            self.write(&unregister_records(fd))
        }

        fn wait(
            &self,
            events: &mut Events,
            timeout: Option<Duration>,
            watch: Watch,
        ) -> io::Result<bool> {
            events.clear();
            let max = max_events(self.lock().len(), events.capacity());
            let mut raw: Vec<PollFd> = std::mem::take(&mut events.raw.devpoll);
            let result = self.dp.poll(&mut raw, max, timeout);
            let woken = match result {
                Ok(_) => self.lock().collect(&raw, watch.notify, events),
                Err(_) => false,
            };
            events.raw.devpoll = raw;
            result.map(|_| woken)
        }

        fn add_own<'a, T: OwnFd>(
            &self,
            _: Token,
            make: impl FnOnce(&dyn Fn(RawFd) -> bool) -> io::Result<&'a T>,
        ) -> io::Result<&'a T> {
            // The device holds one record per fd number: a registration under its number
            // would merge with it.
            let table = self.lock();
            let fd = make(&|n| table.contains(n))?;
            self.write(&register_records(fd.watched(), Interest::READABLE))?;
            Ok(fd)
        }

        fn adopt(&self, fresh: Devpoll, _: &WakeState) -> io::Result<()> {
            let mut table = self.lock();
            self.dp.replace(fresh.dp)?;
            *table = crate::sync::into_inner(fresh.table);
            Ok(())
        }

        fn as_fd(&self) -> Option<BorrowedFd<'_>> {
            Some(self.dp.as_fd())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::flags;
    use crate::sys::poll::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT};

    fn pairs(r: &Records) -> Vec<(RawFd, i16)> {
        r.as_slice().iter().map(|p| (p.fd, p.events)).collect()
    }

    #[test]
    fn register_writes_the_interest() {
        assert_eq!(
            pairs(&register_records(5, Interest::READABLE)),
            [(5, POLLIN)]
        );
        assert_eq!(
            pairs(&register_records(5, Interest::BOTH)),
            [(5, POLLIN | POLLOUT)]
        );
        assert!(pairs(&register_records(5, Interest::NONE)).is_empty());
    }

    #[test]
    fn modify_removes_before_adding() {
        // /dev/poll ORs a write into the registration, so narrowing READ|WRITE to WRITE
        // must remove the fd first.
        assert_eq!(
            pairs(&modify_records(5, Interest::WRITABLE)),
            [(5, POLLREMOVE), (5, POLLOUT)]
        );
        assert_eq!(
            pairs(&modify_records(5, Interest::BOTH)),
            [(5, POLLREMOVE), (5, POLLIN | POLLOUT)]
        );
        assert_eq!(pairs(&modify_records(5, Interest::NONE)), [(5, POLLREMOVE)]);
    }

    #[test]
    fn unregister_removes() {
        assert_eq!(pairs(&unregister_records(7)), [(7, POLLREMOVE)]);
        // POLLREMOVE is no bit a registration could ask for.
        assert_eq!(POLLREMOVE & interest_bits(Interest::BOTH), 0);
    }

    #[test]
    fn max_events_is_never_zero() {
        assert_eq!(max_events(0, 16), 1);
        assert_eq!(max_events(3, 16), 4);
        assert_eq!(max_events(100, 16), 16);
        assert_eq!(max_events(100, 0), 1);
    }

    fn result(fd: RawFd, revents: i16) -> PollFd {
        PollFd {
            revents,
            ..pollfd(fd, 0)
        }
    }

    #[test]
    fn results_translate_like_poll() {
        let mut t = Mirror::default();
        t.set(3, Token(30), Interest::BOTH);
        t.set(4, Token(40), Interest::READABLE);
        t.set(5, Token(50), Interest::READABLE);
        let raw = [
            result(3, POLLIN | POLLOUT),
            result(9, POLLIN),
            result(4, POLLHUP),
            result(5, POLLNVAL | POLLERR),
            // Unregistered while waiting.
            result(6, POLLIN),
        ];
        let mut events = Events::with_capacity(8);
        assert!(t.collect(&raw, Some(9), &mut events));
        let got: Vec<Event> = events.iter().copied().collect();
        assert_eq!(
            got,
            [
                Event::new(Token(30), flags::READABLE | flags::WRITABLE),
                Event::new(Token(40), flags::FULL_HANGUP),
                Event::new(Token(50), flags::ERROR),
            ]
        );
        // The stdlib's translation: hang-ups and errors mark both directions (and a hang-up
        // is one, for registrations that ask for it).
        assert_eq!(
            got[1].selectors_mask(),
            crate::EVENT_READ | crate::EVENT_WRITE | crate::EVENT_HANGUP
        );
    }

    #[test]
    fn results_respect_capacity_and_current_token() {
        let mut t = Mirror::default();
        t.set(3, Token(30), Interest::READABLE);
        t.set(4, Token(40), Interest::READABLE);
        assert_eq!(
            t.set(3, Token(31), Interest::READABLE),
            Some((Token(30), Interest::READABLE))
        );
        let raw = [result(3, POLLIN), result(4, POLLIN)];
        let mut events = Events::with_capacity(1);
        assert!(!t.collect(&raw, Some(99), &mut events));
        let got: Vec<Event> = events.iter().copied().collect();
        assert_eq!(got, [Event::new(Token(31), flags::READABLE)]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove(4).ok(), Some((Token(40), Interest::READABLE)));
        assert!(t.registered(4).is_err() && t.vacant(4, &OwnFds::new()).is_ok());
    }
}
