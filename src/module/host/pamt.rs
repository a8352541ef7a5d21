//! Dynamic PAMT: TDH.PHYMEM.PAMT.ADD and TDH.PHYMEM.PAMT.REMOVE (module 2.0.18).
//!
//! Read in `intel/tdx-module` at 1666adc4 (2.0.08; the stored history has no later change
//! of these files up to 2.0.18 e69a4391): `tdh_phymem_pamt_add.c`,
//! `tdh_phymem_pamt_remove.c`, `pamt_manager.c`, `helpers.c`
//! (`non_shared_hpa_metadata_check_and_lock`) and `tdh_sys_config.c`. The checks, their order,
//! statuses and operand IDs follow those files; the state they act on is
//! [`DynamicPamt`](crate::module::memory::DynamicPamt).
//!
//! - Both leaves answer TDX_OPERAND_INVALID(RAX) while Dynamic PAMT is off (never enabled by
//!   TDH.SYS.CONFIG version 1, or a 1.5.05 model, where the dispatcher refuses them first).
//! - RCX (`page_size_api_input_t`): level 1 (2 MiB), bits 11:3 and 63:52 clear, no KeyID
//!   bits, 2 MiB aligned, else OPERAND_INVALID(RCX).
//! - ADD: each PAMT page (RDX, then R8) 4 KiB aligned, no KeyID, below MAX_PA
//!   (OPERAND_INVALID), inside an initialized TDMR (OPERAND_ADDR_RANGE_ERROR); then the
//!   range itself in a TDMR (ADDR_RANGE_ERROR(RCX)); a range that has its pair already is
//!   TDX_HPA_RANGE_NOT_FREE(RCX); a page outside the range that is not free is
//!   TDX_PAGE_NOT_FREE(RDX or R8); a page whose bitmap bit is set (in use as a PAMT page,
//!   or reserved; the same page twice) is TDX_PAGE_NOT_FREE. The pages are zeroed with the
//!   module's global key.
//! - REMOVE: a range without a pair is TDX_NO_PAMT_PAGE_PAIR(RCX); a pair one of whose
//!   pages still describes a page of another type than NDA is TDX_PAMT_PAGE_NOT_EMPTY with
//!   the index of that page (0 or 1) in the operand field; else the pages' bitmap bits are
//!   cleared and RDX, R8 return them.
//!
//! Not modelled: the PAMT entry locks (the model runs one call at a time, so TDX_OPERAND_BUSY
//! never happens), the 2 MiB and 1 GiB private pages a range could hold instead of its pair
//! (the model has none), and the HKID-start-bit limit of SYS.CONFIG with Dynamic PAMT
//! (MAX_DYNAMIC_PAMT_HKID_START_BIT, value not read; the model's KeyID bits are accepted).

use super::*;
use crate::module::memory::{DynamicPamt, MAX_PA_BITS, RANGE_2M};

/// The removal hint (bit 62) that TDH.PHYMEM.PAGE.RECLAIM ORs into R9 when it freed the
/// last page of a 2 MiB range that has a PAMT page pair (`PAMT_REMOVAL_HINT`,
/// `pamt_manager.h`).
pub(super) const PAMT_REMOVAL_HINT: u64 = 1 << 62;

impl State {
    /// Enables Dynamic PAMT (TDH.SYS.CONFIG version 1 with R8 bit 16).
    pub(super) fn enable_dynamic_pamt(&mut self) {
        self.memory.dynamic_pamt = Some(DynamicPamt::default());
    }

    /// RCX of both leaves: the 2 MiB range.
    fn pamt_range(&self, rcx: u64) -> Result<u64, Status> {
        let level = rcx & 0x7;
        let reserved = rcx & 0xFF8 != 0 || rcx >> MAX_PA_BITS != 0;
        let range = rcx & !0xFFF;
        if level != 1 || reserved || self.memory.has_keyid(range) || range % RANGE_2M != 0 {
            return Err(invalid(Operand::RCX));
        }
        Ok(range)
    }

    /// A PAMT page operand of PAMT.ADD: shape, then inside a TDMR.
    fn pamt_page_operand(&self, hpa: u64, operand: Operand) -> Result<(), Status> {
        if self.memory.has_keyid(hpa) || hpa % PAGE_SIZE != 0 || hpa >> MAX_PA_BITS != 0 {
            return Err(invalid(operand));
        }
        if self.memory.pamt_entry(hpa).is_none() {
            return Err(StatusCode::OperandAddrRangeError.with_operand(operand));
        }
        Ok(())
    }

    pub(super) fn phymem_pamt_add(&mut self, regs: &mut Registers) -> LeafResult {
        if self.memory.dynamic_pamt.is_none() {
            return Err(invalid(Operand::RAX));
        }
        let range = self.pamt_range(regs.rcx)?;
        let pages = [regs.rdx, regs.r8];
        let operands = [Operand::RDX, Operand::R8];
        self.pamt_page_operand(pages[0], operands[0])?;
        self.pamt_page_operand(pages[1], operands[1])?;
        if self.memory.pamt_entry(range).is_none() {
            return Err(StatusCode::OperandAddrRangeError.with_operand(Operand::RCX));
        }
        if self.memory.has_pamt_4k(range) {
            return Err(StatusCode::HpaRangeNotFree.with_operand(Operand::RCX));
        }
        // A page outside the range: its PAMT entry must be free. (The module skips the walk
        // for a page inside the range, whose entry it is about to create.)
        for (&page, &operand) in pages.iter().zip(&operands) {
            if page & !(RANGE_2M - 1) != range
                && self.memory.has_pamt_4k(page)
                && self.memory.pamt_type(page) != Some(PageType::Nda)
            {
                return Err(StatusCode::PageNotFree.with_operand(operand));
            }
        }
        // Test and set each page's bitmap bit.
        if self.memory.bitmap_bit(pages[0]) {
            return Err(StatusCode::PageNotFree.with_operand(operands[0]));
        }
        if pages[1] == pages[0] || self.memory.bitmap_bit(pages[1]) {
            return Err(StatusCode::PageNotFree.with_operand(operands[1]));
        }
        let key = Key::Private(self.platform.global_hkid);
        for page in pages {
            self.memory.fill_page(page, key);
        }
        if let Some(dpamt) = self.memory.dynamic_pamt.as_mut() {
            dpamt.pamt_pages.extend(pages);
            dpamt.nodes.insert(range, pages);
        }
        SUCCESS
    }

    pub(super) fn phymem_pamt_remove(&mut self, regs: &mut Registers) -> LeafResult {
        if self.memory.dynamic_pamt.is_none() {
            return Err(invalid(Operand::RAX));
        }
        let range = self.pamt_range(regs.rcx)?;
        if self.memory.pamt_entry(range).is_none() {
            return Err(StatusCode::OperandAddrRangeError.with_operand(Operand::RCX));
        }
        let in_use = self.memory.range_in_use(range);
        let Some(dpamt) = self.memory.dynamic_pamt.as_mut() else {
            return Err(invalid(Operand::RAX));
        };
        let Some(&pages) = dpamt.nodes.get(&range) else {
            return Err(StatusCode::NoPamtPagePair.with_operand(Operand::RCX));
        };
        if let Some(index) = in_use.iter().position(|&used| used) {
            return Err(StatusCode::PamtPageNotEmpty.with_details(index as u32));
        }
        dpamt.nodes.remove(&range);
        for page in pages {
            dpamt.pamt_pages.remove(&page);
        }
        regs.rdx = pages[0];
        regs.r8 = pages[1];
        SUCCESS
    }

    /// TDH.PHYMEM.PAGE.RECLAIM's removal hint for the page just freed: bit 62 when Dynamic
    /// PAMT is on and `page`'s range has a pair that now describes no page.
    pub(super) fn pamt_removal_hint(&self, page: u64) -> u64 {
        let range = page & !(RANGE_2M - 1);
        let has_pair = self
            .memory
            .dynamic_pamt
            .as_ref()
            .is_some_and(|dpamt| dpamt.nodes.contains_key(&range));
        if has_pair && self.memory.range_in_use(range) == [false, false] {
            PAMT_REMOVAL_HINT
        } else {
            0
        }
    }
}
