//! Registering, modifying and unregistering from other threads while one thread waits.
//!
//! The stress test runs ~1 s per backend here. The soak variant is ignored by default; run it
//! with `cargo test --no-default-features --release --test concurrent_modification -- --ignored`
//! (`RSELECTORS_SOAK_OPS` sets the operations per backend, default 1,000,000).
// Socket pairs only: runs on Windows too (loopback TCP pairs there).

mod common;

use common::*;
use rselectors::{Events, Interest, Selector, Token};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Spawns a thread blocked in `select(timeout)` on `s`; returns its handle (tokens reported).
fn blocked_select(
    s: &Arc<Selector>,
    timeout: Option<Duration>,
) -> std::thread::JoinHandle<Vec<Token>> {
    let s = s.clone();
    std::thread::spawn(move || {
        let mut events = Events::with_capacity(16);
        s.select(&mut events, timeout).unwrap();
        tokens(&events)
    })
}

#[test]
fn registering_a_ready_fd_wakes_a_blocked_select() {
    let _fds = shared_fds();
    for backend in backends() {
        for timeout in [None, Some(Duration::from_secs(30))] {
            let s = Arc::new(selector(backend));
            let (idle, _idle_peer) = pair();
            s.register(&idle, Token(1), Interest::READABLE).unwrap();
            let (a, b) = pair();
            send_byte(&b);

            // register
            let waiter = blocked_select(&s, timeout);
            std::thread::sleep(Duration::from_millis(30));
            s.register(&a, Token(2), Interest::READABLE).unwrap();
            let got = watchdog(Duration::from_secs(20), move || waiter.join().unwrap());
            assert_eq!(got, [Token(2)], "{backend} {timeout:?}");

            // modify: from no interest to a ready one
            s.modify(&a, Token(3), Interest::NONE).unwrap();
            let waiter = blocked_select(&s, timeout);
            std::thread::sleep(Duration::from_millis(30));
            s.modify(&a, Token(3), Interest::READABLE).unwrap();
            let got = watchdog(Duration::from_secs(20), move || waiter.join().unwrap());
            assert_eq!(got, [Token(3)], "{backend} {timeout:?}");

            // A writable fd registered while the waiter is blocked (a second change).
            s.unregister(&a).unwrap();
            let waiter = blocked_select(&s, timeout);
            std::thread::sleep(Duration::from_millis(30));
            s.register(&a, Token(4), Interest::WRITABLE).unwrap();
            let got = watchdog(Duration::from_secs(20), move || waiter.join().unwrap());
            assert_eq!(got, [Token(4)], "{backend} {timeout:?}");
        }
    }
}

#[test]
fn a_first_select_racing_with_the_first_registration_sees_it() {
    // A registration at the moment of a fresh selector's first blocking select must still
    // reach it (or be in the set it copies).
    let _fds = shared_fds();
    for backend in backends() {
        for round in 0..100 {
            let s = Arc::new(selector(backend));
            let (a, b) = pair();
            send_byte(&b);
            let start = Arc::new(Barrier::new(2));
            let waiter = {
                let (s, start) = (s.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let mut events = Events::with_capacity(4);
                    s.select(&mut events, None).unwrap();
                    tokens(&events)
                })
            };
            start.wait();
            s.register(&a, Token(7), Interest::READABLE).unwrap();
            let got = watchdog(Duration::from_secs(20), move || waiter.join().unwrap());
            assert_eq!(got, [Token(7)], "{backend}, round {round}");
        }
    }
}

#[test]
fn unregister_then_close_while_another_thread_selects() {
    // The documented order (unregister, then close) from one thread while another selects:
    // the waiter may still hold a copy of the set with the closed fd in it, which must not
    // fail its select (select(2) answers EBADF for a closed fd in its sets).
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let (idle, _idle_peer) = pair();
        s.register(&idle, Token(0), Interest::READABLE).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let selecting = {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut events = Events::with_capacity(8);
                let mut selects = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Mostly zero timeouts: many set snapshots, each a chance to hold a
                    // closed fd.
                    let timeout = if selects % 8 == 0 { 100 } else { 0 };
                    s.select(&mut events, Some(Duration::from_micros(timeout)))
                        .unwrap_or_else(|e| panic!("{}: select: {e}", s.backend()));
                    selects += 1;
                }
                selects
            })
        };
        watchdog(Duration::from_secs(30), {
            let s = s.clone();
            move || {
                let (a, b) = pair();
                send_byte(&b);
                // (Fewer on Windows, where a clone is a WSADuplicateSocket: under Wine a
                // round trip through its server.)
                for _ in 0..if cfg!(windows) { 5_000 } else { 20_000 } {
                    let fd = a.try_clone().unwrap(); // a new fd number for the same socket
                    s.register(&fd, Token(1), Interest::READABLE).unwrap();
                    s.unregister(&fd).unwrap();
                    drop(fd);
                }
            }
        });
        stop.store(true, Ordering::Relaxed);
        assert!(selecting.join().unwrap() > 0, "{backend}");
    }
}

/// One worker's socket: registered with `state`, or not.
struct Slot {
    sock: Stream,
    _peer: Stream,
    state: Option<(Token, Interest)>,
    /// Bumped (and published) before each register/modify: tokens carry it.
    version: u64,
}

const WORKERS: usize = 8;
const SLOTS: usize = 12;

/// Token for worker `w`, slot `i`, version `v`.
fn token(w: usize, i: usize, v: u64) -> Token {
    Token((w << 40) | (i << 32) | v as usize)
}

fn decode(t: Token) -> (usize, usize, u64) {
    (t.0 >> 40, (t.0 >> 32) & 0xff, (t.0 & 0xffff_ffff) as u64)
}

/// 8 workers do random register/modify/unregister on their own sockets (each knows its
/// ground truth) while one thread loops in `select`; then the selector's state is compared
/// with the ground truth through readiness reports. Returns (operations, selects).
fn stress(s: Arc<Selector>, ops_per_worker: Option<u64>, run_for: Duration) -> (u64, u64) {
    let backend = s.backend();
    // Per (worker, slot): the latest version issued (published before its register/modify),
    // and the latest version retired (published after the modify/unregister that replaced it
    // returned). A select must never report a version newer than issued (invented) or one
    // already retired when the select started (stale).
    let issued: Arc<Vec<AtomicU64>> =
        Arc::new((0..WORKERS * SLOTS).map(|_| AtomicU64::new(0)).collect());
    let retired: Arc<Vec<AtomicU64>> =
        Arc::new((0..WORKERS * SLOTS).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let selects = Arc::new(AtomicUsize::new(0));

    let selecting = {
        let (s, stop, selects, issued, retired) = (
            s.clone(),
            stop.clone(),
            selects.clone(),
            issued.clone(),
            retired.clone(),
        );
        std::thread::spawn(move || {
            let mut events = Events::with_capacity(32);
            let mut retired_before = vec![0u64; WORKERS * SLOTS];
            while !stop.load(Ordering::Acquire) {
                for (r, at) in retired_before.iter_mut().zip(retired.iter()) {
                    *r = at.load(Ordering::Acquire);
                }
                s.select(&mut events, Some(Duration::from_millis(5)))
                    .unwrap_or_else(|e| panic!("{backend}: select: {e}"));
                for e in &events {
                    let (w, i, v) = decode(e.token());
                    assert!(w < WORKERS && i < SLOTS, "{backend}: unknown token {e:?}");
                    let latest = issued[w * SLOTS + i].load(Ordering::Acquire);
                    assert!(
                        v <= latest,
                        "{backend}: phantom token {e:?} (latest {latest})"
                    );
                    let gone = retired_before[w * SLOTS + i];
                    assert!(
                        v > gone,
                        "{backend}: {e:?} reported by a select that started after version \
                         {gone} was modified away or unregistered"
                    );
                }
                selects.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let start = Arc::new(Barrier::new(WORKERS));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (s, start, issued, retired) =
                (s.clone(), start.clone(), issued.clone(), retired.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1234_5678_9ABC));
                let mut slots: Vec<Slot> = (0..SLOTS)
                    .map(|i| {
                        let (sock, peer) = pair();
                        if i % 2 == 0 {
                            send_byte(&peer); // readable
                        }
                        Slot {
                            sock,
                            _peer: peer,
                            state: None,
                            version: 0,
                        }
                    })
                    .collect();
                let interests = [
                    Interest::READABLE,
                    Interest::WRITABLE,
                    Interest::BOTH,
                    Interest::NONE,
                ];
                start.wait();
                let began = Instant::now();
                let mut ops = 0u64;
                loop {
                    let done = match ops_per_worker {
                        Some(n) => ops >= n,
                        None => ops % 64 == 0 && began.elapsed() >= run_for,
                    };
                    if done {
                        break;
                    }
                    ops += 1;
                    let i = rng.below(SLOTS as u64) as usize;
                    let slot = &mut slots[i];
                    let interest = interests[rng.below(4) as usize];
                    let roll = rng.below(100);
                    match slot.state {
                        None if roll < 90 => {
                            slot.version += 1;
                            issued[w * SLOTS + i].store(slot.version, Ordering::Release);
                            let t = token(w, i, slot.version);
                            s.register(&slot.sock, t, interest).unwrap();
                            slot.state = Some((t, interest));
                        }
                        None if roll < 95 => {
                            let e = s.unregister(&slot.sock).unwrap_err();
                            assert_eq!(e.kind(), ErrorKind::NotFound, "{backend}: {e}");
                        }
                        None => {
                            let e = s.modify(&slot.sock, Token(0), interest).unwrap_err();
                            assert_eq!(e.kind(), ErrorKind::NotFound, "{backend}: {e}");
                        }
                        Some(_) if roll < 45 => {
                            slot.version += 1;
                            issued[w * SLOTS + i].store(slot.version, Ordering::Release);
                            let t = token(w, i, slot.version);
                            s.modify(&slot.sock, t, interest).unwrap();
                            slot.state = Some((t, interest));
                            retired[w * SLOTS + i].store(slot.version - 1, Ordering::Release);
                        }
                        Some(_) if roll < 90 => {
                            s.unregister(&slot.sock).unwrap();
                            slot.state = None;
                            retired[w * SLOTS + i].store(slot.version, Ordering::Release);
                        }
                        Some(_) => {
                            let e = s.register(&slot.sock, Token(0), interest).unwrap_err();
                            assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{backend}: {e}");
                        }
                    }
                }
                (slots, ops)
            })
        })
        .collect();

    let mut all_slots = Vec::new();
    let mut ops = 0;
    for w in workers {
        let (slots, n) = w.join().unwrap();
        all_slots.push(slots);
        ops += n;
    }
    stop.store(true, Ordering::Release);
    selecting.join().unwrap();

    // Ground truth vs. the selector: make every socket readable (and they are all
    // writable); one select must report exactly the registrations with an interest, each
    // under its latest token with exactly its interest.
    for slots in &all_slots {
        for slot in slots {
            send_byte(&slot._peer);
        }
    }
    let mut events = Events::with_capacity(WORKERS * SLOTS + 8);
    s.select(&mut events, Some(Duration::ZERO)).unwrap();
    let reported: HashMap<Token, (bool, bool)> = events
        .iter()
        .map(|e| (e.token(), (e.is_readable(), e.is_writable())))
        .collect();
    assert_eq!(reported.len(), events.len(), "{backend}: duplicate tokens");
    let mut expected = HashMap::new();
    for slots in &all_slots {
        for slot in slots {
            if let Some((t, interest)) = slot.state {
                if !interest.is_empty() {
                    expected.insert(t, (interest.is_readable(), interest.is_writable()));
                }
            }
        }
    }
    assert_eq!(
        reported, expected,
        "{backend}: lost or phantom registrations"
    );
    // And the table agrees on who is registered (including empty interests).
    for slots in &all_slots {
        for slot in slots {
            match slot.state {
                Some(_) => {
                    let e = s
                        .register(&slot.sock, Token(0), Interest::READABLE)
                        .unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{backend}");
                    s.unregister(&slot.sock).unwrap();
                }
                None => {
                    let e = s.unregister(&slot.sock).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{backend}");
                }
            }
        }
    }
    s.select(&mut events, Some(Duration::ZERO)).unwrap();
    assert!(events.is_empty(), "{backend}: left over: {events:?}");
    (ops, selects.load(Ordering::Relaxed) as u64)
}

#[test]
fn eight_threads_modify_while_one_selects() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let (ops, selects) = watchdog(Duration::from_secs(60), move || {
            stress(s, None, Duration::from_millis(700))
        });
        assert!(
            ops > 1000 && selects > 10,
            "{backend}: {ops} ops, {selects} selects"
        );
    }
}

#[test]
#[ignore = "soak: run with --ignored (RSELECTORS_SOAK_OPS, default 1,000,000 per backend)"]
fn soak_eight_threads_modify_while_one_selects() {
    let _fds = shared_fds();
    let total: u64 = std::env::var("RSELECTORS_SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let began = Instant::now();
        let (ops, selects) = watchdog(Duration::from_secs(3600), move || {
            stress(s, Some(total / WORKERS as u64), Duration::ZERO)
        });
        eprintln!(
            "{backend}: {ops} operations from {WORKERS} threads, {selects} selects, {:?}",
            began.elapsed()
        );
    }
}
