//! Locking shared by every layer.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering it if a panic poisoned it. Every mutex in this crate guards
/// plain data that is consistent between statements (no invariant is ever broken across a
/// call that could panic), so a poisoned lock is still safe to use, and giving up on it
/// would turn one panic into a selector that fails forever.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the data out of `mutex`, recovering it if poisoned (see [`lock`]).
pub(crate) fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex.into_inner().unwrap_or_else(|e| e.into_inner())
}
