//! `select(2)` / `pselect(2)` and a bounds-checked `fd_set`.

use std::io;
use std::time::Duration;

/// Fds at or above this cannot be in an `fd_set`.
pub(crate) const FD_SETSIZE: i32 = libc::FD_SETSIZE as i32;

/// A safe `fd_set`: every fd is checked against `FD_SETSIZE` before the libc macros run.
#[derive(Clone, Copy)]
pub(crate) struct FdSet(libc::fd_set);

impl Default for FdSet {
    fn default() -> FdSet {
        let mut set = std::mem::MaybeUninit::<libc::fd_set>::uninit();
        // SAFETY: FD_ZERO initialises every byte of the set.
        unsafe {
            libc::FD_ZERO(set.as_mut_ptr());
            FdSet(set.assume_init())
        }
    }
}

impl FdSet {
    fn in_range(fd: i32) -> bool {
        (0..FD_SETSIZE).contains(&fd)
    }

    /// Adds `fd` (ignored if out of range).
    pub(crate) fn insert(&mut self, fd: i32) {
        if Self::in_range(fd) {
            // SAFETY: 0 <= fd < FD_SETSIZE, so the bit is inside the set.
            unsafe { libc::FD_SET(fd, &mut self.0) };
        }
    }

    /// Removes `fd` (ignored if out of range).
    pub(crate) fn remove(&mut self, fd: i32) {
        if Self::in_range(fd) {
            // SAFETY: 0 <= fd < FD_SETSIZE.
            unsafe { libc::FD_CLR(fd, &mut self.0) };
        }
    }

    /// Whether `fd` is in the set.
    pub(crate) fn contains(&self, fd: i32) -> bool {
        // SAFETY: 0 <= fd < FD_SETSIZE.
        Self::in_range(fd) && unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}

/// `select(nfds, read, write, except, timeout)` with a nanosecond timeout (`pselect`);
/// `except` (exceptional conditions: priority data) may be left out (NULL). Returns the
/// number of ready bits. `Interrupted` on EINTR.
pub(crate) fn select(
    nfds: i32,
    read: &mut FdSet,
    write: &mut FdSet,
    except: Option<&mut FdSet>,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let ts = timeout.map(super::time::timespec);
    let ts_ptr = super::time::timespec_ptr(&ts);
    let except_ptr = except.map_or(std::ptr::null_mut(), |set| &mut set.0 as *mut libc::fd_set);
    // SAFETY: the sets are live (`except_ptr` is null or a live set) and `nfds <=
    // FD_SETSIZE` (checked by the caller's FdSet use), `ts_ptr` is null or a live local, a
    // null sigmask leaves the mask unchanged.
    let n = syscall!(pselect(
        nfds.min(FD_SETSIZE),
        &mut read.0,
        &mut write.0,
        except_ptr,
        ts_ptr,
        std::ptr::null()
    ))?;
    Ok(n as usize)
}
