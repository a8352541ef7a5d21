//! TDH.EXPORT.*: the source side of a migration.
//!
//! The op-state machine: STATE.IMMUTABLE starts a session (RUNNABLE → LIVE_EXPORT);
//! BLOCKW, MEM, TRACK (in-order epochs) and UNBLOCKW run while the TD runs; PAUSE stops
//! its vCPUs (PAUSED_EXPORT); STATE.TD, then STATE.VP per vCPU; TRACK with the resume
//! command bit exports the start token, which needs every vCPU exported and no dirty page
//! left (TDX_EXPORTED_DIRTY_PAGES_REMAIN), and ends the in-order phase (POST_EXPORT).
//! ABORT returns to RUNNABLE (in POST_EXPORT only with the destination's abort token);
//! RESTORE then returns each exported page to its normal state, and a new session refuses
//! to start while any remain (TDX_PREVIOUS_EXPORT_CLEANUP_INCOMPLETE).
//!
//! Pages: BLOCKW write-blocks a mapped page; MEM (operation MIGRATE) exports a blocked,
//! not yet exported page; a guest write to an exported page is refused until the VMM
//! runs UNBLOCKW, which makes it dirty; BLOCKW again and MEM with REMIGRATE export it once
//! more. Once the TD is paused, MEM exports a dirty (or never exported) page without
//! BLOCKW: nothing can write it. TLB tracking between BLOCKW and MEM (TDH.MEM.TRACK) is not
//! checked by the model.

use super::mig::{mb_type, MigStats, PageMig, Record, OUT_OF_ORDER_EPOCH};
use super::{invalid, LeafResult, SUCCESS};
use crate::abi::td_params::CpuidValues;
use crate::abi::Attributes;
use crate::emu::Registers;
use crate::leaf::Leaf;
use crate::module::state::*;
use crate::module::PAGE_SIZE;
use crate::status::{Operand, Status, StatusCode};
use std::vec::Vec;

/// A decoded GPA_LIST_INFO (RCX).
pub(super) struct GpaList {
    pub list: u64,
    pub first: usize,
    pub last: usize,
}

/// GPA-list entry statuses (`gpa_list_entry_status_t`, the values the model uses).
pub(super) mod entry_status {
    pub const SUCCESS: u64 = 0;
    pub const SKIPPED: u64 = 1;
    pub const SEPT_WALK_FAILED: u64 = 2;
    pub const ENTRY_STATE_INCORRECT: u64 = 3;
    pub const ENTRY_INVALID: u64 = 15;
}

/// An entry's bits the MACs cover: everything but the status (60:56).
pub(super) const ENTRY_MAC_MASK: u64 = !(0x1F << 56);

impl GpaList {
    /// The RCX value after the list was processed up to (not including) `next`.
    pub fn advanced(&self, raw: u64, next: usize) -> u64 {
        (raw & !(0x1FF << 3)) | (((next.min(511)) as u64) << 3)
    }
}

impl State {
    /// Decodes and checks a GPA_LIST_INFO.
    pub(super) fn gpa_list(&self, raw: u64) -> Result<GpaList, Status> {
        let list = GpaList {
            list: raw & 0x000F_FFFF_FFFF_F000,
            first: ((raw >> 3) & 0x1FF) as usize,
            last: (raw >> 55) as usize,
        };
        if raw & 7 != 0
            || raw & (7 << 52) != 0
            || list.first > list.last
            || !self.memory.check_shared(list.list, PAGE_SIZE)
        {
            return Err(invalid(Operand::RCX));
        }
        Ok(list)
    }

    pub(super) fn mapped_page(td: &Td, gpa: u64) -> Option<u64> {
        match super::walk(td, gpa, 0) {
            super::Walk::Reached(Some(Septe {
                state: SeptState::Mapped,
                hpa,
            })) => Some(hpa),
            _ => None,
        }
    }

    /// Writes back one entry with its status.
    fn set_entry(&mut self, list: &GpaList, i: usize, entry: u64, status: u64) {
        let value = (entry & ENTRY_MAC_MASK) | (status << 56);
        self.memory
            .host_write(list.list + 8 * i as u64, &value.to_le_bytes());
    }

    /// TDH.EXPORT.STATE.IMMUTABLE: starts the session.
    pub(super) fn export_state_immutable(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhExportStateImmutable)?;
        let mbmd = self.mbmd_out(regs.r8)?;
        let pages = self.page_list(regs.r9)?;
        let (index, resume) = self.stream_operand(tdr, regs.r10)?;
        if resume {
            return Err(StatusCode::InvalidResumption.status());
        }
        let td = &self.tds[&tdr];
        if td.config.attributes & Attributes::MIGRATABLE.bits() == 0 {
            return Err(StatusCode::TdNotMigratable.status());
        }
        if td.mig.binding.and_then(|b| b.servtd).is_none() {
            return Err(StatusCode::ServtdNotBound.status());
        }
        if !td.mig.pages.is_empty() {
            return Err(StatusCode::PreviousExportCleanupIncomplete.status());
        }
        if !td.mig.enc_key_set {
            // UNVERIFIED: the status for a session with no key written.
            return Err(StatusCode::KeyStateIncorrect.status());
        }
        let key = super::mig::MigTd::key_bytes(&td.mig.enc_key);
        let record = immutable_record(td);
        self.start_session(tdr, key);
        let crypto = self.session(tdr)?;
        let written =
            match self.seal_state(tdr, index, mb_type::IMMUTABLE, 0, &record, &pages, &crypto) {
                Ok((n, sealed)) => {
                    self.memory.host_write(mbmd, &sealed.to_bytes());
                    n
                }
                Err(status) => {
                    self.tds.get_mut(&tdr).expect("TD").mig.working_key = None;
                    return Err(status);
                }
            };
        self.tds.get_mut(&tdr).expect("TD").op_state = OpState::LiveExport;
        regs.rdx = written;
        SUCCESS
    }

    /// TDH.EXPORT.BLOCKW: RCX GPA list, RDX TDR.
    pub(super) fn export_blockw(&mut self, regs: &mut Registers) -> LeafResult {
        let list = self.gpa_list(regs.rcx)?;
        let tdr = self.mig_td(regs.rdx, Operand::RDX, Leaf::TdhExportBlockw)?;
        let (mut problems, mut already) = (0u32, false);
        for i in list.first..=list.last {
            let entry = self.memory.host_read_u64(list.list + 8 * i as u64);
            let gpa = entry & 0x000F_FFFF_FFFF_F000;
            let td = &self.tds[&tdr];
            let status = if entry & 3 != 0 || (entry >> 10) & 3 != 0 {
                entry_status::ENTRY_INVALID
            } else if (entry >> 52) & 3 == 0 {
                entry_status::SKIPPED
            } else if State::mapped_page(td, gpa).is_none() {
                entry_status::SEPT_WALK_FAILED
            } else {
                let pages = &mut self.tds.get_mut(&tdr).expect("TD").mig.pages;
                match pages.get(&gpa).copied() {
                    None => {
                        pages.insert(gpa, PageMig::BlockedW);
                    }
                    Some(PageMig::Dirty) => {
                        pages.insert(gpa, PageMig::DirtyBlockedW);
                    }
                    Some(_) => already = true,
                }
                entry_status::SUCCESS
            };
            if status != entry_status::SUCCESS && status != entry_status::SKIPPED {
                problems += 1;
            }
            self.set_entry(&list, i, entry, status);
        }
        regs.rcx = list.advanced(regs.rcx, list.last + 1);
        let base = if already {
            StatusCode::AlreadyWriteBlocked.status()
        } else {
            Status::SUCCESS
        };
        Ok(Status::from_raw(base.raw() | u64::from(problems)))
    }

    /// TDH.EXPORT.UNBLOCKW: RCX page_info (level 0), RDX TDR.
    pub(super) fn export_unblockw(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rdx, Operand::RDX, Leaf::TdhExportUnblockw)?;
        if regs.rcx & 0xFFF != 0 || regs.rcx >> 52 != 0 {
            return Err(invalid(Operand::RCX));
        }
        let gpa = regs.rcx;
        let live = self.tds[&tdr].op_state == OpState::LiveExport;
        let pages = &mut self.tds.get_mut(&tdr).expect("TD").mig.pages;
        match pages.get(&gpa).copied() {
            Some(PageMig::BlockedW) => {
                pages.remove(&gpa);
            }
            Some(PageMig::Exported) if live => {
                pages.insert(gpa, PageMig::Dirty);
            }
            Some(PageMig::Exported) => {
                // Outside the live phase an exported page is not dirtied: it stays blocked.
                return Err(StatusCode::OpStateIncorrect.status());
            }
            Some(PageMig::DirtyBlockedW) => {
                pages.insert(gpa, PageMig::Dirty);
            }
            Some(PageMig::Dirty) | None => {
                return Err(StatusCode::NotWriteBlocked.with_operand(Operand::RCX))
            }
        }
        SUCCESS
    }

    /// TDH.EXPORT.MEM: RCX GPA list, RDX TDR, R8 MBMD, R9 buffer list, R10 stream, R11/R12
    /// MAC lists.
    pub(super) fn export_mem(&mut self, regs: &mut Registers) -> LeafResult {
        let list = self.gpa_list(regs.rcx)?;
        let tdr = self.mig_td(regs.rdx, Operand::RDX, Leaf::TdhExportMem)?;
        let mbmd_hpa = self.mbmd_out(regs.r8)?;
        if !self.memory.check_shared(regs.r9, PAGE_SIZE) {
            return Err(invalid(Operand::R9));
        }
        let (index, resume) = self.stream_operand(tdr, regs.r10)?;
        if resume {
            return Err(StatusCode::InvalidResumption.status());
        }
        if !self.memory.check_shared(regs.r11, PAGE_SIZE) {
            return Err(invalid(Operand::R11));
        }
        if !self.memory.check_shared(regs.r12, PAGE_SIZE) {
            return Err(invalid(Operand::R12));
        }
        let crypto = self.session(tdr)?;
        let counter = self.tds[&tdr].mig.streams[index].iv_counter + 1;
        let hkid = self.tds[&tdr].hkid;
        // Once the TD is paused nothing writes its memory: pages need no write block.
        let paused = self.tds[&tdr].op_state != OpState::LiveExport;
        let (mut problems, mut covered) = (0u32, Vec::new());
        let mut stats = MigStats::default();
        for i in list.first..=list.last {
            let entry = self.memory.host_read_u64(list.list + 8 * i as u64);
            let gpa = entry & 0x000F_FFFF_FFFF_F000;
            let op = (entry >> 52) & 3;
            let td = &self.tds[&tdr];
            let state = td.mig.pages.get(&gpa).copied();
            let status = if entry & 3 != 0 || (entry >> 10) & 3 != 0 {
                entry_status::ENTRY_INVALID
            } else if op == 0 {
                entry_status::SKIPPED
            } else if State::mapped_page(td, gpa).is_none() {
                entry_status::SEPT_WALK_FAILED
            } else if !exportable(op, state, paused) {
                entry_status::ENTRY_STATE_INCORRECT
            } else {
                let hpa = State::mapped_page(td, gpa).expect("mapped");
                let mut page = std::vec![0u8; PAGE_SIZE as usize];
                if self.memory.td_read(hkid, hpa, &mut page).is_err() {
                    self.machine_check(tdr);
                    return Err(StatusCode::TdFatal.status());
                }
                let aad = (entry & ENTRY_MAC_MASK).to_le_bytes();
                let tag = crypto.seal(counter, index as u16, 1 + i as u16, &aad, &mut page);
                let buffer = self.memory.host_read_u64(regs.r9 + 8 * i as u64);
                if !self.memory.check_shared(buffer, PAGE_SIZE) {
                    return Err(invalid(Operand::R9));
                }
                self.memory.host_write(buffer, &page);
                let mac_list = if i < 256 { regs.r11 } else { regs.r12 };
                self.memory
                    .host_write(mac_list + 16 * (i % 256) as u64, &tag);
                self.tds
                    .get_mut(&tdr)
                    .expect("TD")
                    .mig
                    .pages
                    .insert(gpa, PageMig::Exported);
                if op == 1 {
                    stats.pages += 1;
                } else {
                    stats.re_exported += 1;
                }
                entry_status::SUCCESS
            };
            if status != entry_status::SUCCESS && status != entry_status::SKIPPED {
                problems += 1;
            }
            covered.extend_from_slice(&(entry & ENTRY_MAC_MASK).to_le_bytes());
            self.set_entry(&list, i, entry, status);
        }
        let count = (list.last - list.first + 1) as u16;
        let mbmd = self.seal_mbmd(
            tdr,
            index,
            mb_type::MEM,
            count,
            list.first as u32,
            &covered,
            &crypto,
        );
        self.memory.host_write(mbmd_hpa, &mbmd.to_bytes());
        let mig = &mut self.tds.get_mut(&tdr).expect("TD").mig;
        mig.stats.pages += stats.pages;
        mig.stats.re_exported += stats.re_exported;
        regs.rcx = list.advanced(regs.rcx, list.last + 1);
        regs.rdx = count.into();
        Ok(Status::from_raw(u64::from(problems)))
    }

    /// TDH.EXPORT.PAUSE: RCX TDR.
    pub(super) fn export_pause(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhExportPause)?;
        let running = self
            .vcpus
            .values()
            .any(|v| v.tdr == tdr && v.bridge.inside.is_some());
        if running {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        self.tds.get_mut(&tdr).expect("TD").op_state = OpState::PausedExport;
        SUCCESS
    }

    /// TDH.EXPORT.TRACK: RCX TDR, R8 MBMD, R10 stream 0 and command (resume = start token).
    pub(super) fn export_track(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhExportTrack)?;
        let mbmd_hpa = self.mbmd_out(regs.r8)?;
        if regs.r10 & 0x7FFF_FFFF_FFFF_FFFF != 0 {
            return Err(invalid(Operand::R10));
        }
        let start = regs.r10 >> 63 != 0;
        let crypto = self.session(tdr)?;
        let td = &self.tds[&tdr];
        let new_epoch = if start {
            if td.op_state != OpState::PausedExport {
                return Err(StatusCode::OpStateIncorrect.status());
            }
            let vcpus = self.vcpus.values().filter(|v| v.tdr == tdr).count();
            if !td.mig.td_state_done || td.mig.vcpus_done.len() < vcpus {
                return Err(StatusCode::SomeVcpusNotMigrated.status());
            }
            if td.mig.dirty_count() != 0 {
                return Err(StatusCode::ExportedDirtyPagesRemain.status());
            }
            OUT_OF_ORDER_EPOCH
        } else {
            if td.mig.epoch >= OUT_OF_ORDER_EPOCH - 1 {
                return Err(StatusCode::MigrationEpochOverflow.status());
            }
            td.mig.epoch + 1
        };
        let mig = &mut self.tds.get_mut(&tdr).expect("TD").mig;
        mig.epoch = new_epoch;
        mig.stats.epochs += 1;
        let mbmd = self.seal_mbmd(tdr, 0, mb_type::EPOCH_TOKEN, 0, 0, &[], &crypto);
        self.memory.host_write(mbmd_hpa, &mbmd.to_bytes());
        let td = self.tds.get_mut(&tdr).expect("TD");
        for stream in &mut td.mig.streams {
            stream.next_mb_counter = 1;
        }
        if start {
            td.op_state = OpState::PostExport;
        }
        SUCCESS
    }

    /// TDH.EXPORT.STATE.TD: RCX TDR, R8 MBMD, R9 page list, R10 stream.
    pub(super) fn export_state_td(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhExportStateTd)?;
        let mbmd = self.mbmd_out(regs.r8)?;
        let pages = self.page_list(regs.r9)?;
        let (index, resume) = self.stream_operand(tdr, regs.r10)?;
        if resume {
            return Err(StatusCode::InvalidResumption.status());
        }
        if self.tds[&tdr].mig.td_state_done {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        let crypto = self.session(tdr)?;
        let record = td_record(&self.tds[&tdr]);
        let (written, sealed) =
            self.seal_state(tdr, index, mb_type::TD_STATE, 0, &record, &pages, &crypto)?;
        self.memory.host_write(mbmd, &sealed.to_bytes());
        self.tds.get_mut(&tdr).expect("TD").mig.td_state_done = true;
        regs.rdx = written;
        SUCCESS
    }

    /// TDH.EXPORT.STATE.VP: RCX TDVPR, R8 MBMD, R9 page list, R10 stream.
    pub(super) fn export_state_vp(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhExportStateVp)?;
        let mbmd = self.mbmd_out(regs.r8)?;
        let pages = self.page_list(regs.r9)?;
        let (index, resume) = self.stream_operand(tdr, regs.r10)?;
        if resume {
            return Err(StatusCode::InvalidResumption.status());
        }
        let td = &self.tds[&tdr];
        if !td.mig.td_state_done {
            return Err(StatusCode::OpStateIncorrect.status());
        }
        if td.mig.vcpus_done.contains(&tdvpr) {
            return Err(StatusCode::VcpuAlreadyExported.status());
        }
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.state != VcpuState::Ready {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        let crypto = self.session(tdr)?;
        let record = vcpu_record(td, vcpu);
        let vcpu_index = vcpu.index;
        let (written, sealed) = self.seal_state(
            tdr,
            index,
            mb_type::VP_STATE,
            vcpu_index,
            &record,
            &pages,
            &crypto,
        )?;
        self.memory.host_write(mbmd, &sealed.to_bytes());
        self.tds
            .get_mut(&tdr)
            .expect("TD")
            .mig
            .vcpus_done
            .insert(tdvpr);
        regs.rdx = written;
        SUCCESS
    }

    /// TDH.EXPORT.ABORT: RCX TDR, R8 MBMD (POST_EXPORT: the destination's abort token,
    /// read), R10 stream 0.
    pub(super) fn export_abort(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhExportAbort)?;
        if regs.r10 != 0 {
            return Err(invalid(Operand::R10));
        }
        if self.tds[&tdr].op_state == OpState::PostExport {
            let bytes = self.mbmd_in(regs.r8)?;
            let crypto = self.session(tdr)?;
            self.open_token(&bytes, mb_type::ABORT_TOKEN, &crypto)?;
        }
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.op_state = OpState::Runnable;
        td.mig.working_key = None;
        td.mig.epoch = 0;
        td.mig.vcpus_done.clear();
        td.mig.td_state_done = false;
        SUCCESS
    }

    /// TDH.EXPORT.RESTORE: RCX GPA list, RDX TDR: each listed page leaves its export state.
    pub(super) fn export_restore(&mut self, regs: &mut Registers) -> LeafResult {
        let list = self.gpa_list(regs.rcx)?;
        let tdr = self.mig_td(regs.rdx, Operand::RDX, Leaf::TdhExportRestore)?;
        let mut problems = 0u32;
        for i in list.first..=list.last {
            let entry = self.memory.host_read_u64(list.list + 8 * i as u64);
            let gpa = entry & 0x000F_FFFF_FFFF_F000;
            let removed = self
                .tds
                .get_mut(&tdr)
                .expect("TD")
                .mig
                .pages
                .remove(&gpa)
                .is_some();
            let status = if (entry >> 52) & 3 == 0 {
                entry_status::SKIPPED
            } else if removed {
                entry_status::SUCCESS
            } else {
                problems += 1;
                entry_status::ENTRY_STATE_INCORRECT
            };
            self.set_entry(&list, i, entry, status);
        }
        regs.rcx = list.advanced(regs.rcx, list.last + 1);
        Ok(Status::from_raw(u64::from(problems)))
    }

    /// Checks a token MBMD (epoch or abort) received on stream 0.
    pub(super) fn open_token(
        &self,
        bytes: &[u8; super::mig::MBMD_SIZE],
        kind: u8,
        crypto: &super::mig::Crypto,
    ) -> Result<super::mig::Mbmd, Status> {
        let mbmd = super::mig::Mbmd::from_bytes(bytes).ok_or(StatusCode::InvalidMbmd.status())?;
        if mbmd.mb_type != kind || mbmd.migs_index != 0 {
            return Err(StatusCode::InvalidMbmd.status());
        }
        if crypto.mbmd_mac(&mbmd, &[]) != mbmd.mac {
            return Err(StatusCode::IncorrectMbmdMac.status());
        }
        Ok(mbmd)
    }
}

/// Whether a page in export state `state` may be exported with operation `op` (1 MIGRATE,
/// 3 REMIGRATE): write-blocked first while the TD runs; once paused, without a block.
fn exportable(op: u64, state: Option<PageMig>, paused: bool) -> bool {
    match (op, state) {
        (1, Some(PageMig::BlockedW)) | (3, Some(PageMig::DirtyBlockedW)) => true,
        (1, None) | (3, Some(PageMig::Dirty)) => paused,
        _ => false,
    }
}

fn cpuid_bytes(values: &[CpuidValues]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 16);
    for v in values {
        for word in [v.eax, v.ebx, v.ecx, v.edx] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    out
}

/// The immutable TD state: what TDH.MNG.INIT took and the measurement (MRTD).
fn immutable_record(td: &Td) -> Vec<u8> {
    let c = &td.config;
    let mut r = Record::default();
    r.u64(c.attributes)
        .u64(c.xfam)
        .u64(c.max_vcpus.into())
        .u64(c.gpaw.into())
        .u64(c.eptp)
        .u64(c.config_flags)
        .u64(c.tsc_frequency.into())
        .bytes(&c.mr_config_id)
        .bytes(&c.mr_owner)
        .bytes(&c.mr_owner_config)
        .bytes(&cpuid_bytes(&c.cpuid))
        .bytes(&td.mrtd)
        .u64(td.num_vcpus.into());
    r.0
}

/// The mutable TD-scope state: RTMRs and the writable metadata.
fn td_record(td: &Td) -> Vec<u8> {
    let mut r = Record::default();
    for rtmr in &td.rtmr {
        r.bytes(rtmr);
    }
    stored_pairs(&mut r, &td.stored);
    r.0
}

/// The vCPU state: index, x2APIC ID, initial RCX, writable metadata.
fn vcpu_record(td: &Td, vcpu: &Vcpu) -> Vec<u8> {
    let mut r = Record::default();
    let x2apic = td
        .x2apic_ids
        .get(vcpu.index as usize)
        .copied()
        .unwrap_or(vcpu.index);
    r.u64(vcpu.index.into())
        .u64(x2apic.into())
        .u64(vcpu.initial_rcx);
    stored_pairs(&mut r, &vcpu.stored);
    r.0
}

fn stored_pairs(r: &mut Record, stored: &crate::module::state::HashMap<u64, u64>) {
    let mut pairs: Vec<_> = stored.iter().map(|(&k, &v)| (k, v)).collect();
    pairs.sort_unstable();
    r.u64(pairs.len() as u64);
    for (k, v) in pairs {
        r.u64(k).u64(v);
    }
}

/// Reads the pairs [`stored_pairs`] wrote.
pub(super) fn read_pairs(
    reader: &mut super::mig::Reader<'_>,
) -> Option<crate::module::state::HashMap<u64, u64>> {
    let n = reader.u64()?;
    let mut out = crate::module::state::HashMap::default();
    for _ in 0..n.min(4096) {
        out.insert(reader.u64()?, reader.u64()?);
    }
    Some(out)
}
