//! The bindings' one module with `unsafe`: `SelectorKey` instances built directly through the
//! CPython C API, as `tuple.__new__(SelectorKey, (fileobj, fd, events, data))` builds them but
//! without its three temporary objects (the fields tuple, the call's arguments, the slice
//! `tuple_subtype_new` copies from): the key type's own allocator, then the four items.
//!
//! What `tuple_subtype_new` does, and so what this does: allocate with the type's `tp_alloc`
//! (`PyType_GenericAlloc` for the namedtuple class: zero-filled, size 4, GC-tracked, the
//! type's reference taken), reset the hash cache that CPython 3.14 added to tuples (a zeroed
//! cache would read as "the hash is 0"), store the four items. Nothing else in the object
//! differs (the namedtuple class has `__slots__ = ()`), so the key is indistinguishable from
//! one the stdlib makes (`tests/test_selector_keys.py`).
//!
//! Built on the full C API only: the stable ABI (`abi3` builds) hides `tp_alloc` and the hash
//! cache, so those builds go through `tuple.__new__` (`statics::new_key`).
#![cfg(not(Py_LIMITED_API))]

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

/// A new `key_type(fileobj, fd, events, data)`; `key_type` must be a subclass of `tuple` whose
/// instances carry no state beyond the tuple's (true of the stdlib's `SelectorKey`, checked
/// once by `statics`).
pub(crate) fn new_key<'py>(
    key_type: &Bound<'py, PyType>,
    items: [&Bound<'py, PyAny>; 4],
) -> PyResult<Bound<'py, PyTuple>> {
    let py = key_type.py();
    let tp = key_type.as_type_ptr();
    // SAFETY: `tp` is a live type object (borrowed from `key_type`, with the GIL held); its
    // `tp_alloc` slot, when set, is the allocator its instances are made with, and
    // `PyType_GenericAlloc` is the default CPython itself uses when it is not.
    let obj = unsafe {
        let alloc = (*tp).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
        alloc(tp, 4)
    };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `obj` is a fresh, zero-filled tuple of size 4 (the allocator's contract for a
    // tuple subtype), owned by us and not yet seen by anyone: its items may be stored without
    // checks, each a new strong reference (`into_ptr`) that the tuple now owns. On 3.14+ the
    // tuple's hash cache must start at -1 ("not computed"), as `tuple_subtype_new` sets it.
    unsafe {
        #[cfg(Py_3_14)]
        {
            (*obj.cast::<ffi::PyTupleObject>()).ob_hash = -1;
        }
        for (i, item) in items.into_iter().enumerate() {
            ffi::PyTuple_SET_ITEM(obj, i as ffi::Py_ssize_t, item.clone().into_ptr());
        }
        // The allocator returned a new reference to an instance of `key_type`, a tuple
        // subclass: owning it as a `PyTuple` is sound.
        Ok(Bound::from_owned_ptr(py, obj).cast_into_unchecked())
    }
}
