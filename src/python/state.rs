//! A selector's state, shared by the selector object and its `get_map()` view: the
//! fd -> `SelectorKey` table, the native selector, and the rules that keep them in step
//! (kernel tokens, fork, stale registrations, the lock discipline).

use super::convert::{self, Fd};
use super::errors;
use crate::fdmap::FdMap;
use crate::fork::PerProcess;
use crate::timeout::Deadline;
use crate::{Backend, Events, Interest, RawSource, Selector, Token};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
#[cfg(unix)]
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One registration: its `SelectorKey`, what it waits for (the key's event bits, and whether
/// it is exclusive), and the generation that tags its kernel token.
pub(crate) struct Slot {
    pub(crate) key: Py<PyTuple>,
    interest: Interest,
    gen: u32,
}

/// Incremented in a child process right after `os.fork()` (see [`_after_fork_in_child`]).
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Called by `os.register_at_fork(after_in_child=...)`: every selector notices on its next
/// kernel operation that it runs in a new process and gives itself fresh kernel objects.
#[cfg(unix)]
#[pyfunction]
pub(crate) fn _after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Everything a selector holds, behind one lock.
///
/// Lock discipline: held only for Rust work and non-blocking syscalls; never while Python
/// code runs, Python objects are allocated or released (so finalizers cannot re-enter), or
/// the GIL is released.
pub(crate) struct Table {
    pub(crate) slots: FdMap<Slot>,
    /// The core and the [`FORK_GENERATION`] it belongs to; closed: none.
    core: PerProcess,
    /// Bumped whenever an fd is added or removed (live `get_map()` iterators check it).
    pub(crate) version: u64,
    /// The next registration's generation (see [`token`]).
    next_gen: u32,
    /// Kernel tokens of the last select's events that matched no live registration.
    last_stale: Vec<Token>,
}

impl Table {
    /// The core, if it is open and this process's: a forked child that has not yet given
    /// itself its own kernel objects must not touch the parent's.
    fn own_core(&self) -> Option<&Selector> {
        self.core
            .current(FORK_GENERATION.load(Ordering::Relaxed))
            .map(|core| &**core)
    }
}

/// The live registrations, as [`Selector::reopen`] and a forked child's new core take them.
fn registrations(slots: &FdMap<Slot>) -> impl Iterator<Item = (RawSource, Token, Interest)> + '_ {
    slots
        .iter()
        .map(|(fd, slot)| (fd, token(fd, slot.gen), slot.interest))
}

/// The kernel token of a registration: the fd (Windows: the SOCKET, which fits too) in the low
/// 32 bits and, on 64-bit targets, a generation in the high bits, so a stale kernel
/// registration (a dup'ed fd closed without unregister) is never reported under a later key
/// for the same fd number.
fn token(fd: RawSource, gen: u32) -> Token {
    if cfg!(target_pointer_width = "64") {
        Token(fd as u32 as usize | ((gen as u64) << 32) as usize)
    } else {
        Token(fd as u32 as usize)
    }
}

/// The fd and, on 64-bit targets, the generation of a token.
fn untoken(t: Token) -> (RawSource, Option<u32>) {
    let fd = (t.0 as u64 & 0xffff_ffff) as u32 as RawSource;
    if cfg!(target_pointer_width = "64") {
        (fd, Some((t.0 as u64 >> 32) as u32))
    } else {
        (fd, None)
    }
}

/// The ready keys of a `select`, collected under the table lock and turned into the result
/// list after it.
pub(crate) type ReadyKeys = Vec<(Py<PyAny>, u8)>;

/// An error of `select`: a kernel error mapped as the stdlib's `select` module would
/// raise it, or a signal handler's exception.
struct SelectError(PyErr);

impl From<std::io::Error> for SelectError {
    fn from(e: std::io::Error) -> SelectError {
        SelectError(errors::os_error(e))
    }
}

thread_local! {
    /// This thread's event buffer for `select`, shared by every selector (a selector made
    /// per wait allocates none); taken out while in use, so a select re-entered on this
    /// thread (from a signal handler) allocates its own.
    static EVENTS: std::cell::Cell<Option<Events>> = const { std::cell::Cell::new(None) };
}

/// This thread's event buffer, or a new one: with no limit of its own, the backend returns
/// every event it has (epoll sizes its buffer by the registrations the kernel holds, stale
/// ones of dup'ed fds closed without unregister included, so those never crowd out live
/// ones). Give it back with [`keep_events`].
fn take_events() -> Events {
    EVENTS.take().unwrap_or_else(|| {
        let mut events = Events::with_capacity(1);
        events.set_capacity(usize::MAX);
        events
    })
}

/// Gives an event buffer back to this thread, for its next select.
fn keep_events(events: Events) {
    EVENTS.set(Some(events));
}

/// Appends `(key, events)` for each event of a live registration: an fd still registered,
/// under the same generation, with the stdlib's READ/WRITE translation masked by its events
/// (and not empty). Returns the tokens of the other events (no live registration).
fn collect_ready(
    py: Python<'_>,
    slots: &FdMap<Slot>,
    events: &Events,
    ready: &mut ReadyKeys,
) -> Vec<Token> {
    let mut stale = Vec::new();
    for event in events.iter() {
        let (fd, gen) = untoken(event.token());
        let live = slots
            .get(fd)
            .filter(|slot| gen.is_none_or(|g| g == slot.gen));
        match live {
            Some(slot) => {
                let mask = event.selectors_mask() & slot.interest.bits();
                // A mask of 0 only arises when another thread modified the registration
                // after the kernel reported it: relative to the new events nothing is ready.
                if mask != 0 {
                    ready.push((slot.key.clone_ref(py).into_any(), mask));
                }
            }
            None => stale.push(event.token()),
        }
    }
    stale
}

/// Keys taken out of the table (by `close()` or the GC's `__clear__`), released when this
/// drops, after the lock, in registration order (as the stdlib's dict releases them).
pub(crate) struct Released(FdMap<Slot>);

impl Drop for Released {
    fn drop(&mut self) {
        std::mem::take(&mut self.0).into_values().for_each(drop);
    }
}

/// A selector's state, shared by the selector object and its `get_map()` view.
pub(crate) struct Inner {
    pub(crate) backend: Backend,
    table: Mutex<Table>,
    closed: AtomicBool,
}

impl Inner {
    pub(crate) fn new(backend: Backend) -> std::io::Result<Inner> {
        Ok(Inner {
            backend,
            table: Mutex::new(Table {
                slots: FdMap::new(),
                core: PerProcess::new(
                    Selector::with_backend(backend)?,
                    FORK_GENERATION.load(Ordering::Relaxed),
                ),
                version: 0,
                next_gen: 0,
                last_stale: Vec::new(),
            }),
            closed: AtomicBool::new(false),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        crate::sync::lock(&self.table)
    }

    /// The table if no other thread holds it (for the garbage collector, which must not
    /// block).
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, Table>> {
        self.table.try_lock().ok()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The core for kernel work: the closed-selector error once closed; in a forked child,
    /// first a new native selector of its own holding the same registrations (fds the child
    /// no longer has stay in the table, where unregistering them is quiet, as after a close
    /// in one process), or, if it cannot make one (no fd left), that `OSError`, with nothing
    /// changed and the parent's objects untouched: the next call tries again
    /// ([`PerProcess::for_process`]). A new one, not [`Selector::reopen`]: the parent's
    /// threads may have held its locks at the fork.
    #[inline]
    fn kernel<'t>(&self, table: &'t mut Table) -> PyResult<&'t Arc<Selector>> {
        let Table { core, slots, .. } = table;
        core.for_process(
            FORK_GENERATION.load(Ordering::Relaxed),
            registrations(slots),
        )
        .map_err(errors::os_error)?
        .ok_or_else(|| errors::kernel_object_closed(self.backend))
    }

    /// The native selector, for Rust code that shares it (the closed-selector error once
    /// closed).
    pub(crate) fn open_core(&self) -> PyResult<Arc<Selector>> {
        self.kernel(&mut self.lock()).cloned()
    }

    /// `wakeup()`: nothing once closed; the GIL is kept for a coalesced call (no syscall)
    /// and released for the notifier's write, so the woken thread need not wait for it.
    pub(crate) fn wakeup(&self, py: Python<'_>) -> PyResult<()> {
        let core = {
            let mut table = self.lock();
            if !table.core.is_open() {
                return Ok(());
            }
            self.kernel(&mut table)?.clone()
        };
        if core.wake_pending() {
            return Ok(());
        }
        py.detach(|| core.wake()).map_err(errors::os_error)
    }

    /// Records the kernel tokens of a select's events that matched no live registration. A
    /// token that comes back in the next select is a stale epoll registration: a dup'ed fd
    /// was closed without `unregister`, so its open file stays in the epoll set, where no
    /// fd can name it any more to remove it, and being level-triggered it would end every
    /// wait at once. Reopening the epoll object leaves it behind. (poll and select report
    /// only registered fds; kqueue removes a closed fd's filters itself.)
    fn note_stale(&self, table: &mut Table, stale: Vec<Token>) {
        let recurring = stale.iter().any(|t| table.last_stale.contains(t));
        if !(recurring && self.backend == Backend::Epoll) {
            table.last_stale = stale;
            return;
        }
        table.last_stale.clear();
        if let Some(core) = table.own_core() {
            // On failure (no fd left) the next recurrence tries again.
            let _ = core.reopen(registrations(&table.slots));
        }
    }

    /// Appends the ready keys of a select's `events` (see [`collect_ready`]); returns whether
    /// some matched no live registration (then noted: [`note_stale`](Self::note_stale)).
    fn report(
        &self,
        py: Python<'_>,
        table: &mut Table,
        events: &Events,
        ready: &mut ReadyKeys,
    ) -> bool {
        let stale = collect_ready(py, &table.slots, events, ready);
        if stale.is_empty() {
            return false;
        }
        self.note_stale(table, stale);
        true
    }

    /// [`report`](Self::report) for a select that may block: whether it found only stale
    /// events, so nothing to report, and should wait out the time left (unless a wake-up or
    /// a shutdown ended it).
    fn only_stale(
        &self,
        py: Python<'_>,
        table: &mut Table,
        events: &Events,
        ready: &mut ReadyKeys,
        deadline: Deadline,
    ) -> bool {
        self.report(py, table, events, ready)
            && ready.is_empty()
            && !events.woken()
            && !deadline.expired()
    }

    /// `_fileobj_lookup`: the fd of `fileobj`, or, if it has none any more (a closed socket),
    /// the fd of the registered key whose `fileobj` *is* it.
    pub(crate) fn resolve<'py>(&self, fileobj: &Bound<'py, PyAny>) -> PyResult<Fd<'py>> {
        let py = fileobj.py();
        match convert::fileobj_to_fd(fileobj) {
            Err(e) if e.is_instance_of::<PyValueError>(py) => {
                let found = {
                    let table = self.lock();
                    table.slots.iter().find_map(|(fd, slot)| {
                        let key = slot.key.bind(py);
                        let same = key.get_borrowed_item(0).is_ok_and(|obj| obj.is(fileobj));
                        same.then(|| (fd, key.get_borrowed_item(1).map(|o| o.to_owned())))
                    })
                };
                match found {
                    Some((fd, obj)) => Ok(Fd {
                        num: Some(fd),
                        obj: obj?,
                    }),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// [`resolve`](Self::resolve) for callers that look a registration up: a `KeyError`
    /// escaping `fileno()` means "not registered" to them, as in the stdlib, where these
    /// lookups sit inside `try: ... except KeyError`. `None`: not registered.
    pub(crate) fn resolve_registered(
        &self,
        fileobj: &Bound<'_, PyAny>,
    ) -> PyResult<Option<RawSource>> {
        if let Some(n) = convert::exact_int_fd(fileobj) {
            return Ok(Some(n));
        }
        match self.resolve(fileobj) {
            Ok(fd) => Ok(fd.num),
            Err(e) if e.is_instance_of::<PyKeyError>(fileobj.py()) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The key registered for `fileobj`, if any (errors of the fd lookup propagate).
    pub(crate) fn lookup<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let py = fileobj.py();
        let key = self
            .resolve_registered(fileobj)?
            .and_then(|n| self.key_at(py, n));
        Ok(key.map(|k| k.into_bound(py)))
    }

    /// [`lookup`](Self::lookup), letting every error of the fd lookup through, a `KeyError`
    /// from `fileno()` included (the stdlib's mapping from CPython 3.14).
    pub(crate) fn lookup_strict<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let py = fileobj.py();
        let num = match convert::exact_int_fd(fileobj) {
            Some(n) => Some(n),
            None => self.resolve(fileobj)?.num,
        };
        Ok(num
            .and_then(|n| self.key_at(py, n))
            .map(|k| k.into_bound(py)))
    }

    /// Whether fd `n`'s registration is exclusive (`false` if there is none).
    pub(crate) fn is_exclusive(&self, n: RawSource) -> bool {
        self.lock()
            .slots
            .get(n)
            .is_some_and(|s| s.interest.is_exclusive())
    }

    /// The registered key object for fd `n`, if any.
    pub(crate) fn key_at(&self, py: Python<'_>, n: RawSource) -> Option<Py<PyTuple>> {
        self.lock().slots.get(n).map(|s| s.key.clone_ref(py))
    }

    /// Adds `key` for `fd`, waiting for `interest`: kernel registration and table entry under
    /// one lock.
    pub(crate) fn insert<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        fd: &Fd<'py>,
        key: Bound<'py, PyTuple>,
        interest: Interest,
    ) -> PyResult<Bound<'py, PyTuple>> {
        // A huge fd cannot be registered already: the kernel step's OverflowError applies.
        let n = fd.number()?;
        let mut table = self.lock();
        if table.slots.contains(n) {
            drop(table);
            return Err(errors::already_registered(fileobj, &fd.obj));
        }
        let gen = table.next_gen;
        self.kernel(&mut table)?
            .register(n, token(n, gen), interest)
            .map_err(errors::os_error)?;
        let slot = Slot {
            key: key.clone().unbind(),
            interest,
            gen,
        };
        table.slots.insert(n, slot);
        table.next_gen = gen.wrapping_add(1);
        table.version += 1;
        drop(table);
        Ok(key)
    }

    /// Removes fd `n`'s registration, table entry and kernel registration; `None` if it is
    /// not registered. The kernel's refusal is ignored (the fd may be closed already, as the
    /// stdlib ignores it), and a forked child that has no kernel objects of its own yet
    /// leaves the parent's alone (its next kernel operation rebuilds from the table).
    pub(crate) fn remove(&self, n: RawSource) -> Option<Slot> {
        let mut table = self.lock();
        let slot = table.slots.remove(n)?;
        table.version += 1;
        if let Some(core) = table.own_core() {
            let _ = core.unregister(n);
        }
        Some(slot)
    }

    /// Replaces fd `n`'s key `old` with `new_key`, waiting for `mask` if given (the kernel is
    /// modified first; if it refuses, the registration is removed, kernel and table, and the
    /// error raised: bpo-30014; an exclusive registration stays exclusive); `reinsert` moves
    /// it to the end of the map, as the stdlib's unregister-then-register does. `None` if
    /// another thread changed or removed the registration since `old` was read (the caller
    /// starts again).
    pub(crate) fn replace<'py>(
        &self,
        n: RawSource,
        old: &Bound<'py, PyTuple>,
        new_key: Bound<'py, PyTuple>,
        mask: Option<u8>,
        reinsert: bool,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let mut table = self.lock();
        let (gen, old_interest) = match table.slots.get(n) {
            Some(slot) if slot.key.is(old) => (slot.gen, slot.interest),
            _ => return Ok(None),
        };
        let mut interest = old_interest;
        if let Some(mask) = mask {
            interest = Interest::from_bits(mask).unwrap_or(Interest::NONE);
            if old_interest.is_exclusive() {
                interest |= Interest::EXCLUSIVE;
            }
            let core = self.kernel(&mut table)?;
            if let Err(e) = core.modify(n, token(n, gen), interest) {
                let _ = core.unregister(n);
                let removed = table.slots.remove(n);
                table.version += 1;
                drop(table);
                drop(removed);
                return Err(errors::os_error(e));
            }
        }
        let slot = Slot {
            key: new_key.clone().unbind(),
            interest,
            gen,
        };
        let replaced = if reinsert {
            let old_slot = table.slots.remove(n);
            table.slots.insert(n, slot);
            table.version += 2;
            old_slot
        } else {
            table.slots.insert(n, slot)
        };
        drop(table);
        drop(replaced);
        Ok(Some(new_key))
    }

    /// `select(0)`: cannot block, so the GIL stays held and one lock covers the kernel call
    /// and the key lookups.
    pub(crate) fn select_now(&self, py: Python<'_>, ready: &mut ReadyKeys) -> PyResult<()> {
        let mut table = self.lock();
        let mut events = take_events();
        let selected = self
            .kernel(&mut table)
            .map(|core| core.select(&mut events, Some(Duration::ZERO)));
        if let Ok(Ok(())) = selected {
            self.report(py, &mut table, &events, ready);
        }
        drop(table);
        keep_events(events);
        match selected? {
            Ok(()) => Ok(()),
            // A zero-timeout wait does not sleep, so this is all but impossible; if it
            // happens, run the handlers (without the lock) and report nothing, as the stdlib
            // does when the deadline has passed.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => py.check_signals(),
            Err(e) => Err(errors::os_error(e)),
        }
    }

    /// A select that may block: the GIL is released for the wait, signal handlers run on
    /// EINTR and the wait resumes with the remaining time (PEP 475).
    pub(crate) fn select_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        ready: &mut ReadyKeys,
    ) -> PyResult<()> {
        let deadline = Deadline::after(timeout);
        // Backends whose waits never look first (epoll) pay nothing for this.
        if !self.backend.blocks_without_notifier() && self.look_first(py, deadline, ready)? {
            return Ok(());
        }
        loop {
            let (core, mut events) = {
                let mut table = self.lock();
                (self.kernel(&mut table)?.clone(), take_events())
            };
            let waited = py.detach(|| {
                core.select_retry(&mut events, deadline.remaining(), || {
                    Python::attach(|py| py.check_signals()).map_err(SelectError)
                })
            });
            drop(core);
            let mut table = self.lock();
            let again = waited.is_ok() && self.only_stale(py, &mut table, &events, ready, deadline);
            drop(table);
            keep_events(events);
            waited.map_err(|SelectError(e)| e)?;
            if !again {
                return Ok(());
            }
        }
    }

    /// The look without blocking that a fresh poll or select selector's first wait that may
    /// block starts with, taken with the GIL held, so that a ready fd costs no GIL release
    /// (`Selector::look_before_blocking`); returns whether it ended the select (something to
    /// report, or a wake-up). An EINTR runs the signal handlers, then the wait (PEP 475).
    #[inline(never)]
    fn look_first(
        &self,
        py: Python<'_>,
        deadline: Deadline,
        ready: &mut ReadyKeys,
    ) -> PyResult<bool> {
        let mut table = self.lock();
        let mut events = take_events();
        let looked = self
            .kernel(&mut table)
            .map(|core| core.look_before_blocking(&mut events));
        let done = matches!(looked, Ok(Ok(true)))
            && !self.only_stale(py, &mut table, &events, ready, deadline);
        drop(table);
        keep_events(events);
        match looked? {
            Ok(_) => Ok(done),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                py.check_signals()?;
                Ok(false)
            }
            Err(e) => Err(errors::os_error(e)),
        }
    }

    /// The kernel object's fd, for `fileno()`.
    #[cfg(unix)]
    pub(crate) fn kernel_fd(&self) -> PyResult<i32> {
        let mut table = self.lock();
        let fd = self
            .kernel(&mut table)
            .map(|core| core.try_as_fd().map(|fd| fd.as_raw_fd()));
        drop(table);
        fd?.ok_or_else(|| errors::kernel_object_closed(self.backend))
    }

    /// Marks the selector closed and takes out what it holds: the native selector and the
    /// keys (for the caller to release without the lock).
    pub(crate) fn close(&self) -> (Option<Arc<Selector>>, Released) {
        let mut table = self.lock();
        self.closed.store(true, Ordering::Release);
        table.version += 1;
        (
            table.core.take(),
            Released(std::mem::take(&mut table.slots)),
        )
    }

    /// Forgets every key (for the garbage collector's `__clear__`).
    pub(crate) fn clear(&self) -> Released {
        let mut table = self.lock();
        table.version += 1;
        Released(std::mem::take(&mut table.slots))
    }

    /// Whether `modify()` that changes events re-inserts the key at the end of the map with
    /// the new file object: the stdlib's select and kqueue selectors use the base class's
    /// unregister-then-register, the poll-like ones edit the key in place.
    pub(crate) fn modify_reinserts(&self) -> bool {
        matches!(self.backend, Backend::Select | Backend::Kqueue)
    }
}

#[cfg(test)]
mod tests {
    use super::{token, untoken};

    #[test]
    fn tokens_round_trip() {
        for (fd, gen) in [(0, 0), (5, 1), (0x7fff_ffff, u32::MAX), (1023, 77)] {
            let (f, g) = untoken(token(fd, gen));
            assert_eq!(f, fd);
            if cfg!(target_pointer_width = "64") {
                assert_eq!(g, Some(gen));
            }
            assert_ne!(token(fd, gen), crate::Token(usize::MAX));
        }
    }
}
