//! Typed ABI operands and structures.
//!
//! # Examples
//!
//! Operands are checked when they are made, so a wrapper never runs with a malformed one:
//!
//! ```
//! use tdxcall::abi::{fields, GuestPhysAddr, HostPhysAddr, PageLevel};
//!
//! const SHARED_MMIO: GuestPhysAddr = GuestPhysAddr::new_const(1 << 47 | 0xFEB0_0000);
//! assert!(HostPhysAddr::page(0x1234).is_err()); // not 4 KiB aligned
//! assert!(GuestPhysAddr::new(1 << 52).is_err()); // above bit 51
//! assert_eq!(PageLevel::Size2M.size(), 2 << 20);
//! let rtmr2 = fields::td::RTMR.element(2 * 6)?; // RTMR[2], six 8-byte elements each
//! assert_eq!(rtmr2.field_code(), fields::td::RTMR.field_code() + 12);
//! # let _ = SHARED_MMIO;
//! # Ok::<(), tdxcall::Error>(())
//! ```

pub mod addr;
pub(crate) mod check;
pub mod field_id;
pub mod field_names;
pub mod fields;
pub mod flags;
pub mod gpr_select;
pub mod handle;
pub mod l2;
pub mod metadata;
pub mod mig;
pub mod page;
pub mod report;
pub mod seamldr;
pub mod sysinfo;
pub mod td_params;

pub use addr::{GuestPhysAddr, HostPhysAddr, NULL_PA, PAGE_SIZE};
pub use field_id::*;
pub use flags::{Attributes, ConfigFlags, TdCtls, TdxFeatures0, Xfam};
pub use handle::{Hkid, TdcxPage, TdrPage, TdvprPage};
pub use metadata::{MetadataList, MetadataRead};
pub use page::{PageInfo, PageLevel};
