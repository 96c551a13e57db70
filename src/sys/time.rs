//! The kernel's time formats: whole milliseconds (`epoll_wait`, `poll`, `/dev/poll`) and
//! `timespec` (`epoll_pwait2`, `ppoll`, `pselect`, `kevent`, `timerfd`).
//!
//! Every conversion rounds *up*: a wait is never shorter than asked, and a sub-millisecond
//! remainder never becomes a zero timeout (which would turn a wait into a busy poll).

use std::time::Duration;

/// Milliseconds for `epoll_wait`, `poll` and `/dev/poll`: `-1` for no timeout, otherwise the
/// timeout rounded up to a whole millisecond and clamped to `i32::MAX` (the caller's deadline
/// loop waits again if a clamped wait ends early).
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
pub(crate) fn timespec(timeout: Duration) -> libc::timespec {
    let (sec, nsec) = timespec_parts(timeout);
    libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    }
}

/// The pointer an optional `timespec` argument takes: null (wait forever) or `ts`.
pub(crate) fn timespec_ptr(ts: &Option<libc::timespec>) -> *const libc::timespec {
    ts.as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn timespec_clamps() {
        assert_eq!(timespec_parts(Duration::new(3, 7)), (3, 7));
        assert_eq!(
            timespec_parts(Duration::from_secs(u64::MAX)),
            (i32::MAX as i64, 0)
        );
    }
}
