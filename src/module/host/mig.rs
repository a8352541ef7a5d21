//! Migration: the state a TD keeps for it (TDCS migration fields, MIGSC pages, the
//! per-page export state), the op-state table of every leaf, TDH.MIG.STREAM.CREATE, the
//! migration bundle format and its AES-256-GCM protection.
//!
//! # Sources
//!
//! The op states and which leaf each allows are the module's `seamcall_state_lookup` and
//! `tdcall_state_lookup` (read at `intel/tdx-module` commit 92f6945, whose 11 op states are
//! those of 1.5.01; that the rows equal 1.5.01's is **UNVERIFIED**; TDH.MEM.PAGE.AUG keeps
//! the model's earlier 1.5.01 rule, RUNNABLE and not INITIALIZED, where that table differs). The stream counters
//! (IV_COUNTER incremented before a bundle is made, NEXT_MB_COUNTER on export,
//! EXPECTED_MB_COUNTER checked in the in-order import phase and restarted at 1 by each epoch
//! token, the epoch token carrying the new epoch) follow the module source's `migsc_init`,
//! `tdh_import_mem.c` and `tdh_import_track.c`.
//!
//! **The model's own choices** (no primary source seen, marked UNVERIFIED in the docs):
//! the MBMD byte layout and the MB_TYPE numbers below; the 96-bit IV as IV_COUNTER (64) ‖
//! stream index (16) ‖ a 16-bit sub-index (0 for the MBMD, 1 + entry index for each page
//! of the bundle); the MAC coverage (the MBMD's MAC is a GMAC over its first 48 bytes and,
//! for a memory bundle, every GPA-list entry with its status bits cleared; each page is
//! AES-256-GCM encrypted with its GPA-list entry as associated data, its 16-byte tag in
//! the MAC list); the immutable, TD and vCPU state serialized as the model's own records.

use super::{invalid, LeafResult, SUCCESS};
use crate::emu::Registers;
use crate::leaf::Leaf;
use crate::module::memory::PageType;
use crate::module::state::*;
use crate::module::PAGE_SIZE;
use crate::status::{Operand, Status, StatusCode};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

/// The largest number of migration streams a TD may have (the model's MAX_MIGS).
pub(in crate::module) const MAX_MIGS: usize = 4;
/// The size of every MBMD the model writes and reads.
pub(in crate::module) const MBMD_SIZE: usize = 64;
/// Where the MAC lives in an MBMD.
const MBMD_MAC: usize = 48;
/// The epoch value of the out-of-order phase.
pub(in crate::module) const OUT_OF_ORDER_EPOCH: u32 = 0xFFFF_FFFF;

/// MB_TYPE values (the model's numbering, UNVERIFIED).
pub(in crate::module) mod mb_type {
    pub const IMMUTABLE: u8 = 0;
    pub const TD_STATE: u8 = 1;
    pub const VP_STATE: u8 = 2;
    pub const MEM: u8 = 16;
    pub const EPOCH_TOKEN: u8 = 32;
    pub const ABORT_TOKEN: u8 = 33;
}

/// The export state of one exported (or write-blocked) 4 KiB page on the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::module) enum PageMig {
    /// TDH.EXPORT.BLOCKW ran; not exported yet (writes blocked).
    BlockedW,
    /// Exported and still write-blocked (EXPORTED_BLOCKEDW).
    Exported,
    /// Exported, then unblocked for a guest write: must be re-exported (EXPORTED_DIRTY).
    Dirty,
    /// Dirty and write-blocked again, ready for re-export (EXPORTED_DIRTY_BLOCKEDW).
    DirtyBlockedW,
}

impl PageMig {
    /// Guest writes to the page are blocked.
    pub fn write_blocked(self) -> bool {
        !matches!(self, PageMig::Dirty)
    }
}

/// A migration stream (its MIGSC page).
#[derive(Clone, Copy, Debug, Default)]
pub(in crate::module) struct Stream {
    pub migsc: u64,
    pub iv_counter: u64,
    pub next_mb_counter: u32,
    pub expected_mb_counter: u32,
}

/// A service-TD binding (TDH.SERVTD.BIND) or pre-binding (PREBIND).
#[derive(Clone, Copy, Debug)]
pub(in crate::module) struct Binding {
    /// The service TD's TDR (`None` for a pre-binding).
    pub servtd: Option<u64>,
    pub servtd_type: u16,
    pub attr: u64,
    pub info_hash: [u8; 48],
}

/// The TDCS migration fields and what the model keeps besides.
#[derive(Debug, Default)]
pub(in crate::module) struct MigTd {
    /// Slot 0 (MAX_SERV_TDS is 1 in module 1.5).
    pub binding: Option<Binding>,
    /// MIG_ENC_KEY / MIG_DEC_KEY as the migration TD wrote them (4 64-bit elements).
    pub enc_key: [u64; 4],
    pub dec_key: [u64; 4],
    pub enc_key_set: bool,
    pub dec_key_set: bool,
    /// The keys of the running session (MIG_*_WORKING_KEY), copied at session start.
    pub working_key: Option<[u8; 32]>,
    pub streams: Vec<Stream>,
    pub epoch: u32,
    /// Bundles made (export) or consumed (import) in this session (TOTAL_MB_COUNT).
    pub total_mb_count: u64,
    /// Per-page export state on the source, by GPA.
    pub pages: BTreeMap<u64, PageMig>,
    /// GPA → the epoch the page was last imported in, on the destination.
    pub imported: BTreeMap<u64, u32>,
    /// vCPUs (TDVPR) whose state was exported (source) or imported (destination).
    pub vcpus_done: BTreeSet<u64>,
    /// TDH.EXPORT.STATE.TD / TDH.IMPORT.STATE.TD done in this session.
    pub td_state_done: bool,
    /// The vCPUs the immutable state says the TD has (destination).
    pub expected_vcpus: u64,
    /// Statistics for examples and tests: pages exported or imported, of them again.
    pub stats: MigStats,
}

/// What a session moved (the model's counters; no module field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MigStats {
    /// Pages exported or imported (first time).
    pub pages: u64,
    /// Pages exported or imported again after being dirtied.
    pub re_exported: u64,
    /// Epoch tokens made or consumed (in-order epochs and the start token).
    pub epochs: u64,
    /// Bundles made or consumed (MBMDs, tokens included).
    pub bundles: u64,
}

impl MigTd {
    /// EXPORTED_DIRTY_COUNT.
    pub fn dirty_count(&self) -> usize {
        self.pages
            .values()
            .filter(|p| matches!(p, PageMig::Dirty | PageMig::DirtyBlockedW))
            .count()
    }

    pub fn key_bytes(words: &[u64; 4]) -> [u8; 32] {
        let mut key = [0u8; 32];
        for (chunk, word) in key.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        key
    }
}

/// `seamcall_state_lookup`: the op states (columns 0..=10) each TD-scope leaf is allowed
/// in, for the leaves the model checks. `None`: the leaf is not in the table.
pub(super) fn op_state_row(leaf: Leaf) -> Option<[bool; 11]> {
    const fn row(bits: [u8; 11]) -> [bool; 11] {
        let mut out = [false; 11];
        let mut i = 0;
        while i < 11 {
            out[i] = bits[i] != 0;
            i += 1;
        }
        out
    }
    Some(match leaf {
        Leaf::TdhVpEnter => row([0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0]),
        Leaf::TdhMngAddcx => row([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhMemPageAdd => row([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhMemSeptAdd => row([0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0]),
        Leaf::TdhVpAddcx | Leaf::TdhVpCreate => row([0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
        Leaf::TdhMemPageRelocate | Leaf::TdhMemRangeBlock | Leaf::TdhMemPageDemote => {
            row([0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0])
        }
        Leaf::TdhMemPagePromote | Leaf::TdhMemRangeUnblock => {
            row([0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0])
        }
        // The table read allows INITIALIZED too (a later module's rule); 1.5.01, as the
        // model had it before migration, augments only once the TD is finalized.
        Leaf::TdhMemPageAug => row([0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0]),
        Leaf::TdhMngRd | Leaf::TdhMemRd | Leaf::TdhMemSeptRd | Leaf::TdhVpRd => {
            row([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        }
        Leaf::TdhMngWr | Leaf::TdhMemWr | Leaf::TdhVpWr => row([0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]),
        Leaf::TdhMrExtend | Leaf::TdhMrFinalize | Leaf::TdhVpInit => {
            row([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        }
        Leaf::TdhVpFlush => row([1; 11]),
        Leaf::TdhMngInit => row([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhMemPageRemove => row([0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1]),
        Leaf::TdhMemSeptRemove => row([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        Leaf::TdhMemTrack => row([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
        Leaf::TdhServtdBind => row([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0]),
        Leaf::TdhServtdPrebind => row([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhExportAbort | Leaf::TdhExportMem => row([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0]),
        Leaf::TdhExportBlockw | Leaf::TdhExportPause => row([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhExportRestore => row([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhExportTrack => row([0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhExportStateImmutable => row([0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0]),
        Leaf::TdhExportStateTd | Leaf::TdhExportStateVp => row([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhExportUnblockw => row([0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]),
        Leaf::TdhImportAbort => row([0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1]),
        Leaf::TdhImportEnd => row([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]),
        Leaf::TdhImportCommit => row([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        Leaf::TdhImportMem => row([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0]),
        Leaf::TdhImportTrack => row([0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]),
        Leaf::TdhImportStateImmutable => row([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Leaf::TdhImportStateTd => row([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
        Leaf::TdhImportStateVp => row([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
        Leaf::TdhMigStreamCreate => row([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        _ => return None,
    })
}

/// `servtd_bind_othertd_state_lookup`: the service TD's op states TDH.SERVTD.BIND accepts.
pub(super) const SERVTD_STATES: [bool; 11] = [
    false, false, true, true, true, true, false, false, true, true, false,
];

/// `tdcall_state_lookup` for TDG.SERVTD.WR: the target TD's op states it may write in.
pub(in crate::module) const SERVTD_WR_STATES: [bool; 11] = [
    true, true, true, true, false, false, true, true, true, true, true,
];

/// An MBMD as the model lays it out (UNVERIFIED layout; see the file docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::module) struct Mbmd {
    pub size: u16,
    pub migs_index: u16,
    pub mb_type: u8,
    pub mb_counter: u32,
    pub mig_epoch: u32,
    pub iv_counter: u64,
    /// Type-specific: pages in the bundle (memory: GPA entries; state: state pages).
    pub count: u16,
    /// Type-specific: the vCPU index of a VP-state bundle.
    pub vcpu_index: u32,
    pub mac: [u8; 16],
}

impl Mbmd {
    pub fn to_bytes(self) -> [u8; MBMD_SIZE] {
        let mut b = [0u8; MBMD_SIZE];
        b[0..2].copy_from_slice(&self.size.to_le_bytes());
        b[2..4].copy_from_slice(&1u16.to_le_bytes()); // MIG_VERSION
        b[4..6].copy_from_slice(&self.migs_index.to_le_bytes());
        b[6] = self.mb_type;
        b[8..12].copy_from_slice(&self.mb_counter.to_le_bytes());
        b[12..16].copy_from_slice(&self.mig_epoch.to_le_bytes());
        b[16..24].copy_from_slice(&self.iv_counter.to_le_bytes());
        b[24..26].copy_from_slice(&self.count.to_le_bytes());
        b[28..32].copy_from_slice(&self.vcpu_index.to_le_bytes());
        b[MBMD_MAC..].copy_from_slice(&self.mac);
        b
    }

    /// Decodes an MBMD; `None` when a fixed field is wrong (TDX_INVALID_MBMD).
    pub fn from_bytes(b: &[u8; MBMD_SIZE]) -> Option<Mbmd> {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        if u16_at(0) as usize != MBMD_SIZE
            || u16_at(2) != 1
            || b[7] != 0
            || u16_at(26) != 0
            || b[32..MBMD_MAC].iter().any(|&x| x != 0)
        {
            return None;
        }
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&b[MBMD_MAC..]);
        Some(Mbmd {
            size: u16_at(0),
            migs_index: u16_at(4),
            mb_type: b[6],
            mb_counter: u32_at(8),
            mig_epoch: u32_at(12),
            iv_counter: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            count: u16_at(24),
            vcpu_index: u32_at(28),
            mac,
        })
    }
}

/// The 96-bit IV: IV_COUNTER ‖ stream index ‖ sub-index.
fn iv(counter: u64, stream: u16, sub: u16) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&counter.to_le_bytes());
    out[8..10].copy_from_slice(&stream.to_le_bytes());
    out[10..].copy_from_slice(&sub.to_le_bytes());
    out
}

/// AES-256-GCM with the session key.
pub(in crate::module) struct Crypto(Aes256Gcm);

impl Crypto {
    pub fn new(key: &[u8; 32]) -> Crypto {
        Crypto(Aes256Gcm::new(key.into()))
    }

    /// Encrypts `data` in place; returns the tag.
    pub fn seal(
        &self,
        counter: u64,
        stream: u16,
        sub: u16,
        aad: &[u8],
        data: &mut [u8],
    ) -> [u8; 16] {
        let nonce = iv(counter, stream, sub);
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, data)
            .expect("AES-GCM takes any length below 64 GiB");
        tag.into()
    }

    /// Decrypts `data` in place if `tag` verifies; `false` (and `data` unspecified) if not.
    pub fn open(
        &self,
        counter: u64,
        stream: u16,
        sub: u16,
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        let nonce = iv(counter, stream, sub);
        self.0
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), aad, data, Tag::from_slice(tag))
            .is_ok()
    }

    /// The MBMD's MAC: a GMAC over its first 48 bytes (MAC field excluded) and `extra`.
    pub fn mbmd_mac(&self, mbmd: &Mbmd, extra: &[u8]) -> [u8; 16] {
        let mut aad = Vec::with_capacity(MBMD_MAC + extra.len());
        aad.extend_from_slice(&mbmd.to_bytes()[..MBMD_MAC]);
        aad.extend_from_slice(extra);
        self.seal(mbmd.iv_counter, mbmd.migs_index, 0, &aad, &mut [])
    }
}

/// The 64-bit MBMD operand (R8): HPA in bits 51:0, size in 63:52.
pub(super) fn mbmd_operand(raw: u64) -> (u64, u64) {
    (raw & ((1 << 52) - 1), raw >> 52)
}

impl State {
    /// The checks every migration leaf makes on its TDR operand, then its op state.
    pub(super) fn mig_td(&self, hpa: u64, operand: Operand, leaf: Leaf) -> Result<u64, Status> {
        let tdr = self.explicit_tdr(hpa, operand)?;
        self.td_state(tdr, leaf)?;
        Ok(tdr)
    }

    /// Reads and checks an MBMD operand the module will write (`size` large enough,
    /// 128-byte aligned shared memory).
    pub(super) fn mbmd_out(&self, raw: u64) -> Result<u64, Status> {
        let (hpa, size) = mbmd_operand(raw);
        if !self.memory.check_shared(hpa, 128) || (size as usize) < MBMD_SIZE {
            return Err(invalid(Operand::R8));
        }
        Ok(hpa)
    }

    /// Reads an MBMD operand (R8) the host gives the module.
    pub(super) fn mbmd_in(&self, raw: u64) -> Result<[u8; MBMD_SIZE], Status> {
        let hpa = self.mbmd_out(raw)?;
        let mut bytes = [0u8; MBMD_SIZE];
        self.memory.host_read(hpa, &mut bytes);
        Ok(bytes)
    }

    /// The stream operand (R10): index below the streams created, reserved bits zero.
    /// Returns (index, resume).
    pub(super) fn stream_operand(&self, tdr: u64, raw: u64) -> Result<(usize, bool), Status> {
        if raw & 0x7FFF_FFFF_FFFF_0000 != 0 {
            return Err(invalid(Operand::R10));
        }
        let index = (raw & 0xFFFF) as usize;
        if index >= self.tds[&tdr].mig.streams.len() {
            return Err(invalid(Operand::R10));
        }
        Ok((index, raw >> 63 != 0))
    }

    /// The session's crypto, or the status a leaf gives without one.
    pub(super) fn session(&self, tdr: u64) -> Result<Crypto, Status> {
        self.tds[&tdr]
            .mig
            .working_key
            .as_ref()
            .map(Crypto::new)
            .ok_or(StatusCode::OpStateIncorrect.status())
    }

    /// TDH.MIG.STREAM.CREATE: RCX = MIGSC page (becomes a TDCX page of the TD), RDX = TDR.
    pub(super) fn mig_stream_create(&mut self, regs: &mut Registers) -> LeafResult {
        let tdr = self.mig_td(regs.rdx, Operand::RDX, Leaf::TdhMigStreamCreate)?;
        let migsc = regs.rcx;
        self.memory
            .check_private_page(migsc, Operand::RCX, PageType::Nda)?;
        if self.tds[&tdr].mig.streams.len() >= MAX_MIGS {
            return Err(StatusCode::MaxMigsNumExceeded.status());
        }
        let key = crate::module::memory::Key::Private(self.tds[&tdr].hkid);
        self.memory.fill_page(migsc, key);
        self.take_page(migsc, PageType::Tdcx, tdr);
        let td = self.tds.get_mut(&tdr).expect("TD");
        td.chldcnt += 1;
        td.mig.streams.push(Stream {
            migsc,
            ..Stream::default()
        });
        SUCCESS
    }

    /// Starts a session on either side: the working key from the key the migration TD
    /// wrote, the streams reset, epoch 0.
    pub(super) fn start_session(&mut self, tdr: u64, key: [u8; 32]) {
        let mig = &mut self.tds.get_mut(&tdr).expect("TD").mig;
        mig.working_key = Some(key);
        for stream in &mut mig.streams {
            *stream = Stream {
                migsc: stream.migsc,
                ..Stream::default()
            };
        }
        mig.epoch = 0;
        mig.total_mb_count = 0;
        mig.pages.clear();
        mig.imported.clear();
        mig.vcpus_done.clear();
        mig.td_state_done = false;
        mig.stats = MigStats::default();
    }

    #[allow(clippy::too_many_arguments)]
    /// Makes an MBMD on stream `index`: IV_COUNTER first incremented, the MB counter
    /// taken, the MAC over it and `extra`.
    pub(super) fn seal_mbmd(
        &mut self,
        tdr: u64,
        index: usize,
        mb_type: u8,
        count: u16,
        vcpu_index: u32,
        extra: &[u8],
        crypto: &Crypto,
    ) -> Mbmd {
        let mig = &mut self.tds.get_mut(&tdr).expect("TD").mig;
        let epoch = mig.epoch;
        let stream = &mut mig.streams[index];
        stream.iv_counter += 1;
        let mut mbmd = Mbmd {
            size: MBMD_SIZE as u16,
            migs_index: index as u16,
            mb_type,
            mb_counter: stream.next_mb_counter,
            mig_epoch: epoch,
            iv_counter: stream.iv_counter,
            count,
            vcpu_index,
            mac: [0; 16],
        };
        stream.next_mb_counter = stream.next_mb_counter.wrapping_add(1);
        mig.total_mb_count += 1;
        mig.stats.bundles += 1;
        mbmd.mac = crypto.mbmd_mac(&mbmd, extra);
        mbmd
    }

    /// Checks a received MBMD: layout, stream, type, order (in-order phase) and epoch give
    /// TDX_INVALID_MBMD; then its MAC, TDX_INCORRECT_MBMD_MAC.
    pub(super) fn open_mbmd(
        &self,
        tdr: u64,
        bytes: &[u8; MBMD_SIZE],
        index: usize,
        mb_type: u8,
        extra: &[u8],
        crypto: &Crypto,
    ) -> Result<Mbmd, Status> {
        let mig = &self.tds[&tdr].mig;
        let mbmd = Mbmd::from_bytes(bytes).ok_or(StatusCode::InvalidMbmd.status())?;
        let in_order = mig.epoch != OUT_OF_ORDER_EPOCH;
        let stream = &mig.streams[index];
        let wrong = mbmd.migs_index as usize != index
            || mbmd.mb_type != mb_type
            || (in_order && mbmd.mb_counter != stream.expected_mb_counter)
            || (mb_type != mb_type::EPOCH_TOKEN
                && mb_type != mb_type::ABORT_TOKEN
                && mb_type != mb_type::IMMUTABLE
                && mbmd.mig_epoch != mig.epoch)
            || mbmd.iv_counter <= stream.iv_counter && in_order;
        if wrong {
            return Err(StatusCode::InvalidMbmd.status());
        }
        if crypto.mbmd_mac(&mbmd, extra) != mbmd.mac {
            return Err(StatusCode::IncorrectMbmdMac.status());
        }
        Ok(mbmd)
    }

    /// Accepts a verified MBMD on the receiving stream.
    pub(super) fn consume_mbmd(&mut self, tdr: u64, index: usize, mbmd: &Mbmd) {
        let mig = &mut self.tds.get_mut(&tdr).expect("TD").mig;
        let stream = &mut mig.streams[index];
        stream.iv_counter = stream.iv_counter.max(mbmd.iv_counter);
        stream.expected_mb_counter = mbmd.mb_counter.wrapping_add(1);
        mig.total_mb_count += 1;
        mig.stats.bundles += 1;
    }

    /// Reads a page list (R9 of the state leaves): bits 51:12 the list page, 63:55 the
    /// last index. Returns the page HPAs, each checked as shared 4 KiB memory.
    pub(super) fn page_list(&self, raw: u64) -> Result<Vec<u64>, Status> {
        let list = raw & 0x000F_FFFF_FFFF_F000;
        if raw & 0x007F_F000_0000_0FFF != 0 || !self.memory.check_shared(list, PAGE_SIZE) {
            return Err(invalid(Operand::R9));
        }
        let last = (raw >> 55) as usize;
        let mut pages = Vec::with_capacity(last + 1);
        for i in 0..=last {
            let page = self.memory.host_read_u64(list + 8 * i as u64);
            if !self.memory.check_shared(page, PAGE_SIZE) {
                return Err(invalid(Operand::R9));
            }
            pages.push(page);
        }
        Ok(pages)
    }

    /// Writes a state record encrypted into the list's pages (each page: the chunk length,
    /// its 16-byte tag, then the ciphertext); returns the page count.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn seal_state(
        &mut self,
        tdr: u64,
        index: usize,
        mb_type: u8,
        vcpu_index: u32,
        record: &[u8],
        pages: &[u64],
        crypto: &Crypto,
    ) -> Result<(u64, Mbmd), Status> {
        let chunk_size = PAGE_SIZE as usize - STATE_HEAD;
        let needed = record.len().div_ceil(chunk_size).max(1);
        if pages.len() < needed {
            return Err(invalid(Operand::R9));
        }
        let counter = self.tds[&tdr].mig.streams[index].iv_counter + 1;
        let mut macs = Vec::new();
        for i in 0..needed {
            let chunk = &record
                [(i * chunk_size).min(record.len())..((i + 1) * chunk_size).min(record.len())];
            let mut page = std::vec![0u8; PAGE_SIZE as usize];
            page[..8].copy_from_slice(&(chunk.len() as u64).to_le_bytes());
            page[STATE_HEAD..STATE_HEAD + chunk.len()].copy_from_slice(chunk);
            let (head, body) = page.split_at_mut(STATE_HEAD);
            let tag = crypto.seal(
                counter,
                index as u16,
                1 + i as u16,
                &state_aad(mb_type, i, &head[..8]),
                body,
            );
            head[8..24].copy_from_slice(&tag);
            macs.extend_from_slice(&tag);
            self.memory.host_write(pages[i], &page);
        }
        let mbmd = self.seal_mbmd(
            tdr,
            index,
            mb_type,
            needed as u16,
            vcpu_index,
            &macs,
            crypto,
        );
        Ok((needed as u64, mbmd))
    }

    /// The inverse of [`State::seal_state`]: the MBMD checked (its MAC covers every page
    /// tag), then each page decrypted under its tag (TDX_INVALID_PAGE_MAC).
    pub(super) fn open_state(
        &self,
        tdr: u64,
        index: usize,
        mb_type: u8,
        mbmd_bytes: &[u8; MBMD_SIZE],
        pages: &[u64],
        crypto: &Crypto,
    ) -> Result<(Mbmd, Vec<u8>), Status> {
        let header = Mbmd::from_bytes(mbmd_bytes).ok_or(StatusCode::InvalidMbmd.status())?;
        let count = header.count as usize;
        if count == 0 || count > pages.len() {
            return Err(StatusCode::InvalidMbmd.status());
        }
        let mut contents = Vec::with_capacity(count);
        let mut macs = Vec::new();
        for &hpa in pages.iter().take(count) {
            let mut page = std::vec![0u8; PAGE_SIZE as usize];
            self.memory.host_read(hpa, &mut page);
            macs.extend_from_slice(&page[8..24]);
            contents.push(page);
        }
        let mbmd = self.open_mbmd(tdr, mbmd_bytes, index, mb_type, &macs, crypto)?;
        let mut record = Vec::new();
        for (i, mut page) in contents.into_iter().enumerate() {
            let (head, body) = page.split_at_mut(STATE_HEAD);
            let len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes")) as usize;
            let tag: [u8; 16] = head[8..24].try_into().expect("16 bytes");
            let aad = state_aad(mb_type, i, &head[..8]);
            if len > body.len()
                || !crypto.open(
                    mbmd.iv_counter,
                    index as u16,
                    1 + i as u16,
                    &aad,
                    body,
                    &tag,
                )
            {
                return Err(StatusCode::InvalidPageMac.with_operand(Operand::R9));
            }
            record.extend_from_slice(&body[..len]);
        }
        Ok((mbmd, record))
    }
}

/// The header of a state page: chunk length (8), tag (16), reserved (8).
const STATE_HEAD: usize = 32;

fn state_aad(mb_type: u8, index: usize, len: &[u8]) -> [u8; 16] {
    let mut aad = [0u8; 16];
    aad[..4].copy_from_slice(&(index as u32).to_le_bytes());
    aad[4] = mb_type;
    aad[8..].copy_from_slice(len);
    aad
}

/// A little-endian record writer and reader for the state bundles (the model's format).
#[derive(Default)]
pub(in crate::module) struct Record(pub Vec<u8>);

impl Record {
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
}

/// Reads a [`Record`]; every read fails softly (a short record is an invalid bundle).
pub(in crate::module) struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    pub fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_at_checked(8)?;
        self.0 = rest;
        Some(u64::from_le_bytes(head.try_into().ok()?))
    }
    pub fn bytes(&mut self) -> Option<&[u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head)
    }
    pub fn array48(&mut self) -> Option<[u8; 48]> {
        self.bytes()?.try_into().ok()
    }
}

/// The op state's column in the lookup tables.
pub(in crate::module) fn column(op_state: OpState) -> usize {
    op_state as usize
}
