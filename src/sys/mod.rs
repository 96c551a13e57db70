//! Thin, safe wrappers over the kernel interfaces. The only module with `unsafe`.
//!
//! Each file wraps one kernel interface; every function turns a `-1`/errno result into an
//! `io::Error` and does nothing else. Interpretation of the results (flag translation,
//! bookkeeping) lives in `crate::backend`.

/// Calls a libc function, turning a `-1` result into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller passes arguments valid for this call (see the call site's
        // SAFETY comment); the macro only checks the return value.
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

#[cfg(devpoll_available)]
pub(crate) mod devpoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod epoll;
#[cfg(kqueue_available)]
pub(crate) mod kqueue;
pub(crate) mod notify;
pub(crate) mod poll;
pub(crate) mod select;
