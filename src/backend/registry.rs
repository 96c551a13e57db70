//! The registrations of a backend that keeps them in user space (poll, select, winsock, kqueue,
//! /dev/poll): fd -> what the backend needs to know, with the errors every backend reports
//! in the same words.

use super::{already_registered, not_registered};
use crate::fdmap::FdMap;
use crate::own::OwnFds;
use crate::RawSource;
use std::io;
use std::ops::{Deref, DerefMut};

/// An [`FdMap`] of registrations with the checks of `register`, `modify` and `unregister`.
pub(crate) struct Registry<T>(FdMap<T>);

impl<T> Default for Registry<T> {
    fn default() -> Registry<T> {
        Registry(FdMap::new())
    }
}

impl<T> Registry<T> {
    /// `AlreadyExists` if `fd` is registered (for backends that ask the kernel between the
    /// check and [`insert`](FdMap::insert)), and the closed-fd error if it is one of the
    /// selector's `own` fds: checked under the backend's lock, which is also held while an
    /// own fd is made, so no registration can take an own fd's number (`crate::own`).
    pub(crate) fn vacant(&self, fd: RawSource, own: &OwnFds) -> io::Result<()> {
        own.refuse(fd)?;
        if self.0.contains(fd) {
            return Err(already_registered(fd));
        }
        Ok(())
    }

    /// Registers `fd`: refused as [`vacant`](Self::vacant) refuses.
    pub(crate) fn add(&mut self, fd: RawSource, value: T, own: &OwnFds) -> io::Result<()> {
        self.vacant(fd, own)?;
        self.0.insert(fd, value);
        Ok(())
    }

    /// `fd`'s registration: `NotFound` if it is not registered.
    #[cfg(unix)]
    pub(crate) fn registered(&self, fd: RawSource) -> io::Result<&T> {
        self.0.get(fd).ok_or_else(|| not_registered(fd))
    }

    /// `fd`'s registration, to change it: `NotFound` if it is not registered.
    pub(crate) fn entry(&mut self, fd: RawSource) -> io::Result<&mut T> {
        self.0.get_mut(fd).ok_or_else(|| not_registered(fd))
    }

    /// Unregisters `fd`, returning its registration: `NotFound` if it is not registered.
    pub(crate) fn take(&mut self, fd: RawSource) -> io::Result<T> {
        self.0.remove(fd).ok_or_else(|| not_registered(fd))
    }
}

impl<T> Deref for Registry<T> {
    type Target = FdMap<T>;
    fn deref(&self) -> &FdMap<T> {
        &self.0
    }
}

impl<T> DerefMut for Registry<T> {
    fn deref_mut(&mut self) -> &mut FdMap<T> {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;
    use crate::own::OwnFds;
    use std::io::ErrorKind;

    #[test]
    fn checks_and_words() {
        let mut r = Registry::default();
        let own = OwnFds::new();
        r.add(5, 'a', &own).unwrap();
        let err = r.add(5, 'b', &own).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(err.to_string(), "fd 5 is already registered");
        *r.entry(5).unwrap() = 'c';
        assert_eq!(r.take(5).unwrap(), 'c');
        for err in [r.entry(5).unwrap_err(), r.take(5).unwrap_err()] {
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert_eq!(err.to_string(), "fd 5 is not registered");
        }
    }

    #[test]
    fn an_own_fds_number_is_refused_as_a_closed_fd() {
        let mut r = Registry::default();
        let own = OwnFds::with_notifier();
        let n = own.notify_fd().raw_fd();
        let err = r.add(n, 'a', &own).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(crate::sys::CLOSED));
        assert!(!r.contains(n));
    }
}
