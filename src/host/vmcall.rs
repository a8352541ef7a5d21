//! The VMM's half of TDG.VP.VMCALL: a [`TdExit::Tdvmcall`](super::vp::TdExit::Tdvmcall)
//! decoded into a typed [`Request`], and a typed [`Answer`] written back into exactly the
//! registers the guest exposed.
//!
//! The register layout is the GHCI convention the guest wrappers of
//! [`guest::tdvmcall`](crate::guest::tdvmcall) follow: R10 = 0 for a standard call (non-zero:
//! a vendor call, e.g. a KVM hypercall number), R11 = the [`Subfunction`], operands from R12
//! on; on return R10 = the [`TdvmcallStatus`] and R11 (or R12-R15 for CPUID) the result.
//! Both halves are decoded from one place each: this file for the VMM, the guest wrappers for
//! the guest, and a test drives every sub-function through both
//! (`tests/vmcall_requests.rs`).
//!
//! Works without `std`: nothing here allocates.
//!
//! # Examples
//!
//! A VMM loop that answers CPUID and emulated MMIO; everything else is refused with
//! `TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED`:
//!
//! ```no_run
//! use tdxcall::abi::TdvprPage;
//! use tdxcall::guest::tdvmcall::CpuidResult;
//! use tdxcall::host::vmcall::{Answer, Request};
//! use tdxcall::host::vp::{TdExit, VpEnterFlags};
//! use tdxcall::host::Host;
//! use tdxcall::status::TdvmcallCode;
//! use tdxcall::Regs;
//!
//! fn run(host: &mut Host, tdvpr: TdvprPage) -> tdxcall::Result<()> {
//!     let mut regs = Regs::ZERO;
//!     loop {
//!         // SAFETY: (for the example) the vCPU is initialized and entered only here.
//!         let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs)? };
//!         let TdExit::Tdvmcall(call) = exit else { return Ok(()) };
//!         let answer = match call.request() {
//!             Request::Cpuid { leaf: 0, .. } => Answer::Cpuid(CpuidResult::new(1, 0, 0, 0)),
//!             Request::MmioWrite { value, .. } => {
//!                 println!("guest says {value:#x}");
//!                 Answer::Success
//!             }
//!             Request::Hlt { .. } => return Ok(()),
//!             _ => Answer::Error(TdvmcallCode::SubfuncUnsupported),
//!         };
//!         call.answer(answer)?.write(&mut regs);
//!     }
//! }
//! ```

use super::vp::TdvmcallExit;
use crate::abi::check::invalid;
use crate::abi::gpr_select::{Gpr, GprSelect};
use crate::abi::GuestPhysAddr;
use crate::error::{InvalidReason, Result};
use crate::guest::tdvmcall::{CacheFlush, CpuidResult, IoSize, MmioSize, Subfunction};
use crate::regs::Regs;
use crate::status::{TdvmcallCode, TdvmcallStatus};

/// The registers that carry ReportFatalError's message, 8 bytes each, little-endian, in
/// message order (GHCI). The one table: the guest wrapper writes from it too.
pub const FATAL_MESSAGE_REGS: [Gpr; 8] = [
    Gpr::R14,
    Gpr::R15,
    Gpr::Rbx,
    Gpr::Rdi,
    Gpr::Rsi,
    Gpr::R8,
    Gpr::R9,
    Gpr::Rdx,
];

/// A ReportFatalError request (sub-function 0x10003).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FatalError {
    /// R12 bits 31:0: the guest's error code.
    pub error_code: u32,
    /// R13 when R12 bit 63 is set: the shared GPA of more data.
    pub data: Option<u64>,
    /// The 64 message bytes (R14, R15, RBX, RDI, RSI, R8, R9, RDX), zero-padded.
    pub bytes: [u8; 64],
}

impl FatalError {
    /// A request with these values (for tests and replay).
    pub const fn new(error_code: u32, data: Option<u64>, bytes: [u8; 64]) -> FatalError {
        FatalError {
            error_code,
            data,
            bytes,
        }
    }

    /// The message: the bytes up to the first NUL.
    pub fn message(&self) -> &[u8] {
        let end = self.bytes.iter().position(|&b| b == 0).unwrap_or(64);
        &self.bytes[..end]
    }
}

/// What the guest asked for with TDG.VP.VMCALL, decoded from the exposed registers.
///
/// A standard call whose operands are out of the GHCI's range (an I/O size of 3, a
/// direction of 2, a GPA above bit 51) or that does not expose a register its sub-function
/// reads is [`Request::Invalid`]: answer it with
/// [`TdvmcallCode::InvalidOperand`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Request {
    /// Instruction.CPUID: R12 = leaf (EAX), R13 = sub-leaf (ECX). Answer with
    /// [`Answer::Cpuid`].
    Cpuid {
        /// EAX.
        leaf: u32,
        /// ECX.
        subleaf: u32,
    },
    /// Instruction.HLT: R12 = 1 when the guest has interrupts blocked (RFLAGS.IF = 0).
    Hlt {
        /// Whether only NMIs and the like should wake the vCPU.
        interrupts_blocked: bool,
    },
    /// Instruction.IO read: R12 = size, R13 = 0, R14 = port. Answer with
    /// [`Answer::Value`].
    IoRead {
        /// The port.
        port: u16,
        /// The access size.
        size: IoSize,
    },
    /// Instruction.IO write: R12 = size, R13 = 1, R14 = port, R15 = value.
    IoWrite {
        /// The port.
        port: u16,
        /// The access size.
        size: IoSize,
        /// The value (only the low `size` bytes).
        value: u32,
    },
    /// Instruction.RDMSR: R12 = index. Answer with [`Answer::Value`].
    Rdmsr {
        /// The MSR index.
        index: u32,
    },
    /// Instruction.WRMSR: R12 = index, R13 = value.
    Wrmsr {
        /// The MSR index.
        index: u32,
        /// The value.
        value: u64,
    },
    /// #VE.RequestMMIO read: R12 = size, R13 = 0, R14 = GPA. Answer with
    /// [`Answer::Value`].
    MmioRead {
        /// The shared GPA.
        gpa: GuestPhysAddr,
        /// The access size.
        size: MmioSize,
    },
    /// #VE.RequestMMIO write: R12 = size, R13 = 1, R14 = GPA, R15 = value.
    MmioWrite {
        /// The shared GPA.
        gpa: GuestPhysAddr,
        /// The access size.
        size: MmioSize,
        /// The value (only the low `size` bytes).
        value: u64,
    },
    /// Instruction.WBINVD: R12 = 0 (WBINVD) or 1 (WBNOINVD).
    Wbinvd {
        /// Which flush.
        operation: CacheFlush,
    },
    /// Instruction.PCONFIG: R12 = leaf, R13-R15 = the RBX, RCX and RDX operands. Answer
    /// with [`Answer::Value`] (the instruction's EAX).
    Pconfig {
        /// EAX.
        leaf: u32,
        /// RBX.
        rbx: u64,
        /// RCX.
        rcx: u64,
        /// RDX.
        rdx: u64,
    },
    /// GetTdVmCallInfo: R12 = leaf. Answer with [`Answer::TdVmCallInfo`].
    GetTdVmCallInfo {
        /// The leaf.
        leaf: u64,
    },
    /// MapGPA: R12 = start GPA (shared bit set: map shared), R13 = size. Answer with
    /// [`Answer::Success`], [`Answer::Retry`] or an error.
    MapGpa {
        /// The first GPA.
        start: GuestPhysAddr,
        /// The size in bytes.
        size: u64,
    },
    /// GetQuote: R12 = shared buffer GPA, R13 = its size.
    GetQuote {
        /// The buffer.
        buffer: GuestPhysAddr,
        /// Its size in bytes.
        size: u64,
    },
    /// ReportFatalError.
    ReportFatalError(FatalError),
    /// SetupEventNotifyInterrupt: R12 = vector.
    SetupEventNotifyInterrupt {
        /// The vector (32-255 from a well-behaved guest).
        vector: u64,
    },
    /// Service: R12 = command GPA, R13 = response GPA, R14 = vector (0 = none), R15 =
    /// timeout.
    Service {
        /// The command buffer.
        command: GuestPhysAddr,
        /// The response buffer.
        response: GuestPhysAddr,
        /// The notification vector, 0 for none.
        vector: u64,
        /// The timeout, 0 for none.
        timeout: u64,
    },
    /// A vendor call (R10 ≠ 0): R10 and R11-R14 as the guest exposed them (0 for a register
    /// it did not). Answer with [`Answer::Vendor`].
    Vendor {
        /// R10: the vendor's call number (for KVM, the hypercall number).
        r10: u64,
        /// R11-R14.
        args: [u64; 4],
    },
    /// A known sub-function with an operand outside its range or a register it reads not
    /// exposed.
    Invalid {
        /// The sub-function.
        subfunction: Subfunction,
    },
    /// A standard call with a sub-function this crate does not know (or R11 not exposed):
    /// the raw registers, only the exposed ones non-zero.
    Unknown {
        /// R11.
        subfunction: u64,
        /// The exposed registers.
        exposed: GprSelect,
        /// Their values.
        regs: Regs,
    },
}

impl Request {
    /// The GHCI sub-function, for a standard call this crate knows.
    pub const fn subfunction(&self) -> Option<Subfunction> {
        Some(match self {
            Request::Cpuid { .. } => Subfunction::Cpuid,
            Request::Hlt { .. } => Subfunction::Hlt,
            Request::IoRead { .. } | Request::IoWrite { .. } => Subfunction::Io,
            Request::Rdmsr { .. } => Subfunction::Rdmsr,
            Request::Wrmsr { .. } => Subfunction::Wrmsr,
            Request::MmioRead { .. } | Request::MmioWrite { .. } => Subfunction::RequestMmio,
            Request::Wbinvd { .. } => Subfunction::Wbinvd,
            Request::Pconfig { .. } => Subfunction::Pconfig,
            Request::GetTdVmCallInfo { .. } => Subfunction::GetTdVmCallInfo,
            Request::MapGpa { .. } => Subfunction::MapGpa,
            Request::GetQuote { .. } => Subfunction::GetQuote,
            Request::ReportFatalError(_) => Subfunction::ReportFatalError,
            Request::SetupEventNotifyInterrupt { .. } => Subfunction::SetupEventNotifyInterrupt,
            Request::Service { .. } => Subfunction::Service,
            Request::Invalid { subfunction } => *subfunction,
            Request::Vendor { .. } | Request::Unknown { .. } => return None,
        })
    }
}

/// The VMM's answer to a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Answer {
    /// R10 = `TDVMCALL_STATUS_SUCCESS`, nothing else.
    Success,
    /// Success with a value in R11: an I/O or MMIO read, RDMSR, PCONFIG.
    Value(u64),
    /// Success with CPUID's EAX, EBX, ECX, EDX in R12-R15.
    Cpuid(CpuidResult),
    /// Success with GetTdVmCallInfo's R11-R14.
    TdVmCallInfo([u64; 4]),
    /// `TDVMCALL_STATUS_RETRY` with the GPA to resume from in R11 (MapGPA).
    Retry {
        /// The GPA the guest continues from.
        resume: u64,
    },
    /// A named GHCI status in R10 (an error, usually).
    Error(TdvmcallCode),
    /// Any R10 value.
    Status(TdvmcallStatus),
    /// A vendor call's R10 and R11.
    Vendor {
        /// R10 (for KVM: the hypercall's return value).
        r10: u64,
        /// R11.
        r11: u64,
    },
}

impl TdvmcallExit<'_> {
    /// The exposed registers (GPR_SELECT, bits the module never exposes dropped).
    #[inline]
    pub const fn exposed_gprs(&self) -> GprSelect {
        GprSelect::from_bits_truncate(self.gpr_select())
    }

    /// The guest's value of `gpr`, if it exposed it.
    #[inline]
    pub fn gpr(&self, gpr: Gpr) -> Option<u64> {
        if self.exposed_gprs().contains(gpr.select()) {
            Some(gpr.get(self.regs))
        } else {
            None
        }
    }

    /// Decodes the guest's request (GHCI register layout, see the module docs).
    pub fn request(&self) -> Request {
        let r10 = self.gpr(Gpr::R10).unwrap_or(0);
        if r10 != 0 {
            let arg = |gpr| self.gpr(gpr).unwrap_or(0);
            return Request::Vendor {
                r10,
                args: [arg(Gpr::R11), arg(Gpr::R12), arg(Gpr::R13), arg(Gpr::R14)],
            };
        }
        let unknown = |subfunction| {
            let mut regs = Regs::ZERO;
            for gpr in self.exposed_gprs().registers() {
                *gpr.slot(&mut regs) = gpr.get(self.regs);
            }
            Request::Unknown {
                subfunction,
                exposed: self.exposed_gprs(),
                regs,
            }
        };
        let Some(number) = self.gpr(Gpr::R11) else {
            return unknown(0);
        };
        let Some(subfunction) = Subfunction::from_number(number) else {
            return unknown(number);
        };
        self.decode(subfunction)
            .unwrap_or(Request::Invalid { subfunction })
    }

    /// The operands of `subfunction`; `None` when one is missing or out of range.
    fn decode(&self, subfunction: Subfunction) -> Option<Request> {
        let r = |gpr| self.gpr(gpr);
        let gpa = |gpr| r(gpr).and_then(|raw| GuestPhysAddr::new(raw).ok());
        Some(match subfunction {
            Subfunction::Cpuid => Request::Cpuid {
                leaf: u32::try_from(r(Gpr::R12)?).ok()?,
                subleaf: u32::try_from(r(Gpr::R13)?).ok()?,
            },
            Subfunction::Hlt => Request::Hlt {
                interrupts_blocked: match r(Gpr::R12)? {
                    0 => false,
                    1 => true,
                    _ => return None,
                },
            },
            Subfunction::Io => {
                let size = match r(Gpr::R12)? {
                    1 => IoSize::B1,
                    2 => IoSize::B2,
                    4 => IoSize::B4,
                    _ => return None,
                };
                let port = u16::try_from(r(Gpr::R14)?).ok()?;
                match r(Gpr::R13)? {
                    0 => Request::IoRead { port, size },
                    1 => Request::IoWrite {
                        port,
                        size,
                        value: (r(Gpr::R15)? & size_mask(size as u8)) as u32,
                    },
                    _ => return None,
                }
            }
            Subfunction::Rdmsr => Request::Rdmsr {
                index: u32::try_from(r(Gpr::R12)?).ok()?,
            },
            Subfunction::Wrmsr => Request::Wrmsr {
                index: u32::try_from(r(Gpr::R12)?).ok()?,
                value: r(Gpr::R13)?,
            },
            Subfunction::RequestMmio => {
                let size = match r(Gpr::R12)? {
                    1 => MmioSize::B1,
                    2 => MmioSize::B2,
                    4 => MmioSize::B4,
                    8 => MmioSize::B8,
                    _ => return None,
                };
                let gpa = gpa(Gpr::R14)?;
                match r(Gpr::R13)? {
                    0 => Request::MmioRead { gpa, size },
                    1 => Request::MmioWrite {
                        gpa,
                        size,
                        value: r(Gpr::R15)? & size_mask(size as u8),
                    },
                    _ => return None,
                }
            }
            Subfunction::Wbinvd => Request::Wbinvd {
                operation: match r(Gpr::R12)? {
                    0 => CacheFlush::WriteBackInvalidate,
                    1 => CacheFlush::WriteBackNoInvalidate,
                    _ => return None,
                },
            },
            Subfunction::Pconfig => Request::Pconfig {
                leaf: u32::try_from(r(Gpr::R12)?).ok()?,
                rbx: r(Gpr::R13)?,
                rcx: r(Gpr::R14)?,
                rdx: r(Gpr::R15)?,
            },
            Subfunction::GetTdVmCallInfo => Request::GetTdVmCallInfo { leaf: r(Gpr::R12)? },
            Subfunction::MapGpa => Request::MapGpa {
                start: gpa(Gpr::R12)?,
                size: r(Gpr::R13)?,
            },
            Subfunction::GetQuote => Request::GetQuote {
                buffer: gpa(Gpr::R12)?,
                size: r(Gpr::R13)?,
            },
            Subfunction::ReportFatalError => {
                let r12 = r(Gpr::R12)?;
                let mut bytes = [0u8; 64];
                for (gpr, chunk) in FATAL_MESSAGE_REGS
                    .into_iter()
                    .zip(bytes.chunks_exact_mut(8))
                {
                    chunk.copy_from_slice(&r(gpr).unwrap_or(0).to_le_bytes());
                }
                Request::ReportFatalError(FatalError {
                    error_code: r12 as u32,
                    data: if r12 >> 63 != 0 { r(Gpr::R13) } else { None },
                    bytes,
                })
            }
            Subfunction::SetupEventNotifyInterrupt => Request::SetupEventNotifyInterrupt {
                vector: r(Gpr::R12)?,
            },
            Subfunction::Service => Request::Service {
                command: gpa(Gpr::R12)?,
                response: gpa(Gpr::R13)?,
                vector: r(Gpr::R14)?,
                timeout: r(Gpr::R15)?,
            },
        })
    }

    /// The registers that answer this call with `answer`, for the next
    /// [`Host::vp_enter`](super::Host::vp_enter): every register zero, then R10 (the
    /// status) and the answer's result registers. [`Reply::write`] puts them into the
    /// `Regs` the exit borrows, once the exit is no longer used:
    /// `call.answer(answer)?.write(&mut regs)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when the answer needs a
    /// register the guest did not expose (for example a CPUID answer to a call that did not
    /// expose R12-R15); nothing is written.
    pub fn answer(&self, answer: Answer) -> Result<Reply> {
        let (r10, results): (u64, &[(Gpr, u64)]) = match answer {
            Answer::Success => (0, &[]),
            Answer::Value(value) => (0, &[(Gpr::R11, value)]),
            Answer::Cpuid(c) => (
                0,
                &[
                    (Gpr::R12, c.eax as u64),
                    (Gpr::R13, c.ebx as u64),
                    (Gpr::R14, c.ecx as u64),
                    (Gpr::R15, c.edx as u64),
                ],
            ),
            Answer::TdVmCallInfo(v) => (
                0,
                &[
                    (Gpr::R11, v[0]),
                    (Gpr::R12, v[1]),
                    (Gpr::R13, v[2]),
                    (Gpr::R14, v[3]),
                ],
            ),
            Answer::Retry { resume } => (TdvmcallStatus::RETRY.raw(), &[(Gpr::R11, resume)]),
            Answer::Error(code) => (code.value(), &[]),
            Answer::Status(status) => (status.raw(), &[]),
            Answer::Vendor { r10, r11 } => (r10, &[(Gpr::R11, r11)]),
        };
        let mut out = Regs::ZERO;
        for &(gpr, value) in [(Gpr::R10, r10)].iter().chain(results) {
            if !self.exposed_gprs().contains(gpr.select()) {
                return Err(invalid(
                    "TDVMCALL answer register",
                    InvalidReason::OutOfRange {
                        value: gpr.index() as u64,
                        min: 0,
                        max: 15,
                    },
                )
                .into());
            }
            *gpr.slot(&mut out) = value;
        }
        Ok(Reply(out))
    }
}

/// The registers of a typed [`Answer`], checked against the registers the guest exposed
/// ([`TdvmcallExit::answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a reply does nothing until it is written into the registers of the next VP.ENTER"]
pub struct Reply(Regs);

impl Reply {
    /// Writes the reply into `regs` (every register: the ones the answer does not set are
    /// zero), the registers the next [`Host::vp_enter`](super::Host::vp_enter) takes.
    #[inline]
    pub fn write(self, regs: &mut Regs) {
        *regs = self.0;
    }

    /// The registers of the reply.
    #[inline]
    pub const fn regs(&self) -> &Regs {
        &self.0
    }
}

const fn size_mask(bytes: u8) -> u64 {
    if bytes >= 8 {
        u64::MAX
    } else {
        (1 << (bytes as u32 * 8)) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::status::{ExitReason, Status};

    /// A TDVMCALL exit over a leaked register file (tests only): RCX = the GPR select.
    fn exit(exposed: &[Gpr], set: impl Fn(&mut Regs)) -> TdvmcallExit<'static> {
        let mut regs = Regs::ZERO;
        set(&mut regs);
        let mut select = 0u16;
        for gpr in exposed {
            select |= 1 << gpr.index();
        }
        for gpr in Gpr::ALL {
            if select & 1 << gpr.index() == 0 {
                *gpr.slot(&mut regs) = 0;
            }
        }
        regs.rcx = u64::from(select);
        TdvmcallExit {
            status: Status::from_raw(u64::from(ExitReason::TDCALL)),
            regs: std::boxed::Box::leak(std::boxed::Box::new(regs)),
        }
    }

    use Gpr::*;

    #[test]
    fn operands_out_of_range_are_invalid() {
        let io3 = exit(&[R10, R11, R12, R13, R14], |r| {
            r.r11 = 30;
            r.r12 = 3;
        });
        assert_eq!(
            io3.request(),
            Request::Invalid {
                subfunction: Subfunction::Io
            }
        );
        // CPUID without R13 exposed.
        let cpuid = exit(&[R10, R11, R12], |r| r.r11 = 10);
        assert_eq!(
            cpuid.request(),
            Request::Invalid {
                subfunction: Subfunction::Cpuid
            }
        );
        let mmio_high = exit(&[R10, R11, R12, R13, R14], |r| {
            r.r11 = 48;
            r.r12 = 8;
            r.r14 = 1 << 52;
        });
        assert_eq!(
            mmio_high.request(),
            Request::Invalid {
                subfunction: Subfunction::RequestMmio
            }
        );
    }

    #[test]
    fn unknown_and_vendor_calls_keep_their_registers() {
        let unknown = exit(&[R10, R11, R12], |r| {
            r.r11 = 0x1_2345;
            r.r12 = 7;
        });
        match unknown.request() {
            Request::Unknown {
                subfunction,
                exposed,
                regs,
            } => {
                assert_eq!(subfunction, 0x1_2345);
                assert_eq!(exposed, GprSelect::R10 | GprSelect::R11 | GprSelect::R12);
                assert_eq!(regs.r12, 7);
            }
            other => panic!("{other:?}"),
        }
        let vendor = exit(&[R10, R11, R12, R13, R14], |r| {
            r.r10 = 5;
            r.r11 = 1;
            r.r14 = 4;
        });
        assert_eq!(
            vendor.request(),
            Request::Vendor {
                r10: 5,
                args: [1, 0, 0, 4]
            }
        );
    }

    #[test]
    fn answers_write_only_exposed_registers() {
        let call = exit(&[R10, R11, R12, R13], |r| r.r11 = 10);
        let mut regs = Regs {
            rbx: 9,
            ..Regs::ZERO
        };
        let cpuid = Answer::Cpuid(CpuidResult::new(1, 2, 3, 4));
        assert!(matches!(
            call.answer(cpuid).map(|reply| reply.write(&mut regs)),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(regs.rbx, 9, "left unchanged on error");
        call.answer(Answer::Value(0x55)).unwrap().write(&mut regs);
        assert_eq!(
            regs,
            Regs {
                r11: 0x55,
                ..Regs::ZERO
            }
        );
        call.answer(Answer::Error(TdvmcallCode::InvalidOperand))
            .unwrap()
            .write(&mut regs);
        assert_eq!(regs.r10, 1 << 63);
        assert_eq!(regs.r11, 0);
    }

    #[test]
    fn fatal_error_message_stops_at_nul() {
        let mut bytes = [0u8; 64];
        bytes[..5].copy_from_slice(b"oops!");
        let fatal = FatalError {
            error_code: 1,
            data: None,
            bytes,
        };
        assert_eq!(fatal.message(), b"oops!");
        let full = FatalError {
            bytes: [b'x'; 64],
            ..fatal
        };
        assert_eq!(full.message().len(), 64);
    }
}
