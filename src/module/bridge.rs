//! The guest side: TDCALL leaves, and the bridge between a guest thread and the host thread
//! that runs its vCPU with TDH.VP.ENTER.
//!
//! The protocol (what blocks, what releases a blocked guest) is documented in
//! [`bridge_protocol`](super::bridge_protocol), where rustdoc renders it.
//!
//! # One vCPU for life
//!
//! TDH.VP.CREATE gives each vCPU a serial, unique over the module's life. A `VirtualCpu`
//! records the TDVPR and the serial of the vCPU there when it is made ([`VcpuId`]), and every
//! lookup, wait and release on its behalf checks both: once its vCPU is gone (TD torn down,
//! TDVPR reclaimed, the page reused by another TD's TDH.VP.CREATE) its TDCALLs raise #UD and
//! its drop touches no other vCPU. A host's TDH.VP.ENTER pins the serial it entered the same
//! way.
//!
//! # Model panics
//!
//! A panic in a model is a model bug; the emulator turns it into #UD for that thread's call
//! and for all its later calls (see the `emu` docs). Every lock in the model recovers from
//! poisoning, and a drop guard around each model call ([`OnUnwind`]) releases whoever waits
//! on the panicking thread: a [`LogicalProcessor`](super::LogicalProcessor) that panics makes
//! the vCPUs it runs or is associated with unrunnable and disassociated (their guests get
//! #UD; no other LP can enter them); a `VirtualCpu` that panics counts as a departed guest
//! (the host's TDH.VP.ENTER returns TDX_NON_RECOVERABLE_VCPU). The state a panicking handler
//! left half-updated is not repaired. [`SoftwareModule::inject_panic`](super::SoftwareModule::inject_panic)
//! provokes such a panic for tests; no ABI input does (`tests/module_random.rs`).
//!
//! # Blocking in the signal handler
//!
//! Both sides wait on the module's `Condvar` inside the crate's SIGILL handler. That is sound
//! here because the signal is synchronous, raised by the crate's own instruction in a leaf
//! thunk that holds no lock (see the `emu` module docs): waiting there is waiting in a plain
//! function call made by the thunk's caller. The model never holds the state mutex while it
//! waits (`Condvar::wait` releases it), and no thread calls a thunk while holding it, so the
//! waits cannot deadlock on it.

use super::host::{gpr, set_gpr, walk, Walk};
use super::metadata::{self, Accessor};
use super::mrtd::sha384;
use super::platform::*;
use super::state::*;
use super::{Shared, PAGE_SIZE};
use crate::abi::report::{TdReport, REPORT_TYPE_TDX};
use crate::abi::{ConfigFlags, FieldId};
use crate::emu::{Call, Fault, Outcome, Registers};
use crate::leaf::{Leaf, Side};
use crate::status::{Operand, Status, StatusCode};
use std::sync::MutexGuard;

/// The VM-exit reason of TDG.VP.VMCALL.
const EXIT_REASON_TDCALL: u32 = 77;
/// The VM-exit reason of an EPT violation.
const EXIT_REASON_EPT_VIOLATION: u32 = 48;
/// The VM-exit reason of a triple fault.
const EXIT_REASON_TRIPLE_FAULT: u32 = 2;

fn invalid(operand: Operand) -> Status {
    StatusCode::OperandInvalid.with_operand(operand)
}

fn complete(mut registers: Registers, status: Status) -> Outcome {
    registers.rax = status.raw();
    Outcome::Return(registers.with_status(status))
}

/// The XMM registers of the interrupted thread, if the frame has them.
fn read_xmm(call: &mut Call<'_>) -> Option<[u128; 16]> {
    let state = call.extended_state()?;
    let mut xmm = [0u128; 16];
    for (index, slot) in xmm.iter_mut().enumerate() {
        *slot = state.xmm(index).ok()?;
    }
    Some(xmm)
}

/// Writes XMMs whose bit is set in `select` (all 16 with `u16::MAX`).
fn write_xmm(call: &mut Call<'_>, values: &[u128; 16], select: u16) {
    if let Some(state) = call.extended_state() {
        for (index, value) in values.iter().enumerate() {
            if select & (1 << index) != 0 {
                // An index below 16 is always in the legacy area.
                let _ = state.set_xmm(index, *value);
            }
        }
    }
}

/// TDH.VP.ENTER after its checks: runs the vCPU until the guest side produces an exit.
pub(super) fn vp_enter(
    shared: &Shared,
    mut state: MutexGuard<'_, State>,
    lp: u32,
    tdvpr: u64,
    call: &mut Call<'_>,
) -> Outcome {
    let host = *call.registers();
    let host_xmm = read_xmm(call);
    let dead_vcpu = || {
        let status = StatusCode::NonRecoverableVcpu.with_details(EXIT_REASON_TRIPLE_FAULT);
        let registers = Registers {
            rax: status.raw(),
            rbp: 0,
            rflags: host.rflags,
            ..Registers::default()
        };
        Outcome::Return(registers.with_status(status))
    };
    // The checks ran under this lock, so the vCPU exists; its serial pins this entry to it.
    let Some(serial) = state.vcpus.get(&tdvpr).map(|vcpu| vcpu.serial) else {
        return dead_vcpu();
    };
    let id = VcpuId { tdvpr, serial };
    {
        let Some(vcpu) = bound(&mut state, id) else {
            return dead_vcpu();
        };
        if let LastExit::Tdvmcall { .. } = vcpu.last_exit {
            vcpu.bridge.resume = Some(Resume {
                gprs: core::array::from_fn(|index| gpr(&host, index as u8)),
                xmm: host_xmm,
            });
            vcpu.last_exit = LastExit::Async;
        }
        vcpu.bridge.exit = None;
        vcpu.bridge.inside = Some(lp);
    }
    shared.changed.notify_all();
    loop {
        // An entered vCPU cannot be flushed or reclaimed while it runs; should it vanish
        // anyway (a model bug), the host gets a dead vCPU rather than a wait for ever.
        let Some(vcpu) = bound(&mut state, id) else {
            return dead_vcpu();
        };
        if let Some(exit) = vcpu.bridge.exit.take() {
            vcpu.bridge.inside = None;
            let mut registers = exit.registers;
            if exit.keep_host_rbp {
                registers.rbp = host.rbp;
            }
            registers.rflags = host.rflags;
            if let Some(xmm) = exit.xmm {
                write_xmm(call, &xmm, u16::MAX);
            }
            return Outcome::Return(registers.with_status(Status::from_raw(registers.rax)));
        }
        if vcpu.bridge.guest_detached || vcpu.bridge.gone {
            vcpu.bridge.inside = None;
            vcpu.state = VcpuState::Disabled;
            return dead_vcpu();
        }
        state = shared.wait(state);
    }
}

/// The vCPU a [`VirtualCpu`](super::VirtualCpu) belongs to for life: its TDVPR and the
/// serial TDH.VP.CREATE gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct VcpuId {
    pub tdvpr: u64,
    pub serial: u64,
}

/// The vCPU at `tdvpr` now, if there is one.
pub(super) fn current(state: &State, tdvpr: u64) -> Option<VcpuId> {
    state.vcpus.get(&tdvpr).map(|vcpu| VcpuId {
        tdvpr,
        serial: vcpu.serial,
    })
}

/// The guest program of vCPU `id` ended (its [`VirtualCpu`](super::VirtualCpu) was dropped):
/// that vCPU, and no other, can never run again.
pub(super) fn detach(shared: &Shared, id: VcpuId) {
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(vcpu) = bound(&mut state, id) {
        vcpu.bridge.guest_detached = true;
    }
    drop(state);
    shared.changed.notify_all();
}

/// Runs `f` if dropped while armed: when the model code it guards unwinds from a panic.
pub(super) struct OnUnwind<F: FnMut()> {
    f: Option<F>,
}

impl<F: FnMut()> OnUnwind<F> {
    pub fn new(f: F) -> Self {
        OnUnwind { f: Some(f) }
    }

    /// The guarded code returned normally.
    pub fn disarm(mut self) {
        self.f = None;
    }
}

impl<F: FnMut()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(f) = self.f.as_mut() {
            f();
        }
    }
}

/// A [`LogicalProcessor`](super::LogicalProcessor) model panicked (a model bug): its thread
/// answers every later call with #UD (see the `emu` docs), so it will never leave or re-enter
/// a vCPU. Every vCPU it runs or is associated with becomes unrunnable and disassociated (so
/// the TD can still be torn down), and the threads waiting on them are released: guests with
/// #UD, as after teardown.
pub(super) fn lp_panicked(shared: &Shared, lp: u32) {
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let State { vcpus, tds, .. } = &mut *state;
    for vcpu in vcpus.values_mut() {
        if vcpu.bridge.inside == Some(lp) || vcpu.assoc_lp == Some(lp) {
            vcpu.bridge.inside = None;
            vcpu.bridge.gone = true;
            vcpu.state = VcpuState::Disabled;
            if vcpu.assoc_lp.take().is_some() {
                if let Some(td) = tds.get_mut(&vcpu.tdr) {
                    td.num_assoc_vcpus = td.num_assoc_vcpus.saturating_sub(1);
                }
            }
        }
    }
    drop(state);
    shared.changed.notify_all();
}

/// A [`VirtualCpu`](super::VirtualCpu) model panicked: its thread answers every later TDCALL
/// with #UD, so the vCPU is treated as if its guest program ended (the host's TDH.VP.ENTER
/// gets TDX_NON_RECOVERABLE_VCPU) and the host waiting on it is released.
pub(super) fn vcpu_panicked(shared: &Shared, id: VcpuId) {
    detach(shared, id);
}

/// What a guest wait ended with.
enum Waited<'a> {
    /// The vCPU is inside the TD (entered by a host thread).
    Running(MutexGuard<'a, State>),
    /// The vCPU can never run again.
    Gone,
}

/// The vCPU `id` names, if it still exists: its TDVPR not reclaimed, nor reused by a later
/// TDH.VP.CREATE (which gives the page's new vCPU another serial).
fn bound(state: &mut State, id: VcpuId) -> Option<&mut Vcpu> {
    state
        .vcpus
        .get_mut(&id.tdvpr)
        .filter(|vcpu| vcpu.serial == id.serial)
}

/// Waits until the vCPU is entered (or gone).
fn wait_inside<'a>(shared: &'a Shared, mut state: MutexGuard<'a, State>, id: VcpuId) -> Waited<'a> {
    loop {
        match bound(&mut state, id) {
            None => return Waited::Gone,
            Some(vcpu) if vcpu.bridge.gone => return Waited::Gone,
            Some(vcpu) if vcpu.bridge.inside.is_some() => return Waited::Running(state),
            Some(_) => {}
        }
        state = shared.wait(state);
    }
}

/// Leaves the TD with `exit`, waking the host.
fn exit_to_host(shared: &Shared, state: &mut State, tdvpr: u64, exit: ExitRecord, last: LastExit) {
    let vcpu = state.vcpus.get_mut(&tdvpr).expect("running vCPU");
    vcpu.last_exit = last;
    vcpu.bridge.exit = Some(exit);
    vcpu.bridge.inside = None;
    shared.changed.notify_all();
}

/// A TDCALL (or TDG.VP.VMCALL) from the guest thread of the vCPU `id`.
pub(super) fn tdcall(shared: &Shared, id: VcpuId, call: &mut Call<'_>) -> Outcome {
    let tdvpr = id.tdvpr;
    let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let Waited::Running(mut state) = wait_inside(shared, state, id) else {
        return Outcome::Fault(Fault::Ud);
    };
    let regs = *call.registers();
    let Some((number, version)) = Leaf::split_rax(regs.rax) else {
        return complete(regs, invalid(Operand::RAX));
    };
    let leaf = match Leaf::from_number(Side::Guest, number) {
        // The configured module's leaves and leaf versions (the leaf table's columns).
        Some(leaf)
            if version <= leaf.max_version()
                && leaf.modules().contains(state.version)
                && (version == 0 || leaf.v1_modules().contains(state.version)) =>
        {
            leaf
        }
        _ => return complete(regs, invalid(Operand::RAX)),
    };
    if state.inject_panic == Some(leaf) {
        state.inject_panic = None;
        panic!("software module: the panic injected at {leaf:?} (test seam)");
    }
    match leaf {
        Leaf::TdgVpVmcall => vmcall(shared, state, id, call),
        Leaf::TdgMemPageAccept => accept(shared, state, id, call),
        _ => {
            let mut out = regs;
            let status = state
                .tdcall(tdvpr, leaf, version, &mut out)
                .unwrap_or_else(|status| status);
            if state.vcpus.get(&tdvpr).is_none_or(|vcpu| vcpu.bridge.gone) {
                // The call consumed poison: the TD is dead and this TDCALL never returns.
                drop(state);
                shared.changed.notify_all();
                return Outcome::Fault(Fault::Ud);
            }
            complete(out, status)
        }
    }
}

/// TDG.VP.VMCALL: a TD exit with the selected registers, resumed by the next TDH.VP.ENTER.
fn vmcall<'a>(
    shared: &'a Shared,
    mut state: MutexGuard<'a, State>,
    id: VcpuId,
    call: &mut Call<'_>,
) -> Outcome {
    let tdvpr = id.tdvpr;
    const FORBIDDEN: u16 = 1 << 0 | 1 << 1 | 1 << 4;
    const RBP: u16 = 1 << 5;
    let mut regs = *call.registers();
    let control = regs.rcx;
    let gpr_select = control as u16;
    let xmm_select = (control >> 16) as u16;
    let tdr = state.vcpus[&tdvpr].tdr;
    let no_rbp_mod = state.tds[&tdr].config.config_flags & ConfigFlags::NO_RBP_MOD.bits() != 0;
    if control >> 32 != 0 || gpr_select & FORBIDDEN != 0 || (no_rbp_mod && gpr_select & RBP != 0) {
        return complete(regs, invalid(Operand::RCX));
    }
    // What the VMM sees: exit reason 77, the control value, the selected GPRs; everything
    // else zero.
    let mut exit = Registers {
        rax: StatusCode::Success.with_details(EXIT_REASON_TDCALL).raw(),
        rcx: control & 0xFFFF_FFFF,
        ..Registers::default()
    };
    for index in 2..16u8 {
        if gpr_select & (1 << index) != 0 {
            set_gpr(&mut exit, index, gpr(&regs, index));
        }
    }
    let guest_xmm = read_xmm(call).map(|xmm| {
        core::array::from_fn(|i| {
            if xmm_select & (1 << i) != 0 {
                xmm[i]
            } else {
                0
            }
        })
    });
    exit_to_host(
        shared,
        &mut state,
        tdvpr,
        ExitRecord {
            registers: exit,
            xmm: guest_xmm,
            keep_host_rbp: no_rbp_mod && gpr_select & RBP == 0,
        },
        LastExit::Tdvmcall { control },
    );
    let resume = loop {
        let Some(vcpu) = bound(&mut state, id) else {
            return Outcome::Fault(Fault::Ud);
        };
        if vcpu.bridge.gone {
            return Outcome::Fault(Fault::Ud);
        }
        if let Some(resume) = vcpu.bridge.resume.take() {
            break resume;
        }
        state = shared.wait(state);
    };
    drop(state);
    for index in 2..16u8 {
        if gpr_select & (1 << index) != 0 {
            set_gpr(&mut regs, index, resume.gprs[index as usize]);
        }
    }
    regs.rcx = control;
    if let Some(xmm) = resume.xmm {
        write_xmm(call, &xmm, xmm_select);
    }
    complete(regs, Status::SUCCESS)
}

/// TDG.MEM.PAGE.ACCEPT, with the EPT-violation exit when the page is not acceptable.
fn accept<'a>(
    shared: &'a Shared,
    mut state: MutexGuard<'a, State>,
    id: VcpuId,
    call: &mut Call<'_>,
) -> Outcome {
    let tdvpr = id.tdvpr;
    let regs = *call.registers();
    loop {
        let tdr = state.vcpus[&tdvpr].tdr;
        let info = regs.rcx;
        let level = (info & 7) as u8;
        let gpa = info & 0x000F_FFFF_FFFF_F000;
        let td = &state.tds[&tdr];
        if info & 0xFF8 != 0
            || info >> 52 != 0
            || level > 1
            || gpa % super::host::level_size(level) != 0
            || !super::host::private_gpa(td, gpa)
        {
            return complete(regs, invalid(Operand::RCX));
        }
        let outcome = match walk(td, gpa, level) {
            Walk::Failed { level: at, entry } => match entry {
                Some(e) if e.state == SeptState::Mapped => {
                    Err(StatusCode::PageAlreadyAccepted.with_details(at.into()))
                }
                _ => Ok((at, entry)),
            },
            Walk::Reached(entry) => match entry.map(|e| e.state) {
                Some(SeptState::NlMapped | SeptState::NlBlocked) => {
                    Err(StatusCode::PageSizeMismatch.with_details(level.into()))
                }
                Some(SeptState::Mapped) => {
                    Err(StatusCode::PageAlreadyAccepted.with_details(level.into()))
                }
                Some(SeptState::Pending) => {
                    let septe = entry.expect("present");
                    let key = super::memory::Key::Private(td.hkid);
                    state.memory.fill_page(septe.hpa, key);
                    state.tds.get_mut(&tdr).expect("TD").sept.insert(
                        (level, gpa),
                        Septe {
                            state: SeptState::Mapped,
                            ..septe
                        },
                    );
                    Err(Status::SUCCESS)
                }
                _ => Ok((level, entry)),
            },
        };
        let (at, entry) = match outcome {
            Err(status) => return complete(regs, status),
            Ok(violation) => violation,
        };
        // An EPT violation: the VMM must act (e.g. TDH.MEM.PAGE.AUG); the TDCALL runs again
        // when the vCPU is entered next.
        let (readable, writable, executable) = match entry.map(|e| e.state) {
            Some(SeptState::Mapped | SeptState::NlMapped) => (1u64, 1u64, 1u64),
            _ => (0, 0, 0),
        };
        const DATA_WRITE: u64 = 1 << 1;
        let qualification = DATA_WRITE | readable << 3 | writable << 4 | executable << 5;
        let eeq_info = u64::from(level)
            | u64::from(at) << 3
            | u64::from(entry.map_or(0, |e| e.state.public())) << 6
            | u64::from(entry.is_some_and(|e| e.state.is_leaf())) << 14;
        const EEQ_TYPE_ACCEPT: u64 = 1;
        let exit = Registers {
            rax: StatusCode::Success
                .with_details(EXIT_REASON_EPT_VIOLATION)
                .raw(),
            rcx: qualification,
            rdx: EEQ_TYPE_ACCEPT | eeq_info << 32,
            r8: gpa,
            ..Registers::default()
        };
        exit_to_host(
            shared,
            &mut state,
            tdvpr,
            ExitRecord {
                registers: exit,
                xmm: Some([0; 16]),
                keep_host_rbp: false,
            },
            LastExit::Async,
        );
        state = match wait_inside(shared, state, id) {
            Waited::Running(state) => state,
            Waited::Gone => return Outcome::Fault(Fault::Ud),
        };
    }
}

/// The host-physical address of a private GPA the TD has mapped (a MAPPED 4 KiB leaf).
pub(super) fn translate(td: &Td, gpa: u64) -> Option<u64> {
    if !super::host::private_gpa(td, gpa) {
        return None;
    }
    match walk(td, gpa & !(PAGE_SIZE - 1), 0) {
        Walk::Reached(Some(Septe {
            state: SeptState::Mapped,
            hpa,
        })) => Some(hpa + (gpa & (PAGE_SIZE - 1))),
        _ => None,
    }
}

/// Bytes of a report, built as the model's TDG.MR.REPORT builds it.
fn report_bytes(report: &TdReport) -> [u8; 1024] {
    // SAFETY: TdReport is repr(C), 1024 bytes, made only of integers and byte arrays with no
    // padding (its field offsets are checked in `abi::report`), so all its bytes are
    // initialized and reading them as a byte array is sound.
    unsafe { core::mem::transmute_copy(report) }
}

/// A TDREPORT_STRUCT from its 1024 bytes.
pub fn report_from_bytes(bytes: &[u8; 1024]) -> TdReport {
    // SAFETY: TdReport is repr(C), 1024 bytes of integers and byte arrays with no padding:
    // every byte pattern is a valid value. `read_unaligned` copes with the source's alignment.
    unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<TdReport>()) }
}

impl State {
    /// The TDCALL leaves served without leaving the TD.
    fn tdcall(
        &mut self,
        tdvpr: u64,
        leaf: Leaf,
        version: u8,
        regs: &mut Registers,
    ) -> Result<Status, Status> {
        let tdr = self.vcpus[&tdvpr].tdr;
        match leaf {
            Leaf::TdgVpInfo => {
                let td = &self.tds[&tdr];
                regs.rcx = if td.config.gpaw { 52 } else { 48 };
                regs.rdx = td.config.attributes;
                regs.r8 = u64::from(td.num_vcpus) | u64::from(td.config.max_vcpus) << 32;
                regs.r9 = self.vcpus[&tdvpr].index.into();
                regs.r10 = 1;
                regs.r11 = 0;
                Ok(Status::SUCCESS)
            }
            Leaf::TdgVmRd => {
                let id = regs.rdx;
                regs.r8 = 0;
                if version > 0 {
                    regs.rdx = FieldId::NA.raw();
                }
                if regs.rcx != 0 {
                    return Err(invalid(Operand::RCX));
                }
                let td = &self.tds[&tdr];
                if FieldId::from_raw(id).is_null() {
                    regs.rdx = metadata::td_id_for(
                        self.version,
                        metadata::first_field(metadata::TD_FIELDS, Accessor::Guest),
                    );
                    return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
                }
                let read = metadata::read(metadata::TD_FIELDS, id, Accessor::Guest, |get, i| {
                    get(td, i)
                })?;
                regs.r8 = read.value;
                if version > 0 {
                    regs.rdx = metadata::td_id_for(self.version, read.next);
                }
                Ok(Status::SUCCESS)
            }
            Leaf::TdgSysRd => {
                let id = regs.rdx;
                regs.rdx = FieldId::NA.raw();
                regs.r8 = 0;
                if FieldId::from_raw(id).is_null() {
                    regs.rdx =
                        metadata::first_field(metadata::sys_fields(self.version), Accessor::Guest);
                    return Ok(StatusCode::MetadataFirstFieldIdInContext.status());
                }
                let read = metadata::read(
                    metadata::sys_fields(self.version),
                    id,
                    Accessor::Guest,
                    |get, i| get(self, i),
                )?;
                regs.r8 = read.value;
                regs.rdx = read.next;
                Ok(Status::SUCCESS)
            }
            Leaf::TdgMrRtmrExtend => {
                if regs.rcx % 64 != 0 {
                    return Err(invalid(Operand::RCX));
                }
                if regs.rdx > 3 {
                    return Err(invalid(Operand::RDX));
                }
                let td = &self.tds[&tdr];
                let hpa = translate(td, regs.rcx).ok_or(invalid(Operand::RCX))?;
                let mut data = [0u8; 48];
                self.td_read_or_die(tdr, hpa, &mut data)?;
                let td = self.tds.get_mut(&tdr).expect("TD");
                let rtmr = &mut td.rtmr[regs.rdx as usize];
                *rtmr = sha384(&[&rtmr[..], &data]);
                Ok(Status::SUCCESS)
            }
            Leaf::TdgMrReport => self.mr_report(tdr, regs),
            Leaf::TdgVmWr => super::cpuid::vm_wr(self, tdr, regs),
            Leaf::TdgVpVeinfoGet => super::cpuid::veinfo_get(regs),
            Leaf::TdgServtdRd => self.servtd_rd(tdr, regs),
            Leaf::TdgServtdWr => self.servtd_wr(tdr, regs),
            // Not modelled: #VE information, CPUID #VE control, vCPU metadata, TD
            // partitioning, report verification, RDALL.
            _ => Err(invalid(Operand::RAX)),
        }
    }

    fn mr_report(&mut self, tdr: u64, regs: &mut Registers) -> Result<Status, Status> {
        if regs.rcx % 1024 != 0 {
            return Err(invalid(Operand::RCX));
        }
        if regs.rdx % 64 != 0 {
            return Err(invalid(Operand::RDX));
        }
        if regs.r8 != 0 {
            return Err(invalid(Operand::R8));
        }
        let td = &self.tds[&tdr];
        let report_hpa = translate(td, regs.rcx).ok_or(invalid(Operand::RCX))?;
        let data_hpa = translate(td, regs.rdx).ok_or(invalid(Operand::RDX))?;
        let mut report = TdReport::zeroed();
        self.td_read_or_die(tdr, data_hpa, &mut report.report_mac.report_data)?;
        let td = &self.tds[&tdr];
        report.report_mac.report_type.tee_type = REPORT_TYPE_TDX;
        report.tee_tcb_info.valid = 0x1FF;
        report.tee_tcb_info.tee_tcb_svn[..2]
            .copy_from_slice(&[MINOR_VERSION as u8, MAJOR_VERSION as u8]);
        report.tee_tcb_info.mr_seam = sha384(&[b"tdxcall software TDX module"]);
        let info = &mut report.td_info;
        info.attributes = td.config.attributes;
        info.xfam = td.config.xfam;
        info.mr_td = td.mrtd;
        info.mr_config_id = td.config.mr_config_id;
        info.mr_owner = td.config.mr_owner;
        info.mr_owner_config = td.config.mr_owner_config;
        info.rtmr = td.rtmr;
        let mut bytes = report_bytes(&report);
        let tcb_hash = sha384(&[&bytes[256..512]]);
        let info_hash = sha384(&[&bytes[512..1024]]);
        bytes[32..80].copy_from_slice(&tcb_hash);
        bytes[80..128].copy_from_slice(&info_hash);
        // The MAC: the model's stand-in for the CPU's report key.
        let mac = sha384(&[&self.secret, &bytes[..224]]);
        bytes[224..256].copy_from_slice(&mac[..32]);
        self.memory.td_write(td.hkid, report_hpa, &bytes);
        Ok(Status::SUCCESS)
    }

    /// A read of the TD's private memory with its key on the TD's behalf; a line that fails
    /// its integrity check kills the TD ([`State::machine_check`]).
    fn td_read_or_die(&mut self, tdr: u64, hpa: u64, out: &mut [u8]) -> Result<(), Status> {
        let hkid = self.tds[&tdr].hkid;
        if self.memory.td_read(hkid, hpa, out).is_err() {
            self.machine_check(tdr);
            return Err(StatusCode::NonRecoverableTd.status());
        }
        Ok(())
    }

    /// The TD at `tdr` consumed poison (a line of its private memory the host overwrote with
    /// its key): a machine check the TD cannot recover from. The TD becomes FATAL (every
    /// later TD-scope SEAMCALL but teardown answers TDX_TD_FATAL); a vCPU running now leaves
    /// the TD, its host's TDH.VP.ENTER returning TDX_NON_RECOVERABLE_TD; and no vCPU of the
    /// TD runs again (its guest thread's TDCALLs raise #UD). UNVERIFIED: the exact exit the
    /// module gives for a TD machine check; the model reports it without an exit reason.
    pub(super) fn machine_check(&mut self, tdr: u64) {
        if let Some(td) = self.tds.get_mut(&tdr) {
            td.fatal = true;
        }
        let status = StatusCode::NonRecoverableTd.status();
        for vcpu in self.vcpus.values_mut().filter(|vcpu| vcpu.tdr == tdr) {
            if vcpu.bridge.inside.is_some() {
                vcpu.bridge.exit = Some(ExitRecord {
                    registers: Registers {
                        rax: status.raw(),
                        ..Registers::default()
                    },
                    xmm: Some([0; 16]),
                    keep_host_rbp: false,
                });
                vcpu.bridge.inside = None;
                vcpu.last_exit = LastExit::Async;
            }
            vcpu.bridge.gone = true;
        }
    }
}
