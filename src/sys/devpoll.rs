//! `/dev/poll` (illumos, Solaris, see `poll(4D)`): open, write `pollfd` records, `DP_POLL`.
//!
//! libc has no bindings for `<sys/devpoll.h>`: `dvpoll` and `DP_POLL` are declared here with
//! the header's layout and values (the same on illumos and Solaris).

use super::time::ceil_millis;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The record written to register and returned by `DP_POLL`.
pub(crate) type PollFd = libc::pollfd;

/// `struct dvpoll` from `<sys/devpoll.h>`: the argument of `DP_POLL`.
#[repr(C)]
struct DvPoll {
    /// Where the kernel writes ready fds.
    dp_fds: *mut PollFd,
    /// How many records fit in `dp_fds`.
    dp_nfds: libc::nfds_t,
    /// Milliseconds; -1 waits forever.
    dp_timeout: libc::c_int,
}

/// `DP_POLL = (DPIOC | 1)` with `DPIOC = 0xD0 << 8`, from `<sys/devpoll.h>`.
const DP_POLL: libc::c_int = (0xD0 << 8) | 1;

/// An owned `/dev/poll` handle.
#[derive(Debug)]
pub(crate) struct DevPollFd(OwnedFd);

impl DevPollFd {
    /// Opens `/dev/poll` (read-write, close-on-exec). Each open is a separate set.
    pub(crate) fn new() -> io::Result<DevPollFd> {
        // SAFETY: the path is a NUL-terminated literal; open copies it before returning.
        let fd = syscall!(open(c"/dev/poll".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC))?;
        // SAFETY: `fd` was just returned by open and is owned by nobody else.
        Ok(DevPollFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Writes `records` to the set: each adds its `events` to the fd's (the kernel ORs them
    /// into an existing registration), or removes the fd if `events` is `POLLREMOVE`.
    /// `Interrupted` on EINTR (nothing was applied: the kernel only reports success after
    /// applying the whole write).
    pub(crate) fn write(&self, records: &[PollFd]) -> io::Result<()> {
        let len = std::mem::size_of_val(records);
        // SAFETY: `records` is a live slice of `len` bytes for the kernel to copy.
        let n = syscall!(write(self.0.as_raw_fd(), records.as_ptr().cast(), len))?;
        if n as usize != len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to /dev/poll",
            ));
        }
        Ok(())
    }

    /// `DP_POLL`: waits up to `timeout` (rounded up to whole milliseconds; `None`: forever)
    /// for up to `max` (at least 1) ready fds, stored in `buf` (its length is set to the
    /// number received). `Interrupted` on EINTR.
    pub(crate) fn poll(
        &self,
        buf: &mut Vec<PollFd>,
        max: usize,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        // SAFETY: the closure returns the count of records the kernel call reported writing.
        unsafe {
            super::fill(buf, max, |ptr, max| {
                let mut arg = DvPoll {
                    dp_fds: ptr,
                    dp_nfds: max as libc::nfds_t,
                    dp_timeout: ceil_millis(timeout),
                };
                // SAFETY: `arg` is a live local describing `max` writable records; the kernel
                // writes at most `dp_nfds` of them.
                let n = syscall!(ioctl(self.0.as_raw_fd(), DP_POLL, &mut arg as *mut DvPoll))?;
                Ok(n as usize)
            })
        }
    }
}

impl DevPollFd {
    /// Makes this fd number name `fresh`'s kernel object instead (see
    /// [`replace_fd`](super::replace_fd)).
    pub(crate) fn replace(&self, fresh: DevPollFd) -> io::Result<()> {
        super::replace_fd(&self.0, fresh.0)
    }
}

impl AsFd for DevPollFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
