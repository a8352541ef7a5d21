//! TDH.IMPORT.*: the destination side of a migration.
//!
//! The op-state machine: STATE.IMMUTABLE on a TD that has its TDCS but no MNG.INIT
//! (UNINITIALIZED) starts the session with the key the migration TD wrote (MIG_DEC_KEY)
//! and takes the TD's configuration and MRTD from the bundle (→ MEMORY_IMPORT); MEM and
//! TRACK (in-order epochs); STATE.TD (→ STATE_IMPORT); STATE.VP per vCPU, into vCPUs made
//! with TDH.VP.CREATE/ADDCX; TRACK with the start token (→ POST_IMPORT, needs every vCPU);
//! COMMIT (→ LIVE_IMPORT: the TD may run); END (→ RUNNABLE). ABORT, and any failed check
//! of a bundle in the in-order phase, leave the TD in FAILED_IMPORT, where it can never
//! run: only teardown remains.
//!
//! In the in-order phase every bundle's MB_COUNTER must be the stream's
//! EXPECTED_MB_COUNTER (a replayed, reordered or dropped bundle: TDX_INVALID_MBMD), its
//! epoch the current one, and its MAC must verify (TDX_INCORRECT_MBMD_MAC; each page's tag,
//! TDX_INVALID_PAGE_MAC). A page may be imported again (REMIGRATE) in a later epoch only
//! (TDX_MIGRATED_IN_CURRENT_EPOCH).

use super::export::{entry_status, read_pairs, ENTRY_MAC_MASK};
use super::mig::{mb_type, MigTd, Reader, OUT_OF_ORDER_EPOCH};
use super::{invalid, LeafResult, SUCCESS};
use crate::abi::td_params::CpuidValues;
use crate::abi::NULL_PA;
use crate::emu::Registers;
use crate::leaf::Leaf;
use crate::module::memory::{Key, PageType};
use crate::module::platform::TDVPS_PAGES;
use crate::module::state::*;
use crate::module::PAGE_SIZE;
use crate::status::{Operand, Status, StatusCode};
use std::vec::Vec;

impl State {
    /// Marks an in-order import failed (the session is over) and returns `status`.
    fn import_failed(&mut self, tdr: u64, status: Status) -> Status {
        let td = self.tds.get_mut(&tdr).expect("TD");
        if matches!(td.op_state, OpState::MemoryImport | OpState::StateImport)
            || td.op_state == OpState::Uninitialized
        {
            td.op_state = OpState::FailedImport;
            td.mig.working_key = None;
        }
        status
    }

    /// TDH.IMPORT.STATE.IMMUTABLE: RCX TDR, R8 MBMD, R9 page list, R10 stream.
    pub(super) fn import_state_immutable(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhImportStateImmutable)?;
        let bytes = self.mbmd_in(regs.r8)?;
        let pages = self.page_list(regs.r9)?;
        let (index, resume) = self.stream_operand(tdr, regs.r10)?;
        if resume {
            return Err(StatusCode::InvalidResumption.status());
        }
        let td = &self.tds[&tdr];
        if td.mig.binding.and_then(|b| b.servtd).is_none() {
            return Err(StatusCode::ServtdNotBound.status());
        }
        if !td.mig.dec_key_set {
            return Err(StatusCode::MigrationDecryptionKeyNotSet.status());
        }
        let key = MigTd::key_bytes(&td.mig.dec_key);
        self.start_session(tdr, key);
        // From here on every error fails the import.
        let crypto = self.session(tdr)?;
        let opened = self.open_state(tdr, index, mb_type::IMMUTABLE, &bytes, &pages, &crypto);
        let (mbmd, record) = opened.map_err(|s| self.import_failed(tdr, s))?;
        let Some((config, mrtd, vcpus)) = parse_immutable(&record) else {
            return Err(self.import_failed(tdr, StatusCode::InvalidMbmd.status()));
        };
        self.consume_mbmd(tdr, index, &mbmd);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.config = config;
        td.mrtd = mrtd;
        td.mig.expected_vcpus = vcpus;
        td.op_state = OpState::MemoryImport;
        SUCCESS
    }

    /// TDH.IMPORT.MEM: RCX GPA list, RDX TDR, R8 MBMD, R9 buffer list, R10 stream, R11/R12
    /// MAC lists, R13 new-page list (NULL_PA: the buffers become the TD's pages).
    pub(super) fn import_mem(&mut self, regs: &mut Registers) -> LeafResult {
        let list = self.gpa_list(regs.rcx)?;
        let tdr = self.mig_td(regs.rdx, Operand::RDX, Leaf::TdhImportMem)?;
        let bytes = self.mbmd_in(regs.r8)?;
        if !self.memory.check_shared(regs.r9, PAGE_SIZE) {
            return Err(invalid(Operand::R9));
        }
        let (index, resume) = self.stream_operand(tdr, regs.r10)?;
        if resume {
            return Err(StatusCode::InvalidResumption.status());
        }
        for (reg, operand) in [(regs.r11, Operand::R11), (regs.r12, Operand::R12)] {
            if !self.memory.check_shared(reg, PAGE_SIZE) {
                return Err(invalid(operand));
            }
        }
        let in_place = regs.r13 == NULL_PA;
        if !in_place && !self.memory.check_shared(regs.r13, PAGE_SIZE) {
            return Err(invalid(Operand::R13));
        }
        let crypto = self.session(tdr)?;
        let entries: Vec<u64> = (list.first..=list.last)
            .map(|i| self.memory.host_read_u64(list.list + 8 * i as u64))
            .collect();
        let covered: Vec<u8> = entries
            .iter()
            .flat_map(|e| (e & ENTRY_MAC_MASK).to_le_bytes())
            .collect();
        let mbmd = self
            .open_mbmd(tdr, &bytes, index, mb_type::MEM, &covered, &crypto)
            .map_err(|s| self.import_failed(tdr, s))?;
        if usize::from(mbmd.count) != entries.len() || mbmd.vcpu_index as usize != list.first {
            return Err(self.import_failed(tdr, StatusCode::InvalidMbmd.status()));
        }
        // Decrypt every page first: nothing changes unless the whole bundle is authentic.
        let epoch = self.tds[&tdr].mig.epoch;
        let mut plan = Vec::new();
        for (k, &entry) in entries.iter().enumerate() {
            let i = list.first + k;
            let gpa = entry & 0x000F_FFFF_FFFF_F000;
            let op = (entry >> 52) & 3;
            if op == 0 {
                plan.push((i, entry, None));
                continue;
            }
            if entry & 3 != 0 || (entry >> 10) & 3 != 0 || !matches!(op, 1 | 3) {
                plan.push((i, entry, Some(Err(entry_status::ENTRY_INVALID))));
                continue;
            }
            let buffer = self.memory.host_read_u64(regs.r9 + 8 * i as u64);
            if !self.memory.check_shared(buffer, PAGE_SIZE) {
                return Err(invalid(Operand::R9));
            }
            let mut page = std::vec![0u8; PAGE_SIZE as usize];
            self.memory.host_read(buffer, &mut page);
            let mut tag = [0u8; 16];
            let mac_list = if i < 256 { regs.r11 } else { regs.r12 };
            self.memory
                .host_read(mac_list + 16 * (i % 256) as u64, &mut tag);
            let aad = (entry & ENTRY_MAC_MASK).to_le_bytes();
            if !crypto.open(
                mbmd.iv_counter,
                index as u16,
                1 + i as u16,
                &aad,
                &mut page,
                &tag,
            ) {
                return Err(
                    self.import_failed(tdr, StatusCode::InvalidPageMac.with_operand(Operand::R11))
                );
            }
            let td = &self.tds[&tdr];
            let previous = td.mig.imported.get(&gpa).copied();
            let status = match (op, previous) {
                (1, None) => match super::walk(td, gpa, 0) {
                    super::Walk::Reached(None) => Ok(()),
                    _ => Err(entry_status::SEPT_WALK_FAILED),
                },
                (3, Some(e)) if e == epoch => {
                    return Err(self.import_failed(
                        tdr,
                        StatusCode::MigratedInCurrentEpoch.with_operand(Operand::RCX),
                    ));
                }
                (3, Some(_)) => Ok(()),
                _ => Err(entry_status::ENTRY_STATE_INCORRECT),
            };
            let new_page = if in_place {
                buffer
            } else {
                self.memory.host_read_u64(regs.r13 + 8 * i as u64)
            };
            plan.push((i, entry, Some(status.map(|()| (page, new_page)))));
        }
        self.consume_mbmd(tdr, index, &mbmd);
        let hkid = self.tds[&tdr].hkid;
        let mut problems = 0u32;
        for (i, entry, action) in plan {
            let gpa = entry & 0x000F_FFFF_FFFF_F000;
            let status = match action {
                None => entry_status::SKIPPED,
                Some(Err(status)) => status,
                Some(Ok((page, new_page))) => {
                    if let Some(hpa) = State::mapped_page(&self.tds[&tdr], gpa) {
                        self.memory.td_write(hkid, hpa, &page);
                        self.tds.get_mut(&tdr).expect("TD").mig.stats.re_exported += 1;
                        entry_status::SUCCESS
                    } else if self
                        .memory
                        .check_private_page(new_page, Operand::R13, PageType::Nda)
                        .is_err()
                    {
                        entry_status::ENTRY_STATE_INCORRECT
                    } else {
                        self.memory.fill_page(new_page, Key::Private(hkid));
                        self.memory.td_write(hkid, new_page, &page);
                        self.take_page(new_page, PageType::Reg, tdr);
                        let td = self.tds.get_mut(&tdr).expect("TD");
                        td.chldcnt += 1;
                        td.sept.insert(
                            (0, gpa),
                            Septe {
                                state: SeptState::Mapped,
                                hpa: new_page,
                            },
                        );
                        td.mig.stats.pages += 1;
                        entry_status::SUCCESS
                    }
                }
            };
            if status == entry_status::SUCCESS {
                self.tds
                    .get_mut(&tdr)
                    .expect("TD")
                    .mig
                    .imported
                    .insert(gpa, epoch);
            } else if status != entry_status::SKIPPED {
                problems += 1;
            }
            let value = (entry & ENTRY_MAC_MASK) | (status << 56);
            self.memory
                .host_write(list.list + 8 * i as u64, &value.to_le_bytes());
        }
        regs.rcx = list.advanced(regs.rcx, list.last + 1);
        Ok(Status::from_raw(u64::from(problems)))
    }

    /// TDH.IMPORT.TRACK: RCX TDR, R8 the epoch token, R10 stream.
    pub(super) fn import_track(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhImportTrack)?;
        let bytes = self.mbmd_in(regs.r8)?;
        let (index, _) = self.stream_operand(tdr, regs.r10)?;
        let crypto = self.session(tdr)?;
        let mbmd = self
            .open_mbmd(tdr, &bytes, index, mb_type::EPOCH_TOKEN, &[], &crypto)
            .map_err(|s| self.import_failed(tdr, s))?;
        let td = &self.tds[&tdr];
        if mbmd.mig_epoch <= td.mig.epoch {
            return Err(self.import_failed(tdr, StatusCode::InvalidMbmd.status()));
        }
        let start = mbmd.mig_epoch == OUT_OF_ORDER_EPOCH;
        if start {
            if td.op_state != OpState::StateImport {
                return Err(self.import_failed(tdr, StatusCode::OpStateIncorrect.status()));
            }
            if (td.mig.vcpus_done.len() as u64) < td.mig.expected_vcpus {
                return Err(self.import_failed(tdr, StatusCode::SomeVcpusNotMigrated.status()));
            }
        }
        self.consume_mbmd(tdr, index, &mbmd);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.mig.epoch = mbmd.mig_epoch;
        td.mig.stats.epochs += 1;
        for stream in &mut td.mig.streams {
            stream.expected_mb_counter = 1;
        }
        if start {
            td.op_state = OpState::PostImport;
        }
        SUCCESS
    }

    /// TDH.IMPORT.STATE.TD: RCX TDR, R8 MBMD, R9 page list, R10 stream.
    pub(super) fn import_state_td(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhImportStateTd)?;
        let bytes = self.mbmd_in(regs.r8)?;
        let pages = self.page_list(regs.r9)?;
        let (index, _) = self.stream_operand(tdr, regs.r10)?;
        let crypto = self.session(tdr)?;
        let opened = self.open_state(tdr, index, mb_type::TD_STATE, &bytes, &pages, &crypto);
        let (mbmd, record) = opened.map_err(|s| self.import_failed(tdr, s))?;
        let mut reader = Reader(&record);
        let mut rtmr = [[0u8; 48]; 4];
        let mut ok = true;
        for slot in &mut rtmr {
            match reader.array48() {
                Some(value) => *slot = value,
                None => ok = false,
            }
        }
        let stored = read_pairs(&mut reader);
        let (true, Some(stored)) = (ok, stored) else {
            return Err(self.import_failed(tdr, StatusCode::InvalidMbmd.status()));
        };
        self.consume_mbmd(tdr, index, &mbmd);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.rtmr = rtmr;
        td.stored = stored;
        td.op_state = OpState::StateImport;
        SUCCESS
    }

    /// TDH.IMPORT.STATE.VP: RCX TDVPR (made with VP.CREATE and VP.ADDCX here), R8 MBMD,
    /// R9 page list, R10 stream.
    pub(super) fn import_state_vp(&mut self, regs: &mut Registers) -> LeafResult {
        let (tdvpr, tdr) = self.explicit_tdvpr(regs.rcx, Operand::RCX)?;
        self.td_state(tdr, Leaf::TdhImportStateVp)?;
        let bytes = self.mbmd_in(regs.r8)?;
        let pages = self.page_list(regs.r9)?;
        let (index, _) = self.stream_operand(tdr, regs.r10)?;
        let vcpu = &self.vcpus[&tdvpr];
        if vcpu.tdvps_pages.len() < TDVPS_PAGES {
            return Err(StatusCode::TdcxNumIncorrect.status());
        }
        if vcpu.state != VcpuState::Uninitialized {
            return Err(StatusCode::VcpuStateIncorrect.status());
        }
        let td = &self.tds[&tdr];
        let expected_vcpus = td.mig.expected_vcpus;
        if td.mig.vcpus_done.len() as u64 >= expected_vcpus {
            return Err(StatusCode::AllVcpusImported.status());
        }
        let crypto = self.session(tdr)?;
        let opened = self.open_state(tdr, index, mb_type::VP_STATE, &bytes, &pages, &crypto);
        let (mbmd, record) = opened.map_err(|s| self.import_failed(tdr, s))?;
        let mut reader = Reader(&record);
        let parsed = (|| Some((reader.u64()?, reader.u64()?, reader.u64()?)))();
        let stored = read_pairs(&mut reader);
        let (Some((vcpu_index, x2apic, initial_rcx)), Some(stored)) = (parsed, stored) else {
            return Err(self.import_failed(tdr, StatusCode::InvalidMbmd.status()));
        };
        if vcpu_index != u64::from(mbmd.vcpu_index) || vcpu_index >= expected_vcpus {
            return Err(self.import_failed(tdr, StatusCode::InvalidMbmd.status()));
        }
        self.consume_mbmd(tdr, index, &mbmd);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.num_vcpus += 1;
        td.x2apic_ids.push(x2apic as u32);
        td.mig.vcpus_done.insert(tdvpr);
        let vcpu = self.vcpus.get_mut(&tdvpr).expect("vCPU");
        vcpu.index = vcpu_index as u32;
        vcpu.initial_rcx = initial_rcx;
        vcpu.stored = stored;
        vcpu.state = VcpuState::Ready;
        SUCCESS
    }

    /// TDH.IMPORT.COMMIT: RCX TDR (POST_IMPORT → LIVE_IMPORT).
    pub(super) fn import_commit(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhImportCommit)?;
        self.tds.get_mut(&tdr).expect("TD").op_state = OpState::LiveImport;
        SUCCESS
    }

    /// TDH.IMPORT.END: RCX TDR (→ RUNNABLE; the session is over).
    pub(super) fn import_end(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhImportEnd)?;
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.op_state = OpState::Runnable;
        td.mig.working_key = None;
        SUCCESS
    }

    /// TDH.IMPORT.ABORT: RCX TDR, R8 MBMD (the abort token, written), R10 stream 0.
    pub(super) fn import_abort(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rcx, Operand::RCX, Leaf::TdhImportAbort)?;
        let mbmd_hpa = self.mbmd_out(regs.r8)?;
        if regs.r10 != 0 {
            return Err(invalid(Operand::R10));
        }
        // The token is made with the session key; a session that failed before it had one
        // writes none.
        if let Ok(crypto) = self.session(tdr) {
            let token = self.seal_mbmd(tdr, 0, mb_type::ABORT_TOKEN, 0, 0, &[], &crypto);
            self.memory.host_write(mbmd_hpa, &token.to_bytes());
        }
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.op_state = OpState::FailedImport;
        td.mig.working_key = None;
        SUCCESS
    }
}

/// Decodes the immutable record: the configuration, MRTD and the vCPU count.
fn parse_immutable(record: &[u8]) -> Option<(TdConfig, [u8; 48], u64)> {
    let mut r = Reader(record);
    let attributes = r.u64()?;
    let xfam = r.u64()?;
    let max_vcpus = u16::try_from(r.u64()?).ok()?;
    let gpaw = r.u64()? != 0;
    let eptp = r.u64()?;
    let config_flags = r.u64()?;
    let tsc_frequency = u16::try_from(r.u64()?).ok()?;
    let mr_config_id = r.array48()?;
    let mr_owner = r.array48()?;
    let mr_owner_config = r.array48()?;
    let cpuid_bytes = r.bytes()?;
    let cpuid = cpuid_bytes
        .chunks_exact(16)
        .map(|c| {
            let w = |i: usize| u32::from_le_bytes(c[4 * i..4 * i + 4].try_into().expect("4"));
            CpuidValues {
                eax: w(0),
                ebx: w(1),
                ecx: w(2),
                edx: w(3),
            }
        })
        .collect();
    let mrtd = r.array48()?;
    let vcpus = r.u64()?;
    let config = TdConfig {
        attributes,
        xfam,
        max_vcpus,
        gpaw,
        eptp,
        config_flags,
        tsc_frequency,
        mr_config_id,
        mr_owner,
        mr_owner_config,
        cpuid,
    };
    Some((config, mrtd, vcpus))
}
