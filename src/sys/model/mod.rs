//! A model of the kernel, for the model checker (`--cfg loom`: `scripts/loom`, the models in
//! `src/loom_models/`): it stands in for the syscalls of the Linux build (epoll, the eventfd
//! notifier, the timerfd, poll) so that the core runs unchanged on top of it, while loom
//! explores the interleavings of the core's atomics and locks and of these calls.
//!
//! What it keeps, per model run (a loom static, made anew for each execution):
//! - an fd table: numbers name objects; a new object takes the lowest free number from
//!   [`FIRST_FD`] (as the kernel hands out the lowest free one), so that a number closed
//!   while registered is the one the next object gets (the case of `crate::own`'s rules);
//! - the objects: sockets whose readiness a model sets, notifiers whose readability is a
//!   counter (a write adds one, a drain empties it), timers readable once the clock passes
//!   their expiry, and epoll sets holding entries keyed by (object, number) as Linux keys
//!   them by (file, fd): an entry goes when its object's last number is closed;
//! - a clock, which moves only when a wait would block and something timed ends it (its
//!   timeout, or a timer it watches): the wait then ends at once at that time. So a timed
//!   wait is one that times out before anything else happens; the interleavings in which
//!   something happens first are the ones in which it happens before the wait's look, and
//!   waits without a timeout block for real (a loom condition variable), so that a wait
//!   nothing will end is a deadlock loom reports.
//!
//! Every call is atomic: one loom mutex over the whole kernel. That orders the calls (as the
//! kernel's locks order a write to an eventfd and the wait that sees it); it adds no order
//! between the core's own atomics, whose interleavings loom explores between the calls.
//!
//! The kernel object's fd (`EpollFd`) is a real placeholder (`/dev/null`), so that `AsFd`
//! works; the model files the epoll set under its number, below [`FIRST_FD`].

pub(crate) mod epoll;
pub(crate) mod notify;
pub(crate) mod poll;
pub(crate) mod timer;

use crate::sync::{lock, Mutex, MutexGuard};
use crate::RawSource;
use loom::sync::Condvar;
use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

/// The first number of a modelled fd: far above the numbers a test process has open, so
/// that no modelled fd has the number of the placeholder behind an `EpollFd`.
pub(crate) const FIRST_FD: RawSource = 1000;

loom::lazy_static! {
    static ref KERNEL: Kernel = Kernel {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    };
}

struct Kernel {
    state: Mutex<State>,
    /// Notified after every change, for the waits that block.
    changed: Condvar,
}

/// The kernel's state.
#[derive(Default)]
pub(crate) struct State {
    /// The fd table: number -> index in `objects`.
    fds: BTreeMap<RawSource, usize>,
    /// Every object made in this run (never reused: a wait holds the index of its set).
    objects: Vec<Object>,
    /// Time since the run started.
    clock: Duration,
}

struct Object {
    kind: Kind,
    /// How many numbers name it; at 0 it is released (its epoll entries go).
    names: usize,
}

pub(crate) enum Kind {
    Socket {
        readable: bool,
        writable: bool,
    },
    /// An eventfd: readable while `count > 0`, always writable; `writes` counts the writes,
    /// for the models.
    Notifier {
        count: u64,
        writes: u64,
    },
    /// A timerfd: readable once the clock reaches `expires` (until disarmed or re-armed).
    Timer {
        expires: Option<Duration>,
    },
    Epoll {
        set: Vec<Entry>,
    },
}

/// One registration of an epoll set.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    object: usize,
    pub(crate) fd: RawSource,
    pub(crate) events: u32,
    pub(crate) data: u64,
}

fn kernel() -> &'static Kernel {
    &KERNEL
}

thread_local! {
    /// The calls of the current run, when `LOOM_KERNEL_TRACE` is set (loom runs a model's
    /// threads on one thread of the test process).
    static TRACE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LOOM_KERNEL_TRACE").is_some())
}

/// Records a call of the current run (see [`TRACE`]).
pub(crate) fn trace(what: impl FnOnce() -> String) {
    if tracing() {
        let thread = loom::thread::current().id();
        TRACE.with(|t| t.borrow_mut().push(format!("{thread:?}: {}", what())));
    }
}

/// The calls of the current run so far, forgotten.
pub(crate) fn take_trace() -> Vec<String> {
    TRACE.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

/// Runs `f` on the kernel's state (one atomic call); wakes the blocked waits if `f` changed
/// something they may be waiting for.
pub(crate) fn call<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let k = kernel();
    let out = f(&mut lock(&k.state));
    k.changed.notify_all();
    out
}

/// Looks at the kernel's state without changing it.
pub(crate) fn look<R>(f: impl FnOnce(&State) -> R) -> R {
    f(&lock(&kernel().state))
}

/// A wait: `ready` looks at the state (and may change it, like a read); it is retried after
/// every change until it returns something, or, with a timeout, until the clock passes the
/// deadline or the earliest expiry `timer` names (the clock then moves there: see the
/// module's documentation). `None`: timed out.
pub(crate) fn wait<R>(
    timeout: Option<Duration>,
    mut ready: impl FnMut(&mut State) -> Option<R>,
    timer: impl Fn(&State) -> Option<Duration>,
) -> Option<R> {
    let k = kernel();
    let mut st = lock(&k.state);
    let deadline = timeout.map(|t| st.clock.saturating_add(t));
    loop {
        if let Some(out) = ready(&mut st) {
            return Some(out);
        }
        let end = match (deadline, timer(&st)) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        };
        match end {
            None => {
                trace(|| "blocks".into());
                st = wait_for_change(k, st);
                trace(|| "looks again".into());
            }
            Some(at) => {
                st.clock = st.clock.max(at);
                if let Some(out) = ready(&mut st) {
                    return Some(out);
                }
                if deadline.is_some_and(|d| st.clock >= d) {
                    return None;
                }
            }
        }
    }
}

fn wait_for_change<'a>(k: &'a Kernel, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    k.changed.wait(st).unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// A new object under the lowest free number from [`FIRST_FD`].
    pub(crate) fn open(&mut self, kind: Kind) -> RawSource {
        let fd = (FIRST_FD..)
            .find(|n| !self.fds.contains_key(n))
            .expect("a free number");
        self.open_at(fd, kind);
        fd
    }

    /// A new object under `fd`, which must be free.
    pub(crate) fn open_at(&mut self, fd: RawSource, kind: Kind) {
        self.objects.push(Object { kind, names: 1 });
        let old = self.fds.insert(fd, self.objects.len() - 1);
        assert!(old.is_none(), "fd {fd} is open already");
    }

    /// Closes `fd` (if it is open); its object goes with its last number.
    pub(crate) fn close(&mut self, fd: RawSource) {
        if let Some(object) = self.fds.remove(&fd) {
            self.release(object);
        }
    }

    fn release(&mut self, object: usize) {
        let o = &mut self.objects[object];
        o.names -= 1;
        if o.names > 0 {
            return;
        }
        for o in &mut self.objects {
            if let Kind::Epoll { set } = &mut o.kind {
                set.retain(|e| e.object != object);
            }
        }
    }

    /// `dup(from)` as `to`, which must be free.
    pub(crate) fn dup_at(&mut self, from: RawSource, to: RawSource) -> io::Result<()> {
        let object = self.object(from)?;
        self.objects[object].names += 1;
        let old = self.fds.insert(to, object);
        assert!(old.is_none(), "fd {to} is open already");
        Ok(())
    }

    /// `dup3(from, to)` then `close(from)`: `to` names `from`'s object.
    pub(crate) fn move_onto(&mut self, from: RawSource, to: RawSource) -> io::Result<()> {
        let object = self.object(from)?;
        self.objects[object].names += 1;
        if let Some(old) = self.fds.insert(to, object) {
            self.release(old);
        }
        self.close(from);
        Ok(())
    }

    /// The object `fd` names (`EBADF`: none).
    pub(crate) fn object(&self, fd: RawSource) -> io::Result<usize> {
        self.fds
            .get(&fd)
            .copied()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    pub(crate) fn kind(&self, object: usize) -> &Kind {
        &self.objects[object].kind
    }

    pub(crate) fn kind_mut(&mut self, object: usize) -> &mut Kind {
        &mut self.objects[object].kind
    }

    /// Whether `object` is readable now.
    pub(crate) fn readable(&self, object: usize) -> bool {
        match self.kind(object) {
            Kind::Socket { readable, .. } => *readable,
            Kind::Notifier { count, .. } => *count > 0,
            Kind::Timer { expires } => expires.is_some_and(|at| self.clock >= at),
            Kind::Epoll { set } => set.iter().any(|e| {
                self.ready(
                    e.object,
                    e.events,
                    libc::EPOLLIN as u32,
                    libc::EPOLLOUT as u32,
                ) != 0
            }),
        }
    }

    /// Which of `wanted`'s bits `object` has now (`readable` and `writable`: how a bit
    /// set reads and writes).
    pub(crate) fn ready(&self, object: usize, wanted: u32, readable: u32, writable: u32) -> u32 {
        let mut bits = 0;
        if wanted & readable != 0 && self.readable(object) {
            bits |= readable;
        }
        // An eventfd is writable while its counter is below its maximum: always, here.
        let can_write = matches!(
            self.kind(object),
            Kind::Socket { writable: true, .. } | Kind::Notifier { .. }
        );
        if wanted & writable != 0 && can_write {
            bits |= writable;
        }
        bits
    }

    /// The earliest expiry of the armed timers among `objects`.
    pub(crate) fn first_expiry(&self, objects: impl Iterator<Item = usize>) -> Option<Duration> {
        objects
            .filter_map(|o| match self.kind(o) {
                Kind::Timer { expires } => *expires,
                _ => None,
            })
            .min()
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock
    }
}

/// A socket of a model: its readiness is the model's to set.
pub(crate) struct Socket(RawSource);

impl Socket {
    /// A socket that is neither readable nor writable.
    pub(crate) fn new() -> Socket {
        Socket(call(|st| {
            st.open(Kind::Socket {
                readable: false,
                writable: false,
            })
        }))
    }

    pub(crate) fn fd(&self) -> RawSource {
        self.0
    }

    pub(crate) fn set_readable(&self, now: bool) {
        call(|st| {
            let object = st.object(self.0).expect("open");
            if let Kind::Socket { readable, .. } = st.kind_mut(object) {
                *readable = now;
            }
        });
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// Closes `fd` (not while a failed model unwinds: loom is tearing the run down).
pub(crate) fn close(fd: RawSource) {
    if !std::thread::panicking() {
        call(|st| st.close(fd));
    }
}

/// The registrations of the epoll set `ep` names: (number, events, data).
pub(crate) fn epoll_set(ep: RawSource) -> Vec<(RawSource, u32, u64)> {
    look(|st| {
        let object = st.object(ep).expect("an epoll fd");
        match st.kind(object) {
            Kind::Epoll { set } => set.iter().map(|e| (e.fd, e.events, e.data)).collect(),
            _ => panic!("fd {ep} is not an epoll fd"),
        }
    })
}

/// The numbers that name epoll sets.
pub(crate) fn epolls() -> Vec<RawSource> {
    look(|st| {
        st.fds
            .iter()
            .filter(|(_, &o)| matches!(st.kind(o), Kind::Epoll { .. }))
            .map(|(&fd, _)| fd)
            .collect()
    })
}

/// How many times the notifiers made in this run were written.
pub(crate) fn notifier_writes() -> u64 {
    look(|st| {
        st.objects
            .iter()
            .map(|o| match o.kind {
                Kind::Notifier { writes, .. } => writes,
                _ => 0,
            })
            .sum()
    })
}

/// How many notifiers were made in this run.
pub(crate) fn notifiers_made() -> usize {
    made(|k| matches!(k, Kind::Notifier { .. }))
}

/// How many timers were made in this run.
pub(crate) fn timers_made() -> usize {
    made(|k| matches!(k, Kind::Timer { .. }))
}

fn made(kind: impl Fn(&Kind) -> bool) -> usize {
    look(|st| st.objects.iter().filter(|o| kind(&o.kind)).count())
}

/// The numbers open now.
pub(crate) fn open_fds() -> Vec<RawSource> {
    look(|st| st.fds.keys().copied().collect())
}

/// The model's clock, for `Deadline` (std's `Instant` in the real build).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant(Duration);

impl Instant {
    pub(crate) fn now() -> Instant {
        Instant(look(State::now))
    }

    pub(crate) fn checked_add(self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }

    pub(crate) fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}
