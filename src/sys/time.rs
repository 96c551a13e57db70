//! The kernel's time formats: whole milliseconds (`epoll_wait`, `poll`, `/dev/poll`),
//! `timespec` (`epoll_pwait2`, `ppoll`, `pselect`, `kevent`, `timerfd`) and winsock's
//! `timeval` (`select` on Windows).
//!
//! Every conversion rounds *up*: a wait is never shorter than asked, and a sub-millisecond
//! remainder never becomes a zero timeout (which would turn a wait into a busy poll).

use std::time::Duration;

/// Milliseconds for `epoll_wait`, `poll` and `/dev/poll`: `-1` for no timeout, otherwise the
/// timeout rounded up to a whole millisecond and clamped to `i32::MAX` (the caller's deadline
/// loop waits again if a clamped wait ends early).
#[cfg(unix)]
pub(crate) fn ceil_millis(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_millis() + u128::from(t.subsec_nanos() % 1_000_000 != 0);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    }
}

/// Seconds and nanoseconds for `timespec`-taking calls (`epoll_pwait2`, `ppoll`, `pselect`,
/// `kevent`), clamped to a year-scale maximum that every `time_t` can hold.
#[cfg(unix)]
pub(crate) fn timespec_parts(timeout: Duration) -> (i64, i64) {
    const MAX_SECS: u64 = i32::MAX as u64;
    if timeout.as_secs() >= MAX_SECS {
        (MAX_SECS as i64, 0)
    } else {
        (timeout.as_secs() as i64, i64::from(timeout.subsec_nanos()))
    }
}

/// `timeout` as a `timespec`, clamped as [`timespec_parts`]
/// says, for the calls that take one (`epoll_pwait2`, `ppoll`, `pselect`, `kevent`).
#[cfg(unix)]
pub(crate) fn timespec(timeout: Duration) -> libc::timespec {
    let (sec, nsec) = timespec_parts(timeout);
    libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    }
}

/// The pointer an optional `timespec` argument takes: null (wait forever) or `ts`.
#[cfg(unix)]
pub(crate) fn timespec_ptr(ts: &Option<libc::timespec>) -> *const libc::timespec {
    ts.as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec)
}

/// Seconds and microseconds for winsock's `timeval` (both `i32`): the timeout rounded up to
/// a whole microsecond, clamped to `i32::MAX` seconds (the caller's deadline loop waits again
/// if a clamped wait ends early).
// Off Windows only the tests use it.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn timeval_parts(timeout: Duration) -> (i32, i32) {
    let micros = timeout.subsec_nanos().div_ceil(1_000);
    let secs = timeout
        .as_secs()
        .saturating_add(u64::from(micros / 1_000_000));
    match i32::try_from(secs) {
        Ok(secs) => (secs, (micros % 1_000_000) as i32),
        Err(_) => (i32::MAX, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn millis_round_up() {
        assert_eq!(ceil_millis(None), -1);
        assert_eq!(ceil_millis(Some(Duration::ZERO)), 0);
        assert_eq!(ceil_millis(Some(Duration::from_nanos(1))), 1);
        assert_eq!(ceil_millis(Some(Duration::from_micros(999))), 1);
        assert_eq!(ceil_millis(Some(Duration::from_millis(1))), 1);
        assert_eq!(ceil_millis(Some(Duration::from_micros(1001))), 2);
        assert_eq!(ceil_millis(Some(Duration::from_secs(1))), 1000);
        assert_eq!(ceil_millis(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }

    #[test]
    fn timeval_rounds_up_and_clamps() {
        assert_eq!(timeval_parts(Duration::ZERO), (0, 0));
        assert_eq!(timeval_parts(Duration::from_nanos(1)), (0, 1));
        assert_eq!(timeval_parts(Duration::from_nanos(1_001)), (0, 2));
        assert_eq!(timeval_parts(Duration::from_micros(200)), (0, 200));
        assert_eq!(timeval_parts(Duration::new(1, 999_999_001)), (2, 0));
        assert_eq!(timeval_parts(Duration::new(3, 500_000_000)), (3, 500_000));
        assert_eq!(
            timeval_parts(Duration::from_secs(i32::MAX as u64)),
            (i32::MAX, 0)
        );
        assert_eq!(timeval_parts(Duration::from_secs(1 << 40)), (i32::MAX, 0));
        assert_eq!(timeval_parts(Duration::MAX), (i32::MAX, 0));
    }

    #[cfg(unix)]
    #[test]
    fn timespec_clamps() {
        assert_eq!(timespec_parts(Duration::new(3, 7)), (3, 7));
        assert_eq!(
            timespec_parts(Duration::from_secs(u64::MAX)),
            (i32::MAX as i64, 0)
        );
    }
}
