//! Thin, safe wrappers over the kernel interfaces. The only module with `unsafe`.
//!
//! Each file wraps one kernel interface; every function turns a `-1`/errno result (Windows:
//! `SOCKET_ERROR`/`WSAGetLastError`) into an `io::Error` and does nothing else.
//! Interpretation of the results (flag translation, bookkeeping) lives in `crate::backend`.

/// What a registration names: a file descriptor.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;
/// What a registration names: a `SOCKET`, 64 bits wide as std's `RawSocket` (every SOCKET
/// Windows hands out fits in 32 of them).
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;

/// The OS error a caller's registration call gets for a number that names one of the
/// selector's own objects other than its kernel object: what a closed one gets (Unix
/// `EBADF`; Windows `WSAENOTSOCK`, which `select()` gives for a closed socket).
#[cfg(unix)]
pub(crate) const CLOSED: i32 = libc::EBADF;
#[cfg(windows)]
pub(crate) const CLOSED: i32 = windows_sys::Win32::Networking::WinSock::WSAENOTSOCK;

/// The message Windows has for the system or winsock error `code`, worded as CPython words
/// it (`PyErr_SetFromWindowsErr`, which the stdlib's `select` raises through):
/// `FormatMessageW`'s text in the user's default language without its trailing whitespace
/// and periods, or `Windows Error 0x{code:x}` when the system has no text for the code.
#[cfg(all(windows, any(feature = "python", test)))]
pub(crate) fn error_message(code: i32) -> String {
    use windows_sys::Win32::System::Diagnostics::Debug::{
        FormatMessageW, FORMAT_MESSAGE_FROM_SYSTEM, FORMAT_MESSAGE_IGNORE_INSERTS,
    };
    // MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT): the user's default language.
    const USER_DEFAULT_LANGUAGE: u32 = 0x0400;
    let mut buf = [0u16; 2048];
    // SAFETY: `buf` is a live local buffer of the length passed; with these flags no message
    // source or insert arguments are read (both null).
    let len = unsafe {
        FormatMessageW(
            FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
            std::ptr::null(),
            code as u32,
            USER_DEFAULT_LANGUAGE,
            buf.as_mut_ptr(),
            buf.len() as u32,
            std::ptr::null(),
        )
    } as usize;
    if len == 0 {
        return format!("Windows Error 0x{:x}", code as u32);
    }
    let text = String::from_utf16_lossy(&buf[..len.min(buf.len())]);
    text.trim_end_matches(|c: char| c <= ' ' || c == '.')
        .to_string()
}

/// Calls a libc function, turning a `-1` result into `io::Error::last_os_error()`.
#[cfg(unix)]
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

#[cfg(all(unix, not(loom)))]
use std::io;
#[cfg(all(unix, not(loom)))]
use std::os::fd::{AsRawFd, OwnedFd};

/// Points `target`'s fd number at `fresh`'s open file (closing the one it named) and closes
/// `fresh`: the number stays, the kernel object behind it changes. A thread already blocked
/// on the old object keeps it until its call returns.
#[cfg(all(unix, not(loom)))]
pub(crate) fn replace_fd(target: &OwnedFd, fresh: OwnedFd) -> io::Result<()> {
    let (from, to) = (fresh.as_raw_fd(), target.as_raw_fd());
    loop {
        #[cfg(not(any(target_vendor = "apple", target_os = "android")))]
        // SAFETY: `from` and `to` are open fds owned by the caller; dup3 takes no pointers,
        // and `to` stays owned by `target` (only the file it names changes).
        let result = syscall!(dup3(from, to, libc::O_CLOEXEC)).map(drop);
        #[cfg(any(target_vendor = "apple", target_os = "android"))]
        // SAFETY: as above, with dup2 and then fcntl on `to` (integer arguments only).
        let result = syscall!(dup2(from, to))
            .and_then(|_| syscall!(fcntl(to, libc::F_SETFD, libc::FD_CLOEXEC)))
            .map(drop);
        match result {
            // EBUSY: Linux's answer while another thread is opening an fd at `to`'s slot.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            other => return other,
        }
    }
}

/// Lets a kernel call fill `buf` (cleared first) with up to `max` records, `max` clamped to
/// `1..=i32::MAX` (a zero count would make the waits return at once). `call` gets a pointer
/// to room for `max` records and `max`, and returns how many records the kernel wrote there;
/// `buf`'s length is set to that (at most `max`). Returns it.
///
/// # Safety
///
/// `call` must return `Ok(n)` only if the first `n` records at the pointer are initialised
/// (what the kernel call it makes reports): the records become readable in `buf`.
#[cfg(all(unix, not(loom)))]
#[inline]
pub(crate) unsafe fn fill<T>(
    buf: &mut Vec<T>,
    max: usize,
    call: impl FnOnce(*mut T, usize) -> io::Result<usize>,
) -> io::Result<usize> {
    let max = max.clamp(1, i32::MAX as usize);
    buf.clear();
    buf.reserve(max);
    let n = call(buf.spare_capacity_mut().as_mut_ptr().cast::<T>(), max)?.min(max);
    // SAFETY: the caller's contract: the first `n` records are initialised; and
    // `n <= max <= capacity`.
    unsafe { buf.set_len(n) };
    Ok(n)
}

/// The kernel's event records of one wait, per interface: owned by each
/// [`Events`](crate::Events), so concurrent waits never share a buffer, and reused from one
/// wait to the next.
#[cfg(unix)]
#[derive(Default)]
pub(crate) struct RawEvents {
    #[cfg(epoll_available)]
    pub(crate) epoll: Vec<epoll::EpollEvent>,
    #[cfg(kqueue_available)]
    pub(crate) kqueue: Vec<kqueue::Kevent>,
    #[cfg(devpoll_available)]
    pub(crate) devpoll: Vec<devpoll::PollFd>,
}

#[cfg(devpoll_available)]
pub(crate) mod devpoll;
#[cfg(all(epoll_available, not(loom)))]
pub(crate) mod epoll;
#[cfg(kqueue_available)]
pub(crate) mod kqueue;
#[cfg(not(loom))]
pub(crate) mod notify;
#[cfg(all(unix, not(loom)))]
pub(crate) mod poll;
#[cfg(unix)]
pub(crate) mod select;
pub(crate) mod time;
#[cfg(all(epoll_available, not(loom)))]
pub(crate) mod timer;

/// The clock of deadlines.
#[cfg(not(loom))]
pub(crate) use std::time::Instant;

// The model checker's build (`--cfg loom`): a model of the Linux kernel's objects stands in
// for the calls the core makes (epoll, the notifier, the timer, poll) and for the clock.
#[cfg(all(loom, not(epoll_available)))]
compile_error!("the loom models model the Linux kernel: build them on Linux");
#[cfg(loom)]
pub(crate) mod model;
#[cfg(loom)]
pub(crate) use model::{epoll, notify, poll, timer, Instant};
// The fd_set format and timeouts are built everywhere (and tested on Linux); the call is
// gated inside.
pub(crate) mod winsock;

#[cfg(all(test, windows))]
mod tests {
    use super::error_message;

    #[test]
    fn error_messages_are_worded_as_python_words_them() {
        // ERROR_FILE_NOT_FOUND has a system message, which ends with a period there.
        let text = error_message(2);
        assert!(
            !text.is_empty() && !text.starts_with("Windows Error"),
            "{text:?}"
        );
        assert!(!text.ends_with(|c: char| c <= ' ' || c == '.'), "{text:?}");
        // A code with the customer bit set is nobody's system error: no text.
        assert_eq!(error_message(0x2000_3039), "Windows Error 0x20003039");
        assert_eq!(error_message(-1), "Windows Error 0xffffffff");
    }
}
