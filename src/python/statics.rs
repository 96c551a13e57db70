//! Python objects the bindings create once per interpreter.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyTuple, PyType};
use std::ffi::{CStr, CString};

/// A Python helper module compiled into the extension (`code`, from `include_str!`), made
/// once per interpreter in `cell` under the name `rselectors.<name>` (file `rselectors/<file>`).
pub(crate) fn embedded_module<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyModule>>,
    code: &str,
    file: &CStr,
    name: &CStr,
) -> PyResult<&'py Bound<'py, PyModule>> {
    let module = cell.get_or_try_init(py, || {
        let code = CString::new(code).expect("no NUL in an embedded module's source");
        Ok::<_, PyErr>(PyModule::from_code(py, &code, file, name)?.unbind())
    })?;
    Ok(module.bind(py))
}

struct Statics {
    /// The stdlib's `selectors.SelectorKey` namedtuple class.
    key_type: Py<PyType>,
    /// Whether keys can be built by `ffi::new_key`: the class is a tuple subclass whose
    /// instances are laid out as plain tuples (no `__dict__`, no slots).
    #[cfg_attr(Py_LIMITED_API, allow(dead_code))]
    direct: bool,
    /// `tuple.__new__`, which builds a `SelectorKey` without running Python code (on the
    /// stable ABI, or if `direct` is false).
    tuple_new: Py<PyAny>,
    /// The ints 0..=63, which hold every possible `events` of a select() result (READ 1,
    /// WRITE 2, PRIORITY 16, HANGUP 32).
    ints: [Py<PyAny>; 64],
}

fn statics(py: Python<'_>) -> PyResult<&Statics> {
    static STATICS: PyOnceLock<Statics> = PyOnceLock::new();
    STATICS.get_or_try_init(py, || {
        let key_type = py
            .import("selectors")?
            .getattr("SelectorKey")?
            .cast_into::<PyType>()?
            .unbind();
        let tuple = py.get_type::<PyTuple>();
        let layout = |t: &Bound<'_, PyType>| -> PyResult<(usize, usize)> {
            Ok((
                t.getattr("__basicsize__")?.extract()?,
                t.getattr("__itemsize__")?.extract()?,
            ))
        };
        let direct =
            key_type.bind(py).is_subclass(&tuple)? && layout(key_type.bind(py))? == layout(&tuple)?;
        let tuple_new = tuple.getattr("__new__")?.unbind();
        let ints = (0..64u8)
            .map(|n| Ok(n.into_pyobject(py)?.into_any().unbind()))
            .collect::<PyResult<Vec<_>>>()?
            .try_into()
            .expect("64 ints");
        Ok(Statics {
            key_type,
            direct,
            tuple_new,
            ints,
        })
    })
}

/// A new `selectors.SelectorKey(fileobj, fd, events, data)`.
pub(crate) fn new_key<'py>(
    py: Python<'py>,
    fileobj: &Bound<'py, PyAny>,
    fd: &Bound<'py, PyAny>,
    events: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let s = statics(py)?;
    #[cfg(not(Py_LIMITED_API))]
    if s.direct {
        return super::ffi::new_key(s.key_type.bind(py), [fileobj, fd, events, data]);
    }
    let fields = PyTuple::new(py, [fileobj, fd, events, data])?;
    s.tuple_new
        .bind(py)
        .call1((s.key_type.bind(py), fields))?
        .cast_into::<PyTuple>()
        .map_err(Into::into)
}

/// Whether the running CPython's `selectors._SelectorMapping` lets an error of
/// `fileobj.fileno()` through `get` and `[]` instead of reading a `KeyError` as "not
/// registered": the mapping that defines its own `get` (CPython 3.13 and later) looks the fd
/// up outside any `try` in both, where the older one inherits `Mapping.get`, which catches
/// `KeyError`. Asked of the stdlib class itself, not of the version number.
pub(crate) fn lookup_errors_propagate(py: Python<'_>) -> PyResult<bool> {
    static PROPAGATE: PyOnceLock<bool> = PyOnceLock::new();
    PROPAGATE
        .get_or_try_init(py, || {
            py.import("selectors")?
                .getattr("_SelectorMapping")?
                .getattr("__dict__")?
                .contains("get")
        })
        .copied()
}

/// The ints 0..=63 as Python objects.
pub(crate) fn event_ints(py: Python<'_>) -> PyResult<&[Py<PyAny>; 64]> {
    Ok(&statics(py)?.ints)
}
