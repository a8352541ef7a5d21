//! Typed ABI operands and structures.

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
pub mod sysinfo;
pub mod td_params;

pub use addr::{GuestPhysAddr, HostPhysAddr, NULL_PA, PAGE_SIZE};
pub use field_id::*;
pub use flags::{Attributes, ConfigFlags, TdCtls, TdxFeatures0, Xfam};
pub use handle::{Hkid, TdcxPage, TdrPage, TdvprPage};
pub use metadata::{MetadataList, MetadataRead};
pub use page::{PageInfo, PageLevel};
