//! Helpers shared by the integration tests: backend parametrisation, socket pairs (and on
//! Unix pipes and raw fds), a watchdog. The socket helpers work on Windows too, where a pair
//! is two connected loopback TCP sockets.
#![allow(dead_code)]

use rselectors::{Backend, Event, Events, Selector, Token};
#[cfg(unix)]
use std::io;
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{mpsc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// One end of a connected stream socket pair: a Unix socket, or on Windows a loopback TCP
/// socket (winsock's `select()` takes sockets only).
#[cfg(unix)]
pub type Stream = std::os::unix::net::UnixStream;
/// One end of a connected stream socket pair: a Unix socket, or on Windows a loopback TCP
/// socket (winsock's `select()` takes sockets only).
#[cfg(windows)]
pub type Stream = std::net::TcpStream;

/// Every backend this machine supports (epoll, poll and select on Linux).
pub fn backends() -> Vec<Backend> {
    Backend::ALL
        .iter()
        .copied()
        .filter(|b| b.is_available())
        .collect()
}

/// A fresh selector on `backend`.
pub fn selector(backend: Backend) -> Selector {
    Selector::with_backend(backend).unwrap_or_else(|e| panic!("{backend}: {e}"))
}

/// A connected non-blocking stream socket pair.
pub fn pair() -> (Stream, Stream) {
    #[cfg(unix)]
    let (a, b) = Stream::pair().expect("socketpair");
    #[cfg(windows)]
    let (a, b) = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = Stream::connect(listener.local_addr().unwrap()).expect("connect");
        let (b, _) = listener.accept().expect("accept");
        (a, b)
    };
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Sends one byte on a socket of a pair (panics on error): its peer becomes readable.
pub fn send_byte(s: &Stream) {
    let mut s = s;
    s.write_all(b"x").expect("send a byte");
}

/// Receives everything pending on a non-blocking socket.
pub fn drain_stream(s: &Stream) {
    let mut s = s;
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// A non-blocking close-on-exec pipe: (read end, write end).
#[cfg(unix)]
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds pipe writes. (Not pipe2: macOS lacks it.)
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "pipe: {}", io::Error::last_os_error());
    for fd in fds {
        // SAFETY: fcntl on a just-created fd, with integer arguments only.
        let ok = unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
                && libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) == 0
        };
        assert!(ok, "fcntl: {}", io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Writes one byte to a raw fd (panics on error).
#[cfg(unix)]
pub fn write_byte(fd: RawFd) {
    // SAFETY: writes one byte from a live local.
    let n = unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    assert_eq!(n, 1, "write: {}", io::Error::last_os_error());
}

/// Reads everything available from a non-blocking raw fd.
#[cfg(unix)]
pub fn drain(fd: RawFd) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into a live local buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
    }
}

/// Fills a non-blocking socket's send buffer until it would block.
#[cfg(unix)]
pub fn fill(sock: &Stream) {
    let chunk = [0u8; 65536];
    loop {
        // SAFETY: writes from a live local buffer of the given length.
        let n = unsafe { libc::write(sock.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) };
        if n <= 0 {
            return;
        }
    }
}

/// The tokens of `events`, sorted.
pub fn tokens(events: &Events) -> Vec<Token> {
    let mut t: Vec<Token> = events.iter().map(|e| e.token()).collect();
    t.sort();
    t
}

/// The event for `token`, if reported.
pub fn find(events: &Events, token: Token) -> Option<Event> {
    events.iter().find(|e| e.token() == token).copied()
}

/// A zero-timeout select.
pub fn poll_now(selector: &Selector, events: &mut Events) {
    selector
        .select(events, Some(Duration::ZERO))
        .unwrap_or_else(|e| panic!("{}: select: {e}", selector.backend()));
}

/// How much slower than native the tests run: `RSELECTORS_TEST_SLOWDOWN` (default 1), set by
/// `scripts/memcheck` for runs under valgrind or a sanitizer, `scripts/test-windows` for
/// Wine and `scripts/test-aarch64` for qemu. Scales deadlock guards only: timeouts that the
/// tests check are never scaled.
pub fn slowdown() -> u32 {
    std::env::var("RSELECTORS_TEST_SLOWDOWN")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

/// Runs `f` on its own thread and fails the test if it has not finished within `limit`
/// (a deadlock guard, scaled by [`slowdown`]); a panic in `f` is re-raised here.
pub fn watchdog<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let limit = limit * slowdown();
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: test body still running after {limit:?} (deadlock?)")
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit).
#[cfg(unix)]
pub fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live local for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < want as libc::rlim_t {
        lim.rlim_cur = (want as libc::rlim_t).min(lim.rlim_max);
        // SAFETY: `lim` is a valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    }
}

static FD_HEAVY: RwLock<()> = RwLock::new(());

/// Held by tests that need their fds below `FD_SETSIZE` (the select backend): excludes the
/// tests of the same binary that open thousands of fds.
pub fn shared_fds() -> RwLockReadGuard<'static, ()> {
    FD_HEAVY.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a test that opens thousands of fds (pushing new fd numbers past `FD_SETSIZE`).
pub fn exclusive_fds() -> RwLockWriteGuard<'static, ()> {
    FD_HEAVY.write().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic xorshift generator (no dependency needed).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
