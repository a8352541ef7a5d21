//! Out-of-order and misuse calls against the software TDX module, through the trapped path
//! (the real thunks): each gets the status the TDX module returns, with the operand ID it
//! names. The suite itself is `module_common/misuse.rs`; `tests/module_direct.rs` runs it
//! through the direct backend too and compares every call.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::{misuse, Machine};

#[test]
fn platform_calls_out_of_order() {
    misuse::platform_calls_out_of_order(&mut Machine::new());
}

#[test]
fn td_build_misuse() {
    misuse::td_build_misuse(&mut Machine::new());
}

#[test]
fn running_td_misuse() {
    misuse::running_td_misuse(&mut Machine::new());
}
