//! Declares the cfg names that say which kernel interfaces the target has, and with the
//! `python` feature the interpreter's.

fn main() {
    // The interpreter's version and ABI as cfgs (`Py_3_14`, `Py_LIMITED_API`, ...), as PyO3
    // sets them for itself.
    #[cfg(feature = "python")]
    pyo3_build_config::use_pyo3_cfgs();
    println!("cargo::rustc-check-cfg=cfg(epoll_available)");
    println!("cargo::rustc-check-cfg=cfg(kqueue_available)");
    println!("cargo::rustc-check-cfg=cfg(devpoll_available)");
    // Set by scripts/loom (RUSTFLAGS="--cfg loom") for the model-checked build.
    println!("cargo::rustc-check-cfg=cfg(loom)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // epoll, eventfd and timerfd come together: Linux and Android.
    if matches!(os.as_str(), "linux" | "android") {
        println!("cargo::rustc-cfg=epoll_available");
    }
    if matches!(
        os.as_str(),
        "macos" | "ios" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo::rustc-cfg=kqueue_available");
    }
    if matches!(os.as_str(), "illumos" | "solaris") {
        println!("cargo::rustc-cfg=devpoll_available");
    }
}
