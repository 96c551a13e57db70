//! `kqueue(2)` / `kevent(2)`: create, apply changes, wait.
//!
//! The `kevent` struct differs between the BSDs: NetBSD's `filter` and `flags` are `u32` and
//! its `kevent` takes `size_t` counts, FreeBSD 12+ has an `ext` array, and `udata` has been an
//! `intptr_t` on NetBSD before 10. Everything width-dependent is confined to this file:
//! [`kevent`] builds a record and [`Kevent`]'s accessors read one with fixed types.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The kernel's event record (`struct kevent`).
///
/// A transparent wrapper so that buffers of it are `Send` and `Sync` (they live in
/// [`Events`](crate::Events), which callers move between threads): libc's `kevent` is neither
/// because `udata` is a raw pointer.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct Kevent(libc::kevent);

// SAFETY: `udata` is never dereferenced: this crate stores a token (an integer) in it and reads
// it back as an integer. Every other field is an integer.
unsafe impl Send for Kevent {}
// SAFETY: as above; a shared `&Kevent` only allows reading those integers.
unsafe impl Sync for Kevent {}

impl Kevent {
    /// The `ident` (an fd for the read and write filters).
    pub(crate) fn ident(&self) -> usize {
        self.0.ident as usize
    }

    /// The filter.
    pub(crate) fn filter(&self) -> Filter {
        self.0.filter
    }

    /// The flags (`EV_EOF`, `EV_ERROR`, ...).
    pub(crate) fn flags(&self) -> Flags {
        self.0.flags
    }

    /// The filter-specific data (the errno of an `EV_ERROR` receipt).
    pub(crate) fn data(&self) -> i64 {
        self.0.data as i64
    }

    /// The token stored in `udata`.
    pub(crate) fn udata(&self) -> usize {
        self.0.udata as usize
    }
}

/// The type of `kevent.filter` (`u32` on NetBSD, `i16` elsewhere).
#[cfg(target_os = "netbsd")]
pub(crate) type Filter = u32;
/// The type of `kevent.filter` (`u32` on NetBSD, `i16` elsewhere).
#[cfg(not(target_os = "netbsd"))]
pub(crate) type Filter = i16;

/// The type of `kevent.flags` (`u32` on NetBSD, `u16` elsewhere).
#[cfg(target_os = "netbsd")]
pub(crate) type Flags = u32;
/// The type of `kevent.flags` (`u32` on NetBSD, `u16` elsewhere).
#[cfg(not(target_os = "netbsd"))]
pub(crate) type Flags = u16;

/// The type of `kevent`'s `nchanges`/`nevents` (`size_t` on NetBSD, `int` elsewhere).
#[cfg(target_os = "netbsd")]
type Count = libc::size_t;
/// The type of `kevent`'s `nchanges`/`nevents` (`size_t` on NetBSD, `int` elsewhere).
#[cfg(not(target_os = "netbsd"))]
type Count = libc::c_int;

pub(crate) const EVFILT_READ: Filter = libc::EVFILT_READ;
pub(crate) const EVFILT_WRITE: Filter = libc::EVFILT_WRITE;
pub(crate) const EV_ADD: Flags = libc::EV_ADD;
pub(crate) const EV_DELETE: Flags = libc::EV_DELETE;
pub(crate) const EV_RECEIPT: Flags = libc::EV_RECEIPT;
pub(crate) const EV_EOF: Flags = libc::EV_EOF;
pub(crate) const EV_ERROR: Flags = libc::EV_ERROR;

/// A change or event record for `ident` (an fd) with `udata` carrying a token.
pub(crate) fn kevent(ident: RawFd, filter: Filter, flags: Flags, udata: usize) -> Kevent {
    // SAFETY: `kevent` is plain old data (integers, a pointer-sized `udata`, and on some
    // platforms an `ext` array of integers): the all-zero value is valid, and zero is what
    // the unused fields (`fflags`, `data`, `ext`) must be.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as libc::uintptr_t;
    ev.filter = filter;
    ev.flags = flags;
    // `udata` is `*mut c_void` on most platforms and `intptr_t` on older NetBSD: the token is
    // stored as an integer in either, never dereferenced.
    ev.udata = udata as _;
    Kevent(ev)
}

/// An owned kqueue.
#[derive(Debug)]
pub(crate) struct KqueueFd(OwnedFd);

impl KqueueFd {
    /// A new kqueue, close-on-exec.
    pub(crate) fn new() -> io::Result<KqueueFd> {
        #[cfg(target_os = "netbsd")]
        // SAFETY: kqueue1 takes no pointers.
        let fd = syscall!(kqueue1(libc::O_CLOEXEC))?;
        #[cfg(not(target_os = "netbsd"))]
        // SAFETY: kqueue takes no pointers.
        let fd = syscall!(kqueue())?;
        // SAFETY: `fd` was just returned by kqueue and is owned by nobody else.
        let kq = KqueueFd(unsafe { OwnedFd::from_raw_fd(fd) });
        #[cfg(not(target_os = "netbsd"))]
        // SAFETY: fcntl on an fd we own, with integer arguments only. (kqueues are not
        // inherited across fork, but they are across exec without this.)
        syscall!(fcntl(kq.0.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC))?;
        Ok(kq)
    }

    /// Applies `changes` (which must carry `EV_RECEIPT`) and stores one receipt per change in
    /// `receipts`: `EV_ERROR` set, `data` the errno or 0 for success. Returns the number of
    /// receipts. `Interrupted` on EINTR (the caller may re-apply: adds are idempotent).
    pub(crate) fn apply(&self, changes: &[Kevent], receipts: &mut [Kevent]) -> io::Result<usize> {
        assert!(
            receipts.len() >= changes.len(),
            "one receipt slot per change"
        );
        // A zero timeout: with EV_RECEIPT every change produces an entry, so nothing waits.
        let zero = super::time::timespec(Duration::ZERO);
        // SAFETY: `changes` is a valid slice read by the kernel, `receipts` a distinct writable
        // slice of at least `changes.len()` records (`Kevent` is a transparent `kevent`),
        // `zero` a live local.
        let n = syscall!(kevent(
            self.0.as_raw_fd(),
            changes.as_ptr().cast::<libc::kevent>(),
            changes.len() as Count,
            receipts.as_mut_ptr().cast::<libc::kevent>(),
            changes.len() as Count,
            &zero
        ))?;
        Ok(n as usize)
    }

    /// Waits for up to `max` (at least 1) events into `buf` (its length is set to the number
    /// received), with a nanosecond timeout (`None`: forever). `Interrupted` on EINTR.
    pub(crate) fn wait(
        &self,
        buf: &mut Vec<Kevent>,
        max: usize,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        // Never 0: kevent with nevents == 0 returns at once and the caller would busy-loop
        // (bpo-29255).
        let ts = timeout.map(super::time::timespec);
        let ts_ptr = super::time::timespec_ptr(&ts);
        // SAFETY: the closure returns the count of records the kernel call reported writing.
        unsafe {
            super::fill(buf, max, |ptr, max| {
                // SAFETY: no changes are passed; `ptr` has room for `max` records for the kernel
                // to write (`Kevent` is a transparent `kevent`); `ts_ptr` is null (wait forever)
                // or points to a live local.
                let n = syscall!(kevent(
                    self.0.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    ptr.cast::<libc::kevent>(),
                    max as Count,
                    ts_ptr
                ))?;
                Ok(n as usize)
            })
        }
    }
}

impl KqueueFd {
    /// Makes this fd number name `fresh`'s kernel object instead (see
    /// [`replace_fd`](super::replace_fd)).
    pub(crate) fn replace(&self, fresh: KqueueFd) -> io::Result<()> {
        super::replace_fd(&self.0, fresh.0)
    }
}

impl AsFd for KqueueFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
