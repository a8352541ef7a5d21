//! SEAMCALL leaves: the host side of the module.
//!
//! Each handler follows the checks of the module 1.5 source in its order, and fails with the
//! status (and operand ID) the module returns. Registers the module zeroes before its checks
//! are zeroed first here too.

use super::memory::{Key, PageType, PamtEntry, Tdmr};
use super::metadata::{self, Accessor};
use super::mrtd::MrtdBuilder;
use super::platform::*;
use super::state::*;
use super::PAGE_SIZE;
use crate::abi::{FieldId, NULL_PA};
use crate::emu::Registers;
use crate::leaf::{Leaf, Side};
use crate::status::{Operand, Status, StatusCode};
use std::vec::Vec;

/// What the dispatcher decided.
pub(super) enum Seam {
    /// The leaf completed with this status (outputs are in the registers).
    Done(Status),
    /// TDH.VP.ENTER passed its checks: run the vCPU at this TDVPR.
    Enter { tdvpr: u64 },
}

type LeafResult = Result<Status, Status>;

const SUCCESS: LeafResult = Ok(Status::SUCCESS);

fn invalid(operand: Operand) -> Status {
    StatusCode::OperandInvalid.with_operand(operand)
}

/// The op states (UNINITIALIZED, INITIALIZED, RUNNABLE) in which a TD-scope leaf may run
/// (`seamcall_state_lookup`, module 1.5.01; the migration states are not modelled).
fn allowed_in(leaf: Leaf, op_state: OpState) -> bool {
    use OpState::*;
    let allowed: &[OpState] = match leaf {
        Leaf::TdhVpEnter | Leaf::TdhMemPageAug => &[Runnable],
        Leaf::TdhMngAddcx | Leaf::TdhMngInit => &[Uninitialized],
        Leaf::TdhMemPageAdd
        | Leaf::TdhVpAddcx
        | Leaf::TdhVpCreate
        | Leaf::TdhMrExtend
        | Leaf::TdhMrFinalize
        | Leaf::TdhVpInit => &[Initialized],
        Leaf::TdhVpFlush => &[Uninitialized, Initialized, Runnable],
        _ => &[Initialized, Runnable],
    };
    allowed.contains(&op_state)
}

/// The hardware-index view of the register file.
pub(super) fn gpr(regs: &Registers, index: u8) -> u64 {
    match index {
        0 => regs.rax,
        1 => regs.rcx,
        2 => regs.rdx,
        3 => regs.rbx,
        5 => regs.rbp,
        6 => regs.rsi,
        7 => regs.rdi,
        8 => regs.r8,
        9 => regs.r9,
        10 => regs.r10,
        11 => regs.r11,
        12 => regs.r12,
        13 => regs.r13,
        14 => regs.r14,
        15 => regs.r15,
        _ => 0,
    }
}

/// Sets the register with hardware index `index` (RSP, 4, is ignored).
pub(super) fn set_gpr(regs: &mut Registers, index: u8, value: u64) {
    let slot = match index {
        0 => &mut regs.rax,
        1 => &mut regs.rcx,
        2 => &mut regs.rdx,
        3 => &mut regs.rbx,
        5 => &mut regs.rbp,
        6 => &mut regs.rsi,
        7 => &mut regs.rdi,
        8 => &mut regs.r8,
        9 => &mut regs.r9,
        10 => &mut regs.r10,
        11 => &mut regs.r11,
        12 => &mut regs.r12,
        13 => &mut regs.r13,
        14 => &mut regs.r14,
        15 => &mut regs.r15,
        _ => return,
    };
    *slot = value;
}

/// Bytes covered by one Secure-EPT entry at `level`.
pub(super) fn level_size(level: u8) -> u64 {
    PAGE_SIZE << (9 * u32::from(level))
}

fn align_to_level(gpa: u64, level: u8) -> u64 {
    gpa & !(level_size(level) - 1)
}

/// Where a Secure-EPT walk ended.
pub(super) enum Walk {
    /// The walk reached the requested level; the entry there (FREE = `None`).
    Reached(Option<Septe>),
    /// It stopped above it, at `level`, on an entry that is not a mapped non-leaf entry.
    Failed { level: u8, entry: Option<Septe> },
}

/// Walks the TD's Secure EPT from the root to `level` for `gpa`.
pub(super) fn walk(td: &Td, gpa: u64, level: u8) -> Walk {
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

fn fail_with_details(
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
pub(super) fn private_gpa(td: &Td, gpa: u64) -> bool {
    let width = if td.config.gpaw { 52 } else { 48 };
    gpa >> width == 0 && gpa & td.shared_bit() == 0
}

/// A TDMR_INFO entry as the host wrote it, before any check.
struct TdmrInput {
    base: u64,
    size: u64,
    /// All reserved areas as (offset, size), null ones (size 0) included.
    reserved: [(u64, u64); crate::abi::sysinfo::TDMR_MAX_RESERVED_AREAS],
    /// PAMT_4K, PAMT_2M and PAMT_1G areas as (base, size).
    pamt: [(u64, u64); 3],
}

/// `check_tdmr_reserved_areas`: null areas only at the end; each area's offset + size, TDMR
/// base + offset and that + size must not wrap; ascending and not overlapping; 4 KiB
/// aligned; inside the TDMR (whose base + size the caller checked). Returns the non-null
/// areas.
fn check_reserved_areas(tdmr: &TdmrInput, index: u32) -> Result<Vec<(u64, u64)>, Status> {
    let tdmr_end = tdmr.base + tdmr.size;
    let mut areas = Vec::new();
    for (area, &(offset, size)) in tdmr.reserved.iter().enumerate() {
        let details = index | (area as u32) << 8;
        let invalid = StatusCode::InvalidReservedInTdmr.with_details(details);
        let unordered = StatusCode::NonOrderedReservedInTdmr.with_details(details);
        if size == 0 {
            if tdmr
                .reserved
                .get(area + 1)
                .is_some_and(|&(_, next)| next != 0)
            {
                return Err(unordered);
            }
            continue;
        }
        if offset.checked_add(size).is_none() {
            return Err(invalid);
        }
        // The previous area is non-null (a null one followed by this one failed above) and
        // passed these checks, so its end does not wrap.
        if let Some(&(previous, previous_size)) = areas.last() {
            if offset < previous || offset < previous + previous_size {
                return Err(unordered);
            }
        }
        if offset % PAGE_SIZE != 0 || size % PAGE_SIZE != 0 {
            return Err(invalid);
        }
        let Some(start) = tdmr.base.checked_add(offset) else {
            return Err(invalid);
        };
        let Some(end) = start.checked_add(size) else {
            return Err(invalid);
        };
        if end > tdmr_end {
            return Err(invalid);
        }
        areas.push((offset, size));
    }
    Ok(areas)
}

/// The usable (non-reserved) parts of a checked TDMR as (base, size), none empty.
fn available_areas(tdmr: &Tdmr) -> impl Iterator<Item = (u64, u64)> + '_ {
    let ends = tdmr
        .reserved
        .iter()
        .map(|&(offset, _)| offset)
        .chain([tdmr.size]);
    let starts = [0]
        .into_iter()
        .chain(tdmr.reserved.iter().map(|&(offset, size)| offset + size));
    starts
        .zip(ends)
        .filter(|(start, end)| end > start)
        .map(|(start, end)| (tdmr.base + start, end - start))
}

impl State {
    /// The SEAMCALL dispatcher (`tdx_vmm_dispatcher`): RAX checks, the platform gates, then
    /// the leaf.
    pub(super) fn seamcall(&mut self, lp: u32, regs: &mut Registers) -> Seam {
        let rax = regs.rax;
        let Some((number, version)) = Leaf::split_rax(rax) else {
            return Seam::Done(invalid(Operand::RAX));
        };
        let Some(leaf) = Leaf::from_number(Side::Host, number) else {
            return Seam::Done(invalid(Operand::RAX));
        };
        if version > leaf.max_version() {
            return Seam::Done(invalid(Operand::RAX));
        }
        let setup_leaf = matches!(
            leaf,
            Leaf::TdhSysInfo
                | Leaf::TdhSysRd
                | Leaf::TdhSysRdall
                | Leaf::TdhSysInit
                | Leaf::TdhSysLpInit
                | Leaf::TdhSysConfig
                | Leaf::TdhSysKeyConfig
                | Leaf::TdhSysLpShutdown
                | Leaf::TdhSysUpdate
        );
        if self.platform.phase != SysPhase::Ready && !setup_leaf {
            return Seam::Done(StatusCode::SysNotReady.status());
        }
        if leaf == Leaf::TdhVpEnter {
            return match self.vp_enter_checks(lp, regs.rcx) {
                Ok(tdvpr) => Seam::Enter { tdvpr },
                Err(status) => Seam::Done(status),
            };
        }
        let result = match leaf {
            Leaf::TdhSysInit => self.sys_init(regs),
            Leaf::TdhSysLpInit => self.sys_lp_init(lp, regs),
            Leaf::TdhSysConfig => self.sys_config(regs),
            Leaf::TdhSysKeyConfig => self.sys_key_config(),
            Leaf::TdhSysTdmrInit => self.sys_tdmr_init(regs),
            Leaf::TdhSysRd => self.sys_rd(lp, regs),
            Leaf::TdhSysRdall => self.sys_rdall(lp, regs),
            Leaf::TdhMngCreate => self.mng_create(regs),
            Leaf::TdhMngKeyConfig => self.mng_key_config(regs),
            Leaf::TdhMngAddcx => self.mng_addcx(regs),
            Leaf::TdhMngInit => self.mng_init(regs),
            Leaf::TdhMngRd => self.mng_rd(regs, version),
            Leaf::TdhMngWr => self.mng_wr(regs),
            Leaf::TdhMngVpflushdone => self.mng_vpflushdone(regs),
            Leaf::TdhMngKeyFreeid => self.mng_key_freeid(regs),
            Leaf::TdhMngKeyReclaimid => SUCCESS,
            Leaf::TdhVpCreate => self.vp_create(regs),
            Leaf::TdhVpAddcx => self.vp_addcx(regs),
            Leaf::TdhVpInit => self.vp_init(lp, regs, version),
            Leaf::TdhVpFlush => self.vp_flush(lp, regs),
            Leaf::TdhVpRd => self.vp_rd(regs, version),
            Leaf::TdhVpWr => self.vp_wr(regs),
            Leaf::TdhMemSeptAdd => self.mem_sept_add(regs, version),
            Leaf::TdhMemSeptRd => self.mem_sept_rd(regs),
            Leaf::TdhMemPageAdd => self.mem_page_add(regs),
            Leaf::TdhMemPageAug => self.mem_page_aug(regs),
            Leaf::TdhMemRangeBlock => self.mem_range_block(regs),
            Leaf::TdhMemRangeUnblock => self.mem_range_unblock(regs),
            Leaf::TdhMemTrack => self.mem_track(regs),
            Leaf::TdhMemPageRemove => self.mem_page_remove(regs),
            Leaf::TdhMrExtend => self.mr_extend(regs),
            Leaf::TdhMrFinalize => self.mr_finalize(regs),
            Leaf::TdhPhymemPageRdmd => self.phymem_page_rdmd(regs),
            Leaf::TdhPhymemPageReclaim => self.phymem_page_reclaim(regs),
            Leaf::TdhPhymemCacheWb => self.phymem_cache_wb(regs),
            // Not modelled (migration, service TDs, TD partitioning, page relocation and
            // promotion, debug memory access, module update): answered as a leaf this
            // module does not implement.
            _ => Err(invalid(Operand::RAX)),
        };
        Seam::Done(result.unwrap_or_else(|status| status))
    }

    // ---------------------------------------------------------------- platform

    fn sys_init(&mut self, regs: &mut Registers) -> LeafResult {
        let attributes = regs.rcx;
        regs.rcx = 0;
        regs.rdx = 0;
        regs.r8 = 0;
        regs.r9 = 0;
        regs.r10 = 0;
        if attributes != 0 {
            return Err(invalid(Operand::RCX));
        }
        if self.platform.phase != SysPhase::InitPending {
            return Err(StatusCode::SysInitNotPending.status());
        }
        self.platform.phase = SysPhase::InitDone;
        SUCCESS
    }

    fn sys_lp_init(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
        regs.rcx = 0;
        regs.rdx = 0;
        regs.r8 = 0;
        if self.platform.phase != SysPhase::InitDone {
            return Err(StatusCode::SysLpInitNotPending.status());
        }
        let done = &mut self.platform.lp_init[lp as usize];
        if *done {
            return Err(StatusCode::SysLpInitDone.status());
        }
        *done = true;
        SUCCESS
    }

    fn sys_config(&mut self, regs: &mut Registers) -> LeafResult {
        const ALIGN: u64 = crate::abi::sysinfo::TDMR_INFO_ALIGN;
        if self.platform.phase != SysPhase::InitDone
            || self.platform.lp_init.iter().any(|done| !done)
        {
            return Err(StatusCode::SysConfigNotPending.status());
        }
        if !self.memory.check_shared(regs.rcx, ALIGN) {
            return Err(invalid(Operand::RCX));
        }
        let count = regs.rdx;
        if count == 0 || count > crate::abi::sysinfo::MAX_TDMRS as u64 {
            return Err(invalid(Operand::RDX));
        }
        let hkid = regs.r8;
        if hkid >> 16 != 0 || !self.is_private_hkid(hkid as u16) {
            return Err(invalid(Operand::R8));
        }
        let mut tdmrs = Vec::new();
        for index in 0..count {
            // The array and each TDMR_INFO are read with the host's key. RCX is below 2^52
            // and `count` at most MAX_TDMRS: no wrap.
            let pointer = self.memory.host_read_u64(regs.rcx + 8 * index);
            if !self.memory.check_shared(pointer, ALIGN) {
                return Err(invalid(Operand::RCX));
            }
            let tdmr = self.read_tdmr_info(pointer);
            let checked = self.check_tdmr(&tdmr, index as u32, &tdmrs)?;
            tdmrs.push(checked);
        }
        self.kot.insert(hkid as u16, KotState::Reserved);
        self.platform.global_hkid = hkid as u16;
        self.memory.tdmrs = tdmrs;
        self.platform.phase = SysPhase::ConfigDone;
        SUCCESS
    }

    /// Reads the TDMR_INFO entry at `at` with the host's key: every field as the host wrote
    /// it, all 16 reserved areas included (the checks need the null ones too).
    fn read_tdmr_info(&self, at: u64) -> TdmrInput {
        // `at` passed the shared-HPA check (below 2^52), so the offsets cannot wrap.
        let q = |offset: u64| self.memory.host_read_u64(at + offset);
        TdmrInput {
            base: q(0),
            size: q(8),
            reserved: core::array::from_fn(|area| {
                (q(64 + 16 * area as u64), q(72 + 16 * area as u64))
            }),
            pamt: [(q(48), q(56)), (q(32), q(40)), (q(16), q(24))],
        }
    }

    /// `check_and_set_tdmrs` (module 1.5.01 `tdh_sys_config.c`), in its order: base + size
    /// overflow, order against the previous TDMR, alignment and MAX_PA, the reserved areas,
    /// the PAMT areas (addresses and sizes 1G, 2M, 4K; overlaps; CMR containment), and last
    /// the non-reserved parts inside a CMR. Every sum of host-supplied values is checked for
    /// wrapping past 2^64 first, as the module does (`is_valid_integer_range`).
    fn check_tdmr(&self, tdmr: &TdmrInput, index: u32, previous: &[Tdmr]) -> Result<Tdmr, Status> {
        const GIB: u64 = 1 << 30;
        let invalid_tdmr = StatusCode::InvalidTdmr.with_details(index);
        let below_max_pa = |address: u64| address >> super::memory::MAX_PA_BITS == 0;
        let Some(end) = tdmr.base.checked_add(tdmr.size) else {
            return Err(invalid_tdmr);
        };
        if let Some(previous) = previous.last() {
            // The previous TDMR passed these checks: its end does not wrap.
            if tdmr.base < previous.base || tdmr.base < previous.base + previous.size {
                return Err(StatusCode::NonOrderedTdmr.with_details(index));
            }
        }
        if tdmr.base % GIB != 0 || tdmr.size % GIB != 0 || tdmr.size == 0 {
            return Err(invalid_tdmr);
        }
        if !below_max_pa(tdmr.base) || !below_max_pa(end - 1) {
            return Err(invalid_tdmr);
        }
        let reserved = check_reserved_areas(tdmr, index)?;
        let candidate = Tdmr {
            base: tdmr.base,
            size: tdmr.size,
            reserved,
            pamt: tdmr.pamt,
            initialized: 0,
        };
        // PAMT addresses and sizes, 1G first as the module checks them.
        for level in [2usize, 1, 0] {
            let (base, size) = tdmr.pamt[level];
            let details = index | (level as u32) << 8;
            let entries = tdmr.size / (PAGE_SIZE << (9 * level));
            let valid = base.checked_add(size).is_some()
                && base % PAGE_SIZE == 0
                && size % PAGE_SIZE == 0
                && below_max_pa(base)
                && below_max_pa((base + size).wrapping_sub(1))
                && size >= entries * PAMT_ENTRY_SIZE;
            if !valid {
                return Err(StatusCode::InvalidPamt.with_details(details));
            }
        }
        // No PAMT overlaps another PAMT (of this or an earlier TDMR).
        let overlaps = |a: (u64, u64), b: (u64, u64)| {
            a.1 != 0 && b.1 != 0 && a.0 < b.0 + b.1 && b.0 < a.0 + a.1
        };
        let overlap = |level: usize, other: u32| {
            StatusCode::PamtOverlap.with_details(index | (level as u32) << 8 | other << 16)
        };
        for (other, earlier) in previous.iter().enumerate() {
            for level in 0..3 {
                if earlier
                    .pamt
                    .iter()
                    .any(|&area| overlaps(tdmr.pamt[level], area))
                {
                    return Err(overlap(level, other as u32));
                }
            }
        }
        for (a, b) in [(0usize, 1usize), (0, 2), (1, 2)] {
            if overlaps(tdmr.pamt[a], tdmr.pamt[b]) {
                return Err(overlap(a, index));
            }
        }
        // No PAMT overlaps the usable (non-reserved) memory of a TDMR.
        for (other, owner) in previous.iter().chain([&candidate]).enumerate() {
            for level in 0..3 {
                if available_areas(owner).any(|area| overlaps(tdmr.pamt[level], area)) {
                    return Err(overlap(level, other as u32));
                }
            }
            if other < previous.len() {
                for level in 0..3 {
                    if available_areas(&candidate).any(|area| overlaps(owner.pamt[level], area)) {
                        return Err(StatusCode::PamtOverlap
                            .with_details(other as u32 | (level as u32) << 8 | index << 16));
                    }
                }
            }
        }
        for level in [2usize, 1, 0] {
            let (base, size) = tdmr.pamt[level];
            if !self.within_cmr(base, size) {
                return Err(StatusCode::PamtOutsideCmrs.with_details(index | (level as u32) << 8));
            }
        }
        if available_areas(&candidate).any(|(base, size)| !self.within_cmr(base, size)) {
            return Err(StatusCode::TdmrOutsideCmrs.with_details(index));
        }
        Ok(candidate)
    }

    /// Whether `[base, base + size)` lies in one CMR (`base + size` must not wrap).
    fn within_cmr(&self, base: u64, size: u64) -> bool {
        self.cmrs.iter().any(|&(cmr, cmr_size)| {
            base >= cmr && size <= cmr_size && base - cmr <= cmr_size - size
        })
    }

    fn sys_key_config(&mut self) -> LeafResult {
        if self.platform.phase != SysPhase::ConfigDone {
            return Err(StatusCode::SysKeyConfigNotPending.status());
        }
        if self.platform.package_key_configured {
            return Ok(StatusCode::KeyConfigured.status());
        }
        self.platform.package_key_configured = true;
        // One package: the last package configured makes the module ready.
        self.platform.phase = SysPhase::Ready;
        SUCCESS
    }

    fn sys_tdmr_init(&mut self, regs: &mut Registers) -> LeafResult {
        /// How much PAMT one call initializes before it returns (the module stops after a
        /// fixed amount of work so the host can take interrupts).
        const CHUNK: u64 = 256 << 20;
        regs.rdx = 0;
        let base = regs.rcx;
        let tdmr = self
            .memory
            .tdmrs
            .iter_mut()
            .find(|tdmr| tdmr.base == base)
            .ok_or(invalid(Operand::RCX))?;
        if tdmr.initialized == tdmr.size {
            return Ok(StatusCode::TdmrAlreadyInitialized.status());
        }
        tdmr.initialized = (tdmr.initialized + CHUNK).min(tdmr.size);
        regs.rdx = (tdmr.base + tdmr.initialized) & !((1 << 30) - 1);
        SUCCESS
    }

    fn sys_rd(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
        let id = regs.rdx;
        regs.rdx = FieldId::NA.raw();
        regs.r8 = 0;
        if !self.platform.lp_init[lp as usize] {
            return Err(StatusCode::SysLpInitNotDone.status());
        }
        if FieldId::from_raw(id).is_null() {
            regs.rdx = metadata::first_field(metadata::SYS_FIELDS, Accessor::Host);
            return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
        }
        let read = metadata::read(metadata::SYS_FIELDS, id, Accessor::Host, |get, i| {
            get(self, i)
        })?;
        regs.r8 = read.value;
        regs.rdx = read.next;
        SUCCESS
    }

    fn sys_rdall(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
        let start = regs.r8;
        regs.r8 = FieldId::NA.raw();
        if !self.platform.lp_init[lp as usize] {
            return Err(StatusCode::SysLpInitNotDone.status());
        }
        if !self.memory.check_shared(regs.rdx, PAGE_SIZE) {
            return Err(invalid(Operand::RDX));
        }
        let (list, next) = metadata::dump_list(
            metadata::SYS_FIELDS,
            start,
            Accessor::Host,
            PAGE_SIZE as usize,
            |get, i| get(self, i),
        )?;
        // Written with the host's key: into a TD's page, the TD loses those lines.
        self.memory.host_write(regs.rdx, &list);
        regs.r8 = next;
        if next == FieldId::NA.raw() {
            SUCCESS
        } else {
            Err(StatusCode::MetadataListOverflow.status())
        }
    }

    fn is_private_hkid(&self, hkid: u16) -> bool {
        (self.private_hkids.0..self.private_hkids.1).contains(&hkid)
    }

    // ---------------------------------------------------------------- TD management

    /// `check_lock_and_map_explicit_tdr`: the TDR operand in `operand`.
    fn explicit_tdr(&self, hpa: u64, operand: Operand) -> Result<u64, Status> {
        self.memory
            .check_private_page(hpa, operand, PageType::Tdr)
            .map(|_| hpa)
    }

    /// `check_state_map_tdcs_and_lock`: the TD is built far enough and its op state allows
    /// `leaf`.
    fn td_state(&self, tdr: u64, leaf: Leaf) -> Result<(), Status> {
        let td = &self.tds[&tdr];
        if td.fatal {
            return Err(StatusCode::TdFatal.status());
        }
        if td.lifecycle != Lifecycle::KeysConfigured {
            return Err(StatusCode::TdKeysNotConfigured.status());
        }
        if td.tdcx.len() < TDCS_PAGES {
            return Err(StatusCode::TdcsNotAllocated.status());
        }
        if !allowed_in(leaf, td.op_state) {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        Ok(())
    }

    /// An explicit TDVPR operand and its (implicit) TD.
    fn explicit_tdvpr(&self, hpa: u64, operand: Operand) -> Result<(u64, u64), Status> {
        let entry = self
            .memory
            .check_private_page(hpa, operand, PageType::Tdvpr)?;
        Ok((hpa, entry.owner))
    }

    fn take_page(&mut self, page: u64, page_type: PageType, owner: u64) {
        self.memory.set_pamt(
            page,
            PamtEntry {
                page_type,
                owner,
                bepoch: 0,
            },
        );
    }

    fn mng_create(&mut self, regs: &mut Registers) -> LeafResult {
        if regs.rdx >> 16 != 0 || !self.is_private_hkid(regs.rdx as u16) {
            return Err(invalid(Operand::RDX));
        }
        let hkid = regs.rdx as u16;
        let tdr = regs.rcx;
        self.memory
            .check_private_page(tdr, Operand::RCX, PageType::Nda)?;
        if self.kot.contains_key(&hkid) {
            return Err(StatusCode::HkidNotFree.status());
        }
        self.kot.insert(hkid, KotState::Assigned);
        // The TDR is initialized with the module's global private key.
        self.memory
            .fill_page(tdr, Key::Private(self.platform.global_hkid));
        self.take_page(tdr, PageType::Tdr, 0);
        let uuid = self.next_uuid();
        self.tds.insert(tdr, Td::new(hkid, uuid));
        SUCCESS
    }

    fn next_uuid(&mut self) -> [u64; 4] {
        self.uuid_counter += 1;
        let digest = super::mrtd::sha384(&[&self.secret, &self.uuid_counter.to_le_bytes()]);
        core::array::from_fn(|i| {
            u64::from_le_bytes(digest[8 * i..8 * i + 8].try_into().expect("8 bytes"))
        })
    }

    fn mng_key_config(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        let td = self.tds.get_mut(&tdr).expect("a TDR page has a TD");
        if td.fatal {
            return Err(StatusCode::TdFatal.status());
        }
        if td.lifecycle != Lifecycle::HkidAssigned {
            return Err(StatusCode::LifecycleStateIncorrect.status());
        }
        // One package: configuring it configures the TD's key everywhere.
        td.lifecycle = Lifecycle::KeysConfigured;
        SUCCESS
    }

    fn mng_addcx(&mut self, regs: &mut Registers) -> LeafResult {
        const MAX_TDCS_PAGES: usize = 9;
        let tdr = self.explicit_tdr(regs.rdx, Operand::RDX)?;
        let td = &self.tds[&tdr];
        if td.fatal {
            return Err(StatusCode::TdFatal.status());
        }
        if td.lifecycle != Lifecycle::KeysConfigured {
            return Err(StatusCode::TdKeysNotConfigured.status());
        }
        let index = td.tdcx.len();
        if index >= MAX_TDCS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let page = regs.rcx;
        self.memory
            .check_private_page(page, Operand::RCX, PageType::Nda)?;
        if index + 1 > TDCS_PAGES && !allowed_in(Leaf::TdhMngAddcx, td.op_state) {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        self.memory.fill_page(page, Key::Private(td.hkid));
        self.take_page(page, PageType::Tdcx, tdr);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.tdcx.push(page);
        td.chldcnt += 1;
        SUCCESS
    }

    fn mng_init(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdr_operand, params_hpa) = (regs.rcx, regs.rdx);
        regs.rcx = 0;
        let tdr = self.explicit_tdr(tdr_operand, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMngInit)?;
        if !self
            .memory
            .check_shared(params_hpa, crate::abi::td_params::TdParams::ALIGN)
        {
            return Err(invalid(Operand::RDX));
        }
        let mut params = [0u8; 1024];
        self.memory.host_read(params_hpa, &mut params);
        let config = parse_td_params(&params, self.cpuid).map_err(|(status, cpuid_leaf)| {
            regs.rcx = cpuid_leaf;
            status
        })?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.config = config;
        td.measurement = MrtdBuilder::new();
        td.rtmr = [[0; 48]; 4];
        td.op_state = OpState::Initialized;
        SUCCESS
    }

    fn mng_rd(&mut self, regs: &mut Registers, version: u8) -> LeafResult {
        let id = regs.rdx;
        regs.r8 = 0;
        if version > 0 {
            regs.rdx = FieldId::NA.raw();
        }
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMngRd)?;
        let td = &self.tds[&tdr];
        if FieldId::from_raw(id).is_null() {
            regs.rdx = metadata::first_field(metadata::TD_FIELDS, Accessor::Host);
            return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
        }
        if let Some(value) = super::cpuid::read_values(self.cpuid, &td.config.cpuid, id) {
            regs.r8 = value?;
            return SUCCESS;
        }
        let read = metadata::read(metadata::TD_FIELDS, id, Accessor::Host, |get, i| get(td, i))?;
        regs.r8 = read.value;
        if version > 0 {
            regs.rdx = read.next;
        }
        SUCCESS
    }

    fn mng_wr(&mut self, regs: &mut Registers) -> LeafResult {
        let (value, mask) = (regs.r8, regs.r9);
        regs.r8 = 0;
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMngWr)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        let (key, new, old) = metadata::write(
            metadata::TD_FIELDS,
            regs.rdx,
            Accessor::Host,
            value,
            mask,
            |get, i| get(td, i),
        )?;
        td.stored.insert(key, new);
        regs.r8 = old;
        SUCCESS
    }

    fn mng_vpflushdone(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        if !matches!(
            td.lifecycle,
            Lifecycle::KeysConfigured | Lifecycle::HkidAssigned
        ) {
            return Err(StatusCode::LifecycleStateIncorrect.status());
        }
        if td.tdcx.len() >= TDCS_PAGES
            && td.op_state != OpState::Uninitialized
            && td.num_assoc_vcpus != 0
        {
            return Err(StatusCode::FlushvpNotDone.status());
        }
        td.lifecycle = Lifecycle::Blocked;
        self.kot.insert(
            td.hkid,
            KotState::Flushed {
                written_back: false,
            },
        );
        // No vCPU of this TD can ever run again: release guest threads still waiting.
        for vcpu in self.vcpus.values_mut().filter(|vcpu| vcpu.tdr == tdr) {
            vcpu.bridge.gone = true;
        }
        SUCCESS
    }

    fn mng_key_freeid(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        if td.lifecycle != Lifecycle::Blocked {
            return Err(StatusCode::LifecycleStateIncorrect.status());
        }
        if self.kot.get(&td.hkid) != Some(&KotState::Flushed { written_back: true }) {
            return Err(StatusCode::WbcacheNotComplete.status());
        }
        self.kot.remove(&td.hkid);
        td.lifecycle = Lifecycle::Teardown;
        SUCCESS
    }

    // ---------------------------------------------------------------- vCPU

    fn vp_create(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rdx, Operand::RDX)?;
        self.td_state(tdr, Leaf::TdhVpCreate)?;
        let tdvpr = regs.rcx;
        self.memory
            .check_private_page(tdvpr, Operand::RCX, PageType::Nda)?;
        let key = Key::Private(self.tds[&tdr].hkid);
        self.memory.fill_page(tdvpr, key);
        self.take_page(tdvpr, PageType::Tdvpr, tdr);
        self.tds.get_mut(&tdr).expect("TD").chldcnt += 1;
        self.vcpu_serial += 1;
        self.vcpus.insert(
            tdvpr,
            Vcpu {
                serial: self.vcpu_serial,
                tdr,
                tdvps_pages: std::vec![tdvpr],
                state: VcpuState::Uninitialized,
                index: u32::MAX,
                assoc_lp: None,
                initial_rcx: 0,
                last_exit: LastExit::Async,
                stored: Default::default(),
                bridge: Bridge::default(),
            },
        );
        SUCCESS
    }

    fn vp_addcx(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rdx, Operand::RDX)?;
        self.td_state(tdr, Leaf::TdhVpAddcx)?;
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.state != VcpuState::Uninitialized {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        if vcpu.tdvps_pages.len() >= MAX_TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let page = regs.rcx;
        self.memory
            .check_private_page(page, Operand::RCX, PageType::Nda)?;
        let key = Key::Private(self.tds[&tdr].hkid);
        self.memory.fill_page(page, key);
        self.take_page(page, PageType::Tdcx, tdr);
        self.vcpus
            .get_mut(&tdvpr)
            .expect("vCPU")
            .tdvps_pages
            .push(page);
        self.tds.get_mut(&tdr).expect("TD").chldcnt += 1;
        SUCCESS
    }

    fn vp_init(&mut self, lp: u32, regs: &mut Registers, version: u8) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpInit)?;
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        if vcpu.state != VcpuState::Uninitialized {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        let td = self.tds.get_mut(&tdr).expect("TD");
        let x2apic_id = if version > 0 {
            if regs.r8 >> 32 != 0 {
                return Err(invalid(Operand::R8));
            }
            let id = regs.r8 as u32;
            if td.x2apic_ids.contains(&id) {
                return Err(StatusCode::X2apicIdNotUnique.with_details(id));
            }
            id
        } else {
            td.num_vcpus
        };
        if td.num_vcpus >= u32::from(td.config.max_vcpus) {
            return Err(StatusCode::MaxVcpusExceeded.status());
        }
        let index = td.num_vcpus;
        td.num_vcpus += 1;
        td.x2apic_ids.push(x2apic_id);
        // TDH.VP.INIT associates the vCPU with the LP it runs on.
        td.num_assoc_vcpus += 1;
        let vcpu = self.vcpus.get_mut(&tdvpr).expect("vCPU");
        vcpu.index = index;
        vcpu.initial_rcx = regs.rdx;
        vcpu.state = VcpuState::Ready;
        vcpu.assoc_lp = Some(lp);
        SUCCESS
    }

    /// TDH.VP.ENTER's checks before the vCPU runs; associates it with `lp`.
    fn vp_enter_checks(&mut self, lp: u32, rcx: u64) -> Result<u64, Status> {
        const HOST_RECOVERABILITY_HINT: u64 = 1 << 52;
        const RESUME_L1: u64 = 1 << 53;
        const TDVPR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
        if rcx & !(TDVPR_MASK | HOST_RECOVERABILITY_HINT | RESUME_L1) != 0 {
            return Err(invalid(Operand::RCX));
        }
        let (tdvpr, tdr) = self.explicit_tdvpr(rcx & TDVPR_MASK, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpEnter)?;
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        if vcpu.state != VcpuState::Ready {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        match vcpu.assoc_lp {
            Some(other) if other != lp => return Err(StatusCode::VcpuAssociated.status()),
            Some(_) => {}
            None => {
                self.tds.get_mut(&tdr).expect("TD").num_assoc_vcpus += 1;
                self.vcpus.get_mut(&tdvpr).expect("vCPU").assoc_lp = Some(lp);
            }
        }
        // The model's TD exits are never asynchronous traps, and it has no L2 VMs.
        if rcx & (HOST_RECOVERABILITY_HINT | RESUME_L1) != 0 {
            return Err(invalid(Operand::RCX));
        }
        Ok(tdvpr)
    }

    fn vp_flush(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        let td = &self.tds[&tdr];
        if td.lifecycle != Lifecycle::KeysConfigured {
            return Err(StatusCode::TdKeysNotConfigured.status());
        }
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        if vcpu.assoc_lp != Some(lp) {
            return Err(StatusCode::VcpuNotAssociated.status());
        }
        self.vcpus.get_mut(&tdvpr).expect("vCPU").assoc_lp = None;
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.num_assoc_vcpus = td.num_assoc_vcpus.saturating_sub(1);
        SUCCESS
    }

    fn vp_rd(&mut self, regs: &mut Registers, version: u8) -> LeafResult {
        let id = regs.rdx;
        regs.r8 = 0;
        if version > 0 {
            regs.rdx = FieldId::NA.raw();
        }
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpRd)?;
        if self.vcpus[&tdvpr].tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let (td, vcpu) = (&self.tds[&tdr], &self.vcpus[&tdvpr]);
        if FieldId::from_raw(id).is_null() {
            regs.rdx = metadata::first_field(metadata::VP_FIELDS, Accessor::Host);
            return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
        }
        let read = metadata::read(metadata::VP_FIELDS, id, Accessor::Host, |get, i| {
            get(td, vcpu, i)
        })?;
        regs.r8 = read.value;
        if version > 0 {
            regs.rdx = read.next;
        }
        SUCCESS
    }

    fn vp_wr(&mut self, regs: &mut Registers) -> LeafResult {
        let (value, mask) = (regs.r8, regs.r9);
        regs.r8 = 0;
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhVpWr)?;
        if self.vcpus[&tdvpr].tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        let td = &self.tds[&tdr];
        let vcpu = self.vcpus.get_mut(&tdvpr).expect("vCPU");
        let (key, new, old) = metadata::write(
            metadata::VP_FIELDS,
            regs.rdx,
            Accessor::Host,
            value,
            mask,
            |get, i| get(td, vcpu, i),
        )?;
        vcpu.stored.insert(key, new);
        regs.r8 = old;
        SUCCESS
    }

    // ---------------------------------------------------------------- Secure EPT

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

    fn mem_sept_add(&mut self, regs: &mut Registers, version: u8) -> LeafResult {
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

    fn mem_sept_rd(&mut self, regs: &mut Registers) -> LeafResult {
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
    fn walk_or_fail(
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

    fn mem_page_add(&mut self, regs: &mut Registers) -> LeafResult {
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

    fn mem_page_aug(&mut self, regs: &mut Registers) -> LeafResult {
        // 2 MiB pages are not modelled: only level 0 is accepted.
        let (tdr, gpa, _) = self.mem_operands(regs, Leaf::TdhMemPageAug, 0, Some(0), 0)?;
        self.require_free_4k_leaf(regs, tdr, gpa)?;
        let page = regs.r8;
        self.memory
            .check_private_page(page, Operand::R8, PageType::Nda)?;
        self.map_4k_page(tdr, gpa, page, SeptState::Pending);
        SUCCESS
    }

    fn mem_range_block(&mut self, regs: &mut Registers) -> LeafResult {
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

    fn mem_range_unblock(&mut self, regs: &mut Registers) -> LeafResult {
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

    fn mem_track(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMemTrack)?;
        self.tds.get_mut(&tdr).expect("TD").td_epoch += 1;
        SUCCESS
    }

    fn mem_page_remove(&mut self, regs: &mut Registers) -> LeafResult {
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

    // ---------------------------------------------------------------- measurement

    fn mr_extend(&mut self, regs: &mut Registers) -> LeafResult {
        let (gpa, tdr_operand) = (regs.rcx, regs.rdx);
        regs.rcx = 0;
        regs.rdx = 0;
        let tdr = self.explicit_tdr(tdr_operand, Operand::RDX)?;
        self.td_state(tdr, Leaf::TdhMrExtend)?;
        if gpa % super::mrtd::MR_EXTEND_CHUNK as u64 != 0 || !private_gpa(&self.tds[&tdr], gpa) {
            return Err(invalid(Operand::RCX));
        }
        let not_present = StatusCode::EptEntryNotPresent.with_operand(Operand::RCX);
        let page_gpa = gpa & !(PAGE_SIZE - 1);
        let entry = self.walk_or_fail(regs, tdr, page_gpa, 0, not_present)?;
        let Some(septe) = entry.filter(|e| e.state == SeptState::Mapped) else {
            return Err(fail_with_details(
                regs,
                StatusCode::EptEntryNotPresent.status(),
                entry,
                0,
            ));
        };
        let mut chunk = [0u8; super::mrtd::MR_EXTEND_CHUNK];
        let hkid = self.tds[&tdr].hkid;
        if self
            .memory
            .td_read(hkid, septe.hpa + (gpa - page_gpa), &mut chunk)
            .is_err()
        {
            // The chunk failed its integrity check (the host wrote there with its key).
            self.machine_check(tdr);
            return Err(StatusCode::TdFatal.status());
        }
        self.tds
            .get_mut(&tdr)
            .expect("TD")
            .measurement
            .mr_extend(gpa, &chunk);
        SUCCESS
    }

    fn mr_finalize(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.explicit_tdr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhMrFinalize)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        if td.num_vcpus == 0 {
            return Err(StatusCode::NoVcpus.status());
        }
        td.mrtd = td.measurement.finish();
        td.op_state = OpState::Runnable;
        SUCCESS
    }

    // ---------------------------------------------------------------- physical memory

    /// The page operand of RDMD and RECLAIM: aligned, below MAX_PA, inside a TDMR.
    fn physical_page(&self, hpa: u64) -> Result<PamtEntry, Status> {
        if hpa % PAGE_SIZE != 0 || hpa >> super::memory::MAX_PA_BITS != 0 {
            return Err(invalid(Operand::RCX));
        }
        self.memory
            .pamt_entry(hpa)
            .ok_or(StatusCode::OperandAddrRangeError.with_operand(Operand::RCX))
    }

    fn phymem_page_rdmd(&mut self, regs: &mut Registers) -> LeafResult {
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

    fn phymem_page_reclaim(&mut self, regs: &mut Registers) -> LeafResult {
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
        SUCCESS
    }

    fn phymem_cache_wb(&mut self, regs: &mut Registers) -> LeafResult {
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

/// Parses and checks TD_PARAMS as TDH.MNG.INIT does (`read_and_set_td_configurations`,
/// `read_and_set_cpuid_configurations`). An error carries the status and the value of RCX
/// (the CPUID leaf/subleaf for a CPUID_CONFIG error, else 0).
fn parse_td_params(
    p: &[u8; 1024],
    cpuid_table: &'static crate::cpuid::CpuidTable,
) -> Result<TdConfig, (Status, u64)> {
    let u64_at = |offset: usize| u64::from_le_bytes(p[offset..offset + 8].try_into().expect("8"));
    let u16_at = |offset: usize| u16::from_le_bytes([p[offset], p[offset + 1]]);
    let zero = |range: core::ops::Range<usize>| p[range].iter().all(|&b| b == 0);
    let measurement =
        |offset: usize| -> [u8; 48] { p[offset..offset + 48].try_into().expect("48") };
    let fail = |operand: Operand| Err((invalid(operand), 0));

    let attributes = u64_at(0);
    if !within_fixed(attributes, ATTRIBUTES_FIXED0, ATTRIBUTES_FIXED1) {
        return fail(Operand::ATTRIBUTES);
    }
    let xfam = u64_at(8);
    if !xfam_valid(xfam) {
        return fail(Operand::XFAM);
    }
    let max_vcpus = u16_at(16);
    if max_vcpus == 0 {
        return fail(Operand::MAX_VCPUS);
    }
    // TD partitioning is not enumerated (TDX_FEATURES0 bit 7 clear): no L2 VMs.
    if p[18] != 0 {
        return fail(Operand::NUM_L2_VMS);
    }
    if !zero(20..24) {
        return fail(Operand::RDX);
    }
    let config_flags = u64_at(32);
    if !within_fixed(config_flags, CONFIG_FLAGS_FIXED0, CONFIG_FLAGS_FIXED1) {
        return fail(Operand::EXEC_CONTROLS);
    }
    let gpaw = config_flags & crate::abi::ConfigFlags::GPAW.bits() != 0;
    // EPTP_CONTROLS: memory type WB (6), page-walk length 4 (GPAW 48) or 5 (GPAW 52).
    let eptp = u64_at(24);
    let walk_minus_one = (eptp >> 3) & 7;
    if eptp & !0x3F != 0 || eptp & 7 != 6 || walk_minus_one != if gpaw { 4 } else { 3 } {
        return fail(Operand::EPTP_CONTROLS);
    }
    let tsc_frequency = u16_at(40);
    if !(TSC_FREQUENCY_RANGE.0..=TSC_FREQUENCY_RANGE.1).contains(&tsc_frequency) {
        return fail(Operand::TSC_FREQUENCY);
    }
    if !zero(42..80) {
        return fail(Operand::RDX);
    }
    if p[19] & !1 != 0 {
        return fail(Operand::RDX);
    }
    if !zero(232..256) {
        return fail(Operand::RDX);
    }
    let cpuid = super::cpuid::mng_init(cpuid_table, p)?;
    // IA32_ARCH_CAPABILITIES_CONFIG: the model's mask of configurable bits is empty.
    if p[19] & 1 != 0 && u64_at(224) != 0 {
        return fail(Operand::IA32_ARCH_CAPABILITIES_CONFIG);
    }
    Ok(TdConfig {
        attributes,
        xfam,
        max_vcpus,
        gpaw,
        eptp,
        config_flags,
        tsc_frequency,
        mr_config_id: measurement(80),
        mr_owner: measurement(128),
        mr_owner_config: measurement(176),
        cpuid,
    })
}

/// Whether `value` sets only bits of `fixed0` and every bit of `fixed1`.
fn within_fixed(value: u64, fixed0: u64, fixed1: u64) -> bool {
    value & !fixed0 == 0 && value & fixed1 == fixed1
}

/// `check_xfam`: inside FIXED0/FIXED1, and the component groups that go together do.
fn xfam_valid(xfam: u64) -> bool {
    use crate::abi::Xfam;
    let has = |bits: Xfam| xfam & bits.bits() == bits.bits();
    let any = |bits: Xfam| xfam & bits.bits() != 0;
    let avx512 = Xfam::AVX512_OPMASK | Xfam::AVX512_ZMM_HI256 | Xfam::AVX512_HI16_ZMM;
    let cet = Xfam::CET_U | Xfam::CET_S;
    let amx = Xfam::AMX_TILECFG | Xfam::AMX_TILEDATA;
    within_fixed(xfam, XFAM_FIXED0, XFAM_FIXED1)
        && (!any(Xfam::AVX) || has(Xfam::SSE))
        && (!any(avx512) || (has(avx512) && has(Xfam::AVX)))
        && (!any(cet) || has(cet))
        && (!any(amx) || has(amx))
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

    #[test]
    fn reserved_areas_and_the_usable_gaps_between_them() {
        let mut input = TdmrInput {
            base: 1 << 32,
            size: 1 << 30,
            reserved: [(0, 0); crate::abi::sysinfo::TDMR_MAX_RESERVED_AREAS],
            pamt: [(0, 0); 3],
        };
        input.reserved[0] = (0, 0x1000);
        input.reserved[1] = (0x3000, 0x2000);
        let areas = check_reserved_areas(&input, 7).unwrap();
        let tdmr = Tdmr {
            base: input.base,
            size: input.size,
            reserved: areas,
            pamt: input.pamt,
            initialized: 0,
        };
        let gaps: Vec<_> = available_areas(&tdmr).collect();
        assert_eq!(
            gaps,
            [
                ((1 << 32) + 0x1000, 0x2000),
                ((1 << 32) + 0x5000, (1 << 30) - 0x5000)
            ]
        );
        // Overlapping areas, then one past the TDMR's end: TDMR 7, area 1.
        input.reserved[1] = (0x800, 0x1000);
        assert_eq!(
            check_reserved_areas(&input, 7),
            Err(StatusCode::NonOrderedReservedInTdmr.with_details(7 | 1 << 8))
        );
        input.reserved[1] = (1 << 30, 0x1000);
        assert_eq!(
            check_reserved_areas(&input, 7),
            Err(StatusCode::InvalidReservedInTdmr.with_details(7 | 1 << 8))
        );
        input.reserved[1] = (!0xFFF, 0x1000);
        assert_eq!(
            check_reserved_areas(&input, 7),
            Err(StatusCode::InvalidReservedInTdmr.with_details(7 | 1 << 8)),
            "offset + size wraps to 0"
        );
    }

    #[test]
    fn xfam_groups() {
        assert!(xfam_valid(0x3));
        assert!(xfam_valid(0x7));
        assert!(xfam_valid(0xE7));
        assert!(!xfam_valid(0x1), "SSE is fixed to 1");
        assert!(!xfam_valid(0x27), "AVX-512 components come together");
        assert!(!xfam_valid(0x3 | 1 << 10), "bit 10 is outside XFAM_FIXED0");
    }
}
