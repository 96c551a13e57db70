//! What can be registered: anything that names a file descriptor.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Something that names a file descriptor: a raw fd number, a [`BorrowedFd`], or a reference to
/// any `AsRawFd` type (sockets, pipes, files, `OwnedFd`, another [`Selector`](crate::Selector)).
///
/// The selector keeps only the fd number; it never takes ownership or closes it.
///
/// # Examples
///
/// ```
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
    /// The fd number.
    fn raw_fd(&self) -> RawFd;
}

impl Source for RawFd {
    fn raw_fd(&self) -> RawFd {
        *self
    }
}

impl Source for BorrowedFd<'_> {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

impl<T: AsRawFd + ?Sized> Source for &T {
    fn raw_fd(&self) -> RawFd {
        (**self).as_raw_fd()
    }
}
