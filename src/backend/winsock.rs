//! Winsock `select()` (Windows): the registration set lives in user space; each wait builds
//! its own socket sets from it.
//!
//! A wait puts every reader in the read set and every writer in the write set *and* the
//! except set: winsock reports a failed non-blocking `connect` there, never as writable (the
//! stdlib's Windows `SelectSelector` does the same). A priority registration is in the except
//! set too: winsock reports out-of-band data there. `select()` leaves in each set only its
//! ready sockets, and the results are merged into one [`Event`] per socket: read ->
//! readable; write or except -> writable, as the stdlib reports them, so a failed connect
//! reads as on Unix, where the socket turns writable with the error pending (`SO_ERROR`);
//! except -> priority for a priority registration (one waiting for both writable and priority
//! cannot tell a failed connect from out-of-band data: it gets both).
//!
//! The sets are sized by the registrations (see `sys::winsock::SocketSet`): no `FD_SETSIZE`
//! ceiling. Everything but the kernel call is platform-neutral and unit-tested on every
//! platform: the registrations, building the sets, merging the results
//! ([`Select::wait_with`] takes the kernel call as a closure). Only the
//! [`Driver`](super::Driver) impl, which passes it `sys::winsock::select`, is Windows-only.
// Off Windows only the tests use it.
#![cfg_attr(not(windows), allow(dead_code))]

use super::{Registry, UserSpaceSet};
use crate::event::flags;
use crate::own::{OwnFds, Watch};
use crate::sync::{Mutex, MutexGuard};
use crate::sys::winsock::SocketSet;
#[cfg(windows)]
use crate::waker::WakeState;
use crate::{Event, Events, Interest, RawSource, Token};
use std::io;
use std::time::Duration;

/// One registration.
#[derive(Clone, Copy)]
struct Entry {
    socket: RawSource,
    token: Token,
    interest: Interest,
}

/// A waiter's sets, reused from one wait to the next.
#[derive(Default)]
pub(crate) struct WaitSets {
    pub(crate) read: SocketSet,
    pub(crate) write: SocketSet,
    pub(crate) except: SocketSet,
    /// The merge's scratch: (rank in scan order, flags) of each report of a registered socket.
    ready: Vec<(usize, u8)>,
}

#[derive(Default)]
struct State {
    /// The registrations, in the order the sets are built from (swap-remove on unregister).
    entries: Vec<Entry>,
    /// socket -> position in `entries`.
    index: Registry<u32>,
    set: UserSpaceSet,
    spare: Vec<WaitSets>,
}

/// The flags of one report: what `select()` said, kept only where the registration's current
/// interest asked for it.
fn masked(reported: u8, interest: Interest) -> u8 {
    let mut keep = 0;
    if interest.is_readable() {
        keep |= flags::READABLE;
    }
    if interest.is_writable() {
        keep |= flags::WRITABLE;
    }
    if interest.is_priority() {
        keep |= flags::PRIORITY;
    }
    reported & keep
}

impl State {
    fn register(
        &mut self,
        socket: RawSource,
        token: Token,
        interest: Interest,
        own: &OwnFds,
    ) -> io::Result<()> {
        let pos = self.entries.len() as u32;
        self.index.add(socket, pos, own)?;
        self.entries.push(Entry {
            socket,
            token,
            interest,
        });
        self.set.changed(&own.wake);
        Ok(())
    }

    fn modify(
        &mut self,
        socket: RawSource,
        token: Token,
        interest: Interest,
        own: &OwnFds,
    ) -> io::Result<()> {
        let pos = *self.index.entry(socket)? as usize;
        self.entries[pos] = Entry {
            socket,
            token,
            interest,
        };
        self.set.changed(&own.wake);
        Ok(())
    }

    fn unregister(&mut self, socket: RawSource, own: &OwnFds) -> io::Result<()> {
        let pos = self.index.take(socket)? as usize;
        self.entries.swap_remove(pos);
        if let Some(moved) = self.entries.get(pos).map(|e| e.socket) {
            // The entry swap_remove moved into `pos` (always indexed).
            if let Ok(slot) = self.index.entry(moved) {
                *slot = pos as u32;
            }
        }
        self.set.changed(&own.wake);
        Ok(())
    }

    /// Fills `sets` for a wait: the readers in the read set, the writers in the write and
    /// except sets, the priority registrations in the except set, in scan order, and `own`
    /// (the notifier, the timer) in the read set.
    fn prepare(&self, sets: &mut WaitSets, own: impl IntoIterator<Item = RawSource>) {
        sets.read.clear();
        sets.write.clear();
        sets.except.clear();
        for i in self.set.scan_order(self.entries.len()) {
            let e = self.entries[i];
            if e.interest.is_readable() {
                sets.read.push(e.socket);
            }
            if e.interest.is_writable() {
                sets.write.push(e.socket);
            }
            if e.interest.is_writable() || e.interest.is_priority() {
                sets.except.push(e.socket);
            }
        }
        for socket in own {
            sets.read.push(socket);
        }
    }

    /// After a wait: one event per registered socket the sets report (read: readable; write
    /// or except: writable; except: priority), in scan order, under
    /// its current token and masked with its current interest (a registration changed
    /// during the wait counts as it is now; one removed is skipped). Stops when `events` is
    /// full; the next wait's scan starts at the socket left out. Returns whether `notify`
    /// was reported.
    fn collect(
        &mut self,
        sets: &mut WaitSets,
        notify: Option<RawSource>,
        events: &mut Events,
    ) -> bool {
        let n = self.entries.len();
        let start = self.set.scan_start(n);
        let WaitSets {
            read,
            write,
            except,
            ready,
        } = sets;
        ready.clear();
        let reports = [
            (&*read, flags::READABLE),
            (&*write, flags::WRITABLE),
            (&*except, flags::WRITABLE | flags::PRIORITY),
        ];
        for (set, f) in reports {
            for socket in set.sockets() {
                if let Some(&pos) = self.index.get(socket) {
                    ready.push(((pos as usize + n - start) % n, f));
                }
            }
        }
        ready.sort_unstable_by_key(|&(rank, _)| rank);
        let mut i = 0;
        while i < ready.len() {
            let rank = ready[i].0;
            let mut reported = 0;
            while i < ready.len() && ready[i].0 == rank {
                reported |= ready[i].1;
                i += 1;
            }
            let pos = (rank + start) % n;
            let entry = self.entries[pos];
            let f = masked(reported, entry.interest);
            if f == 0 {
                continue;
            }
            if events.is_full() {
                self.set.truncated_at(pos);
                break;
            }
            events.push(Event::new(entry.token, f));
        }
        notify.is_some_and(|n| read.contains(n))
    }
}

/// The winsock `select()` backend's state.
#[derive(Default)]
pub(crate) struct Select {
    state: Mutex<State>,
}

impl Select {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// One wait: builds this waiter's sets under the lock, runs `kernel` on them (with the
    /// timeout) without it, and collects the results; returns whether the notifier was
    /// readable. The notifier, once made, is in every wait's read set, zero-timeout ones
    /// included (winsock's `select()` refuses three empty sets); a wait with no socket to
    /// watch at all (nothing registered, no notifier yet: a zero-timeout one) reports
    /// nothing without asking the kernel. `kernel` is winsock's `select()`; the tests pass a
    /// stand-in.
    fn wait_with(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        watch: Watch,
        kernel: impl FnOnce(&mut WaitSets, Option<Duration>) -> io::Result<usize>,
    ) -> io::Result<bool> {
        events.clear();
        let (mut sets, generation) = {
            let mut st = self.lock();
            if st.entries.is_empty() && watch.notify.is_none() {
                return Ok(false);
            }
            let mut sets = st.spare.pop().unwrap_or_default();
            st.prepare(&mut sets, watch.notify.into_iter().chain(watch.timer));
            if watch.notify.is_some() {
                st.set.enter();
            }
            (sets, st.set.generation)
        };
        let result = kernel(&mut sets, timeout);
        let mut st = self.lock();
        if watch.notify.is_some() {
            st.set.leave();
        }
        let woken = match result {
            // A socket of our sets is closed (WSAENOTSOCK). If the set changed meanwhile, it
            // was unregistered and then closed, as documented, by another thread: not an
            // error of this wait. Report nothing; the selector waits again on the current set.
            Err(e)
                if e.raw_os_error() == Some(crate::sys::CLOSED)
                    && st.set.generation != generation =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
            Ok(_) => Ok(st.collect(&mut sets, watch.notify, events)),
        };
        st.spare.push(sets);
        woken
    }
}

#[cfg(windows)]
impl super::Driver for Select {
    fn new() -> io::Result<Select> {
        Ok(Select::default())
    }

    fn register(
        &self,
        socket: RawSource,
        token: Token,
        interest: Interest,
        own: &OwnFds,
    ) -> io::Result<()> {
        self.lock().register(socket, token, interest, own)
    }

    fn modify(
        &self,
        socket: RawSource,
        token: Token,
        interest: Interest,
        own: &OwnFds,
    ) -> io::Result<()> {
        self.lock().modify(socket, token, interest, own)
    }

    fn unregister(&self, socket: RawSource, own: &OwnFds) -> io::Result<()> {
        self.lock().unregister(socket, own)
    }

    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        watch: Watch,
    ) -> io::Result<bool> {
        self.wait_with(events, timeout, watch, |sets, timeout| {
            crate::sys::winsock::select(&mut sets.read, &mut sets.write, &mut sets.except, timeout)
        })
    }

    fn add_own<'a, T: crate::own::OwnFd>(
        &self,
        _: Token,
        make: impl FnOnce(&dyn Fn(RawSource) -> bool) -> io::Result<&'a T>,
    ) -> io::Result<&'a T> {
        // Waits add it to their sets; a registration under its number would report its
        // readiness.
        let st = self.lock();
        make(&|n| st.index.contains(n))
    }

    fn adopt(&self, fresh: Select, wake: &WakeState) -> io::Result<()> {
        let mut st = self.lock();
        // The waiters and their spare sets stay.
        let (set, spare) = (std::mem::take(&mut st.set), std::mem::take(&mut st.spare));
        *st = State {
            set,
            spare,
            ..crate::sync::into_inner(fresh.state)
        };
        st.set.changed(wake);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Interest = Interest::READABLE;
    const W: Interest = Interest::WRITABLE;

    fn sockets(set: &SocketSet) -> Vec<RawSource> {
        set.sockets().collect()
    }

    /// A selector with `regs` registered, each under token = socket.
    fn select_with(regs: &[(RawSource, Interest)]) -> (Select, OwnFds) {
        let s = Select::default();
        let w = OwnFds::with_notifier();
        for &(socket, interest) in regs {
            s.lock()
                .register(socket, Token(socket as usize), interest, &w)
                .unwrap();
        }
        (s, w)
    }

    /// One wait whose kernel stand-in leaves `read`, `write` and `except` ready.
    fn wait(
        s: &Select,
        w: &OwnFds,
        events: &mut Events,
        [read, write, except]: [&[RawSource]; 3],
    ) -> io::Result<bool> {
        s.wait_with(events, None, w.watch(), |sets, _| {
            sets.read.keep_only(read);
            sets.write.keep_only(write);
            sets.except.keep_only(except);
            Ok(sets.read.len() + sets.write.len() + sets.except.len())
        })
    }

    fn reported(events: &Events) -> Vec<(usize, bool, bool, bool)> {
        events
            .iter()
            .map(|e| (e.token().0, e.is_readable(), e.is_writable(), e.is_error()))
            .collect()
    }

    #[test]
    fn sets_hold_readers_writers_and_the_selectors_own_sockets() {
        let (s, w) = select_with(&[(100, R), (104, W), (108, R | W), (112, Interest::NONE)]);
        let notify = w.notify_fd().raw_fd();
        let mut sets = WaitSets::default();
        s.lock().prepare(&mut sets, [notify, 7]);
        assert_eq!(sockets(&sets.read), [100, 108, notify, 7]);
        assert_eq!(sockets(&sets.write), [104, 108]);
        // A failed connect is reported in the except set: the writers go there too.
        assert_eq!(sockets(&sets.except), [104, 108]);
    }

    #[test]
    fn priority_registrations_wait_in_the_except_set() {
        let p = Interest::PRIORITY;
        let (s, w) = select_with(&[(100, R | p), (104, p), (108, W | p), (112, W)]);
        let mut sets = WaitSets::default();
        s.lock().prepare(&mut sets, []);
        assert_eq!(sockets(&sets.read), [100]);
        assert_eq!(sockets(&sets.write), [108, 112]);
        assert_eq!(sockets(&sets.except), [100, 104, 108, 112]);
        let mut events = Events::with_capacity(8);
        wait(&s, &w, &mut events, [&[], &[], &[100, 104, 108, 112]]).unwrap();
        let got: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.token().0,
                    e.is_priority(),
                    e.is_writable(),
                    e.is_readable(),
                )
            })
            .collect();
        // Out-of-band data: priority; a writer's except report stays writable (a failed
        // connect), and one that asked for both gets both.
        assert_eq!(
            got,
            [
                (100, true, false, false),
                (104, true, false, false),
                (108, true, true, false),
                (112, false, true, false)
            ]
        );
    }

    #[test]
    fn reports_merge_into_one_event_per_socket() {
        let (s, w) = select_with(&[(100, R), (104, W), (108, R | W)]);
        let mut events = Events::with_capacity(8);
        let woken = wait(&s, &w, &mut events, [&[108], &[108], &[104]]).unwrap();
        assert!(!woken);
        // 104's connect failed (in the except set only): writable, as the stdlib and Unix say.
        assert_eq!(
            reported(&events),
            [(104, false, true, false), (108, true, true, false)]
        );
        // The notifier ends the wait and is reported as a wake-up, never as an event.
        let notify = w.notify_fd().raw_fd();
        let woken = wait(&s, &w, &mut events, [&[100, notify], &[], &[]]).unwrap();
        assert!(woken);
        assert_eq!(reported(&events), [(100, true, false, false)]);
    }

    #[test]
    fn changes_during_the_wait_count_as_they_are_now() {
        let (s, w) = select_with(&[(100, R), (104, W), (108, W)]);
        let mut events = Events::with_capacity(8);
        let woken = s
            .wait_with(&mut events, None, w.watch(), |sets, _| {
                // Another thread, while this one waits: the waiter is nudged.
                s.lock().unregister(100, &w).unwrap();
                s.lock().modify(104, Token(9), R, &w).unwrap();
                s.lock().modify(108, Token(10), W, &w).unwrap();
                #[cfg(unix)]
                assert!(w.notify_fd().is_readable().unwrap());
                sets.read.keep_only(&[100, w.notify_fd().raw_fd()]);
                sets.write.keep_only(&[104, 108]);
                sets.except.keep_only(&[]);
                Ok(3)
            })
            .unwrap();
        assert!(woken, "the nudge ends the wait: the selector waits again");
        // 100 is gone, 104 no longer waits for writing, 108 has its new token.
        assert_eq!(reported(&events), [(10, false, true, false)]);
    }

    #[test]
    fn a_socket_closed_after_its_unregister_is_not_an_error_of_the_wait() {
        let (s, w) = select_with(&[(100, R), (104, R)]);
        let mut events = Events::with_capacity(8);
        let closed = || Err(io::Error::from_raw_os_error(crate::sys::CLOSED));
        let woken = s
            .wait_with(&mut events, None, w.watch(), |_, _| {
                s.lock().unregister(100, &w).unwrap();
                closed()
            })
            .unwrap();
        assert!(!woken && events.is_empty());
        // Closed while still registered: the caller's error (the stdlib's WinError 10038).
        let err = s
            .wait_with(&mut events, None, w.watch(), |_, _| closed())
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(crate::sys::CLOSED));
    }

    #[test]
    fn the_timeout_reaches_the_kernel() {
        let (s, w) = select_with(&[(100, R)]);
        let mut events = Events::with_capacity(8);
        let mut seen = None;
        s.wait_with(
            &mut events,
            Some(Duration::from_micros(250)),
            w.watch(),
            |_, t| {
                seen = Some(t);
                Ok(0)
            },
        )
        .unwrap();
        assert_eq!(seen, Some(Some(Duration::from_micros(250))));
    }

    #[test]
    fn truncated_scans_resume_where_they_stopped() {
        let all: Vec<RawSource> = (0..10).map(|i| 100 + 4 * i).collect();
        let regs: Vec<_> = all.iter().map(|&s| (s, W)).collect();
        let (s, w) = select_with(&regs);
        let mut events = Events::with_capacity(3);
        let mut seen = Vec::new();
        for _ in 0..4 {
            wait(&s, &w, &mut events, [&[], &all, &[]]).unwrap();
            assert_eq!(events.len(), 3);
            seen.extend(events.iter().map(|e| e.token().0 as RawSource));
        }
        // Every ready socket is served within four waits of three, in turn.
        assert_eq!(seen[..10], all[..]);
        assert_eq!(seen[10..], all[..2]);
    }

    #[test]
    fn unregister_keeps_positions_consistent() {
        let regs: Vec<_> = (0..10).map(|i| (100 + i, R)).collect();
        let (s, w) = select_with(&regs);
        let mut st = s.lock();
        st.unregister(100, &w).unwrap();
        st.unregister(105, &w).unwrap();
        assert_eq!(st.entries.len(), 8);
        for (i, e) in st.entries.iter().enumerate() {
            assert_eq!(*st.index.get(e.socket).unwrap() as usize, i);
        }
        let err = st.unregister(105, &w).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
