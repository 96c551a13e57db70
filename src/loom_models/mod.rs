//! Models of the core's concurrent protocols, checked with loom (`scripts/loom`).
//!
//! Each model runs the real `Selector` (its atomics, locks, `OnceLock` and `Arc` are loom's in
//! this build: `crate::sync`) on the model of the kernel (`crate::sys::model`) from a few
//! threads, and asserts what the protocol promises; loom runs it once for every interleaving
//! of those threads' operations (up to `LOOM_MAX_PREEMPTIONS` preemptions) and every value
//! each load may read. A wait that nothing will end is a deadlock, which loom reports: that is
//! how a lost wake-up shows. What each model proves, and the deliberate breaks that make each
//! fail, are listed in ARCHITECTURE.md ("Model-checked protocols") and
//! benches/results/2026-12-07-loom-breaks.txt.

mod fork;
mod lazy;
mod registration;
mod reopen;
mod shutdown;
mod wake;

use crate::sys::model;
use crate::{Backend, Events, Selector};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `model` for every interleaving loom explores with up to `preemptions` preemptions
/// (`LOOM_MAX_PREEMPTIONS` overrides it: deeper runs); prints how many there were (and, if
/// one fails, at which).
pub(crate) fn check(
    name: &'static str,
    preemptions: usize,
    model: impl Fn() + Sync + Send + 'static,
) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = 100_000;
    }
    let report = Report {
        name,
        preemptions: builder.preemption_bound,
        iterations: Arc::new(AtomicUsize::new(0)),
        start: Instant::now(),
    };
    let iterations = report.iterations.clone();
    let run = move || {
        iterations.fetch_add(1, Ordering::Relaxed);
        model::take_trace();
        model();
    };
    if std::env::var_os("LOOM_LOG").is_some() {
        // loom's own entry point, which logs each run's operations (LOOM_LOG=trace; with
        // LOOM_LOCATION=1, where in the source each one is); the limits are loom's from the
        // environment only.
        loom::model(run);
    } else {
        builder.check(run);
    }
}

/// Prints a model's outcome when it ends, passed or failed.
struct Report {
    name: &'static str,
    preemptions: Option<usize>,
    iterations: Arc<AtomicUsize>,
    start: Instant,
}

impl Drop for Report {
    fn drop(&mut self) {
        let n = self.iterations.load(Ordering::Relaxed);
        let outcome = if std::thread::panicking() {
            // LOOM_KERNEL_TRACE=1: the failing run's calls to the kernel model.
            for call in model::take_trace() {
                eprintln!("  {call}");
            }
            format!("FAILED at interleaving {n}")
        } else {
            format!("{n} interleavings")
        };
        let bound = self
            .preemptions
            .map_or("unbounded".to_string(), |p| p.to_string());
        eprintln!(
            "loom model {}: {outcome} (preemption bound {bound}), {:.1} s",
            self.name,
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// A selector on `backend`, to share between a model's threads.
fn selector(backend: Backend) -> Arc<Selector> {
    Arc::new(Selector::with_backend(backend).expect("a modelled selector"))
}

/// What one `select` returned.
#[derive(Debug)]
struct Outcome {
    woken: bool,
    tokens: Vec<usize>,
}

/// One `select` with `timeout`.
fn select(s: &Selector, timeout: Option<Duration>) -> Outcome {
    let mut events = Events::with_capacity(8);
    s.select(&mut events, timeout).expect("select");
    outcome(&events)
}

fn outcome(events: &Events) -> Outcome {
    Outcome {
        woken: events.woken(),
        tokens: events.iter().map(|e| e.token().0).collect(),
    }
}

/// The selector's epoll set (the model runs one selector): (number, events, token).
fn epoll_set() -> Vec<(i32, u32, usize)> {
    let eps = model::epolls();
    assert_eq!(eps.len(), 1, "one epoll set: {eps:?}");
    model::epoll_set(eps[0])
        .into_iter()
        .map(|(fd, events, data)| (fd, events, data as usize))
        .collect()
}
