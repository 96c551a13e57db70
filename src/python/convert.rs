//! Argument conversions with the stdlib's rules: file objects, event masks, timeouts.

use super::errors;
use super::statics;
use crate::{Backend, Interest, RawSource, EVENT_HANGUP, EVENT_PRIORITY, EVENT_READ, EVENT_WRITE};
use pyo3::exceptions::{PyAttributeError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyModule, PyString};
use std::time::Duration;

/// A file object's descriptor: the number (if it fits a C int, as every fd and every Windows
/// SOCKET does: see `source::in_range`) and the object the stdlib would store as `key.fd` (the
/// fileobj itself for ints, else `int(fileobj.fileno())`).
pub(crate) struct Fd<'py> {
    pub(crate) num: Option<RawSource>,
    pub(crate) obj: Bound<'py, PyAny>,
}

impl Fd<'_> {
    /// The fd number, or the `OverflowError` the stdlib's `select` module raises for an fd
    /// that does not fit a C int (on Windows too: its `select()` reads SOCKETs as C ints).
    pub(crate) fn number(&self) -> PyResult<RawSource> {
        self.num
            .ok_or_else(|| PyOverflowError::new_err("Python int too large to convert to C int"))
    }
}

/// `selectors._fileobj_to_fd`: an int is the fd; otherwise `int(fileobj.fileno())`, with
/// AttributeError/TypeError/ValueError turned into `ValueError("Invalid file object: ...")`;
/// a negative fd is `ValueError("Invalid file descriptor: {fd}")`.
pub(crate) fn fileobj_to_fd<'py>(fileobj: &Bound<'py, PyAny>) -> PyResult<Fd<'py>> {
    if let Some(n) = exact_int_fd(fileobj) {
        return Ok(Fd {
            num: Some(n),
            obj: fileobj.clone(),
        });
    }
    let py = fileobj.py();
    let obj = if fileobj.is_instance_of::<PyInt>() {
        fileobj.clone()
    } else {
        let invalid = |e: PyErr| {
            if e.is_instance_of::<PyAttributeError>(py)
                || e.is_instance_of::<PyTypeError>(py)
                || e.is_instance_of::<PyValueError>(py)
            {
                errors::invalid_fileobj(fileobj)
            } else {
                e
            }
        };
        let raw = fileobj
            .call_method0(intern!(py, "fileno"))
            .map_err(invalid)?;
        if raw.is_exact_instance_of::<PyInt>() {
            raw
        } else {
            py.get_type::<PyInt>().call1((raw,)).map_err(invalid)?
        }
    };
    match obj.extract::<i64>() {
        Ok(n) if n >= 0 => Ok(Fd {
            num: RawSource::try_from(n)
                .ok()
                .filter(|&n| crate::source::in_range(n)),
            obj,
        }),
        Ok(_) => Err(negative_fd(&obj)),
        // Does not fit an i64: its sign decides.
        Err(_) if obj.lt(0)? => Err(negative_fd(&obj)),
        Err(_) => Ok(Fd { num: None, obj }),
    }
}

/// The fd of an exact `int` that the selector can hold (see [`Fd`]): the common case of
/// [`fileobj_to_fd`], checked first and with no error to build.
pub(crate) fn exact_int_fd(fileobj: &Bound<'_, PyAny>) -> Option<RawSource> {
    if !fileobj.is_exact_instance_of::<PyInt>() {
        return None;
    }
    fileobj
        .extract::<RawSource>()
        .ok()
        .filter(|&n| crate::source::in_range(n))
}

fn negative_fd(fd: &Bound<'_, PyAny>) -> PyErr {
    let py = fd.py();
    match fd.call_method1(intern!(py, "__format__"), ("",)) {
        Ok(s) => PyValueError::new_err(format!("Invalid file descriptor: {s}")),
        Err(e) => e,
    }
}

/// The event bits `register` and `modify` accept: the stdlib's two and rselectors' own.
const KNOWN: u8 = EVENT_READ | EVENT_WRITE | EVENT_PRIORITY | EVENT_HANGUP;

/// The stdlib's event-mask check, `(not events) or (events & ~(EVENT_READ | EVENT_WRITE))`,
/// widened to rselectors' own events (`EVENT_PRIORITY`, `EVENT_HANGUP`), returning the mask as
/// bits. A mask the stdlib accepts takes the stdlib's steps alone.
pub(crate) fn event_mask(events: &Bound<'_, PyAny>) -> PyResult<u8> {
    if events.is_exact_instance_of::<PyInt>() {
        // An int beyond i64 is invalid, as 0 is.
        return int_mask(events.extract::<i64>().unwrap_or(0), events);
    }
    // Anything else goes through Python's own truth and `&` operators, as the stdlib does.
    if !events.is_truthy()? {
        return Err(errors::invalid_events(events));
    }
    let bits: &[u8] = if events.bitand(!3i64)?.is_truthy()? {
        if events.bitand(!i64::from(KNOWN))?.is_truthy()? {
            return Err(errors::invalid_events(events));
        }
        &[EVENT_READ, EVENT_WRITE, EVENT_PRIORITY, EVENT_HANGUP]
    } else {
        &[EVENT_READ, EVENT_WRITE]
    };
    let mut mask = 0;
    for &bit in bits {
        if events.bitand(i64::from(bit))?.is_truthy()? {
            mask |= bit;
        }
    }
    Ok(mask)
}

/// [`event_mask`] of an exact int whose value is `n`.
#[inline]
fn int_mask(n: i64, events: &Bound<'_, PyAny>) -> PyResult<u8> {
    if matches!(n, 1..=3) {
        return Ok(n as u8);
    }
    other_int_mask(n, events)
}

/// [`int_mask`] beyond the stdlib's masks: rselectors' own events, or an error.
#[cold]
fn other_int_mask(n: i64, events: &Bound<'_, PyAny>) -> PyResult<u8> {
    if n > 0 && n & !i64::from(KNOWN) == 0 {
        Ok(n as u8)
    } else {
        Err(errors::invalid_events(events))
    }
}

/// The [`Interest`] of a valid `mask` ([`event_mask`]'s), exclusive or not, if `backend` can
/// wait for it; else `ValueError("Invalid events: {events!r} (why)")`.
#[inline]
pub(crate) fn interest(
    backend: Backend,
    mask: u8,
    exclusive: bool,
    events: &Bound<'_, PyAny>,
) -> PyResult<Interest> {
    let interest = Interest::from_bits(mask).unwrap_or(Interest::NONE);
    if !exclusive && !interest.is_extended() {
        return Ok(interest); // READ / WRITE: every backend
    }
    extended_interest(backend, interest, exclusive, events)
}

/// [`interest`] beyond the stdlib's: the backend decides.
#[cold]
fn extended_interest(
    backend: Backend,
    mut interest: Interest,
    exclusive: bool,
    events: &Bound<'_, PyAny>,
) -> PyResult<Interest> {
    if exclusive {
        interest |= Interest::EXCLUSIVE;
    }
    match backend.refusal(interest) {
        None => Ok(interest),
        Some(reason) => Err(errors::unavailable_events(events, reason)),
    }
}

/// The stdlib modify's `if events != key.events:` followed by its mask check: `None` if the
/// events equal the registered ones, else the new mask ([`event_mask`]'s errors). Two exact
/// ints are compared by value, read once each.
pub(crate) fn changed_mask(
    events: &Bound<'_, PyAny>,
    old: &Bound<'_, PyAny>,
) -> PyResult<Option<u8>> {
    if events.is_exact_instance_of::<PyInt>() && old.is_exact_instance_of::<PyInt>() {
        if let (Ok(new), Ok(old)) = (events.extract::<i64>(), old.extract::<i64>()) {
            return if new == old {
                Ok(None)
            } else {
                int_mask(new, events).map(Some)
            };
        }
    }
    if differs(events, old)? {
        event_mask(events).map(Some)
    } else {
        Ok(None)
    }
}

/// Whether `a != b` in Python, with fast paths for two exact ints and for one object of a
/// builtin type whose `!=` is plain inequality (so `x != x` is False without asking).
pub(crate) fn differs(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    if a.is(b)
        && (a.is_none()
            || a.is_exact_instance_of::<PyInt>()
            || a.is_exact_instance_of::<PyString>()
            || a.is_exact_instance_of::<PyBool>())
    {
        return Ok(false);
    }
    if a.is_exact_instance_of::<PyInt>() && b.is_exact_instance_of::<PyInt>() {
        if let (Ok(x), Ok(y)) = (a.extract::<i64>(), b.extract::<i64>()) {
            return Ok(x != y);
        }
    }
    a.ne(b)
}

/// The largest timeout (s) every backend accepts natively: `INT_MAX` milliseconds.
const FAST_MAX_SECS: f64 = i32::MAX as f64 / 1e3;

/// A `select()` timeout: `None` blocks, `<= 0` polls, `> 0` waits at least that long.
///
/// Exact ints and floats in range take a native fast path. Anything else (other numeric types,
/// NaN, infinities, huge values, non-numbers) is checked by `timeouts.py`, which applies the
/// stdlib backend's own arithmetic and lets the stdlib's `select` module raise its exact
/// error for the running Python version.
///
/// `closed`: the selector is closed and has a kernel object (epoll, kqueue, /dev/poll): the
/// slow path then checks against a closed stdlib object, so that the stdlib's arithmetic
/// errors come first and its "closed" error next, as they do there. (The fast path cannot
/// fail; the caller raises "closed" after it.)
pub(crate) fn timeout(
    backend: Backend,
    timeout: Option<&Bound<'_, PyAny>>,
    closed: bool,
) -> PyResult<Option<Duration>> {
    let Some(t) = timeout else { return Ok(None) };
    if t.is_none() {
        return Ok(None);
    }
    let fast = if t.is_exact_instance_of::<PyFloat>() {
        t.extract::<f64>().ok()
    } else if t.is_exact_instance_of::<PyInt>() {
        // Not through f64: PyO3 converts an int to a float object first.
        t.extract::<i64>().ok().map(|n| n as f64)
    } else {
        None
    };
    let secs = match fast {
        Some(s) if s <= 0.0 => return Ok(Some(Duration::ZERO)),
        Some(s) if s <= FAST_MAX_SECS => s,
        _ => {
            // `select` is the stdlib module's name inside timeouts.py.
            let name = match backend {
                Backend::Select => "select_",
                other => other.name(),
            };
            let checked = checker(t.py())?.call_method1(name, (t, closed))?;
            checked.extract::<f64>()?
        }
    };
    Ok(Some(duration_at_least(secs)))
}

/// `secs` as a Duration rounded *up* to the nanosecond (never shorter than asked),
/// saturating for values too large to represent.
fn duration_at_least(secs: f64) -> Duration {
    if secs <= 0.0 {
        return Duration::ZERO;
    }
    let nanos = (secs * 1e9).ceil();
    if nanos >= u64::MAX as f64 {
        Duration::MAX
    } else {
        Duration::from_nanos(nanos as u64)
    }
}

/// The `timeouts.py` helper module, compiled into the extension.
fn checker(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static CHECKER: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    statics::embedded_module(
        py,
        &CHECKER,
        include_str!("timeouts.py"),
        c"rselectors/_timeouts.py",
        c"rselectors._timeouts",
    )
}

#[cfg(test)]
mod tests {
    use super::duration_at_least;
    use std::time::Duration;

    #[test]
    fn durations_round_up() {
        assert_eq!(duration_at_least(0.0), Duration::ZERO);
        assert!(duration_at_least(0.0002) >= Duration::from_micros(200));
        assert_eq!(duration_at_least(1.5), Duration::from_millis(1500));
        assert_eq!(duration_at_least(1e300), Duration::MAX);
    }
}
