//! The direct backend: the software module called in-process, without trapping.
//!
//! [`Direct`] is a [`Backend`] that hands each call straight to a [`Model`] (a
//! [`LogicalProcessor`] for host code, a [`VirtualCpu`] for guest code) and turns the
//! model's [`Outcome`] into what the thunk would have returned after the trapped round trip:
//!
//! | outcome | status | registers |
//! |---|---|---|
//! | [`Outcome::Return`] | RAX of the answer; [`Status::SEAMCALL_VMFAILINVALID`] for a SEAMCALL whose answer sets CF | the 13 registers of the answer |
//! | [`Outcome::VmFailInvalid`] | [`Status::SEAMCALL_VMFAILINVALID`]; at a TDCALL, #UD ([`Status::TDCALL_UD`]) | unchanged |
//! | [`Outcome::Fault`] | the software code of that fault at that instruction ([`Status::for_fault`]) | unchanged |
//!
//! That is the thunk's contract (`asm/tdxcall.S`): every one of the 13 registers is stored
//! back after the instruction, and after a fault they hold their inputs. The model is the
//! same code the signal handler runs, so statuses, operand IDs and the blocking protocol of
//! the `bridge` (a guest's TDCALL waits for its vCPU to be entered, TDG.VP.VMCALL ends the
//! host's TDH.VP.ENTER, TDH.MNG.VPFLUSHDONE releases a blocked guest with #UD, a dropped
//! guest backend makes the next entry a triple fault) hold unchanged: a `DirectHost` on one
//! thread and a `DirectGuest` on another interact exactly as a trapped LP and vCPU do, and
//! may be mixed with trapped ones on the same module.
//!
//! The trapped path stays the default and the one that proves the real thunks, the fault
//! handler and the signal-frame extended state; the direct path skips the instruction, the
//! #UD, the kernel's signal delivery and `sigreturn`, so large and randomized suites run
//! fast (`benches/module_direct.rs`; numbers in the crate's BENCHMARKS.md).
//! `tests/module_direct.rs` runs the lifecycle and the misuse suite through both and compares
//! every status and register.
//!
//! # Extended state without a signal frame
//!
//! A trapped model reads and writes the vector registers in the signal frame. A `Direct`
//! backend has no frame; it owns an in-memory FXSAVE-format image instead (512 bytes:
//! MXCSR and XMM0-15, no XSAVE components), which the model sees through
//! [`Call::extended_state`] and the caller reads and writes with [`Direct::vector_state`].
//! The image is not the thread's registers: what a guest exposes in TDG.VP.VMCALL's XMM
//! select mask comes from its backend's image and lands in the host backend's image after
//! TDH.VP.ENTER, and back. A model that needs the components of a full XSAVE area finds
//! none ([`ExtendedState::is_xsave`] is `false`). [`Direct::without_vector_state`] gives the
//! model no extended state at all (`None`), as a signal frame without an fpstate would.
//!
//! # Panics in the model
//!
//! As in the trapped path (see the `emu` docs), a model panic is caught: that call and every
//! later call through the same backend answer #UD without calling the model; the panic is
//! kept and re-raised when the backend is dropped (unless the thread is already panicking),
//! or handed over by [`Direct::take_panic`], after which the model is called again.
//!
//! # Re-entry
//!
//! While the model runs the thread counts as inside a model, as in the signal handler: a
//! `Direct` call made from inside a model (or inside [`Installed::with`](crate::emu::Installed::with))
//! is not run and answers #UD, as a TDX instruction there takes the fixup path.

use super::{LogicalProcessor, SoftwareModule, VirtualCpu};
use crate::abi::TdvprPage;
use crate::call::{Backend, CallKind};
use crate::emu::{Call, ExtendedState, Fault, Guarded, Model, Outcome, Registers, FLAG_CF};
use crate::fixup::{Site, SiteKind};
use crate::regs::{RegSet, Regs};
use crate::status::Status;
use core::any::Any;
use std::boxed::Box;

/// Bytes of the in-memory vector-state image (the FXSAVE legacy region).
pub const VECTOR_IMAGE_SIZE: usize = 512;
/// Offset of MXCSR in the image.
const MXCSR_OFFSET: usize = 24;
/// MXCSR after reset: every exception masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1F80;
/// RFLAGS as the model sees it on entry: only the always-one bit 1.
const RFLAGS_IN: u64 = 1 << 1;

/// A backend that calls a model of the software module in-process, without trapping (see the
/// [module docs](self)).
pub struct Direct<M: Model> {
    /// The model and the panic it raised, if any (the trapped path's policy, `emu::Guarded`).
    guarded: Guarded<M>,
    image: Option<Box<[u8; VECTOR_IMAGE_SIZE]>>,
}

/// The host side: a logical processor of the software module, called directly.
pub type DirectHost = Direct<LogicalProcessor>;
/// The guest side: a vCPU of the software module, called directly.
pub type DirectGuest = Direct<VirtualCpu>;

impl<M: Model> Direct<M> {
    /// A direct backend over `model`, with a zeroed vector-state image (MXCSR at its reset
    /// value 0x1F80).
    pub fn new(model: M) -> Direct<M> {
        let mut image = Box::new([0u8; VECTOR_IMAGE_SIZE]);
        image[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
        Direct {
            guarded: Guarded::new(model),
            image: Some(image),
        }
    }

    /// A direct backend over `model` that gives it no extended state
    /// ([`Call::extended_state`] is `None`): vector registers are neither read nor written.
    pub fn without_vector_state(model: M) -> Direct<M> {
        Direct {
            guarded: Guarded::new(model),
            image: None,
        }
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.guarded.model
    }

    /// The in-memory vector state the model reads and writes in place of the signal frame's
    /// (`None` for [`Direct::without_vector_state`]).
    pub fn vector_state(&mut self) -> Option<ExtendedState<'_>> {
        self.image
            .as_deref_mut()
            .map(ExtendedState::from_legacy_image)
    }

    /// Takes the panic the model raised during a call, if any; the model is called again
    /// from the next call on.
    pub fn take_panic(&mut self) -> Option<Box<dyn Any + Send>> {
        self.guarded.take_panic()
    }

    /// The model, back. Re-raises a panic the model raised and nobody took.
    pub fn into_inner(self) -> M {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; each field is read out once, and
        // the image, not returned, is dropped here.
        let guarded = unsafe {
            drop(core::ptr::read(&this.image));
            core::ptr::read(&this.guarded)
        };
        guarded.into_model()
    }

    /// One call to the model; the outcome, or #UD when the model panicked (now or before)
    /// or the thread is already inside a model.
    fn outcome(&mut self, kind: CallKind, set: RegSet, registers: Registers) -> Outcome {
        let site = Site {
            // No instruction executes: the call has no site address.
            instruction: 0,
            fixup: 0,
            kind: if kind.is_tdcall() {
                SiteKind::Tdcall
            } else {
                SiteKind::Seamcall
            },
            thunk: kind,
            regs: set,
        };
        let (guarded, image) = (&mut self.guarded, &mut self.image);
        crate::emu::run_unsignalled(|| {
            let extended = image.as_deref_mut().map(ExtendedState::from_legacy_image);
            guarded.call(&mut Call::new(site, kind, registers, extended))
        })
        .unwrap_or(Outcome::Fault(Fault::Ud))
    }
}

impl<M: Model> Backend for Direct<M> {
    unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
        self.call_in_set(kind, RegSet::Full, leaf, regs)
    }

    /// As the narrow thunk of `set` leaves it: the model's answer in the registers of `set`,
    /// every other field of `regs` as it was (the model sees the set as its site's, as at
    /// a trapped narrow site).
    unsafe fn call_set(
        &mut self,
        kind: CallKind,
        set: RegSet,
        leaf: u64,
        regs: &mut Regs,
    ) -> Status {
        self.call_in_set(kind, set, leaf, regs)
    }
}

impl<M: Model> Direct<M> {
    /// One call moving the registers of `set` (all of them for [`RegSet::Full`]).
    fn call_in_set(&mut self, kind: CallKind, set: RegSet, leaf: u64, regs: &mut Regs) -> Status {
        // The caller has just written `regs` one 8-byte field at a time; copied as a block,
        // each 16-byte load across two of those stores would miss store forwarding (a stall
        // of some ten cycles each, three per call, measured on a direct TDG.VM.RD). Volatile
        // reads keep them 8-byte loads, each forwarded from its own store.
        let read = |field: &u64| {
            // SAFETY: `field` is a reference to an initialized, aligned u64.
            unsafe { core::ptr::read_volatile(field) }
        };
        let registers = Registers {
            rax: leaf,
            rflags: RFLAGS_IN,
            rcx: read(&regs.rcx),
            rdx: read(&regs.rdx),
            r8: read(&regs.r8),
            r9: read(&regs.r9),
            r10: read(&regs.r10),
            r11: read(&regs.r11),
            r12: read(&regs.r12),
            r13: read(&regs.r13),
            r14: read(&regs.r14),
            r15: read(&regs.r15),
            rbx: read(&regs.rbx),
            rdi: read(&regs.rdi),
            rsi: read(&regs.rsi),
            ..Registers::default()
        };
        let tdcall = kind.is_tdcall();
        match self.outcome(kind, set, registers) {
            Outcome::Return(answer) => {
                *regs = set.merge(regs, &answer.regs());
                if !tdcall && answer.rflags & FLAG_CF != 0 {
                    Status::SEAMCALL_VMFAILINVALID
                } else {
                    Status::from_raw(answer.rax)
                }
            }
            Outcome::VmFailInvalid if !tdcall => Status::SEAMCALL_VMFAILINVALID,
            Outcome::VmFailInvalid => Status::for_fault(true, Fault::Ud.vector()),
            Outcome::Fault(fault) => Status::for_fault(tdcall, fault.vector()),
        }
    }
}

impl<M: Model> Drop for Direct<M> {
    fn drop(&mut self) {
        self.guarded.reraise();
    }
}

impl<M: Model + core::fmt::Debug> core::fmt::Debug for Direct<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Direct")
            .field("model", &self.guarded.model)
            .field("vector_state", &self.image.is_some())
            .field("panicked", &self.guarded.panicked())
            .finish()
    }
}

impl SoftwareModule {
    /// Logical processor `index` as a [`DirectHost`] backend: host code on any thread calls
    /// the module through it without trapping (`Host::new(module.direct_host(0))`). See
    /// [`SoftwareModule::logical_processor`] for the rules of an LP.
    pub fn direct_host(&self, index: u32) -> DirectHost {
        Direct::new(self.logical_processor(index))
    }

    /// The vCPU at `tdvpr` as a [`DirectGuest`] backend (`Guest::new(module.direct_guest(tdvpr))`).
    /// See [`SoftwareModule::virtual_cpu`]; dropping the backend drops the vCPU's guest.
    pub fn direct_guest(&self, tdvpr: TdvprPage) -> DirectGuest {
        Direct::new(self.virtual_cpu(tdvpr))
    }
}

#[cfg(test)]
mod tests {
    //! A TD's whole life through the direct backends alone: nothing of the trap glue (no
    //! `emu::install`, no `Host::native`, no signal handler), so this test builds on every
    //! std target, not only Linux x86-64 (`cargo clippy --target aarch64-unknown-linux-gnu
    //! --all-features --lib --tests` compiles it in CI), and runs wherever tests run.
    use super::*;
    use crate::abi::Hkid;
    use crate::guest::tdvmcall::CpuidResult;
    use crate::guest::Guest;
    use crate::host::builder::{PlatformBuilder, TdBuilder, TdParamsBuilder};
    use crate::host::vmcall::{Answer, Request};
    use crate::host::vp::{TdExit, VpEnterFlags};
    use crate::host::Host;
    use crate::status::{StatusCode, TdvmcallCode};

    const VENDOR: CpuidResult = CpuidResult::new(0xD, 0x756E_6547, 0x6C65_746E, 0x4965_6E69);

    #[test]
    fn a_td_lives_and_dies_through_direct_backends_only() {
        let mut module = SoftwareModule::default();
        let mut host = Host::new(module.direct_host(0));
        let mut pages = module.clone();
        let lps = module.config().logical_processors;
        let others = || -> crate::Result<()> {
            for index in 1..lps {
                Host::new(module.direct_host(index)).sys_lp_init()?;
            }
            Ok(())
        };
        PlatformBuilder::new(Hkid::new(module.config().private_hkids.start))
            .tdmr(module.tdmr())
            .init(&mut host, &mut pages, others, || Ok(()))
            .expect("the platform comes up");
        let mut td = TdBuilder::new(Hkid::new(33), TdParamsBuilder::new())
            .build(&mut host, &mut module)
            .expect("the TD is built");
        let tdvpr = td.add_vcpu(&mut host, &mut module, 0, None).unwrap();
        td.finalize(&mut host).unwrap();
        let mrtd = module.mrtd(td.tdr).expect("the TD exists");
        assert_ne!(mrtd, [0; 48], "MR.FINALIZE set the MRTD");

        let backend = module.direct_guest(tdvpr);
        let guest = std::thread::spawn(move || {
            let mut guest = Guest::new(backend);
            let info = guest.vp_info().expect("TDG.VP.INFO");
            let vendor = guest.tdvmcall_cpuid(0, 0).expect("the VMM answers CPUID");
            (info.vcpu_index, info.max_vcpus, vendor)
        });
        let mut regs = Regs::ZERO;
        let mut requests = std::vec::Vec::new();
        let last = loop {
            // SAFETY: the vCPU is initialized and entered only from this thread.
            let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }
                .expect("TDH.VP.ENTER");
            let TdExit::Tdvmcall(call) = exit else {
                break exit.status();
            };
            let request = call.request();
            requests.push(request);
            let answer = match request {
                Request::Cpuid { leaf: 0, .. } => Answer::Cpuid(VENDOR),
                _ => Answer::Error(TdvmcallCode::SubfuncUnsupported),
            };
            call.answer(answer).unwrap().write(&mut regs);
        };
        assert_eq!(guest.join().unwrap(), (0, 1, VENDOR));
        assert_eq!(requests.len(), 1, "one TDVMCALL: {requests:?}");
        // The guest's thread ended and dropped its backend: the vCPU cannot run any more.
        assert!(last.is(StatusCode::NonRecoverableVcpu), "{last}");
        let (owned, tdr) = (td.page_count(), td.tdr);
        assert_eq!(td.teardown(&mut host, &mut module).unwrap(), owned);
        assert_eq!(module.mrtd(tdr), None, "the TD is gone");
    }
}
