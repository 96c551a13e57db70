//! The model of `epoll(7)` (see the parent module): `crate::sys::epoll`'s surface.

use super::{call, wait, Entry, Kind, State};
use crate::RawSource;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

pub(crate) type EpollEvent = libc::epoll_event;

pub(crate) const EPOLLIN: u32 = libc::EPOLLIN as u32;
pub(crate) const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
pub(crate) const EPOLLERR: u32 = libc::EPOLLERR as u32;
pub(crate) const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
pub(crate) const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;
pub(crate) const EPOLLPRI: u32 = libc::EPOLLPRI as u32;
pub(crate) const EPOLLEXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

/// An epoll set, filed under the number of a real placeholder fd (for `AsFd`).
#[derive(Debug)]
pub(crate) struct EpollFd(OwnedFd);

pub(crate) enum Op {
    Add,
    Modify,
    Delete,
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl EpollFd {
    pub(crate) fn new() -> io::Result<EpollFd> {
        let placeholder = OwnedFd::from(std::fs::File::open("/dev/null")?);
        let fd = placeholder.as_raw_fd();
        call(|st| st.open_at(fd, Kind::Epoll { set: Vec::new() }));
        Ok(EpollFd(placeholder))
    }

    fn fd(&self) -> RawSource {
        self.0.as_raw_fd()
    }

    /// `epoll_ctl(op, fd, {events, data})`, with Linux's errors: `EBADF` (no such fd),
    /// `EINVAL` (the set itself; a modify that asks for `EPOLLEXCLUSIVE` or of an exclusive
    /// registration), `EEXIST` (add of a registered one), `ENOENT` (modify or delete of one
    /// not registered). An exclusive registration's wake-up of one set among several is not
    /// modelled (the models have one set per selector).
    pub(crate) fn ctl(&self, op: Op, fd: RawSource, events: u32, data: u64) -> io::Result<()> {
        let what = match op {
            Op::Add => "add",
            Op::Modify => "modify",
            Op::Delete => "delete",
        };
        super::trace(|| format!("epoll {} {what} {fd} {events:#x} {data:#x}", self.fd()));
        call(|st| {
            let ep = st.object(self.fd())?;
            let object = st.object(fd)?;
            if object == ep {
                return Err(err(libc::EINVAL));
            }
            let Kind::Epoll { set } = st.kind_mut(ep) else {
                return Err(err(libc::EINVAL));
            };
            let at = set.iter().position(|e| e.object == object && e.fd == fd);
            let exclusive = |events: u32| events & EPOLLEXCLUSIVE != 0;
            if matches!(op, Op::Modify)
                && (exclusive(events) || at.is_some_and(|i| exclusive(set[i].events)))
            {
                return Err(err(libc::EINVAL));
            }
            match (op, at) {
                (Op::Add, Some(_)) => Err(err(libc::EEXIST)),
                (Op::Add, None) => {
                    set.push(Entry {
                        object,
                        fd,
                        events,
                        data,
                    });
                    Ok(())
                }
                (Op::Modify | Op::Delete, None) => Err(err(libc::ENOENT)),
                (Op::Modify, Some(i)) => {
                    set[i].events = events;
                    set[i].data = data;
                    Ok(())
                }
                (Op::Delete, Some(i)) => {
                    set.remove(i);
                    Ok(())
                }
            }
        })
    }

    /// Waits for up to `max` events into `buf` (cleared first; at least one slot, as the
    /// real call's buffer has).
    pub(crate) fn wait(
        &self,
        buf: &mut Vec<EpollEvent>,
        max: usize,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        buf.clear();
        // The set this call waits on: the one the number names now (a `replace` later
        // leaves this call on it, as a thread in epoll_wait keeps the file).
        let ep = call(|st| st.object(self.fd()))?;
        let max = max.clamp(1, i32::MAX as usize);
        let ready = |st: &mut State| {
            let Kind::Epoll { set } = st.kind(ep) else {
                unreachable!("an epoll set")
            };
            let found: Vec<EpollEvent> = set
                .iter()
                .filter_map(|e| {
                    let bits = st.ready(e.object, e.events, EPOLLIN, EPOLLOUT);
                    (bits != 0).then_some(EpollEvent {
                        events: bits,
                        u64: e.data,
                    })
                })
                .take(max)
                .collect();
            (!found.is_empty()).then_some(found)
        };
        let timers = |st: &State| match st.kind(ep) {
            Kind::Epoll { set } => st.first_expiry(set.iter().map(|e| e.object)),
            _ => None,
        };
        super::trace(|| format!("epoll {} (set {ep}) waits {timeout:?}", self.fd()));
        if let Some(found) = wait(timeout, ready, timers) {
            buf.extend(found);
        }
        super::trace(|| {
            let tokens: Vec<u64> = buf.iter().map(|e| e.u64).collect();
            format!("epoll (set {ep}) returns {tokens:?}")
        });
        Ok(buf.len())
    }

    /// Whether the set holds a registration made under number `fd` (what Linux's fdinfo
    /// lists: entries whose file is open).
    pub(crate) fn holds(&self, fd: RawSource) -> Option<bool> {
        super::look(|st| {
            let ep = st.object(self.fd()).ok()?;
            match st.kind(ep) {
                Kind::Epoll { set } => Some(set.iter().any(|e| e.fd == fd)),
                _ => None,
            }
        })
    }

    /// Another fd (a dup of the placeholder) for the same set.
    pub(crate) fn try_clone(&self) -> io::Result<EpollFd> {
        let placeholder = self.0.try_clone()?;
        let fd = placeholder.as_raw_fd();
        call(|st| st.dup_at(self.fd(), fd))?;
        Ok(EpollFd(placeholder))
    }

    /// Makes this number name `fresh`'s set (`dup3`, then `fresh` closes).
    pub(crate) fn replace(&self, fresh: EpollFd) -> io::Result<()> {
        super::trace(|| format!("epoll {} replaced by {}", self.fd(), fresh.fd()));
        call(|st| st.move_onto(fresh.fd(), self.fd()))
    }
}

impl Drop for EpollFd {
    fn drop(&mut self) {
        super::close(self.fd());
    }
}

impl AsFd for EpollFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Waits have nanosecond timeouts in the model.
pub(crate) fn precise_timeouts() -> bool {
    true
}
