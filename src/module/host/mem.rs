//! Secure EPT and private pages: TDH.MEM.SEPT.ADD/RD, TDH.MEM.PAGE.ADD/AUG/REMOVE,
//! TDH.MEM.RANGE.BLOCK/UNBLOCK, TDH.MEM.TRACK, and the SEPT walk the guest side shares.

use super::*;

/// Bytes covered by one Secure-EPT entry at `level`.
pub(in crate::module) fn level_size(level: u8) -> u64 {
    PAGE_SIZE << (9 * u32::from(level))
}

fn align_to_level(gpa: u64, level: u8) -> u64 {
    gpa & !(level_size(level) - 1)
}

/// Where a Secure-EPT walk ended.
pub(in crate::module) enum Walk {
    /// The walk reached the requested level; the entry there (FREE = `None`).
    Reached(Option<Septe>),
    /// It stopped above it, at `level`, on an entry that is not a mapped non-leaf entry.
    Failed { level: u8, entry: Option<Septe> },
}

/// Walks the TD's Secure EPT from the root to `level` for `gpa`.
pub(in crate::module) fn walk(td: &Td, gpa: u64, level: u8) -> Walk {
    let top = td.config.top_level();
    let mut current = top;
    loop {
        let entry = td
            .sept
            .get(&(current, align_to_level(gpa, current)))
            .copied();
        if current == level {
            return Walk::Reached(entry);
        }
        match entry {
            // Non-leaf entries exist at levels 1 and up only (SEPT.ADD takes level 1+), so
            // the walk stops at level 0; checked all the same.
            Some(Septe {
                state: SeptState::NlMapped,
                ..
            }) if current > level => current -= 1,
            _ => {
                return Walk::Failed {
                    level: current,
                    entry,
                }
            }
        }
    }
}

/// The architectural SEPT entry and its information (RCX, RDX) the module reports on SEPT
/// errors (`set_arch_septe_details_in_vmm_regs`). A FREE entry reads as SUPPRESS_VE only;
/// a leaf keeps its HPA, permissions, memory type (WB) and IPAT/PS bits; a non-leaf only its
/// permissions.
pub(super) fn sept_details(entry: Option<Septe>, level: u8) -> (u64, u64) {
    const RWX: u64 = 0x7;
    const MEMTYPE_WB: u64 = 6 << 3;
    const IPAT: u64 = 1 << 6;
    const PS: u64 = 1 << 7;
    const SUPPRESS_VE: u64 = 1 << 63;
    let (arch, state) = match entry {
        None => (SUPPRESS_VE, 0u64),
        Some(septe) => {
            let permissions = if matches!(septe.state, SeptState::Mapped | SeptState::NlMapped) {
                RWX
            } else {
                0
            };
            let arch = if septe.state.is_leaf() {
                septe.hpa | permissions | MEMTYPE_WB | IPAT | if level > 0 { PS } else { 0 }
            } else {
                permissions
            };
            (arch, u64::from(septe.state.public()))
        }
    };
    (arch, u64::from(level) | state << 8)
}

pub(super) fn fail_with_details(
    regs: &mut Registers,
    status: Status,
    entry: Option<Septe>,
    level: u8,
) -> Status {
    let (rcx, rdx) = sept_details(entry, level);
    regs.rcx = rcx;
    regs.rdx = rdx;
    status
}

/// Decodes and checks a page_info operand: reserved bits, level range. Errors: RCX.
fn page_info(raw: u64, min: u8, max: u8) -> Result<(u64, u8), Status> {
    let level = (raw & 7) as u8;
    if raw & 0xFF8 != 0 || raw >> 52 != 0 || level < min || level > max {
        return Err(invalid(Operand::RCX));
    }
    let gpa = raw & 0x000F_FFFF_FFFF_F000;
    if gpa % level_size(level) != 0 {
        return Err(invalid(Operand::RCX));
    }
    Ok((gpa, level))
}

/// `check_gpa_validity(.., PRIVATE_ONLY)`: below the TD's GPA width and not shared.
pub(in crate::module) fn private_gpa(td: &Td, gpa: u64) -> bool {
    let width = if td.config.gpaw { 52 } else { 48 };
    gpa >> width == 0 && gpa & td.shared_bit() == 0
}

impl State {
    /// The common start of the TDH.MEM leaves that take RCX = page_info and RDX = TDR: zero
    /// RCX/RDX, check the TDR and the op state, decode page_info and check the GPA.
    fn mem_operands(
        &self,
        regs: &mut Registers,
        leaf: Leaf,
        min_level: u8,
        max_level: Option<u8>,
        tdr_flags: u64,
    ) -> Result<(u64, u64, u8), Status> {
        let (info, tdr_operand) = (regs.rcx, regs.rdx);
        regs.rcx = 0;
        regs.rdx = 0;
        if tdr_operand & 0xFFF & !tdr_flags != 0 || tdr_operand >> 52 != 0 {
            return Err(invalid(Operand::RDX));
        }
        let tdr = self.explicit_tdr(tdr_operand & !0xFFF, Operand::RDX)?;
        self.td_state(tdr, leaf)?;
        let td = &self.tds[&tdr];
        let max_level = max_level.unwrap_or(td.config.top_level());
        let (gpa, level) = page_info(info, min_level, max_level)?;
        if !private_gpa(td, gpa) {
            return Err(invalid(Operand::RCX));
        }
        Ok((tdr, gpa, level))
    }

    pub(super) fn mem_sept_add(&mut self, regs: &mut Registers, version: u8) -> LeafResult {
        const ALLOW_EXISTING: u64 = 1;
        let allow_existing = regs.rdx & ALLOW_EXISTING != 0;
        if version > 0 {
            // The model's TDs have no L2 VMs: L2 SEPT pages cannot be used.
            for (operand, page) in [
                (Operand::R9, regs.r9),
                (Operand::R10, regs.r10),
                (Operand::R11, regs.r11),
            ] {
                if page != NULL_PA {
                    return Err(invalid(operand));
                }
            }
        }
        let (tdr, gpa, level) =
            self.mem_operands(regs, Leaf::TdhMemSeptAdd, 1, None, ALLOW_EXISTING)?;
        let td = &self.tds[&tdr];
        let entry = match walk(td, gpa, level) {
            Walk::Failed { level, entry } => {
                return Err(fail_with_details(
                    regs,
                    StatusCode::EptWalkFailed.with_operand(Operand::RCX),
                    entry,
                    level,
                ))
            }
            Walk::Reached(entry) => entry,
        };
        let incorrect = StatusCode::EptEntryStateIncorrect.with_operand(Operand::RCX);
        if matches!(entry, Some(e) if e.state != SeptState::NlMapped) {
            return Err(fail_with_details(regs, incorrect, entry, level));
        }
        let new_page = regs.r8;
        if new_page == NULL_PA {
            if version == 0 {
                return Err(invalid(Operand::R8));
            }
            if entry.is_none() {
                return Err(fail_with_details(regs, incorrect, entry, level));
            }
            return SUCCESS;
        }
        if entry.is_some() {
            if !allow_existing {
                return Err(fail_with_details(regs, incorrect, entry, level));
            }
            if version > 0 {
                regs.r8 |= 1 << 63;
            }
            return SUCCESS;
        }
        self.memory
            .check_private_page(new_page, Operand::R8, PageType::Nda)?;
        let key = Key::Private(self.tds[&tdr].hkid);
        self.memory.fill_page(new_page, key);
        self.take_page(new_page, PageType::Ept, tdr);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.sept.insert(
            (level, gpa),
            Septe {
                state: SeptState::NlMapped,
                hpa: new_page,
            },
        );
        td.chldcnt += 1;
        if version > 0 {
            regs.r8 = NULL_PA;
        }
        SUCCESS
    }

    pub(super) fn mem_sept_rd(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdr, gpa, level) = self.mem_operands(regs, Leaf::TdhMemSeptRd, 0, None, 1)?;
        match walk(&self.tds[&tdr], gpa, level) {
            Walk::Reached(entry) => {
                let (rcx, rdx) = sept_details(entry, level);
                regs.rcx = rcx;
                regs.rdx = rdx;
                SUCCESS
            }
            Walk::Failed { level, entry } => Err(fail_with_details(
                regs,
                StatusCode::EptWalkFailed.with_operand(Operand::RCX),
                entry,
                level,
            )),
        }
    }

    /// Walks to the leaf level and returns the entry, or fails with `walk_failed` and the
    /// SEPT details.
    pub(super) fn walk_or_fail(
        &self,
        regs: &mut Registers,
        tdr: u64,
        gpa: u64,
        level: u8,
        walk_failed: Status,
    ) -> Result<Option<Septe>, Status> {
        match walk(&self.tds[&tdr], gpa, level) {
            Walk::Reached(entry) => Ok(entry),
            Walk::Failed { level, entry } => {
                Err(fail_with_details(regs, walk_failed, entry, level))
            }
        }
    }

    /// The Secure-EPT walk to the 4 KiB leaf of `gpa` must succeed and find it free (the
    /// check PAGE.ADD and PAGE.AUG share); otherwise the module's status with the entry in
    /// RCX/RDX.
    fn require_free_4k_leaf(&self, regs: &mut Registers, tdr: u64, gpa: u64) -> Result<(), Status> {
        let entry = self.walk_or_fail(
            regs,
            tdr,
            gpa,
            0,
            StatusCode::EptWalkFailed.with_operand(Operand::RCX),
        )?;
        if entry.is_some() {
            return Err(fail_with_details(
                regs,
                StatusCode::EptEntryStateIncorrect.with_operand(Operand::RCX),
                entry,
                0,
            ));
        }
        Ok(())
    }

    /// Gives `page` to the TD as a private 4 KiB page mapped at `gpa` in `state` (PAGE.ADD:
    /// mapped; PAGE.AUG: pending until the guest accepts it).
    fn map_4k_page(&mut self, tdr: u64, gpa: u64, page: u64, state: SeptState) {
        self.take_page(page, PageType::Reg, tdr);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.sept.insert((0, gpa), Septe { state, hpa: page });
        td.chldcnt += 1;
    }

    pub(super) fn mem_page_add(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdr, gpa, _) = self.mem_operands(regs, Leaf::TdhMemPageAdd, 0, Some(0), 0)?;
        self.require_free_4k_leaf(regs, tdr, gpa)?;
        let (target, source) = (regs.r8, regs.r9);
        if !self.memory.check_shared(source, PAGE_SIZE) {
            return Err(invalid(Operand::R9));
        }
        self.memory
            .check_private_page(target, Operand::R8, PageType::Nda)?;
        // The source is read with the host's key (its own KeyID bits), the target written
        // with the TD's: another TD's page, or the module's, comes through as zeros.
        let mut data = std::vec![0u8; PAGE_SIZE as usize];
        self.memory.host_read(source, &mut data);
        let hkid = self.tds[&tdr].hkid;
        self.memory.td_write(hkid, target, &data);
        self.map_4k_page(tdr, gpa, target, SeptState::Mapped);
        self.tds
            .get_mut(&tdr)
            .expect("TD")
            .measurement
            .page_add(gpa);
        SUCCESS
    }

    pub(super) fn mem_page_aug(&mut self, regs: &mut Registers) -> LeafResult {
        // 2 MiB pages are not modelled: only level 0 is accepted.
        let (tdr, gpa, _) = self.mem_operands(regs, Leaf::TdhMemPageAug, 0, Some(0), 0)?;
        self.require_free_4k_leaf(regs, tdr, gpa)?;
        let page = regs.r8;
        self.memory
            .check_private_page(page, Operand::R8, PageType::Nda)?;
        self.map_4k_page(tdr, gpa, page, SeptState::Pending);
        SUCCESS
    }

    pub(super) fn mem_range_block(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdr, gpa, level) = self.mem_operands(regs, Leaf::TdhMemRangeBlock, 0, None, 0)?;
        let entry = self.walk_or_fail(
            regs,
            tdr,
            gpa,
            level,
            StatusCode::EptWalkFailed.with_operand(Operand::RCX),
        )?;
        let blocked = match entry.map(|e| e.state) {
            Some(SeptState::NlMapped) => SeptState::NlBlocked,
            Some(SeptState::Mapped) => SeptState::Blocked,
            Some(SeptState::Pending) => SeptState::PendingBlocked,
            Some(state) if state.is_blocked() => {
                return Err(fail_with_details(
                    regs,
                    StatusCode::GpaRangeAlreadyBlocked.with_operand(Operand::RCX),
                    entry,
                    level,
                ))
            }
            _ => {
                return Err(fail_with_details(
                    regs,
                    StatusCode::EptEntryStateIncorrect.with_operand(Operand::RCX),
                    entry,
                    level,
                ))
            }
        };
        let septe = entry.expect("present");
        let td = self.tds.get_mut(&tdr).expect("TD");
        let epoch = td.td_epoch;
        td.sept.insert(
            (level, gpa),
            Septe {
                state: blocked,
                ..septe
            },
        );
        if let Some(mut pamt) = self.memory.pamt_entry(septe.hpa) {
            pamt.bepoch = epoch;
            self.memory.set_pamt(septe.hpa, pamt);
        }
        SUCCESS
    }

    /// Whether TDH.MEM.TRACK has run (and every vCPU left the TD) since `bepoch`.
    fn tlb_tracked(&self, tdr: u64, page: u64) -> bool {
        let bepoch = self.memory.pamt_entry(page).map_or(0, |entry| entry.bepoch);
        bepoch < self.tds[&tdr].td_epoch
    }

    pub(super) fn mem_range_unblock(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdr, gpa, level) = self.mem_operands(regs, Leaf::TdhMemRangeUnblock, 0, None, 0)?;
        let entry = self.walk_or_fail(
            regs,
            tdr,
            gpa,
            level,
            StatusCode::EptWalkFailed.with_operand(Operand::RCX),
        )?;
        let unblocked = match entry.map(|e| e.state) {
            Some(SeptState::NlBlocked) => SeptState::NlMapped,
            Some(SeptState::Blocked) => SeptState::Mapped,
            Some(SeptState::PendingBlocked) => SeptState::Pending,
            _ => {
                return Err(fail_with_details(
                    regs,
                    StatusCode::EptEntryStateIncorrect.with_operand(Operand::RCX),
                    entry,
                    level,
                ))
            }
        };
        let septe = entry.expect("present");
        if self.tds[&tdr].op_state == OpState::Runnable && !self.tlb_tracked(tdr, septe.hpa) {
            return Err(StatusCode::TlbTrackingNotDone.with_operand(Operand::RCX));
        }
        self.tds.get_mut(&tdr).expect("TD").sept.insert(
            (level, gpa),
            Septe {
                state: unblocked,
                ..septe
            },
        );
        SUCCESS
    }

    pub(super) fn mem_track(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMemTrack)?;
        self.tds.get_mut(&tdr).expect("TD").td_epoch += 1;
        SUCCESS
    }

    pub(super) fn mem_page_remove(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdr, gpa, level) = self.mem_operands(regs, Leaf::TdhMemPageRemove, 0, Some(2), 0)?;
        let entry = self.walk_or_fail(
            regs,
            tdr,
            gpa,
            level,
            StatusCode::EptWalkFailed.with_operand(Operand::RCX),
        )?;
        let Some(septe) = entry.filter(|e| e.state.is_leaf()) else {
            return Err(fail_with_details(
                regs,
                StatusCode::EptEntryStateIncorrect.with_operand(Operand::RCX),
                entry,
                level,
            ));
        };
        // A page the guest may have mapped in its TLBs must be blocked and tracked first.
        let guest_accessible = matches!(septe.state, SeptState::Mapped | SeptState::Blocked);
        if guest_accessible && self.tds[&tdr].op_state == OpState::Runnable {
            if !septe.state.is_blocked() {
                return Err(fail_with_details(
                    regs,
                    StatusCode::GpaRangeNotBlocked.with_operand(Operand::RCX),
                    entry,
                    level,
                ));
            }
            if !self.tlb_tracked(tdr, septe.hpa) {
                return Err(StatusCode::TlbTrackingNotDone.with_operand(Operand::RCX));
            }
        }
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.sept.remove(&(level, gpa));
        td.chldcnt = td.chldcnt.saturating_sub(1);
        self.memory.set_pamt(septe.hpa, PamtEntry::FREE);
        regs.rcx = septe.hpa;
        SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sept_details_match_the_architectural_encoding() {
        assert_eq!(sept_details(None, 2), (1 << 63, 2));
        let mapped = Septe {
            state: SeptState::Mapped,
            hpa: 0x1234_5000,
        };
        let (rcx, rdx) = sept_details(Some(mapped), 0);
        assert_eq!(rcx, 0x1234_5000 | 7 | 6 << 3 | 1 << 6);
        assert_eq!(rdx, 4 << 8);
        let table = Septe {
            state: SeptState::NlMapped,
            hpa: 0x9000,
        };
        assert_eq!(sept_details(Some(table), 3), (7, 3 | 0x84 << 8));
    }

    #[test]
    fn page_info_checks_level_reserved_bits_and_alignment() {
        assert_eq!(page_info(0x5000, 0, 0), Ok((0x5000, 0)));
        assert_eq!(page_info(0x20_0001, 1, 3), Ok((0x20_0000, 1)));
        for bad in [0x5008, 0x5001, 0x1000 | 1, 1 << 52 | 0x1000] {
            assert_eq!(page_info(bad, 0, 0), Err(invalid(Operand::RCX)), "{bad:#x}");
        }
    }
}
