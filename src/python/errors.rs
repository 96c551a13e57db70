//! Python exceptions with the stdlib's exact types and messages.

use crate::Backend;
use pyo3::exceptions::{PyKeyError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::io;

/// `KeyError("{fileobj!r} is not registered")`.
pub(crate) fn not_registered(fileobj: &Bound<'_, PyAny>) -> PyErr {
    match fileobj.repr() {
        Ok(r) => PyKeyError::new_err(format!("{r} is not registered")),
        Err(e) => e,
    }
}

/// `KeyError("{fileobj!r} (FD {fd}) is already registered")`.
pub(crate) fn already_registered(fileobj: &Bound<'_, PyAny>, fd: &Bound<'_, PyAny>) -> PyErr {
    let text = || -> PyResult<String> {
        Ok(format!(
            "{} (FD {}) is already registered",
            fileobj.repr()?,
            fd.str()?
        ))
    };
    match text() {
        Ok(t) => PyKeyError::new_err(t),
        Err(e) => e,
    }
}

/// `ValueError("Invalid events: {events!r}")`.
pub(crate) fn invalid_events(events: &Bound<'_, PyAny>) -> PyErr {
    match events.repr() {
        Ok(r) => PyValueError::new_err(format!("Invalid events: {r}")),
        Err(e) => e,
    }
}

/// `ValueError("Invalid file object: {fileobj!r}")`.
pub(crate) fn invalid_fileobj(fileobj: &Bound<'_, PyAny>) -> PyErr {
    match fileobj.repr() {
        Ok(r) => PyValueError::new_err(format!("Invalid file object: {r}")),
        Err(e) => e,
    }
}

/// `RuntimeError("Selector is closed")`.
pub(crate) fn selector_closed() -> PyErr {
    PyRuntimeError::new_err("Selector is closed")
}

/// The error a closed selector raises where the stdlib would touch its kernel object:
/// `ValueError("I/O operation on closed epoll object")` (kqueue, devpoll alike); poll and
/// select selectors, which the stdlib keeps usable after close, raise `RuntimeError`.
pub(crate) fn kernel_object_closed(backend: Backend) -> PyErr {
    if backend.has_kernel_object() {
        PyValueError::new_err(format!("I/O operation on closed {} object", backend.name()))
    } else {
        selector_closed()
    }
}

/// An `io::Error` from the core as the stdlib would raise it: `OSError(errno, strerror)`
/// (which Python turns into the errno's subclass, e.g. `PermissionError` for `EPERM`); the
/// core's own "not registered" / "already registered" as the kernel's `ENOENT` / `EEXIST`
/// (what epoll answers, so the stdlib's error); the select backend's out-of-range error as
/// `ValueError`.
pub(crate) fn os_error(err: io::Error) -> PyErr {
    let code = err.raw_os_error().or(match err.kind() {
        io::ErrorKind::NotFound => Some(libc::ENOENT),
        io::ErrorKind::AlreadyExists => Some(libc::EEXIST),
        _ => None,
    });
    if let Some(code) = code {
        let text = io::Error::from_raw_os_error(code).to_string();
        let strerror = match text.rfind(" (os error ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        return PyOSError::new_err((code, strerror));
    }
    match err.kind() {
        io::ErrorKind::InvalidInput => PyValueError::new_err(err.to_string()),
        _ => PyOSError::new_err(err.to_string()),
    }
}
