//! The model of `poll(2)` (see the parent module): `crate::sys::poll`'s surface.

use super::{wait, State};
use std::io;
use std::time::Duration;

pub(crate) type PollFd = libc::pollfd;

pub(crate) const POLLIN: i16 = libc::POLLIN;
pub(crate) const POLLOUT: i16 = libc::POLLOUT;
pub(crate) const POLLERR: i16 = libc::POLLERR;
pub(crate) const POLLHUP: i16 = libc::POLLHUP;
pub(crate) const POLLNVAL: i16 = libc::POLLNVAL;
pub(crate) const POLLPRI: i16 = libc::POLLPRI;
pub(crate) const POLLRDHUP: i16 = libc::POLLRDHUP;

pub(crate) fn pollfd(fd: i32, events: i16) -> PollFd {
    PollFd {
        fd,
        events,
        revents: 0,
    }
}

/// Waits have nanosecond timeouts in the model.
pub(crate) const PRECISE: bool = true;

/// Sets each entry's `revents` (`POLLNVAL` for a number that names nothing) once one is
/// ready or the wait times out; returns how many are.
pub(crate) fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let look = |st: &mut State| {
        let revents: Vec<i16> = fds
            .iter()
            .map(|p| match st.object(p.fd) {
                Err(_) => POLLNVAL,
                Ok(o) => {
                    let bits = st.ready(o, p.events as u16 as u32, POLLIN as u32, POLLOUT as u32);
                    bits as u16 as i16
                }
            })
            .collect();
        let n = revents.iter().filter(|&&r| r != 0).count();
        (n > 0).then_some((revents, n))
    };
    let timers = |st: &State| st.first_expiry(fds.iter().filter_map(|p| st.object(p.fd).ok()));
    let (revents, n) = wait(timeout, look, timers).unwrap_or((vec![0; fds.len()], 0));
    for (p, r) in fds.iter_mut().zip(revents) {
        p.revents = r;
    }
    Ok(n)
}

/// Whether `fd` is readable now.
pub(crate) fn readable_now(fd: i32) -> io::Result<bool> {
    let mut fds = [pollfd(fd, POLLIN)];
    Ok(poll(&mut fds, Some(Duration::ZERO))? > 0)
}
