//! Level-triggered I/O readiness selectors on epoll, kqueue, /dev/poll, poll and select, and
//! (with the `python` feature) a drop-in replacement for Python's `selectors` module.
//!
//! # The contract
//!
//! - **Level-triggered.** An fd that is ready is reported by every [`Selector::select`] until
//!   it is no longer ready; nothing is lost if a caller handles only some events.
//! - **Thread-safe.** [`Selector`] is `Send + Sync` and every method takes `&self`: register,
//!   modify and unregister from any thread while another waits. [`Selector::wake`] (or a
//!   [`Waker`]) makes a blocked `select` return.
//! - **Signals are the caller's.** A signal interrupts a wait with
//!   [`ErrorKind::Interrupted`](std::io::ErrorKind::Interrupted);
//!   [`Selector::select_retry`] retries with the remaining time after a hook of yours
//!   (Python's bindings run signal handlers there).
//! - **Timeouts are lower bounds.** A wait is never shorter than asked unless something is
//!   ready or woken, with microsecond resolution where the kernel allows.
//! - **Raw fds, not ownership.** The selector stores fd numbers; unregister before closing.
//!
//! # Example
//!
//! ```
//! use rselectors::{Events, Interest, Selector, Token};
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//!
//! let (mut a, mut b) = UnixStream::pair()?;
//! let selector = Selector::new()?;
//! selector.register(&a, Token(1), Interest::READABLE)?;
//! selector.register(&b, Token(2), Interest::WRITABLE)?;
//!
//! let mut events = Events::with_capacity(64);
//! selector.select(&mut events, Some(Duration::from_secs(1)))?;
//! for event in &events {
//!     if event.token() == Token(2) && event.is_writable() {
//!         b.write_all(b"hello")?;
//!     }
//! }
//! selector.select(&mut events, Some(Duration::from_secs(1)))?;
//! let readable: Vec<_> = events.iter().filter(|e| e.is_readable()).map(|e| e.token()).collect();
//! assert_eq!(readable, [Token(1)]);
//! let mut buf = [0; 5];
//! a.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Backends
//!
//! [`Selector::new`] picks the best [`Backend`] that works at run time (kqueue, epoll,
//! /dev/poll, poll, select: the order of Python's `DefaultSelector`);
//! [`Selector::with_backend`] picks one explicitly.
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod backend;
mod event;
mod fdmap;
mod interest;
mod selector;
mod source;
#[allow(unsafe_code)]
mod sys;
mod timeout;
mod token;
mod waker;

#[cfg(feature = "python")]
pub mod python;

pub use event::{Event, Events, EVENT_READ, EVENT_WRITE};
pub use fdmap::{FdMap, Iter as FdMapIter};
pub use interest::Interest;
pub use selector::{Backend, Selector};
pub use source::Source;
pub use token::Token;
pub use waker::Waker;
