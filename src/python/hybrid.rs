//! Rust and Python sharing one selector: the Rust API documented in the `python` module
//! (`rselectors::python`).

use super::errors;
use super::selector::BaseSelectorImpl;
use crate::{Interest, RawSource, Selector, Source};
use pyo3::exceptions::{PyReferenceError, PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pyclass::{PyClass, PyTraverseError, PyVisit};
use pyo3::types::{IntoPyDict, PyModule, PyType};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The native [`Selector`] behind a Python selector object.
///
/// `selector` is an instance of one of rselectors' selector classes (`EpollSelector`,
/// `PollSelector`, `rselectors.DefaultSelector`, ...) or of a Python subclass of one. The
/// returned `Arc` shares the selector with Python: use it to wake a `select()` blocked in
/// Python from any thread ([`Selector::wake`], [`Selector::waker`]), to learn the
/// [`backend`](Selector::backend), or to nest the kernel fd in another event loop
/// ([`Selector::try_as_fd`]).
///
/// Register fds through Python (or [`register_callback`]), not on the returned selector:
/// Python's `select()` reports only the keys in its own table, so readiness of an fd
/// registered behind its back would be swallowed, and, being level-triggered, would make
/// every `select()` return at once.
///
/// If Python closes the selector later, the `Arc` stays valid (the kernel fd closes when the
/// last clone is dropped) but its blocking `select` calls return at once with no events.
/// The `Arc` follows the selector's own rebuilds (a stale epoll registration is shed with
/// [`Selector::reopen`], under the same fd). After `os.fork()` the child's selector gets a new
/// native selector of its own on its next use: an `Arc` (or [`Waker`](crate::Waker)) from
/// before the fork still refers to the parent's, so call `native_selector` again in the child.
///
/// Only selectors made from this binary's classes are recognised (see "One copy of the
/// classes" in the [module documentation](super)).
///
/// # Errors
///
/// - `TypeError` if `selector` is not an rselectors selector of this binary's classes (a
///   stdlib selector, or one made from another extension module's copy of the classes);
/// - the error a closed selector raises for kernel work (`ValueError("I/O operation on closed
///   epoll object")`, `RuntimeError("Selector is closed")` for poll and select) once closed.
///
/// # Examples
///
/// ```
/// use pyo3::prelude::*;
/// use rselectors::python::native_selector;
///
/// # Python::initialize();
/// Python::attach(|py| -> PyResult<()> {
///     let selector = py.get_type::<rselectors::python::PollSelector>().call0()?;
///     let native = native_selector(&selector)?;
///     assert_eq!(native.backend(), rselectors::Backend::Poll);
///
///     // Wake the Python select() from another thread.
///     let waker = native.waker()?;
///     std::thread::spawn(move || waker.wake().unwrap());
///     let ready = selector.call_method1("select", (30.0,))?; // returns at once, empty
///     assert!(!ready.is_truthy()?);
///
///     // Not a selector, or closed:
///     assert!(native_selector(py.None().bind(py)).is_err());
///     selector.call_method0("close")?;
///     assert!(native_selector(&selector).is_err());
///     Ok(())
/// })?;
/// # Ok::<(), PyErr>(())
/// ```
pub fn native_selector(selector: &Bound<'_, PyAny>) -> PyResult<Arc<Selector>> {
    match selector.cast::<BaseSelectorImpl>() {
        Ok(base) => base.get().open_core(),
        Err(_) => Err(not_a_native_selector(selector)),
    }
}

/// The `TypeError` of [`native_selector`], naming the likely cause.
fn not_a_native_selector(obj: &Bound<'_, PyAny>) -> PyErr {
    let py = obj.py();
    let ty = obj.get_type();
    let name = ty
        .fully_qualified_name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| String::from("?"));
    // A class of the same name from another binary: another copy of our classes.
    let foreign_copy = ty
        .mro()
        .iter()
        .filter_map(|cls| cls.cast_into::<PyType>().ok())
        .any(|cls| {
            !cls.is(py.get_type::<BaseSelectorImpl>())
                && cls
                    .name()
                    .is_ok_and(|n| n == <BaseSelectorImpl as PyClass>::NAME)
                && cls
                    .module()
                    .is_ok_and(|m| m.to_cow().is_ok_and(|m| m.starts_with("rselectors")))
        });
    if foreign_copy {
        PyTypeError::new_err(format!(
            "{name} comes from another copy of rselectors' native classes (another extension \
             module); Rust code can reach only selectors made from the classes compiled into \
             its own binary"
        ))
    } else {
        PyTypeError::new_err(format!("expected an rselectors selector, got {name}"))
    }
}

/// Registers a Rust-owned fd on a Python selector, with a Rust callback as the key's `data`.
///
/// Calls the selector's own Python `register(fd, interest, data)`, so the Python side sees an
/// ordinary registration: a `SelectorKey` in `get_map()`, `get_key(fd)`, `unregister(fd)`
/// and `modify` work as for any fd, and the usual Python loop dispatches it:
///
/// ```python
/// for key, mask in sel.select():
///     callback = key.data
///     callback(key.fileobj, mask)
/// ```
///
/// `data` is a [`Callback`] that runs `callback` with a [`Ready`] (the ready events, the
/// selector, the fd). Returns the `SelectorKey` the selector's `register` returned.
///
/// Works with any selector object that has the stdlib `register` signature, the stdlib's own
/// included (an [`Interest::EXCLUSIVE`] interest passes `exclusive=True`, which only
/// rselectors' selectors take). The selector does not own the fd: keep it open while registered and unregister
/// it before closing it. A convenient way is to move the fd's owner into the closure and
/// unregister on EOF ([`Ready::unregister`]): the closure, and the fd with it, is dropped when
/// the key is (after unregistering, or when the selector is closed or collected). On error
/// (`KeyError` if the fd is registered, `ValueError` for [`Interest::NONE`], `OSError` from
/// the kernel) nothing is registered and the closure is dropped.
///
/// The callback runs on the thread that runs the Python loop, attached to the interpreter.
/// Reach the selector through [`Ready::selector`] rather than capturing it in the closure:
/// the callback reports its selector to Python's garbage collector, but the closure's
/// captures are invisible to it, so a captured selector would never be collected.
///
/// # Examples
///
/// ```
/// use pyo3::prelude::*;
/// use pyo3::types::IntoPyDict;
/// use rselectors::python::register_callback;
/// use rselectors::Interest;
/// use std::io::{Read, Write};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// # Python::initialize();
/// Python::attach(|py| -> PyResult<()> {
///     let selector = py.get_type::<rselectors::python::PollSelector>().call0()?;
///     let (rx, mut tx) = UnixStream::pair()?;
///     let received = Arc::new(AtomicUsize::new(0));
///     let seen = received.clone();
///     let fd = rx.as_raw_fd();
///     let key = register_callback(&selector, fd, Interest::READABLE, move |ready| {
///         let mut buf = [0; 64];
///         match (&rx).read(&mut buf)? {
///             0 => {
///                 ready.unregister()?; // EOF: drops this closure, which closes `rx`
///             }
///             n => {
///                 seen.fetch_add(n, Ordering::Relaxed);
///             }
///         }
///         Ok(())
///     })?;
///     assert_eq!(key.getattr("fd")?.extract::<i32>()?, fd);
///
///     tx.write_all(b"ping")?;
///     drop(tx);
///     // The Python loop, written out: each ready key's data is called with (fileobj, mask).
///     py.run(
///         c"while sel.get_map():
///     for key, mask in sel.select(5):
///         key.data(key.fileobj, mask)",
///         Some(&[("sel", &selector)].into_py_dict(py)?),
///         None,
///     )?;
///     assert_eq!(received.load(Ordering::Relaxed), 4);
///     Ok(())
/// })?;
/// # Ok::<(), PyErr>(())
/// ```
pub fn register_callback<'py, F>(
    selector: &Bound<'py, PyAny>,
    fd: impl Source,
    interest: Interest,
    callback: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Fn(&Ready<'_>) -> PyResult<()> + Send + Sync + 'static,
{
    let py = selector.py();
    let fd = fd.raw_fd();
    let data = Bound::new(
        py,
        Callback {
            fd,
            selector: Mutex::new(Some(selector.clone().unbind())),
            func: Box::new(callback),
        },
    )?;
    let register = selector.getattr(intern!(py, "register"))?;
    if interest.is_exclusive() {
        let kwargs = [(intern!(py, "exclusive"), true)].into_py_dict(py)?;
        register.call((fd, interest.bits(), data), Some(&kwargs))
    } else {
        register.call1((fd, interest.bits(), data))
    }
}

/// Makes `import rselectors` use the native classes compiled into this program.
///
/// For a Rust program that embeds CPython: creates the module `rselectors._rselectors` from
/// this binary's classes (the same module the extension file would give) and puts it in
/// `sys.modules`, so the pure-Python package `rselectors` (from `sys.path`: a
/// pip-installed copy, or the `python/` directory of this repository) imports it instead of
/// loading an extension file. The selectors Python code then creates are ones
/// [`native_selector`] recognises. Returns the module; calling it again returns the same
/// module.
///
/// # Errors
///
/// `RuntimeError` if `rselectors` or `rselectors._rselectors` was already imported from
/// elsewhere (its classes would not be this binary's); call this before any Python code
/// imports `rselectors`.
///
/// # Examples
///
/// ```
/// use pyo3::prelude::*;
///
/// # Python::initialize();
/// Python::attach(|py| -> PyResult<()> {
///     let ext = rselectors::python::install_extension_module(py)?;
///     let modules = py.import("sys")?.getattr("modules")?;
///     assert!(modules.get_item("rselectors._rselectors")?.is(&ext));
///     // With the `rselectors` package on sys.path, `import rselectors` now uses `ext`.
///     let selector = ext.getattr("PollSelector")?.call0()?;
///     rselectors::python::native_selector(&selector)?;
///     Ok(())
/// })?;
/// # Ok::<(), PyErr>(())
/// ```
pub fn install_extension_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    const NAME: &str = "rselectors._rselectors";
    let modules = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "modules"))?;
    if let Ok(existing) = modules.get_item(NAME) {
        let ours = existing
            .getattr(<BaseSelectorImpl as PyClass>::NAME)
            .is_ok_and(|cls| cls.is(py.get_type::<BaseSelectorImpl>()));
        return match existing.cast_into::<PyModule>() {
            Ok(module) if ours => Ok(module),
            _ => Err(PyRuntimeError::new_err(format!(
                "{NAME} is already imported from another binary; call \
                 install_extension_module() before anything imports rselectors"
            ))),
        };
    }
    if modules.contains("rselectors")? {
        return Err(PyRuntimeError::new_err(
            "rselectors is already imported; call install_extension_module() before anything \
             imports it",
        ));
    }
    let module = PyModule::new(py, NAME)?;
    // Exactly what importing the extension module runs.
    super::_rselectors(&module)?;
    modules.set_item(NAME, &module)?;
    Ok(module)
}

type CallbackFn = dyn Fn(&Ready<'_>) -> PyResult<()> + Send + Sync;

/// The `data` of a registration made by [`register_callback`]: a Python callable that runs a
/// Rust closure.
///
/// Python calls it as `callback(fileobj, mask)`, the stdlib echo server's convention, with
/// `mask` a combination of `EVENT_READ` and `EVENT_WRITE`. It returns `None`, or raises what
/// the closure returned as an error (a panic becomes `pyo3_runtime.PanicException`). Its
/// `repr()` is `<rselectors.Callback for fd N>`.
///
/// # Examples
///
/// ```
/// use pyo3::prelude::*;
/// use rselectors::python::{register_callback, Callback};
/// use rselectors::Interest;
/// use std::os::unix::net::UnixStream;
/// use std::os::fd::AsRawFd;
///
/// # Python::initialize();
/// Python::attach(|py| -> PyResult<()> {
///     let selector = py.get_type::<rselectors::python::SelectSelector>().call0()?;
///     let (a, _b) = UnixStream::pair()?;
///     let key = register_callback(&selector, &a, Interest::WRITABLE, |ready| {
///         assert!(ready.is_writable());
///         ready.unregister()?;
///         Ok(())
///     })?;
///     let data = key.getattr("data")?;
///     assert!(data.is_instance_of::<Callback>());
///     assert_eq!(data.repr()?.to_string(), format!("<rselectors.Callback for fd {}>", a.as_raw_fd()));
///     data.call1((a.as_raw_fd(), 2))?; // what the Python loop does
///     assert_eq!(selector.call_method0("get_map")?.len()?, 0);
///     Ok(())
/// })?;
/// # Ok::<(), PyErr>(())
/// ```
#[pyclass(frozen, module = "rselectors", name = "Callback")]
pub struct Callback {
    fd: RawSource,
    /// The selector it was registered on; reported to the GC (selector -> key -> callback ->
    /// selector is a cycle) and cleared by it.
    selector: Mutex<Option<Py<PyAny>>>,
    func: Box<CallbackFn>,
}

impl Callback {
    fn slot(&self) -> MutexGuard<'_, Option<Py<PyAny>>> {
        crate::sync::lock(&self.selector)
    }
}

#[pymethods]
impl Callback {
    /// Run the Rust callback: callback(fileobj, mask).
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        fileobj: &Bound<'py, PyAny>,
        mask: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let events = mask
            .extract::<u8>()
            .ok()
            .and_then(Interest::from_bits)
            .ok_or_else(|| errors::invalid_events(mask))?;
        let this = slf.get();
        let selector = this.slot().as_ref().map(|s| s.clone_ref(py));
        let selector = selector.ok_or_else(|| {
            PyReferenceError::new_err("the selector of this callback was garbage-collected")
        })?;
        let ready = Ready {
            selector: selector.into_bound(py),
            fileobj: fileobj.clone(),
            callback: slf.clone(),
            events,
        };
        (this.func)(&ready)
    }

    fn __repr__(&self) -> String {
        format!("<rselectors.Callback for fd {}>", self.fd)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // If another thread holds the lock, skip: under-reporting only delays collection.
        if let Ok(slot) = self.selector.try_lock() {
            if let Some(selector) = slot.as_ref() {
                visit.call(selector)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let selector = self.slot().take();
        drop(selector); // after unlocking: dropping may run Python code
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback").field("fd", &self.fd).finish()
    }
}

/// What a [`register_callback`] closure receives when the Python loop calls its [`Callback`]:
/// the ready events and the registration they belong to.
///
/// # Examples
///
/// ```
/// use pyo3::prelude::*;
/// use rselectors::python::{register_callback, Ready};
/// use rselectors::Interest;
/// use std::os::unix::net::UnixStream;
///
/// fn on_ready(ready: &Ready<'_>) -> PyResult<()> {
///     if ready.is_writable() {
///         // Done writing: wait for input instead (the callback stays the key's data).
///         ready.modify(Interest::READABLE)?;
///     } else if ready.is_readable() {
///         ready.unregister()?;
///     }
///     Ok(())
/// }
///
/// # Python::initialize();
/// Python::attach(|py| -> PyResult<()> {
///     let selector = py.get_type::<rselectors::python::PollSelector>().call0()?;
///     let (a, _b) = UnixStream::pair()?;
///     let key = register_callback(&selector, &a, Interest::WRITABLE, on_ready)?;
///     key.getattr("data")?.call1((key.getattr("fileobj")?, 2))?;
///     let key = selector.call_method1("get_key", (key.getattr("fd")?,))?;
///     assert_eq!(key.getattr("events")?.extract::<u8>()?, 1);
///     Ok(())
/// })?;
/// # Ok::<(), PyErr>(())
/// ```
pub struct Ready<'py> {
    selector: Bound<'py, PyAny>,
    fileobj: Bound<'py, PyAny>,
    callback: Bound<'py, Callback>,
    events: Interest,
}

impl<'py> Ready<'py> {
    /// The interpreter token, for calling Python from the callback.
    pub fn py(&self) -> Python<'py> {
        self.selector.py()
    }

    /// The ready events: [`Interest::READABLE`], [`Interest::WRITABLE`] or both (the
    /// selector's `mask`; an error or hang-up on the fd reports both, as in the stdlib), with
    /// [`Interest::PRIORITY`] and [`Interest::HANGUP`] for a registration that asked for them.
    pub fn events(&self) -> Interest {
        self.events
    }

    /// Whether the fd is ready to read (or has an error or hang-up pending).
    pub fn is_readable(&self) -> bool {
        self.events.is_readable()
    }

    /// Whether the fd is ready to write (or has an error or hang-up pending).
    pub fn is_writable(&self) -> bool {
        self.events.is_writable()
    }

    /// The registered fd (Windows: SOCKET).
    pub fn fd(&self) -> RawSource {
        self.callback.get().fd
    }

    /// The file object the loop passed (`key.fileobj`: the fd as a Python int).
    pub fn fileobj(&self) -> &Bound<'py, PyAny> {
        &self.fileobj
    }

    /// The Python selector the fd is registered on.
    pub fn selector(&self) -> &Bound<'py, PyAny> {
        &self.selector
    }

    /// Unregisters the fd (`selector.unregister(fileobj)`), returning its key. The closure
    /// is dropped once the last reference to the key goes (after the callback returns, unless
    /// Python still holds the key).
    pub fn unregister(&self) -> PyResult<Bound<'py, PyAny>> {
        self.selector
            .call_method1(intern!(self.py(), "unregister"), (&self.fileobj,))
    }

    /// Changes the events the fd is watched for (`selector.modify(fileobj, interest, data)`),
    /// keeping this callback as the key's data; returns the new key. Whether the registration
    /// is exclusive is kept: [`Interest::EXCLUSIVE`] in `interest` changes nothing.
    pub fn modify(&self, interest: Interest) -> PyResult<Bound<'py, PyAny>> {
        self.selector.call_method1(
            intern!(self.py(), "modify"),
            (&self.fileobj, interest.bits(), &self.callback),
        )
    }
}

impl fmt::Debug for Ready<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("fd", &self.fd())
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use pyo3::exceptions::{PyKeyError, PyValueError};
    use pyo3::types::PyDict;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Sets its flag when dropped: shows when a callback's closure is released.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn with_py<R>(f: impl FnOnce(Python<'_>) -> PyResult<R>) -> R {
        Python::initialize();
        Python::attach(|py| f(py).unwrap_or_else(|e| panic!("{}", e.value(py))))
    }

    #[test]
    fn a_selector_key_callback_cycle_is_collected() {
        let dropped = Arc::new(AtomicBool::new(false));
        with_py(|py| {
            let (a, _b) = UnixStream::pair()?;
            {
                let selector = py.get_type::<super::super::PollSelector>().call0()?;
                let guard = DropFlag(dropped.clone());
                register_callback(&selector, &a, Interest::READABLE, move |_| {
                    let _ = &guard;
                    Ok(())
                })?;
            }
            py.import("gc")?.call_method0("collect")?;
            Ok(())
        });
        assert!(dropped.load(Ordering::SeqCst), "the closure leaked");
    }

    #[test]
    fn a_failed_registration_drops_the_closure() {
        let dropped = Arc::new(AtomicBool::new(false));
        with_py(|py| {
            let (a, _b) = UnixStream::pair()?;
            let selector = py.get_type::<super::super::PollSelector>().call0()?;
            selector.call_method1("register", (a.as_raw_fd(), 1))?;
            let guard = DropFlag(dropped.clone());
            let err = register_callback(&selector, &a, Interest::READABLE, move |_| {
                let _ = &guard;
                Ok(())
            })
            .unwrap_err();
            assert!(err.is_instance_of::<PyKeyError>(py));
            let err = register_callback(&selector, 1000, Interest::NONE, |_| Ok(())).unwrap_err();
            assert!(err.is_instance_of::<PyValueError>(py));
            Ok(())
        });
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn register_callback_works_with_stdlib_selectors() {
        with_py(|py| {
            let (a, _b) = UnixStream::pair()?;
            let selector = py
                .import("selectors")?
                .getattr("DefaultSelector")?
                .call0()?;
            let hits = Arc::new(AtomicBool::new(false));
            let hit = hits.clone();
            register_callback(&selector, &a, Interest::WRITABLE, move |ready| {
                assert_eq!(ready.events(), Interest::WRITABLE);
                assert_eq!(ready.fd(), ready.fileobj().extract::<RawSource>()?);
                hit.store(true, Ordering::SeqCst);
                ready.unregister().map(drop)
            })?;
            let globals = PyDict::new(py);
            globals.set_item("sel", &selector)?;
            py.run(
                c"for key, mask in sel.select(5): key.data(key.fileobj, mask)",
                Some(&globals),
                None,
            )?;
            assert!(hits.load(Ordering::SeqCst));
            assert_eq!(selector.call_method0("get_map")?.len()?, 0);
            let err = native_selector(&selector).unwrap_err();
            assert!(err.is_instance_of::<PyTypeError>(py));
            assert!(err
                .to_string()
                .contains("expected an rselectors selector, got selectors."));
            selector.call_method0("close")?;
            Ok(())
        });
    }

    #[test]
    fn the_callback_checks_its_arguments() {
        with_py(|py| {
            let (a, _b) = UnixStream::pair()?;
            let selector = py.get_type::<super::super::SelectSelector>().call0()?;
            let key = register_callback(&selector, &a, Interest::READABLE, |_| Ok(()))?;
            let data = key.getattr("data")?;
            for bad in [4, -1, 256] {
                let err = data.call1((a.as_raw_fd(), bad)).unwrap_err();
                assert!(err.is_instance_of::<PyValueError>(py), "{bad}: {err}");
            }
            assert!(data.call1((a.as_raw_fd(), 0))?.is_none());
            // Once the GC cleared it, calling it says why instead of crashing.
            data.cast::<Callback>()?.get().__clear__();
            let err = data.call1((a.as_raw_fd(), 1)).unwrap_err();
            assert!(err.is_instance_of::<PyReferenceError>(py));
            Ok(())
        });
    }

    /// The events mask the kernel holds for `fd` in an epoll selector's set (fdinfo).
    #[cfg(epoll_available)]
    fn epoll_mask(selector: &Bound<'_, PyAny>, fd: i32) -> PyResult<Option<u32>> {
        let epfd: i32 = selector.call_method0("fileno")?.extract()?;
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{epfd}"))?;
        Ok(info.lines().find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words.first() == Some(&"tfd:") && words.get(1)?.parse::<i32>().ok()? == fd)
                .then(|| u32::from_str_radix(words.get(3)?, 16).ok())?
        }))
    }

    #[cfg(epoll_available)]
    #[test]
    fn an_exclusive_interest_makes_an_exclusive_registration() {
        with_py(|py| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let fd = listener.as_raw_fd();
            let selector = py.get_type::<super::super::EpollSelector>().call0()?;
            let interest = Interest::READABLE | Interest::EXCLUSIVE;
            let key = register_callback(&selector, fd, interest, |_| Ok(()))?;
            assert_eq!(key.getattr("events")?.extract::<u8>()?, 1);
            let mask = epoll_mask(&selector, fd)?.expect("registered");
            assert_ne!(mask & libc::EPOLLEXCLUSIVE as u32, 0, "{mask:#x}");
            // A stdlib selector has no such keyword: its own TypeError, nothing registered.
            let theirs = py.import("selectors")?.getattr("EpollSelector")?.call0()?;
            let err = register_callback(&theirs, fd, interest, |_| Ok(())).unwrap_err();
            assert!(err.is_instance_of::<PyTypeError>(py), "{err}");
            assert_eq!(theirs.call_method0("get_map")?.len()?, 0);
            Ok(())
        });
    }

    #[test]
    fn install_extension_module_is_idempotent_and_refuses_a_foreign_module() {
        with_py(|py| {
            let modules = py.import("sys")?.getattr("modules")?;
            let first = install_extension_module(py)?;
            assert!(install_extension_module(py)?.is(&first));
            assert!(first
                .getattr(<BaseSelectorImpl as PyClass>::NAME)?
                .is(py.get_type::<BaseSelectorImpl>()));
            assert!(
                first.getattr("__version__")?.extract::<String>()? == env!("CARGO_PKG_VERSION")
            );
            let foreign = PyModule::new(py, "rselectors._rselectors")?;
            modules.set_item("rselectors._rselectors", &foreign)?;
            let err = install_extension_module(py).unwrap_err();
            modules.set_item("rselectors._rselectors", &first)?;
            assert!(err.is_instance_of::<PyRuntimeError>(py));
            Ok(())
        });
    }
}
