//! Nesting: a selector with a kernel object (epoll here) exposes its fd, which is readable in
//! another event loop whenever `select` would report something. poll and select keep their
//! set in user space and have no fd: `try_as_fd()` is `None` and `as_fd()` panics.
// On Unix fds (pipes, socket pairs, fd numbers); tests/winsock.rs covers Windows.
#![cfg(unix)]

mod common;

use common::*;
use rselectors::{Backend, Events, Interest, Selector, Token};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Duration;

/// The backends with a kernel object whose fd can be nested.
fn nestable() -> Vec<Backend> {
    backends()
        .into_iter()
        .filter(|b| !matches!(b, Backend::Poll | Backend::Select))
        .collect()
}

#[test]
fn inner_fd_is_readable_exactly_when_the_inner_selector_has_events() {
    let _fds = shared_fds();
    for inner_backend in nestable() {
        for outer_backend in backends() {
            let ctx = format!("{inner_backend} in {outer_backend}");
            let inner = selector(inner_backend);
            let outer = selector(outer_backend);
            let (a, b) = pair();
            inner.register(&a, Token(1), Interest::READABLE).unwrap();
            // `&Selector` is a `Source` through `AsRawFd`.
            outer
                .register(&inner, Token(100), Interest::READABLE)
                .unwrap();

            let mut events = Events::with_capacity(8);
            poll_now(&outer, &mut events);
            assert!(events.is_empty(), "{ctx}: {events:?}");

            write_byte(b.as_raw_fd());
            outer
                .select(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            assert_eq!(tokens(&events), [Token(100)], "{ctx}");
            assert!(find(&events, Token(100)).unwrap().is_readable(), "{ctx}");
            // Level-triggered through the nesting too.
            poll_now(&outer, &mut events);
            assert_eq!(tokens(&events), [Token(100)], "{ctx}");

            let mut inner_events = Events::with_capacity(8);
            poll_now(&inner, &mut inner_events);
            assert_eq!(tokens(&inner_events), [Token(1)], "{ctx}");

            drain(a.as_raw_fd());
            poll_now(&outer, &mut events);
            assert!(events.is_empty(), "{ctx}: {events:?}");
            outer.unregister(&inner).unwrap();
        }
    }
}

#[test]
fn a_blocked_outer_select_returns_when_the_inner_one_becomes_ready() {
    let _fds = shared_fds();
    for inner_backend in nestable() {
        for outer_backend in backends() {
            let inner = selector(inner_backend);
            let outer = Arc::new(selector(outer_backend));
            let (a, b) = pair();
            inner.register(&a, Token(1), Interest::READABLE).unwrap();
            outer
                .register(inner.as_fd(), Token(100), Interest::READABLE)
                .unwrap();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                write_byte(b.as_raw_fd());
                b
            });
            let got = watchdog(Duration::from_secs(20), move || {
                let mut events = Events::with_capacity(8);
                outer.select(&mut events, None).unwrap();
                tokens(&events)
            });
            assert_eq!(got, [Token(100)], "{inner_backend} in {outer_backend}");
            drop(writer.join().unwrap());
        }
    }
}

#[test]
fn a_pending_wake_makes_the_inner_fd_readable_until_consumed() {
    let _fds = shared_fds();
    for inner_backend in nestable() {
        let inner = selector(inner_backend);
        let outer = selector(Backend::Poll);
        outer
            .register(&inner, Token(100), Interest::READABLE)
            .unwrap();
        let mut events = Events::with_capacity(8);
        inner.wake().unwrap();
        poll_now(&outer, &mut events);
        assert_eq!(tokens(&events), [Token(100)], "{inner_backend}");
        // The inner select returns at once (the wake-up) and consumes it.
        let mut inner_events = Events::with_capacity(8);
        inner
            .select(&mut inner_events, Some(Duration::from_secs(20)))
            .unwrap();
        assert!(inner_events.is_empty());
        poll_now(&outer, &mut events);
        assert!(events.is_empty(), "{inner_backend}: {events:?}");
    }
}

#[test]
fn kernel_backends_expose_their_fd() {
    for backend in nestable() {
        let s = selector(backend);
        let fd = s.try_as_fd().expect("a kernel fd").as_raw_fd();
        assert_eq!(s.as_fd().as_raw_fd(), fd);
        assert_eq!(s.as_raw_fd(), fd);
        assert!(format!("{s:?}").contains(&fd.to_string()));
    }
}

#[test]
fn user_space_backends_have_no_fd_and_as_fd_panics() {
    for backend in [Backend::Poll, Backend::Select] {
        let s = selector(backend);
        assert!(s.try_as_fd().is_none(), "{backend}");
        // Documented: `AsFd`/`AsRawFd` panic for poll and select.
        let s = std::panic::AssertUnwindSafe(&s);
        assert!(std::panic::catch_unwind(|| s.as_fd().as_raw_fd()).is_err());
        assert!(std::panic::catch_unwind(|| s.as_raw_fd()).is_err());
        // Debug does not panic.
        let _ = format!("{:?}", *s);
    }
}

#[test]
fn try_as_fd_is_the_way_to_nest_an_unknown_backend() {
    for backend in backends() {
        let s = Selector::with_backend(backend).unwrap();
        let outer = selector(Backend::Poll);
        match s.try_as_fd() {
            Some(fd) => outer.register(fd, Token(1), Interest::READABLE).unwrap(),
            None => assert!(matches!(backend, Backend::Poll | Backend::Select)),
        }
    }
}
