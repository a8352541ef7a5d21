//! # tdxcall
//!
//! The calling-convention layer for Intel TDX: the SEAMCALL (host to TDX module), TDCALL
//! (guest to TDX module) and TDG.VP.VMCALL (guest to VMM) thunks over one full register
//! struct, with #UD, #GP and VMfailInvalid turned into error statuses instead of crashes.
//!
//! Layers, bottom to top:
//!
//! - `asm/tdxcall.S`: one assembler macro expanded into the thunks, each with its
//!   exception-table entry.
//! - [`regs`]: the 13-register struct the thunks take and return, its offsets generated from
//!   one list and checked at compile time.
//! - [`call`]: the thunks and the [`Backend`](call::Backend) seam every wrapper goes through.
//! - [`fixup`]: the exception table and the ring-0 fixup function; `signal` (feature
//!   `std`) is the user-space SIGILL/SIGSEGV handler built on it.
//! - [`status`]: the status newtype, which never drops a bit, and the table of every
//!   status code; [`retry`]: the bounded retry loops wrappers put around a call.
//!
//! `#![no_std]` without `alloc` when default features are off. Only the assembly and the
//! instruction paths are `x86_64`-only; types and decoding compile everywhere.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "std")]
extern crate std;

pub mod abi;
pub mod bench;
pub mod call;
#[cfg(all(feature = "emulator", target_os = "linux", target_arch = "x86_64"))]
pub mod emu;
pub mod error;
pub mod fixup;
pub mod guest;
pub mod host;
pub mod leaf;
#[cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]
pub mod module;
pub mod regs;
pub mod retry;
#[cfg(all(feature = "std", target_os = "linux", target_arch = "x86_64"))]
pub mod signal;
pub mod status;
pub mod ucall;
mod wrapper;
pub mod xstate;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use error::{Error, Result};
pub use regs::Regs;
pub use status::Status;
