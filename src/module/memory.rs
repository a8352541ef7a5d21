//! Simulated physical memory and the PAMT (Physical Address Metadata Table).
//!
//! Memory is one convertible memory range (CMR) of the configured size, kept as a sparse map
//! of 4 KiB pages (a page never written reads as zeros). The PAMT keeps, per 4 KiB page of
//! an initialized TDMR, what the module's PAMT_4K entry keeps: the page type, the owner (the
//! TDR's HPA) and the blocking epoch (BEPOCH). Pages outside a TDMR, or in the part of a TDMR
//! that TDH.SYS.TDMR.INIT has not reached yet, have no PAMT entry: the module answers
//! `TDX_OPERAND_ADDR_RANGE_ERROR` for them.

use super::PAGE_SIZE;
use crate::status::{Operand, Status, StatusCode};
use std::boxed::Box;
use std::collections::HashMap;
use std::vec::Vec;

/// The PAMT page type (`page_type_t`), with the module's encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum PageType {
    /// 0: not assigned to the module (a host page).
    Nda = 0,
    /// 1: reserved (a TDMR reserved area, e.g. the PAMT itself).
    Rsvd = 1,
    /// 3: a regular private TD page.
    Reg = 3,
    /// 4: a TD root page.
    Tdr = 4,
    /// 5: a TDCS or TDVPS extension page.
    Tdcx = 5,
    /// 6: a vCPU root page.
    Tdvpr = 6,
    /// 8: a Secure-EPT page.
    Ept = 8,
}

/// One PAMT_4K entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PamtEntry {
    pub page_type: PageType,
    /// The TDR HPA of the owning TD (0 for TDR, NDA and RSVD pages).
    pub owner: u64,
    /// The TD epoch at which the page was blocked (TDH.MEM.RANGE.BLOCK).
    pub bepoch: u64,
}

impl PamtEntry {
    pub const FREE: PamtEntry = PamtEntry {
        page_type: PageType::Nda,
        owner: 0,
        bepoch: 0,
    };
}

/// A configured TDMR and how far TDH.SYS.TDMR.INIT got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tdmr {
    pub base: u64,
    pub size: u64,
    /// Reserved areas as (offset, size), sorted.
    pub reserved: Vec<(u64, u64)>,
    /// PAMT_4K, PAMT_2M and PAMT_1G areas as (base, size).
    pub pamt: [(u64, u64); 3],
    /// Everything below `base + initialized` has its PAMT initialized.
    pub initialized: u64,
}

impl Tdmr {
    pub fn contains(&self, hpa: u64) -> bool {
        hpa >= self.base && hpa - self.base < self.size
    }

    fn is_reserved(&self, hpa: u64) -> bool {
        let offset = hpa - self.base;
        self.reserved
            .iter()
            .any(|&(start, size)| offset >= start && offset - start < size)
    }
}

/// Physical memory, the PAMT and the host-side page allocator.
pub(super) struct Memory {
    base: u64,
    size: u64,
    pages: HashMap<u64, Box<[u8; PAGE_SIZE as usize]>>,
    pamt: HashMap<u64, PamtEntry>,
    pub tdmrs: Vec<Tdmr>,
    /// Pages handed out by `alloc_page` and not freed.
    allocated: std::collections::HashSet<u64>,
    free_list: Vec<u64>,
    next_fresh: u64,
}

/// Why a host access to model memory was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryError {
    /// The address range is not inside the model's memory.
    OutOfRange {
        /// The first address outside.
        hpa: u64,
    },
    /// The page belongs to the module or a TD (its PAMT type is not NDA): on a real machine
    /// the host would see ciphertext (reads) or corrupt the TD (writes).
    NotHostOwned {
        /// The page.
        page: u64,
    },
}

impl core::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemoryError::OutOfRange { hpa } => {
                write!(f, "{hpa:#x} is outside the software module's memory")
            }
            MemoryError::NotHostOwned { page } => {
                write!(f, "page {page:#x} belongs to the TDX module or a TD")
            }
        }
    }
}

impl std::error::Error for MemoryError {}

/// The module's maximum physical-address width (bits 51:0).
pub(super) const MAX_PA_BITS: u32 = 52;

impl Memory {
    /// Memory at `base`, `size` bytes; host pages are handed out from `first_host_page` on.
    pub fn new(base: u64, size: u64, first_host_page: u64) -> Memory {
        Memory {
            base,
            size,
            pages: HashMap::new(),
            pamt: HashMap::new(),
            tdmrs: Vec::new(),
            allocated: Default::default(),
            free_list: Vec::new(),
            next_fresh: first_host_page,
        }
    }

    pub fn in_range(&self, hpa: u64, len: u64) -> bool {
        hpa >= self.base && len <= self.size && hpa - self.base <= self.size - len
    }

    /// A page for the host: a free page of the model's memory, zeroed.
    pub fn alloc_page(&mut self) -> Option<u64> {
        let page = match self.free_list.pop() {
            Some(page) => page,
            None => {
                if !self.in_range(self.next_fresh, PAGE_SIZE) {
                    return None;
                }
                let page = self.next_fresh;
                self.next_fresh += PAGE_SIZE;
                page
            }
        };
        self.pages.remove(&page);
        self.allocated.insert(page);
        Some(page)
    }

    /// Gives a page back to the allocator. `false` if it was not allocated or the module still
    /// owns it.
    pub fn free_page(&mut self, page: u64) -> bool {
        if self.pamt_type(page) != Some(PageType::Nda) && self.pamt_type(page).is_some() {
            return false;
        }
        if !self.allocated.remove(&page) {
            return false;
        }
        self.free_list.push(page);
        true
    }

    /// The PAMT type of a page, `None` outside an initialized TDMR.
    pub fn pamt_type(&self, page: u64) -> Option<PageType> {
        self.pamt_entry(page).map(|entry| entry.page_type)
    }

    /// The PAMT entry of a page, `None` outside the initialized part of a TDMR.
    pub fn pamt_entry(&self, page: u64) -> Option<PamtEntry> {
        let page = page & !(PAGE_SIZE - 1);
        let tdmr = self.tdmrs.iter().find(|tdmr| tdmr.contains(page))?;
        if page - tdmr.base >= tdmr.initialized {
            return None;
        }
        Some(
            self.pamt
                .get(&page)
                .copied()
                .unwrap_or(if tdmr.is_reserved(page) {
                    PamtEntry {
                        page_type: PageType::Rsvd,
                        ..PamtEntry::FREE
                    }
                } else {
                    PamtEntry::FREE
                }),
        )
    }

    pub fn set_pamt(&mut self, page: u64, entry: PamtEntry) {
        if entry == PamtEntry::FREE {
            self.pamt.remove(&page);
        } else {
            self.pamt.insert(page, entry);
        }
    }

    /// The module's check of an explicit private 4 KiB page operand
    /// (`check_and_lock_explicit_4k_private_hpa`): aligned, no bits above MAX_PA, inside an
    /// initialized TDMR, and of the expected PAMT type. Errors carry `operand`.
    pub fn check_private_page(
        &self,
        hpa: u64,
        operand: Operand,
        expected: PageType,
    ) -> Result<PamtEntry, Status> {
        if hpa % PAGE_SIZE != 0 || hpa >> MAX_PA_BITS != 0 {
            return Err(StatusCode::OperandInvalid.with_operand(operand));
        }
        let entry = self
            .pamt_entry(hpa)
            .ok_or(StatusCode::OperandAddrRangeError.with_operand(operand))?;
        if entry.page_type != expected {
            return Err(StatusCode::PageMetadataIncorrect.with_operand(operand));
        }
        Ok(entry)
    }

    /// The module's check of a shared HPA operand (`shared_hpa_check_with_pwr_2_alignment`).
    pub fn check_shared(hpa: u64, align: u64) -> bool {
        hpa % align == 0 && hpa >> MAX_PA_BITS == 0
    }

    pub fn read(&self, hpa: u64, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let address = hpa + done as u64;
            let page = address & !(PAGE_SIZE - 1);
            let offset = (address - page) as usize;
            let n = (PAGE_SIZE as usize - offset).min(out.len() - done);
            match self.pages.get(&page) {
                Some(data) => out[done..done + n].copy_from_slice(&data[offset..offset + n]),
                None => out[done..done + n].fill(0),
            }
            done += n;
        }
    }

    pub fn write(&mut self, hpa: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let address = hpa + done as u64;
            let page = address & !(PAGE_SIZE - 1);
            let offset = (address - page) as usize;
            let n = (PAGE_SIZE as usize - offset).min(data.len() - done);
            let target = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0; PAGE_SIZE as usize]));
            target[offset..offset + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    pub fn read_u64(&self, hpa: u64) -> u64 {
        let mut bytes = [0; 8];
        self.read(hpa, &mut bytes);
        u64::from_le_bytes(bytes)
    }

    pub fn fill_page(&mut self, page: u64, byte: u8) {
        if byte == 0 {
            self.pages.remove(&page);
        } else {
            self.pages
                .insert(page, Box::new([byte; PAGE_SIZE as usize]));
        }
    }

    pub fn copy_page(&mut self, from: u64, to: u64) {
        let mut data = Box::new([0; PAGE_SIZE as usize]);
        self.read(from, &mut data[..]);
        self.pages.insert(to, data);
    }

    /// Checks a host access: inside memory and every page host-owned.
    pub fn check_host_access(&self, hpa: u64, len: usize) -> Result<(), MemoryError> {
        if !self.in_range(hpa, len as u64) {
            let end = self.base.saturating_add(self.size);
            return Err(MemoryError::OutOfRange {
                hpa: if hpa < self.base { hpa } else { hpa.max(end) },
            });
        }
        let first = hpa & !(PAGE_SIZE - 1);
        let mut page = first;
        while page < hpa + len as u64 {
            if matches!(self.pamt_type(page), Some(t) if t != PageType::Nda) {
                return Err(MemoryError::NotHostOwned { page });
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_with_tdmr() -> Memory {
        let mut memory = Memory::new(1 << 30, 1 << 30, (1 << 30) + 0x10_0000);
        memory.tdmrs.push(Tdmr {
            base: 1 << 30,
            size: 1 << 30,
            reserved: std::vec![(0, 0x10_0000)],
            pamt: [(1 << 30, 0x1000), (0, 0), (0, 0)],
            initialized: 1 << 29,
        });
        memory
    }

    #[test]
    fn pamt_types_by_region() {
        let memory = memory_with_tdmr();
        assert_eq!(memory.pamt_type(1 << 30), Some(PageType::Rsvd));
        assert_eq!(memory.pamt_type((1 << 30) + 0x10_0000), Some(PageType::Nda));
        // Beyond the initialized part and outside the TDMR: no entry.
        assert_eq!(memory.pamt_type((1 << 30) + (1 << 29)), None);
        assert_eq!(memory.pamt_type(0x1000), None);
    }

    #[test]
    fn private_page_checks_name_the_operand() {
        let memory = memory_with_tdmr();
        let page = (1 << 30) + 0x10_0000;
        assert_eq!(
            memory.check_private_page(page + 8, Operand::R8, PageType::Nda),
            Err(StatusCode::OperandInvalid.with_operand(Operand::R8))
        );
        assert_eq!(
            memory.check_private_page(0x1000, Operand::RCX, PageType::Nda),
            Err(StatusCode::OperandAddrRangeError.with_operand(Operand::RCX))
        );
        assert_eq!(
            memory.check_private_page(page, Operand::RDX, PageType::Tdr),
            Err(StatusCode::PageMetadataIncorrect.with_operand(Operand::RDX))
        );
        assert!(memory
            .check_private_page(page, Operand::RDX, PageType::Nda)
            .is_ok());
    }

    #[test]
    fn reads_and_writes_cross_pages_and_allocation_recycles() {
        let mut memory = memory_with_tdmr();
        let a = memory.alloc_page().unwrap();
        let b = memory.alloc_page().unwrap();
        assert_eq!(b, a + PAGE_SIZE);
        memory.write(a + PAGE_SIZE - 4, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut out = [0; 8];
        memory.read(a + PAGE_SIZE - 4, &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(memory.free_page(a));
        assert!(!memory.free_page(a));
        assert_eq!(memory.alloc_page(), Some(a));
        let mut page = [0xFF; 8];
        memory.read(a, &mut page);
        assert_eq!(page, [0; 8], "a recycled page comes back zeroed");
    }
}
