//! The model of the timerfd (see the parent module): `crate::sys::timer`'s surface.

use super::{call, Kind};
use crate::RawSource;
use std::io;
use std::time::Duration;

/// A one-shot timer: readable once the model's clock reaches its expiry.
#[derive(Debug)]
pub(crate) struct Timer(RawSource);

impl Timer {
    pub(crate) fn new() -> io::Result<Timer> {
        Ok(Timer(call(|st| st.open(Kind::Timer { expires: None }))))
    }

    pub(crate) fn fd(&self) -> RawSource {
        self.0
    }

    pub(crate) fn arm(&self, after: Duration) -> io::Result<()> {
        self.set(Some(after.max(Duration::from_nanos(1))))
    }

    pub(crate) fn disarm(&self) -> io::Result<()> {
        self.set(None)
    }

    fn set(&self, after: Option<Duration>) -> io::Result<()> {
        call(|st| {
            let object = st.object(self.0)?;
            let at = after.map(|a| st.now().saturating_add(a));
            if let Kind::Timer { expires } = st.kind_mut(object) {
                *expires = at;
            }
            Ok(())
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        super::close(self.0);
    }
}
