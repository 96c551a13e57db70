//! A Rust program that embeds CPython; Python and Rust share one rselectors selector and one
//! `select()` loop.
//!
//! - Python (`examples/embed_echo.py`) runs the selectors documentation's echo server: its
//!   sockets are registered with callbacks as `data`, and its loop calls
//!   `key.data(key.fileobj, mask)` for every ready key until nothing is registered.
//! - Rust registers a Rust-owned fd on the same selector with
//!   [`register_callback`]: one end of a socket pair on which a Rust worker thread reports
//!   progress. The worker is the echo server's client: it connects a few times, sends a line,
//!   reads the echo and reports it.
//! - When the worker is done it closes its end; the Rust callback unregisters the fd on EOF,
//!   the server has closed its listening socket and every connection, the map is empty and
//!   the loop (and the program) ends.
//!
//! Making `import rselectors` work: the program calls [`install_extension_module`], which
//! puts the extension module `rselectors._rselectors`, built from the classes compiled into
//! this program, in `sys.modules`, and adds this repository's `python/` directory (the
//! pure-Python part of the package) to `sys.path`. Loading the package's extension *file*
//! instead would give Python a second copy of the classes, which this program's Rust code
//! could not see into.
//!
//! Run it (libpython must be findable at run time; pyenv and other non-system Pythons need
//! `LD_LIBRARY_PATH`):
//!
//! ```sh
//! LD_LIBRARY_PATH=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))') \
//!     cargo run --example embed --features embed
//! ```

use pyo3::prelude::*;
use rselectors::python::{install_extension_module, native_selector, register_callback, Ready};
use rselectors::Interest;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How many connections the Rust client makes to the Python server.
const CLIENTS: usize = 3;

fn main() {
    if let Err(err) = Python::attach(run) {
        Python::attach(|py| err.display(py));
        std::process::exit(1);
    }
}

fn run(py: Python<'_>) -> PyResult<()> {
    // `import rselectors` uses this program's classes and the package in ../python.
    install_extension_module(py)?;
    py.import("sys")?.getattr("path")?.call_method1(
        "insert",
        (0, concat!(env!("CARGO_MANIFEST_DIR"), "/python")),
    )?;
    let echo = PyModule::from_code(
        py,
        &CString::new(include_str!("embed_echo.py"))?,
        c"embed_echo.py",
        c"embed_echo",
    )?;

    // Python code creates the selector; Rust reaches the native selector behind it.
    let sel = py
        .import("rselectors")?
        .getattr("DefaultSelector")?
        .call0()?;
    let native = native_selector(&sel)?;
    let kernel_fd = native
        .try_as_fd()
        .map_or_else(|| "none".to_string(), |fd| fd.as_raw_fd().to_string());
    println!(
        "rust: Python created the selector ({}); its native selector uses {} (kernel fd {kernel_fd})",
        sel.get_type().name()?,
        native.backend(),
    );

    let server = echo.getattr("EchoServer")?.call1((&sel, CLIENTS))?;
    let port: u16 = server.getattr("port")?.extract()?;

    // The Rust-owned fd: the read end of the worker's report channel, moved into the callback
    // (it is closed when the registration goes away).
    let (reports, worker_end) = UnixStream::pair()?;
    reports.set_nonblocking(true)?;
    let rust_calls = Arc::new(AtomicUsize::new(0));
    let calls = rust_calls.clone();
    let pending = Mutex::new(Vec::new());
    let key = register_callback(
        &sel,
        reports.as_raw_fd(),
        Interest::READABLE,
        move |ready| {
            calls.fetch_add(1, Ordering::Relaxed);
            on_reports(ready, &reports, &pending)
        },
    )?;
    println!(
        "rust: registered fd {} with a Rust callback: {}",
        key.getattr("fd")?,
        key.repr()?
    );
    println!(
        "rust: the selector's map has {} entries",
        sel.call_method0("get_map")?.len()?
    );

    let worker = thread::spawn(move || client(port, worker_end));

    // One loop, in Python, serves the Python sockets and the Rust fd. `select()` releases the
    // GIL while it waits, so the worker runs meanwhile.
    let (selects, callbacks): (usize, usize) = echo.getattr("run")?.call1((&sel,))?.extract()?;
    println!(
        "rust: loop done: {selects} select() calls, {callbacks} callbacks, {} of them Rust's",
        rust_calls.load(Ordering::Relaxed)
    );
    worker.join().expect("the worker thread panicked")?;
    sel.call_method0("close")?;
    Ok(())
}

/// The Rust callback: prints each complete report line; unregisters on EOF.
fn on_reports(
    ready: &Ready<'_>,
    mut reports: &UnixStream,
    pending: &Mutex<Vec<u8>>,
) -> PyResult<()> {
    let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = [0; 4096];
    let eof = loop {
        match reports.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
            Err(e) => return Err(e.into()),
        }
    };
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        println!(
            "rust: report: {}",
            String::from_utf8_lossy(&line).trim_end()
        );
    }
    if eof {
        println!(
            "rust: report channel closed, unregistering fd {}",
            ready.fd()
        );
        ready.unregister()?;
    }
    Ok(())
}

/// The worker thread: the echo server's client, reporting each round trip.
fn client(port: u16, mut reports: UnixStream) -> io::Result<()> {
    for i in 0..CLIENTS {
        let mut conn = TcpStream::connect(("127.0.0.1", port))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let message = format!("hello #{i} from a Rust thread");
        conn.write_all(message.as_bytes())?;
        let mut echo = vec![0; message.len()];
        conn.read_exact(&mut echo)?;
        writeln!(
            reports,
            "client {i} got its echo: {:?}",
            String::from_utf8_lossy(&echo)
        )?;
        // Dropping `conn` closes it: the server sees EOF and closes its side.
    }
    writeln!(reports, "all {CLIENTS} clients done")?;
    Ok(()) // dropping `reports` closes the channel
}
