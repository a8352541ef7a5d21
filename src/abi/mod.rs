//! Typed ABI operands and structures.

pub mod addr;
pub mod page;

pub use addr::{GuestPhysAddr, HostPhysAddr, NULL_PA, PAGE_SIZE};
pub use page::{PageInfo, PageLevel};
