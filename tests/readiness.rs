//! Level-triggered readiness on pipes and socket pairs, on every backend.
// On Unix fds (pipes, socket pairs, fd numbers); tests/winsock.rs covers Windows.
#![cfg(unix)]

mod common;

use common::*;
use rselectors::{Backend, Events, Interest, Selector, Token, EVENT_READ, EVENT_WRITE};
use std::collections::BTreeSet;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether the backend reports kernel conditions (error, hang-up) as such; select only has
/// its read and write sets.
fn reports_conditions(backend: Backend) -> bool {
    backend != Backend::Select
}

#[test]
fn readable_with_data_and_until_drained() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        let (r, w) = pipe();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        s.register(&r, Token(2), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert!(events.is_empty(), "{backend}: {events:?}");

        write_byte(b.as_raw_fd());
        write_byte(w.as_raw_fd());
        // Level-triggered: reported by every select until drained.
        for _ in 0..3 {
            poll_now(&s, &mut events);
            assert_eq!(tokens(&events), [Token(1), Token(2)], "{backend}");
            for e in &events {
                assert!(e.is_readable() && !e.is_writable(), "{backend}: {e:?}");
                assert_eq!(e.selectors_mask(), EVENT_READ, "{backend}: {e:?}");
            }
        }
        drain(a.as_raw_fd());
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(2)], "{backend}");
        drain(r.as_raw_fd());
        poll_now(&s, &mut events);
        assert!(events.is_empty(), "{backend}: {events:?}");
    }
}

#[test]
fn writable_until_the_send_buffer_is_full() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::WRITABLE).unwrap();
        let mut events = Events::with_capacity(8);
        for _ in 0..2 {
            poll_now(&s, &mut events);
            assert_eq!(tokens(&events), [Token(1)], "{backend}");
            let e = find(&events, Token(1)).unwrap();
            assert!(e.is_writable() && !e.is_readable(), "{backend}: {e:?}");
            assert_eq!(e.selectors_mask(), EVENT_WRITE);
        }
        fill(&a);
        poll_now(&s, &mut events);
        assert!(
            events.is_empty(),
            "{backend}: full buffer still writable: {events:?}"
        );
        drain(b.as_raw_fd());
        s.select(&mut events, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(tokens(&events), [Token(1)], "{backend}");
    }
}

#[test]
fn blocking_select_returns_when_data_arrives() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            write_byte(b.as_raw_fd());
            b
        });
        let mut events = Events::with_capacity(8);
        watchdog(Duration::from_secs(10), move || {
            s.select(&mut events, None).unwrap();
            assert_eq!(tokens(&events), [Token(1)], "{backend}");
        });
        drop(writer.join().unwrap());
    }
}

#[test]
fn peer_close_is_a_hangup_and_readable() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let (r, w) = pipe();
        s.register(&r, Token(2), Interest::READABLE).unwrap();
        drop(b);
        drop(w);
        let mut events = Events::with_capacity(8);
        for _ in 0..2 {
            poll_now(&s, &mut events);
            assert_eq!(tokens(&events), [Token(1), Token(2)], "{backend}");
            let sock = find(&events, Token(1)).unwrap();
            let pipe = find(&events, Token(2)).unwrap();
            // Python sees a readable fd (reading gives EOF) either way.
            assert!(
                sock.selectors_mask() & EVENT_READ != 0,
                "{backend}: {sock:?}"
            );
            assert!(
                pipe.selectors_mask() & EVENT_READ != 0,
                "{backend}: {pipe:?}"
            );
            assert!(sock.is_readable(), "{backend}: {sock:?}");
            if reports_conditions(backend) {
                assert!(sock.is_hangup(), "{backend}: {sock:?}");
                assert!(pipe.is_hangup(), "{backend}: {pipe:?}");
            } else {
                assert!(pipe.is_readable(), "{backend}: {pipe:?}");
            }
        }
    }
}

#[test]
fn half_close_makes_the_peer_readable() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(1)], "{backend}");
        assert!(find(&events, Token(1)).unwrap().is_readable(), "{backend}");
    }
}

#[test]
fn error_condition_on_a_pipe_without_reader() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (r, w) = pipe();
        s.register(&w, Token(1), Interest::WRITABLE).unwrap();
        drop(r);
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(1)], "{backend}");
        let e = find(&events, Token(1)).unwrap();
        assert!(e.selectors_mask() & EVENT_WRITE != 0, "{backend}: {e:?}");
        if reports_conditions(backend) {
            assert!(e.is_error(), "{backend}: {e:?}");
        } else {
            assert!(e.is_writable(), "{backend}: {e:?}");
        }
    }
}

#[test]
fn empty_interest_still_reports_hangup_where_the_kernel_does() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (r, w) = pipe();
        s.register(&r, Token(1), Interest::NONE).unwrap();
        write_byte(w.as_raw_fd());
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert!(
            events.is_empty(),
            "{backend}: data reported without interest"
        );
        drop(w);
        poll_now(&s, &mut events);
        if reports_conditions(backend) {
            // epoll and poll always report hang-ups and errors.
            let e = find(&events, Token(1)).expect("hang-up reported");
            assert!(e.is_hangup() && !e.is_readable(), "{backend}: {e:?}");
        } else {
            assert!(events.is_empty(), "{backend}: {events:?}");
        }
    }
}

#[test]
fn interest_masks_what_is_reported() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        // Three sockets, each readable and writable; each registered for a different interest.
        let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
        let interests = [Interest::READABLE, Interest::WRITABLE, Interest::BOTH];
        for (i, ((a, b), interest)) in pairs.iter().zip(interests).enumerate() {
            write_byte(b.as_raw_fd());
            s.register(a, Token(i), interest).unwrap();
        }
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(0), Token(1), Token(2)], "{backend}");
        for (i, interest) in interests.iter().enumerate() {
            let e = find(&events, Token(i)).unwrap();
            assert_eq!(e.is_readable(), interest.is_readable(), "{backend}: {e:?}");
            assert_eq!(e.is_writable(), interest.is_writable(), "{backend}: {e:?}");
            assert_eq!(e.selectors_mask(), interest.bits(), "{backend}: {e:?}");
        }
    }
}

/// Runs `selects` selects with `capacity` on `n` always-ready fds (never drained) and
/// returns every token seen.
fn seen_with_capacity(
    s: &Selector,
    capacity: usize,
    selects: usize,
    timeout: Option<Duration>,
) -> BTreeSet<Token> {
    let mut events = Events::with_capacity(capacity);
    let mut seen = BTreeSet::new();
    for _ in 0..selects {
        s.select(&mut events, timeout).unwrap();
        assert!(events.len() <= capacity, "{}: {events:?}", s.backend());
        assert!(!events.is_empty(), "{}: nothing reported", s.backend());
        seen.extend(events.iter().map(|e| e.token()));
    }
    seen
}

#[test]
fn capacity_smaller_than_ready_reports_the_rest_next_time() {
    let _fds = shared_fds();
    for backend in backends() {
        for n in [2usize, 3, 5, 8] {
            let s = selector(backend);
            let pairs: Vec<_> = (0..n).map(|_| pair()).collect();
            for (i, (a, b)) in pairs.iter().enumerate() {
                write_byte(b.as_raw_fd());
                s.register(a, Token(i), Interest::READABLE).unwrap();
            }
            let all: BTreeSet<Token> = (0..n).map(Token).collect();
            for capacity in 1..n {
                // The ready fds stay ready (nothing is read): the ones left out by one select
                // must come in the next ones, not be starved by those reported first.
                let selects = n.div_ceil(capacity);
                for timeout in [Some(Duration::ZERO), Some(Duration::from_secs(5))] {
                    let seen = seen_with_capacity(&s, capacity, selects, timeout);
                    assert_eq!(
                        seen, all,
                        "{backend}: {n} ready, capacity {capacity}, {selects} selects \
                         ({timeout:?})"
                    );
                }
            }
        }
    }
}

#[test]
fn fds_unregistered_while_blocked_are_not_reported() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let (a, b) = pair();
        let (c, _d) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        s.register(&c, Token(2), Interest::READABLE).unwrap();
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut events = Events::with_capacity(8);
                s.select(&mut events, Some(Duration::from_secs(10)))
                    .unwrap();
                tokens(&events)
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        s.unregister(&a).unwrap();
        write_byte(b.as_raw_fd()); // `a` readable, but no longer registered
        std::thread::sleep(Duration::from_millis(30));
        s.wake().unwrap();
        let got = watchdog(Duration::from_secs(20), move || waiter.join().unwrap());
        assert!(got.is_empty(), "{backend}: reported {got:?}");
    }
}

#[test]
fn a_select_started_after_unregister_never_reports_it() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let (a, b) = pair();
        write_byte(b.as_raw_fd()); // always readable
                                   // `done` counts the registrations (token k = k-th) whose unregister has returned.
        let done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let selects = Arc::new(AtomicUsize::new(0));
        let selecting = {
            let (s, done, stop, selects) = (s.clone(), done.clone(), stop.clone(), selects.clone());
            std::thread::spawn(move || {
                let mut events = Events::with_capacity(8);
                while !stop.load(Ordering::Acquire) {
                    let before = done.load(Ordering::Acquire);
                    s.select(&mut events, Some(Duration::from_millis(2)))
                        .unwrap_or_else(|e| panic!("{}: select: {e:?}", s.backend()));
                    for e in &events {
                        assert!(
                            e.token().0 >= before,
                            "{}: token {} reported by a select that started after its \
                             unregister",
                            s.backend(),
                            e.token().0
                        );
                    }
                    selects.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        watchdog(Duration::from_secs(20), {
            let s = s.clone();
            move || {
                // At least 2000 registrations, overlapping at least 500 selects (fewer under
                // valgrind or a sanitizer, which run it many times slower).
                let scale = slowdown() as usize;
                let (registrations, min_selects) = ((2000 / scale).max(40), (500 / scale).max(10));
                let mut k = 0;
                while k < registrations || selects.load(Ordering::Relaxed) < min_selects {
                    s.register(&a, Token(k), Interest::READABLE).unwrap();
                    s.unregister(&a).unwrap();
                    k += 1;
                    done.store(k, Ordering::Release);
                }
            }
        });
        stop.store(true, Ordering::Release);
        selecting.join().unwrap();
    }
}

#[test]
fn a_huge_events_capacity_allocates_only_what_is_needed() {
    // `usize::MAX` reads as "no limit": select must not try to reserve room for that many
    // kernel events up front (the process used to abort on a 24 GiB allocation with epoll).
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
        for (i, (a, _)) in pairs.iter().enumerate() {
            s.register(a, Token(i), Interest::WRITABLE).unwrap();
        }
        for capacity in [usize::MAX, usize::MAX / 2, 1 << 40, i32::MAX as usize + 7] {
            let mut events = Events::with_capacity(capacity);
            poll_now(&s, &mut events);
            assert_eq!(tokens(&events), [Token(0), Token(1), Token(2)], "{backend}");
            s.select(&mut events, Some(Duration::from_secs(1))).unwrap();
            assert_eq!(events.len(), 3, "{backend}");
        }
    }
}
