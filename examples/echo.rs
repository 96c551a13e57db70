//! An echo server on `std::net` and one [`Selector`], no Python: the Rust counterpart of the
//! `selectors` documentation's echo server. Level-triggered: a socket that still has data
//! after one read is reported again by the next `select`.
//!
//! ```sh
//! cargo run --example echo -- 127.0.0.1:1234      # then: nc 127.0.0.1 1234
//! ```
//!
//! With `--self-test` it serves on a free port, runs three clients against itself from
//! other threads and exits when they are done (what the test suite runs).

use rselectors::{Events, Interest, Selector, Token};
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The listening socket's token; connections get 1, 2, ...
const LISTENER: Token = Token(0);

fn main() -> io::Result<()> {
    let arg = std::env::args().nth(1);
    let self_test = arg.as_deref() == Some("--self-test");
    let address = match arg {
        Some(a) if !self_test => a,
        _ => String::from("127.0.0.1:0"),
    };
    let listener = TcpListener::bind(&address)?;
    listener.set_nonblocking(true)?;
    println!("echo server on {}", listener.local_addr()?);
    let clients = if self_test {
        spawn_clients(listener.local_addr()?, 3)
    } else {
        Vec::new()
    };
    serve(listener, self_test.then_some(clients.len()))?;
    for client in clients {
        let got = client.join().expect("client thread")?;
        println!("client got back {got:?}");
    }
    Ok(())
}

/// Serves until `until` connections have come and gone (forever if `None`).
fn serve(listener: TcpListener, until: Option<usize>) -> io::Result<()> {
    let selector = Selector::new()?;
    selector.register(&listener, LISTENER, Interest::READABLE)?;
    let mut connections: HashMap<Token, TcpStream> = HashMap::new();
    let (mut next, mut closed) = (1, 0);
    let mut events = Events::with_capacity(128);
    while until != Some(closed) {
        selector.select(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                // Accept everything waiting; the next select reports the rest, if any.
                loop {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            conn.set_nonblocking(true)?;
                            let token = Token(next);
                            next += 1;
                            selector.register(&conn, token, Interest::READABLE)?;
                            connections.insert(token, conn);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            } else if let Some(conn) = connections.get_mut(&event.token()) {
                if !echo(conn)? {
                    selector.unregister(&*conn)?; // before closing, as the contract says
                    connections.remove(&event.token());
                    closed += 1;
                }
            }
        }
    }
    Ok(())
}

/// Echoes what one read returns; `false` once the peer has closed.
fn echo(conn: &mut TcpStream) -> io::Result<bool> {
    let mut buf = [0; 1024];
    match conn.read(&mut buf) {
        Ok(0) => Ok(false),
        Ok(n) => {
            conn.write_all(&buf[..n])?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(true),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(false),
        Err(e) => Err(e),
    }
}

/// Clients that each send a line, read the echo and close.
fn spawn_clients(
    address: std::net::SocketAddr,
    n: usize,
) -> Vec<std::thread::JoinHandle<io::Result<String>>> {
    (0..n)
        .map(|i| {
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(address)?;
                conn.set_read_timeout(Some(Duration::from_secs(10)))?;
                let line = format!("hello {i}\n");
                conn.write_all(line.as_bytes())?;
                let mut got = vec![0; line.len()];
                conn.read_exact(&mut got)?;
                String::from_utf8(got).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))
            })
        })
        .collect()
}
