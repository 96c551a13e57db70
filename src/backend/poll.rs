//! poll: the registration set lives in user space as a `pollfd` array.
//!
//! Registrations edit a master array in place (swap-remove on unregister). A waiter copies
//! the master into its own buffer only when it changed since that buffer was filled, so an
//! unchanged set costs no rebuild per call, and it never holds the lock while blocked.

use super::{Driver, ReadinessBits, Registry, UserSpaceSet};
use crate::own::{OwnFd, OwnFds, Watch};
use crate::sync::{Mutex, MutexGuard};
use crate::sys::poll::{
    self, PollFd, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDHUP,
};
use crate::waker::WakeState;
use crate::{Event, Events, Interest, Token};
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

#[derive(Default)]
struct State {
    fds: Vec<PollFd>,
    tokens: Vec<Token>,
    /// fd -> position in `fds`/`tokens`.
    index: Registry<u32>,
    set: UserSpaceSet,
    spare: Vec<Buffer>,
}

/// A waiter's private copy of the set.
struct Buffer {
    fds: Vec<PollFd>,
    tokens: Vec<Token>,
    generation: u64,
}

pub(crate) struct Poll {
    state: Mutex<State>,
}

/// poll's readiness bits (/dev/poll reports the same ones).
const BITS: ReadinessBits = ReadinessBits {
    readable: POLLIN as u16 as u32,
    writable: POLLOUT as u16 as u32,
    error: (POLLERR | POLLNVAL) as u16 as u32,
    hangup: POLLHUP as u16 as u32,
    priority: POLLPRI as u16 as u32,
    rdhup: POLLRDHUP as u16 as u32,
    exclusive: 0,
};

/// Kernel interest bits for an [`Interest`].
pub(crate) fn interest_bits(interest: Interest) -> i16 {
    BITS.interest(interest) as u16 as i16
}

/// Event flags for `revents`.
pub(crate) fn event_flags(revents: i16) -> u8 {
    BITS.flags(revents as u16 as u32)
}

impl State {
    /// Appends events for the `ready` slots of a finished wait over `fds`/`tokens` (a copy
    /// of the set, `current` if the set has not changed since it was made), in scan order.
    fn collect(
        &mut self,
        fds: &[PollFd],
        tokens: &[Token],
        current: bool,
        mut ready: usize,
        events: &mut Events,
    ) {
        for i in self.set.scan_order(fds.len()) {
            if ready == 0 {
                break;
            }
            let (p, token) = (fds[i], tokens[i]);
            if p.revents == 0 {
                continue;
            }
            if events.is_full() {
                self.set.truncated_at(i);
                break;
            }
            ready -= 1;
            let revents = if current {
                p.revents
            } else {
                // The set changed while we waited: skip fds unregistered or registered
                // again under another token, and mask with the current interest.
                match self.index.get(p.fd).map(|&j| j as usize) {
                    Some(j) if self.tokens[j] == token => {
                        p.revents & (self.fds[j].events | POLLERR | POLLHUP | POLLNVAL)
                    }
                    _ => 0,
                }
            };
            if revents != 0 {
                events.push(Event::new(token, event_flags(revents)));
            }
        }
    }
}

impl Poll {
    /// A zero-timeout wait: it cannot block, so it polls the master set in place under the
    /// lock (no copy, nothing for a concurrent change to invalidate). It cannot be woken
    /// either, so the notifier is left out of the set (one fd less for the kernel to scan;
    /// the selector reads a pending wake-up from its flag).
    fn wait_now(&self, events: &mut Events) -> io::Result<bool> {
        let mut st = self.lock();
        let ready = poll::poll(&mut st.fds, Some(Duration::ZERO))?;
        let fds = std::mem::take(&mut st.fds);
        let tokens = std::mem::take(&mut st.tokens);
        st.collect(&fds, &tokens, true, ready, events);
        st.fds = fds;
        st.tokens = tokens;
        Ok(false)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }
}

impl Driver for Poll {
    fn new() -> io::Result<Poll> {
        Ok(Poll {
            state: Mutex::new(State::default()),
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
        let pos = st.fds.len() as u32;
        st.index.add(fd, pos, own)?;
        st.fds.push(poll::pollfd(fd, interest_bits(interest)));
        st.tokens.push(token);
        st.set.changed(&own.wake);
        Ok(())
    }

    fn modify(&self, fd: RawFd, token: Token, interest: Interest, own: &OwnFds) -> io::Result<()> {
        let mut st = self.lock();
        let pos = *st.index.entry(fd)? as usize;
        st.fds[pos].events = interest_bits(interest);
        st.tokens[pos] = token;
        st.set.changed(&own.wake);
        Ok(())
    }

    fn unregister(&self, fd: RawFd, own: &OwnFds) -> io::Result<()> {
        let mut st = self.lock();
        let pos = st.index.take(fd)? as usize;
        st.fds.swap_remove(pos);
        st.tokens.swap_remove(pos);
        if let Some(moved) = st.fds.get(pos).map(|p| p.fd) {
            // The entry that swap_remove moved into `pos` (always indexed).
            if let Ok(slot) = st.index.entry(moved) {
                *slot = pos as u32;
            }
        }
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
            return self.wait_now(events);
        }
        let mut buf = {
            let mut st = self.lock();
            let mut buf = st.spare.pop().unwrap_or(Buffer {
                fds: Vec::new(),
                tokens: Vec::new(),
                generation: u64::MAX,
            });
            if buf.generation != st.set.generation {
                buf.fds.clear();
                buf.fds.extend_from_slice(&st.fds);
                buf.tokens.clear();
                buf.tokens.extend_from_slice(&st.tokens);
                buf.generation = st.set.generation;
            }
            if watch.notify.is_some() {
                st.set.enter();
            }
            buf
        };
        for fd in watch.notify.into_iter().chain(watch.timer) {
            buf.fds.push(poll::pollfd(fd, POLLIN));
        }
        let result = poll::poll(&mut buf.fds, timeout);
        let fired = watch.timer.is_some() && buf.fds.pop().is_some_and(|p| p.revents != 0);
        let woken = watch.notify.is_some() && buf.fds.pop().is_some_and(|p| p.revents != 0);
        let mut st = self.lock();
        if watch.notify.is_some() {
            st.set.leave();
        }
        if let Ok(ready) = result {
            let current = buf.generation == st.set.generation;
            st.collect(
                &buf.fds,
                &buf.tokens,
                current,
                ready - usize::from(woken) - usize::from(fired),
                events,
            );
        }
        st.spare.push(buf);
        drop(st);
        result.map(|_| woken)
    }

    fn add_own<'a, T: OwnFd>(
        &self,
        _: Token,
        make: impl FnOnce(&dyn Fn(RawFd) -> bool) -> io::Result<&'a T>,
    ) -> io::Result<&'a T> {
        // Waits add it to their copy of the set; a registration under its number would
        // report its readiness.
        let st = self.lock();
        make(&|n| st.index.contains(n))
    }

    fn adopt(&self, fresh: Poll, wake: &WakeState) -> io::Result<()> {
        let mut st = self.lock();
        // The waiters and their buffers stay (a buffer is copied again: the set changed).
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
    use crate::event::flags;

    #[test]
    fn translation() {
        assert_eq!(interest_bits(Interest::BOTH), POLLIN | POLLOUT);
        assert_eq!(event_flags(POLLNVAL), flags::ERROR);
        assert_eq!(
            event_flags(POLLIN | POLLHUP),
            flags::READABLE | flags::FULL_HANGUP
        );
        assert_eq!(interest_bits(Interest::PRIORITY), POLLPRI);
        assert_eq!(event_flags(POLLPRI), flags::PRIORITY);
        // poll has no exclusive mode: the flag is ignored.
        assert_eq!(
            interest_bits(Interest::READABLE | Interest::EXCLUSIVE),
            POLLIN
        );
        #[cfg(target_os = "linux")]
        {
            assert_eq!(interest_bits(Interest::HANGUP), POLLRDHUP);
            assert_eq!(event_flags(POLLRDHUP), flags::HANGUP);
        }
    }

    #[test]
    fn swap_remove_keeps_index_consistent() {
        let p = Poll::new().unwrap();
        let w = OwnFds::new();
        for fd in 100..110 {
            p.register(fd, Token(fd as usize), Interest::READABLE, &w)
                .unwrap();
        }
        p.unregister(100, &w).unwrap();
        p.unregister(105, &w).unwrap();
        p.modify(109, Token(9), Interest::WRITABLE, &w).unwrap();
        let st = p.lock();
        assert_eq!(st.fds.len(), 8);
        for (i, pfd) in st.fds.iter().enumerate() {
            assert_eq!(*st.index.get(pfd.fd).unwrap() as usize, i);
        }
        let pos = *st.index.get(109).unwrap() as usize;
        assert_eq!(st.tokens[pos], Token(9));
        assert_eq!(st.fds[pos].events, POLLOUT);
    }
}
