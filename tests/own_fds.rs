//! The selector's own fds (its kernel object and its wake-up notifier) are out of the
//! caller's reach: never registered, modified, unregistered or reported through a caller's
//! fd number, whatever number a caller's closed fd had; `reopen` keeps their numbers.
// On Unix fds (pipes, socket pairs, fd numbers); tests/winsock.rs covers Windows.
#![cfg(unix)]

mod common;

use common::*;
use rselectors::{Backend, Events, Interest, Selector, Token};
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous bound for "promptly": only a lost wake-up takes this long.
const PROMPT: Duration = Duration::from_secs(2);

/// Open fd numbers: those listed whose link can still be read once the listing (which
/// has an fd of its own while it runs) is closed.
fn open_fds() -> BTreeSet<RawFd> {
    let listed: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    listed
        .into_iter()
        .filter(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok())
        .collect()
}

/// A new selector and the fds its construction opened (callers hold `exclusive_fds`).
fn selector_and_own_fds(backend: Backend) -> (Selector, Vec<RawFd>) {
    let before = open_fds();
    let s = selector(backend);
    let own = open_fds().difference(&before).copied().collect();
    (s, own)
}

/// A wake-up from another thread ends a blocked select promptly, with nothing reported.
fn assert_wake_wakes(s: &Arc<Selector>) {
    let waker = s.waker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        waker.wake().unwrap();
    });
    let mut events = Events::with_capacity(8);
    let start = Instant::now();
    s.select(&mut events, Some(Duration::from_secs(10)))
        .unwrap();
    t.join().unwrap();
    let backend = s.backend();
    assert!(start.elapsed() < PROMPT, "{backend}: wake-up lost");
    assert!(events.woken() && events.is_empty(), "{backend}: {events:?}");
}

#[test]
fn own_fds_are_known_and_refused_to_callers() {
    let _fds = exclusive_fds();
    for backend in backends() {
        let (s, own) = selector_and_own_fds(backend);
        let s = Arc::new(s);
        let kernel = s.try_as_fd().map(|fd| fd.as_raw_fd());
        // The notifier, the kernel object if any, and on Linux the sub-millisecond timer.
        let timer = usize::from(cfg!(any(target_os = "linux", target_os = "android")));
        let expected = 1 + usize::from(kernel.is_some()) + timer;
        assert_eq!(own.len(), expected, "{backend}: {own:?}");
        for &fd in &own {
            assert!(s.owns(fd), "{backend}: {fd} of {own:?}");
            let expected = if Some(fd) == kernel {
                libc::EINVAL
            } else {
                libc::EBADF
            };
            for err in [
                s.register(fd, Token(1), Interest::READABLE).unwrap_err(),
                s.modify(fd, Token(1), Interest::WRITABLE).unwrap_err(),
                s.unregister(fd).unwrap_err(),
            ] {
                assert_eq!(
                    err.raw_os_error(),
                    Some(expected),
                    "{backend} fd {fd}: {err}"
                );
            }
        }
        let (a, _b) = pair();
        assert!(!s.owns(a.as_raw_fd()));
        assert_wake_wakes(&s);
        // shut_down still reaches a blocked select
        let waiting = {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut events = Events::with_capacity(4);
                let start = Instant::now();
                s.select(&mut events, Some(Duration::from_secs(10)))
                    .unwrap();
                (start.elapsed(), events.woken())
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        s.shut_down();
        let (waited, woken) = watchdog(Duration::from_secs(20), move || waiting.join().unwrap());
        assert!(waited < PROMPT && woken, "{backend}: {waited:?}");
    }
}

#[test]
fn closed_before_unregister_never_reaches_the_notifier() {
    // The sequence of the report, in Rust: a registered fd closed, a wake-up, a select, the
    // stale unregister (the kernel's answer for a closed fd), then wake-ups still work.
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let (a, b) = pair();
        let fd = a.as_raw_fd();
        s.register(fd, Token(1), Interest::READABLE).unwrap();
        write_byte(b.as_raw_fd());
        drop(a);
        s.wake().unwrap();
        let mut events = Events::with_capacity(8);
        let _ = s.select(&mut events, Some(Duration::ZERO)); // select(2): EBADF, as documented
        let _ = s.unregister(fd);
        assert_wake_wakes(&s);
    }
}

#[test]
fn reopen_keeps_the_fd_numbers_and_wakers() {
    let _fds = exclusive_fds();
    for backend in backends() {
        let (s, own) = selector_and_own_fds(backend);
        let s = Arc::new(s);
        let waker = s.waker();
        let kernel = s.try_as_fd().map(|fd| fd.as_raw_fd());
        let (a, b) = pair();
        let (c, d) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        s.register(&c, Token(2), Interest::READABLE).unwrap();
        write_byte(b.as_raw_fd());
        write_byte(d.as_raw_fd());

        // A thread blocked across the reopen waits again on the new set and sees what is
        // registered there; exactly the given registrations are kept.
        let waiting = {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut events = Events::with_capacity(8);
                s.select(&mut events, Some(Duration::from_secs(10)))
                    .unwrap();
                tokens(&events)
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        s.reopen([(c.as_raw_fd(), Token(7), Interest::READABLE)])
            .unwrap();
        let got = watchdog(Duration::from_secs(20), move || waiting.join().unwrap());
        assert!(
            got == [Token(7)] || got == [Token(1), Token(2)],
            "{backend}: {got:?}"
        );
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(7)], "{backend}");
        let err = s.unregister(&a).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{backend}: {err}");

        assert_eq!(s.try_as_fd().map(|fd| fd.as_raw_fd()), kernel, "{backend}");
        let after: BTreeSet<RawFd> = open_fds();
        assert!(own.iter().all(|fd| after.contains(fd)), "{backend}");
        for &fd in &own {
            assert!(s.owns(fd), "{backend}: {fd}");
        }
        // A Waker made before the reopen wakes a select after it.
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            waker.wake().unwrap();
        });
        s.unregister(&c).unwrap();
        let start = Instant::now();
        s.select(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        t.join().unwrap();
        assert!(start.elapsed() < PROMPT && events.woken(), "{backend}");
    }
}

#[test]
fn reopen_sheds_a_stale_epoll_registration() {
    // A dup'ed fd closed and then unregistered (EBADF): its open file stays in the epoll
    // set, unnameable, and being level-triggered ends every wait. reopen drops it.
    let _fds = shared_fds();
    if !Backend::Epoll.is_available() {
        return;
    }
    let s = selector(Backend::Epoll);
    let (a, b) = pair();
    let fd = a.as_raw_fd();
    s.register(fd, Token(1), Interest::READABLE).unwrap();
    // SAFETY: dup of an open fd we own; the result is closed below.
    let dup = unsafe { libc::dup(fd) };
    assert!(dup >= 0);
    write_byte(b.as_raw_fd());
    drop(a);
    let err = s.unregister(fd).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    let mut events = Events::with_capacity(8);
    poll_now(&s, &mut events);
    assert_eq!(
        tokens(&events),
        [Token(1)],
        "the stale registration still reports"
    );
    s.reopen([]).unwrap();
    let start = Instant::now();
    s.select(&mut events, Some(Duration::from_millis(50)))
        .unwrap();
    assert!(events.is_empty() && start.elapsed() >= Duration::from_millis(50));
    // SAFETY: closes the dup made above.
    unsafe { libc::close(dup) };
}
