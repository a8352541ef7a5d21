//! The platform: TDH.SYS.INIT, TDH.SYS.LP.INIT, TDH.SYS.CONFIG (TDMR checks),
//! TDH.SYS.KEY.CONFIG, TDH.SYS.TDMR.INIT.

use super::*;

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
    pub(super) fn sys_init(&mut self, regs: &mut Registers) -> LeafResult {
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

    pub(super) fn sys_lp_init(&mut self, lp: u32, regs: &mut Registers) -> LeafResult {
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

    /// TDH.SYS.CONFIG; version 1 (2.0.18) reads R8 as `sys_config_options_t`: the HKID in
    /// bits 15:0, bit 16 enables Dynamic PAMT, the rest reserved (OPERAND_INVALID(R8)). R9
    /// and R10 of version 1 are ignored (their meaning was not read).
    pub(super) fn sys_config(&mut self, regs: &mut Registers, version: u8) -> LeafResult {
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
        let dynamic_pamt = version > 0 && regs.r8 & (1 << 16) != 0;
        let options = if version > 0 {
            regs.r8 & !(1 << 16)
        } else {
            regs.r8
        };
        let hkid = options & 0xFFFF;
        if options >> 16 != 0 || !self.is_private_hkid(hkid as u16) {
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
        if dynamic_pamt {
            self.enable_dynamic_pamt();
        }
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
        let below_max_pa = |address: u64| address >> crate::module::memory::MAX_PA_BITS == 0;
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

    pub(super) fn sys_key_config(&mut self) -> LeafResult {
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

    pub(super) fn sys_tdmr_init(&mut self, regs: &mut Registers) -> LeafResult {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
