//! `reopen`'s epoch: every thread blocked on the replaced epoll set waits again on the new
//! one.
//!
//! Two threads select without a timeout; the main thread reopens the selector (a new set
//! under the same number, holding the one registration) and then registers a ready socket,
//! which only the new set holds. Both selects must return with its event: a thread left on
//! the old set would never see it (a deadlock). The nudge that `reopen` writes wakes one
//! thread at least; the one that drains it passes it on when it sees the epoch changed.

use super::{check, select, selector};
use crate::sys::model::{self, Socket};
use crate::{Backend, Interest, Token};
use loom::thread;

fn reopen_with_waiters() {
    let s = selector(Backend::Epoll);
    let kept = Socket::new();
    s.register(kept.fd(), Token(1), Interest::READABLE)
        .expect("register");
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            thread::spawn(move || select(&s, None))
        })
        .collect();
    s.reopen([(kept.fd(), Token(1), Interest::READABLE)])
        .expect("reopen");
    let fresh = Socket::new();
    fresh.set_readable(true);
    s.register(fresh.fd(), Token(2), Interest::READABLE)
        .expect("register");
    for o in waiters.into_iter().map(|w| w.join().expect("waiter")) {
        assert!(!o.woken && o.tokens == [2], "{o:?}");
    }
    // One set (the new one, under the old number): the registrations and the notifier.
    assert_eq!(model::epolls().len(), 1);
    let mut tokens: Vec<Token> = super::epoll_set()
        .into_iter()
        .map(|(_, _, t)| Token(t))
        .collect();
    tokens.sort_by_key(|t| t.0);
    assert_eq!(tokens, [Token(1), Token(2), Token::NOTIFY]);
}

#[test]
fn epoll() {
    check(
        "reopen: epoll, two threads blocked on the replaced set",
        1,
        reopen_with_waiters,
    );
}
