//! The selector's own fds besides its kernel object: the wake-up notifier and, on Linux, the
//! slack-free timer of sub-millisecond waits. Each is made at its first need, not with the
//! selector, so that a selector that is made, used and closed without ever needing one holds
//! what the stdlib's holds: its kernel object (epoll, kqueue, /dev/poll) or nothing (poll,
//! select).
//!
//! What needs them:
//! - the notifier: a user wake-up ([`Selector::wake`](crate::Selector::wake)) or a shutdown
//!   while a thread waits, a [`Waker`](crate::Waker), and a wait that blocks on a backend
//!   that must watch the notifier from the start (all but epoll, where a notifier added while
//!   a thread waits reaches that wait, so the waker makes it);
//! - the timer: the first wait shorter than a millisecond.
//!
//! Made late, an own fd takes the lowest free number, which a caller's registration may
//! still name (an fd closed before `unregister`). Such a name never reaches it:
//! 1. it is made so that no registration names its number: backends that keep their
//!    registrations in user space make it under their lock and skip numbers that a
//!    registration names ([`Driver::add_own`]);
//! 2. from then on a caller's `register`, `modify` or `unregister` that names it is refused
//!    ([`OwnFds::refuse`]: in `Selector`, and again under the lock by [`Registry`]'s
//!    `register` check, so that no registration takes the number while it is being made);
//! 3. epoll has no lock: a caller's `modify` or `unregister` that passed the check just
//!    before the fd appeared and reached the kernel after it was added puts it back and is
//!    refused ([`OwnFds::reclaim`]). Published before it is added, the fd cannot be missed by
//!    that second look; a `register` whose add reached it between its creation and its
//!    publication finds the making under way (`creating`), waits for its end and is refused
//!    too.
//!
//! A wake-up never waits for the notifier: `wake` sets the pending flag and writes the
//! notifier if there is one; if there is none and no thread waits, the flag alone carries the
//! wake-up to the next wait, which looks at it before blocking ([`OwnFds::waiting`]).
//!
//! [`Driver::add_own`]: crate::backend::Driver::add_own
//! [`Registry`]: crate::backend::Registry

use crate::backend::Driver;
use crate::sync::{fence, Arc, AtomicBool, AtomicUsize, Mutex, MutexGuard, OnceLock, Ordering};
use crate::sys::notify::NotifyFd;
#[cfg(epoll_available)]
use crate::sys::timer::Timer;
use crate::waker::WakeState;
use crate::{RawSource, Token};
use std::io;

/// One of the selector's own fds, as a backend adds it.
pub(crate) trait OwnFd {
    /// The fd a wait watches.
    fn watched(&self) -> RawSource;
    /// All its numbers (a pipe or a socket pair has two).
    fn numbers(&self) -> impl Iterator<Item = RawSource>;
    /// Whether `fd` is one of its numbers.
    fn holds(&self, fd: RawSource) -> bool {
        self.numbers().any(|n| n == fd)
    }
}

impl OwnFd for NotifyFd {
    fn watched(&self) -> RawSource {
        self.raw_fd()
    }
    fn numbers(&self) -> impl Iterator<Item = RawSource> {
        self.fds()
    }
}

#[cfg(epoll_available)]
impl OwnFd for Timer {
    fn watched(&self) -> RawSource {
        self.fd()
    }
    fn numbers(&self) -> impl Iterator<Item = RawSource> {
        std::iter::once(self.fd())
    }
}

/// An own fd made at first need: `made` once it exists (its numbers are then the selector's),
/// `ready` once the backend has it too (kernel-set backends: in their set).
pub(crate) struct Lazy<T> {
    made: OnceLock<T>,
    ready: AtomicBool,
}

impl<T> Lazy<T> {
    pub(crate) fn new() -> Lazy<T> {
        Lazy {
            made: OnceLock::new(),
            ready: AtomicBool::new(false),
        }
    }

    /// The fd, if it has been made (added to the backend or not).
    pub(crate) fn made(&self) -> Option<&T> {
        self.made.get()
    }

    /// The fd, if it has been made and added to the backend: ready to be waited on.
    pub(crate) fn ready(&self) -> Option<&T> {
        if self.ready.load(Ordering::Acquire) {
            self.made.get()
        } else {
            None
        }
    }
}

/// The selector's own fds and what coordinates their making with wake-ups and waits.
pub(crate) struct OwnFds {
    /// The wake-up state, notifier included (shared with every [`Waker`](crate::Waker)).
    pub(crate) wake: Arc<WakeState>,
    #[cfg(epoll_available)]
    timer: Lazy<Timer>,
    /// Held while an own fd is made and added, and by `reopen`: one maker at a time.
    making: Mutex<()>,
    /// Set from just before an own fd is created to its publication (`made`): a caller's
    /// call that reached the new fd through the kernel in between sees it (see `reclaim`).
    #[cfg(epoll_available)]
    creating: AtomicBool,
    /// Threads in a blocking wait (from just before they look at the flags to their return),
    /// plus one for good once the kernel object's fd has been handed out to be waited on in
    /// another loop ([`nested`](Self::nested)).
    waiting: AtomicUsize,
    /// Whether `nested` has counted its one.
    #[cfg(unix)]
    nested: AtomicBool,
}

/// What a wait watches besides the registrations: the notifier, if it has been made, and the
/// timer, if this wait is ended by it. Kernel-set backends have both in their set already
/// (they use these to recognise them); user-space backends add them to a blocking wait's set.
#[derive(Clone, Copy, Default)]
pub(crate) struct Watch {
    pub(crate) notify: Option<RawSource>,
    pub(crate) timer: Option<RawSource>,
}

impl OwnFds {
    pub(crate) fn new() -> OwnFds {
        OwnFds {
            wake: Arc::new(WakeState::new()),
            #[cfg(epoll_available)]
            timer: Lazy::new(),
            making: Mutex::new(()),
            #[cfg(epoll_available)]
            creating: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            #[cfg(unix)]
            nested: AtomicBool::new(false),
        }
    }

    /// Whether `fd` is one of these (made so far).
    pub(crate) fn owns(&self, fd: RawSource) -> bool {
        self.token_of(fd).is_some()
    }

    /// The token under which a kernel set holds own fd `fd` (`None`: not one of ours). The
    /// notifier's other end (a pipe's write end, a socket pair's other socket) is in no set:
    /// [`Token::NOTIFY`] too, which only [`reclaim`](Self::reclaim) asks for and epoll has no
    /// such end.
    pub(crate) fn token_of(&self, fd: RawSource) -> Option<Token> {
        if self.wake.notify.made().is_some_and(|n| n.holds(fd)) {
            return Some(Token::NOTIFY);
        }
        #[cfg(epoll_available)]
        if self.timer.made().is_some_and(|t| t.holds(fd)) {
            return Some(Token::TIMER);
        }
        None
    }

    /// Refuses a caller's `fd` that names one of these, with the error the kernel gives for a
    /// closed fd (which is what the caller's fd is when one of ours took its number).
    pub(crate) fn refuse(&self, fd: RawSource) -> io::Result<()> {
        if self.owns(fd) {
            return Err(io::Error::from_raw_os_error(crate::sys::CLOSED));
        }
        Ok(())
    }

    /// After a caller's `register`, `modify` or `unregister` of `fd` went through on a kernel
    /// set without a lock (epoll, the only user): if `fd` is one of ours, it was made after
    /// the caller's check and the call acted on it; `add` puts it back (with its token), and
    /// the call is refused. An own fd being made may have the number without being published
    /// yet (a `register` can add it to the set before its maker does): then the making is
    /// waited for and the number looked at again.
    #[cfg(epoll_available)]
    pub(crate) fn reclaim(
        &self,
        fd: RawSource,
        add: impl FnOnce(RawSource, Token) -> io::Result<()>,
    ) -> io::Result<()> {
        // Before the look at `made`: this reads the store before the creation (which the
        // kernel's lookup of `fd` in the caller's call came after), or the one after the
        // publication, which the look then sees.
        let creating = self.creating.load(Ordering::Acquire);
        let mut token = self.token_of(fd);
        if token.is_none() && creating {
            drop(self.making());
            token = self.token_of(fd);
        }
        match token {
            None => Ok(()),
            Some(token) => {
                // On failure it stays made but out of the set: nothing better to do than
                // refuse the call, which is what the caller gets either way.
                let _ = add(fd, token);
                self.refuse(fd)
            }
        }
    }

    /// What a wait watches besides the registrations (the notifier, once it is ready).
    pub(crate) fn watch(&self) -> Watch {
        Watch {
            notify: self.wake.notify.ready().map(OwnFd::watched),
            timer: None,
        }
    }

    /// The notifier, made and added to `driver` on first call.
    pub(crate) fn notifier<D: Driver>(&self, driver: &D) -> io::Result<&NotifyFd> {
        self.ready(driver, &self.wake.notify, Token::NOTIFY, NotifyFd::new)
    }

    /// The timer, made and added to `driver` on first call.
    #[cfg(epoll_available)]
    pub(crate) fn timer<D: Driver>(&self, driver: &D) -> io::Result<&Timer> {
        self.ready(driver, &self.timer, Token::TIMER, Timer::new)
    }

    /// `lazy`'s fd, made (so that no registration of `driver` names it) and added to
    /// `driver` under `token` if it is not ready yet.
    fn ready<'a, T: OwnFd, D: Driver>(
        &self,
        driver: &D,
        lazy: &'a Lazy<T>,
        token: Token,
        new: fn() -> io::Result<T>,
    ) -> io::Result<&'a T> {
        if let Some(fd) = lazy.ready() {
            return Ok(fd);
        }
        let _making = crate::sync::lock(&self.making);
        if let Some(fd) = lazy.ready() {
            return Ok(fd);
        }
        let fd = driver.add_own(token, |named| match lazy.made() {
            // Made by an earlier call whose adding failed: add it now.
            Some(fd) => Ok(fd),
            // Published (so callers' calls naming it are refused) before it is added.
            None => {
                #[cfg(epoll_available)]
                self.creating.store(true, Ordering::Relaxed);
                let made = unnamed(new, named).map(|fd| lazy.made.get_or_init(|| fd));
                #[cfg(epoll_available)]
                self.creating.store(false, Ordering::Release);
                made
            }
        })?;
        lazy.ready.store(true, Ordering::Release);
        Ok(fd)
    }

    /// Adds every own fd made so far to `fresh` (a new kernel set replacing the current one:
    /// [`Selector::reopen`](crate::Selector::reopen)); the caller holds [`making`](Self::making).
    pub(crate) fn add_to<D: Driver>(&self, fresh: &D) -> io::Result<()> {
        if let Some(n) = self.wake.notify.made() {
            fresh.add_own(Token::NOTIFY, |_| Ok(n))?;
        }
        #[cfg(epoll_available)]
        if let Some(t) = self.timer.made() {
            fresh.add_own(Token::TIMER, |_| Ok(t))?;
        }
        Ok(())
    }

    /// Serialises with the making of own fds (for `reopen`).
    pub(crate) fn making(&self) -> MutexGuard<'_, ()> {
        crate::sync::lock(&self.making)
    }

    /// A user wake-up through the selector ([`Selector::wake`](crate::Selector::wake), a
    /// shutdown): sets the pending flag (many calls before a wait consumes it count once) and
    /// makes sure it reaches a thread blocked in `select`: through the notifier if there is
    /// one, or if a thread waits (made now); if there is none and no thread waits, the flag
    /// alone carries it to the next wait.
    pub(crate) fn wake<D: Driver>(&self, driver: &D) -> io::Result<()> {
        if self.wake.set_pending() {
            return Ok(());
        }
        if let Some(n) = self.wake.notify.ready() {
            return n.notify();
        }
        // A store then a load here (the flag, then the count), a store then a load in a
        // waiter (the count, then the flags: `count_waiting`), a SeqCst fence between each
        // pair: either this load sees the waiter counted, or the waiter's look sees the flag
        // just set (and a `shut_down`'s flag stored before it).
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        self.notifier(driver)?.notify()
    }

    /// The kernel object's fd was handed out: another loop may wait on it, which no count of
    /// this selector's waits sees. From now on every wake-up writes the notifier (made at the
    /// first), so that the fd is readable while one is pending, one pending now included.
    #[cfg(unix)]
    pub(crate) fn nested<D: Driver>(&self, driver: &D) {
        if self.nested.swap(true, Ordering::Relaxed) {
            return;
        }
        self.count_waiting();
        if self.wake.is_pending() {
            // On failure the wake-up is still carried by the flag to the next select.
            if let Ok(n) = self.notifier(driver) {
                let _ = n.notify();
            }
        }
    }

    /// Counts the calling thread as waiting until the guard drops. Taken before a blocking
    /// wait looks at the pending and shutdown flags (see [`wake`](Self::wake)).
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        self.count_waiting();
        Waiting(&self.waiting)
    }

    /// Counts one more waiting thread, before it looks at the flags: the store of the
    /// store-then-load that pairs with [`wake`](Self::wake)'s (see there).
    fn count_waiting(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }
}

#[cfg(test)]
impl OwnFds {
    /// Own fds whose notifier is made and ready, without a backend: for unit tests of the
    /// user-space backends' set handling.
    pub(crate) fn with_notifier() -> OwnFds {
        let own = OwnFds::new();
        let made = own
            .wake
            .notify
            .made
            .set(NotifyFd::new().expect("a notifier"));
        assert!(made.is_ok());
        own.wake.notify.ready.store(true, Ordering::Release);
        own
    }

    /// The notifier of [`with_notifier`](Self::with_notifier).
    pub(crate) fn notify_fd(&self) -> &NotifyFd {
        self.wake.notify.made().expect("made by with_notifier")
    }
}

/// A thread counted in [`OwnFds::waiting`].
pub(crate) struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        // loom ends a failed model run by unwinding its blocked threads, when no loom
        // atomic can be used any more.
        #[cfg(loom)]
        if std::thread::panicking() {
            return;
        }
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A new fd from `new` of which no number is `named`: each one that has a named number is
/// kept open while the next is made (so that the next gets other numbers), then closed.
fn unnamed<T: OwnFd>(
    new: fn() -> io::Result<T>,
    named: &dyn Fn(RawSource) -> bool,
) -> io::Result<T> {
    let mut passed_over = Vec::new();
    loop {
        let fd = new()?;
        if !fd.numbers().any(named) {
            return Ok(fd);
        }
        passed_over.push(fd);
    }
}
