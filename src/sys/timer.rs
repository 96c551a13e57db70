//! A slack-free timer for sub-millisecond waits: a `timerfd` (Linux and Android only; other
//! systems have no such timer and wait on the kernel's own timeout).
//!
//! The kernel lets the timeout of `epoll_pwait2`, `ppoll` and `pselect` fire up to the
//! thread's timer slack late (50 µs by default), which is most of a sub-millisecond wait; a
//! timerfd's expiry has no slack.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A one-shot monotonic timer whose fd is readable once it expires.
#[derive(Debug)]
pub(crate) struct Timer {
    fd: OwnedFd,
}

impl Timer {
    pub(crate) fn new() -> io::Result<Timer> {
        // SAFETY: timerfd_create takes no pointers.
        let fd = syscall!(timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_CLOEXEC | libc::TFD_NONBLOCK
        ))?;
        // SAFETY: `fd` was just returned by timerfd_create and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Timer { fd })
    }

    /// The fd to watch for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Starts the timer: its fd becomes readable `after` from now (at least 1 ns).
    pub(crate) fn arm(&self, after: Duration) -> io::Result<()> {
        self.set(super::time::timespec(after.max(Duration::from_nanos(1))))
    }

    /// Stops the timer and clears an expiry it had: its fd is no longer readable.
    pub(crate) fn disarm(&self) -> io::Result<()> {
        self.set(super::time::timespec(Duration::ZERO))
    }

    /// `timerfd_settime` with a one-shot relative `value` (zero disarms). Setting the timer
    /// also resets its expiry count, so the fd is not readable until `value` passes.
    fn set(&self, value: libc::timespec) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: super::time::timespec(Duration::ZERO),
            it_value: value,
        };
        // SAFETY: `spec` is a live local the kernel reads; a null old value is allowed.
        syscall!(timerfd_settime(
            self.fd.as_raw_fd(),
            0,
            &spec,
            std::ptr::null_mut()
        ))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Timer;
    use crate::sys::poll::{self, POLLIN};
    use std::time::{Duration, Instant};

    fn readable(t: &Timer, wait: Duration) -> bool {
        let mut fds = [poll::pollfd(t.fd(), POLLIN)];
        poll::poll(&mut fds, Some(wait)).unwrap() == 1
    }

    #[test]
    fn fires_once_armed_and_disarm_clears_it() {
        let t = Timer::new().unwrap();
        assert!(!readable(&t, Duration::ZERO));
        let start = Instant::now();
        t.arm(Duration::from_micros(200)).unwrap();
        assert!(readable(&t, Duration::from_secs(5)));
        assert!(start.elapsed() >= Duration::from_micros(200));
        t.disarm().unwrap();
        assert!(!readable(&t, Duration::ZERO));
        // Disarmed before it fires: it never does.
        t.arm(Duration::from_millis(5)).unwrap();
        t.disarm().unwrap();
        assert!(!readable(&t, Duration::from_millis(20)));
    }
}
