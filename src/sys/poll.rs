//! `poll(2)` / `ppoll(2)`.

use std::io;
use std::time::Duration;

pub(crate) type PollFd = libc::pollfd;

pub(crate) const POLLIN: i16 = libc::POLLIN;
pub(crate) const POLLOUT: i16 = libc::POLLOUT;
pub(crate) const POLLERR: i16 = libc::POLLERR;
pub(crate) const POLLHUP: i16 = libc::POLLHUP;
pub(crate) const POLLNVAL: i16 = libc::POLLNVAL;
pub(crate) const POLLPRI: i16 = libc::POLLPRI;
/// The peer shut down writing: Linux and Android only (0 elsewhere: poll cannot wait for it).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const POLLRDHUP: i16 = libc::POLLRDHUP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const POLLRDHUP: i16 = 0;

/// A `pollfd` watching `fd` for `events`.
pub(crate) fn pollfd(fd: i32, events: i16) -> PollFd {
    PollFd {
        fd,
        events,
        revents: 0,
    }
}

/// Whether this platform has `ppoll`, so that poll waits have nanosecond timeouts.
pub(crate) const PRECISE: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
));

/// Polls `fds`, returning how many have non-zero `revents`. A timeout with a
/// sub-millisecond part goes through `ppoll` (nanoseconds) where the platform has it
/// ([`PRECISE`]); every other wait, and every wait elsewhere, through plain `poll` with whole
/// milliseconds rounded up (`ppoll` costs more per call for the same wait). `Interrupted` on
/// EINTR.
pub(crate) fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    if let Some(t) = timeout.filter(|t| t.subsec_nanos() % 1_000_000 != 0) {
        let ts = super::time::timespec(t);
        // SAFETY: `fds` is a valid slice of pollfd for the kernel to update, `ts` is a live
        // local, a null sigmask leaves the mask unchanged.
        let n = syscall!(ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null()
        ))?;
        return Ok(n as usize);
    }
    let ms = super::time::ceil_millis(timeout);
    // SAFETY: `fds` is a valid slice of pollfd for the kernel to update.
    let n = syscall!(poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms))?;
    Ok(n as usize)
}

/// Whether `fd` is readable now (a zero-timeout `poll` of it, retried on EINTR).
pub(crate) fn readable_now(fd: i32) -> io::Result<bool> {
    let mut fds = [pollfd(fd, POLLIN)];
    loop {
        match poll(&mut fds, Some(Duration::ZERO)) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
