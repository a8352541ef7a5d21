//! Typed ABI operands and structures.

pub mod addr;
pub mod gpr_select;
pub mod l2;
pub mod page;
pub mod report;

pub use addr::{GuestPhysAddr, HostPhysAddr, NULL_PA, PAGE_SIZE};
pub use page::{PageInfo, PageLevel};
