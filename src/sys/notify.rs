//! The wake-up fd: an `eventfd` on Linux and Android, a non-blocking pipe elsewhere.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the notifier is on this platform.
pub(crate) const KIND: &str = if cfg!(epoll_available) {
    "eventfd"
} else {
    "pipe"
};

/// A kernel object that becomes readable when notified, until drained.
#[derive(Debug)]
pub(crate) struct NotifyFd {
    read: OwnedFd,
    #[cfg(not(epoll_available))]
    write: OwnedFd,
}

impl NotifyFd {
    #[cfg(epoll_available)]
    pub(crate) fn new() -> io::Result<NotifyFd> {
        // SAFETY: eventfd takes no pointers.
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        let read = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(NotifyFd { read })
    }

    #[cfg(not(epoll_available))]
    pub(crate) fn new() -> io::Result<NotifyFd> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: `fds` is a valid array of two ints for pipe to fill.
        syscall!(pipe(fds.as_mut_ptr()))?;
        // SAFETY: both fds were just returned by pipe and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [read.as_raw_fd(), write.as_raw_fd()] {
            // SAFETY: fcntl on an fd we own, with integer arguments only.
            syscall!(fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
            // SAFETY: as above.
            let fl = syscall!(fcntl(fd, libc::F_GETFL))?;
            // SAFETY: as above.
            syscall!(fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK))?;
        }
        Ok(NotifyFd { read, write })
    }

    /// The fd to watch for readability.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Whether `fd` is one of this notifier's fds (the eventfd, or either end of the pipe).
    pub(crate) fn owns(&self, fd: RawFd) -> bool {
        #[cfg(not(epoll_available))]
        if fd == self.write.as_raw_fd() {
            return true;
        }
        fd == self.read.as_raw_fd()
    }

    /// Makes the fd readable. A full pipe or saturated counter is already readable, so
    /// `EAGAIN` is success. Async-signal-safe (one `write`).
    pub(crate) fn notify(&self) -> io::Result<()> {
        #[cfg(epoll_available)]
        let fd = self.read.as_raw_fd();
        #[cfg(not(epoll_available))]
        let fd = self.write.as_raw_fd();
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local; eventfd requires exactly 8, a pipe takes any.
        match syscall!(write(fd, (&one as *const u64).cast(), 8)) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether a notification is pending (a zero-timeout `poll` of the fd).
    pub(crate) fn is_readable(&self) -> io::Result<bool> {
        let mut fds = [super::poll::pollfd(self.raw_fd(), super::poll::POLLIN)];
        loop {
            match super::poll::poll(&mut fds, Some(std::time::Duration::ZERO)) {
                Ok(n) => return Ok(n > 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Consumes all pending notifications so the fd is no longer readable.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads at most `buf.len()` bytes into a live local buffer.
            match syscall!(read(
                self.read.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len()
            )) {
                // An eventfd read resets the counter at once; a pipe may need several reads.
                Ok(n) if cfg!(not(epoll_available)) && n > 0 => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NotifyFd;

    #[test]
    fn notify_then_drain() {
        let n = NotifyFd::new().unwrap();
        n.drain(); // nothing pending: returns at once (non-blocking)
        for _ in 0..1000 {
            n.notify().unwrap();
        }
        assert!(n.is_readable().unwrap());
        n.drain();
        assert!(!n.is_readable().unwrap());
        n.drain();
    }
}
