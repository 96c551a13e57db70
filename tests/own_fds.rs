//! The selector's own fds (its kernel object, its wake-up notifier and, on Linux, its timer)
//! are out of the caller's reach: never registered, modified, unregistered or reported
//! through a caller's fd number, whatever number a caller's closed fd had, made with the
//! selector (the kernel object) or at their first need (the others); `reopen` keeps their
//! numbers. An idle selector holds the stdlib's count: its kernel object, or nothing.
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

/// The fds a selector opens over its life: what construction opens (`idle`), and what its
/// first needs add (`own`: a wake-up while a thread waits, a blocking wait, a wait shorter
/// than a millisecond).
struct Opened {
    idle: Vec<RawFd>,
    own: Vec<RawFd>,
}

/// A new selector and the fds it opened, made and then brought to its every need (callers
/// hold `exclusive_fds`).
fn selector_and_own_fds(backend: Backend) -> (Selector, Opened) {
    let before = open_fds();
    let s = Arc::new(selector(backend));
    let idle = open_fds().difference(&before).copied().collect();
    wake_while_waiting(&s);
    let mut events = Events::with_capacity(4);
    s.select(&mut events, Some(Duration::from_micros(100)))
        .unwrap();
    let own = open_fds().difference(&before).copied().collect();
    let s = Arc::try_unwrap(s).expect("no other reference");
    (s, Opened { idle, own })
}

/// The fds a selector has made once every need was met: the kernel object if any, the
/// notifier, and on Linux the timer.
fn own_fd_count(s: &Selector) -> usize {
    let timer = usize::from(cfg!(any(target_os = "linux", target_os = "android")));
    usize::from(s.try_as_fd().is_some()) + 1 + timer
}

/// A wake-up from another thread ends a blocked select promptly, with nothing reported.
fn assert_wake_wakes(s: &Arc<Selector>) {
    let waker = s.waker().unwrap();
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

/// `Selector::wake` from another thread while this one waits ends the wait promptly, as a
/// wake-up (the notifier is made then if the selector has none).
fn wake_while_waiting(s: &Arc<Selector>) {
    let waking = s.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        waking.wake().unwrap();
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

/// Makes `fd` the lowest free fd number: every free number below it is taken by a
/// duplicate of /dev/null, closed when the returned guards drop (callers hold
/// `exclusive_fds`).
fn lowest_free_is(fd: RawFd) -> Vec<std::fs::File> {
    let busy = open_fds();
    let mut fillers = Vec::new();
    loop {
        let f = std::fs::File::open("/dev/null").unwrap();
        let n = f.as_raw_fd();
        fillers.push(f);
        if n >= fd {
            break;
        }
    }
    // The last one took `fd` (or more, if `fd` was not free): give it back.
    let last = fillers.pop().unwrap();
    assert_eq!(last.as_raw_fd(), fd, "{fd} was not free: {busy:?}");
    fillers
}

/// What a first need makes: the notifier (a `Waker`, or on epoll a wake-up while a thread
/// waits: other backends make theirs before a wait blocks, and a stale registration of a
/// closed fd ends every wait at once there), or on Linux the timer (a wait shorter than a
/// millisecond, after the notifier was made elsewhere: without one, poll and select first
/// look without blocking and report the stale registration).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    Waker,
    WakeWhileWaiting,
    ShortWait,
}

impl Need {
    fn all(backend: Backend) -> Vec<Need> {
        let mut all = vec![Need::Waker];
        if backend == Backend::Epoll {
            all.push(Need::WakeWhileWaiting);
        }
        if cfg!(any(target_os = "linux", target_os = "android")) {
            all.push(Need::ShortWait);
        }
        all
    }

    /// Before the registered fd is closed.
    fn prepare(self, s: &Selector) {
        if self == Need::ShortWait {
            s.waker().unwrap();
        }
    }

    /// After: makes the own fd, on the lowest free number.
    fn meet(self, s: &Arc<Selector>) {
        match self {
            Need::Waker => drop(s.waker().unwrap()),
            Need::WakeWhileWaiting => wake_while_waiting(s),
            Need::ShortWait => {
                let mut events = Events::with_capacity(8);
                let _ = s.select(&mut events, Some(Duration::from_micros(100)));
            }
        }
    }
}

#[test]
fn an_own_fd_made_late_never_answers_to_a_stale_registration_of_its_number() {
    // The lazy case: a registered fd closed before unregister, then the first need makes an
    // own fd, which the kernel hands the lowest free number: the stale one. On epoll it takes
    // it (the kernel dropped the closed fd's registration) and a stale unregister or modify
    // is refused; backends that keep registrations by number in user space (and kqueue,
    // /dev/poll) skip it, so the stale registration stays what it is, a closed fd, and the
    // own fd never shares its number. Either way nothing of ours is reported under the
    // caller's token and wake-ups keep working.
    let _fds = exclusive_fds();
    for backend in backends() {
        for need in Need::all(backend) {
            let ctx = format!("{backend}, {need:?}");
            let s = Arc::new(selector(backend));
            let (a, b) = pair();
            let fd = a.as_raw_fd();
            s.register(fd, Token(1), Interest::READABLE).unwrap();
            write_byte(b.as_raw_fd());
            need.prepare(&s);
            drop(a);
            let fillers = lowest_free_is(fd);
            need.meet(&s);
            drop(fillers);
            let took = s.owns(fd);
            assert_eq!(took, backend == Backend::Epoll, "{ctx}: own fd on {fd}");
            let mut events = Events::with_capacity(8);
            if took {
                for err in [
                    s.modify(fd, Token(2), Interest::WRITABLE).unwrap_err(),
                    s.unregister(fd).unwrap_err(),
                ] {
                    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{ctx}: {err}");
                }
                s.wake().unwrap();
                poll_now(&s, &mut events);
                assert!(events.woken() && events.is_empty(), "{ctx}: {events:?}");
            } else {
                // The stale registration reports as a closed fd (poll: POLLNVAL) or fails the
                // wait as the stdlib's select does (EBADF); never as our fd.
                match s.select(&mut events, Some(Duration::ZERO)) {
                    Ok(()) => assert!(
                        events.iter().all(|e| e.token() == Token(1) && e.is_error()),
                        "{ctx}: {events:?}"
                    ),
                    Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{ctx}"),
                }
                s.unregister(fd).unwrap();
            }
            wake_while_waiting(&s);
            assert_wake_wakes(&s);
        }
    }
}

#[test]
fn own_fds_are_known_and_refused_to_callers() {
    let _fds = exclusive_fds();
    for backend in backends() {
        let (s, Opened { idle, own }) = selector_and_own_fds(backend);
        let s = Arc::new(s);
        let kernel = s.try_as_fd().map(|fd| fd.as_raw_fd());
        // Idle, the stdlib's count: the kernel object, or nothing.
        assert_eq!(idle, Vec::from_iter(kernel), "{backend}: idle {idle:?}");
        assert_eq!(own.len(), own_fd_count(&s), "{backend}: {own:?}");
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
        let (s, Opened { own, .. }) = selector_and_own_fds(backend);
        let s = Arc::new(s);
        let waker = s.waker().unwrap();
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
