//! `register` / `modify` / `unregister` racing a waiter: poll's user-space set (a waiter
//! copies it; a change nudges the waiters through the notifier: `UserSpaceSet`) and epoll's
//! kernel set (with `OwnFds::reclaim` for a caller's call that reaches the notifier).

use super::{check, epoll_set, select, selector};
use crate::sys::model::Socket;
use crate::token::Token;
use crate::{Backend, Interest};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

/// A ready socket registered while a thread waits reaches that wait: it returns with the
/// socket's event (poll: the change nudges it to copy the set again; epoll: the kernel set
/// reaches it).
fn registered_while_waiting(backend: Backend) {
    let s = selector(backend);
    let socket = Socket::new();
    socket.set_readable(true);
    let waiter = {
        let s = s.clone();
        thread::spawn(move || select(&s, None))
    };
    s.register(socket.fd(), Token(1), Interest::READABLE)
        .expect("register");
    let o = waiter.join().expect("waiter");
    assert!(!o.woken && o.tokens == [1], "{o:?}");
}

#[test]
fn poll_registered_while_waiting() {
    check(
        "registration: poll, a ready fd registered while a thread waits",
        3,
        || registered_while_waiting(Backend::Poll),
    );
}

#[test]
fn epoll_registered_while_waiting() {
    check(
        "registration: epoll, a ready fd registered while a thread waits",
        3,
        || registered_while_waiting(Backend::Epoll),
    );
}

const T1: usize = 1;
const T2: usize = 2;

/// A socket registered under T1, modified to T2, made ready, unregistered, then a wake-up,
/// while a thread selects twice (the second with a timeout, which in the model ends at once:
/// a wait that copies the set again, or reuses a copy). `phase` counts the steps done. The
/// socket is ready only after the modify returned, so no select may report T1; a select may
/// report T2 only if it started before the unregister returned. When the calls end, the
/// sets hold nothing of the socket.
fn changes_while_waiting(backend: Backend) {
    let s = selector(backend);
    let socket = Socket::new();
    let fd = socket.fd();
    let phase = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (s, phase) = (s.clone(), phase.clone());
        thread::spawn(move || {
            for timeout in [None, Some(Duration::from_millis(1))] {
                let before = phase.load(Ordering::SeqCst);
                let o = select(&s, timeout);
                for &t in &o.tokens {
                    let live = t == T2 && before < 4;
                    assert!(
                        live,
                        "token {t} from a select started in phase {before}: {o:?}"
                    );
                }
            }
        })
    };
    let step = || phase.fetch_add(1, Ordering::SeqCst);
    s.register(fd, Token(T1), Interest::READABLE)
        .expect("register");
    step();
    s.modify(fd, Token(T2), Interest::READABLE).expect("modify");
    step();
    socket.set_readable(true);
    step();
    s.unregister(fd).expect("unregister");
    step();
    s.wake().expect("wake");
    waiter.join().expect("waiter");
    // Nothing of the socket is left: no select reports it (poll's table), and (epoll) the
    // kernel set holds the notifier alone, if it was made.
    assert!(select(&s, Some(Duration::ZERO)).tokens.is_empty());
    if backend == Backend::Epoll {
        let set = epoll_set();
        assert!(
            set.iter().all(|&(_, _, t)| Token(t) == Token::NOTIFY),
            "{set:?}"
        );
    }
}

#[test]
fn poll_changes_while_waiting() {
    check(
        "registration: poll, register/modify/unregister while a thread waits",
        2,
        || changes_while_waiting(Backend::Poll),
    );
}

#[test]
fn epoll_changes_while_waiting() {
    check(
        "registration: epoll, register/modify/unregister while a thread waits",
        2,
        || changes_while_waiting(Backend::Epoll),
    );
}

/// epoll's stale number: a registered socket closed without `unregister` leaves its number
/// free; a wake-up that finds a thread waiting makes the notifier, which takes that number,
/// while the caller's `modify` of it (or `unregister`, `register`) runs: it passed the
/// selector's check before the notifier existed, or is refused by it. Whatever the order,
/// the call fails (the caller's fd is closed), the notifier ends in the set under its own
/// token, the waiter returns woken, and no event is reported under the removed registration's
/// token.
///
/// `stray`: a token the waiter may report while the call runs. A `modify` to WRITABLE that
/// reaches the notifier after it was added makes it report under the caller's token (an
/// eventfd is writable) until the call puts it back (`OwnFds::reclaim`): epoll has no lock to
/// keep the call off it, so a select that runs at the same time can see that event. Only
/// the failing call's token, only from a select that overlapped it.
fn stale_number(call: fn(&crate::Selector, i32) -> std::io::Result<()>, stray: Option<usize>) {
    let s = selector(Backend::Epoll);
    let socket = Socket::new();
    let fd = socket.fd();
    s.register(fd, Token(T1), Interest::READABLE)
        .expect("register");
    drop(socket);
    let waiter = {
        let s = s.clone();
        thread::spawn(move || select(&s, None))
    };
    let caller = {
        let s = s.clone();
        thread::spawn(move || call(&s, fd))
    };
    s.wake().expect("wake");
    let o = waiter.join().expect("waiter");
    assert!(o.tokens.iter().all(|&t| Some(t) == stray), "{o:?}");
    assert!(o.woken || !o.tokens.is_empty(), "{o:?}");
    let err = caller
        .join()
        .expect("caller")
        .expect_err("the caller's fd is closed");
    let closed = err.raw_os_error() == Some(libc::EBADF);
    assert!(
        closed || err.kind() == std::io::ErrorKind::NotFound,
        "{err}"
    );
    for (n, events, t) in epoll_set() {
        let notifier = Token(t) == Token::NOTIFY && events == libc::EPOLLIN as u32;
        assert!(notifier, "fd {n}: {events:#x} {t}");
    }
    // Still the selector's notifier: a wake-up reaches a select, nothing else does.
    s.wake().expect("wake");
    let o = select(&s, None);
    assert!(o.woken && o.tokens.is_empty(), "{o:?}");
}

#[test]
fn epoll_stale_number_modify() {
    check(
        "registration: epoll, a stale number's modify against the notifier's making",
        3,
        || {
            stale_number(
                |s, fd| s.modify(fd, Token(T2), Interest::WRITABLE),
                Some(T2),
            )
        },
    );
}

#[test]
fn epoll_stale_number_unregister() {
    check(
        "registration: epoll, a stale number's unregister against the notifier's making",
        3,
        || stale_number(|s, fd| s.unregister(fd), None),
    );
}

#[test]
fn epoll_stale_number_register() {
    check(
        "registration: epoll, a stale number's register against the notifier's making",
        3,
        || stale_number(|s, fd| s.register(fd, Token(T2), Interest::READABLE), None),
    );
}
