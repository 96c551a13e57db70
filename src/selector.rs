//! The selector: registration and the shared wait loop over every backend.

use crate::backend::{dispatch, AnyDriver, Driver};
use crate::timeout::Deadline;
use crate::waker::{WakeState, Waker};
use crate::{Events, Interest, Source, Token};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A kernel readiness interface a [`Selector`] can use.
///
/// Every variant exists on every platform; [`Backend::is_available`] says whether this build
/// and kernel support it (epoll on Linux and Android, kqueue on macOS and the BSDs, /dev/poll
/// on illumos and Solaris, poll and select everywhere).
///
/// # Examples
///
/// ```
/// use rselectors::Backend;
///
/// let best = Backend::best();
/// assert!(best.is_available());
/// assert!(Backend::Poll.is_available() && Backend::Select.is_available());
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
    /// POSIX `select` (fds must be below `FD_SETSIZE`).
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

    /// The best backend that works here: kqueue, epoll, /dev/poll, poll, then select — the
    /// order of Python's `selectors.DefaultSelector`. Probed once per process.
    ///
    /// ```
    /// let best = rselectors::Backend::best();
    /// assert_eq!(rselectors::Selector::new()?.backend(), best);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn best() -> Backend {
        static BEST: OnceLock<Backend> = OnceLock::new();
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
/// ```
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
    wake: OnceLock<Arc<WakeState>>,
    wake_init: Mutex<()>,
    /// Set by [`Selector::shut_down`]: blocking selects return at once.
    shutdown: AtomicBool,
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
    /// let selector = Selector::with_backend(Backend::Poll)?;
    /// assert_eq!(selector.backend(), Backend::Poll);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_backend(backend: Backend) -> io::Result<Selector> {
        let driver = match backend {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Backend::Epoll => AnyDriver::Epoll(Driver::new()?),
            #[cfg(kqueue_available)]
            Backend::Kqueue => AnyDriver::Kqueue(Driver::new()?),
            #[cfg(devpoll_available)]
            Backend::Devpoll => AnyDriver::Devpoll(Driver::new()?),
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
            wake: OnceLock::new(),
            wake_init: Mutex::new(()),
            shutdown: AtomicBool::new(false),
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
    /// reserved token `Token(usize::MAX)`, and whatever the kernel refuses (epoll: `EPERM` for
    /// regular files, `EBADF` for closed fds). Nothing is registered after an error.
    ///
    /// ```
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
        let fd = checked_fd(fd.raw_fd())?;
        if token == Token::NOTIFY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Token(usize::MAX) is reserved for the selector's wake-up notifier",
            ));
        }
        self.change(|wake| dispatch!(&self.driver, d => d.register(fd, token, interest, wake)))
    }

    /// Changes the token and interest of a registered `fd` (`NotFound` if not registered).
    ///
    /// ```
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
        let fd = checked_fd(fd.raw_fd())?;
        if token == Token::NOTIFY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Token(usize::MAX) is reserved for the selector's wake-up notifier",
            ));
        }
        self.change(|wake| dispatch!(&self.driver, d => d.modify(fd, token, interest, wake)))
    }

    /// Stops watching `fd` (`NotFound` if not registered; epoll reports `EBADF`/`ENOENT` for
    /// an fd that was closed while registered, which callers usually ignore).
    ///
    /// ```
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
        let fd = checked_fd(fd.raw_fd())?;
        self.change(|wake| dispatch!(&self.driver, d => d.unregister(fd, wake)))
    }

    /// Runs a registration change, handing the backend the wake-up state if it exists (poll
    /// and select nudge a blocked waiter through it to re-read their set).
    ///
    /// The state is read before the backend takes its lock, so a first `select` can create it
    /// and start waiting on a copy of the set made before this change, in between: the backend
    /// then sees a waiter but no notifier to nudge. If the state appeared while the change ran,
    /// nudge it here (at worst a spurious nudge: the waiter waits again for the time left).
    fn change(&self, f: impl FnOnce(Option<&WakeState>) -> io::Result<()>) -> io::Result<()> {
        let before = self.wake.get();
        f(before.map(|w| &**w))?;
        if before.is_none() {
            if let Some(w) = self.wake.get() {
                // A failed write means the notifier is already readable: nothing is lost.
                let _ = w.nudge();
            }
        }
        Ok(())
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
        self.select_once(events, timeout, deadline_for(timeout))
            .map(|_| ())
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
            // Never blocks: no deadline, no notifier unless one exists.
            let wake = self.wake.get().map(|w| &**w);
            let woken = dispatch!(&self.driver, d => d.wait(events, timeout, wake))?;
            return Ok(woken && wake.is_some_and(|w| w.consume()));
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
        on_interrupt: impl FnMut() -> Result<(), E>,
    ) -> Result<(), E> {
        self.select_retry_woken(events, timeout, on_interrupt)
            .map(|_| ())
    }

    /// [`select_retry`](Selector::select_retry), also telling whether a wake-up
    /// ([`wake`](Selector::wake) or a shutdown) ended the wait.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn select_retry_woken<E: From<io::Error>>(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        mut on_interrupt: impl FnMut() -> Result<(), E>,
    ) -> Result<bool, E> {
        let deadline = deadline_for(timeout);
        loop {
            match self.select_once(events, timeout, deadline) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    on_interrupt()?;
                    if deadline.expired() || timeout == Some(Duration::ZERO) {
                        events.clear();
                        return Ok(false);
                    }
                }
                other => return other.map_err(E::from),
            }
        }
    }

    /// One blocking select until `deadline`, re-waiting after internal set-change nudges;
    /// returns whether a wake-up or a shutdown ended it.
    fn select_until(&self, events: &mut Events, deadline: Deadline) -> io::Result<bool> {
        let wake = self.wake_state()?;
        // Pairs with the fence in `shut_down`: either this load sees the flag, or
        // `shut_down` sees the wake state created above and wakes this wait.
        fence(Ordering::SeqCst);
        if self.shutdown.load(Ordering::Relaxed) {
            events.clear();
            return Ok(true);
        }
        loop {
            let woken =
                dispatch!(&self.driver, d => d.wait(events, deadline.remaining(), Some(wake)))?;
            let user_wake = woken && wake.consume();
            let shutdown = self.shutdown.load(Ordering::Relaxed);
            if shutdown {
                // `consume` drained the notifier: re-arm it so that every other thread blocked
                // in `select` returns too.
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

    /// Makes every blocked and every later blocking `select` return at once with no events
    /// (used when Python's `close()` races with a `select()` in another thread).
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn shut_down(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if let Some(w) = self.wake.get() {
            // A failed write leaves the notifier readable or gone; nothing else to do.
            let _ = w.wake();
        }
    }

    /// The wake-up state, created (and attached to the kernel set) on first use.
    fn wake_state(&self) -> io::Result<&WakeState> {
        if let Some(w) = self.wake.get() {
            return Ok(w);
        }
        // Serialise creation so exactly one notifier is ever attached; a failed attach
        // stores nothing and the next call tries again.
        let _guard = self.wake_init.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = self.wake.get() {
            return Ok(w);
        }
        let fresh = Arc::new(WakeState::new()?);
        dispatch!(&self.driver, d => d.attach(&fresh))?;
        Ok(self.wake.get_or_init(|| fresh))
    }

    /// Wakes a thread blocked in [`select`](Selector::select) (or makes the next `select`
    /// return at once). Wake-ups are coalesced; see [`Waker`].
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
        self.wake_state()?.wake()
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
        self.wake.get().is_some_and(|w| w.is_pending())
    }

    /// A cloneable [`Waker`] for this selector, to hand to other threads.
    ///
    /// ```
    /// let selector = rselectors::Selector::new()?;
    /// let waker = selector.waker()?;
    /// std::thread::spawn(move || waker.wake().unwrap()).join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn waker(&self) -> io::Result<Waker> {
        self.wake_state()?;
        let state = self
            .wake
            .get()
            .expect("wake state was just created")
            .clone();
        Ok(Waker { state })
    }

    /// The kernel object's fd (epoll, kqueue, /dev/poll), `None` for poll and select, which
    /// keep their set in user space. Use it to nest this selector in another event loop: the
    /// fd is readable when `select` would report something.
    ///
    /// ```
    /// use rselectors::{Backend, Selector};
    /// let selector = Selector::with_backend(Backend::Poll)?;
    /// assert!(selector.try_as_fd().is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_as_fd(&self) -> Option<BorrowedFd<'_>> {
        dispatch!(&self.driver, d => d.as_fd())
    }
}

/// The deadline of a wait of `timeout`; a zero timeout never blocks and needs none (so it
/// does not read the clock).
fn deadline_for(timeout: Option<Duration>) -> Deadline {
    if timeout == Some(Duration::ZERO) {
        Deadline::after(None)
    } else {
        Deadline::after(timeout)
    }
}

/// Validates a caller's fd number.
fn checked_fd(fd: RawFd) -> io::Result<RawFd> {
    if fd < 0 {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid file descriptor: {fd}"),
        ))
    } else {
        Ok(fd)
    }
}

/// The kernel object's fd, for nesting in another event loop.
///
/// # Panics
///
/// For the poll and select backends, which have no kernel object; use
/// [`Selector::try_as_fd`] when the backend is not known.
impl AsFd for Selector {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.try_as_fd()
            .expect("the poll and select backends have no kernel fd; use Selector::try_as_fd")
    }
}

/// See [`AsFd for Selector`](#impl-AsFd-for-Selector).
impl AsRawFd for Selector {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("backend", &self.backend)
            .field("fd", &self.try_as_fd().map(|fd| fd.as_raw_fd()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_change_racing_with_the_first_select_still_reaches_it() {
        // Replays the race deterministically: the change reads "no wake-up state yet", then a
        // first `select` creates it and blocks on a copy of the set without the change, then
        // the backend applies the change with no notifier to nudge. `change` must nudge.
        for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
            let s = Arc::new(Selector::with_backend(backend).unwrap());
            let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
            std::io::Write::write_all(&mut b, b"x").unwrap();
            let mut waiter = None;
            s.change(|wake| {
                assert!(wake.is_none());
                let s2 = s.clone();
                waiter = Some(std::thread::spawn(move || {
                    let mut events = Events::with_capacity(4);
                    s2.select(&mut events, None).unwrap();
                    events.iter().map(|e| e.token()).collect::<Vec<_>>()
                }));
                std::thread::sleep(Duration::from_millis(100)); // let it block
                dispatch!(&s.driver, d => d.register(a.as_raw_fd(), Token(1), Interest::READABLE, wake))
            })
            .unwrap();
            let got = within_10s(move || waiter.unwrap().join().unwrap());
            assert_eq!(got, [Token(1)], "{backend}");
        }
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

    #[test]
    fn reserved_token_and_negative_fd_are_refused() {
        for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
            let s = Selector::with_backend(backend).unwrap();
            let err = s
                .register(0, Token::NOTIFY, Interest::READABLE)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err = s.register(-1, Token(0), Interest::READABLE).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
