//! Waking a blocked `select` from another thread.

use crate::sys::notify::NotifyFd;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The selector's wake-up state: the notifier fd and the coalescing flag.
#[derive(Debug)]
pub(crate) struct WakeState {
    notify: NotifyFd,
    /// A user wake-up is pending: set by `wake`, cleared by the select that consumes it.
    pending: AtomicBool,
}

impl WakeState {
    pub(crate) fn new() -> io::Result<WakeState> {
        Ok(WakeState {
            notify: NotifyFd::new()?,
            pending: AtomicBool::new(false),
        })
    }

    pub(crate) fn notify_fd(&self) -> &NotifyFd {
        &self.notify
    }

    /// A user wake-up: makes a blocked (or the next) `select` return. Many calls before the
    /// select consumes one write the notifier once.
    pub(crate) fn wake(&self) -> io::Result<()> {
        if self.pending.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.notify.notify()
    }

    /// Whether a user wake-up is pending (a `wake` now would be coalesced).
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// An internal nudge: a waiter re-reads the registration set and waits again.
    pub(crate) fn nudge(&self) -> io::Result<()> {
        self.notify.notify()
    }

    /// Called by a waiter whose wait saw the notifier readable; returns whether a user wake-up
    /// was pending. Drains first, then clears the flag, so a `wake` racing with this call is
    /// either consumed here or leaves the notifier readable for the next select.
    pub(crate) fn consume(&self) -> bool {
        self.notify.drain();
        self.pending.swap(false, Ordering::AcqRel)
    }
}

/// A handle that wakes a [`Selector`](crate::Selector) blocked in `select` from any thread.
///
/// [`wake`](Waker::wake) makes the blocked `select` (or, if none is blocked, the next one)
/// return promptly, with whatever events are ready (possibly none). Wake-ups that arrive
/// before a `select` consumes one are coalesced into a single wake-up. Waking a selector that
/// has been dropped does nothing. `wake` is one atomic swap and at most one `write(2)`, so it is
/// safe to call from a signal handler (Windows: one `send` of a byte on a socket pair).
///
/// # Examples
///
/// ```
/// use rselectors::{Events, Selector};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// let selector = Arc::new(Selector::new()?);
/// let waker = selector.waker();
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
    /// selector.waker().wake()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wake(&self) -> io::Result<()> {
        self.state.wake()
    }
}
