//! The model of the eventfd notifier (see the parent module): `crate::sys::notify`'s surface.

use super::{call, Kind};
use crate::RawSource;
use std::io;

pub(crate) const KIND: &str = "eventfd";

/// A notifier: readable while its counter is above zero.
#[derive(Debug)]
pub(crate) struct NotifyFd(RawSource);

impl NotifyFd {
    pub(crate) fn new() -> io::Result<NotifyFd> {
        Ok(NotifyFd(call(|st| {
            st.open(Kind::Notifier {
                count: 0,
                writes: 0,
            })
        })))
    }

    pub(crate) fn raw_fd(&self) -> RawSource {
        self.0
    }

    pub(crate) fn fds(&self) -> impl Iterator<Item = RawSource> {
        std::iter::once(self.0)
    }

    /// A write: the counter goes up by one.
    pub(crate) fn notify(&self) -> io::Result<()> {
        call(|st| {
            let object = st.object(self.0)?;
            if let Kind::Notifier { count, writes } = st.kind_mut(object) {
                *count += 1;
                *writes += 1;
            }
            super::trace(|| format!("writes notifier {}", self.0));
            Ok(())
        })
    }

    #[cfg(test)]
    pub(crate) fn is_readable(&self) -> io::Result<bool> {
        super::look(|st| Ok(st.readable(st.object(self.0)?)))
    }

    /// A read: the counter goes to zero.
    pub(crate) fn drain(&self) {
        call(|st| {
            if let Ok(object) = st.object(self.0) {
                if let Kind::Notifier { count, .. } = st.kind_mut(object) {
                    let had = std::mem::take(count);
                    super::trace(|| format!("drains notifier {} ({had})", self.0));
                }
            }
        });
    }
}

impl Drop for NotifyFd {
    fn drop(&mut self) {
        super::close(self.0);
    }
}
