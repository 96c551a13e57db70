//! Python bindings: the `rselectors._rselectors` extension module.
//!
//! The classes keep the stdlib `selectors` contract (exact exceptions and messages, keys
//! that are real `selectors.SelectorKey` instances, a live `get_map()` view) on top of the
//! native [`Selector`](crate::Selector), release the GIL while blocking, run signal handlers
//! on EINTR and retry with the remaining time, and report every object they hold to Python's
//! garbage collector.
//!
//! # Rust and Python sharing one selector
//!
//! A service written partly in Rust and partly in Python can run one readiness loop: the
//! Python side keeps its `selectors`-style loop (`for key, mask in sel.select(): ...`), and
//! Rust code
//!
//! - registers Rust-owned fds on the Python selector with Rust callbacks
//!   ([`register_callback`]): the registration is an ordinary `SelectorKey` whose `data` is a
//!   native [`Callback`] the Python loop calls as `key.data(key.fileobj, mask)`;
//! - reaches the native [`Selector`](crate::Selector) behind a Python selector object
//!   ([`native_selector`]) to wake it from any thread
//!   ([`Selector::waker`](crate::Selector::waker)), read its backend, or nest its kernel fd in
//!   another event loop ([`Selector::try_as_fd`](crate::Selector::try_as_fd));
//! - in a program that embeds CPython, makes `import rselectors` use the classes compiled into
//!   the program ([`install_extension_module`]).
//!
//! # One copy of the classes
//!
//! A PyO3 class belongs to the binary it is compiled into. [`native_selector`] recognises only
//! selectors made from *this* binary's classes: in a downstream extension, create selectors
//! from the classes that [`add_to_module`] put in your module; in an
//! embedding program, call [`install_extension_module`] before anything imports `rselectors`.
//! A selector from a separately installed `rselectors` wheel is a different class and gets a
//! `TypeError` that says so. [`register_callback`] has no such limit: it goes through the
//! selector's Python `register`, so it works with any selector, the stdlib's included.

mod convert;
mod errors;
#[allow(unsafe_code)]
mod ffi;
mod hybrid;
mod info;
mod mapping;
mod selector;
mod state;
mod statics;

use pyo3::prelude::*;

pub use hybrid::{install_extension_module, native_selector, register_callback, Callback, Ready};
pub use mapping::{SelectorMapping, SelectorMappingIterator};
#[cfg(devpoll_available)]
pub use selector::DevpollSelector;
#[cfg(epoll_available)]
pub use selector::EpollSelector;
#[cfg(kqueue_available)]
pub use selector::KqueueSelector;
#[cfg(unix)]
pub use selector::PollSelector;
pub use selector::{BaseSelectorImpl, SelectSelector};

/// Adds rselectors' classes and constants to a Python module — for a downstream PyO3
/// extension that wants to ship them in its own module.
///
/// Adds `EVENT_READ`, `EVENT_WRITE`, `EVENT_PRIORITY`, `EVENT_HANGUP`, the selector classes available on this platform
/// (`EpollSelector`, `PollSelector`, `SelectSelector`, and `KqueueSelector` or
/// `DevpollSelector` where they exist; `SelectSelector` alone on Windows), their native base
/// and the mapping view class, and registers (once per process, on Unix) the fork hook that
/// gives a forked child its own kernel objects.
///
/// # Examples
///
/// ```no_run
/// use pyo3::prelude::*;
///
/// #[pymodule]
/// fn my_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
///     rselectors::python::add_to_module(m)
/// }
/// ```
pub fn add_to_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("EVENT_READ", crate::EVENT_READ)?;
    m.add("EVENT_WRITE", crate::EVENT_WRITE)?;
    m.add("EVENT_PRIORITY", crate::EVENT_PRIORITY)?;
    m.add("EVENT_HANGUP", crate::EVENT_HANGUP)?;
    selector::add_classes(m)?;
    m.add_class::<SelectorMapping>()?;
    m.add_class::<SelectorMappingIterator>()?;
    #[cfg(unix)]
    register_fork_hook(m)?;
    Ok(())
}

/// Registers, once per process, the `os.register_at_fork` hook through which a forked child
/// gives each selector its own kernel object (see `BaseSelectorImpl::lock`). Windows has no
/// fork.
#[cfg(unix)]
fn register_fork_hook(m: &Bound<'_, PyModule>) -> PyResult<()> {
    static REGISTERED: pyo3::sync::PyOnceLock<()> = pyo3::sync::PyOnceLock::new();
    let py = m.py();
    REGISTERED
        .get_or_try_init(py, || {
            let hook = wrap_pyfunction!(state::_after_fork_in_child, m)?;
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("after_in_child", hook)?;
            py.import("os")?
                .getattr("register_at_fork")?
                .call((), Some(&kwargs))?;
            Ok::<(), PyErr>(())
        })
        .map(|_| ())
}

/// The extension module `rselectors._rselectors`. It does not rely on the GIL (the audit is
/// ARCHITECTURE.md's "Free-threaded CPython"), so a free-threaded interpreter keeps running
/// without one when it loads it.
#[pymodule(gil_used = false)]
fn _rselectors(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(info::_features, m)?)?;
    add_to_module(m)
}
