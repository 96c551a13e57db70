//! kqueue backend (macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly): being written.
