//! `shut_down` against selects about to block: once `shut_down` has returned, no select
//! blocks, and none returns a stale event.
//!
//! Two threads select without a timeout while a third wakes the selector once and the main
//! thread shuts it down, then selects itself. Every select must return (a deadlock
//! otherwise), as woken, with no event: the one registered socket was readable only before
//! the threads started, when each thread's event buffer was filled from it (an event left in
//! a buffer would be a stale one). The wake-up may be consumed by one waiter before the other
//! has looked at the flags, and `shut_down`'s own wake-up may coalesce with it: the case of a
//! waiter that must still see the shutdown.

use super::{check, outcome, select, selector};
use crate::sys::model::Socket;
use crate::{Backend, Events, Interest, Selector, Token};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

/// An event buffer holding the socket's event, as a select left it.
fn filled(s: &Selector, socket: &Socket) -> Events {
    let mut events = Events::with_capacity(4);
    socket.set_readable(true);
    s.select(&mut events, Some(Duration::ZERO)).expect("select");
    assert_eq!(events.iter().count(), 1);
    socket.set_readable(false);
    events
}

fn shut_down_with_waiters(backend: Backend) {
    let s = selector(backend);
    let socket = Socket::new();
    s.register(socket.fd(), Token(7), Interest::READABLE)
        .expect("register");
    let mut buffers: Vec<Events> = (0..3).map(|_| filled(&s, &socket)).collect();
    let mut events = buffers.pop().expect("main's");
    let waiters: Vec<_> = buffers
        .into_iter()
        .map(|mut events| {
            let s = s.clone();
            thread::spawn(move || {
                s.select(&mut events, None).expect("select");
                outcome(&events)
            })
        })
        .collect();
    let waking = {
        let s = s.clone();
        thread::spawn(move || s.wake().expect("wake"))
    };
    s.shut_down();
    s.select(&mut events, None).expect("select");
    let mine = outcome(&events);
    waking.join().expect("waker");
    for o in waiters.into_iter().map(|w| w.join().expect("waiter")) {
        assert!(o.woken && o.tokens.is_empty(), "{o:?}");
    }
    assert!(mine.woken && mine.tokens.is_empty(), "{mine:?}");
    drop(socket);
    assert!(Arc::strong_count(&s) == 1);
}

/// The smallest case of a coalesced `shut_down`: the wake-up is pending before the threads
/// start (it found no thread waiting: the flag alone carries it), one waiter consumes it,
/// the other must still see the shutdown. Three preemptions: each waiter stops half-way.
fn coalesced(backend: Backend) {
    let s = selector(backend);
    s.wake().expect("wake");
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            thread::spawn(move || select(&s, None))
        })
        .collect();
    s.shut_down();
    for o in waiters.into_iter().map(|w| w.join().expect("waiter")) {
        assert!(o.woken && o.tokens.is_empty(), "{o:?}");
    }
}

#[test]
fn epoll_coalesced() {
    check(
        "shut_down: epoll, coalesced with a pending wake-up",
        3,
        || coalesced(Backend::Epoll),
    );
}

#[test]
fn poll_coalesced() {
    check(
        "shut_down: poll, coalesced with a pending wake-up",
        3,
        || coalesced(Backend::Poll),
    );
}

#[test]
fn epoll() {
    check("shut_down: epoll, two waiters and a wake-up", 2, || {
        shut_down_with_waiters(Backend::Epoll)
    });
}

#[test]
fn poll() {
    check("shut_down: poll, two waiters and a wake-up", 2, || {
        shut_down_with_waiters(Backend::Poll)
    });
}
