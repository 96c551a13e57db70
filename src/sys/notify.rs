//! The wake-up fd: an `eventfd` on Linux and Android, a non-blocking pipe on other Unix
//! systems, a connected loopback TCP socket pair on Windows.
//!
//! Windows: winsock's `select()` watches sockets only, so the notifier is a socket; a pair is
//! the classic (CPython's `socket.socketpair()` on Windows, libevent, asyncio's self-pipe
//! there). TCP rather than one UDP socket sending to itself: a stream never drops a byte,
//! so no notification can be lost, while UDP promises no delivery. std makes the sockets (non-inheritable; std also initialises winsock), so this
//! needs no unsafe code.

use std::io;
#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the notifier is on this platform.
pub(crate) const KIND: &str = if cfg!(epoll_available) {
    "eventfd"
} else if cfg!(windows) {
    "socket pair"
} else {
    "pipe"
};

/// A kernel object that becomes readable when notified, until drained.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct NotifyFd {
    read: OwnedFd,
    #[cfg(not(epoll_available))]
    write: OwnedFd,
}

#[cfg(unix)]
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

    /// This notifier's fds: the eventfd, or both ends of the pipe.
    pub(crate) fn fds(&self) -> impl Iterator<Item = RawFd> {
        let fds = [
            Some(self.read.as_raw_fd()),
            #[cfg(not(epoll_available))]
            Some(self.write.as_raw_fd()),
        ];
        fds.into_iter().flatten()
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
    #[cfg(test)]
    pub(crate) fn is_readable(&self) -> io::Result<bool> {
        super::poll::readable_now(self.raw_fd())
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

/// A connected pair of loopback TCP sockets, non-blocking: notifying writes a byte to one,
/// which makes the other readable until drained.
#[cfg(windows)]
#[derive(Debug)]
pub(crate) struct NotifyFd {
    read: std::net::TcpStream,
    write: std::net::TcpStream,
}

#[cfg(windows)]
impl NotifyFd {
    pub(crate) fn new() -> io::Result<NotifyFd> {
        use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .or_else(|_| TcpListener::bind((Ipv6Addr::LOCALHOST, 0)))?;
        let write = TcpStream::connect(listener.local_addr()?)?;
        let ours = write.local_addr()?;
        // Any local process may connect to the listener while it is open: take our own
        // connection (queued since `connect` returned), and close any other.
        let read = loop {
            let (stream, peer) = listener.accept()?;
            if peer == ours {
                break stream;
            }
        };
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        write.set_nodelay(true)?;
        Ok(NotifyFd { read, write })
    }

    /// The socket to watch for readability.
    pub(crate) fn raw_fd(&self) -> super::RawSource {
        std::os::windows::io::AsRawSocket::as_raw_socket(&self.read)
    }

    /// This notifier's two sockets.
    pub(crate) fn fds(&self) -> impl Iterator<Item = super::RawSource> {
        use std::os::windows::io::AsRawSocket;
        [self.read.as_raw_socket(), self.write.as_raw_socket()].into_iter()
    }

    /// Makes the read socket readable: one `send` of one byte. A full buffer is already
    /// readable, so `WSAEWOULDBLOCK` is success.
    pub(crate) fn notify(&self) -> io::Result<()> {
        use std::io::Write;
        loop {
            match (&self.write).write(&[1]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                other => return other.map(drop),
            }
        }
    }

    /// Consumes all pending notifications so the socket is no longer readable.
    pub(crate) fn drain(&self) {
        use std::io::Read;
        let mut buf = [0u8; 64];
        loop {
            match (&self.read).read(&mut buf) {
                Ok(n) if n > 0 => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return,
            }
        }
    }
}

#[cfg(all(test, unix))]
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
