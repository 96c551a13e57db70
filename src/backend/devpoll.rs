//! /dev/poll backend (illumos, Solaris): being written.
