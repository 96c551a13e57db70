//! A slack-free timer for sub-millisecond waits: a `timerfd` on Linux and Android.
//!
//! The kernel lets the timeout of `epoll_pwait2`, `ppoll` and `pselect` fire up to the
//! thread's timer slack late (50 µs by default), which is most of a sub-millisecond wait; a
//! timerfd's expiry has no slack. Elsewhere there is no such timer and [`Timer::fd`] is
//! `None`.

use super::RawSource;
use std::io;
use std::time::Duration;

#[cfg(epoll_available)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A one-shot monotonic timer whose fd is readable once it expires (Linux), or nothing.
#[derive(Debug)]
pub(crate) struct Timer {
    #[cfg(epoll_available)]
    fd: OwnedFd,
}

impl Timer {
    #[cfg(epoll_available)]
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

    #[cfg(not(epoll_available))]
    pub(crate) fn new() -> io::Result<Timer> {
        Ok(Timer {})
    }

    /// The fd to watch for readability, where there is a timer.
    pub(crate) fn fd(&self) -> Option<RawSource> {
        #[cfg(epoll_available)]
        return Some(self.fd.as_raw_fd());
        #[cfg(not(epoll_available))]
        None
    }

    /// Starts the timer: its fd becomes readable `after` from now (at least 1 ns). Returns
    /// `false` where there is no timer.
    pub(crate) fn arm(&self, after: Duration) -> io::Result<bool> {
        #[cfg(epoll_available)]
        {
            let value = super::time::timespec(after.max(Duration::from_nanos(1)));
            self.set(value)?;
            Ok(true)
        }
        #[cfg(not(epoll_available))]
        {
            let _ = after;
            Ok(false)
        }
    }

    /// Stops the timer and clears an expiry it had: its fd is no longer readable.
    pub(crate) fn disarm(&self) -> io::Result<()> {
        #[cfg(epoll_available)]
        return self.set(super::time::timespec(Duration::ZERO));
        #[cfg(not(epoll_available))]
        Ok(())
    }

    /// `timerfd_settime` with a one-shot relative `value` (zero disarms). Setting the timer
    /// also resets its expiry count, so the fd is not readable until `value` passes.
    #[cfg(epoll_available)]
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

#[cfg(all(test, epoll_available))]
mod tests {
    use super::Timer;
    use crate::sys::poll::{self, POLLIN};
    use std::time::{Duration, Instant};

    fn readable(t: &Timer, wait: Duration) -> bool {
        let mut fds = [poll::pollfd(t.fd().unwrap(), POLLIN)];
        poll::poll(&mut fds, Some(wait)).unwrap() == 1
    }

    #[test]
    fn fires_once_armed_and_disarm_clears_it() {
        let t = Timer::new().unwrap();
        assert!(!readable(&t, Duration::ZERO));
        let start = Instant::now();
        assert!(t.arm(Duration::from_micros(200)).unwrap());
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
