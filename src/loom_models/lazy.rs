//! The notifier made at first need (`crate::own`): a wake-up that finds no notifier makes one
//! only if a thread waits (`OwnFds::wake`: the flag, a fence, the count), a waiter counts
//! itself before it looks at the flag (`OwnFds::waiting`: the count, a fence, the flag);
//! whoever makes it does so under the `making` mutex, publishing it (`made`) before the
//! backend has it and `ready` after.

use super::{check, select, selector};
use crate::sys::model;
use crate::sys::poll;
use crate::sys::Instant;
use crate::Backend;
use loom::thread;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// One waiter, one wake-up through the selector, no notifier yet: the waiter returns, woken
/// (either it saw the flag, or the wake-up saw it waiting and made the notifier).
fn handshake(backend: Backend) {
    let s = selector(backend);
    let waiter = {
        let s = s.clone();
        thread::spawn(move || select(&s, None))
    };
    s.wake().expect("wake");
    let o = waiter.join().expect("waiter");
    assert!(o.woken && o.tokens.is_empty(), "{o:?}");
}

#[test]
fn epoll_handshake() {
    check(
        "lazy notifier: epoll, a wake-up against a waiter",
        3,
        || handshake(Backend::Epoll),
    );
}

#[test]
fn poll_handshake() {
    check("lazy notifier: poll, a wake-up against a waiter", 3, || {
        handshake(Backend::Poll)
    });
}

/// Three makers at once: a waiter (on poll, whose waits make the notifier before they block),
/// a wake-up that finds it waiting, and `waker()`. One notifier is made, and it is the
/// selector's; the waiter returns woken.
fn makers(backend: Backend) {
    let s = selector(backend);
    let waiter = {
        let s = s.clone();
        thread::spawn(move || select(&s, None))
    };
    let waking = {
        let s = s.clone();
        thread::spawn(move || s.wake().expect("wake"))
    };
    let waker = s.waker().expect("waker");
    waking.join().expect("waking");
    let o = waiter.join().expect("waiter");
    assert!(o.woken && o.tokens.is_empty(), "{o:?}");
    assert_eq!(model::notifiers_made(), 1);
    let open: Vec<_> = model::open_fds()
        .into_iter()
        .filter(|&fd| fd >= model::FIRST_FD)
        .collect();
    assert!(open.len() == 1 && s.owns(open[0]), "{open:?}");
    drop(waker);
}

#[test]
fn poll_makers() {
    check("lazy notifier: poll, three makers at once", 2, || {
        makers(Backend::Poll)
    });
}

#[test]
fn epoll_makers() {
    check("lazy notifier: epoll, two makers and a waiter", 2, || {
        makers(Backend::Epoll)
    });
}

/// `try_as_fd` (the selector nested in another loop) against a wake-up: the kernel object's
/// fd becomes readable, whichever comes first, and the select the outer loop then runs
/// reports the wake-up.
fn nested() {
    let s = selector(Backend::Epoll);
    let outer = {
        let s = s.clone();
        thread::spawn(move || {
            let fd = s.try_as_fd().expect("an epoll fd").as_raw_fd();
            let mut watched = [poll::pollfd(fd, poll::POLLIN)];
            poll::poll(&mut watched, None).expect("the outer wait");
            select(&s, Some(Duration::ZERO))
        })
    };
    s.wake().expect("wake");
    let o = outer.join().expect("outer loop");
    assert!(o.woken, "{o:?}");
}

#[test]
fn epoll_nested() {
    check(
        "lazy notifier: epoll nested in an outer loop, a wake-up",
        3,
        nested,
    );
}

/// The timer, the other own fd made at first need: two threads wait less than a millisecond
/// at once, so both may make it and both arm and disarm it, each for its own wait. One timer
/// is made; no wait returns before its deadline on the model's clock (a wait whose timer the
/// other thread re-armed or disarmed ends on the kernel's timeout instead, or waits again for
/// the time left), none reports an event.
fn sub_millisecond_waits() {
    let s = selector(Backend::Epoll);
    let waits: Vec<_> = [300, 500]
        .into_iter()
        .map(|micros| {
            let s = s.clone();
            thread::spawn(move || {
                let timeout = Duration::from_micros(micros);
                let start = Instant::now();
                let o = select(&s, Some(timeout));
                let waited = Instant::now().saturating_duration_since(start);
                assert!(!o.woken && o.tokens.is_empty(), "{o:?}");
                assert!(waited >= timeout, "waited {waited:?} of {timeout:?}");
            })
        })
        .collect();
    for w in waits {
        w.join().expect("waiter");
    }
    assert_eq!(model::timers_made(), 1);
}

#[test]
fn epoll_timer() {
    check(
        "lazy timer: epoll, two sub-millisecond waits at once",
        2,
        sub_millisecond_waits,
    );
}
