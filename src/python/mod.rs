//! Python bindings: being written.
