//! `get_map()`'s live, read-only `Mapping` view of a selector's keys.

use super::errors;
use super::state::Inner;
use super::statics;
use pyo3::exceptions::{PyKeyError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use std::sync::Arc;
use std::sync::Mutex;

/// Mapping of file objects to selector keys (registered as a `collections.abc.Mapping`).
///
/// Iterates the registered fds in registration order; `m[fileobj]`, `m.get(fileobj)` and
/// `fileobj in m` look a file object up exactly as the selector does. Empty once the selector
/// is closed.
#[pyclass(
    frozen,
    mapping,
    module = "rselectors",
    name = "_NativeSelectorMapping"
)]
pub struct SelectorMapping {
    sel: Arc<Inner>,
}

impl SelectorMapping {
    pub(crate) fn new(sel: Arc<Inner>) -> SelectorMapping {
        SelectorMapping { sel }
    }
}

impl SelectorMapping {
    /// The key of `fileobj`, as the running Python's stdlib mapping finds it: a `KeyError`
    /// escaping `fileobj.fileno()` means "not registered" up to CPython 3.12 (`get` gives the
    /// default, `[]` raises "... is not registered"); from 3.13 `get` and `[]` look the fd up
    /// outside their `try`, and it propagates.
    fn lookup<'py>(&self, fileobj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        if statics::lookup_errors_propagate(fileobj.py())? {
            self.sel.lookup_strict(fileobj)
        } else {
            self.sel.lookup(fileobj)
        }
    }
}

/// A view of the mapping: `collections.abc`'s `KeysView`, or an `ItemsView`/`ValuesView`
/// of `views.py` (compiled into the extension), which iterate through [`Yield::Items`] and
/// [`Yield::Values`].
fn view<'py>(slf: &Bound<'py, SelectorMapping>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static VIEWS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let py = slf.py();
    let module = match name {
        "KeysView" => py.import("collections.abc")?,
        _ => statics::embedded_module(
            py,
            &VIEWS,
            include_str!("views.py"),
            c"rselectors/_views.py",
            c"rselectors._views",
        )?
        .clone(),
    };
    module.getattr(name)?.call1((slf,))
}

impl SelectorMapping {
    fn iter(&self, what: Yield) -> SelectorMappingIterator {
        let table = self.sel.lock();
        SelectorMappingIterator {
            sel: self.sel.clone(),
            what,
            state: Mutex::new(Cursor {
                next: table.slots.first(),
                version: table.version,
                len: table.slots.len(),
            }),
        }
    }
}

#[pymethods]
impl SelectorMapping {
    fn __len__(&self) -> usize {
        self.sel.lock().slots.len()
    }

    fn __getitem__<'py>(&self, fileobj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        self.lookup(fileobj)?
            .ok_or_else(|| errors::not_registered(fileobj))
    }

    /// D.get(k[,d]) -> D[k] if k in D, else d.  d defaults to None.
    #[pyo3(signature = (fileobj, default = None))]
    fn get<'py>(
        &self,
        fileobj: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = fileobj.py();
        Ok(match self.lookup(fileobj)? {
            Some(key) => key.into_any(),
            None => default.unwrap_or_else(|| py.None().into_bound(py)),
        })
    }

    fn __contains__(&self, fileobj: &Bound<'_, PyAny>) -> PyResult<bool> {
        // `Mapping.__contains__`: `self[fileobj]` in a `try: ... except KeyError: False`.
        match self.lookup(fileobj) {
            Ok(key) => Ok(key.is_some()),
            Err(e) if e.is_instance_of::<PyKeyError>(fileobj.py()) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn __iter__(&self) -> SelectorMappingIterator {
        self.iter(Yield::Fds)
    }

    /// Iterator of `(fd, key)` pairs, each read in one step (`items()` iterates it).
    fn _iter_items(&self) -> SelectorMappingIterator {
        self.iter(Yield::Items)
    }

    /// Iterator of the keys (`values()` iterates it).
    fn _iter_values(&self) -> SelectorMappingIterator {
        self.iter(Yield::Values)
    }

    /// D.keys() -> a set-like object providing a view on D's keys
    fn keys<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view(slf, "KeysView")
    }

    /// D.values() -> an object providing a view on D's values
    fn values<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view(slf, "ValuesView")
    }

    /// D.items() -> a set-like object providing a view on D's items
    fn items<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view(slf, "ItemsView")
    }

    fn __eq__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mapping = py.import("collections.abc")?.getattr("Mapping")?;
        if !other.is_instance(&mapping)? {
            return Ok(py.NotImplemented());
        }
        let dict = py.get_type::<PyDict>();
        let mine = dict.call1((Self::items(slf)?,))?;
        let theirs = dict.call1((other.call_method0("items")?,))?;
        Ok(mine
            .eq(theirs)?
            .into_pyobject(py)?
            .to_owned()
            .into_any()
            .unbind())
    }
}

struct Cursor {
    next: Option<crate::RawSource>,
    version: u64,
    len: usize,
}

/// What a [`SelectorMappingIterator`] yields per registration.
#[derive(Clone, Copy)]
enum Yield {
    Fds,
    Values,
    Items,
}

/// Iterator over a selector's registered fds (or keys, or `(fd, key)` pairs), failing like a
/// `dict` iterator if the selector's fds change during iteration.
#[pyclass(frozen, module = "rselectors", name = "_SelectorMappingIterator")]
pub struct SelectorMappingIterator {
    sel: Arc<Inner>,
    what: Yield,
    state: Mutex<Cursor>,
}

#[pymethods]
impl SelectorMappingIterator {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut cursor = crate::sync::lock(&self.state);
        let table = self.sel.lock();
        if table.version != cursor.version {
            let message = if table.slots.len() != cursor.len {
                "dictionary changed size during iteration"
            } else {
                "dictionary keys changed during iteration"
            };
            return Err(PyRuntimeError::new_err(message));
        }
        let Some(fd) = cursor.next else {
            return Ok(None);
        };
        cursor.next = table.slots.next_after(fd);
        // Only references are taken under the lock; the pair is built after it.
        let Some(key) = table.slots.get(fd).map(|slot| slot.key.bind(py).clone()) else {
            return Ok(None);
        };
        drop(table);
        let fd_obj = || key.get_borrowed_item(1).map(|o| o.to_owned());
        Ok(Some(match self.what {
            Yield::Fds => fd_obj()?,
            Yield::Values => key.into_any(),
            Yield::Items => PyTuple::new(py, [fd_obj()?, key.clone().into_any()])?.into_any(),
        }))
    }
}
