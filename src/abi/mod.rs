//! Typed ABI operands and structures.

pub mod addr;
pub mod field_id;
pub mod page;

pub use addr::{GuestPhysAddr, HostPhysAddr, NULL_PA, PAGE_SIZE};
pub use field_id::*;
pub use page::{PageInfo, PageLevel};
