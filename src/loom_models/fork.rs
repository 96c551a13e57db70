//! The fork generation (`crate::fork::PerProcess`, the Python layer's fork safety) against a
//! concurrent register: what a forked child may observe.
//!
//! The Python layer's table is modelled by what the protocol needs of it: the registrations
//! and the core behind one lock, and the steps of `state::Inner::insert` (kernel first, then
//! the table) and `remove` (the table, then the kernel through the core only if it is this
//! process's), written again here since the real ones hold Python objects. `fork()` itself is
//! modelled as the child's copy of the parent's memory, taken while no thread holds the
//! table's lock: CPython forks holding the GIL (free-threaded: with every other thread
//! stopped where it holds no lock of ours: ARCHITECTURE.md), and the at-fork hook bumps the
//! child's generation before any other code runs there. Not modelled: the Python objects,
//! the hook's registration, fds the child lost.

use super::check;
use crate::fork::PerProcess;
use crate::sync::{lock, Mutex};
use crate::sys::model::{self, Socket};
use crate::{Backend, Interest, RawSource, Selector, Token};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;
use std::sync::Arc;

/// What a process holds of one selector.
struct Table {
    registrations: Vec<(RawSource, Token)>,
    core: PerProcess,
}

/// A process's image: the table, and its fork generation (the Python layer's
/// `FORK_GENERATION`, a static: one per process).
struct Process {
    table: Mutex<Table>,
    generation: AtomicU64,
}

impl Process {
    /// `Inner::insert`: under the lock, the kernel (in a forked child, first a core of its
    /// own), then the table.
    fn insert(&self, fd: RawSource, token: Token) {
        let mut table = lock(&self.table);
        let generation = self.generation.load(Ordering::Relaxed);
        let Table {
            registrations,
            core,
        } = &mut *table;
        let held = registrations
            .iter()
            .map(|&(fd, token)| (fd, token, Interest::READABLE));
        let core = core
            .for_process(generation, held)
            .expect("a core")
            .expect("open");
        core.register(fd, token, Interest::READABLE)
            .expect("register");
        registrations.push((fd, token));
    }

    /// `Inner::remove`: under the lock, the table, then the kernel if the core is this
    /// process's (a child's next kernel operation makes its own from the table).
    fn remove(&self, fd: RawSource) {
        let mut table = lock(&self.table);
        let Some(i) = table.registrations.iter().position(|r| r.0 == fd) else {
            return;
        };
        table.registrations.remove(i);
        let generation = self.generation.load(Ordering::Relaxed);
        if let Some(core) = table.core.current(generation) {
            let _ = core.unregister(fd);
        }
    }

    /// `fork()`: the child's copy, taken while no thread holds the lock, its generation
    /// bumped by the at-fork hook.
    fn fork(&self) -> Process {
        let table = lock(&self.table);
        Process {
            table: Mutex::new(Table {
                registrations: table.registrations.clone(),
                core: table.core.clone(),
            }),
            generation: AtomicU64::new(self.generation.load(Ordering::Relaxed) + 1),
        }
    }

    /// The tokens of the kernel set of this process's core and the table's, sorted: they
    /// must be the same. `None` if the process has no core of its own yet.
    fn sets(&self) -> Option<(Vec<usize>, Vec<usize>)> {
        let table = lock(&self.table);
        let core = table
            .core
            .current(self.generation.load(Ordering::Relaxed))?;
        let ep = model::epolls()
            .into_iter()
            .find(|&fd| core.owns(fd))
            .expect("the core's epoll set");
        let mut kernel: Vec<usize> = model::epoll_set(ep)
            .into_iter()
            .map(|(_, _, t)| t as usize)
            .collect();
        let mut held: Vec<usize> = table.registrations.iter().map(|r| r.1 .0).collect();
        kernel.sort_unstable();
        held.sort_unstable();
        Some((kernel, held))
    }
}

/// A parent with one registration (X) registers another (Y) while its main thread forks; in
/// the child, one thread registers Z while the other unregisters X. Each process's kernel set
/// holds exactly its table's registrations when the threads are done: the child's came from
/// its own table, and none of its calls reached its parent's set.
fn fork_against_register() {
    let (x, y, z) = (Socket::new(), Socket::new(), Socket::new());
    let (yfd, zfd) = (y.fd(), z.fd());
    let parent = Arc::new(Process {
        table: Mutex::new(Table {
            registrations: Vec::new(),
            core: PerProcess::new(Selector::with_backend(Backend::Epoll).expect("epoll"), 0),
        }),
        generation: AtomicU64::new(0),
    });
    parent.insert(x.fd(), Token(1));
    let registering = {
        let parent = parent.clone();
        thread::spawn(move || parent.insert(yfd, Token(2)))
    };
    let child = Arc::new(parent.fork());
    let child_registering = {
        let child = child.clone();
        thread::spawn(move || child.insert(zfd, Token(3)))
    };
    child.remove(x.fd());
    registering.join().expect("parent's thread");
    child_registering.join().expect("child's thread");
    let (kernel, held) = parent.sets().expect("the parent's own core");
    assert_eq!(kernel, held, "the parent's kernel set and table");
    assert_eq!(held, [1, 2]);
    let (kernel, held) = child.sets().expect("the child made its own core");
    assert_eq!(kernel, held, "the child's kernel set and table");
    assert!(held == [3] || held == [2, 3], "{held:?}");
    drop((x, y, z));
}

#[test]
fn epoll() {
    check(
        "fork: a forked child against a concurrent register",
        3,
        fork_against_register,
    );
}
