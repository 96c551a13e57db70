//! Waking a loop from other threads, no Python: worker threads push results onto a queue and
//! wake the loop with a [`Waker`]; the loop, which also watches a socket, drains the queue
//! whenever a `select` was ended by a wake-up ([`Events::woken`]). Wake-ups that arrive
//! before the loop gets to them are coalesced into one.
//!
//! ```sh
//! cargo run --example waker
//! ```

use rselectors::{Events, Interest, Selector, Token, Waker};
use std::io;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

fn main() -> io::Result<()> {
    let selector = Selector::new()?;
    // Something to watch besides the wake-ups: a listening socket nobody connects to.
    let quiet = TcpListener::bind("127.0.0.1:0")?;
    selector.register(&quiet, Token(1), Interest::READABLE)?;

    let (results, inbox) = mpsc::channel();
    let workers = (0..4)
        .map(|id| Ok(spawn_worker(id, results.clone(), selector.waker()?)))
        .collect::<io::Result<Vec<_>>>()?;
    drop(results);

    let mut events = Events::with_capacity(16);
    let (mut received, mut wakeups) = (0, 0);
    while received < 4 * 25 {
        selector.select(&mut events, Some(Duration::from_secs(10)))?;
        if events.woken() {
            wakeups += 1;
            received += inbox.try_iter().count();
        } else if events.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no wake-up for 10 s",
            ));
        }
    }
    for worker in workers {
        worker.join().expect("worker thread");
    }
    println!("received {received} results in {wakeups} wake-ups");
    Ok(())
}

/// A thread that sends 25 results, waking the loop after each.
fn spawn_worker(
    id: usize,
    results: mpsc::Sender<usize>,
    waker: Waker,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for n in 0..25 {
            results.send(id * 100 + n).expect("the loop is alive");
            waker.wake().expect("wake");
            std::thread::sleep(Duration::from_micros(200));
        }
    })
}
