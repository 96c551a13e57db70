//! The selector classes: `EpollSelector`, `PollSelector`, `SelectSelector`, ... over a shared
//! native base, `_NativeSelectorImpl`, which keeps the fd -> `SelectorKey` table. (The
//! package's `rselectors._BaseSelectorImpl` is the stdlib's own class, for Python code that
//! subclasses it.)

use super::convert;
use super::errors;
use super::mapping::SelectorMapping;
use super::state::{Inner, ReadyKeys};
use super::statics;
use crate::{Backend, RawSource, Selector, EVENT_READ, EVENT_WRITE};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pyclass::{PyTraverseError, PyVisit};
use pyo3::types::{PyDict, PyList, PyNone, PyTuple, PyType};
use pyo3::PyClassInitializer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

thread_local! {
    /// The ready keys of a `select` between the table lookup and building the result list;
    /// taken out while in use, so a re-entrant select on this thread simply allocates.
    static READY: std::cell::Cell<ReadyKeys> = const { std::cell::Cell::new(Vec::new()) };
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
    name = "_NativeSelectorImpl"
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

impl BaseSelectorImpl {
    /// The native selector, or the closed-selector error (for Rust code sharing it).
    pub(crate) fn open_core(&self) -> PyResult<Arc<Selector>> {
        self.inner.open_core()
    }

    fn new(backend: Backend) -> PyResult<BaseSelectorImpl> {
        Ok(BaseSelectorImpl {
            constructed: AtomicBool::new(true),
            inner: Arc::new(Inner::new(backend).map_err(errors::os_error)?),
            map: OnceLock::new(),
        })
    }
}

#[pymethods]
impl BaseSelectorImpl {
    /// Register a file object for selection, monitoring it for I/O events.
    ///
    /// fileobj is an integer fd or an object with a fileno() method; events is a mask of
    /// EVENT_READ | EVENT_WRITE, and of rselectors' EVENT_PRIORITY | EVENT_HANGUP where the
    /// backend has them; data is any object. exclusive=True (keyword only; rselectors
    /// extension) asks for an exclusive registration: where several selectors wait on the
    /// same file, an event wakes one or more of them instead of all (epoll's EPOLLEXCLUSIVE;
    /// the other backends ignore it); with EVENT_READ | EVENT_WRITE only. Returns the new
    /// SelectorKey. Raises ValueError for an invalid mask (or one this selector cannot wait
    /// for) or file object, KeyError if the fd is already registered, OSError if the kernel
    /// refuses the fd (nothing is registered then).
    #[pyo3(signature = (fileobj, events, data = None, *, exclusive = false))]
    fn register<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        events: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
        exclusive: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = fileobj.py();
        let mask = convert::event_mask(events)?;
        let interest = convert::interest(self.inner.backend, mask, exclusive, events)?;
        let fd = self.inner.resolve(fileobj)?;
        let none = PyNone::get(py);
        let data = data.unwrap_or(none.as_any());
        let key = statics::new_key(py, fileobj, &fd.obj, events, data)?;
        self.inner.insert(fileobj, &fd, key, interest)
    }

    /// Unregister a file object; returns its SelectorKey.
    ///
    /// Raises KeyError if it is not registered. An fd closed since it was registered is
    /// unregistered without error (a closed socket is found by identity).
    fn unregister<'py>(&self, fileobj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let removed = self
            .inner
            .resolve_registered(fileobj)?
            .and_then(|n| self.inner.remove(n));
        match removed {
            Some(slot) => Ok(slot.key.into_bound(fileobj.py())),
            None => Err(errors::not_registered(fileobj)),
        }
    }

    /// Change a registered file object's monitored events or attached data.
    ///
    /// Returns the new SelectorKey (the same key object if nothing changed). Raises KeyError
    /// if it is not registered, ValueError for an invalid mask, or one this selector cannot
    /// wait for (the registration is then left unchanged), OSError if the kernel refuses (the
    /// registration is then removed). An exclusive registration stays exclusive (epoll
    /// removes and re-adds it: the kernel cannot modify one).
    #[pyo3(signature = (fileobj, events, data = None))]
    fn modify<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        events: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = fileobj.py();
        let num = self.inner.resolve_registered(fileobj)?;
        let none = PyNone::get(py);
        let data = data.unwrap_or(none.as_any());
        loop {
            let Some((n, old)) = num.and_then(|n| self.inner.key_at(py, n).map(|k| (n, k))) else {
                return Err(errors::not_registered(fileobj));
            };
            let old = old.into_bound(py);
            let Some(change) = Change::between(&self.inner, n, &old, events, data)? else {
                return Ok(old);
            };
            let new_key = change.key(fileobj, &old, events, data)?;
            if let Some(key) =
                self.inner
                    .replace(n, &old, new_key, change.mask, change.reinsert())?
            {
                return Ok(key);
            }
            // Another thread changed or removed the registration meanwhile: start again
            // from its current key (or report KeyError).
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
        // A closed epoll/kqueue/devpoll object: the stdlib's arithmetic errors, then its
        // "closed" error, before the conversion errors of its select module.
        let closed = self.inner.backend.has_kernel_object() && self.inner.is_closed();
        let timeout = convert::timeout(self.inner.backend, timeout, closed)?;
        if closed {
            return Err(errors::kernel_object_closed(self.inner.backend));
        }
        let mut ready = READY.take();
        let waited = if timeout == Some(Duration::ZERO) {
            self.inner.select_now(py, &mut ready)
        } else {
            self.inner.select_blocking(py, timeout, &mut ready)
        };
        let list = waited.and_then(|()| {
            if ready.is_empty() {
                return Ok(PyList::empty(py));
            }
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
        let (core, slots) = self.inner.close();
        if let Some(core) = core {
            core.shut_down();
        }
        drop(slots);
    }

    /// Return the SelectorKey of a registered file object.
    ///
    /// Raises KeyError if it is not registered, RuntimeError if the selector is closed.
    fn get_key<'py>(&self, fileobj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        if self.inner.is_closed() {
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
        if self.inner.is_closed() {
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
        self.inner.wakeup(py)
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
        if let Some(table) = self.inner.try_lock() {
            for (_, slot) in table.slots.iter() {
                visit.call(&slot.key)?;
            }
        }
        visit.call(self.map.get())
    }

    fn __clear__(&self) {
        drop(self.inner.clear());
    }
}

/// What a `modify()` call changes, decided from the registered key before taking the lock.
struct Change {
    /// The new event bits, if the events differ (the kernel is modified).
    mask: Option<u8>,
    /// The backend's modify is the stdlib's unregister-then-register (see
    /// [`Inner::modify_reinserts`]) rather than an edit in place.
    reinserts: bool,
}

impl Change {
    /// Compares the call's `events` and `data` with fd `n`'s key `old` as the stdlib does
    /// (Python's `!=`); `None`: nothing changes and `old` is returned as is. The stdlib's
    /// re-inserting modify never compares data when the events change; the in-place one
    /// always does. New events beyond READ | WRITE are checked against the backend and the
    /// registration's exclusivity.
    fn between(
        inner: &Inner,
        n: RawSource,
        old: &Bound<'_, PyTuple>,
        events: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Change>> {
        let mask = convert::changed_mask(events, &*old.get_borrowed_item(2)?)?;
        if let Some(m) = mask.filter(|&m| m & !(EVENT_READ | EVENT_WRITE) != 0) {
            convert::interest(inner.backend, m, inner.is_exclusive(n), events)?;
        }
        let change = Change {
            mask,
            reinserts: inner.modify_reinserts(),
        };
        let changed = change.reinsert()
            || convert::differs(data, &*old.get_borrowed_item(3)?)?
            || change.mask.is_some();
        Ok(changed.then_some(change))
    }

    /// Whether the key moves to the end of the map with the new file object.
    fn reinsert(&self) -> bool {
        self.reinserts && self.mask.is_some()
    }

    /// The new key, as the stdlib makes it: the in-place modify's
    /// `key._replace(events=events, data=data)`; the re-inserting one's fresh `register()`
    /// key when the events change, else `key._replace(data=data)`.
    fn key<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        old: &Bound<'py, PyTuple>,
        events: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = fileobj.py();
        if self.reinsert() {
            // That register() looks the object up with no key to fall back on (a closed
            // socket then raises "Invalid file descriptor: -1"); the stdlib has already
            // dropped the registration at that point, we keep it.
            let fd = convert::fileobj_to_fd(fileobj)?;
            return statics::new_key(py, fileobj, &fd.obj, events, data);
        }
        let events = if self.reinserts {
            old.get_borrowed_item(2)?
        } else {
            events.as_borrowed()
        };
        statics::new_key(
            py,
            &*old.get_borrowed_item(0)?,
            &*old.get_borrowed_item(1)?,
            &events,
            data,
        )
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
    #[cfg(epoll_available)]
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
selector_class!(
    #[cfg(unix)]
    PollSelector,
    Backend::Poll,
    "Poll-based selector."
);
selector_class!(SelectSelector, Backend::Select, "Select-based selector.");

/// Adds every selector class available on this platform to `m`.
pub(crate) fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BaseSelectorImpl>()?;
    #[cfg(epoll_available)]
    m.add_class::<EpollSelector>()?;
    #[cfg(kqueue_available)]
    m.add_class::<KqueueSelector>()?;
    #[cfg(devpoll_available)]
    m.add_class::<DevpollSelector>()?;
    #[cfg(unix)]
    m.add_class::<PollSelector>()?;
    m.add_class::<SelectSelector>()?;
    Ok(())
}
