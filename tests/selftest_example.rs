//! `examples/selftest.rs` runs to the end: the guest's mailbox calls and CPUID request are
//! answered and its assertions hold (a failing guest makes the join, and so `main`, fail).
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

#[path = "../examples/selftest.rs"]
mod selftest;

#[test]
fn selftest_example_passes() {
    selftest::main().expect("the selftest example runs");
}
