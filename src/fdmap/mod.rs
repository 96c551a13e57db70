//! The registration table: a map from file descriptor to a value, in registration order.

use crate::RawSource;
use std::collections::hash_map::{DefaultHasher, HashMap};
use std::hash::BuildHasherDefault;

const NIL: u32 = u32::MAX;

/// Below this many entries' worth of slack, small fds always use the dense array.
const DENSE_SLACK: usize = 1024;

struct Entry<T> {
    value: T,
    prev: u32,
    next: u32,
}

/// A map from fd to `T` with O(1) lookup, insertion and removal, iterated in insertion order.
///
/// File descriptors are small dense integers, so entries live in a `Vec` indexed by fd; an fd
/// far above the number of entries (a raw fd number like 10⁹ passed by a user) goes to a
/// `HashMap` instead, so one huge fd never allocates a huge array. Insertion order is kept by a
/// doubly linked list threaded through the entries (the order Python's `dict` would give).
/// Replacing the value of an existing fd keeps its position; removing and inserting again moves
/// it to the end.
///
/// Negative fds are never stored: `get` returns `None` for them and `insert` panics, so
/// callers validate fds first (the selector does, with `source::in_range`, which on Windows
/// also keeps SOCKETs within the fd range).
pub(crate) struct FdMap<T> {
    dense: Vec<Option<Entry<T>>>,
    /// Keyed with a fixed hasher: a `RandomState` would be seeded (a thread-local read) by
    /// every new map, and a selector makes one or two; fd numbers are the caller's own.
    sparse: HashMap<u32, Entry<T>, BuildHasherDefault<DefaultHasher>>,
    /// No sparse key is below this (a lower bound: removals do not raise it), so growing
    /// the dense array only scans `sparse` when it may cover one of its keys.
    sparse_floor: u32,
    head: u32,
    tail: u32,
    len: usize,
}

impl<T> Default for FdMap<T> {
    fn default() -> Self {
        FdMap::new()
    }
}

impl<T> FdMap<T> {
    /// An empty map.
    pub(crate) fn new() -> FdMap<T> {
        FdMap {
            dense: Vec::new(),
            sparse: HashMap::default(),
            sparse_floor: NIL,
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Number of entries.
    #[cfg(any(unix, feature = "python"))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn key(fd: RawSource) -> Option<u32> {
        u32::try_from(fd).ok()
    }

    // The dense path is a bounds check and a load: inline it into the per-event lookups, and
    // keep the hash lookup of the rare sparse fds out of line.
    #[inline]
    fn entry(&self, key: u32) -> Option<&Entry<T>> {
        match self.dense.get(key as usize) {
            Some(slot) => slot.as_ref(),
            None => self.sparse_entry(key),
        }
    }

    #[inline(never)]
    fn sparse_entry(&self, key: u32) -> Option<&Entry<T>> {
        self.sparse.get(&key)
    }

    fn entry_mut(&mut self, key: u32) -> Option<&mut Entry<T>> {
        match self.dense.get_mut(key as usize) {
            Some(slot) => slot.as_mut(),
            None => self.sparse.get_mut(&key),
        }
    }

    fn link_mut(&mut self, key: u32) -> &mut Entry<T> {
        self.entry_mut(key)
            .expect("FdMap invariant: linked fd has an entry")
    }

    /// The value for `fd`, if present.
    #[inline]
    pub(crate) fn get(&self, fd: RawSource) -> Option<&T> {
        Self::key(fd).and_then(|k| self.entry(k)).map(|e| &e.value)
    }

    /// The value for `fd`, mutably, if present.
    pub(crate) fn get_mut(&mut self, fd: RawSource) -> Option<&mut T> {
        let key = Self::key(fd)?;
        self.entry_mut(key).map(|e| &mut e.value)
    }

    /// Whether `fd` has an entry.
    pub(crate) fn contains(&self, fd: RawSource) -> bool {
        self.get(fd).is_some()
    }

    /// Inserts `value` for `fd`. A new fd goes to the end of the iteration order; an existing
    /// fd keeps its position, and its old value is returned.
    ///
    /// # Panics
    ///
    /// If `fd` is negative.
    pub(crate) fn insert(&mut self, fd: RawSource, value: T) -> Option<T> {
        let key = Self::key(fd).expect("FdMap::insert: negative fd");
        if let Some(entry) = self.entry_mut(key) {
            return Some(std::mem::replace(&mut entry.value, value));
        }
        let entry = Entry {
            value,
            prev: self.tail,
            next: NIL,
        };
        let idx = key as usize;
        if idx >= self.dense.len() && idx < 2 * (self.len + 1) + DENSE_SLACK {
            self.grow_dense(idx);
        }
        match self.dense.get_mut(idx) {
            Some(slot) => *slot = Some(entry),
            None => {
                self.sparse.insert(key, entry);
                self.sparse_floor = self.sparse_floor.min(key);
            }
        }
        if self.tail == NIL {
            self.head = key;
        } else {
            let tail = self.tail;
            self.link_mut(tail).next = key;
        }
        self.tail = key;
        self.len += 1;
        None
    }

    /// Grows the dense array to cover exactly `idx` (the `Vec` amortises its capacity, and
    /// capacity never written is never resident), moving sparse entries it now covers.
    fn grow_dense(&mut self, idx: usize) {
        let new_len = idx + 1;
        self.dense.resize_with(new_len, || None);
        if (self.sparse_floor as usize) < new_len {
            let moved: Vec<u32> = self
                .sparse
                .keys()
                .copied()
                .filter(|&k| (k as usize) < new_len)
                .collect();
            for k in moved {
                let entry = self.sparse.remove(&k);
                self.dense[k as usize] = entry;
            }
            self.sparse_floor = self.sparse.keys().copied().min().unwrap_or(NIL);
        }
    }

    /// Removes `fd`, returning its value.
    pub(crate) fn remove(&mut self, fd: RawSource) -> Option<T> {
        let key = Self::key(fd)?;
        let entry = match self.dense.get_mut(key as usize) {
            Some(slot) => slot.take(),
            None => self.sparse.remove(&key),
        }?;
        if entry.prev == NIL {
            self.head = entry.next;
        } else {
            self.link_mut(entry.prev).next = entry.next;
        }
        if entry.next == NIL {
            self.tail = entry.prev;
        } else {
            self.link_mut(entry.next).prev = entry.prev;
        }
        self.len -= 1;
        Some(entry.value)
    }

    /// The first fd in insertion order.
    // The ordered walk (`first`, `next_after`) and `into_values` serve the Python layer: the
    // live `get_map()` view and `close()`.
    #[cfg(any(all(test, unix), feature = "python"))]
    pub(crate) fn first(&self) -> Option<RawSource> {
        (self.head != NIL).then_some(self.head as RawSource)
    }

    /// The fd after `fd` in insertion order (`None` at the end or if `fd` is absent).
    #[cfg(any(all(test, unix), feature = "python"))]
    pub(crate) fn next_after(&self, fd: RawSource) -> Option<RawSource> {
        let next = self.entry(Self::key(fd)?)?.next;
        (next != NIL).then_some(next as RawSource)
    }

    /// Iterates `(fd, &value)` in insertion order.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        Iter {
            map: self,
            cursor: self.head,
            remaining: self.len,
        }
    }

    /// Every value, in insertion order, the map consumed (no allocation: for releasing a
    /// selector's keys in the order the stdlib's dict releases them).
    #[cfg(any(all(test, unix), feature = "python"))]
    pub(crate) fn into_values(self) -> IntoValues<T> {
        IntoValues { map: self }
    }
}

/// The values of an [`FdMap`] in insertion order, from [`FdMap::into_values`]; those not
/// taken are dropped with it.
#[cfg(any(all(test, unix), feature = "python"))]
pub(crate) struct IntoValues<T> {
    map: FdMap<T>,
}

#[cfg(any(all(test, unix), feature = "python"))]
impl<T> Iterator for IntoValues<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let fd = self.map.first()?;
        self.map.remove(fd)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.map.len, Some(self.map.len))
    }
}

/// Iterator over an [`FdMap`] in insertion order, from [`FdMap::iter`].
pub(crate) struct Iter<'a, T> {
    map: &'a FdMap<T>,
    cursor: u32,
    remaining: usize,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = (RawSource, &'a T);

    fn next(&mut self) -> Option<Self::Item> {
        if self.cursor == NIL {
            return None;
        }
        let key = self.cursor;
        let entry = self.map.entry(key)?;
        self.cursor = entry.next;
        self.remaining -= 1;
        Some((key as RawSource, &entry.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

impl<T: std::fmt::Debug> std::fmt::Debug for FdMap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::FdMap;

    /// Deterministic xorshift generator, so the model test needs no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn order_and_reinsertion() {
        let mut m = FdMap::new();
        for fd in [5, 1, 9, 3] {
            m.insert(fd, fd * 10);
        }
        m.insert(9, 99); // replace keeps position
        assert_eq!(
            m.iter().map(|(fd, v)| (fd, *v)).collect::<Vec<_>>(),
            [(5, 50), (1, 10), (9, 99), (3, 30)]
        );
        m.remove(5);
        m.insert(5, 51); // re-insert goes to the end
        assert_eq!(m.iter().map(|(fd, _)| fd).collect::<Vec<_>>(), [1, 9, 3, 5]);
        assert_eq!(m.first(), Some(1));
        assert_eq!(m.next_after(3), Some(5));
    }

    #[test]
    fn huge_fd_is_sparse_then_migrates() {
        let mut m = FdMap::new();
        m.insert(1_000_000_000, 'h');
        m.insert(2_000, 's');
        assert!(
            m.dense.len() < 4096,
            "a huge fd must not size the dense array"
        );
        for fd in 0..3_000 {
            if fd != 2_000 {
                m.insert(fd, 'd');
            }
        }
        assert_eq!(m.get(2_000), Some(&'s'));
        assert!(m.sparse.len() <= 1, "small fds migrate to the dense array");
        assert_eq!(m.get(1_000_000_000), Some(&'h'));
        assert_eq!(m.len(), 3_001);
        assert_eq!(m.first(), Some(1_000_000_000));
    }

    #[test]
    fn negative_fds_are_absent() {
        let mut m: FdMap<()> = FdMap::new();
        assert_eq!(m.get(-1), None);
        assert_eq!(m.remove(-5), None);
        assert_eq!(m.next_after(-1), None);
    }

    #[test]
    fn model_against_vec() {
        // The model: insertion order as a Vec with tombstones, plus an fd -> slot index, so
        // each step is O(1) and 200,000 steps stay fast in debug builds.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut m = FdMap::new();
        let mut order: Vec<Option<(i32, u64)>> = Vec::new();
        let mut index: std::collections::HashMap<i32, usize> = Default::default();
        let model = |order: &Vec<Option<(i32, u64)>>| -> Vec<(i32, u64)> {
            order.iter().flatten().copied().collect()
        };
        for step in 0..200_000u64 {
            let fd = match rng.next() % 10 {
                0 => (rng.next() % 2_000_000_000) as i32,
                1..=3 => (rng.next() % 5_000) as i32,
                _ => (rng.next() % 200) as i32,
            };
            match rng.next() % 4 {
                0 | 1 => {
                    let old = m.insert(fd, step);
                    match index.get(&fd) {
                        Some(&i) => {
                            let e = order[i].as_mut().expect("indexed slot is live");
                            assert_eq!(old, Some(std::mem::replace(&mut e.1, step)));
                        }
                        None => {
                            assert_eq!(old, None);
                            index.insert(fd, order.len());
                            order.push(Some((fd, step)));
                        }
                    }
                }
                2 => {
                    let got = m.remove(fd);
                    let want = index.remove(&fd).and_then(|i| order[i].take()).map(|e| e.1);
                    assert_eq!(got, want);
                }
                _ => {
                    let want = index
                        .get(&fd)
                        .and_then(|&i| order[i].as_ref())
                        .map(|e| &e.1);
                    assert_eq!(m.get(fd), want);
                }
            }
            if step % 9_973 == 0 {
                let got: Vec<(i32, u64)> = m.iter().map(|(f, v)| (f, *v)).collect();
                assert_eq!(got, model(&order));
                assert_eq!(m.len(), index.len());
            }
        }
        let drained: Vec<u64> = std::mem::take(&mut m).into_values().collect();
        assert_eq!(
            drained,
            model(&order).iter().map(|e| e.1).collect::<Vec<_>>()
        );
        assert!(m.len() == 0 && m.first().is_none());
    }
}

#[cfg(all(test, unix))]
mod fuzz;
