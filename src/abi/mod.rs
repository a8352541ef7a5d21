//! Typed ABI operands and structures.

pub mod addr;
pub mod field_id;
pub mod gpr_select;
pub mod l2;
pub mod page;
pub mod report;

pub use addr::{GuestPhysAddr, HostPhysAddr, NULL_PA, PAGE_SIZE};
pub use field_id::*;
pub use page::{PageInfo, PageLevel};
pub mod flags;
pub mod handle;
pub mod mig;
pub mod sysinfo;
pub mod td_params;

pub use flags::{Attributes, ConfigFlags, TdCtls, TdxFeatures0, Xfam};
pub use handle::{Hkid, TdcxPage, TdrPage, TdvprPage};
