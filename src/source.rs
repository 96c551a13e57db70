//! What can be registered: anything that names a file descriptor (a socket on Windows).

pub use crate::sys::RawSource;
#[cfg(unix)]
use std::os::fd::{AsRawFd, BorrowedFd};
#[cfg(windows)]
use std::os::windows::io::{AsRawSocket, BorrowedSocket};

/// Something that names a file descriptor: a raw fd number, a [`BorrowedFd`], or a reference to
/// any `AsRawFd` type (sockets, pipes, files, `OwnedFd`, another [`Selector`](crate::Selector)).
/// On Windows, where only sockets can be waited on, it names a `SOCKET`: a raw socket
/// ([`RawSource`] is `RawSocket` there), a `BorrowedSocket`, or a reference to any
/// `AsRawSocket` type.
///
/// The selector keeps only the number; it never takes ownership or closes it.
///
/// # Examples
///
/// ```ignore-windows
/// use rselectors::{Interest, Selector, Token};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// let (a, b) = UnixStream::pair()?;
/// let selector = Selector::new()?;
/// selector.register(&a, Token(0), Interest::READABLE)?; // a reference
/// selector.register(b.as_raw_fd(), Token(1), Interest::READABLE)?; // a raw fd
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Source {
    /// The fd number (Windows: the SOCKET).
    fn raw_fd(&self) -> RawSource;
}

impl Source for RawSource {
    fn raw_fd(&self) -> RawSource {
        *self
    }
}

#[cfg(unix)]
impl Source for BorrowedFd<'_> {
    fn raw_fd(&self) -> RawSource {
        self.as_raw_fd()
    }
}

#[cfg(unix)]
impl<T: AsRawFd + ?Sized> Source for &T {
    fn raw_fd(&self) -> RawSource {
        (**self).as_raw_fd()
    }
}

#[cfg(windows)]
impl Source for BorrowedSocket<'_> {
    fn raw_fd(&self) -> RawSource {
        self.as_raw_socket()
    }
}

#[cfg(windows)]
impl<T: AsRawSocket + ?Sized> Source for &T {
    fn raw_fd(&self) -> RawSource {
        (**self).as_raw_socket()
    }
}

/// Whether the selector can hold `fd`: a number from 0 to `i32::MAX`. On Windows that is
/// every SOCKET: a socket is a kernel handle, and handles are 32-bit values (sign-extended
/// on 64-bit Windows) whose negative ones are pseudo-handles, never sockets;
/// `INVALID_SOCKET` is out.
#[cfg(unix)]
pub(crate) fn in_range(fd: RawSource) -> bool {
    fd >= 0
}

#[cfg(windows)]
pub(crate) fn in_range(fd: RawSource) -> bool {
    fd <= i32::MAX as RawSource
}
