//! Winsock `select()` (Windows) and its `fd_set` of any size.
//!
//! A winsock `fd_set` is not a bitmap but a count followed by that many `SOCKET`s, and
//! `select()` reads exactly `fd_count` of them: winsock's `FD_SETSIZE` (64, 512 in CPython's
//! build) only sizes the C declaration. [`SocketSet`] is that layout in a buffer sized by
//! what it holds, so a set has no ceiling. `select()` leaves in each set only its ready
//! sockets, moved to the front, and their count.
//!
//! [`SocketSet`] is plain data and builds (and is tested) everywhere; only [`select`] is
//! Windows-only. Winsock is initialised (`WSAStartup`) by std when it creates the selector's
//! first socket, its wake-up notifier (`super::notify`), which exists before any wait.
// Off Windows only the tests use the set.
#![cfg_attr(not(windows), allow(dead_code))]

use super::RawSource;

/// A winsock `fd_set` holding any number of sockets: one `SOCKET`-wide word for `fd_count`
/// (a `u32`, padded to a `SOCKET`'s alignment, in the low bytes: Windows is little-endian),
/// then the sockets.
#[derive(Clone, Debug)]
pub(crate) struct SocketSet {
    /// `words[0]`: the count; `words[1..]`: the sockets, of which the first `count` are in
    /// the set (after `select()`, the ready ones).
    words: Vec<usize>,
}

impl Default for SocketSet {
    fn default() -> SocketSet {
        SocketSet { words: vec![0] }
    }
}

impl SocketSet {
    /// Empties the set (its memory is kept for the next fill).
    pub(crate) fn clear(&mut self) {
        self.words.clear();
        self.words.push(0);
    }

    /// Adds `socket` (the caller adds each socket once).
    pub(crate) fn push(&mut self, socket: RawSource) {
        self.words.truncate(self.len() + 1);
        self.words.push(socket as usize);
        self.words[0] = self.words.len() - 1;
    }

    /// The number of sockets in the set: what `select()` left in `fd_count`, never more
    /// than the buffer holds.
    pub(crate) fn len(&self) -> usize {
        (self.words[0] as u32 as usize).min(self.words.len() - 1)
    }

    /// The sockets in the set, in order.
    pub(crate) fn sockets(&self) -> impl Iterator<Item = RawSource> + '_ {
        self.words[1..=self.len()].iter().map(|&w| w as RawSource)
    }

    /// Whether `socket` is in the set (a linear scan: for the few selector-owned sockets).
    pub(crate) fn contains(&self, socket: RawSource) -> bool {
        self.sockets().any(|s| s == socket)
    }

    /// The set as `select()` takes it: null when empty (winsock requires every set it is
    /// given to hold a socket), else the buffer.
    #[cfg(windows)]
    fn as_arg(&mut self) -> *mut windows_sys::Win32::Networking::WinSock::FD_SET {
        if self.len() == 0 {
            std::ptr::null_mut()
        } else {
            self.words.as_mut_ptr().cast()
        }
    }

    /// Sets the count as `select()` writes it, for tests standing in for the kernel.
    #[cfg(test)]
    pub(crate) fn set_kernel_count(&mut self, count: u32) {
        self.words[0] = count as usize;
    }

    /// Replaces the sockets with `ready`, moved to the front as `select()` leaves them.
    #[cfg(test)]
    pub(crate) fn keep_only(&mut self, ready: &[RawSource]) {
        let kept: Vec<RawSource> = self.sockets().filter(|s| ready.contains(s)).collect();
        for (i, s) in kept.iter().enumerate() {
            self.words[1 + i] = *s as usize;
        }
        self.set_kernel_count(kept.len() as u32);
    }
}

#[cfg(windows)]
mod kernel {
    use super::SocketSet;
    use crate::sys::time::timeval_parts;
    use std::io;
    use std::time::Duration;
    use windows_sys::Win32::Networking::WinSock::{
        select as ws_select, WSAGetLastError, FD_SET, SOCKET, SOCKET_ERROR, TIMEVAL,
    };

    // The layout `SocketSet` relies on: `fd_count` in a SOCKET-wide word, the sockets after it.
    const _: () = assert!(std::mem::size_of::<SOCKET>() == std::mem::size_of::<usize>());
    const _: () = assert!(std::mem::offset_of!(FD_SET, fd_array) == std::mem::size_of::<usize>());
    const _: () = assert!(cfg!(target_endian = "little"));

    /// `select(0, read, write, except, timeout)`: waits until a socket of the sets is ready
    /// (`except`: a failed non-blocking connect, or out-of-band data) or `timeout` passes
    /// (`None`: no timeout; microseconds, rounded up). Leaves only the ready sockets in each
    /// set; returns how many entries are ready. At least one set must hold a socket.
    /// `WSAENOTSOCK` if a set holds something that is not an open socket.
    pub(crate) fn select(
        read: &mut SocketSet,
        write: &mut SocketSet,
        except: &mut SocketSet,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let tv = timeout.map(|t| {
            let (tv_sec, tv_usec) = timeval_parts(t);
            TIMEVAL { tv_sec, tv_usec }
        });
        let tv_ptr = tv
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const TIMEVAL);
        // SAFETY: each set pointer is null or a live buffer in `fd_set` layout whose count
        // matches the sockets it holds (see `SocketSet`, and the layout checks above);
        // select writes only within `fd_count` entries. `tv_ptr` is null or a live local.
        // nfds is ignored by winsock.
        let n = unsafe { ws_select(0, read.as_arg(), write.as_arg(), except.as_arg(), tv_ptr) };
        if n == SOCKET_ERROR {
            // SAFETY: no arguments; reads this thread's last winsock error.
            return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
        }
        Ok(n as usize)
    }
}

#[cfg(windows)]
pub(crate) use kernel::select;

#[cfg(test)]
mod tests {
    use super::SocketSet;

    #[test]
    fn layout_is_count_then_sockets() {
        let mut set = SocketSet::default();
        assert_eq!(set.len(), 0);
        assert_eq!(set.words, [0]);
        for s in [40, 8, 1_000_000] {
            set.push(s);
        }
        assert_eq!(set.words, [3, 40, 8, 1_000_000]);
        assert_eq!(set.sockets().collect::<Vec<_>>(), [40, 8, 1_000_000]);
        assert!(set.contains(8) && !set.contains(9));
        set.clear();
        assert_eq!(set.words, [0]);
    }

    #[test]
    fn no_ceiling() {
        let mut set = SocketSet::default();
        for s in 0..5_000 {
            set.push(s * 4);
        }
        assert_eq!(set.len(), 5_000);
        assert_eq!(set.sockets().last(), Some(4 * 4_999));
    }

    #[test]
    fn reads_the_count_the_kernel_left() {
        let mut set = SocketSet::default();
        for s in [4, 8, 12, 16] {
            set.push(s);
        }
        // select() keeps the ready ones at the front and writes their count (a u32: the
        // padding above it is not the count's).
        set.keep_only(&[16, 8]);
        assert_eq!(set.sockets().collect::<Vec<_>>(), [8, 16]);
        set.words[0] |= !(u32::MAX as usize);
        assert_eq!(set.len(), 2);
        // A count beyond the buffer is clamped, never read past it.
        set.set_kernel_count(99);
        assert_eq!(set.len(), 4);
        // Pushing after a wait appends to what the set holds now.
        set.keep_only(&[12]);
        set.push(20);
        assert_eq!(set.sockets().collect::<Vec<_>>(), [12, 20]);
    }
}
