//! select: the registration set lives in user space as two `fd_set`s, read and write; a wait
//! with priority registrations adds the except set, built from them.
//!
//! Fds at or above `FD_SETSIZE` are accepted at registration (as the stdlib does) and make
//! every wait fail with `InvalidInput` until they are unregistered.

use super::{Driver, Registry, UserSpaceSet};
use crate::event::flags;
use crate::own::{OwnFd, OwnFds, Watch};
use crate::sync::{Mutex, MutexGuard};
use crate::sys::select::{self, FdSet, FD_SETSIZE};
use crate::waker::WakeState;
use crate::{Event, Events, Interest, Token};
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// The message of the stdlib's `ValueError` for fds select cannot watch.
pub(crate) const OUT_OF_RANGE: &str = "filedescriptor out of range in select()";

/// How long one wait may last when the notifier itself is beyond `FD_SETSIZE` and so cannot
/// be watched: the waiter re-checks for wake-ups this often.
const BLIND_SLICE: Duration = Duration::from_millis(10);

#[derive(Default)]
struct State {
    read: FdSet,
    write: FdSet,
    regs: Registry<(Token, Interest)>,
    /// Highest registered fd below FD_SETSIZE, or -1; recomputed when `max_stale`.
    max_fd: RawFd,
    max_stale: bool,
    /// Registered fds >= FD_SETSIZE.
    oversize: u32,
    /// Priority registrations: while there are none, the kernel gets no except set.
    priority: u32,
    set: UserSpaceSet,
}

impl State {
    fn add(&mut self, fd: RawFd, interest: Interest) {
        if interest.is_priority() {
            self.priority += 1;
        }
        if fd >= FD_SETSIZE {
            self.oversize += 1;
            return;
        }
        if interest.is_readable() {
            self.read.insert(fd);
        }
        if interest.is_writable() {
            self.write.insert(fd);
        }
        self.max_fd = self.max_fd.max(fd);
    }

    /// Takes out `fd`, registered for `interest`.
    fn remove(&mut self, fd: RawFd, interest: Interest) {
        if interest.is_priority() {
            self.priority -= 1;
        }
        if fd >= FD_SETSIZE {
            self.oversize -= 1;
            return;
        }
        self.read.remove(fd);
        self.write.remove(fd);
        if fd == self.max_fd {
            self.max_stale = true;
        }
    }

    /// The except set of a wait: the priority registrations (built per wait, so that the
    /// many selectors without any carry no third set).
    fn except(&self) -> Option<FdSet> {
        if self.priority == 0 {
            return None;
        }
        let mut set = FdSet::default();
        for (fd, &(_, interest)) in self.regs.iter() {
            if interest.is_priority() {
                set.insert(fd);
            }
        }
        Some(set)
    }

    /// Appends an event for each registered fd a wait's sets report, in scan order, under its
    /// current token and masked with its current interest (fds unregistered while the caller
    /// waited are skipped). `PRIORITY`: whether the wait had an except set (`except`, which
    /// is not read otherwise), so that waits without one scan as they did before there was one.
    fn collect<const PRIORITY: bool>(
        &mut self,
        read: &FdSet,
        write: &FdSet,
        except: &FdSet,
        nfds: RawFd,
        events: &mut Events,
    ) {
        // Trust the bits, not select's count: the kernel only writes back the bits of fds
        // inside the process's fd table, so an unopened fd above it keeps its input bit and
        // reads as ready with a count of 0. The stdlib reports such an fd as ready (it checks
        // the bits), and so do we.
        for i in self.set.scan_order(nfds as usize) {
            let fd = i as RawFd;
            let (r, w) = (read.contains(fd), write.contains(fd));
            let p = PRIORITY && except.contains(fd);
            if !(r || w || p) {
                continue;
            }
            if events.is_full() {
                self.set.truncated_at(i);
                break;
            }
            if let Some(&(token, interest)) = self.regs.get(fd) {
                let mut f = 0;
                if r && interest.is_readable() {
                    f |= flags::READABLE;
                }
                if w && interest.is_writable() {
                    f |= flags::WRITABLE;
                }
                if p && interest.is_priority() {
                    f |= flags::PRIORITY;
                }
                if f != 0 {
                    events.push(Event::new(token, f));
                }
            }
        }
    }

    fn nfds(&mut self) -> RawFd {
        if self.max_stale {
            self.max_fd = self
                .regs
                .iter()
                .map(|(fd, _)| fd)
                .filter(|&fd| fd < FD_SETSIZE)
                .max()
                .unwrap_or(-1);
            self.max_stale = false;
        }
        self.max_fd + 1
    }
}

pub(crate) struct Select {
    state: Mutex<State>,
}

impl Select {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// One `pselect` over a snapshot of the sets, watching `notify_fd` and `timer` too if
    /// given (below `FD_SETSIZE`); returns whether `notify_fd` was readable.
    fn wait_once(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        notify_fd: Option<RawFd>,
        timer: Option<RawFd>,
    ) -> io::Result<bool> {
        let (mut read, mut write, mut except, mut nfds, generation) = {
            let mut st = self.lock();
            if st.oversize > 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, OUT_OF_RANGE));
            }
            let nfds = st.nfds();
            if notify_fd.is_some() {
                st.set.enter();
            }
            (st.read, st.write, st.except(), nfds, st.set.generation)
        };
        let timer = timer.filter(|&fd| fd < FD_SETSIZE);
        for fd in notify_fd.into_iter().chain(timer) {
            read.insert(fd);
            nfds = nfds.max(fd + 1);
        }
        let result = select::select(nfds, &mut read, &mut write, except.as_mut(), timeout);
        let mut st = self.lock();
        if notify_fd.is_some() {
            st.set.leave();
        }
        match result {
            // EBADF: an fd of our copy of the set was closed. If the set changed meanwhile,
            // it was unregistered and then closed, as documented, by another thread: not an
            // error of this wait. Report nothing; the selector waits again on the current set.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) && st.set.generation != generation => {
                return Ok(false);
            }
            result => result?,
        };
        let woken = notify_fd.is_some_and(|fd| read.contains(fd));
        for fd in notify_fd.into_iter().chain(timer) {
            read.remove(fd);
        }
        match &except {
            Some(except) => st.collect::<true>(&read, &write, except, nfds, events),
            None => st.collect::<false>(&read, &write, &read, nfds, events),
        }
        Ok(woken)
    }
}

impl Driver for Select {
    fn new() -> io::Result<Select> {
        Ok(Select {
            state: Mutex::new(State {
                max_fd: -1,
                ..State::default()
            }),
        })
    }

    fn register(
        &self,
        fd: RawFd,
        token: Token,
        interest: Interest,
        own: &OwnFds,
    ) -> io::Result<()> {
        let mut st = self.lock();
        st.regs.add(fd, (token, interest), own)?;
        st.add(fd, interest);
        st.set.changed(&own.wake);
        Ok(())
    }

    fn modify(&self, fd: RawFd, token: Token, interest: Interest, own: &OwnFds) -> io::Result<()> {
        let mut st = self.lock();
        let entry = st.regs.entry(fd)?;
        let (_, old) = std::mem::replace(entry, (token, interest));
        st.remove(fd, old);
        st.add(fd, interest);
        st.set.changed(&own.wake);
        Ok(())
    }

    fn unregister(&self, fd: RawFd, own: &OwnFds) -> io::Result<()> {
        let mut st = self.lock();
        let (_, old) = st.regs.take(fd)?;
        st.remove(fd, old);
        st.set.changed(&own.wake);
        Ok(())
    }

    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        watch: Watch,
    ) -> io::Result<bool> {
        events.clear();
        if timeout == Some(Duration::ZERO) {
            // Cannot be woken: the notifier is left out of the sets (one fd less for the
            // kernel to scan; the selector reads a pending wake-up from its flag).
            return self.wait_once(events, timeout, None, None);
        }
        match watch.notify {
            Some(fd) if fd >= FD_SETSIZE => {
                // The notifier cannot be in an fd_set: wait in short slices, checking for
                // wake-ups between them, until the timeout or readiness.
                let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
                loop {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    let slice = left.map_or(BLIND_SLICE, |l| l.min(BLIND_SLICE));
                    self.wait_once(events, Some(slice), None, None)?;
                    if !events.is_empty() || left.is_some_and(|l| l <= slice) {
                        return Ok(false);
                    }
                    if crate::sys::poll::readable_now(fd)? {
                        return Ok(true);
                    }
                }
            }
            notify => self.wait_once(events, timeout, notify, watch.timer),
        }
    }

    fn add_own<'a, T: OwnFd>(
        &self,
        _: Token,
        make: impl FnOnce(&dyn Fn(RawFd) -> bool) -> io::Result<&'a T>,
    ) -> io::Result<&'a T> {
        // Waits add it to their copy of the sets; a registration under its number would
        // report its readiness.
        let st = self.lock();
        make(&|n| st.regs.contains(n))
    }

    fn adopt(&self, fresh: Select, wake: &WakeState) -> io::Result<()> {
        let mut st = self.lock();
        // The waiters stay.
        let set = std::mem::take(&mut st.set);
        *st = State {
            set,
            ..crate::sync::into_inner(fresh.state)
        };
        st.set.changed(wake);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_fds_fail_the_wait_until_removed() {
        let s = Select::new().unwrap();
        let w = OwnFds::new();
        s.register(FD_SETSIZE + 5, Token(1), Interest::READABLE, &w)
            .unwrap();
        let mut events = Events::with_capacity(4);
        let err = s
            .wait(&mut events, Some(Duration::ZERO), Watch::default())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(err.to_string(), OUT_OF_RANGE);
        s.unregister(FD_SETSIZE + 5, &w).unwrap();
        s.wait(&mut events, Some(Duration::ZERO), Watch::default())
            .unwrap();
    }

    #[test]
    fn the_except_set_holds_the_priority_registrations() {
        let s = Select::new().unwrap();
        let w = OwnFds::new();
        assert!(s.lock().except().is_none());
        s.register(3, Token(3), Interest::READABLE | Interest::PRIORITY, &w)
            .unwrap();
        s.register(4, Token(4), Interest::PRIORITY, &w).unwrap();
        s.register(5, Token(5), Interest::READABLE, &w).unwrap();
        let set = s.lock().except().unwrap();
        assert!(set.contains(3) && set.contains(4) && !set.contains(5));
        assert!(s.lock().read.contains(3) && !s.lock().read.contains(4));
        s.modify(3, Token(3), Interest::READABLE, &w).unwrap();
        let set = s.lock().except().unwrap();
        assert!(!set.contains(3) && set.contains(4));
        s.unregister(4, &w).unwrap();
        assert_eq!(s.lock().priority, 0);
        assert!(s.lock().except().is_none());
    }

    #[test]
    fn max_fd_is_recomputed() {
        let s = Select::new().unwrap();
        let w = OwnFds::new();
        for fd in [3, 9, 7] {
            s.register(fd, Token(fd as usize), Interest::READABLE, &w)
                .unwrap();
        }
        assert_eq!(s.lock().nfds(), 10);
        s.unregister(9, &w).unwrap();
        assert_eq!(s.lock().nfds(), 8);
        s.unregister(7, &w).unwrap();
        s.unregister(3, &w).unwrap();
        assert_eq!(s.lock().nfds(), 0);
    }
}
