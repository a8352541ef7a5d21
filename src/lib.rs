//! # tdxcall
//!
//! The calling-convention layer for Intel TDX: the SEAMCALL (host to TDX module), TDCALL
//! (guest to TDX module) and TDG.VP.VMCALL (guest to VMM) thunks over one full register
//! struct, with #UD, #GP and VMfailInvalid turned into error statuses instead of crashes,
//! typed wrappers for every leaf, and the pieces a VMM and a guest build on them.
//!
//! ## Quick start
//!
//! Host side: bring the platform up and read the module's version. Here the software TDX
//! module (feature `software-module`) answers, so this runs on any x86-64 Linux machine; on
//! TDX hardware the same calls go through [`Host::native`](host::Host::native) and
//! `host::builder::PlatformBuilder` (feature `std`) instead of `SoftwareModule::platform`.
//!
//! ```
//! # #[cfg(all(feature = "software-module", target_os = "linux", target_arch = "x86_64"))]
//! # fn main() -> Result<(), tdxcall::Error> {
//! use tdxcall::module::SoftwareModule;
//!
//! let module = SoftwareModule::default();
//! let (_lp0, mut host) = module.platform()?; // TDH.SYS.INIT .. TDH.SYS.TDMR.INIT
//! let info = host.module_info()?; // TDH.SYS.RD
//! assert_eq!(info.version.major, 1);
//! for field in host.sys_fields()? {
//!     let (id, value) = field?;
//!     let name = tdxcall::abi::field_names::field_name(id);
//!     println!("{} = {value:#x}", name.map_or(format!("{id:?}"), |n| n.to_string()));
//! }
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "software-module", target_os = "linux", target_arch = "x86_64")))]
//! # fn main() {}
//! ```
//!
//! Guest side: ask the VMM for CPUID and report to it through the [`ucall`] mailbox. Outside
//! a TD the TDCALL raises #UD, which comes back as an error, not a crash.
//!
//! ```no_run
//! use tdxcall::abi::GuestPhysAddr;
//! use tdxcall::guest::Guest;
//! use tdxcall::ucall::GuestMailbox;
//!
//! let mut guest = Guest::native();
//! let leaf0 = guest.tdvmcall_cpuid(0, 0)?;
//! let mailbox = GuestMailbox::new(GuestPhysAddr::new_const(1 << 47 | 0xFEB0_0000))?;
//! mailbox.sync(&mut guest, u64::from(leaf0.eax))?;
//! # Ok::<(), tdxcall::Error>(())
//! ```
//!
//! The whole loop (a TD built with `host::builder`, a guest thread, a VMM answering
//! [`host::vmcall`] requests) is `examples/selftest.rs`, 76 lines; `examples/lifecycle.rs`
//! adds measurement, lazy page acceptance and a TDREPORT.
//!
//! ## The toolkit
//!
//! | for | module |
//! |---|---|
//! | every SEAMCALL leaf, typed | [`host`] (`Host`) |
//! | every TDCALL leaf and GHCI sub-function, typed | [`guest`] (`Guest`) |
//! | a VMM's side of TDG.VP.VMCALL: decoded requests, typed answers | [`host::vmcall`] |
//! | building, running and tearing down TDs; platform bring-up (feature `std`) | `host::builder` |
//! | a guest kernel's #VE handling | [`guest::ve`] |
//! | a guest-to-VMM mailbox for test harnesses | [`ucall`] |
//! | metadata field IDs by name, and back | [`abi::field_names`] |
//! | statuses, every code named | [`status`] |
//! | trap-and-emulate models (feature `emulator`) | `emu` |
//! | a software TDX module (feature `software-module`) | `module` |
//!
//! ## Layers, bottom to top
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
//! ## Building
//!
//! The thunks are assembly (`asm/tdxcall.S`), built by `build.rs` with the `cc` crate: a C
//! compiler that assembles for the target (gcc or clang) must be installed at build time.
//! `#![no_std]` without `alloc` when default features are off; for a kernel or firmware:
//!
//! ```text
//! cargo build --no-default-features --target x86_64-unknown-none
//! ```
//!
//! (with `CC_x86_64_unknown_none=gcc` or `clang` if the `cc` crate does not find one). Only the
//! assembly and the instruction paths are `x86_64`-only; types and decoding compile
//! everywhere. Ring-0 code routes #UD and #GP to [`fixup::fixup_exception`].
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "std")]
extern crate std;

pub mod abi;
pub mod bench;
pub mod call;
pub mod cpuid;
#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emu;
pub mod error;
pub mod fixup;
pub mod guest;
pub mod host;
pub mod leaf;
#[cfg(feature = "software-module")]
#[cfg_attr(docsrs, doc(cfg(feature = "software-module")))]
pub mod module;
pub mod regs;
pub mod retry;
#[cfg(all(feature = "std", target_os = "linux", target_arch = "x86_64"))]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod signal;
pub mod status;
pub mod ucall;
pub mod version;
mod wrapper;
pub mod xstate;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use error::{Error, Result};
pub use regs::Regs;
pub use status::Status;
