//! `downstream_ext`: a downstream PyO3 extension built on rselectors.
//!
//! It ships rselectors' selector classes in its own module (through
//! [`rselectors::python::add_to_module`]) and adds Rust functions that work on those
//! selectors: a Rust thread that "ticks" through a Rust-owned fd registered on the selector
//! with a Rust callback ([`rselectors::python::register_callback`]), and a Rust thread that
//! wakes a blocked `select()` through the native selector
//! ([`rselectors::python::native_selector`]).
//!
//! ```python
//! import downstream_ext
//!
//! sel = downstream_ext.EpollSelector()
//! ticks = []
//! downstream_ext.start_ticker(sel, 0.01, 3, ticks.append)
//! while sel.get_map():
//!     for key, mask in sel.select():
//!         key.data(key.fileobj, mask)
//! assert ticks == [1, 2, 3]
//! ```
//!
//! Build it with `maturin build` (or `maturin develop` in a virtualenv) in this directory.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rselectors::python::{native_selector, register_callback, Ready};
use rselectors::Interest;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// start_ticker(selector, interval, count, on_tick) -> SelectorKey
///
/// Start a Rust thread that ticks `count` times, every `interval` seconds, through a
/// Rust-owned fd registered on `selector` (one of this module's selector classes). The
/// selector's loop (`key.data(key.fileobj, mask)`) runs a Rust callback that calls
/// `on_tick(n)` for tick n = 1, 2, ... and unregisters the fd after the last one. Returns
/// the registration's SelectorKey.
#[pyfunction]
fn start_ticker<'py>(
    selector: &Bound<'py, PyAny>,
    interval: f64,
    count: u64,
    on_tick: Py<PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let interval = Duration::try_from_secs_f64(interval)
        .map_err(|e| PyValueError::new_err(format!("invalid interval: {e}")))?;
    // Only selectors made from this module's classes have a native selector here: refuse
    // others up front (TypeError), and a closed one (its closed-selector error).
    native_selector(selector)?;

    let (ticks, mut ticker) = UnixStream::pair()?;
    ticks.set_nonblocking(true)?;
    let fd = ticks.as_raw_fd();
    let seen = AtomicU64::new(0);
    // `ticks` moves into the callback: the fd closes when the registration goes away.
    let key = register_callback(selector, fd, Interest::READABLE, move |ready| {
        on_ticks(ready, &ticks, &seen, &on_tick)
    })?;

    thread::spawn(move || {
        for _ in 0..count {
            thread::sleep(interval);
            if ticker.write_all(&[1]).is_err() {
                return; // the reader is gone: unregistered early or the selector closed
            }
        }
        // Dropping `ticker` closes it: the callback sees EOF after the last tick.
    });
    Ok(key)
}

/// The Rust callback: one `on_tick(n)` per byte received; unregisters at EOF.
fn on_ticks(
    ready: &Ready<'_>,
    mut ticks: &UnixStream,
    seen: &AtomicU64,
    on_tick: &Py<PyAny>,
) -> PyResult<()> {
    let mut buf = [0; 64];
    loop {
        match ticks.read(&mut buf) {
            Ok(0) => {
                ready.unregister()?;
                return Ok(());
            }
            Ok(n) => {
                for _ in 0..n {
                    let tick = seen.fetch_add(1, Ordering::Relaxed) + 1;
                    on_tick.call1(ready.py(), (tick,))?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// wake_after(selector, delay)
///
/// Start a Rust thread that wakes `selector` after `delay` seconds, through its native
/// selector: a `select()` blocked then returns (with no events).
#[pyfunction]
fn wake_after(selector: &Bound<'_, PyAny>, delay: f64) -> PyResult<()> {
    let delay = Duration::try_from_secs_f64(delay)
        .map_err(|e| PyValueError::new_err(format!("invalid delay: {e}")))?;
    let waker = native_selector(selector)?
        .waker()
        .map_err(PyErr::from)?;
    thread::spawn(move || {
        thread::sleep(delay);
        // Fails only if the notifier's fd is gone; nothing to report to from here.
        let _ = waker.wake();
    });
    Ok(())
}

/// native_info(selector) -> (backend, kernel_fd)
///
/// The native selector's backend name ("epoll", "poll", ...) and kernel fd (None for poll
/// and select).
#[pyfunction]
fn native_info(selector: &Bound<'_, PyAny>) -> PyResult<(&'static str, Option<i32>)> {
    let native = native_selector(selector)?;
    let fd = native.try_as_fd().map(|fd| fd.as_raw_fd());
    Ok((native.backend().name(), fd))
}

/// The extension module: rselectors' classes and constants, and the functions above.
#[pymodule]
fn downstream_ext(m: &Bound<'_, PyModule>) -> PyResult<()> {
    rselectors::python::add_to_module(m)?;
    m.add_function(wrap_pyfunction!(start_ticker, m)?)?;
    m.add_function(wrap_pyfunction!(wake_after, m)?)?;
    m.add_function(wrap_pyfunction!(native_info, m)?)?;
    Ok(())
}
