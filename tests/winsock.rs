//! The winsock `select()` backend on loopback TCP sockets (Windows): readiness, merging,
//! modify and unregister, errors for what is no socket, wake-ups and `shut_down` from
//! another thread, timeouts, and more sockets than any `FD_SETSIZE`.
//!
//! Type-checked for Windows by `.ci/cross-check`; run on a Windows machine with `cargo test
//! --test winsock` (README "Windows").
#![cfg(windows)]

use rselectors::{Backend, Events, Interest, Selector, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::windows::io::AsRawSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// WSAENOTSOCK: what `select()` says of something that is not an open socket.
const NOT_A_SOCKET: i32 = 10038;

/// A connected, non-blocking loopback TCP pair.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Selects until something is reported (at most 5 s); returns (token, readable, writable,
/// error) of each event.
fn ready(selector: &Selector, events: &mut Events) -> Vec<(usize, bool, bool, bool)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        selector
            .select(events, Some(Duration::from_millis(100)))
            .unwrap();
        if !events.is_empty() || Instant::now() > deadline {
            let mut out: Vec<_> = events
                .iter()
                .map(|e| (e.token().0, e.is_readable(), e.is_writable(), e.is_error()))
                .collect();
            out.sort();
            return out;
        }
    }
}

#[test]
fn select_is_the_only_backend_and_the_default() {
    assert_eq!(Backend::best(), Backend::Select);
    for backend in Backend::ALL {
        assert_eq!(
            backend.is_available(),
            backend == Backend::Select,
            "{backend}"
        );
    }
    assert_eq!(rselectors::Waker::MECHANISM, "socket pair");
}

#[test]
fn readiness_is_level_triggered_and_merged_per_socket() {
    let (mut a, mut b) = pair();
    let s = Selector::new().unwrap();
    let mut events = Events::with_capacity(16);
    s.register(&a, Token(1), Interest::READABLE).unwrap();
    s.register(&b, Token(2), Interest::WRITABLE).unwrap();
    assert_eq!(ready(&s, &mut events), [(2, false, true, false)]);
    b.write_all(b"ping").unwrap();
    s.modify(&a, Token(1), Interest::BOTH).unwrap();
    // Readable and writable: one event. Level-triggered: again until read.
    for _ in 0..2 {
        let got = ready(&s, &mut events);
        assert!(got.contains(&(1, true, true, false)), "{got:?}");
    }
    let mut buf = [0; 4];
    a.read_exact(&mut buf).unwrap();
    s.unregister(&b).unwrap();
    assert_eq!(ready(&s, &mut events), [(1, false, true, false)]);
    let err = s.unregister(&b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn what_is_not_an_open_socket_fails_the_wait_with_wsaenotsock() {
    let s = Selector::new().unwrap();
    let mut events = Events::with_capacity(4);
    let (a, _b) = pair();
    let number = a.as_raw_socket();
    s.register(number, Token(1), Interest::READABLE).unwrap();
    drop(a);
    let err = s.select(&mut events, Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(NOT_A_SOCKET));
    // Unregistered, the wait works again.
    s.unregister(number).unwrap();
    s.select(&mut events, Some(Duration::ZERO)).unwrap();
}

#[test]
fn more_sockets_than_any_fd_setsize() {
    let s = Selector::new().unwrap();
    let pairs: Vec<_> = (0..600).map(|_| pair()).collect();
    for (i, (a, _)) in pairs.iter().enumerate() {
        s.register(a, Token(i), Interest::READABLE).unwrap();
    }
    (&pairs[599].1).write_all(b"x").unwrap();
    let mut events = Events::with_capacity(16);
    assert_eq!(ready(&s, &mut events), [(599, true, false, false)]);
}

#[test]
fn wake_and_shut_down_end_a_blocked_select_from_another_thread() {
    let s = Arc::new(Selector::new().unwrap());
    let (a, _b) = pair();
    s.register(&a, Token(1), Interest::READABLE).unwrap();
    for shut_down in [false, true] {
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut events = Events::with_capacity(4);
                let start = Instant::now();
                s.select(&mut events, None).unwrap();
                (events.woken(), events.is_empty(), start.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        if shut_down {
            s.shut_down();
        } else {
            s.waker().unwrap().wake().unwrap();
        }
        let (woken, empty, waited) = waiter.join().unwrap();
        assert!(woken && empty && waited < Duration::from_secs(10));
    }
}

#[test]
fn a_registration_from_another_thread_reaches_a_blocked_select() {
    let s = Arc::new(Selector::new().unwrap());
    let (a, mut b) = pair();
    b.write_all(b"x").unwrap();
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut events = Events::with_capacity(4);
            s.select(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            events.iter().map(|e| e.token()).collect::<Vec<_>>()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    s.register(&a, Token(7), Interest::READABLE).unwrap();
    assert_eq!(waiter.join().unwrap(), [Token(7)]);
}

#[test]
fn waits_are_never_shorter_than_asked() {
    let s = Selector::new().unwrap();
    let (a, _b) = pair();
    s.register(&a, Token(1), Interest::READABLE).unwrap();
    let mut events = Events::with_capacity(4);
    for wait in [Duration::from_micros(300), Duration::from_millis(20)] {
        let start = Instant::now();
        s.select(&mut events, Some(wait)).unwrap();
        assert!(events.is_empty() && start.elapsed() >= wait);
    }
}
