//! `_features()`: what this build and the running kernel provide, for
//! `python -m rselectors info`. Not part of the selectors API; nothing calls it on a hot path.

use crate::Backend;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Return a dict describing the build and the kernel features found at run time.
///
/// Keys: `backends` (names of the backends that work here, best first), `default_backend`,
/// `notifier` (`"eventfd"` or `"pipe"`: what `wakeup()` writes), `precise` (backend name ->
/// whether its waits have microsecond timeouts; epoll's is probed), `timer` (whether waits
/// shorter than a millisecond end on a slack-free timer).
#[pyfunction]
pub(crate) fn _features(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let backends: Vec<Backend> = py.detach(|| {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    });
    let precise = PyDict::new(py);
    for b in &backends {
        precise.set_item(b.name(), py.detach(|| b.precise_timeouts()))?;
    }
    let names: Vec<&str> = backends.iter().map(|b| b.name()).collect();
    d.set_item("backends", names)?;
    d.set_item("default_backend", Backend::best().name())?;
    d.set_item("notifier", crate::Waker::MECHANISM)?;
    d.set_item("precise", precise)?;
    d.set_item("timer", cfg!(epoll_available))?;
    Ok(d)
}
