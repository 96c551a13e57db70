//! Waking a selector: before a select, from another thread, many at once (coalesced), after
//! the selector is gone, and with select's notifier beyond FD_SETSIZE.
// Socket pairs, so Windows runs it too (loopback TCP pairs there), but for the eventfd's
// counter (Linux) and the notifier beyond FD_SETSIZE (Unix fd numbers).

mod common;

use common::*;
#[cfg(unix)]
use rselectors::Backend;
use rselectors::{Events, Interest, Selector, Token};
#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A select with a long timeout that must return at once (a wake-up is pending).
fn returns_at_once(s: &Selector, events: &mut Events) {
    let start = Instant::now();
    s.select(events, Some(Duration::from_secs(20))).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{}: a pending wake-up did not end the select",
        s.backend()
    );
}

/// A select that must wait its full timeout (no wake-up pending, nothing ready).
fn waits_full_time(s: &Selector, events: &mut Events) {
    let timeout = Duration::from_millis(50);
    let start = Instant::now();
    s.select(events, Some(timeout)).unwrap();
    assert!(events.is_empty(), "{}: {events:?}", s.backend());
    assert!(
        start.elapsed() >= timeout,
        "{}: returned after {:?}: a wake-up was left pending",
        s.backend(),
        start.elapsed()
    );
}

#[test]
fn wake_before_select_makes_the_next_select_return_at_once() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, _b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(8);
        s.wake().unwrap();
        returns_at_once(&s, &mut events);
        assert!(events.is_empty(), "{backend}: {events:?}");
        // Consumed: the next select waits.
        waits_full_time(&s, &mut events);

        // Through a Waker made before any select (it creates the notifier).
        let s = selector(backend);
        let waker = s.waker().unwrap();
        waker.wake().unwrap();
        returns_at_once(&s, &mut events);
        waits_full_time(&s, &mut events);

        // A zero-timeout select reports and consumes a pending wake-up too (poll and select
        // leave the notifier out of such a wait and go by the wake-up's flag).
        s.wake().unwrap();
        s.select(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.woken(), "{backend}: a pending wake-up not reported");
        s.select(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(!events.woken(), "{backend}: a wake-up reported twice");
        waits_full_time(&s, &mut events);
    }
}

#[test]
fn wake_with_ready_fds_returns_them() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        send_byte(&b);
        s.wake().unwrap();
        let mut events = Events::with_capacity(8);
        returns_at_once(&s, &mut events);
        assert_eq!(tokens(&events), [Token(1)], "{backend}");
        drain_stream(&a);
        // Whether the wake-up was consumed by that select or the next, it is consumed once.
        s.select(&mut events, Some(Duration::from_millis(1)))
            .unwrap();
        waits_full_time(&s, &mut events);
    }
}

#[test]
fn wake_from_another_thread_unblocks_select_none() {
    let _fds = shared_fds();
    for backend in backends() {
        for with_fds in [false, true] {
            let s = Arc::new(selector(backend));
            let (a, _b) = pair();
            if with_fds {
                s.register(&a, Token(1), Interest::READABLE).unwrap();
            }
            let waker = s.waker().unwrap();
            let selecting = {
                let s = s.clone();
                std::thread::spawn(move || {
                    let mut events = Events::with_capacity(8);
                    s.select(&mut events, None).unwrap();
                    events.len()
                })
            };
            std::thread::sleep(Duration::from_millis(50)); // let it block
            waker.wake().unwrap();
            let n = watchdog(Duration::from_secs(20), move || selecting.join().unwrap());
            assert_eq!(n, 0, "{backend}");
            let mut events = Events::with_capacity(8);
            waits_full_time(&s, &mut events);
        }
    }
}

#[test]
fn many_concurrent_wakes_coalesce() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let waker = s.waker().unwrap();
        let mut events = Events::with_capacity(8);

        // Phase 1: 8 threads x 1000 wakes with nobody selecting -> one pending wake-up.
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (waker, start) = (waker.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..1000 {
                        waker.wake().unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        returns_at_once(&s, &mut events);
        assert!(events.is_empty());
        // The notifier was drained: the next select waits its full time.
        waits_full_time(&s, &mut events);

        // Phase 2: the same while this thread keeps selecting.
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (waker, start) = (waker.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..1000 {
                        waker.wake().unwrap();
                        if i % 100 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut selects = 0;
        while !threads.iter().all(|t| t.is_finished()) {
            s.select(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            selects += 1;
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(selects > 0);
        // At most one wake-up can be left over; then nothing is pending.
        s.select(&mut events, Some(Duration::ZERO)).unwrap();
        waits_full_time(&s, &mut events);
    }
}

/// The selector's eventfd notifier: the fd of `s` whose link names an eventfd.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn notifier_eventfd(s: &Selector) -> RawFd {
    let listed: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    listed
        .into_iter()
        .find(|&fd| {
            s.owns(fd)
                && std::fs::read_link(format!("/proc/self/fd/{fd}"))
                    .is_ok_and(|l| l.to_str() == Some("anon_inode:[eventfd]"))
        })
        .expect("the selector owns an eventfd")
}

#[test]
#[cfg(any(target_os = "linux", target_os = "android"))]
fn wakes_between_two_selects_write_the_notifier_once() {
    // An eventfd adds every write to its counter and a read returns (and resets) it: after
    // 8 threads x 1000 wakes with nobody selecting, it must read 1. (A select drains it,
    // so this reads it directly, then restores the pending wake-up it consumed.)
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        // A Waker makes the notifier (a selector has none until its first need).
        let waker = s.waker().unwrap();
        let fd = notifier_eventfd(&s);
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (waker, start) = (waker.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..1000 {
                        waker.wake().unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let mut count = [0u8; 8];
        // SAFETY: reads 8 bytes into a live local from an eventfd the selector keeps open.
        let n = unsafe { libc::read(fd, count.as_mut_ptr().cast(), 8) };
        assert_eq!(n, 8, "{backend}: {}", std::io::Error::last_os_error());
        assert_eq!(u64::from_ne_bytes(count), 1, "{backend}: notifier writes");
        write_byte_count(fd, 1);
        let mut events = Events::with_capacity(8);
        returns_at_once(&s, &mut events);
        waits_full_time(&s, &mut events);
    }
}

/// Adds `n` to an eventfd's counter.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn write_byte_count(fd: RawFd, n: u64) {
    // SAFETY: writes 8 bytes from a live local to an open eventfd.
    let w = unsafe { libc::write(fd, n.to_ne_bytes().as_ptr().cast(), 8) };
    assert_eq!(w, 8);
}

#[test]
fn waker_outliving_the_selector_is_harmless() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let waker = s.waker().unwrap();
        let other = waker.clone();
        drop(s);
        for _ in 0..100 {
            waker.wake().unwrap();
        }
        drop(waker);
        other.wake().unwrap();
    }
}

#[test]
fn one_wake_ends_one_of_several_blocked_selects() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let waker = s.waker().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (s, tx) = (s.clone(), tx.clone());
                std::thread::spawn(move || {
                    let mut events = Events::with_capacity(8);
                    s.select(&mut events, Some(Duration::from_secs(3))).unwrap();
                    tx.send(Instant::now()).unwrap();
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let woke_at = Instant::now();
        waker.wake().unwrap();
        let first = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("no select woke");
        assert!(first >= woke_at && first - woke_at < Duration::from_secs(2));
        // The others end at their timeout (or on another wake-up).
        for _ in 0..2 {
            waker.wake().unwrap();
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
    }
}

/// Occupies every free fd below FD_SETSIZE (returns the fillers to close later).
#[cfg(unix)]
fn fill_fds_below_fd_setsize() -> Vec<OwnedFd> {
    let mut fillers = Vec::new();
    loop {
        // SAFETY: dup of stdin's number is just an fd allocation; the result is owned here.
        let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 0) };
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        // SAFETY: `fd` was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let done = fd >= libc::FD_SETSIZE as RawFd;
        fillers.push(owned);
        if done {
            return fillers;
        }
    }
}

#[test]
#[cfg(unix)]
fn select_backend_with_its_notifier_beyond_fd_setsize() {
    // The notifier is created with the selector: with every fd below FD_SETSIZE in use at
    // that moment it lands above, cannot be in an fd_set, and select waits in short slices
    // instead.
    let _fds = exclusive_fds();
    raise_fd_limit(4096);
    let (a, b) = pair();
    assert!(a.as_raw_fd() < libc::FD_SETSIZE as RawFd);
    let fillers = fill_fds_below_fd_setsize();
    let s = Arc::new(selector(Backend::Select));
    drop(fillers);
    s.register(&a, Token(1), Interest::READABLE).unwrap();
    let waker = s.waker().unwrap();

    let mut events = Events::with_capacity(8);
    waits_full_time(&s, &mut events);
    // A zero-timeout select reports a pending wake-up and consumes it.
    waker.wake().unwrap();
    s.select(&mut events, Some(Duration::ZERO)).unwrap();
    assert!(events.woken());
    waits_full_time(&s, &mut events);
    // Wake-ups still end a blocked select.
    let selecting = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut events = Events::with_capacity(8);
            s.select(&mut events, None).unwrap();
            events.len()
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    waker.wake().unwrap();
    assert_eq!(
        watchdog(Duration::from_secs(20), move || selecting.join().unwrap()),
        0
    );
    waits_full_time(&s, &mut events);
    // Readiness and registrations made during a wait are still seen.
    let (c, d) = pair();
    write_byte(d.as_raw_fd());
    let selecting = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut events = Events::with_capacity(8);
            s.select(&mut events, None).unwrap();
            tokens(&events)
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    s.register(&c, Token(2), Interest::READABLE).unwrap();
    let got = watchdog(Duration::from_secs(20), move || selecting.join().unwrap());
    assert_eq!(got, [Token(2)]);
    write_byte(b.as_raw_fd());
    s.select(&mut events, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(tokens(&events), [Token(1), Token(2)]);
}
