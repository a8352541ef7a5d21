//! Physical memory: TDH.PHYMEM.PAGE.RDMD, TDH.PHYMEM.PAGE.RECLAIM, TDH.PHYMEM.CACHE.WB.

use super::*;

impl State {
    /// The page operand of RDMD and RECLAIM: aligned, below MAX_PA, inside a TDMR.
    fn physical_page(&self, hpa: u64) -> Result<PamtEntry, Status> {
        if hpa % PAGE_SIZE != 0 || hpa >> crate::module::memory::MAX_PA_BITS != 0 {
            return Err(invalid(Operand::RCX));
        }
        self.memory
            .pamt_entry(hpa)
            .ok_or(StatusCode::OperandAddrRangeError.with_operand(Operand::RCX))
    }

    pub(super) fn phymem_page_rdmd(&mut self, regs: &mut Registers) -> LeafResult {
        regs.r9 = 0;
        regs.r10 = 0;
        regs.r11 = 0;
        let entry = self.physical_page(regs.rcx)?;
        regs.rcx = entry.page_type as u64;
        regs.rdx = entry.owner;
        regs.r8 = 0;
        if matches!(entry.page_type, PageType::Reg | PageType::Ept) {
            regs.r9 = entry.bepoch;
        }
        SUCCESS
    }

    pub(super) fn phymem_page_reclaim(&mut self, regs: &mut Registers) -> LeafResult {
        let page = regs.rcx;
        regs.rcx = 0;
        regs.rdx = 0;
        regs.r8 = 0;
        regs.r9 = 0;
        regs.r10 = 0;
        regs.r11 = 0;
        let entry = self.physical_page(page)?;
        if matches!(entry.page_type, PageType::Nda | PageType::Rsvd) {
            return Err(StatusCode::PageMetadataIncorrect.with_operand(Operand::RCX));
        }
        regs.rcx = entry.page_type as u64;
        regs.rdx = entry.owner;
        let tdr = if entry.page_type == PageType::Tdr {
            page
        } else {
            entry.owner
        };
        let td = self.tds.get_mut(&tdr).expect("an owned page has a TD");
        if td.lifecycle != Lifecycle::Teardown {
            return Err(StatusCode::LifecycleStateIncorrect.status());
        }
        if entry.page_type == PageType::Tdr {
            if td.chldcnt != 0 {
                return Err(StatusCode::TdAssociatedPagesExist.status());
            }
            self.tds.remove(&tdr);
        } else {
            td.chldcnt = td.chldcnt.saturating_sub(1);
            if entry.page_type == PageType::Tdvpr {
                if let Some(vcpu) = self.vcpus.get_mut(&page) {
                    vcpu.bridge.gone = true;
                }
                self.vcpus.remove(&page);
            }
        }
        self.memory.set_pamt(page, PamtEntry::FREE);
        regs.r9 |= self.pamt_removal_hint(page);
        SUCCESS
    }

    pub(super) fn phymem_cache_wb(&mut self, regs: &mut Registers) -> LeafResult {
        match regs.rcx {
            0 => {}
            // The model never interrupts a write-back, so there is nothing to resume.
            1 => return Err(StatusCode::WbcacheResumeError.status()),
            _ => return Err(invalid(Operand::RCX)),
        }
        let mut any = false;
        for state in self.kot.values_mut() {
            if let KotState::Flushed { written_back } = state {
                any |= !*written_back;
                *written_back = true;
            }
        }
        if any {
            SUCCESS
        } else {
            Ok(StatusCode::NoHkidReadyToWbcache.status())
        }
    }
}
