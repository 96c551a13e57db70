//! register / modify / unregister: semantics, errors, fd reuse and many fds, on every backend.
// On Unix fds (pipes, socket pairs, fd numbers); tests/winsock.rs covers Windows.
#![cfg(unix)]

mod common;

use common::*;
use rselectors::{Backend, Events, Interest, Token};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// An fd number far above RLIMIT_NOFILE: never open in this process.
const NEVER_OPEN: RawFd = 1_000_000;

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`: a new fd for the same file at or above `min`.
fn dup_at_least(fd: RawFd, min: RawFd) -> OwnedFd {
    // SAFETY: fcntl with integer arguments on an fd we own.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    assert!(new >= min, "F_DUPFD: {}", std::io::Error::last_os_error());
    // SAFETY: `new` was just created and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(new) }
}

#[test]
fn register_twice_is_already_exists_and_keeps_the_first() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, _b) = pair();
        s.register(&a, Token(1), Interest::WRITABLE).unwrap();
        let err = s.register(&a, Token(2), Interest::READABLE).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{backend}: {err}");
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(1)], "{backend}");
        assert!(find(&events, Token(1)).unwrap().is_writable(), "{backend}");
    }
}

#[test]
fn modify_and_unregister_of_unregistered_fds_are_not_found() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, _b) = pair();
        let err = s.modify(&a, Token(1), Interest::READABLE).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{backend}: {err}");
        let err = s.unregister(&a).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{backend}: {err}");
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        s.unregister(&a).unwrap();
        let err = s.unregister(&a).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{backend}: {err}");
        let err = s.modify(&a, Token(1), Interest::READABLE).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{backend}: {err}");
    }
}

#[test]
fn negative_fds_are_invalid_input() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        for fd in [-1, -2, RawFd::MIN] {
            for err in [
                s.register(fd, Token(0), Interest::READABLE).unwrap_err(),
                s.modify(fd, Token(0), Interest::READABLE).unwrap_err(),
                s.unregister(fd).unwrap_err(),
            ] {
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{backend}: {err}");
            }
        }
    }
}

#[test]
fn reserved_token_is_refused_and_leaves_nothing_behind() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, _b) = pair();
        let err = s
            .register(&a, Token(usize::MAX), Interest::WRITABLE)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{backend}: {err}");
        // Nothing registered: unregister says so and a normal register works.
        assert_eq!(s.unregister(&a).unwrap_err().kind(), ErrorKind::NotFound);
        s.register(&a, Token(7), Interest::WRITABLE).unwrap();
        // modify to the reserved token is refused too, and the registration is unchanged.
        let err = s
            .modify(&a, Token(usize::MAX), Interest::READABLE)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{backend}: {err}");
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(7)], "{backend}");
        assert!(events.iter().all(|e| e.is_writable()), "{backend}");
    }
}

#[test]
fn modify_changes_token_and_interest() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert!(events.is_empty(), "{backend}: {events:?}");

        s.modify(&a, Token(2), Interest::WRITABLE).unwrap();
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(2)], "{backend}");
        let e = find(&events, Token(2)).unwrap();
        assert!(e.is_writable() && !e.is_readable(), "{backend}: {e:?}");

        write_byte(b.as_raw_fd());
        s.modify(&a, Token(3), Interest::BOTH).unwrap();
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(3)], "{backend}");
        let e = find(&events, Token(3)).unwrap();
        assert!(e.is_writable() && e.is_readable(), "{backend}: {e:?}");

        // An empty interest pauses the registration without removing it.
        s.modify(&a, Token(4), Interest::NONE).unwrap();
        poll_now(&s, &mut events);
        assert!(events.is_empty(), "{backend}: {events:?}");
        assert_eq!(
            s.register(&a, Token(5), Interest::READABLE)
                .unwrap_err()
                .kind(),
            ErrorKind::AlreadyExists
        );
        s.modify(&a, Token(6), Interest::READABLE).unwrap();
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(6)], "{backend}");
    }
}

#[test]
fn unregister_then_register_again_uses_the_new_token() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, b) = pair();
        write_byte(b.as_raw_fd());
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        s.unregister(&a).unwrap();
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert!(events.is_empty(), "{backend}: {events:?}");
        s.register(&a, Token(2), Interest::READABLE).unwrap();
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(2)], "{backend}");
    }
}

#[test]
fn epoll_refuses_closed_fds_and_regular_files_and_keeps_nothing() {
    let _fds = shared_fds();
    if !backends().contains(&Backend::Epoll) {
        return;
    }
    let s = selector(Backend::Epoll);
    let err = s
        .register(NEVER_OPEN, Token(1), Interest::READABLE)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");

    let path = std::env::temp_dir().join(format!("rselectors-regular-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = s.register(&file, Token(2), Interest::READABLE).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    // Nothing left: the next register fails the same way (not AlreadyExists) ...
    let err = s.register(&file, Token(2), Interest::READABLE).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    // ... and the selector still works and reports nothing stale.
    let (a, _b) = pair();
    s.register(&a, Token(3), Interest::WRITABLE).unwrap();
    let mut events = Events::with_capacity(8);
    poll_now(&s, &mut events);
    assert_eq!(tokens(&events), [Token(3)]);
}

#[test]
fn user_space_backends_report_a_closed_fd_as_an_error() {
    let _fds = shared_fds();
    // poll keeps the fd number and the kernel answers POLLNVAL: an error event under its token.
    let s = selector(Backend::Poll);
    s.register(NEVER_OPEN, Token(9), Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(8);
    poll_now(&s, &mut events);
    let e = find(&events, Token(9)).expect("POLLNVAL reported");
    assert!(e.is_error(), "{e:?}");
    s.unregister(NEVER_OPEN).unwrap();
    poll_now(&s, &mut events);
    assert!(events.is_empty());
}

/// Replaces the fd number `old` by a new socket, atomically (close without unregister + reuse
/// of the number, without racing other tests for the number).
fn reuse_fd_number(new: &impl AsRawFd, old: RawFd) {
    // SAFETY: dup2 onto an fd number this test owns (it closes the old file).
    let rc = unsafe { libc::dup2(new.as_raw_fd(), old) };
    assert_eq!(rc, old, "dup2: {}", std::io::Error::last_os_error());
}

#[test]
fn fd_reuse_never_reports_the_new_socket_under_the_old_token() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = selector(backend);
        let (a, a_peer) = pair();
        let fd = a.into_raw_fd();
        s.register(fd, Token(1), Interest::READABLE).unwrap();
        // Close `a` without unregistering; a new socket takes its fd number.
        let (b, b_peer) = pair();
        reuse_fd_number(&b, fd);
        drop(b);
        drop(a_peer);
        // SAFETY: this test owns `fd` (now the new socket) from here on.
        let reused = unsafe { OwnedFd::from_raw_fd(fd) };

        // The documented way to re-register a reused number: unregister (errors ignored:
        // epoll forgot the closed file, poll/select still hold the number), then register.
        let _ = s.unregister(&reused);
        s.register(&reused, Token(2), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(8);
        poll_now(&s, &mut events);
        assert!(events.is_empty(), "{backend}: {events:?}");
        write_byte(b_peer.as_raw_fd());
        for _ in 0..3 {
            poll_now(&s, &mut events);
            assert_eq!(tokens(&events), [Token(2)], "{backend}");
        }
        s.unregister(&reused).unwrap();
    }
}

#[test]
fn fd_reuse_while_the_old_file_is_still_open_elsewhere() {
    let _fds = shared_fds();
    // epoll keys a registration by (fd number, open file): a dup keeps the old registration
    // alive in the kernel. Readiness of each file must still come with its own token.
    for backend in backends() {
        let s = selector(backend);
        let (a, a_peer) = pair();
        let a_dup = a.try_clone().unwrap();
        let fd = a.into_raw_fd();
        s.register(fd, Token(1), Interest::READABLE).unwrap();
        let (b, b_peer) = pair();
        reuse_fd_number(&b, fd);
        drop(b);
        // SAFETY: this test owns `fd` (the reused number) from here on.
        let reused = unsafe { OwnedFd::from_raw_fd(fd) };
        let _ = s.unregister(&reused);
        s.register(&reused, Token(2), Interest::READABLE).unwrap();

        let mut events = Events::with_capacity(8);
        write_byte(b_peer.as_raw_fd());
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), [Token(2)], "{backend}");
        drain(reused.as_raw_fd());
        // The old file becomes readable: never reported as the new socket.
        write_byte(a_peer.as_raw_fd());
        poll_now(&s, &mut events);
        assert!(find(&events, Token(2)).is_none(), "{backend}: {events:?}");
        drop(a_dup);
    }
}

#[test]
fn many_fds() {
    let _fds = exclusive_fds();
    raise_fd_limit(16_384);
    for backend in backends() {
        // select can only watch fds below FD_SETSIZE: keep to those there.
        let limit = if backend == Backend::Select {
            libc::FD_SETSIZE as RawFd
        } else {
            RawFd::MAX
        };
        let s = selector(backend);
        let mut socks = Vec::new();
        for _ in 0..1500 {
            let (a, b) = pair();
            if a.as_raw_fd() < limit && b.as_raw_fd() < limit {
                socks.push((a, b));
            }
        }
        assert!(socks.len() >= 100, "{backend}: only {} pairs", socks.len());
        for (i, (a, b)) in socks.iter().enumerate() {
            s.register(a, Token(2 * i), Interest::READABLE).unwrap();
            s.register(b, Token(2 * i + 1), Interest::READABLE).unwrap();
        }
        let mut rng = Rng(0x1234_5678 + socks.len() as u64);
        let mut expected = Vec::new();
        for (i, (a, b)) in socks.iter().enumerate() {
            if rng.below(5) == 0 {
                write_byte(b.as_raw_fd()); // makes `a` readable
                expected.push(Token(2 * i));
            }
            if rng.below(7) == 0 {
                write_byte(a.as_raw_fd());
                expected.push(Token(2 * i + 1));
            }
        }
        expected.sort();
        let mut events = Events::with_capacity(4 * socks.len());
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), expected, "{backend}");

        // Unregister every other pair; only the rest is reported.
        for (i, (a, b)) in socks.iter().enumerate() {
            if i % 2 == 0 {
                s.unregister(a).unwrap();
                s.unregister(b).unwrap();
            }
        }
        expected.retain(|t| (t.0 / 2) % 2 == 1);
        poll_now(&s, &mut events);
        assert_eq!(tokens(&events), expected, "{backend}");
    }
}

#[test]
fn select_backend_fails_the_wait_for_fds_at_or_above_fd_setsize() {
    let _fds = shared_fds();
    let s = selector(Backend::Select);
    let (a, b) = pair();
    s.register(&a, Token(1), Interest::WRITABLE).unwrap();
    let big = dup_at_least(b.as_raw_fd(), libc::FD_SETSIZE as RawFd + 3);
    // Accepted at registration, as the stdlib does ...
    s.register(&big, Token(2), Interest::READABLE).unwrap();
    // ... and every wait fails with the stdlib's message until it is unregistered.
    let mut events = Events::with_capacity(8);
    for timeout in [Some(std::time::Duration::ZERO), None] {
        let err = s.select(&mut events, timeout).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.to_string(), "filedescriptor out of range in select()");
    }
    s.modify(&big, Token(3), Interest::WRITABLE).unwrap();
    assert!(s
        .select(&mut events, Some(std::time::Duration::ZERO))
        .is_err());
    s.unregister(&big).unwrap();
    poll_now(&s, &mut events);
    assert_eq!(tokens(&events), [Token(1)]);
}
