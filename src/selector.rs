//! The selector: registration and the shared wait loop over every backend.

use crate::backend::{dispatch, AnyDriver, Driver};
use crate::own::OwnFds;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::timeout::Deadline;
use crate::waker::Waker;
use crate::{Events, Interest, RawSource, Source, Token};
use std::fmt;
use std::io;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// A kernel readiness interface a [`Selector`] can use.
///
/// Every variant exists on every platform; [`Backend::is_available`] says whether this build
/// and kernel support it (epoll on Linux and Android, kqueue on macOS and the BSDs, /dev/poll
/// on illumos and Solaris, poll on every Unix, select everywhere: winsock's on Windows).
///
/// # Examples
///
/// ```
/// use rselectors::Backend;
///
/// let best = Backend::best();
/// assert!(best.is_available());
/// assert!(Backend::Select.is_available()); // everywhere (winsock's on Windows)
/// println!("{} is the default", best.name());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Linux `epoll`.
    Epoll,
    /// BSD/macOS `kqueue`.
    Kqueue,
    /// illumos/Solaris `/dev/poll`.
    Devpoll,
    /// POSIX `poll` (the registration set is kept in user space).
    Poll,
    /// POSIX `select` (fds must be below `FD_SETSIZE`); on Windows winsock's `select`
    /// (sockets only, any number of them).
    Select,
}

impl Backend {
    /// All backends, best first (the order [`Backend::best`] probes them in).
    pub const ALL: [Backend; 5] = [
        Backend::Kqueue,
        Backend::Epoll,
        Backend::Devpoll,
        Backend::Poll,
        Backend::Select,
    ];

    /// The lower-case name (`"epoll"`, `"kqueue"`, `"devpoll"`, `"poll"`, `"select"`).
    ///
    /// ```
    /// assert_eq!(rselectors::Backend::Epoll.name(), "epoll");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Kqueue => "kqueue",
            Backend::Devpoll => "devpoll",
            Backend::Poll => "poll",
            Backend::Select => "select",
        }
    }

    /// Whether a selector of this kind can be created here: compiled in for this platform
    /// and accepted by the running kernel (checked by creating one).
    ///
    /// ```
    /// assert!(rselectors::Backend::Select.is_available());
    /// ```
    pub fn is_available(self) -> bool {
        Selector::with_backend(self).is_ok()
    }

    /// Whether a wait that may block on this backend starts without the selector's notifier
    /// (the driver's `BLOCKS_WITHOUT_NOTIFIER`): then no look without blocking precedes it
    /// ([`Selector::look_before_blocking`] has nothing to do).
    #[cfg(feature = "python")]
    pub(crate) fn blocks_without_notifier(self) -> bool {
        match self {
            #[cfg(epoll_available)]
            Backend::Epoll => crate::backend::epoll::Epoll::BLOCKS_WITHOUT_NOTIFIER,
            #[cfg(kqueue_available)]
            Backend::Kqueue => crate::backend::kqueue::Kqueue::BLOCKS_WITHOUT_NOTIFIER,
            #[cfg(devpoll_available)]
            Backend::Devpoll => crate::backend::devpoll::Devpoll::BLOCKS_WITHOUT_NOTIFIER,
            #[cfg(unix)]
            Backend::Poll => crate::backend::poll::Poll::BLOCKS_WITHOUT_NOTIFIER,
            #[cfg(unix)]
            Backend::Select => crate::backend::select::Select::BLOCKS_WITHOUT_NOTIFIER,
            #[cfg(windows)]
            Backend::Select => crate::backend::winsock::Select::BLOCKS_WITHOUT_NOTIFIER,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Whether this backend keeps its set in a kernel object with an fd (epoll, kqueue,
    /// /dev/poll: [`Selector::try_as_fd`] returns it) rather than in user space (poll, select).
    ///
    /// ```
    /// use rselectors::Backend;
    /// assert!(Backend::Epoll.has_kernel_object() && !Backend::Poll.has_kernel_object());
    /// ```
    pub const fn has_kernel_object(self) -> bool {
        matches!(self, Backend::Epoll | Backend::Kqueue | Backend::Devpoll)
    }

    /// Whether waits on this backend honour timeouts with microsecond resolution (the
    /// kernel takes a nanosecond timeout: `epoll_pwait2`, `ppoll`, `pselect`, `kevent`), or
    /// round timeouts of a millisecond or more up to whole milliseconds (`epoll_wait` on
    /// Linux before 5.11 or under a seccomp filter that refuses `epoll_pwait2`, which is
    /// probed once; `poll` where there is no `ppoll`; /dev/poll), or, on Windows, end on the
    /// system timer's tick, a millisecond or more (winsock's `select` takes microseconds).
    /// A wait is never shorter than asked either way, and on Linux a wait shorter than a
    /// millisecond ends on a timer with no slack (a `timerfd`), whatever this says.
    ///
    /// ```
    /// use rselectors::Backend;
    /// assert_eq!(Backend::Select.precise_timeouts(), cfg!(unix)); // winsock: the timer tick
    /// println!("epoll: {}", Backend::Epoll.precise_timeouts());
    /// ```
    pub fn precise_timeouts(self) -> bool {
        match self {
            #[cfg(epoll_available)]
            Backend::Epoll => crate::sys::epoll::precise_timeouts(),
            #[cfg(unix)]
            Backend::Poll => crate::sys::poll::PRECISE,
            Backend::Select => cfg!(unix),
            Backend::Kqueue => true,
            _ => false,
        }
    }

    /// Whether this backend can wait for `interest`, which `register` and `modify` then accept
    /// (they fail with `ErrorKind::Unsupported` otherwise): readable and writable everywhere;
    /// [`Interest::PRIORITY`] on epoll, poll, /dev/poll and select (winsock's too), not
    /// kqueue; [`Interest::HANGUP`] on epoll, poll on Linux and Android, and kqueue together
    /// with [`Interest::READABLE`] (its hang-up is a flag of the read filter, which also fires
    /// for data), not select or /dev/poll; [`Interest::EXCLUSIVE`] everywhere (only epoll has
    /// the mode; the others ignore it), but only with readable and writable.
    ///
    /// ```
    /// use rselectors::{Backend, Interest};
    /// assert!(Backend::Select.supports(Interest::READABLE | Interest::PRIORITY));
    /// assert!(!Backend::Select.supports(Interest::HANGUP));
    /// assert!(!Backend::Epoll.supports(Interest::HANGUP | Interest::EXCLUSIVE));
    /// ```
    pub const fn supports(self, interest: Interest) -> bool {
        self.refusal(interest).is_none()
    }

    /// Why this backend cannot wait for `interest` (`None`: it can), in the words of the
    /// error `register` and `modify` return (the Python bindings' too).
    pub(crate) const fn refusal(self, interest: Interest) -> Option<&'static str> {
        if !interest.is_extended() {
            return None;
        }
        if interest.is_exclusive() && (interest.is_priority() || interest.is_hangup()) {
            return Some("an exclusive registration waits for readability and writability only");
        }
        if interest.is_priority() && matches!(self, Backend::Kqueue) {
            return Some("the kqueue backend cannot wait for priority data");
        }
        if interest.is_hangup() {
            return match self {
                Backend::Epoll => None,
                Backend::Kqueue if interest.is_readable() => None,
                Backend::Kqueue => {
                    Some("the kqueue backend reports hang-ups only with readability")
                }
                Backend::Poll if POLL_HANGUP => None,
                Backend::Poll => Some("the poll backend cannot wait for hang-ups on this platform"),
                Backend::Devpoll => Some("the devpoll backend cannot wait for hang-ups"),
                Backend::Select => Some("the select backend cannot wait for hang-ups"),
            };
        }
        None
    }

    /// The best backend that works here: kqueue, epoll, /dev/poll, poll, then select — the
    /// order of Python's `selectors.DefaultSelector`. Probed once per process.
    ///
    /// ```
    /// let best = rselectors::Backend::best();
    /// assert_eq!(rselectors::Selector::new()?.backend(), best);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn best() -> Backend {
        // std's in every build: probed once per process, not a protocol to model.
        static BEST: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            Backend::ALL
                .into_iter()
                .find(|b| b.is_available())
                .unwrap_or(Backend::Select)
        })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Waits for readiness on many file descriptors: a level-triggered epoll, kqueue,
/// /dev/poll, poll or select set.
///
/// All methods take `&self` and the type is `Send + Sync`: share it in an `Arc`, and
/// register, modify or unregister from any thread while another thread waits in
/// [`select`](Selector::select); the waiting thread sees the change (for the user-space
/// poll and select backends it is woken to rebuild its set, then waits for the rest of its
/// timeout). The selector does not own the registered fds: unregister an fd before closing it
/// (a closed fd silently leaves epoll and kqueue sets, but poll and select report it as an
/// error).
///
/// To nest a selector in another event loop, register its kernel fd there
/// ([`try_as_fd`](Selector::try_as_fd)): it is readable whenever `select` would return
/// something. Only epoll, kqueue and /dev/poll have one; `AsFd`/`AsRawFd` panic for the poll
/// and select backends.
///
/// # Examples
///
/// ```ignore-windows
/// use rselectors::{Events, Interest, Selector, Token};
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (a, mut b) = UnixStream::pair()?;
/// let selector = Selector::new()?;
/// selector.register(&a, Token(0), Interest::READABLE)?;
///
/// let mut events = Events::with_capacity(16);
/// selector.select(&mut events, Some(Duration::ZERO))?;
/// assert!(events.is_empty());
///
/// b.write_all(b"ping")?;
/// selector.select(&mut events, Some(Duration::from_secs(1)))?;
/// assert_eq!(events.iter().next().map(|e| e.token()), Some(Token(0)));
/// selector.unregister(&a)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Selector {
    driver: AnyDriver,
    backend: Backend,
    /// The wake-up state and the selector's own fds besides its kernel object (the notifier,
    /// on Linux the timer), made at their first need (see [`Selector::owns`]).
    own: OwnFds,
    /// Set by [`Selector::shut_down`]: blocking selects return at once.
    shutdown: AtomicBool,
    /// Bumped by [`Selector::reopen`]: a waiter woken after a change of it passes the nudge
    /// on, in case other threads still wait on the replaced kernel object.
    epoch: AtomicU64,
}

impl Selector {
    /// A selector on the best backend available ([`Backend::best`]).
    ///
    /// ```
    /// let selector = rselectors::Selector::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Selector> {
        Selector::with_backend(Backend::best())
    }

    /// A selector on a given backend; `ErrorKind::Unsupported` if this platform lacks it.
    ///
    /// ```
    /// use rselectors::{Backend, Selector};
    /// let selector = Selector::with_backend(Backend::Select)?;
    /// assert_eq!(selector.backend(), Backend::Select);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_backend(backend: Backend) -> io::Result<Selector> {
        let driver = match backend {
            #[cfg(epoll_available)]
            Backend::Epoll => AnyDriver::Epoll(Driver::new()?),
            #[cfg(kqueue_available)]
            Backend::Kqueue => AnyDriver::Kqueue(Driver::new()?),
            #[cfg(devpoll_available)]
            Backend::Devpoll => AnyDriver::Devpoll(Driver::new()?),
            #[cfg(unix)]
            Backend::Poll => AnyDriver::Poll(Driver::new()?),
            Backend::Select => AnyDriver::Select(Driver::new()?),
            #[allow(unreachable_patterns)]
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the {backend} backend is not available on this platform"),
                ))
            }
        };
        Ok(Selector {
            driver,
            backend,
            own: OwnFds::new(),
            shutdown: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        })
    }

    /// The backend this selector uses.
    ///
    /// ```
    /// # let selector = rselectors::Selector::new()?;
    /// println!("using {}", selector.backend());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts watching `fd` for `interest`; its events carry `token`.
    ///
    /// Errors: `AlreadyExists` if `fd` is registered, `InvalidInput` for a negative fd or the
    /// reserved token `Token(usize::MAX)`, `Unsupported` for an interest the backend cannot
    /// wait for ([`Backend::supports`]), and whatever the kernel refuses (epoll: `EPERM` for
    /// regular files, `EBADF` for closed fds). Nothing is registered after an error.
    ///
    /// ```ignore-windows
    /// use rselectors::{Interest, Selector, Token};
    /// use std::io::ErrorKind;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// let selector = Selector::new()?;
    /// selector.register(&a, Token(1), Interest::READABLE)?;
    /// let err = selector.register(&a, Token(1), Interest::READABLE).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn register(&self, fd: impl Source, token: Token, interest: Interest) -> io::Result<()> {
        let fd = self.user_fd(fd.raw_fd())?;
        checked_token(token)?;
        checked_interest(self.backend, interest)?;
        dispatch!(&self.driver, d => d.register(fd, token, interest, &self.own))
    }

    /// Changes the token and interest of a registered `fd` (`NotFound` if not registered;
    /// `Unsupported` as for [`register`](Selector::register), with nothing changed).
    ///
    /// The interest replaces the old one, [`Interest::EXCLUSIVE`] included. epoll cannot
    /// modify an exclusive registration, nor make one exclusive: it removes and re-adds
    /// those, and if the re-add fails `fd` is left unregistered.
    ///
    /// ```ignore-windows
    /// use rselectors::{Interest, Selector, Token};
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// let selector = Selector::new()?;
    /// selector.register(&a, Token(1), Interest::READABLE)?;
    /// selector.modify(&a, Token(2), Interest::BOTH)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn modify(&self, fd: impl Source, token: Token, interest: Interest) -> io::Result<()> {
        let fd = self.user_fd(fd.raw_fd())?;
        checked_token(token)?;
        checked_interest(self.backend, interest)?;
        dispatch!(&self.driver, d => d.modify(fd, token, interest, &self.own))
    }

    /// Stops watching `fd` (`NotFound` if not registered; epoll reports `EBADF`/`ENOENT` for
    /// an fd that was closed while registered, which callers usually ignore).
    ///
    /// ```ignore-windows
    /// use rselectors::{Interest, Selector, Token};
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// let selector = Selector::new()?;
    /// selector.register(&a, Token(1), Interest::READABLE)?;
    /// selector.unregister(&a)?;
    /// assert!(selector.unregister(&a).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unregister(&self, fd: impl Source) -> io::Result<()> {
        let fd = self.user_fd(fd.raw_fd())?;
        dispatch!(&self.driver, d => d.unregister(fd, &self.own))
    }

    /// Gives the selector a fresh kernel set holding exactly `registrations`, under the fd
    /// number it already has: a new epoll, kqueue or /dev/poll instance (poll and select
    /// replace their user-space set). The wake-up notifier stays.
    ///
    /// Use it to shed what an epoll set keeps for fds closed without `unregister` while a
    /// duplicate of them stays open: such a registration can no longer be named to remove
    /// it, and being level-triggered it ends every wait at once.
    ///
    /// Clones, [`Waker`]s and [`try_as_fd`](Selector::try_as_fd) keep working: the fd
    /// number does not change. Registrations that no longer name what they were made for are
    /// left out: epoll holds a registration by file, so one whose fd was closed since (even if
    /// a duplicate keeps the file open: no fd can name it any more), or whose number now names
    /// another file, is not carried over; the kernel refuses others. Threads blocked in [`select`](Selector::select) are woken to wait again on the
    /// new set. Registration calls running at the same time as `reopen` may act on the old
    /// set and be lost: serialise them. On error nothing has changed.
    ///
    /// Not for a forked child: the kernel set and the notifier are shared with the parent,
    /// and a lock another thread held at the fork would never be released in the child;
    /// make a new `Selector` there instead.
    ///
    /// The selector's notifier is made if it has none yet: threads blocked on the replaced
    /// set are woken through it.
    pub fn reopen<I>(&self, registrations: I) -> io::Result<()>
    where
        I: IntoIterator<Item = (RawSource, Token, Interest)>,
    {
        dispatch!(&self.driver, d => self.own.notifier(d))?;
        // No own fd is made while the set is replaced: the new set holds every one.
        let making = self.own.making();
        dispatch!(&self.driver, d => {
            let fresh = fresh_like(d, &self.own)?;
            for (fd, token, interest) in registrations {
                let carried = self.user_fd(fd).is_ok()
                    && checked_token(token).is_ok()
                    && d.holds(fd, token, interest);
                if carried {
                    let _ = fresh.register(fd, token, interest, &self.own);
                }
            }
            d.adopt(fresh, &self.own.wake)
        })?;
        drop(making);
        self.epoch.fetch_add(1, Ordering::Relaxed);
        // Waiters on the replaced object: wake them to wait on the new one (it shares the
        // notifier with the old, which stays alive as long as they are in it).
        let _ = self.own.wake.nudge();
        Ok(())
    }

    /// Whether `fd` is one of the selector's own fds: its kernel object (epoll, kqueue,
    /// /dev/poll), made with the selector, or, once made, its wake-up notifier (the first
    /// [`wake`](Selector::wake) or [`shut_down`](Selector::shut_down) that finds a thread
    /// waiting, [`waker`](Selector::waker), or a blocking wait on a backend other than epoll)
    /// and, on Linux, its timer (the first wait shorter than a millisecond). Each stays until
    /// the selector is dropped. A caller's fd carries one of their numbers only after the
    /// caller closed it while registered (or by naming a number it does not own); no
    /// registration call can then reach it.
    ///
    /// ```ignore-windows
    /// use rselectors::Selector;
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let selector = Selector::new()?;
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(!selector.owns(a.as_raw_fd()));
    /// if let Some(fd) = selector.try_as_fd() {
    ///     assert!(selector.owns(fd.as_raw_fd()));
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn owns(&self, fd: RawSource) -> bool {
        self.own.owns(fd) || self.kernel_fd() == Some(fd)
    }

    /// Validates a caller's fd before it reaches the backend: negative (Windows: not a
    /// number any SOCKET has) is `InvalidInput`, and one of the selector's own fds is refused
    /// as the kernel refuses it: the kernel object with `EINVAL` (epoll's answer for an
    /// instance asked to watch itself), the notifier with `EBADF` (a closed fd's answer,
    /// which is what the caller's fd is when a number it registered now names the notifier;
    /// Windows: `WSAENOTSOCK`, a closed socket's). Registering, modifying or unregistering
    /// the notifier under the caller's name would switch off wake-ups or report the
    /// notifier's readiness under the caller's token.
    fn user_fd(&self, fd: RawSource) -> io::Result<RawSource> {
        if !crate::source::in_range(fd) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid file descriptor: {fd}"),
            ));
        }
        #[cfg(unix)]
        if self.kernel_fd() == Some(fd) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.own.refuse(fd)?;
        Ok(fd)
    }

    /// The kernel object's fd number, if the backend has one (never on Windows).
    fn kernel_fd(&self) -> Option<RawSource> {
        #[cfg(unix)]
        return dispatch!(&self.driver, d => d.as_fd()).map(|k| k.as_raw_fd());
        #[cfg(windows)]
        None
    }

    /// Waits until a registered fd is ready, a wake-up arrives, or `timeout` passes
    /// (`None`: no timeout; `Some(Duration::ZERO)`: poll without blocking), and fills
    /// `events` (cleared first; at most `events.capacity()` events).
    ///
    /// The wait is never shorter than `timeout` unless something is ready or a wake-up
    /// arrives, with microsecond resolution where the kernel allows (`epoll_pwait2`, `ppoll`,
    /// `pselect`, `kevent`; plain `epoll_wait` and /dev/poll round up to whole milliseconds).
    /// A signal interrupts the wait with `ErrorKind::Interrupted`: the caller decides whether
    /// to retry (see [`select_retry`](Selector::select_retry)).
    ///
    /// ```
    /// use rselectors::{Events, Selector};
    /// use std::time::{Duration, Instant};
    ///
    /// let selector = Selector::new()?;
    /// let mut events = Events::with_capacity(4);
    /// let start = Instant::now();
    /// selector.select(&mut events, Some(Duration::from_millis(5)))?;
    /// assert!(events.is_empty() && start.elapsed() >= Duration::from_millis(5));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let woken = self.select_once(events, timeout, deadline_for(timeout))?;
        events.set_woken(woken);
        Ok(())
    }

    /// One select (zero timeout: one non-blocking wait; otherwise until `deadline`); returns
    /// whether a wake-up ([`wake`](Selector::wake) or a shutdown) ended it.
    fn select_once(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        deadline: Deadline,
    ) -> io::Result<bool> {
        if timeout == Some(Duration::ZERO) {
            // Never blocks: no deadline to keep. A wake-up is reported from the notifier or,
            // where the wait leaves it out or there is none, from the flag.
            let woken = dispatch!(&self.driver, d => d.wait(events, timeout, self.own.watch()))?
                || self.own.wake.is_pending();
            return Ok(woken && self.own.wake.consume());
        }
        self.select_until(events, deadline)
    }

    /// Like [`select`](Selector::select), but on `Interrupted` calls `on_interrupt` and, if
    /// it returns `Ok`, waits again for the *remaining* time (PEP 475). Returns with `events`
    /// empty if the deadline passed during an interruption, and `on_interrupt`'s error if it
    /// fails (Python's bindings check for pending signals there).
    ///
    /// ```
    /// use rselectors::{Events, Selector};
    /// use std::time::Duration;
    ///
    /// let selector = Selector::new()?;
    /// let mut events = Events::with_capacity(4);
    /// selector.select_retry(&mut events, Some(Duration::from_millis(1)), || Ok::<(), std::io::Error>(()))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn select_retry<E: From<io::Error>>(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        mut on_interrupt: impl FnMut() -> Result<(), E>,
    ) -> Result<(), E> {
        let deadline = deadline_for(timeout);
        loop {
            match self.select_once(events, timeout, deadline) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    on_interrupt()?;
                    if deadline.expired() || timeout == Some(Duration::ZERO) {
                        events.clear();
                        events.set_woken(false);
                        return Ok(());
                    }
                }
                Err(e) => return Err(E::from(e)),
                Ok(woken) => {
                    events.set_woken(woken);
                    return Ok(());
                }
            }
        }
    }

    /// One blocking select until `deadline`, re-waiting after internal set-change nudges;
    /// returns whether a wake-up or a shutdown ended it.
    fn select_until(&self, events: &mut Events, deadline: Deadline) -> io::Result<bool> {
        let wake = &*self.own.wake;
        // Counted before the flags are read: a `wake` or `shut_down` either set its flag
        // before the looks below, or finds this thread waiting and makes sure the notifier
        // reaches its wait (making the notifier if there is none: see `crate::own`).
        let _waiting = self.own.waiting();
        loop {
            let epoch = self.epoch.load(Ordering::Relaxed);
            // A wake-up that found no notifier and no waiter is carried by its flag alone:
            // one look without blocking, then it is reported.
            let pending = wake.is_pending();
            // Looked at after the flag, on every round: a `shut_down` whose wake-up coalesced
            // with a pending one finds no thread to wake, and the thread that consumes that
            // one may find no notifier to pass it on through; its `consume` carries the flag
            // (an acquire of `shut_down`'s swap) to the look at the pending flag above, so
            // this look sees it.
            if self.shutdown.load(Ordering::SeqCst) {
                events.clear();
                return Ok(true);
            }
            let timeout = if pending {
                Some(Duration::ZERO)
            } else {
                deadline.remaining()
            };
            let woken = self.wait_once(events, timeout)? || pending;
            let user_wake = woken && wake.consume();
            let shutdown = self.shutdown.load(Ordering::SeqCst);
            if shutdown || (woken && self.epoch.load(Ordering::Relaxed) != epoch) {
                // `consume` drained the notifier: re-arm it so that every other thread blocked
                // in `select` (after `reopen`: on the replaced kernel object) returns too.
                let _ = wake.nudge();
            }
            if user_wake || shutdown {
                return Ok(true);
            }
            if !events.is_empty() || deadline.expired() {
                return Ok(false);
            }
            // Nothing to report and time left: a registration changed while we waited (poll
            // and select are nudged to re-read their set), or the kernel capped the wait
            // (`epoll_wait` and `poll` take at most i32::MAX ms, ~24.8 days). Wait again for
            // the time left: a wait is never shorter than asked.
        }
    }

    /// The look without blocking that a wait that may block starts with on a backend that
    /// must watch the notifier from the start and has none yet ([`wait_on`](Self::wait_on)),
    /// taken before that wait by a caller that can act on its result more cheaply than the
    /// wait (the Python layer, with the GIL held). Returns whether it found something to
    /// report (`events` and [`Events::woken`] as a zero-timeout `select` leaves them); if it
    /// found nothing, the notifier is made, so the wait that follows blocks at once and
    /// looks no twice. Does nothing and returns `false` when there is no such look to take
    /// (epoll, a notifier made already, a shutdown: the wait handles that).
    #[cfg(any(all(test, unix), feature = "python"))]
    pub(crate) fn look_before_blocking(&self, events: &mut Events) -> io::Result<bool> {
        dispatch!(&self.driver, d => self.look_on(d, events))
    }

    #[cfg(any(all(test, unix), feature = "python"))]
    fn look_on<D: Driver>(&self, d: &D, events: &mut Events) -> io::Result<bool> {
        if D::BLOCKS_WITHOUT_NOTIFIER
            || self.own.wake.notify.ready().is_some()
            || self.shutdown.load(Ordering::SeqCst)
        {
            return Ok(false);
        }
        self.select(events, Some(Duration::ZERO))?;
        if events.woken() || !events.is_empty() {
            return Ok(true);
        }
        self.own.notifier(d)?;
        Ok(false)
    }

    /// One backend wait of up to `timeout`; returns whether the notifier was readable.
    fn wait_once(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<bool> {
        dispatch!(&self.driver, d => self.wait_on(d, events, timeout))
    }

    /// [`wait_once`](Self::wait_once) on the concrete backend. A wait that may block on a
    /// backend that must watch the notifier from the start makes the notifier first, after
    /// a look without blocking (what is ready then needs no notifier at all). A wait
    /// shorter than a millisecond runs on the slack-free timer where there is one (the
    /// kernel's timeout, a backstop here, could fire a timer slack late: 50 µs by default).
    fn wait_on<D: Driver>(
        &self,
        d: &D,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        if timeout == Some(Duration::ZERO) {
            return d.wait(events, timeout, self.own.watch());
        }
        if !D::BLOCKS_WITHOUT_NOTIFIER && self.own.wake.notify.ready().is_none() {
            d.wait(events, Some(Duration::ZERO), self.own.watch())?;
            if !events.is_empty() {
                return Ok(false);
            }
            self.own.notifier(d)?;
        }
        #[allow(unused_mut)]
        let mut watch = self.own.watch();
        #[cfg(epoll_available)]
        if let Some(short) = timeout.filter(|t| *t < Duration::from_millis(1)) {
            // Without a timer (it could not be made or armed) the kernel's timeout does.
            if let Ok(timer) = self.own.timer(d) {
                if timer.arm(short).is_ok() {
                    watch.timer = Some(timer.fd());
                    let woken = d.wait(events, Some(TIMER_BACKSTOP), watch);
                    // Also clears a fired expiry, so no later wait sees the timer readable.
                    let _ = timer.disarm();
                    return woken;
                }
            }
        }
        d.wait(events, timeout, watch)
    }

    /// Makes every blocked and every later blocking `select` return at once with no events
    /// ([`Events::woken`] says so): for a loop that shares the selector with other threads
    /// and is closing it. Zero-timeout selects and registrations keep working; the fds close
    /// when the last clone of the selector is dropped.
    ///
    /// ```
    /// use rselectors::{Events, Selector};
    /// use std::sync::Arc;
    ///
    /// let selector = Arc::new(Selector::new()?);
    /// let waiting = {
    ///     let selector = selector.clone();
    ///     std::thread::spawn(move || {
    ///         let mut events = Events::with_capacity(4);
    ///         selector.select(&mut events, None).map(|()| events.woken())
    ///     })
    /// };
    /// selector.shut_down();
    /// assert!(waiting.join().unwrap()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shut_down(&self) {
        // Pairs with a waiter's count and look (`select_until`): either the waiter sees the
        // flag, or the wake-up below finds it waiting and reaches its wait.
        self.shutdown.store(true, Ordering::SeqCst);
        // A failed write leaves the notifier readable; nothing else to do.
        let _ = dispatch!(&self.driver, d => self.own.wake(d));
    }

    /// Wakes a thread blocked in [`select`](Selector::select) (or makes the next `select`
    /// return at once). Wake-ups are coalesced; see [`Waker`]. A wake-up that finds no thread
    /// waiting only sets a flag; one that finds a thread waiting writes the selector's
    /// notifier, made then if it has none yet (so the first such call is not
    /// async-signal-safe: take a [`Waker`] for a signal handler).
    ///
    /// ```
    /// use rselectors::{Events, Selector};
    /// use std::time::Duration;
    ///
    /// let selector = Selector::new()?;
    /// selector.wake()?; // before select: the next select returns at once
    /// let mut events = Events::with_capacity(4);
    /// selector.select(&mut events, Some(Duration::from_secs(30)))?;
    /// assert!(events.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wake(&self) -> io::Result<()> {
        dispatch!(&self.driver, d => self.own.wake(d))
    }

    /// Whether a wake-up is pending: [`wake`](Selector::wake) was called and no `select` has
    /// consumed it yet, so another `wake` now would do nothing. A hint for callers that want
    /// to skip work (Python's bindings keep the GIL for a coalesced `wakeup()`).
    ///
    /// ```
    /// let selector = rselectors::Selector::new()?;
    /// assert!(!selector.wake_pending());
    /// selector.wake()?;
    /// assert!(selector.wake_pending());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wake_pending(&self) -> bool {
        self.own.wake.is_pending()
    }

    /// A cloneable [`Waker`] for this selector, to hand to other threads or a signal handler.
    /// Makes the selector's notifier if it has none yet (the error if it cannot: no fd left).
    ///
    /// ```
    /// let selector = rselectors::Selector::new()?;
    /// let waker = selector.waker()?;
    /// std::thread::spawn(move || waker.wake().unwrap()).join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn waker(&self) -> io::Result<Waker> {
        dispatch!(&self.driver, d => self.own.notifier(d))?;
        Ok(Waker {
            state: self.own.wake.clone(),
        })
    }

    /// The kernel object's fd (epoll, kqueue, /dev/poll), `None` for poll and select, which
    /// keep their set in user space. Use it to nest this selector in another event loop: the
    /// fd is readable when `select` would report something, a pending wake-up included (from
    /// the first call on, every wake-up writes the notifier, made then if need be, as if a
    /// thread waited).
    ///
    /// ```
    /// use rselectors::{Backend, Selector};
    /// let selector = Selector::with_backend(Backend::Poll)?;
    /// assert!(selector.try_as_fd().is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn try_as_fd(&self) -> Option<BorrowedFd<'_>> {
        dispatch!(&self.driver, d => {
            let fd = d.as_fd();
            if fd.is_some() {
                self.own.nested(d);
            }
            fd
        })
    }
}

/// The kernel timeout of a wait that the timer ends: only reached if the timer failed.
#[cfg(epoll_available)]
const TIMER_BACKSTOP: Duration = Duration::from_millis(2);

/// The deadline of a wait of `timeout`; a zero timeout never blocks and needs none (so it
/// does not read the clock).
fn deadline_for(timeout: Option<Duration>) -> Deadline {
    if timeout == Some(Duration::ZERO) {
        Deadline::after(None)
    } else {
        Deadline::after(timeout)
    }
}

/// A new driver of `_like`'s kind holding the selector's own fds made so far, for
/// [`Selector::reopen`].
fn fresh_like<D: Driver>(_like: &D, own: &OwnFds) -> io::Result<D> {
    let fresh = D::new()?;
    own.add_to(&fresh)?;
    Ok(fresh)
}

/// Refuses the tokens reserved for the selector's own fds.
/// Whether the poll backend can wait for hang-ups here (`POLLRDHUP`: Linux and Android).
#[cfg(unix)]
const POLL_HANGUP: bool = crate::sys::poll::POLLRDHUP != 0;
#[cfg(not(unix))]
const POLL_HANGUP: bool = false;

/// `Unsupported` for an interest `backend` cannot wait for (see [`Backend::supports`]).
fn checked_interest(backend: Backend, interest: Interest) -> io::Result<()> {
    match backend.refusal(interest) {
        Some(reason) => Err(io::Error::new(io::ErrorKind::Unsupported, reason)),
        None => Ok(()),
    }
}

fn checked_token(token: Token) -> io::Result<()> {
    if token.is_reserved() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{token:?} is reserved for the selector's own fds"),
        ));
    }
    Ok(())
}

/// The kernel object's fd, for nesting in another event loop.
///
/// # Panics
///
/// For the poll and select backends, which have no kernel object; use
/// [`Selector::try_as_fd`] when the backend is not known.
#[cfg(unix)]
impl AsFd for Selector {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.try_as_fd()
            .expect("the poll and select backends have no kernel fd; use Selector::try_as_fd")
    }
}

/// See [`AsFd for Selector`](#impl-AsFd-for-Selector).
#[cfg(unix)]
impl AsRawFd for Selector {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("backend", &self.backend)
            .field("fd", &self.kernel_fd())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn selector_is_send_and_sync() {
        assert_send_sync::<Selector>();
        assert_send_sync::<Waker>();
    }

    /// Runs `f` on a thread; panics if it has not returned within 10 s.
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let out = f();
            let _ = tx.send(());
            out
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("still blocked after 10 s");
        t.join().unwrap()
    }

    #[test]
    fn shut_down_wakes_every_blocked_select() {
        for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
            let s = Arc::new(Selector::with_backend(backend).unwrap());
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let mut events = Events::with_capacity(4);
                        s.select(&mut events, None).unwrap();
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(100));
            s.shut_down();
            within_10s(move || waiters.into_iter().for_each(|w| w.join().unwrap()));
            // Later blocking selects return at once too.
            let mut events = Events::with_capacity(4);
            s.select(&mut events, None).unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_look_before_blocking_is_the_first_waits_own() {
        use std::io::Write;
        use std::os::unix::net::UnixStream;
        for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
            let looks = backend != Backend::Epoll;
            let (a, mut b) = UnixStream::pair().unwrap();
            let mut events = Events::with_capacity(4);
            // Nothing ready: nothing found, and the notifier is made for the wait to come.
            let s = Selector::with_backend(backend).unwrap();
            s.register(&a, Token(7), Interest::READABLE).unwrap();
            assert!(!s.look_before_blocking(&mut events).unwrap());
            assert!(events.is_empty());
            assert_eq!(s.own.wake.notify.ready().is_some(), looks, "{backend}");
            // Ready: found, no notifier made; with a notifier (above) no look is taken.
            b.write_all(b"x").unwrap();
            assert!(!s.look_before_blocking(&mut events).unwrap());
            let fresh = Selector::with_backend(backend).unwrap();
            fresh.register(&a, Token(7), Interest::READABLE).unwrap();
            assert_eq!(fresh.look_before_blocking(&mut events).unwrap(), looks);
            if looks {
                let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
                assert_eq!(tokens, [Token(7)], "{backend}");
                assert!(!events.woken());
            }
            assert!(fresh.own.wake.notify.made().is_none(), "{backend}");
            // A pending wake-up is found, and consumed, as a zero-timeout select finds it.
            let woken = Selector::with_backend(backend).unwrap();
            woken.wake().unwrap();
            assert_eq!(woken.look_before_blocking(&mut events).unwrap(), looks);
            assert_eq!(events.woken(), looks, "{backend}");
            assert_eq!(woken.wake_pending(), !looks, "{backend}");
        }
    }

    /// A number no fd (Windows: no SOCKET) can have.
    #[cfg(unix)]
    const INVALID: RawSource = -1;
    #[cfg(windows)]
    const INVALID: RawSource = RawSource::MAX;

    #[test]
    fn reserved_token_and_negative_fd_are_refused() {
        for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
            let s = Selector::with_backend(backend).unwrap();
            let err = s
                .register(0, Token(usize::MAX), Interest::READABLE)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err = s
                .register(INVALID, Token(0), Interest::READABLE)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
