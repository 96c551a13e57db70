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

/// `ValueError("Invalid events: {events!r} ({reason})")`: valid events (rselectors' own) that
/// this selector cannot wait for, in the core's words.
pub(crate) fn unavailable_events(events: &Bound<'_, PyAny>, reason: &str) -> PyErr {
    match events.repr() {
        Ok(r) => PyValueError::new_err(format!("Invalid events: {r} ({reason})")),
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

/// The OS error codes that stand for the core's own "not registered" / "already registered":
/// what epoll answers (`ENOENT` / `EEXIST`), so the stdlib's error; on Windows the system
/// errors Python maps to the same errnos and subclasses (`FileNotFoundError`,
/// `FileExistsError`).
#[cfg(unix)]
const REGISTRY_CODES: [i32; 2] = [libc::ENOENT, libc::EEXIST];
#[cfg(windows)]
const REGISTRY_CODES: [i32; 2] = [
    windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND as i32,
    windows_sys::Win32::Foundation::ERROR_ALREADY_EXISTS as i32,
];

/// An `io::Error` from the core as the stdlib would raise it: `OSError(errno, strerror)`
/// (which Python turns into the errno's subclass, e.g. `PermissionError` for `EPERM`); on
/// Windows, where the code is a system or winsock error, `OSError(0, strerror, None, winerror,
/// None)` as CPython's `PyErr_SetFromWindowsErr` builds it, the message worded as it words it
/// (Python derives the errno from the winerror: `[WinError 10038] An operation was attempted
/// on something that is not a socket`, as its `select` raises it, with the same five `args`);
/// the core's own "not registered" / "already registered" as [`REGISTRY_CODES`]; the select
/// backend's out-of-range error as `ValueError`.
pub(crate) fn os_error(err: io::Error) -> PyErr {
    let [not_found, exists] = REGISTRY_CODES;
    let code = err.raw_os_error().or(match err.kind() {
        io::ErrorKind::NotFound => Some(not_found),
        io::ErrorKind::AlreadyExists => Some(exists),
        _ => None,
    });
    if let Some(code) = code {
        #[cfg(unix)]
        return PyOSError::new_err((code, strerror(&io::Error::from_raw_os_error(code))));
        #[cfg(windows)]
        return PyOSError::new_err((
            0,
            crate::error_message(code),
            None::<&str>,
            code,
            None::<&str>,
        ));
    }
    match err.kind() {
        io::ErrorKind::InvalidInput => PyValueError::new_err(err.to_string()),
        _ => PyOSError::new_err(err.to_string()),
    }
}

/// An errno's message as Python words it (`strerror`): Rust's text without its
/// ` (os error N)`.
#[cfg(unix)]
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    text.rfind(" (os error ")
        .map_or(text.as_str(), |i| &text[..i])
        .to_string()
}

#[cfg(all(test, unix))]
mod tests {
    use super::strerror;
    use std::io;

    #[test]
    fn messages_as_python_words_them() {
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(libc::EBADF)),
            "Bad file descriptor"
        );
        assert_eq!(
            strerror(&io::Error::other("no code at all")),
            "no code at all"
        );
    }
}
