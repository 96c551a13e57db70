//! How late sub-millisecond waits end: rselectors' backends and the `polling` crate side by
//! side, interleaved round by round, nothing ready. Prints one JSON object per
//! (implementation, timeout) with the median and 99th percentile overshoot in microseconds.
//!
//! ```sh
//! cargo bench --bench timer_overshoot              # or: python benches/timer_overshoot.py
//! ```
//!
//! Arguments: `--samples N` (default 1000 per implementation and timeout).

use rselectors::{Backend, Events, Selector};
use std::time::{Duration, Instant};

/// One implementation under test: a name and a wait of a given timeout.
struct Side {
    name: String,
    wait: Box<dyn FnMut(Duration)>,
}

fn rselectors_side(backend: Backend) -> Side {
    let selector = Selector::with_backend(backend).expect("backend");
    let mut events = Events::with_capacity(8);
    Side {
        name: format!("rselectors {backend}"),
        wait: Box::new(move |t| selector.select(&mut events, Some(t)).expect("select")),
    }
}

fn polling_side() -> Side {
    let poller = polling::Poller::new().expect("poller");
    let mut events = polling::Events::new();
    Side {
        name: String::from("polling"),
        wait: Box::new(move |t| {
            events.clear();
            poller.wait(&mut events, Some(t)).expect("wait");
        }),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let samples = args
        .iter()
        .position(|a| a == "--samples")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1000usize);
    let mut sides: Vec<Side> = Backend::ALL
        .into_iter()
        .filter(|b| b.is_available())
        .map(rselectors_side)
        .collect();
    sides.push(polling_side());
    for timeout in [100, 200, 500].map(Duration::from_micros) {
        let mut late: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); sides.len()];
        for side in sides.iter_mut() {
            (side.wait)(timeout); // warm-up
        }
        for _ in 0..samples {
            for (side, late) in sides.iter_mut().zip(late.iter_mut()) {
                let start = Instant::now();
                (side.wait)(timeout);
                late.push((start.elapsed().as_secs_f64() - timeout.as_secs_f64()) * 1e6);
            }
        }
        for (side, mut late) in sides.iter().zip(late) {
            late.sort_by(f64::total_cmp);
            let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
            println!(
                "{{\"impl\": \"{}\", \"timeout_us\": {}, \"samples\": {}, \"median_us\": {:.1}, \"p99_us\": {:.1}, \"min_us\": {:.1}}}",
                side.name,
                timeout.as_micros(),
                late.len(),
                at(0.5),
                at(0.99),
                at(0.0)
            );
        }
    }
}
