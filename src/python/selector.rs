//! The selector classes: `EpollSelector`, `PollSelector`, `SelectSelector`, ... over a shared
//! native base, `_BaseSelectorImpl`, which keeps the fd -> `SelectorKey` table.

use super::convert::{self, Fd};
use super::errors;
use super::mapping::SelectorMapping;
use super::statics;
use crate::timeout::Deadline;
use crate::{Backend, Events, FdMap, Interest, Selector, Token};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::{PyTraverseError, PyVisit};
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use pyo3::PyClassInitializer;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// One registration: its `SelectorKey`, the event bits it waits for, and the generation that
/// tags its kernel token.
pub(crate) struct Slot {
    pub(crate) key: Py<PyTuple>,
    mask: u8,
    gen: u32,
}

/// Incremented in a child process right after `os.fork()` (see [`after_fork_in_child`]).
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Called by `os.register_at_fork(after_in_child=...)`: every selector notices on its next
/// use that it runs in a new process and replaces its kernel object.
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
    /// `None` once closed.
    core: Option<Arc<Selector>>,
    /// Bumped whenever an fd is added or removed (live `get_map()` iterators check it).
    pub(crate) version: u64,
    /// The [`FORK_GENERATION`] the kernel object belongs to.
    fork_generation: u64,
    /// The next registration's generation (see [`token`]).
    next_gen: u32,
    /// A reusable event buffer for `select` (a concurrent select allocates its own).
    events: Option<Events>,
    /// Kernel tokens of the last select's events that matched no live registration.
    last_stale: Vec<Token>,
}

/// An error of `select`: a kernel error mapped as the stdlib's `select` module would
/// raise it, or a signal handler's exception.
struct SelectError(PyErr);

impl From<std::io::Error> for SelectError {
    fn from(e: std::io::Error) -> SelectError {
        SelectError(errors::os_error(e))
    }
}

thread_local! {
    /// The ready keys of a `select` between the table lookup and building the result list;
    /// taken out while in use, so a re-entrant select on this thread simply allocates.
    static READY: std::cell::Cell<Vec<(Py<PyAny>, u8)>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The event buffer of a `select` over `slots`, sized as the stdlib sizes epoll's
/// (`max(len(fd_to_key), 1)`) plus one slot: room for the notifier or for an event of a stale
/// registration (a dup'ed fd closed without unregister), so that a stale one is seen again
/// (and rebuilt away) rather than taking turns with a live one.
fn events_for(events: Option<Events>, slots: &FdMap<Slot>) -> Events {
    let mut events = events.unwrap_or_else(|| Events::with_capacity(1));
    events.set_capacity(slots.len() + 1);
    events
}

/// Appends `(key, events)` for each event of a live registration: an fd still registered,
/// under the same generation, with the stdlib's READ/WRITE translation masked by its events
/// (and not empty). Returns the tokens of the other events (no live registration).
fn collect_ready(
    py: Python<'_>,
    slots: &FdMap<Slot>,
    events: &Events,
    ready: &mut Vec<(Py<PyAny>, u8)>,
) -> Vec<Token> {
    let mut stale = Vec::new();
    for event in events.iter() {
        let (fd, gen) = untoken(event.token());
        let live = slots
            .get(fd)
            .filter(|slot| gen.is_none_or(|g| g == slot.gen));
        match live {
            Some(slot) => {
                let mask = event.selectors_mask() & slot.mask;
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

/// The kernel token of a registration: the fd in the low 32 bits and, on 64-bit targets, a
/// generation in the high bits, so a stale kernel registration (a dup'ed fd closed without
/// unregister) is never reported under a later key for the same fd number.
fn token(fd: i32, gen: u32) -> Token {
    if cfg!(target_pointer_width = "64") {
        Token(fd as u32 as usize | ((gen as u64) << 32) as usize)
    } else {
        Token(fd as u32 as usize)
    }
}

/// The fd and, on 64-bit targets, the generation of a token.
fn untoken(t: Token) -> (i32, Option<u32>) {
    let fd = (t.0 as u64 & 0xffff_ffff) as i32;
    if cfg!(target_pointer_width = "64") {
        (fd, Some((t.0 as u64 >> 32) as u32))
    } else {
        (fd, None)
    }
}

/// Native base of every selector class: the stdlib's `_BaseSelectorImpl` contract.
///
/// Thread-safe: one thread may block in `select()` while others register, modify,
/// unregister, look up keys or close the selector; `close()` and `wakeup()` make a blocked
/// `select()` return.
#[pyclass(
    subclass,
    frozen,
    dict,
    weakref,
    module = "rselectors",
    name = "_BaseSelectorImpl"
)]
pub struct BaseSelectorImpl {
    /// False in the zero-filled memory of an object still being built. On CPython 3.11,
    /// creating the instance `__dict__` can run a collection before PyO3 has written these
    /// fields, and PyO3 does not guard frozen classes against that: `__traverse__` checks
    /// this flag before reading anything else.
    constructed: AtomicBool,
    inner: Arc<Inner>,
    /// The `get_map()` view, created on first use. It shares `inner`, not this object, so
    /// caching it makes no reference cycle.
    map: OnceLock<Py<SelectorMapping>>,
}

/// A selector's state, shared by the selector object and its `get_map()` view.
pub(crate) struct Inner {
    backend: Backend,
    table: Mutex<Table>,
    closed: AtomicBool,
}

impl BaseSelectorImpl {
    /// The native selector, or the closed-selector error (for Rust code sharing it).
    pub(crate) fn open_core(&self) -> PyResult<Arc<Selector>> {
        self.inner.open_core()
    }

    fn new(backend: Backend) -> PyResult<BaseSelectorImpl> {
        let core = Selector::with_backend(backend).map_err(errors::os_error)?;
        Ok(BaseSelectorImpl {
            constructed: AtomicBool::new(true),
            inner: Arc::new(Inner {
                backend,
                table: Mutex::new(Table {
                    slots: FdMap::new(),
                    core: Some(Arc::new(core)),
                    version: 0,
                    fork_generation: FORK_GENERATION.load(Ordering::Relaxed),
                    next_gen: 0,
                    events: None,
                    last_stale: Vec::new(),
                }),
                closed: AtomicBool::new(false),
            }),
            map: OnceLock::new(),
        })
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        // The table is consistent between statements, so a poisoned lock is still usable.
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let generation = FORK_GENERATION.load(Ordering::Relaxed);
        if table.fork_generation != generation {
            // In a forked child: a kernel object shared with the parent (epoll, kqueue, the
            // notifier) must not be touched, or the parent would see the child's changes.
            // Give the child its own, with the same registrations; fds the child no longer
            // has stay in the map (unregistering them is still quiet), as after a close in one
            // process. Nothing is written to the old one (its notifier is the parent's too).
            match self.reopen(&mut table) {
                Ok(_) => table.fork_generation = generation,
                // No fd left for a new kernel object: act closed, never share the parent's,
                // and try again on the next call.
                Err(_) => table.core = None,
            }
        }
        table
    }

    /// Replaces the kernel object with a fresh one holding the same registrations, and
    /// returns the old one. Nothing to do once closed.
    fn reopen(&self, table: &mut Table) -> std::io::Result<Option<Arc<Selector>>> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(None);
        }
        let core = Selector::with_backend(self.backend)?;
        for (fd, slot) in table.slots.iter() {
            let interest = Interest::from_bits(slot.mask).unwrap_or(Interest::NONE);
            let _ = core.register(fd, token(fd, slot.gen), interest);
        }
        Ok(table.core.replace(Arc::new(core)))
    }

    /// Records the kernel tokens of a select's events that matched no live registration. A
    /// token that comes back in the next select is a stale epoll registration: a dup'ed fd
    /// was closed without `unregister`, so its open file stays in the epoll set, where no
    /// fd can name it any more to remove it, and being level-triggered it would end every
    /// wait at once. Rebuilding the epoll object leaves it behind. (poll and select report
    /// only registered fds; kqueue removes a closed fd's filters itself.)
    fn note_stale(&self, table: &mut Table, stale: Vec<Token>) {
        let recurring = stale.iter().any(|t| table.last_stale.contains(t));
        if !(recurring && self.backend == Backend::Epoll) {
            table.last_stale = stale;
            return;
        }
        table.last_stale.clear();
        if let Ok(Some(old)) = self.reopen(table) {
            // A thread still waiting on the old object would not see changes made on the
            // new one: end its wait so it starts again.
            old.shut_down();
        }
    }

    /// The backend selector, for Rust code that shares this selector (`None` once closed).
    pub(crate) fn core(&self) -> Option<Arc<Selector>> {
        self.lock().core.clone()
    }

    /// [`core`](Self::core), or the error a closed selector raises for kernel work.
    pub(crate) fn open_core(&self) -> PyResult<Arc<Selector>> {
        self.core()
            .ok_or_else(|| errors::kernel_object_closed(self.backend))
    }

    /// Whether `modify()` that changes events re-inserts the key at the end of the map with
    /// the new file object: the stdlib's select and kqueue selectors use the base class's
    /// unregister-then-register, the poll-like ones edit the key in place.
    fn modify_reinserts(&self) -> bool {
        matches!(self.backend, Backend::Select | Backend::Kqueue)
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
    fn resolve_registered(&self, fileobj: &Bound<'_, PyAny>) -> PyResult<Option<i32>> {
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

    /// The registered key object for fd `n`, if any.
    fn key_at(&self, py: Python<'_>, n: i32) -> Option<Py<PyTuple>> {
        self.lock().slots.get(n).map(|s| s.key.clone_ref(py))
    }

    /// Adds a key for `fd`: kernel registration and table entry under one lock.
    fn insert<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        fd: &Fd<'py>,
        key: Bound<'py, PyTuple>,
        mask: u8,
    ) -> PyResult<Bound<'py, PyTuple>> {
        // A huge fd cannot be registered already: the kernel step's OverflowError applies.
        let n = fd.c_int()?;
        let interest = Interest::from_bits(mask).unwrap_or(Interest::NONE);
        let mut table = self.lock();
        if table.slots.contains(n) {
            drop(table);
            return Err(errors::already_registered(fileobj, &fd.obj));
        }
        let Some(core) = table.core.as_ref() else {
            drop(table);
            return Err(errors::kernel_object_closed(self.backend));
        };
        let gen = table.next_gen;
        if let Err(e) = core.register(n, token(n, gen), interest) {
            drop(table);
            return Err(errors::os_error(e));
        }
        table.slots.insert(
            n,
            Slot {
                key: key.clone().unbind(),
                mask,
                gen,
            },
        );
        table.next_gen = gen.wrapping_add(1);
        table.version += 1;
        drop(table);
        Ok(key)
    }

    /// `select(0)`: cannot block, so the GIL stays held and one lock covers the kernel call
    /// and the key lookups.
    fn select_now(&self, py: Python<'_>, ready: &mut Vec<(Py<PyAny>, u8)>) -> PyResult<()> {
        let mut table = self.lock();
        let Table {
            core,
            events,
            slots,
            ..
        } = &mut *table;
        let Some(core) = core.as_ref() else {
            drop(table);
            return Err(errors::kernel_object_closed(self.backend));
        };
        let fresh = events_for(events.take(), slots);
        let events = events.insert(fresh);
        match core.select(events, Some(Duration::ZERO)) {
            Ok(()) => {
                let stale = collect_ready(py, slots, events, ready);
                if !stale.is_empty() {
                    self.note_stale(&mut table, stale);
                }
                Ok(())
            }
            // A zero-timeout wait does not sleep, so this is all but impossible; if it
            // happens, run the handlers (without the lock) and report nothing, as the stdlib
            // does when the deadline has passed.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                drop(table);
                py.check_signals()
            }
            Err(e) => {
                drop(table);
                Err(errors::os_error(e))
            }
        }
    }

    /// A select that may block: the GIL is released for the wait, signal handlers run on
    /// EINTR and the wait resumes with the remaining time (PEP 475).
    fn select_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        ready: &mut Vec<(Py<PyAny>, u8)>,
    ) -> PyResult<()> {
        let deadline = Deadline::after(timeout);
        loop {
            let (core, mut events) = {
                let mut table = self.lock();
                match table.core.clone() {
                    Some(core) => (core, events_for(table.events.take(), &table.slots)),
                    None => {
                        drop(table);
                        return Err(errors::kernel_object_closed(self.backend));
                    }
                }
            };
            let waited = py.detach(|| {
                core.select_retry_woken(&mut events, deadline.remaining(), || {
                    Python::attach(|py| py.check_signals()).map_err(SelectError)
                })
            });
            drop(core);
            let mut table = self.lock();
            let mut again = false;
            if let Ok(woken) = waited {
                let stale = collect_ready(py, &table.slots, &events, ready);
                if !stale.is_empty() {
                    self.note_stale(&mut table, stale);
                    // Only stale events: nothing to report, so wait out the time left
                    // (unless wakeup() or close() ended the wait).
                    again = ready.is_empty() && !woken && !deadline.expired();
                }
            }
            table.events = Some(events);
            drop(table);
            waited.map_err(|SelectError(e)| e)?;
            if !again {
                return Ok(());
            }
        }
    }

    /// The kernel object's fd, for `fileno()`.
    fn kernel_fd(&self) -> PyResult<i32> {
        let table = self.lock();
        match table
            .core
            .as_ref()
            .and_then(|c| c.try_as_fd().map(|fd| fd.as_raw_fd()))
        {
            Some(fd) => Ok(fd),
            None => Err(errors::kernel_object_closed(self.backend)),
        }
    }
}

#[pymethods]
impl BaseSelectorImpl {
    /// Register a file object for selection, monitoring it for I/O events.
    ///
    /// fileobj is an integer fd or an object with a fileno() method; events is a mask of
    /// EVENT_READ | EVENT_WRITE; data is any object. Returns the new SelectorKey. Raises
    /// ValueError for an invalid mask or file object, KeyError if the fd is already
    /// registered, OSError if the kernel refuses the fd (nothing is registered then).
    #[pyo3(signature = (fileobj, events, data = None))]
    fn register<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        events: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = fileobj.py();
        let mask = convert::event_mask(events)?;
        let fd = self.inner.resolve(fileobj)?;
        let none = py.None().into_bound(py);
        let data = data.unwrap_or(&none);
        let key = statics::new_key(py, fileobj, &fd.obj, events, data)?;
        self.inner.insert(fileobj, &fd, key, mask)
    }

    /// Unregister a file object; returns its SelectorKey.
    ///
    /// Raises KeyError if it is not registered. An fd closed since it was registered is
    /// unregistered without error (a closed socket is found by identity).
    fn unregister<'py>(&self, fileobj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let py = fileobj.py();
        let removed = self.inner.resolve_registered(fileobj)?.and_then(|n| {
            let mut table = self.inner.lock();
            let slot = table.slots.remove(n)?;
            table.version += 1;
            if let Some(core) = table.core.as_ref() {
                // The fd may be closed already: the stdlib ignores the kernel's refusal too.
                let _ = core.unregister(n);
            }
            Some(slot)
        });
        match removed {
            Some(slot) => Ok(slot.key.into_bound(py)),
            None => Err(errors::not_registered(fileobj)),
        }
    }

    /// Change a registered file object's monitored events or attached data.
    ///
    /// Returns the new SelectorKey (the same key object if nothing changed). Raises KeyError
    /// if it is not registered, ValueError for an invalid mask (the registration is then left
    /// unchanged), OSError if the kernel refuses (the registration is then removed).
    #[pyo3(signature = (fileobj, events, data = None))]
    fn modify<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        events: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = fileobj.py();
        let num = self.inner.resolve_registered(fileobj)?;
        let none = py.None().into_bound(py);
        let data = data.unwrap_or(&none);
        loop {
            let Some((n, old)) = num.and_then(|n| self.inner.key_at(py, n).map(|k| (n, k))) else {
                return Err(errors::not_registered(fileobj));
            };
            let old = old.into_bound(py);
            let old_events = old.get_item(2)?;
            let events_changed = convert::differs(events, &old_events)?;
            let new_mask = if events_changed {
                Some(convert::event_mask(events)?)
            } else {
                None
            };
            let reinsert = events_changed && self.inner.modify_reinserts();
            // The stdlib's re-inserting modify never compares data; the in-place one always does.
            let changed = reinsert || convert::differs(data, &old.get_item(3)?)? || events_changed;
            if !changed {
                return Ok(old);
            }
            let new_key = if reinsert {
                // The stdlib's unregister() + register(): a fresh key for the new object. That
                // register() looks the object up with no key to fall back on (a closed socket
                // then raises "Invalid file descriptor: -1"); the stdlib has already dropped the
                // registration at that point, we keep it.
                let fd = convert::fileobj_to_fd(fileobj)?;
                statics::new_key(py, fileobj, &fd.obj, events, data)?
            } else if self.inner.modify_reinserts() {
                // key._replace(data=data)
                statics::new_key(py, &old.get_item(0)?, &old.get_item(1)?, &old_events, data)?
            } else {
                // key._replace(events=events, data=data)
                statics::new_key(py, &old.get_item(0)?, &old.get_item(1)?, events, data)?
            };

            let mut table = self.inner.lock();
            let Some(slot) = table.slots.get(n) else {
                continue; // unregistered meanwhile: report KeyError on the next turn
            };
            if !slot.key.is(&old) {
                continue; // another thread changed it meanwhile: start again from its key
            }
            let (gen, mask) = (slot.gen, new_mask.unwrap_or(slot.mask));
            if let Some(mask) = new_mask {
                let core = table.core.as_ref().expect("an open selector has a core");
                let interest = Interest::from_bits(mask).unwrap_or(Interest::NONE);
                if let Err(e) = core.modify(n, token(n, gen), interest) {
                    // bpo-30014: a failed modify removes the registration, kernel and map.
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
                mask,
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
            return Ok(new_key);
        }
    }

    /// Wait until some registered file objects become ready, or the timeout expires.
    ///
    /// timeout None blocks; <= 0 polls without blocking; > 0 waits at least that many
    /// seconds (microsecond resolution). Returns a list of (key, events) tuples. Signals run
    /// their handlers and the wait resumes with the remaining time (PEP 475) unless a handler
    /// raises. Returns early (possibly with an empty list) on wakeup() or close().
    #[pyo3(signature = (timeout = None))]
    fn select<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let timeout = convert::timeout(self.inner.backend, timeout)?;
        let mut ready = READY.take();
        let waited = if timeout == Some(Duration::ZERO) {
            self.inner.select_now(py, &mut ready)
        } else {
            self.inner.select_blocking(py, timeout, &mut ready)
        };
        let list = waited.and_then(|()| {
            let ints = statics::event_ints(py)?;
            PyList::new(
                py,
                ready
                    .drain(..)
                    .map(|(key, mask)| (key, ints[usize::from(mask)].clone_ref(py))),
            )
        });
        ready.clear();
        READY.set(ready);
        list
    }

    /// Close the selector: free its kernel resources and forget every key.
    ///
    /// A select() blocked in another thread returns promptly. Closing twice is harmless.
    fn close(&self) {
        let (core, slots) = {
            let mut table = self.inner.lock();
            self.inner.closed.store(true, Ordering::Release);
            table.version += 1;
            (table.core.take(), table.slots.drain())
        };
        if let Some(core) = core {
            core.shut_down();
        }
        drop(slots);
    }

    /// Return the SelectorKey of a registered file object.
    ///
    /// Raises KeyError if it is not registered, RuntimeError if the selector is closed.
    fn get_key<'py>(&self, fileobj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(errors::selector_closed());
        }
        self.inner
            .lookup(fileobj)?
            .ok_or_else(|| errors::not_registered(fileobj))
    }

    /// Return a read-only mapping of file objects to SelectorKeys (None once closed).
    ///
    /// The mapping is a live view: it iterates registered fds in registration order.
    fn get_map(&self, py: Python<'_>) -> PyResult<Option<Py<SelectorMapping>>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(None);
        }
        if let Some(map) = self.map.get() {
            return Ok(Some(map.clone_ref(py)));
        }
        // Not `get_or_init`: creating the object may run Python code (GC), and another
        // thread blocked inside `get_or_init` would then hold the GIL forever.
        let fresh = Py::new(py, SelectorMapping::new(self.inner.clone()))?;
        let _ = self.map.set(fresh);
        Ok(self.map.get().map(|m| m.clone_ref(py)))
    }

    /// Make a select() blocked in another thread (or the next select()) return promptly.
    ///
    /// Thread-safe and cheap; calls made before a select() consumes them are coalesced into
    /// one wake-up. Does nothing once the selector is closed. (rselectors extension.)
    fn wakeup(&self, py: Python<'_>) -> PyResult<()> {
        let Some(core) = self.inner.core() else {
            return Ok(());
        };
        if core.wake_pending() {
            return Ok(()); // coalesced: no syscall, keep the GIL
        }
        // Release the GIL for the write, so the woken loop thread need not wait for it.
        py.detach(|| core.wake()).map_err(errors::os_error)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(slf: &Bound<'_, Self>, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        // Through Python, as the stdlib's `self.close()`: a subclass may override close().
        slf.call_method0(pyo3::intern!(slf.py(), "close"))?;
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if !self.constructed.load(Ordering::Acquire) {
            return Ok(()); // a half-built object holds no references yet
        }
        // If another thread holds the lock, skip: under-reporting only delays collection.
        if let Ok(table) = self.inner.table.try_lock() {
            for (_, slot) in table.slots.iter() {
                visit.call(&slot.key)?;
            }
        }
        visit.call(self.map.get())
    }

    fn __clear__(&self) {
        let slots = {
            let mut table = self.inner.lock();
            table.version += 1;
            table.slots.drain()
        };
        drop(slots);
    }
}

/// `__new__` of the concrete classes: no arguments, unless a Python subclass defines an
/// `__init__` that takes them.
fn base_init(
    cls: &Bound<'_, PyType>,
    backend: Backend,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyClassInitializer<BaseSelectorImpl>> {
    let has_args = !args.is_empty() || kwargs.is_some_and(|k| !k.is_empty());
    if has_args {
        let py = cls.py();
        let object_init = py.get_type::<pyo3::types::PyAny>().getattr("__init__")?;
        if cls.getattr("__init__")?.is(&object_init) {
            return Err(PyTypeError::new_err(format!(
                "{}() takes no arguments",
                cls.name()?
            )));
        }
    }
    Ok(PyClassInitializer::from(BaseSelectorImpl::new(backend)?))
}

/// Declares one concrete selector class over [`BaseSelectorImpl`]; `fileno` adds the
/// `fileno()` method of classes with a kernel object.
macro_rules! selector_class {
    ($(#[$cfg:meta])? $name:ident, $backend:expr, $doc:literal $(, $fileno:ident)?) => {
        $(#[$cfg])?
        #[doc = $doc]
        #[pyclass(extends = BaseSelectorImpl, subclass, frozen, module = "rselectors")]
        pub struct $name;

        $(#[$cfg])?
        #[pymethods]
        impl $name {
            #[new]
            #[classmethod]
            #[pyo3(signature = (*args, **kwargs))]
            fn py_new(
                cls: &Bound<'_, PyType>,
                args: &Bound<'_, PyTuple>,
                kwargs: Option<&Bound<'_, PyDict>>,
            ) -> PyResult<PyClassInitializer<Self>> {
                Ok(base_init(cls, $backend, args, kwargs)?.add_subclass($name))
            }

            $(
            /// Return the file descriptor of the underlying kernel object.
            fn $fileno(slf: &Bound<'_, Self>) -> PyResult<i32> {
                slf.as_super().get().inner.kernel_fd()
            }
            )?
        }
    };
}

selector_class!(
    #[cfg(any(target_os = "linux", target_os = "android"))]
    EpollSelector,
    Backend::Epoll,
    "Epoll-based selector.",
    fileno
);
selector_class!(
    #[cfg(kqueue_available)]
    KqueueSelector,
    Backend::Kqueue,
    "Kqueue-based selector.",
    fileno
);
selector_class!(
    #[cfg(devpoll_available)]
    DevpollSelector,
    Backend::Devpoll,
    "Solaris /dev/poll selector.",
    fileno
);
selector_class!(PollSelector, Backend::Poll, "Poll-based selector.");
selector_class!(SelectSelector, Backend::Select, "Select-based selector.");

/// Adds every selector class available on this platform to `m`.
pub(crate) fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BaseSelectorImpl>()?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    m.add_class::<EpollSelector>()?;
    #[cfg(kqueue_available)]
    m.add_class::<KqueueSelector>()?;
    #[cfg(devpoll_available)]
    m.add_class::<DevpollSelector>()?;
    m.add_class::<PollSelector>()?;
    m.add_class::<SelectSelector>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{token, untoken};

    #[test]
    fn tokens_round_trip() {
        for (fd, gen) in [(0, 0), (5, 1), (i32::MAX, u32::MAX), (1023, 77)] {
            let (f, g) = untoken(token(fd, gen));
            assert_eq!(f, fd);
            if cfg!(target_pointer_width = "64") {
                assert_eq!(g, Some(gen));
            }
            assert_ne!(token(fd, gen), crate::Token(usize::MAX));
        }
    }
}
