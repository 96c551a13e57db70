//! epoll: the kernel keeps the registration set; `data.u64` carries the token.

use super::{already_registered, not_registered, Driver, ReadinessBits};
use crate::sys::epoll::{
    EpollEvent, EpollFd, Op, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP,
};
use crate::waker::WakeState;
use crate::{Event, Events, Interest, Token};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub(crate) struct Epoll {
    ep: EpollFd,
    /// Registrations added (the notifier included) minus those removed: how many events one
    /// wait can return. Sizes the kernel buffer, as the stdlib's `max(len(fd_to_key), 1)`
    /// does, so a huge `Events` capacity allocates nothing extra. Unregistering an fd that was
    /// closed first (`EBADF`) counts as a removal: closing it removed it from the kernel set,
    /// unless a duplicate keeps its file open (a stale registration, which then takes a slot
    /// another ready fd may wait one more `select` for).
    registered: AtomicUsize,
}

impl Epoll {
    fn added(&self) {
        self.registered.fetch_add(1, Ordering::Relaxed);
    }

    fn removed(&self) {
        let _ = self
            .registered
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// epoll's readiness bits.
const BITS: ReadinessBits = ReadinessBits {
    readable: EPOLLIN,
    writable: EPOLLOUT,
    error: EPOLLERR,
    hangup: EPOLLHUP | EPOLLRDHUP,
    priority: EPOLLPRI,
};

/// Kernel interest bits for an [`Interest`] (level-triggered).
pub(crate) fn interest_bits(interest: Interest) -> u32 {
    BITS.interest(interest)
}

/// Event flags for the bits epoll reported.
pub(crate) fn event_flags(bits: u32) -> u8 {
    BITS.flags(bits)
}

impl Driver for Epoll {
    fn new() -> io::Result<Epoll> {
        Ok(Epoll {
            ep: EpollFd::new()?,
            registered: AtomicUsize::new(0),
        })
    }

    fn register(
        &self,
        fd: RawFd,
        token: Token,
        interest: Interest,
        _: &WakeState,
    ) -> io::Result<()> {
        self.ep
            .ctl(Op::Add, fd, interest_bits(interest), token.0 as u64)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EEXIST) => already_registered(fd),
                _ => e,
            })?;
        self.added();
        Ok(())
    }

    fn modify(&self, fd: RawFd, token: Token, interest: Interest, _: &WakeState) -> io::Result<()> {
        self.ep
            .ctl(Op::Modify, fd, interest_bits(interest), token.0 as u64)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) => not_registered(fd),
                _ => e,
            })
    }

    fn unregister(&self, fd: RawFd, _: &WakeState) -> io::Result<()> {
        let result = self.ep.ctl(Op::Delete, fd, 0, 0);
        match result.as_ref().map_err(io::Error::raw_os_error) {
            Ok(()) | Err(Some(libc::EBADF)) => self.removed(),
            Err(_) => {}
        }
        result.map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => not_registered(fd),
            _ => e,
        })
    }

    fn wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        _notify: &WakeState,
        _timer: Option<RawFd>,
    ) -> io::Result<bool> {
        events.clear();
        // Ask the kernel for exactly as many events as we keep: every event it returns is
        // re-queued at the tail of its level-triggered ready list, while those it did not
        // return stay at the head for the next call. Dropping a returned event (as an extra
        // slot for the notifier would force when it is not ready) starves that fd for as
        // long as the ones before it stay ready. The notifier takes a slot only when it is
        // readable, i.e. when the caller is being woken anyway. Never more than there are
        // registrations: the buffer grows with the set, not with the capacity asked for.
        let max = events
            .capacity()
            .min(self.registered.load(Ordering::Relaxed));
        let mut raw: Vec<EpollEvent> = std::mem::take(&mut events.raw.epoll);
        let result = self.ep.wait(&mut raw, max, timeout);
        let mut woken = false;
        if result.is_ok() {
            for ev in &raw {
                let (bits, data) = (ev.events, ev.u64);
                match Token(data as usize) {
                    Token::NOTIFY => woken = true,
                    Token::TIMER => {}
                    token => events.push(Event::new(token, event_flags(bits))),
                }
            }
        }
        events.raw.epoll = raw;
        result.map(|_| woken)
    }

    fn attach(&self, wake: &WakeState, timer: Option<RawFd>) -> io::Result<()> {
        let own = [(wake.notify_fd().raw_fd(), Token::NOTIFY)]
            .into_iter()
            .chain(timer.map(|fd| (fd, Token::TIMER)));
        for (fd, token) in own {
            self.ep.ctl(Op::Add, fd, EPOLLIN, token.0 as u64)?;
            self.added();
        }
        Ok(())
    }

    fn adopt(&self, fresh: Epoll, _: &WakeState) -> io::Result<()> {
        self.ep.replace(fresh.ep)?;
        self.registered
            .store(fresh.registered.into_inner(), Ordering::Relaxed);
        Ok(())
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.ep.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::flags;

    #[test]
    fn translation() {
        assert_eq!(interest_bits(Interest::BOTH), EPOLLIN | EPOLLOUT);
        assert_eq!(interest_bits(Interest::NONE), 0);
        assert_eq!(event_flags(EPOLLIN), flags::READABLE);
        assert_eq!(
            event_flags(EPOLLOUT | EPOLLHUP),
            flags::WRITABLE | flags::HANGUP
        );
        assert_eq!(event_flags(EPOLLERR), flags::ERROR);
        assert_eq!(event_flags(EPOLLPRI), flags::PRIORITY);
    }
}
