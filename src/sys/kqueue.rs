//! kqueue(2) wrappers: being written.
