//! Memory scan for live migration: TDH.MEM.SCAN.RANGE (92), .COMP (93), .CONFIG (94) and
//! .RESET (95).
//!
//! Dispatched by 1.5.32 and 2.0.18 (not 1.5.28, not 2.0.08: the leaf table). The module's
//! scan handlers were not read, only the dispatchers (`intel/tdx-module` 9fd3c8b1 and
//! e69a4391): which registers each leaf passes to its handler is known, what they mean is
//! **UNVERIFIED**. So these wrappers take and return the registers raw ([`ScanRegs`]),
//! set exactly the registers the dispatcher reads, and leave every other input zero.
//! The scan statuses (TDX_MEM_SCAN_SUCCESS, TDX_MEM_RANGE_SCAN_SUCCESS, the
//! TDX_MEM_SCAN_FAILED_* and CONFIG_REQUIRED codes of class 0x0E) are in
//! [`StatusCode`](crate::status::StatusCode).

use super::Host;
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::Status;

/// The registers a memory-scan leaf's dispatcher passes to its handler, raw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScanRegs {
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// R8.
    pub r8: u64,
    /// R9.
    pub r9: u64,
    /// R10.
    pub r10: u64,
    /// R11.
    pub r11: u64,
}

/// What a scan leaf returned: the non-error status (a success or warning code) and every
/// register the module may have written, raw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScanOutput {
    /// The status (bit 63 clear).
    pub status: Status,
    /// The output registers as the module left them.
    pub regs: Regs,
}

impl<B: Backend> Host<B> {
    /// Issues `leaf` with the registers its dispatcher reads (`used`, in `ScanRegs` order
    /// RCX, RDX, R8, R9, R10, R11) taken from `inputs`, every other register zero.
    ///
    /// # Safety
    ///
    /// As the public scan wrappers.
    unsafe fn mem_scan(
        &mut self,
        leaf: Leaf,
        inputs: ScanRegs,
        used: [bool; 6],
    ) -> Result<ScanOutput> {
        let pick = |index: usize, value: u64| if used[index] { value } else { 0 };
        let mut regs = Regs {
            rcx: pick(0, inputs.rcx),
            rdx: pick(1, inputs.rdx),
            r8: pick(2, inputs.r8),
            r9: pick(3, inputs.r9),
            r10: pick(4, inputs.r10),
            r11: pick(5, inputs.r11),
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the (unread) handler's contract.
        let status = Status::check(unsafe { self.call(leaf, 0, &mut regs) })?;
        Ok(ScanOutput { status, regs })
    }

    /// TDH.MEM.SCAN.RANGE (leaf 92): RCX, RDX, R8, R9, R10 and R11 are passed raw (meanings
    /// **UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status) for an error status.
    ///
    /// # Safety
    ///
    /// The handler was not read: any address in `inputs` must be treated as handed to the
    /// module for the call (it may read or write it).
    #[inline]
    #[doc(alias = "TDH.MEM.SCAN.RANGE")]
    pub unsafe fn mem_scan_range(&mut self, inputs: ScanRegs) -> Result<ScanOutput> {
        // SAFETY: forwarded.
        unsafe { self.mem_scan(Leaf::TdhMemScanRange, inputs, [true; 6]) }
    }

    /// TDH.MEM.SCAN.COMP (leaf 93): RCX, RDX, R8 and R11 are passed raw (R9 and R10 are not
    /// read by the dispatcher and go as zero; meanings **UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status) for an error status.
    ///
    /// # Safety
    ///
    /// As [`Host::mem_scan_range`].
    #[inline]
    #[doc(alias = "TDH.MEM.SCAN.COMP")]
    pub unsafe fn mem_scan_comp(&mut self, inputs: ScanRegs) -> Result<ScanOutput> {
        // SAFETY: forwarded.
        unsafe {
            self.mem_scan(
                Leaf::TdhMemScanComp,
                inputs,
                [true, true, true, false, false, true],
            )
        }
    }

    /// TDH.MEM.SCAN.CONFIG (leaf 94): RCX, RDX, R8, R9, R10 and R11 are passed raw
    /// (meanings **UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status) for an error status.
    ///
    /// # Safety
    ///
    /// As [`Host::mem_scan_range`].
    #[inline]
    #[doc(alias = "TDH.MEM.SCAN.CONFIG")]
    pub unsafe fn mem_scan_config(&mut self, inputs: ScanRegs) -> Result<ScanOutput> {
        // SAFETY: forwarded.
        unsafe { self.mem_scan(Leaf::TdhMemScanConfig, inputs, [true; 6]) }
    }

    /// TDH.MEM.SCAN.RESET (leaf 95): only RDX is read by the dispatcher and passed raw
    /// (meaning **UNVERIFIED**); every other input register is zero.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status) for an error status.
    ///
    /// # Safety
    ///
    /// As [`Host::mem_scan_range`].
    #[inline]
    #[doc(alias = "TDH.MEM.SCAN.RESET")]
    pub unsafe fn mem_scan_reset(&mut self, rdx: u64) -> Result<ScanOutput> {
        let inputs = ScanRegs {
            rdx,
            ..ScanRegs::default()
        };
        // SAFETY: forwarded.
        unsafe {
            self.mem_scan(
                Leaf::TdhMemScanReset,
                inputs,
                [false, true, false, false, false, false],
            )
        }
    }
}
