//! epoll: the kernel keeps the registration set; `data.u64` carries the token.

use super::{already_registered, not_registered, Driver, ReadinessBits};
use crate::own::{OwnFd, OwnFds, Watch};
use crate::sync::{AtomicUsize, Ordering};
use crate::sys::epoll::{
    EpollEvent, EpollFd, Op, EPOLLERR, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI,
    EPOLLRDHUP,
};
use crate::waker::WakeState;
use crate::{Event, Events, Interest, Token};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::time::Duration;

pub(crate) struct Epoll {
    ep: EpollFd,
    /// How many registrations the kernel holds (ours included), or a little more: how many
    /// events one wait can return. Sizes the kernel buffer, as the stdlib's
    /// `max(len(fd_to_key), 1)` does, so a huge `Events` capacity allocates nothing extra, and
    /// never below what the kernel holds, so events of stale registrations (a file closed
    /// without `unregister` but kept open by a duplicate: no fd can name it) never crowd out
    /// live ones.
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

    /// Puts one of the selector's own fds in the set under `token` (readable), or, if the
    /// set holds the fd already (a caller's call named its number: `OwnFds::reclaim`), gives
    /// it back its token (and takes back whatever interest the call gave it).
    fn add_own_fd(&self, fd: RawFd, token: Token) -> io::Result<()> {
        match self.ep.ctl(Op::Add, fd, EPOLLIN, token.0 as u64) {
            Ok(()) => {
                self.added();
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.set(fd, token, Interest::READABLE)
            }
            Err(e) => Err(e),
        }
    }

    /// Sets the registration of `fd` to `interest` under `token`: a modify, or, where the
    /// kernel refuses one (EINVAL: EPOLLEXCLUSIVE asked for, or the registration is
    /// exclusive, the only EINVAL a modify can get once the selector has refused the epoll fd
    /// itself), a delete and an add. If that add fails, `fd` is left unregistered.
    fn set(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let bits = interest_bits(interest);
        match self.ep.ctl(Op::Modify, fd, bits, token.0 as u64) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.ep.ctl(Op::Delete, fd, 0, 0)?;
                self.ep
                    .ctl(Op::Add, fd, bits, token.0 as u64)
                    .inspect_err(|_| self.removed())
            }
            other => other,
        }
    }
}

/// epoll's readiness bits.
const BITS: ReadinessBits = ReadinessBits {
    readable: EPOLLIN,
    writable: EPOLLOUT,
    error: EPOLLERR,
    hangup: EPOLLHUP,
    priority: EPOLLPRI,
    rdhup: EPOLLRDHUP,
    exclusive: EPOLLEXCLUSIVE,
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
    /// An fd added to an epoll set while a thread waits reaches that wait.
    const BLOCKS_WITHOUT_NOTIFIER: bool = true;

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
        own: &OwnFds,
    ) -> io::Result<()> {
        if let Err(e) = self
            .ep
            .ctl(Op::Add, fd, interest_bits(interest), token.0 as u64)
        {
            // An own fd made after the caller's check is in the set: refused as one.
            own.refuse(fd)?;
            return Err(match e.raw_os_error() {
                Some(libc::EEXIST) => already_registered(fd),
                _ => e,
            });
        }
        self.added();
        own.reclaim(fd, |fd, token| self.add_own_fd(fd, token))
    }

    fn modify(&self, fd: RawFd, token: Token, interest: Interest, own: &OwnFds) -> io::Result<()> {
        let set = self
            .set(fd, token, interest)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) => not_registered(fd),
                _ => e,
            });
        // Whether it went through or not (a delete without its add), an own fd the call
        // acted on goes back into the set, and the call is refused.
        own.reclaim(fd, |fd, token| self.add_own_fd(fd, token))?;
        set
    }

    fn unregister(&self, fd: RawFd, own: &OwnFds) -> io::Result<()> {
        let result = self.ep.ctl(Op::Delete, fd, 0, 0);
        match result.as_ref().map_err(io::Error::raw_os_error) {
            Ok(()) => {
                self.removed();
                return own.reclaim(fd, |fd, token| self.add_own_fd(fd, token));
            }
            // The fd was closed (its number is free): the kernel dropped its registration
            // then, unless a duplicate keeps the file open. Ask the kernel, so the count
            // neither grows with every such call nor drops below the truth. (ENOENT, the
            // number reused by an unregistered file, cannot tell a closed registration from
            // none at all: the count stays an upper bound.)
            Err(Some(libc::EBADF)) => {
                if self.ep.holds(fd) == Some(false) {
                    self.removed();
                }
            }
            Err(_) => {}
        }
        result.map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => not_registered(fd),
            _ => e,
        })
    }

    fn wait(&self, events: &mut Events, timeout: Option<Duration>, _: Watch) -> io::Result<bool> {
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

    fn add_own<'a, T: OwnFd>(
        &self,
        token: Token,
        make: impl FnOnce(&dyn Fn(RawFd) -> bool) -> io::Result<&'a T>,
    ) -> io::Result<&'a T> {
        // Registrations held by the kernel are keyed by file: one for a number the new fd
        // takes (a closed fd's, kept open by a duplicate) reports under its own token, never
        // under ours, so no number needs to be passed over.
        let fd = make(&|_| false)?;
        self.add_own_fd(fd.watched(), token)?;
        Ok(fd)
    }

    fn holds(&self, fd: RawFd, token: Token, interest: Interest) -> bool {
        // A modify to what it already is changes nothing, and succeeds only if the set holds
        // a registration for the file `fd` names now (EBADF: closed; ENOENT: another file).
        // An exclusive one the kernel refuses to modify (EINVAL) once it has found it.
        let bits = interest_bits(interest.without(Interest::EXCLUSIVE));
        match self.ep.ctl(Op::Modify, fd, bits, token.0 as u64) {
            Ok(()) => true,
            Err(e) => interest.is_exclusive() && e.raw_os_error() == Some(libc::EINVAL),
        }
    }

    fn adopt(&self, fresh: Epoll, wake: &WakeState) -> io::Result<()> {
        let replaced = self.ep.try_clone()?;
        self.ep.replace(fresh.ep)?;
        self.registered
            .store(fresh.registered.into_inner(), Ordering::Relaxed);
        // Threads blocked in a wait on the replaced set stay in it: make the notifier ready
        // there for good (an eventfd is always writable), so that each of them returns at
        // once and waits again, on the new set, whatever the others do. A write of the
        // notifier would not do: a thread that returns drains it, and may drain the next
        // write too (its own, passing the wake-up on) before another has looked. `replaced`
        // is the set's last fd: the set goes with the last thread in it.
        if let Some(n) = wake.notify.made() {
            let always = EPOLLIN | EPOLLOUT;
            let _ = replaced.ctl(Op::Modify, n.raw_fd(), always, Token::NOTIFY.0 as u64);
        }
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
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn unregistering_a_closed_fd_keeps_the_count_true() {
        let ep = Epoll::new().unwrap();
        let wake = OwnFds::new();
        wake.notifier(&ep).unwrap();
        let count = || ep.registered.load(Ordering::Relaxed);
        assert_eq!(count(), 1);
        // Closed before unregister, many times: the count must not grow. Other tests run on
        // other threads of this process meanwhile: a freed number another file takes before
        // the unregister (ENOENT), or a file a forked child holds for a moment, leaves the
        // count one over for that call (an upper bound, as documented). A count that grew
        // with every such call would be 100 over.
        for _ in 0..100 {
            let (a, _b) = UnixStream::pair().unwrap();
            let fd = a.as_raw_fd();
            ep.register(fd, Token(1), Interest::READABLE, &wake)
                .unwrap();
            drop(a);
            assert!(ep.unregister(fd, &wake).is_err());
        }
        let over = count() - 1;
        assert!(over <= 10, "the count grew by {over} in 100 calls");
        // A duplicate keeps the file, and so its registration: still counted.
        let before = count();
        let (a, _b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        ep.register(fd, Token(1), Interest::READABLE, &wake)
            .unwrap();
        let dup = a.try_clone().unwrap();
        drop(a);
        assert!(ep.unregister(fd, &wake).is_err());
        assert_eq!(count(), before + 1);
        drop(dup);
    }

    /// A caller's call that reached the kernel after an own fd took its number (it passed the
    /// selector's check just before the fd was made: `crate::own`, rule 3) puts the fd back
    /// and is refused. Driven here without the selector's check, as such a call runs.
    #[test]
    fn a_call_that_reaches_an_own_fd_puts_it_back_and_is_refused() {
        let ep = Epoll::new().unwrap();
        let own = OwnFds::new();
        let fd = own.notifier(&ep).unwrap().raw_fd();
        let woken = |ep: &Epoll| {
            let mut events = Events::with_capacity(4);
            ep.wait(&mut events, Some(Duration::ZERO), own.watch())
                .unwrap()
        };
        for call in [
            |ep: &Epoll, fd, own: &OwnFds| ep.modify(fd, Token(7), Interest::WRITABLE, own),
            |ep: &Epoll, fd, own: &OwnFds| ep.unregister(fd, own),
            |ep: &Epoll, fd, own: &OwnFds| ep.register(fd, Token(7), Interest::READABLE, own),
        ] {
            let err = call(&ep, fd, &own).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
            own.wake.wake().unwrap();
            assert!(woken(&ep), "the notifier is back under its token");
            assert!(own.wake.consume());
            assert!(!woken(&ep));
        }
    }

    #[test]
    fn translation() {
        assert_eq!(interest_bits(Interest::BOTH), EPOLLIN | EPOLLOUT);
        assert_eq!(interest_bits(Interest::NONE), 0);
        assert_eq!(event_flags(EPOLLIN), flags::READABLE);
        assert_eq!(
            event_flags(EPOLLOUT | EPOLLHUP),
            flags::WRITABLE | flags::FULL_HANGUP
        );
        assert_eq!(event_flags(EPOLLERR), flags::ERROR);
        assert_eq!(event_flags(EPOLLPRI), flags::PRIORITY);
        // The events beyond READ/WRITE, and the exclusive mode.
        assert_eq!(interest_bits(Interest::PRIORITY), EPOLLPRI);
        assert_eq!(interest_bits(Interest::HANGUP), EPOLLRDHUP);
        assert_eq!(
            interest_bits(Interest::READABLE | Interest::EXCLUSIVE),
            EPOLLIN | EPOLLEXCLUSIVE
        );
        assert_eq!(
            event_flags(EPOLLIN | EPOLLRDHUP),
            flags::READABLE | flags::HANGUP
        );
        assert_eq!(event_flags(EPOLLHUP), flags::FULL_HANGUP);
    }
}
