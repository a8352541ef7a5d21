//! Links the image as a freestanding static executable laid out by `linker.ld`.
//!
//! Link arguments live here rather than in `.cargo/config.toml` so that they reach only this
//! package's binary (never a build script) and survive a `RUSTFLAGS` set in the environment.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=linker.ld");
    // No C runtime start files or libraries: the image brings its own entry point and the
    // few C-library functions `core` calls (src/mem.rs).
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
}
