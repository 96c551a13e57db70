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
//! On Windows the selector waits on sockets with winsock's `select` (the [`Backend::Select`]
//! backend, the only one there): a registration names a `SOCKET` ([`RawSource`]), and
//! everything above holds as on Unix.
//!
//! # Example
//!
//! ```ignore-windows
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
//! /dev/poll, poll, select: the order of Python's `DefaultSelector`; select on Windows);
//! [`Selector::with_backend`] picks one explicitly.
//!
//! # Rust and Python in one loop (feature `python`)
//!
//! A service written partly in Rust and partly in Python can share one selector and one
//! readiness loop. `python::register_callback` registers a Rust-owned fd on a Python selector
//! through the selector's own `register`, with a native callable as the key's `data`, so the
//! usual Python loop runs Rust code like any other callback:
//!
//! ```python
//! for key, mask in sel.select():
//!     callback = key.data
//!     callback(key.fileobj, mask)   # a Rust closure for Rust fds
//! ```
//!
//! The closure receives a `python::Ready`: the ready events, the fd, the selector, and
//! `unregister`/`modify`. Move the fd's owner into the closure and unregister on EOF: the
//! closure, and the fd with it, is dropped with the key. `python::native_selector` returns the
//! [`Selector`] behind a Python selector object, to wake a Python `select()` from a Rust
//! thread ([`Selector::waker`]) or to nest its kernel fd in another loop
//! ([`Selector::try_as_fd`]). Register fds through Python, not on the native selector directly,
//! or Python's `select()` would not report them.
//!
//! - **Embedding CPython** (feature `embed`): call `python::install_extension_module` before
//!   anything imports `rselectors`, so that the package uses the classes compiled into your
//!   program, and put the pure-Python package on `sys.path` (or pip-install it). See
//!   `examples/embed.rs`.
//! - **A downstream PyO3 extension**: ship the classes in your own module with
//!   `python::add_to_module` and create selectors from them; your Rust functions then reach
//!   the native selector of any of them that Python passes in. See `examples/downstream/`.
//!
//! `rselectors::python`'s module documentation says which selectors Rust code can reach (only
//! those made from its own binary's classes).
//!
//! # Features
//!
//! - `python`: the PyO3 bindings, `rselectors::python` (off by default: Rust users get no
//!   Python dependency). Alone it builds the extension module for the interpreter that
//!   builds it (the fastest); `pip install .` and `maturin build` enable it.
//! - `abi3-py39` / `abi3-py310`: build it on the stable ABI instead, one wheel for every
//!   CPython from that version on (the 3.10 floor is faster: `METH_FASTCALL`); enable at most
//!   one.
//! - `generate-import-lib`: `python` plus PyO3's own Python import library, to build the
//!   Windows extension from another OS (with an abi3 feature; `scripts/test-windows`).
//! - `embed`: `python` plus PyO3's `auto-initialize`, for programs that embed CPython; links
//!   libpython (a non-system Python may need `LD_LIBRARY_PATH` at run time).

#![warn(missing_docs)]
#![deny(unsafe_code)]

mod backend;
mod event;
mod fdmap;
// The Python layer's fork safety, in plain Rust (its loom model runs without Python).
#[cfg(any(feature = "python", loom))]
mod fork;
mod interest;
mod own;
mod selector;
mod source;
mod sync;
#[allow(unsafe_code)]
mod sys;
mod timeout;
mod token;
mod waker;

#[cfg(feature = "python")]
pub mod python;

// The model checker's build (`RUSTFLAGS="--cfg loom"`: scripts/loom): the models of the
// core's concurrent protocols, run as this crate's unit tests on loom's primitives
// (`sync`) and a model of the kernel (`sys::model`).
#[cfg(all(loom, not(test)))]
compile_error!("`--cfg loom` builds the loom models: run them with scripts/loom");
#[cfg(all(loom, feature = "python"))]
compile_error!("the loom models run without the `python` feature");
#[cfg(all(loom, test))]
mod loom_models;

pub use event::{Event, Events, EVENT_HANGUP, EVENT_PRIORITY, EVENT_READ, EVENT_WRITE};
pub use interest::Interest;
pub use selector::{Backend, Selector};
pub use source::{RawSource, Source};
/// The system's message for a Windows error code, as CPython words it (the Python layer's
/// `OSError`s).
#[cfg(all(windows, feature = "python"))]
pub(crate) use sys::error_message;
pub use token::Token;
pub use waker::Waker;
