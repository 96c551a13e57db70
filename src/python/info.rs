//! `_features()`: what this build and the running kernel provide, for
//! `python -m rselectors info`. Not part of the selectors API; nothing calls it on a hot path.

use crate::Backend;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Return a dict describing the build and the kernel features found at run time.
///
/// Keys: `backends` (names of the backends that work here, best first), `default_backend`,
/// `notifier` (`"eventfd"` or `"pipe"`: what `wakeup()` writes), `epoll_pwait2` (whether
/// epoll waits have sub-millisecond resolution, probed with one short wait; `None` without
/// epoll), `ppoll` / `pselect` (whether the poll / select backends wait with nanosecond
/// timeouts; otherwise they round up to whole milliseconds).
#[pyfunction]
pub(crate) fn _features(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let backends: Vec<&str> = py.detach(|| {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_available())
            .map(Backend::name)
            .collect()
    });
    d.set_item("backends", backends)?;
    d.set_item("default_backend", Backend::best().name())?;
    d.set_item(
        "notifier",
        if cfg!(epoll_available) {
            "eventfd"
        } else {
            "pipe"
        },
    )?;
    d.set_item("epoll_pwait2", py.detach(epoll_pwait2))?;
    d.set_item(
        "ppoll",
        cfg!(any(
            target_os = "linux",
            target_os = "android",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd"
        )),
    )?;
    d.set_item("pselect", true)?;
    Ok(d)
}

/// Whether `epoll_pwait2` works: a 1 µs wait on a fresh epoll selector makes the backend try
/// it (and remember a refusal), then the probe result is read back.
#[cfg(epoll_available)]
fn epoll_pwait2() -> Option<bool> {
    use crate::{Events, Selector};
    use std::time::Duration;

    let selector = Selector::with_backend(Backend::Epoll).ok()?;
    let mut events = Events::with_capacity(1);
    // An error (EINTR) leaves the flag as it was; the answer is still the best known.
    let _ = selector.select(&mut events, Some(Duration::from_micros(1)));
    Some(crate::sys::epoll::precise_timeouts())
}

#[cfg(not(epoll_available))]
fn epoll_pwait2() -> Option<bool> {
    None
}
