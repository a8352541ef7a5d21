//! A #VE dispatcher for guest kernels: given the #VE information
//! ([`Guest::vp_veinfo_get`]) and the interrupted context's registers, it performs the
//! TDG.VP.VMCALL the instruction needs, writes the instruction's results into the
//! registers and says how far to advance RIP.
//!
//! Supported exits (the basic exit reason is the GHCI [`Subfunction`] number, so the
//! decision is made from the sub-function table):
//!
//! | instruction | exit reason | what the dispatcher does |
//! |---|---|---|
//! | CPUID | 10 | Instruction.CPUID with EAX/ECX; EAX-EDX written (upper halves zeroed) |
//! | HLT | 12 | Instruction.HLT, interrupts blocked when RFLAGS.IF = 0 |
//! | IN / OUT | 30 | Instruction.IO, 1, 2 or 4 bytes, port in DX or immediate; IN writes AL/AX/EAX as the CPU would (EAX zero-extends into RAX) |
//! | RDMSR | 31 | Instruction.RDMSR with ECX; EDX:EAX written |
//! | WRMSR | 32 | Instruction.WRMSR with ECX and EDX:EAX |
//! | WBINVD | 54 | Instruction.WBINVD (write back and invalidate) |
//!
//! **Not supported:** MMIO (an EPT violation on a shared GPA, exit 48) needs the faulting
//! instruction decoded to know the access size, direction and register, which this crate
//! does not do: the dispatcher returns [`VeError::Unsupported`] and the caller decodes the
//! instruction and calls [`Guest::tdvmcall_mmio_read`] / [`Guest::tdvmcall_mmio_write`].
//! String and REP I/O (INS/OUTS) are not supported either. Everything else is
//! [`VeError::Unsupported`] with its exit reason.
//!
//! RIP: the dispatcher returns the instruction length from the #VE information; the caller
//! adds it to the interrupted RIP (after a successful HLT too: execution resumes after it).
//!
//! # Examples
//!
//! ```no_run
//! use tdxcall::guest::ve::{handle_ve, VeRegs};
//! use tdxcall::guest::Guest;
//!
//! // In the #VE handler, with the interrupted frame at hand:
//! # let (mut frame_rip, mut frame) = (0u64, VeRegs::default());
//! let mut guest = Guest::native();
//! let info = guest.vp_veinfo_get().expect("inside a #VE");
//! match handle_ve(&mut guest, &info, &mut frame) {
//!     Ok(length) => frame_rip += u64::from(length),
//!     Err(error) => panic!("unhandled #VE: {error}"),
//! }
//! ```

use super::tdvmcall::{CacheFlush, IoSize, Subfunction, VmcallError};
use super::vp::VeInfo;
use super::Guest;
use crate::call::Backend;
use core::fmt;

/// The interrupted context's registers the supported instructions read and write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VeRegs {
    /// RAX.
    pub rax: u64,
    /// RBX.
    pub rbx: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// RFLAGS (bit 9, IF, decides whether a HLT has interrupts blocked).
    pub rflags: u64,
}

/// Why the dispatcher did not handle a #VE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VeError {
    /// An exit the dispatcher does not handle (see the module docs), with its basic exit
    /// reason; nothing was called.
    Unsupported {
        /// The basic exit reason (bits 15:0).
        exit_reason: u16,
    },
    /// The TDG.VP.VMCALL failed or the VMM refused it; the registers are unchanged.
    Vmcall(VmcallError),
}

impl fmt::Display for VeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VeError::Unsupported { exit_reason } => {
                write!(f, "#VE for exit reason {exit_reason} is not handled")
            }
            VeError::Vmcall(error) => write!(f, "#VE emulation failed: {error}"),
        }
    }
}

impl core::error::Error for VeError {}

impl From<VmcallError> for VeError {
    fn from(error: VmcallError) -> VeError {
        VeError::Vmcall(error)
    }
}

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// Writes a 32-bit result as the CPU does: the upper half of the 64-bit register is zeroed.
fn set32(register: &mut u64, value: u32) {
    *register = u64::from(value);
}

/// Emulates the instruction behind a #VE (see the module docs for what is supported) and
/// returns how many bytes to advance RIP.
///
/// # Errors
///
/// [`VeError::Unsupported`] for an exit it does not handle (nothing is called);
/// [`VeError::Vmcall`] when the TDVMCALL fails (the registers are left as they were).
pub fn handle_ve<B: Backend>(
    guest: &mut Guest<B>,
    info: &VeInfo,
    regs: &mut VeRegs,
) -> Result<u32, VeError> {
    let exit_reason = info.exit_reason.basic();
    let unsupported = VeError::Unsupported { exit_reason };
    let Some(subfunction) = Subfunction::from_number(u64::from(exit_reason)) else {
        return Err(unsupported);
    };
    match subfunction {
        Subfunction::Cpuid => {
            let out = guest.tdvmcall_cpuid(regs.rax as u32, regs.rcx as u32)?;
            set32(&mut regs.rax, out.eax);
            set32(&mut regs.rbx, out.ebx);
            set32(&mut regs.rcx, out.ecx);
            set32(&mut regs.rdx, out.edx);
        }
        Subfunction::Hlt => guest.tdvmcall_hlt(regs.rflags & RFLAGS_IF == 0)?,
        Subfunction::Rdmsr => {
            let value = guest.tdvmcall_rdmsr(regs.rcx as u32)?;
            set32(&mut regs.rax, value as u32);
            set32(&mut regs.rdx, (value >> 32) as u32);
        }
        Subfunction::Wrmsr => {
            let value = (regs.rdx & 0xFFFF_FFFF) << 32 | regs.rax & 0xFFFF_FFFF;
            guest.tdvmcall_wrmsr(regs.rcx as u32, value)?;
        }
        Subfunction::Wbinvd => guest.tdvmcall_wbinvd(CacheFlush::WriteBackInvalidate)?,
        Subfunction::Io => {
            // Exit qualification (SDM "Exit Qualification for I/O Instructions"): bits
            // 2:0 size - 1, bit 3 IN, bit 4 string, bit 5 REP, bits 31:16 the port.
            let q = info.exit_qualification;
            if q & (1 << 4 | 1 << 5) != 0 {
                return Err(unsupported);
            }
            let size = match q & 7 {
                0 => IoSize::B1,
                1 => IoSize::B2,
                3 => IoSize::B4,
                _ => return Err(unsupported),
            };
            let port = (q >> 16) as u16;
            if q & 1 << 3 != 0 {
                let value = guest.tdvmcall_io_read(port, size)?;
                regs.rax = match size {
                    IoSize::B1 => regs.rax & !0xFF | u64::from(value & 0xFF),
                    IoSize::B2 => regs.rax & !0xFFFF | u64::from(value & 0xFFFF),
                    IoSize::B4 => u64::from(value),
                };
            } else {
                let mask = match size {
                    IoSize::B1 => 0xFF,
                    IoSize::B2 => 0xFFFF,
                    IoSize::B4 => 0xFFFF_FFFF,
                };
                guest.tdvmcall_io_write(port, size, (regs.rax & mask) as u32)?;
            }
        }
        _ => return Err(unsupported),
    }
    Ok(info.instruction_length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::testing::*;
    use crate::host::vmcall::Request;
    use crate::host::vp::TdvmcallExit;
    use crate::regs::Regs;
    use crate::status::{ExitReason, Status, TdvmcallCode};

    fn ve(exit_reason: u32, qualification: u64, length: u32) -> VeInfo {
        VeInfo {
            exit_reason: ExitReason::from_raw(exit_reason),
            exit_qualification: qualification,
            gla: 0,
            gpa: 0,
            instruction_length: length,
            instruction_info: 0,
        }
    }

    /// What the VMM would decode from the recorded TDVMCALL.
    fn request(call: &Recorded) -> Request {
        TdvmcallExit {
            status: Status::from_raw(u64::from(ExitReason::TDCALL)),
            regs: &call.regs,
        }
        .request()
    }

    const DIRTY: u64 = 0xDEAD_BEEF_0000_0000;

    #[test]
    fn cpuid_asks_the_vmm_and_writes_four_registers() {
        let out = |r: &mut Regs| {
            r.r10 = 0;
            r.r12 = 0xA;
            r.r13 = 0xB;
            r.r14 = 0xC;
            r.r15 = 0xD;
        };
        let mut regs = VeRegs {
            rax: DIRTY | 7,
            rbx: DIRTY,
            rcx: DIRTY | 1,
            rdx: DIRTY,
            rflags: 0,
        };
        let (res, log) = run(&[(0, &out)], |g| handle_ve(g, &ve(10, 0, 2), &mut regs));
        assert_eq!(res, Ok(2));
        assert_eq!(
            request(&log.only()),
            Request::Cpuid {
                leaf: 7,
                subleaf: 1
            }
        );
        assert_eq!(
            (regs.rax, regs.rbx, regs.rcx, regs.rdx),
            (0xA, 0xB, 0xC, 0xD)
        );
    }

    #[test]
    fn hlt_follows_rflags_if() {
        for (rflags, blocked) in [(RFLAGS_IF, false), (0, true)] {
            let mut regs = VeRegs {
                rflags,
                ..VeRegs::default()
            };
            let (res, log) = run(&[(0, &nothing)], |g| handle_ve(g, &ve(12, 0, 1), &mut regs));
            assert_eq!(res, Ok(1));
            assert_eq!(
                request(&log.only()),
                Request::Hlt {
                    interrupts_blocked: blocked
                }
            );
        }
    }

    #[test]
    fn rdmsr_and_wrmsr_use_edx_eax() {
        let out = |r: &mut Regs| {
            r.r10 = 0;
            r.r11 = 0x1122_3344_5566_7788;
        };
        let mut regs = VeRegs {
            rax: DIRTY,
            rcx: DIRTY | 0x1B,
            rdx: DIRTY,
            ..VeRegs::default()
        };
        let (res, log) = run(&[(0, &out)], |g| handle_ve(g, &ve(31, 0, 2), &mut regs));
        assert_eq!(res, Ok(2));
        assert_eq!(request(&log.only()), Request::Rdmsr { index: 0x1B });
        assert_eq!((regs.rax, regs.rdx), (0x5566_7788, 0x1122_3344));

        let mut regs = VeRegs {
            rax: DIRTY | 0x9ABC_DEF0,
            rcx: 0x6E0,
            rdx: DIRTY | 0x1234_5678,
            ..VeRegs::default()
        };
        let (res, log) = run(&[(0, &nothing)], |g| handle_ve(g, &ve(32, 0, 2), &mut regs));
        assert_eq!(res, Ok(2));
        assert_eq!(
            request(&log.only()),
            Request::Wrmsr {
                index: 0x6E0,
                value: 0x1234_5678_9ABC_DEF0
            }
        );
    }

    #[test]
    fn port_io_in_and_out_of_each_size() {
        let out = |r: &mut Regs| {
            r.r10 = 0;
            r.r11 = 0xFFFF_FFFF;
        };
        // IN AL, DX (port 0x3F8): only AL changes.
        let q_in1 = 0x3F8 << 16 | 1 << 3;
        let mut regs = VeRegs {
            rax: DIRTY | 0x1234,
            ..VeRegs::default()
        };
        let (res, log) = run(&[(0, &out)], |g| handle_ve(g, &ve(30, q_in1, 1), &mut regs));
        assert_eq!(res, Ok(1));
        assert_eq!(
            request(&log.only()),
            Request::IoRead {
                port: 0x3F8,
                size: IoSize::B1
            }
        );
        assert_eq!(regs.rax, DIRTY | 0x12FF);
        // IN EAX: zero-extends.
        let q_in4 = 0xCFC << 16 | 1 << 3 | 3;
        let (_, _) = run(&[(0, &out)], |g| handle_ve(g, &ve(30, q_in4, 1), &mut regs));
        assert_eq!(regs.rax, 0xFFFF_FFFF);
        // OUT DX, AX.
        let q_out2 = 0x80 << 16 | 1;
        let mut regs = VeRegs {
            rax: DIRTY | 0xABCD,
            ..VeRegs::default()
        };
        let (res, log) = run(&[(0, &nothing)], |g| {
            handle_ve(g, &ve(30, q_out2, 2), &mut regs)
        });
        assert_eq!(res, Ok(2));
        assert_eq!(
            request(&log.only()),
            Request::IoWrite {
                port: 0x80,
                size: IoSize::B2,
                value: 0xABCD
            }
        );
        // String and REP forms are not handled, and nothing runs.
        for q in [q_out2 | 1 << 4, q_out2 | 1 << 5] {
            let (res, log) = run(&[], |g| handle_ve(g, &ve(30, q, 2), &mut regs));
            assert_eq!(res, Err(VeError::Unsupported { exit_reason: 30 }));
            assert_eq!(log.len(), 0);
        }
    }

    #[test]
    fn wbinvd_and_unsupported_exits() {
        let mut regs = VeRegs::default();
        let (res, log) = run(&[(0, &nothing)], |g| handle_ve(g, &ve(54, 0, 2), &mut regs));
        assert_eq!(res, Ok(2));
        assert_eq!(
            request(&log.only()),
            Request::Wbinvd {
                operation: CacheFlush::WriteBackInvalidate
            }
        );
        // MMIO (EPT violation), PCONFIG, MapGPA's number and an unknown reason: no call.
        for reason in [48, 65, 0x10001, 1] {
            let (res, log) = run(&[], |g| handle_ve(g, &ve(reason, 0, 3), &mut regs));
            assert_eq!(
                res,
                Err(VeError::Unsupported {
                    exit_reason: reason as u16
                })
            );
            assert_eq!(log.len(), 0);
        }
    }

    #[test]
    fn a_refusal_leaves_the_registers_alone() {
        let refuse = |r: &mut Regs| r.r10 = TdvmcallCode::InvalidOperand.value();
        let mut regs = VeRegs {
            rax: 5,
            rcx: 6,
            ..VeRegs::default()
        };
        let before = regs;
        let (res, _) = run(&[(0, &refuse)], |g| handle_ve(g, &ve(10, 0, 2), &mut regs));
        assert_eq!(
            res,
            Err(VeError::Vmcall(VmcallError::Vmm(
                TdvmcallCode::InvalidOperand.status()
            )))
        );
        assert_eq!(regs, before);
    }
}
