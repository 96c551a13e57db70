//! Sub-millisecond epoll waits when the kernel or a sandbox refuses `epoll_pwait2`.
//!
//! Alone in its binary: the fallback is a process-wide switch, and the other precision tests
//! should run with `epoll_pwait2` when the kernel has it.
// On Unix fds (pipes, socket pairs, fd numbers); tests/winsock.rs covers Windows.
#![cfg(unix)]
#![cfg(any(target_os = "linux", target_os = "android"))]

mod common;

use common::*;
use rselectors::{Backend, Events, Interest, Token};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Installs, on the calling thread only, a seccomp filter that fails `epoll_pwait2` with
/// `errno` (what Docker's older default profile and systemd's `SystemCallFilter=` do for
/// syscalls they do not know: EPERM) and allows everything else.
fn refuse_epoll_pwait2(errno: u32) {
    let nr = libc::SYS_epoll_pwait2 as u32;
    let filter = [
        // A = seccomp_data.nr
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: nr,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | errno,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with integer arguments; no_new_privs is required for an unprivileged
    // filter and, like the filter, applies to this thread only (no TSYNC).
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
        0
    );
    // SAFETY: `prog` points to a valid filter that outlives the call (the kernel copies it).
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        )
    };
    assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
}

/// The median of how much later than `timeout` 50 idle waits ended.
fn median_overshoot(s: &rselectors::Selector, timeout: Duration) -> Duration {
    let mut events = Events::with_capacity(4);
    let mut late: Vec<Duration> = (0..50)
        .map(|_| {
            let start = Instant::now();
            s.select(&mut events, Some(timeout)).unwrap();
            start.elapsed().saturating_sub(timeout)
        })
        .collect();
    late.sort();
    late[late.len() / 2]
}

#[test]
fn sub_millisecond_waits_survive_a_seccomp_eperm_for_epoll_pwait2() {
    if !backends().contains(&Backend::Epoll) {
        return;
    }
    // A thread of its own: the filter stays with it and dies with it.
    watchdog(Duration::from_secs(30), || {
        refuse_epoll_pwait2(libc::EPERM as u32);
        // The filter works: the raw syscall is refused with EPERM.
        // SAFETY: epoll_pwait2 is refused before it reads any argument.
        let rc = unsafe { libc::syscall(libc::SYS_epoll_pwait2, -1, 0, 1, 0, 0, 0) };
        assert_eq!(rc, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EPERM)
        );

        let s = selector(Backend::Epoll);
        let (a, b) = pair();
        s.register(&a, Token(1), Interest::READABLE).unwrap();
        let mut events = Events::with_capacity(4);
        for timeout in [
            Duration::from_micros(100),
            Duration::from_micros(250),
            Duration::from_micros(1500),
        ] {
            for _ in 0..3 {
                let start = Instant::now();
                s.select(&mut events, Some(timeout))
                    .unwrap_or_else(|e| panic!("select({timeout:?}) failed: {e}"));
                assert!(events.is_empty());
                assert!(start.elapsed() >= timeout, "woke early for {timeout:?}");
            }
        }
        // The refusal is visible, and whole milliseconds are rounded up (1.5 ms -> 2 ms)...
        assert!(!Backend::Epoll.precise_timeouts());
        let late = median_overshoot(&s, Duration::from_micros(1500));
        assert!(
            late >= Duration::from_micros(400),
            "1.5 ms overshoot {late:?}"
        );
        // ...but waits below a millisecond still end on the slack-free timer.
        let late = median_overshoot(&s, Duration::from_micros(200));
        assert!(
            late < Duration::from_micros(500),
            "200 µs overshoot {late:?}"
        );
        write_byte(b.as_raw_fd());
        s.select(&mut events, Some(Duration::from_micros(300)))
            .unwrap();
        assert_eq!(tokens(&events), [Token(1)]);
    });
}
