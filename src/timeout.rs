//! Timeout arithmetic: deadlines and conversions to what each syscall takes.
//!
//! Every conversion rounds *up*: a wait is never shorter than asked, and a sub-millisecond
//! remainder never becomes a zero timeout (which would turn a wait into a busy poll).

use std::time::{Duration, Instant};

/// When a wait must end: `None` waits forever.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// The deadline `timeout` from now (`None`: never; a timeout too large for `Instant` is
    /// treated as never).
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|t| Instant::now().checked_add(t)))
    }

    /// Time left (`None`: forever, `Some(ZERO)`: expired).
    pub(crate) fn remaining(self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }
}

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

    #[test]
    fn deadlines() {
        assert_eq!(Deadline::after(None).remaining(), None);
        // Too large for Instant: treated as forever rather than overflowing.
        assert_eq!(
            Deadline::after(Some(Duration::from_secs(u64::MAX))).remaining(),
            None
        );
        let d = Deadline::after(Some(Duration::ZERO));
        assert!(d.expired());
        let d = Deadline::after(Some(Duration::from_secs(60)));
        let left = d.remaining().unwrap();
        assert!(left <= Duration::from_secs(60) && left > Duration::from_secs(59));
        assert!(!d.expired());
    }
}
