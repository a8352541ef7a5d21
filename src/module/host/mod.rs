//! SEAMCALL leaves: the host side of the module.
//!
//! Each handler follows the checks of the module 1.5 source in its order, and fails with the
//! status (and operand ID) the module returns. Registers the module zeroes before its checks
//! are zeroed first here too.
//!
//! The dispatcher and the helpers several chapters share are here; each leaf lives in the
//! file of its ABI chapter, as in [`crate::host`]:
//!
//! | file | leaves |
//! |---|---|
//! | `sys` | TDH.SYS.INIT, LP.INIT, CONFIG, KEY.CONFIG, TDMR.INIT |
//! | `mng` | TDH.MNG.CREATE, KEY.CONFIG, ADDCX, INIT, VPFLUSHDONE, KEY.FREEID (KEY.RECLAIMID is a no-op here) |
//! | `vp` | TDH.VP.CREATE, ADDCX, INIT, ENTER (its checks), FLUSH |
//! | `mem` | TDH.MEM.SEPT.ADD/RD, PAGE.ADD/AUG/REMOVE, RANGE.BLOCK/UNBLOCK, TRACK |
//! | `mr` | TDH.MR.EXTEND, FINALIZE |
//! | `phymem` | TDH.PHYMEM.PAGE.RDMD, PAGE.RECLAIM, CACHE.WB |
//! | `pamt` | TDH.PHYMEM.PAMT.ADD, PAMT.REMOVE (Dynamic PAMT, 2.0.18) |
//! | `metadata` | TDH.SYS.RD/RDALL, TDH.MNG.RD/WR, TDH.VP.RD/WR |
//! | `mig` | TDH.MIG.STREAM.CREATE; the op-state table; bundles, MBMDs and their AES-256-GCM |
//! | `export` | TDH.EXPORT.STATE.IMMUTABLE/TD/VP, BLOCKW, UNBLOCKW, MEM, PAUSE, TRACK, ABORT, RESTORE |
//! | `import` | TDH.IMPORT.STATE.IMMUTABLE/TD/VP, MEM, TRACK, COMMIT, END, ABORT |
//! | `servtd` | TDH.SERVTD.PREBIND, BIND; TDG.SERVTD.RD/WR (called from the guest side) |

mod export;
mod import;
mod mem;
mod metadata;
mod mig;
mod mng;
mod mr;
mod pamt;
mod phymem;
mod servtd;
mod sys;
mod vp;

pub use mig::MigStats;
pub(super) use mig::MigTd;

pub(super) use mem::{level_size, private_gpa, walk, Walk};

use crate::abi::{FieldId, NULL_PA};
use crate::emu::Registers;
use crate::leaf::{Leaf, Side};
use crate::module::memory::{Key, PageType, PamtEntry, Tdmr};
use crate::module::metadata::Accessor;
use crate::module::mrtd::MrtdBuilder;
use crate::module::platform::*;
use crate::module::state::*;
use crate::module::PAGE_SIZE;
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

/// The op states in which a TD-scope leaf may run (`seamcall_state_lookup`: the table in
/// `mig`; leaves outside it keep the model's earlier rule below).
fn allowed_in(leaf: Leaf, op_state: OpState) -> bool {
    if let Some(row) = mig::op_state_row(leaf) {
        return row[mig::column(op_state)];
    }
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
        // The configured module's leaves and leaf versions (the leaf table's columns): a
        // leaf or version that module does not have is refused as it refuses an unknown one.
        if !leaf.modules().contains(self.version)
            || (version > 0 && !leaf.v1_modules().contains(self.version))
        {
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
            Leaf::TdhSysConfig => self.sys_config(regs, version),
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
            Leaf::TdhPhymemPamtAdd => self.phymem_pamt_add(regs),
            Leaf::TdhPhymemPamtRemove => self.phymem_pamt_remove(regs),
            Leaf::TdhMigStreamCreate => self.mig_stream_create(regs),
            Leaf::TdhServtdPrebind => self.servtd_prebind(regs),
            Leaf::TdhServtdBind => self.servtd_bind(regs),
            Leaf::TdhExportStateImmutable => self.export_state_immutable(regs),
            Leaf::TdhExportBlockw => self.export_blockw(regs),
            Leaf::TdhExportUnblockw => self.export_unblockw(regs),
            Leaf::TdhExportMem => self.export_mem(regs),
            Leaf::TdhExportPause => self.export_pause(regs),
            Leaf::TdhExportTrack => self.export_track(regs),
            Leaf::TdhExportStateTd => self.export_state_td(regs),
            Leaf::TdhExportStateVp => self.export_state_vp(regs),
            Leaf::TdhExportAbort => self.export_abort(regs),
            Leaf::TdhExportRestore => self.export_restore(regs),
            Leaf::TdhImportStateImmutable => self.import_state_immutable(regs),
            Leaf::TdhImportMem => self.import_mem(regs),
            Leaf::TdhImportTrack => self.import_track(regs),
            Leaf::TdhImportStateTd => self.import_state_td(regs),
            Leaf::TdhImportStateVp => self.import_state_vp(regs),
            Leaf::TdhImportCommit => self.import_commit(regs),
            Leaf::TdhImportEnd => self.import_end(regs),
            Leaf::TdhImportAbort => self.import_abort(regs),
            // Not modelled (TD partitioning, page relocation and promotion, debug memory
            // access, module update): answered as a leaf this module does not implement.
            _ => Err(invalid(Operand::RAX)),
        };
        Seam::Done(result.unwrap_or_else(|status| status))
    }

    fn is_private_hkid(&self, hkid: u16) -> bool {
        (self.private_hkids.0..self.private_hkids.1).contains(&hkid)
    }

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
}
