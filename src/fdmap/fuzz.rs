//! Model-based fuzzing of the `FdMap` API.
//!
//! A deterministic generator (xorshift, fixed seeds: no dependency, reproducible, and the
//! binary runs unchanged under AddressSanitizer and valgrind) drives random operation
//! sequences against `FdMap` and against an obviously correct model (a `Vec` in insertion
//! order), checking after every step every observable: `len`, `get`, `get_mut`,
//! `contains`, `first`, `next_after` (the whole linked list, forwards), `iter` (order,
//! `size_hint`, `ExactSizeIterator::len`), `Debug`; `into_values` and `Drop` are checked for exact
//! value ownership with drop-counting values (no double drop, no leak).
//!
//! The fd distributions aim at the representation's edges: small dense fds, fds right around
//! the dense/sparse threshold (`2 * (len + 1) + 1024`) and the power-of-two growth points
//! (so sparse entries migrate into the dense array while linked), huge fds up to `i32::MAX`,
//! and negative fds (absent everywhere, `insert` panics without corrupting the map).
//!
//! `cargo test --lib fdmap::fuzz` runs a few seconds' worth (6 seeds x 6,000 steps); the long
//! run is `cargo test --release --lib fdmap::fuzz -- --ignored` (200 seeds x 200,000 steps).
//! `FDMAP_FUZZ_SEEDS` and `FDMAP_FUZZ_STEPS` override either's size (scripts/memcheck runs a
//! small one under valgrind). A failure prints the seed and step to replay.
//!
//! Why not `cargo fuzz` or proptest: cargo-fuzz needs a nightly toolchain and libFuzzer, and
//! a dev-dependency is not worth it for a model this small; a fixed-seed generator is
//! reproducible, dependency-free, and the same binary runs under ASan and valgrind.

use super::FdMap;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A value that counts its live instances, so leaks and double drops show.
#[derive(Debug)]
struct Tracked {
    id: u64,
    live: Rc<Cell<i64>>,
}

impl Tracked {
    fn new(id: u64, live: &Rc<Cell<i64>>) -> Tracked {
        live.set(live.get() + 1);
        Tracked {
            id,
            live: live.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
        assert!(self.live.get() >= 0, "double drop of value {}", self.id);
    }
}

struct Harness {
    map: FdMap<Tracked>,
    model: Vec<(i32, u64)>,
    live: Rc<Cell<i64>>,
    rng: Rng,
    next_id: u64,
    seed: u64,
    step: usize,
}

impl Harness {
    fn new(seed: u64) -> Harness {
        Harness {
            map: FdMap::new(),
            model: Vec::new(),
            live: Rc::new(Cell::new(0)),
            rng: Rng::new(seed),
            next_id: 0,
            seed,
            step: 0,
        }
    }

    fn ctx(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    /// An fd from a mixture aimed at the representation's edges.
    fn fd(&mut self) -> i32 {
        let len = self.model.len() as i64;
        let threshold = 2 * (len + 1) + 1024;
        let r = self.rng.below(100);
        let fd: i64 = match r {
            0..=39 => self.rng.below(64) as i64,
            40..=54 => self.rng.below(2048) as i64,
            55..=69 => threshold - 4 + self.rng.below(8) as i64,
            70..=77 => {
                let p = 1i64 << (6 + self.rng.below(12));
                p - 2 + self.rng.below(4) as i64
            }
            78..=85 => self.rng.below(1 << 20) as i64,
            86..=91 => i32::MAX as i64 - self.rng.below(4) as i64,
            92..=96 => {
                // an fd already present, if any
                if self.model.is_empty() {
                    0
                } else {
                    let i = self.rng.below(self.model.len() as u64) as usize;
                    self.model[i].0 as i64
                }
            }
            _ => -1 - self.rng.below(3) as i64 - if r == 99 { i32::MAX as i64 - 3 } else { 0 },
        };
        fd as i32
    }

    fn position(&self, fd: i32) -> Option<usize> {
        self.model.iter().position(|(f, _)| *f == fd)
    }

    fn step(&mut self) {
        self.step += 1;
        let fd = self.fd();
        let op = self.rng.below(100);
        match op {
            0..=39 => self.insert(fd),
            40..=64 => {
                let got = self.map.remove(fd).map(|v| v.id);
                let want = self.position(fd).map(|p| self.model.remove(p).1);
                assert_eq!(got, want, "remove({fd}) {}", self.ctx());
            }
            65..=74 => {
                let want = self.position(fd).map(|p| self.model[p].1);
                let id = self.next_id;
                self.next_id += 1;
                match self.map.get_mut(fd) {
                    Some(v) => {
                        assert_eq!(Some(v.id), want, "get_mut({fd}) {}", self.ctx());
                        let old = std::mem::replace(v, Tracked::new(id, &self.live));
                        drop(old);
                        let p = self.position(fd).unwrap();
                        self.model[p].1 = id;
                    }
                    None => assert_eq!(want, None, "get_mut({fd}) {}", self.ctx()),
                }
            }
            75..=84 => {
                let want = self.position(fd).map(|p| self.model[p].1);
                assert_eq!(
                    self.map.get(fd).map(|v| v.id),
                    want,
                    "get({fd}) {}",
                    self.ctx()
                );
                assert_eq!(self.map.contains(fd), want.is_some(), "{}", self.ctx());
            }
            85..=89 => {
                // next_after of a present fd is its successor in the model; of an absent or
                // negative fd, None
                let want = self
                    .position(fd)
                    .and_then(|p| self.model.get(p + 1).map(|e| e.0));
                assert_eq!(
                    self.map.next_after(fd),
                    want,
                    "next_after({fd}) {}",
                    self.ctx()
                );
            }
            90 => {
                // into_values: every value returned once, in order, map emptied
                if self.rng.below(20) == 0 {
                    let map = std::mem::take(&mut self.map);
                    let drained: Vec<u64> = map.into_values().map(|v| v.id).collect();
                    let want: Vec<u64> = self.model.drain(..).map(|e| e.1).collect();
                    assert_eq!(drained, want, "drain {}", self.ctx());
                    assert_eq!(self.live.get(), 0, "drain leaked {}", self.ctx());
                }
            }
            91 => {
                // a whole new map (Drop of the old one must drop every value exactly once)
                if self.rng.below(50) == 0 {
                    self.map = FdMap::default();
                    self.model.clear();
                    assert_eq!(self.live.get(), 0, "Drop leaked {}", self.ctx());
                }
            }
            _ => {
                // bulk: a run of consecutive fds (dense growth) or of huge ones (sparse)
                let base = if self.rng.below(2) == 0 {
                    self.rng.below(4096) as i32
                } else {
                    (i32::MAX - 1000) - self.rng.below(1 << 20) as i32
                };
                for i in 0..(1 + self.rng.below(64) as i32) {
                    self.insert(base.saturating_add(i));
                }
            }
        }
        self.check_light();
        if self.step % 97 == 0 {
            self.check_full();
        }
    }

    fn insert(&mut self, fd: i32) {
        let id = self.next_id;
        self.next_id += 1;
        if fd < 0 {
            // documented panic; the map must be unchanged and usable afterwards
            let live_before = self.live.get();
            let value = Tracked::new(id, &self.live);
            let map = &mut self.map;
            let result = catch_unwind(AssertUnwindSafe(|| map.insert(fd, value)));
            assert!(result.is_err(), "insert({fd}) did not panic {}", self.ctx());
            assert_eq!(
                self.live.get(),
                live_before,
                "the refused value leaked {}",
                self.ctx()
            );
            self.check_full();
            return;
        }
        let old = self
            .map
            .insert(fd, Tracked::new(id, &self.live))
            .map(|v| v.id);
        match self.position(fd) {
            Some(p) => {
                assert_eq!(
                    old,
                    Some(self.model[p].1),
                    "insert({fd}) old {}",
                    self.ctx()
                );
                self.model[p].1 = id;
            }
            None => {
                assert_eq!(old, None, "insert({fd}) {}", self.ctx());
                self.model.push((fd, id));
            }
        }
    }

    fn check_light(&self) {
        assert_eq!(self.map.len(), self.model.len(), "len {}", self.ctx());
        assert_eq!(self.map.len() == 0, self.model.is_empty(), "{}", self.ctx());
        assert_eq!(
            self.map.first(),
            self.model.first().map(|e| e.0),
            "first {}",
            self.ctx()
        );
        assert_eq!(
            self.live.get(),
            self.model.len() as i64,
            "live values {}",
            self.ctx()
        );
    }

    fn check_full(&self) {
        self.check_light();
        let it = self.map.iter();
        assert_eq!(
            it.len(),
            self.model.len(),
            "ExactSizeIterator {}",
            self.ctx()
        );
        assert_eq!(it.size_hint(), (self.model.len(), Some(self.model.len())));
        let got: Vec<(i32, u64)> = self.map.iter().map(|(f, v)| (f, v.id)).collect();
        assert_eq!(got, self.model, "iter {}", self.ctx());
        // the linked list, walked with first/next_after
        let mut walked = Vec::with_capacity(self.model.len());
        let mut cursor = self.map.first();
        while let Some(fd) = cursor {
            walked.push(fd);
            assert!(
                walked.len() <= self.model.len(),
                "cycle in the list {}",
                self.ctx()
            );
            cursor = self.map.next_after(fd);
        }
        let want: Vec<i32> = self.model.iter().map(|e| e.0).collect();
        assert_eq!(walked, want, "first/next_after walk {}", self.ctx());
        for (fd, id) in &self.model {
            assert_eq!(
                self.map.get(*fd).map(|v| v.id),
                Some(*id),
                "get {}",
                self.ctx()
            );
        }
        for fd in [-1, i32::MIN, -2] {
            assert!(self.map.get(fd).is_none() && !self.map.contains(fd));
            assert!(self.map.next_after(fd).is_none());
        }
        let debug = format!("{:?}", self.map);
        assert_eq!(
            debug.matches("Tracked").count(),
            self.model.len(),
            "{}",
            self.ctx()
        );
    }
}

fn run(seed: u64, steps: usize) {
    let mut h = Harness::new(seed);
    for _ in 0..steps {
        h.step();
    }
    h.check_full();
    let live = h.live.clone();
    drop(h);
    assert_eq!(
        live.get(),
        0,
        "values leaked when the map was dropped (seed {seed})"
    );
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The negative-fd inserts panic on purpose: keep those quiet, report every other panic.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !text.contains("negative fd") {
                default(info);
            }
        }));
    });
}

#[test]
fn fdmap_model_fuzz() {
    quiet_expected_panics();
    let seeds = env_or("FDMAP_FUZZ_SEEDS", 6);
    let steps = env_or("FDMAP_FUZZ_STEPS", 6_000) as usize;
    for seed in 1..=seeds {
        run(seed, steps);
    }
}

#[test]
fn fdmap_dense_sparse_migration_keeps_order() {
    // Sparse fds first, then enough small ones that the dense array grows over them.
    let live = Rc::new(Cell::new(0));
    let mut map = FdMap::new();
    let mut order = Vec::new();
    for (i, fd) in [3000, 5000, 2100, 70_000, 1030, 4097]
        .into_iter()
        .enumerate()
    {
        map.insert(fd, Tracked::new(i as u64, &live));
        order.push(fd);
    }
    for fd in 0..5000 {
        if !order.contains(&fd) {
            map.insert(fd, Tracked::new(100 + fd as u64, &live));
            order.push(fd);
        }
        if fd % 512 == 0 {
            let got: Vec<i32> = map.iter().map(|(f, _)| f).collect();
            assert_eq!(got, order);
        }
    }
    for fd in [5000, 3000, 0, 4999, 70_000] {
        map.remove(fd);
        order.retain(|f| *f != fd);
    }
    let got: Vec<i32> = map.iter().map(|(f, _)| f).collect();
    assert_eq!(got, order);
    assert_eq!(live.get(), order.len() as i64);
    drop(map);
    assert_eq!(live.get(), 0);
}

#[test]
#[ignore = "long fuzz run: cargo test --release --lib fdmap::fuzz -- --ignored"]
fn fdmap_model_fuzz_long() {
    let seeds = env_or("FDMAP_FUZZ_SEEDS", 200);
    let steps = env_or("FDMAP_FUZZ_STEPS", 200_000) as usize;
    quiet_expected_panics();
    for seed in 1000..1000 + seeds {
        run(seed, steps);
    }
    println!("fdmap fuzz: {seeds} seeds x {steps} steps");
}
