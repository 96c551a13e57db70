//! The core's synchronisation primitives, in one place, and locking shared by every layer.
//!
//! The core (`src/` outside `python/`) takes its atomics, fences, mutexes, `OnceLock` and
//! `Arc` from here: std's, or, in the build of the model checker (`--cfg loom`:
//! `scripts/loom`, the models in `src/loom_models/`), loom's, which explore every
//! interleaving of the operations on them (and every value a load may read), while
//! `src/sys/model/` stands in for the kernel. The two sets have the same names and methods,
//! so the code that uses them is the same in both builds.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard, OnceLock,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

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

/// std's `OnceLock` as loom sees it (loom has none): the value is kept in a std `OnceLock`,
/// whose own synchronisation is std's business, and what the core relies on — `get` sees
/// the value once a `set` or `get_or_init` has finished, with everything done before it
/// (std: a release store of the state, an acquire load) — is a loom atomic; concurrent
/// initialisers are serialised by a loom mutex (std: the `Once`'s queue).
#[cfg(loom)]
pub(crate) struct OnceLock<T> {
    value: std::sync::OnceLock<T>,
    complete: AtomicBool,
    init: Mutex<()>,
}

#[cfg(loom)]
impl<T> OnceLock<T> {
    pub(crate) fn new() -> OnceLock<T> {
        OnceLock {
            value: std::sync::OnceLock::new(),
            complete: AtomicBool::new(false),
            init: Mutex::new(()),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        if self.complete.load(Ordering::Acquire) {
            self.value.get()
        } else {
            None
        }
    }

    pub(crate) fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let _init = lock(&self.init);
        let value = self.value.get_or_init(f);
        self.complete.store(true, Ordering::Release);
        value
    }

    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        let _init = lock(&self.init);
        self.value.set(value)?;
        self.complete.store(true, Ordering::Release);
        Ok(())
    }
}
