//! Waking a blocked `select` from another thread.

use crate::own::{Lazy, OwnFd};
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::sys::notify::NotifyFd;
use std::io;

/// The selector's wake-up state: the notifier (made at first need: see `crate::own`) and the
/// coalescing flag.
pub(crate) struct WakeState {
    pub(crate) notify: Lazy<NotifyFd>,
    /// A user wake-up is pending: set by `wake`, cleared by the select that consumes it.
    pending: AtomicBool,
}

impl WakeState {
    pub(crate) fn new() -> WakeState {
        WakeState {
            notify: Lazy::new(),
            pending: AtomicBool::new(false),
        }
    }

    /// Sets the pending flag; returns whether it was set already (this wake-up coalesces).
    /// A release (a waiter that reads the flag sees what was done before, a `shut_down`'s
    /// flag included) and an acquire (of a `consume` it follows); a wake-up that must reach a
    /// waiter about to block pairs with it through a fence (`OwnFds::wake`).
    pub(crate) fn set_pending(&self) -> bool {
        self.pending.swap(true, Ordering::AcqRel)
    }

    /// A [`Waker`]'s wake-up: the flag, and the notifier, which the `Waker`'s making made.
    /// Many calls before the select consumes one write the notifier once.
    pub(crate) fn wake(&self) -> io::Result<()> {
        if self.set_pending() {
            return Ok(());
        }
        self.nudge()
    }

    /// Whether a user wake-up is pending (a `wake` now would be coalesced). An acquire: a
    /// waiter about to block looks here after counting itself (`OwnFds::waiting`).
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// An internal nudge: a waiter re-reads the registration set and waits again. Nothing to
    /// do while there is no notifier: no wait watches one then.
    pub(crate) fn nudge(&self) -> io::Result<()> {
        match self.notify.ready() {
            Some(n) => n.notify(),
            None => Ok(()),
        }
    }

    /// Called by a waiter whose wait saw the notifier readable or the flag set; returns
    /// whether a user wake-up was pending. Drains first, then clears the flag, so a `wake`
    /// racing with this call is either consumed here or leaves the notifier readable for the
    /// next select.
    pub(crate) fn consume(&self) -> bool {
        if let Some(n) = self.notify.made() {
            n.drain();
        }
        self.pending.swap(false, Ordering::AcqRel)
    }
}

impl std::fmt::Debug for WakeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeState")
            .field("notify", &self.notify.made().map(OwnFd::watched))
            .field("pending", &self.pending)
            .finish()
    }
}

/// A handle that wakes a [`Selector`](crate::Selector) blocked in `select` from any thread.
///
/// [`wake`](Waker::wake) makes the blocked `select` (or, if none is blocked, the next one)
/// return promptly, with whatever events are ready (possibly none). Wake-ups that arrive
/// before a `select` consumes one are coalesced into a single wake-up. Waking a selector that
/// has been dropped does nothing. [`Selector::waker`](crate::Selector::waker) makes the
/// selector's notifier if it has none yet, so `wake` is one atomic swap and at most one
/// `write(2)`: safe to call from a signal handler (Windows: one `send` of a byte on a socket
/// pair).
///
/// # Examples
///
/// ```
/// use rselectors::{Events, Selector};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// let selector = Arc::new(Selector::new()?);
/// let waker = selector.waker()?;
/// let t = std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(50));
///     waker.wake().unwrap();
/// });
/// let start = Instant::now();
/// let mut events = Events::with_capacity(8);
/// selector.select(&mut events, Some(Duration::from_secs(10)))?;
/// assert!(events.is_empty() && start.elapsed() < Duration::from_secs(5));
/// t.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Waker {
    pub(crate) state: Arc<WakeState>,
}

impl Waker {
    /// What a wake-up writes to: `"eventfd"` (Linux, Android), `"socket pair"` (Windows: a
    /// connected pair of loopback TCP sockets) or `"pipe"` (a non-blocking pipe, elsewhere).
    ///
    /// ```
    /// assert!(["eventfd", "pipe", "socket pair"].contains(&rselectors::Waker::MECHANISM));
    /// ```
    pub const MECHANISM: &'static str = crate::sys::notify::KIND;

    /// Wakes the selector (see the type's documentation).
    ///
    /// ```
    /// # let selector = rselectors::Selector::new()?;
    /// selector.waker()?.wake()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wake(&self) -> io::Result<()> {
        self.state.wake()
    }
}
