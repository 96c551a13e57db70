//! Deadlines: when a wait that may be interrupted and resumed must end. (The kernel's time
//! formats are `sys::time`'s.)

use crate::sys::Instant;
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
