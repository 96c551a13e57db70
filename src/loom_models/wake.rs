//! Wake-ups: `WakeState::wake` (swap, then write) against `consume` (drain, then swap).
//!
//! Two threads block in `select(None)` while a third wakes the selector twice. Wake-ups that
//! arrive before a select consumes one count once, so one or both waiters return; once one
//! has, one more wake-up is issued and both must return: a wake-up that left the flag set
//! but the notifier drained (the lost wake-up of a swap before the drain) would leave the
//! second waiter blocked, which loom reports as a deadlock. Every return is a wake-up with no
//! events, and the notifier is written at most once per wake-up consumed (coalescing).

use super::{check, select, selector};
use crate::sys::model;
use crate::{Backend, Selector, Waker};
use loom::sync::mpsc::channel;
use loom::thread;
use std::sync::Arc;

/// How the waking thread wakes.
#[derive(Clone, Copy)]
enum By {
    /// `Selector::wake`: makes the notifier if it finds a thread waiting and there is none.
    Selector,
    /// A `Waker` (the notifier is made with it, before the threads start).
    Waker,
}

fn two_waiters(backend: Backend, by: By) {
    let s = selector(backend);
    let waker = matches!(by, By::Waker).then(|| s.waker().expect("a waker"));
    let wake = move |s: &Selector, w: &Option<Waker>| match w {
        Some(w) => w.wake().expect("wake"),
        None => s.wake().expect("wake"),
    };
    let (tx, rx) = channel();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (s, tx) = (s.clone(), tx.clone());
            thread::spawn(move || tx.send(select(&s, None)).expect("send"))
        })
        .collect();
    let waking = {
        let (s, waker) = (s.clone(), waker.clone());
        thread::spawn(move || {
            wake(&s, &waker);
            wake(&s, &waker);
        })
    };
    let first = rx.recv().expect("a waiter returns");
    wake(&s, &waker);
    waking.join().expect("waker");
    for w in waiters {
        w.join().expect("waiter");
    }
    let second = rx.recv().expect("both return");
    for o in [first, second] {
        assert!(o.woken && o.tokens.is_empty(), "{o:?}");
    }
    // Each select consumed one wake-up; a pending one is the other. No more writes than that.
    let pending = u64::from(s.wake_pending());
    let writes = model::notifier_writes();
    assert!(
        writes <= 2 + pending,
        "{writes} writes for {} wake-ups",
        2 + pending
    );
    drop(waker);
    assert!(Arc::strong_count(&s) == 1);
}

#[test]
fn epoll_selector_wake() {
    check("wake: epoll, Selector::wake, lazy notifier", 2, || {
        two_waiters(Backend::Epoll, By::Selector)
    });
}

#[test]
fn epoll_waker() {
    check("wake: epoll, Waker", 2, || {
        two_waiters(Backend::Epoll, By::Waker)
    });
}

#[test]
fn poll_selector_wake() {
    check("wake: poll, Selector::wake, lazy notifier", 2, || {
        two_waiters(Backend::Poll, By::Selector)
    });
}
