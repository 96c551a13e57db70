//! Priority data, hang-ups and exclusive registrations: `Interest::PRIORITY`, `HANGUP` and
//! `EXCLUSIVE` on real sources (TCP urgent data, a peer's `shutdown(SHUT_WR)`, one listening
//! socket waited on by several selectors), on every backend that has them, and the
//! `Unsupported` error on the others.
#![cfg(unix)]

mod common;

use common::*;
use rselectors::{
    Backend, Event, Events, Interest, Selector, Token, EVENT_HANGUP, EVENT_PRIORITY, EVENT_READ,
    EVENT_WRITE,
};
use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// A connected non-blocking TCP pair over the loopback (urgent data needs TCP).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Sends one byte of urgent (out-of-band) data.
fn send_oob(sock: &TcpStream) {
    // SAFETY: sends one byte from a live local.
    let n = unsafe { libc::send(sock.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(n, 1, "send(MSG_OOB): {}", std::io::Error::last_os_error());
}

/// Reads the pending urgent byte.
fn recv_oob(sock: &TcpStream) -> u8 {
    let mut byte = 0u8;
    // SAFETY: reads one byte into a live local.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_OOB,
        )
    };
    assert_eq!(n, 1, "recv(MSG_OOB): {}", std::io::Error::last_os_error());
    byte
}

/// The one event of a select that waits up to a second (TCP delivers through the loopback
/// asynchronously).
fn one_event(s: &Selector, token: Token) -> Event {
    let mut events = Events::with_capacity(8);
    s.select(&mut events, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(tokens(&events), [token], "{}: {events:?}", s.backend());
    events.iter().next().copied().unwrap()
}

fn nothing(s: &Selector) {
    let mut events = Events::with_capacity(8);
    poll_now(s, &mut events);
    assert!(events.is_empty(), "{}: {events:?}", s.backend());
}

fn unsupported(result: std::io::Result<()>, backend: Backend) {
    let err = result.expect_err(&format!("{backend}: accepted"));
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{backend}: {err}");
}

#[test]
fn priority_data_is_reported_without_readability() {
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = tcp_pair();
        if !backend.supports(Interest::PRIORITY) {
            unsupported(s.register(&a, Token(1), Interest::PRIORITY), backend);
            continue;
        }
        s.register(&a, Token(1), Interest::PRIORITY).unwrap();
        (&b).write_all(b"data").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Ordinary data is not priority data.
        nothing(&s);
        send_oob(&b);
        let e = one_event(&s, Token(1));
        assert!(
            e.is_priority() && !e.is_readable() && !e.is_error(),
            "{backend}: {e:?}"
        );
        assert_eq!(e.selectors_mask(), EVENT_PRIORITY, "{backend}: {e:?}");
        // Level-triggered: reported until the urgent byte is read.
        assert!(one_event(&s, Token(1)).is_priority(), "{backend}");
        assert_eq!(recv_oob(&a), b'!');
        nothing(&s);
        // Readable and priority together: one event with both.
        s.modify(&a, Token(2), Interest::READABLE | Interest::PRIORITY)
            .unwrap();
        send_oob(&b);
        std::thread::sleep(Duration::from_millis(20));
        let e = one_event(&s, Token(2));
        assert!(e.is_priority() && e.is_readable(), "{backend}: {e:?}");
        assert_eq!(
            e.selectors_mask() & (EVENT_READ | EVENT_PRIORITY),
            EVENT_READ | EVENT_PRIORITY,
            "{backend}: {e:?}"
        );
        // Dropped again by modify: only the data is left.
        s.modify(&a, Token(3), Interest::READABLE).unwrap();
        let e = one_event(&s, Token(3));
        assert!(!e.is_priority() && e.is_readable(), "{backend}: {e:?}");
    }
}

#[test]
fn a_peers_shutdown_of_writing_is_a_hangup_without_a_read() {
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = tcp_pair();
        if !backend.supports(Interest::HANGUP) {
            unsupported(s.register(&a, Token(1), Interest::HANGUP), backend);
            // Nothing was registered: a plain registration of the same fd works.
            s.register(&a, Token(1), Interest::READABLE).unwrap();
            continue;
        }
        s.register(&a, Token(1), Interest::HANGUP).unwrap();
        // Data alone does not wake a hang-up registration.
        (&b).write_all(b"pending").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        nothing(&s);
        b.shutdown(Shutdown::Write).unwrap();
        for _ in 0..2 {
            let e = one_event(&s, Token(1));
            assert!(e.is_hangup() && !e.is_readable(), "{backend}: {e:?}");
            assert_eq!(e.selectors_mask(), EVENT_HANGUP, "{backend}: {e:?}");
        }
        // With readability: both, in one event; the data has not been read.
        s.modify(&a, Token(2), Interest::READABLE | Interest::HANGUP)
            .unwrap();
        let e = one_event(&s, Token(2));
        assert!(e.is_hangup() && e.is_readable(), "{backend}: {e:?}");
        assert_eq!(e.selectors_mask() & !EVENT_WRITE, EVENT_READ | EVENT_HANGUP);
        // Our side can still write: a writable registration is not made unwritable, and
        // the peer's shutdown does not count as writability either (its own bit only).
        if backend.supports(Interest::WRITABLE | Interest::HANGUP) {
            s.modify(&a, Token(3), Interest::WRITABLE | Interest::HANGUP)
                .unwrap();
            let e = one_event(&s, Token(3));
            assert!(e.is_hangup() && e.is_writable(), "{backend}: {e:?}");
            assert_eq!(e.selectors_mask(), EVENT_WRITE | EVENT_HANGUP);
        }
    }
}

#[test]
fn support_is_what_register_and_modify_accept() {
    let flags = [
        Interest::READABLE,
        Interest::WRITABLE,
        Interest::PRIORITY,
        Interest::HANGUP,
        Interest::EXCLUSIVE,
    ];
    for backend in backends() {
        let s = selector(backend);
        let (a, _b) = tcp_pair();
        s.register(&a, Token(0), Interest::READABLE).unwrap();
        for combo in 0..32u32 {
            let interest = flags
                .iter()
                .enumerate()
                .filter(|(i, _)| combo & (1 << i) != 0)
                .fold(Interest::NONE, |acc, (_, &f)| acc | f);
            let (c, _d) = tcp_pair();
            let registered = s.register(&c, Token(1), interest);
            let modified = s.modify(&a, Token(0), interest);
            for result in [&registered, &modified] {
                match result {
                    Ok(()) => assert!(backend.supports(interest), "{backend}: {interest:?}"),
                    Err(e) => {
                        assert!(!backend.supports(interest), "{backend}: {interest:?}: {e}");
                        assert_eq!(e.kind(), ErrorKind::Unsupported);
                    }
                }
            }
            if registered.is_ok() {
                s.unregister(&c).unwrap();
            } else {
                // Nothing was registered.
                assert_eq!(
                    s.unregister(&c).unwrap_err().kind(),
                    ErrorKind::NotFound,
                    "{backend}"
                );
            }
            // A refused modify changed nothing: the registration is still there.
            s.modify(&a, Token(0), Interest::READABLE).unwrap();
        }
        // The same on every backend: an exclusive registration waits for READ/WRITE only.
        for extra in [Interest::PRIORITY, Interest::HANGUP] {
            assert!(!backend.supports(Interest::READABLE | Interest::EXCLUSIVE | extra));
        }
        assert!(backend.supports(Interest::BOTH | Interest::EXCLUSIVE));
    }
    assert!(Backend::Epoll.supports(Interest::PRIORITY | Interest::HANGUP));
    assert!(!Backend::Select.supports(Interest::HANGUP));
    assert!(Backend::Select.supports(Interest::PRIORITY));
    assert!(!Backend::Kqueue.supports(Interest::PRIORITY));
    assert!(!Backend::Kqueue.supports(Interest::HANGUP));
    assert!(Backend::Kqueue.supports(Interest::READABLE | Interest::HANGUP));
    assert!(!Backend::Devpoll.supports(Interest::HANGUP));
    assert_eq!(
        Backend::Poll.supports(Interest::HANGUP),
        cfg!(any(target_os = "linux", target_os = "android"))
    );
}

/// Exclusive registrations: epoll's (Linux), counted through /proc (which waiters are
/// blocked, what the epoll set holds). Elsewhere the flag is a documented no-op that nothing
/// here can run.
#[cfg(target_os = "linux")]
mod exclusive {
    use super::*;
    use std::os::fd::RawFd;
    use std::sync::mpsc;
    use std::time::Instant;

    /// The wait syscalls of the kernel's machine (x86_64, aarch64 Linux), for [`blocked`]:
    /// /proc shows the kernel's numbering, which differs from the process's under a user-mode
    /// emulator (qemu-user runs an aarch64 build on an x86_64 kernel, scripts/test-aarch64).
    fn wait_syscalls() -> &'static [i64] {
        let arch = std::fs::read_to_string("/proc/sys/kernel/arch")
            .map(|a| a.trim().to_owned())
            .unwrap_or_else(|_| std::env::consts::ARCH.to_owned());
        match arch.as_str() {
            "x86_64" => &[232, 281, 441, 7, 271, 23, 270],
            "aarch64" => &[22, 441, 73, 72],
            _ => &[],
        }
    }

    /// Whether thread `tid` of this process is blocked in a wait syscall (None: cannot tell).
    fn blocked(tid: i64) -> Option<bool> {
        let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
        if wait_syscalls().is_empty() {
            return None;
        }
        let nr: i64 = text.split_whitespace().next()?.parse().ok()?;
        Some(wait_syscalls().contains(&nr))
    }

    /// How many of `n` selectors (one thread each), all blocked on the same listening socket
    /// registered with `interest`, one connection wakes.
    fn woken_by_one_connection(backend: Backend, n: usize, interest: Interest) -> usize {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let fd: RawFd = listener.as_raw_fd();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (woke_tx, woke_rx) = mpsc::channel();
        let selectors: Vec<_> = (0..n)
            .map(|i| {
                let s = selector(backend);
                s.register(fd, Token(i), interest).unwrap();
                std::sync::Arc::new(s)
            })
            .collect();
        let threads: Vec<_> = selectors
            .iter()
            .map(|s| {
                let s = s.clone();
                let (ready_tx, woke_tx) = (ready_tx.clone(), woke_tx.clone());
                std::thread::spawn(move || {
                    // SAFETY: gettid takes no arguments.
                    ready_tx.send(i64::from(unsafe { libc::gettid() })).unwrap();
                    let mut events = Events::with_capacity(4);
                    s.select(&mut events, Some(Duration::from_secs(5))).unwrap();
                    woke_tx.send(!events.is_empty()).unwrap();
                })
            })
            .collect();
        let tids: Vec<i64> = (0..n).map(|_| ready_rx.recv().unwrap()).collect();
        let deadline = Instant::now() + Duration::from_secs(10) * slowdown();
        while !tids.iter().all(|&t| blocked(t).unwrap_or(true)) {
            assert!(
                Instant::now() < deadline,
                "{backend}: waiters never blocked"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        if tids.iter().any(|&t| blocked(t).is_none()) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // The woken ones report at once; the others only when their 5 s are up.
        let mut woken = 0;
        while let Ok(got) = woke_rx.recv_timeout(Duration::from_millis(500)) {
            woken += usize::from(got);
        }
        for s in &selectors {
            s.shut_down();
        }
        for t in threads {
            t.join().unwrap();
        }
        woken
    }

    #[test]
    fn an_exclusive_registration_wakes_fewer_waiters() {
        const N: usize = 4;
        for backend in backends() {
            let all = woken_by_one_connection(backend, N, Interest::READABLE);
            assert_eq!(all, N, "{backend}: the herd");
            let exclusive =
                woken_by_one_connection(backend, N, Interest::READABLE | Interest::EXCLUSIVE);
            if backend == Backend::Epoll {
                assert!(exclusive < N, "{backend}: {exclusive} of {N} woken");
            } else {
                // Documented: the flag is ignored, every waiter is woken as without it.
                assert_eq!(exclusive, N, "{backend}");
            }
        }
    }

    /// The events mask epoll holds for `fd` (`/proc/self/fdinfo` of the epoll fd).
    fn epoll_mask(s: &Selector, fd: RawFd) -> Option<u32> {
        let epfd = s.try_as_fd()?.as_raw_fd();
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{epfd}")).unwrap();
        info.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some("tfd:") || words.next()?.parse::<RawFd>().ok()? != fd {
                return None;
            }
            words.next(); // "events:"
            u32::from_str_radix(words.next()?, 16).ok()
        })
    }

    #[test]
    fn epoll_keeps_an_exclusive_registration_through_modify_and_reopen() {
        const EXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;
        const OUT: u32 = libc::EPOLLOUT as u32;
        let s = selector(Backend::Epoll);
        let (a, b) = tcp_pair();
        let fd = a.as_raw_fd();
        s.register(&a, Token(1), Interest::READABLE | Interest::EXCLUSIVE)
            .unwrap();
        assert_ne!(epoll_mask(&s, fd).unwrap() & EXCLUSIVE, 0);
        // The kernel cannot modify an exclusive registration: it is re-added, still exclusive.
        s.modify(&a, Token(2), Interest::BOTH | Interest::EXCLUSIVE)
            .unwrap();
        let mask = epoll_mask(&s, fd).unwrap();
        assert_eq!(mask & (EXCLUSIVE | OUT), EXCLUSIVE | OUT, "{mask:#x}");
        assert_eq!(one_event(&s, Token(2)).selectors_mask(), EVENT_WRITE);
        // Modified to a plain one (the kernel's EINVAL is handled by re-adding), and back.
        s.modify(&a, Token(3), Interest::READABLE).unwrap();
        assert_eq!(epoll_mask(&s, fd).unwrap() & EXCLUSIVE, 0);
        s.modify(&a, Token(4), Interest::READABLE | Interest::EXCLUSIVE)
            .unwrap();
        assert_ne!(epoll_mask(&s, fd).unwrap() & EXCLUSIVE, 0);
        (&b).write_all(b"x").unwrap();
        assert!(one_event(&s, Token(4)).is_readable());
        // reopen carries it over: the registration is found although the kernel refuses to
        // modify it, and stays exclusive in the new set.
        s.reopen([(fd, Token(4), Interest::READABLE | Interest::EXCLUSIVE)])
            .unwrap();
        assert_ne!(epoll_mask(&s, fd).unwrap() & EXCLUSIVE, 0);
        assert!(one_event(&s, Token(4)).is_readable());
        // Not registered: modify says so, exclusive or not.
        s.unregister(&a).unwrap();
        for interest in [Interest::READABLE, Interest::READABLE | Interest::EXCLUSIVE] {
            let err = s.modify(&a, Token(5), interest).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{interest:?}: {err}");
        }
        assert_eq!(epoll_mask(&s, fd), None);
    }
}
