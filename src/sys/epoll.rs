//! `epoll(7)`: create, control and wait.

use super::time::ceil_millis;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

pub(crate) type EpollEvent = libc::epoll_event;

pub(crate) const EPOLLIN: u32 = libc::EPOLLIN as u32;
pub(crate) const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
pub(crate) const EPOLLERR: u32 = libc::EPOLLERR as u32;
pub(crate) const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
pub(crate) const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;
pub(crate) const EPOLLPRI: u32 = libc::EPOLLPRI as u32;
pub(crate) const EPOLLEXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

/// An owned epoll instance.
#[derive(Debug)]
pub(crate) struct EpollFd(OwnedFd);

/// Whether `epoll_pwait2` (Linux 5.11+) is usable: [`UNTRIED`], [`WORKS`] or [`REFUSED`]
/// (set on the first `ENOSYS` or `EPERM`).
#[cfg(target_os = "linux")]
static PWAIT2: AtomicU8 = AtomicU8::new(UNTRIED);
#[cfg(not(target_os = "linux"))]
static PWAIT2: AtomicU8 = AtomicU8::new(REFUSED);
const UNTRIED: u8 = 0;
const WORKS: u8 = 1;
const REFUSED: u8 = 2;

pub(crate) enum Op {
    Add,
    Modify,
    Delete,
}

impl EpollFd {
    pub(crate) fn new() -> io::Result<EpollFd> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        Ok(EpollFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// `epoll_ctl(op, fd, {events, data})`.
    pub(crate) fn ctl(&self, op: Op, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let op = match op {
            Op::Add => libc::EPOLL_CTL_ADD,
            Op::Modify => libc::EPOLL_CTL_MOD,
            Op::Delete => libc::EPOLL_CTL_DEL,
        };
        let mut event = EpollEvent { events, u64: data };
        // SAFETY: `event` is a live local; the kernel copies it before returning.
        syscall!(epoll_ctl(self.0.as_raw_fd(), op, fd, &mut event))?;
        Ok(())
    }

    /// Waits for up to `max` events into `buf` (its length is set to the number received).
    /// With `epoll_pwait2` the timeout has nanosecond resolution; otherwise it is rounded up
    /// to whole milliseconds. `Interrupted` on EINTR.
    pub(crate) fn wait(
        &self,
        buf: &mut Vec<EpollEvent>,
        max: usize,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        // SAFETY: the closure returns the count of records the kernel call reported writing.
        unsafe {
            super::fill(buf, max, |ptr, max| {
                let n = match timeout {
                    Some(t) if !t.is_zero() && t.subsec_nanos() % 1_000_000 != 0 => {
                        self.pwait2(ptr, max, t)?
                    }
                    _ => {
                        // SAFETY: `ptr` has room for `max` epoll_event records.
                        syscall!(epoll_wait(
                            self.0.as_raw_fd(),
                            ptr,
                            max as i32,
                            ceil_millis(timeout)
                        ))?
                    }
                };
                Ok(n as usize)
            })
        }
    }

    /// A wait with a sub-millisecond part: `epoll_pwait2` when the kernel has it.
    fn pwait2(&self, ptr: *mut EpollEvent, max: usize, timeout: Duration) -> io::Result<i32> {
        #[cfg(target_os = "linux")]
        if PWAIT2.load(Ordering::Relaxed) != REFUSED {
            let ts = super::time::timespec(timeout);
            // SAFETY: `ptr` has room for `max` events, `ts` is a live local, a null sigmask
            // leaves the signal mask unchanged.
            let res = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.0.as_raw_fd(),
                    ptr,
                    max as libc::c_int,
                    &ts as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if res >= 0 {
                PWAIT2.store(WORKS, Ordering::Relaxed);
                return Ok(res as i32);
            }
            let err = io::Error::last_os_error();
            // ENOSYS: a kernel before 5.11. EPERM: a seccomp sandbox that does not know the
            // syscall (Docker's default profile before 20.10, systemd's SystemCallFilter=);
            // epoll_pwait2 itself never fails with EPERM.
            if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                return Err(err);
            }
            PWAIT2.store(REFUSED, Ordering::Relaxed);
        }
        // SAFETY: `ptr` points to at least `max` writable epoll_event slots.
        syscall!(epoll_wait(
            self.0.as_raw_fd(),
            ptr,
            max as i32,
            ceil_millis(Some(timeout))
        ))
    }
}

/// Whether waits have sub-millisecond resolution: whether `epoll_pwait2` works, probed once
/// (a zero-timeout wait on a fresh instance) if no wait has tried it yet.
pub(crate) fn precise_timeouts() -> bool {
    if PWAIT2.load(Ordering::Relaxed) == UNTRIED {
        if let Ok(ep) = EpollFd::new() {
            let mut buf = Vec::new();
            // A timeout of 1 ns goes through epoll_pwait2 and records its outcome.
            let _ = ep.wait(&mut buf, 1, Some(Duration::from_nanos(1)));
        }
    }
    PWAIT2.load(Ordering::Relaxed) == WORKS
}

impl EpollFd {
    /// Whether the kernel holds a registration made under fd number `fd`, from
    /// `/proc/self/fdinfo` (`None` where it cannot be read). After that fd was closed, one
    /// held still is the registration of a file a duplicate keeps open: no fd can name it any
    /// more, but it is there.
    pub(crate) fn holds(&self, fd: RawFd) -> Option<bool> {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.0.as_raw_fd()));
        let registered_as = |line: &str| {
            let rest = line.strip_prefix("tfd:")?;
            rest.split_whitespace().next()?.parse::<RawFd>().ok()
        };
        Some(info.ok()?.lines().any(|l| registered_as(l) == Some(fd)))
    }

    /// Another fd for the same epoll instance.
    pub(crate) fn try_clone(&self) -> io::Result<EpollFd> {
        Ok(EpollFd(self.0.try_clone()?))
    }

    /// Makes this fd number name `fresh`'s kernel object instead (see
    /// [`replace_fd`](super::replace_fd)).
    pub(crate) fn replace(&self, fresh: EpollFd) -> io::Result<()> {
        super::replace_fd(&self.0, fresh.0)
    }
}

impl AsFd for EpollFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
