//! Timeouts are lower bounds: a wait never ends early, `None` blocks until ready and a zero
//! timeout never blocks, on every backend; and they have microsecond resolution: the median
//! lateness of many sub-millisecond waits is far below the millisecond the stdlib rounds up
//! to (a bound loose enough for a loaded machine; how late exactly is measured by the
//! benchmarks).
// Socket pairs only: runs on Windows too (loopback TCP pairs there).

mod common;

use common::*;
use rselectors::{Events, Interest, Selector, Token};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Far above any scheduling delay: only catches a wait that ignores its timeout.
const SANITY: Duration = Duration::from_secs(5);

/// The timeouts the contract promises microsecond resolution for, and a few odd ones
/// (a sub-ms part on top of whole ms takes the `epoll_pwait2` path, whole ms `epoll_wait`).
const TIMEOUTS: [(Duration, usize); 7] = [
    (Duration::from_micros(100), 20),
    (Duration::from_micros(250), 20),
    (Duration::from_millis(1), 20),
    (Duration::from_micros(1500), 10),
    (Duration::from_millis(10), 5),
    (Duration::from_micros(10_300), 3),
    (Duration::from_millis(50), 2),
];

fn assert_waits_at_least(s: &Selector, events: &mut Events, timeout: Duration) {
    let start = Instant::now();
    s.select(events, Some(timeout)).unwrap();
    let elapsed = start.elapsed();
    assert!(events.is_empty(), "{}: {events:?}", s.backend());
    assert!(
        elapsed >= timeout,
        "{}: woke after {elapsed:?}, before the {timeout:?} timeout",
        s.backend()
    );
    assert!(elapsed < timeout + SANITY, "{}: {elapsed:?}", s.backend());
}

/// The median of how much later than `timeout` each of `n` idle waits ended.
fn median_overshoot(s: &Selector, timeout: Duration, n: usize) -> Duration {
    let mut events = Events::with_capacity(4);
    let mut late: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            s.select(&mut events, Some(timeout)).unwrap();
            assert!(events.is_empty());
            start.elapsed().saturating_sub(timeout)
        })
        .collect();
    late.sort();
    late[n / 2]
}

/// Far below the whole millisecond a rounding wait would add, far above scheduling noise.
const MICROSECONDS: Duration = Duration::from_micros(500);

#[test]
fn sub_millisecond_waits_are_not_rounded_up_to_a_millisecond() {
    let _fds = shared_fds();
    for backend in backends() {
        if cfg!(windows) {
            // Not asserted: winsock's waits end on the system timer's tick (README "Windows",
            // `precise_timeouts()`); that they never end early is checked below.
            println!("{backend}: skipped on Windows (timer-tick waits)");
            continue;
        }
        let s = selector(backend);
        let late = median_overshoot(&s, Duration::from_micros(200), 200);
        println!("{backend}: select(200 µs) median overshoot {late:?}");
        assert!(late < MICROSECONDS, "{backend}: median overshoot {late:?}");
    }
}

#[test]
fn waits_of_a_millisecond_or_more_keep_their_fraction_where_the_kernel_allows() {
    // 1.5 ms: epoll_pwait2 / ppoll / pselect keep the half millisecond; where the backend
    // cannot (epoll_wait on a kernel that refuses epoll_pwait2), it rounds up to 2 ms, and
    // this checks that fallback instead, saying so.
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let late = median_overshoot(&s, Duration::from_micros(1500), 50);
        if backend.precise_timeouts() {
            println!("{backend}: select(1.5 ms) median overshoot {late:?}");
            assert!(late < MICROSECONDS, "{backend}: median overshoot {late:?}");
        } else if cfg!(windows) {
            // winsock's waits end on the system timer's tick, whose length Windows (or Wine)
            // chooses: nothing to check but that they never end early (below).
            println!("{backend}: timer-tick waits: median overshoot {late:?}, not checked");
        } else {
            println!("{backend}: no nanosecond timeouts here: checking whole-ms rounding");
            assert!(late >= Duration::from_micros(400), "{backend}: {late:?}");
        }
    }
}

#[test]
fn never_wakes_early_with_nothing_registered() {
    let _fds = shared_fds();
    for backend in backends() {
        // A fresh selector per timeout: its first wait too never ends early.
        for (timeout, reps) in TIMEOUTS {
            let s = selector(backend);
            let mut events = Events::with_capacity(8);
            for _ in 0..reps {
                assert_waits_at_least(&s, &mut events, timeout);
            }
        }
    }
}

#[test]
fn never_wakes_early_with_idle_fds_registered() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let pairs: Vec<_> = (0..16).map(|_| pair()).collect();
        for (i, (a, _)) in pairs.iter().enumerate() {
            s.register(a, Token(i), Interest::READABLE).unwrap();
        }
        let mut events = Events::with_capacity(8);
        for (timeout, reps) in TIMEOUTS {
            for _ in 0..reps {
                assert_waits_at_least(&s, &mut events, timeout);
            }
        }
    }
}

#[test]
fn select_retry_never_wakes_early() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let mut events = Events::with_capacity(8);
        for (timeout, _) in TIMEOUTS {
            let start = Instant::now();
            s.select_retry(&mut events, Some(timeout), || Ok::<(), std::io::Error>(()))
                .unwrap();
            assert!(start.elapsed() >= timeout, "{backend}: {timeout:?}");
        }
    }
}

#[test]
fn registration_changes_do_not_shorten_a_wait() {
    // poll and select are woken to re-read their set on every change; the wait must then
    // continue for the time left, not return early.
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let stop = Arc::new(AtomicBool::new(false));
        let changer = {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let (a, _b) = pair();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    s.register(&a, Token(1), Interest::READABLE).unwrap();
                    s.modify(&a, Token(2), Interest::READABLE).unwrap();
                    s.unregister(&a).unwrap();
                    n += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                n
            })
        };
        let mut events = Events::with_capacity(8);
        for timeout in [Duration::from_millis(30), Duration::from_micros(30_500)] {
            for _ in 0..3 {
                assert_waits_at_least(&s, &mut events, timeout);
            }
        }
        stop.store(true, Ordering::Relaxed);
        assert!(changer.join().unwrap() > 0);
    }
}

#[test]
fn none_blocks_until_ready() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let delay = Duration::from_millis(100);
        let start = Instant::now();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            send_byte(&b);
            b
        });
        let mut events = watchdog(Duration::from_secs(20), move || {
            let mut events = Events::with_capacity(8);
            s.select(&mut events, None).unwrap();
            events
        });
        assert!(
            start.elapsed() >= delay,
            "{backend}: returned before the data"
        );
        assert_eq!(tokens(&events), [Token(1)], "{backend}");
        events.clear();
        drop(writer.join().unwrap());
    }
}

#[test]
fn zero_timeout_never_blocks() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let pairs: Vec<_> = (0..8).map(|_| pair()).collect();
        for (i, (a, _)) in pairs.iter().enumerate() {
            s.register(a, Token(i), Interest::READABLE).unwrap();
        }
        let mut events = Events::with_capacity(8);
        let check = |s: &Selector, events: &mut Events| {
            let start = Instant::now();
            for _ in 0..500 {
                s.select(events, Some(Duration::ZERO)).unwrap();
                assert!(events.is_empty());
            }
            assert!(start.elapsed() < SANITY, "{backend}: {:?}", start.elapsed());
        };
        // Fresh, after a blocking wait, and with a wake-up consumed.
        check(&s, &mut events);
        s.select(&mut events, Some(Duration::from_micros(100)))
            .unwrap();
        check(&s, &mut events);
        s.wake().unwrap();
        check(&s, &mut events);
        let start = Instant::now();
        s.select_retry(&mut events, Some(Duration::ZERO), || {
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
        assert!(start.elapsed() < SANITY);
    }
}

#[test]
fn an_empty_result_means_the_timeout_passed_even_under_churn() {
    // Another thread keeps registering and unregistering an fd that is always ready: a
    // select either reports it or, if its readiness was dropped because the fd was
    // unregistered meanwhile, waits on for the time left: never an early empty return.
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let (a, b) = pair();
                send_byte(&b);
                while !stop.load(Ordering::Relaxed) {
                    s.register(&a, Token(1), Interest::READABLE).unwrap();
                    s.unregister(&a).unwrap();
                }
            })
        };
        let timeout = Duration::from_millis(2);
        let mut events = Events::with_capacity(8);
        let (mut empty, mut reported) = (0, 0);
        let began = Instant::now();
        while began.elapsed() < Duration::from_millis(300) {
            let start = Instant::now();
            s.select(&mut events, Some(timeout)).unwrap();
            let elapsed = start.elapsed();
            if events.is_empty() {
                empty += 1;
                assert!(
                    elapsed >= timeout,
                    "{backend}: empty after {elapsed:?} (timeout {timeout:?})"
                );
            } else {
                reported += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        assert!(empty + reported > 0, "{backend}");
    }
}
