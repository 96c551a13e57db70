//! A selector's core as the processes of a `fork()` see it: the Python layer's fork safety
//! (`python::state`), kept here in plain Rust so that its model runs under loom without an
//! interpreter (`src/loom_models/fork.rs`).
//!
//! A process counts its forks: the Python layer's at-fork hook bumps a generation in the
//! child, before any other code runs there. A core is handed out only in the generation that
//! made it; a forked child's first kernel operation makes a new core holding the same
//! registrations, and no operation of the child ever reaches its parent's (which shares the
//! kernel set with the parent, and whose locks another thread may have held at the fork).

use crate::{Interest, RawSource, Selector, Token};
use std::io;
use std::sync::Arc;

/// A core and the fork generation it belongs to.
#[derive(Clone)]
pub(crate) struct PerProcess {
    /// `None` once closed.
    core: Option<Arc<Selector>>,
    generation: u64,
}

impl PerProcess {
    /// `core`, made in generation `generation`.
    pub(crate) fn new(core: Selector, generation: u64) -> PerProcess {
        PerProcess {
            core: Some(Arc::new(core)),
            generation,
        }
    }

    /// The core, if it is open and this process's (`generation`: the current one).
    pub(crate) fn current(&self, generation: u64) -> Option<&Arc<Selector>> {
        self.core.as_ref().filter(|_| self.generation == generation)
    }

    /// The core for kernel work in generation `generation` (`None`: closed): in a forked
    /// child, first a new one holding `registrations` (those the new core refuses, an fd
    /// closed since or one whose number its own fds now carry, are left out, as `reopen`
    /// leaves such ones out), or, if it cannot be made (no fd left), that error with nothing
    /// changed and the parent's core untouched: the next call tries again.
    #[inline]
    pub(crate) fn for_process(
        &mut self,
        generation: u64,
        registrations: impl Iterator<Item = (RawSource, Token, Interest)>,
    ) -> io::Result<Option<&Arc<Selector>>> {
        if self.generation != generation {
            self.remake(generation, registrations)?;
        }
        Ok(self.core.as_ref())
    }

    #[cold]
    fn remake(
        &mut self,
        generation: u64,
        registrations: impl Iterator<Item = (RawSource, Token, Interest)>,
    ) -> io::Result<()> {
        if let Some(parents) = &self.core {
            let core = Selector::with_backend(parents.backend())?;
            for (fd, token, interest) in registrations {
                let _ = core.register(fd, token, interest);
            }
            self.core = Some(Arc::new(core));
        }
        self.generation = generation;
        Ok(())
    }

    /// Takes the core out (closing: later calls see `None`).
    #[cfg(feature = "python")]
    pub(crate) fn take(&mut self) -> Option<Arc<Selector>> {
        self.core.take()
    }

    /// Whether the core is open (in any process).
    #[cfg(feature = "python")]
    pub(crate) fn is_open(&self) -> bool {
        self.core.is_some()
    }
}
