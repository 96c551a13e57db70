//! Signals: EINTR is surfaced as `Interrupted` by `select`; `select_retry` runs its hook and
//! waits again for the remaining time, or returns the hook's error.
//!
//! A no-op SIGUSR1 handler without SA_RESTART is installed, and the waiting thread is
//! signalled with `pthread_kill` until its select returns (a signal that lands before the
//! thread enters the kernel wait only runs the handler).
// On Unix fds (pipes, socket pairs, fd numbers); tests/winsock.rs covers Windows.
#![cfg(unix)]

mod common;

use common::*;
use rselectors::{Events, Interest, Token};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

extern "C" fn on_sigusr1(_: libc::c_int) {}

/// Installs the no-op SIGUSR1 handler once per process; SA_RESTART is left out so that
/// interrupted waits fail with EINTR.
fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid starting point; the fields are set below.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_sigusr1 as *const () as libc::sighandler_t;
        sa.sa_flags = 0;
        // SAFETY: `sa.sa_mask` is a live sigset_t.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: installs an async-signal-safe (empty) handler.
        let rc = unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "sigaction: {}", io::Error::last_os_error());
    });
}

/// Runs `body` on a new thread and sends it SIGUSR1 every `every` until it returns; gives
/// back its result and how many signals were sent.
fn while_signalled<T: Send + 'static>(
    every: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> (T, usize) {
    install_handler();
    let (tid_tx, tid_rx) = mpsc::channel();
    let (out_tx, out_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tid_tx.send(unsafe { libc::pthread_self() }).unwrap();
        out_tx.send(body()).unwrap();
        // Stay alive until the signaller is done with our pthread_t.
        let _ = exit_rx.recv();
    });
    let tid = tid_rx.recv().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0;
    let out = loop {
        match out_rx.recv_timeout(every) {
            Ok(out) => break out,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                assert!(Instant::now() < deadline, "watchdog: body still running");
                // SAFETY: the thread is alive (it waits on `exit_rx` after sending `out`).
                assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR1) }, 0);
                sent += 1;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The body panicked: re-raise its panic.
                drop(exit_tx);
                match thread.join() {
                    Err(p) => std::panic::resume_unwind(p),
                    Ok(()) => unreachable!(),
                }
            }
        }
    };
    drop(exit_tx);
    thread.join().unwrap();
    (out, sent)
}

#[test]
fn select_surfaces_eintr_as_interrupted() {
    let _fds = shared_fds();
    for backend in backends() {
        // No timeout, whole milliseconds (epoll_wait), and a sub-ms part (epoll_pwait2).
        for timeout in [
            None,
            Some(Duration::from_secs(20)),
            Some(Duration::from_micros(20_000_500)),
        ] {
            let s = Arc::new(selector(backend));
            let (a, _b) = pair();
            s.register(&a, Token(1), Interest::READABLE).unwrap();
            let s2 = s.clone();
            let (result, sent) = while_signalled(Duration::from_millis(10), move || {
                let mut events = Events::with_capacity(8);
                let start = Instant::now();
                let r = s2.select(&mut events, timeout).map(|()| events.len());
                (r, start.elapsed())
            });
            let (r, elapsed) = result;
            let err = r.expect_err("select returned without the signal");
            assert_eq!(err.kind(), io::ErrorKind::Interrupted, "{backend}: {err}");
            assert!(sent >= 1, "{backend}");
            assert!(elapsed < Duration::from_secs(10), "{backend}: {elapsed:?}");
            // The selector is still usable afterwards.
            let mut events = Events::with_capacity(8);
            s.select(&mut events, Some(Duration::ZERO)).unwrap();
        }
    }
}

#[test]
fn select_retry_waits_the_remaining_time_after_each_interruption() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let timeout = Duration::from_millis(150);
        let hooks = Arc::new(AtomicUsize::new(0));
        let (s2, hooks2) = (s.clone(), hooks.clone());
        let ((result, elapsed), sent) = while_signalled(Duration::from_millis(10), move || {
            let mut events = Events::with_capacity(8);
            let start = Instant::now();
            let r = s2.select_retry(&mut events, Some(timeout), || {
                hooks2.fetch_add(1, Ordering::Relaxed);
                Ok::<(), io::Error>(())
            });
            (r.map(|()| events.len()), start.elapsed())
        });
        assert_eq!(result.unwrap(), 0, "{backend}");
        assert!(elapsed >= timeout, "{backend}: returned after {elapsed:?}");
        assert!(sent >= 2, "{backend}: {sent} signals");
        assert!(
            hooks.load(Ordering::Relaxed) >= 1,
            "{backend}: hook never ran"
        );
    }
}

#[test]
fn select_retry_reports_readiness_after_an_interruption() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let hooks = Arc::new(AtomicUsize::new(0));
        let (s2, hooks2) = (s.clone(), hooks.clone());
        let b_fd = b.as_raw_fd();
        let (events, _) = while_signalled(Duration::from_millis(10), move || {
            let mut events = Events::with_capacity(8);
            s2.select_retry(&mut events, None, || {
                // Data arrives once the wait has been interrupted a few times.
                if hooks2.fetch_add(1, Ordering::Relaxed) == 3 {
                    write_byte(b_fd);
                }
                Ok::<(), io::Error>(())
            })
            .unwrap();
            tokens(&events)
        });
        assert_eq!(events, [Token(1)], "{backend}");
        assert!(hooks.load(Ordering::Relaxed) >= 4);
        drop(b);
    }
}

#[derive(Debug, PartialEq)]
enum HookError {
    Stop,
    Io(io::ErrorKind),
}

impl From<io::Error> for HookError {
    fn from(e: io::Error) -> HookError {
        HookError::Io(e.kind())
    }
}

#[test]
fn select_retry_propagates_the_hook_error() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let s2 = s.clone();
        let ((result, elapsed), _) = while_signalled(Duration::from_millis(10), move || {
            let mut events = Events::with_capacity(8);
            let start = Instant::now();
            let r = s2.select_retry(&mut events, None, || Err(HookError::Stop));
            (r, start.elapsed())
        });
        assert_eq!(result, Err(HookError::Stop), "{backend}");
        assert!(elapsed < Duration::from_secs(10));
    }
}

#[test]
fn select_retry_returns_empty_when_the_deadline_passed_during_the_hook() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let (a, _b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let s2 = s.clone();
        let timeout = Duration::from_millis(100);
        let ((result, elapsed), _) = while_signalled(Duration::from_millis(10), move || {
            let mut events = Events::with_capacity(8);
            let start = Instant::now();
            let r = s2.select_retry(&mut events, Some(timeout), || {
                std::thread::sleep(Duration::from_millis(150)); // past the deadline
                Ok::<(), io::Error>(())
            });
            (r.map(|()| events.len()), start.elapsed())
        });
        assert_eq!(result.unwrap(), 0, "{backend}");
        assert!(elapsed >= timeout, "{backend}");
    }
}

#[test]
fn a_signal_does_not_consume_a_pending_wake() {
    let _fds = shared_fds();
    for backend in backends() {
        let s = Arc::new(selector(backend));
        let s2 = s.clone();
        let (r, _) = while_signalled(Duration::from_millis(10), move || {
            let mut events = Events::with_capacity(8);
            s2.select(&mut events, None)
        });
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::Interrupted);
        s.wake().unwrap();
        let mut events = Events::with_capacity(8);
        let start = Instant::now();
        s.select(&mut events, Some(Duration::from_secs(20)))
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(10), "{backend}");
    }
}
