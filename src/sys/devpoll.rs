//! /dev/poll wrappers: being written.
