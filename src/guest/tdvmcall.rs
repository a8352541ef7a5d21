//! TDG.VP.VMCALL (TDCALL leaf 0): calls from the TD to the host VMM.
//!
//! The module only moves registers: the guest's RCX selects which GPRs the VMM sees
//! ([`GprSelect`]) and gets back. What the registers mean is the GHCI convention between
//! guest and VMM: R10 = 0 for a standard call, R11 = sub-function ([`Subfunction`]), inputs
//! in R12 onwards; on return R10 holds the [`TdvmcallStatus`] and R11 the main output.
//! A non-zero R10 on input is a vendor call (for example a KVM hypercall, R10 = number).
//!
//! Every call is built as a [`VmcallRegs`]: a typed set of registers from which the GPR
//! mask is derived. Each wrapper exposes exactly the registers its sub-function uses (R10
//! and R11 always, plus its inputs and outputs); every other register goes to the TDCALL as
//! zero and is never read back. RAX, RCX, RSP and RBP cannot be exposed. No XMM register is
//! ever exposed (RCX bits 31:16 stay zero).
//!
//! Errors: a failing TDCALL itself (RAX ≠ 0, e.g. #UD outside a TD, or an invalid mask) is
//! [`VmcallError::Call`]; a VMM status other than success in R10 is [`VmcallError::Vmm`].
//!
//! Safety choices: reads of CPUID, MSRs, port I/O and emulated MMIO are safe: the VMM only
//! ever sees shared memory, which sound code already treats as untrusted and volatile, so
//! nothing the VMM does in response can break the TD's private memory. MapGPA (changes
//! which GPAs are private), GetQuote and Service (hand buffers to the VMM to write later),
//! vendor calls and raw calls are `unsafe`.

use super::{check_range, Guest};
use crate::abi::check::invalid;
use crate::abi::check::{check_address, check_span};
use crate::abi::gpr_select::{Gpr, GprSelect};
use crate::abi::{GuestPhysAddr, PAGE_SIZE};
use crate::call::Backend;
use crate::error::{Error, InvalidReason};
use crate::leaf::Leaf;
use crate::regs::{RegSet, Regs};
use crate::status::TdvmcallStatus;
use core::fmt;
use core::num::NonZeroU64;

macro_rules! subfunctions {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $number:literal, $spec:literal;
    )*) => {
        /// A GHCI TDG.VP.VMCALL sub-function (R11 of a standard call).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u64)]
        #[non_exhaustive]
        pub enum Subfunction {
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("GHCI `", $spec, "`, sub-function ", stringify!($number), ".")]
                $variant = $number,
            )*
        }

        impl Subfunction {
            /// Every sub-function with a wrapper.
            pub const ALL: &'static [Subfunction] = &[$(Subfunction::$variant),*];

            /// The R11 value.
            #[inline]
            pub const fn number(self) -> u64 {
                self as u64
            }

            /// The GHCI name.
            pub const fn spec_name(self) -> &'static str {
                match self { $(Subfunction::$variant => $spec,)* }
            }

            /// The sub-function with R11 value `number`, if this crate knows it.
            pub const fn from_number(number: u64) -> Option<Subfunction> {
                match number {
                    $($number => Some(Subfunction::$variant),)*
                    _ => None,
                }
            }
        }

        impl TryFrom<u64> for Subfunction {
            type Error = u64;

            /// [`Subfunction::from_number`]; the error is the unknown number.
            fn try_from(number: u64) -> Result<Subfunction, u64> {
                Subfunction::from_number(number).ok_or(number)
            }
        }
    };
}

subfunctions! {
    /// Emulate CPUID. The instruction sub-functions use the VMX exit-reason numbers.
    Cpuid = 10, "Instruction.CPUID";
    /// Halt the vCPU.
    Hlt = 12, "Instruction.HLT";
    /// Port I/O.
    Io = 30, "Instruction.IO";
    /// Read an MSR.
    Rdmsr = 31, "Instruction.RDMSR";
    /// Write an MSR.
    Wrmsr = 32, "Instruction.WRMSR";
    /// Emulated MMIO read or write of a shared GPA.
    RequestMmio = 48, "#VE.RequestMMIO";
    /// Write back (and invalidate) caches.
    Wbinvd = 54, "Instruction.WBINVD";
    /// Platform configuration.
    Pconfig = 65, "Instruction.PCONFIG";
    /// Enumerate the supported TDG.VP.VMCALLs.
    GetTdVmCallInfo = 0x10000, "GetTdVmCallInfo";
    /// Map a GPA range private or shared.
    MapGpa = 0x10001, "MapGPA";
    /// Ask for a quote over a TDREPORT.
    GetQuote = 0x10002, "GetQuote";
    /// Report a fatal error.
    ReportFatalError = 0x10003, "ReportFatalError";
    /// Choose the event-notification interrupt vector.
    SetupEventNotifyInterrupt = 0x10004, "SetupEventNotifyInterrupt";
    /// Command/response service (GHCI 1.5).
    Service = 0x10005, "Service";
}

/// Why a TDG.VP.VMCALL wrapper failed.
///
/// The crate's [`Error`] plus what only a TDG.VP.VMCALL can go through: a VMM answer other
/// than success (which includes `TDVMCALL_STATUS_RETRY` from a sub-function that does not
/// define it, so it is not always an [`Error::Tdvmcall`] refusal) and MapGPA protocol
/// violations. [`VmcallError::Vmm`] carries the same [`TdvmcallStatus`] as
/// [`Error::Tdvmcall`], named from the one table
/// ([`TdvmcallCode`](crate::status::TdvmcallCode)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VmcallError {
    /// An argument was rejected before the call, or the TDCALL itself failed (RAX ≠ 0,
    /// every bit kept).
    Call(Error),
    /// The VMM answered with a status other than success in R10.
    Vmm(TdvmcallStatus),
    /// MapGPA: the VMM asked to retry from an address outside the requested range.
    MapGpaResumeOutOfRange {
        /// The address the VMM returned in R11.
        resume: u64,
    },
    /// MapGPA: the VMM kept asking to retry without making progress
    /// ([`MAP_GPA_RETRIES_WITHOUT_PROGRESS`] times in a row).
    MapGpaNoProgress {
        /// The address it was stuck at.
        resume: u64,
    },
}

impl From<Error> for VmcallError {
    fn from(error: Error) -> VmcallError {
        VmcallError::Call(error)
    }
}

/// So that `?` works across TDCALL and TDVMCALL wrappers: [`VmcallError::Call`] is its
/// error, [`VmcallError::Vmm`] becomes [`Error::Tdvmcall`] (every bit kept, even for a
/// status without bit 63, such as RETRY from a sub-function that does not define it), and
/// the MapGPA protocol violations become [`Error::VmmProtocol`].
impl From<VmcallError> for Error {
    fn from(error: VmcallError) -> Error {
        match error {
            VmcallError::Call(error) => error,
            VmcallError::Vmm(status) => Error::Tdvmcall(status),
            VmcallError::MapGpaResumeOutOfRange { resume } => Error::VmmProtocol {
                violation: "MapGPA retry address outside the range",
                value: resume,
            },
            VmcallError::MapGpaNoProgress { resume } => Error::VmmProtocol {
                violation: "MapGPA retries without progress",
                value: resume,
            },
        }
    }
}

impl fmt::Display for VmcallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmcallError::Call(error) => error.fmt(f),
            VmcallError::Vmm(status) => write!(f, "TDG.VP.VMCALL failed in the VMM: {status}"),
            VmcallError::MapGpaResumeOutOfRange { resume } => {
                write!(f, "MapGPA retry address {resume:#x} is outside the range")
            }
            VmcallError::MapGpaNoProgress { resume } => {
                write!(f, "MapGPA made no progress at {resume:#x}")
            }
        }
    }
}

impl core::error::Error for VmcallError {}

/// Result of the TDG.VP.VMCALL wrappers.
pub type VmcallResult<T> = core::result::Result<T, VmcallError>;

/// The typed register set of one TDG.VP.VMCALL: the values of the exposed registers, from
/// which RCX (GPR_SELECT) is derived.
///
/// Registers are exposed only through [`VmcallRegs::input`] (a value the VMM reads) and
/// [`VmcallRegs::output`] (a register the VMM writes, sent as zero). R10 and R11 are always
/// exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmcallRegs {
    exposed: GprSelect,
    regs: Regs,
}

impl VmcallRegs {
    /// A call with R10 = `r10` and R11 = `r11`, nothing else exposed.
    #[inline]
    pub const fn new(r10: u64, r11: u64) -> VmcallRegs {
        VmcallRegs {
            exposed: GprSelect::R10.union(GprSelect::R11),
            regs: Regs {
                r10,
                r11,
                ..Regs::ZERO
            },
        }
    }

    /// A standard GHCI call (R10 = 0) of `subfunction`.
    #[inline]
    pub const fn standard(subfunction: Subfunction) -> VmcallRegs {
        VmcallRegs::new(0, subfunction.number())
    }

    /// Exposes `gpr` with `value`.
    #[inline]
    pub fn input(mut self, gpr: Gpr, value: u64) -> VmcallRegs {
        self.exposed |= gpr.select();
        *gpr.slot(&mut self.regs) = value;
        self
    }

    /// Exposes `gpr` as an output only: it goes in as zero.
    #[inline]
    pub fn output(self, gpr: Gpr) -> VmcallRegs {
        self.input(gpr, 0)
    }

    /// The exposed registers.
    #[inline]
    pub const fn exposed(&self) -> GprSelect {
        self.exposed
    }

    /// The value of `gpr`: the input before the call, the VMM's value after it; 0 for a
    /// register that is not exposed.
    #[inline]
    pub fn get(&self, gpr: Gpr) -> u64 {
        if self.exposed.contains(gpr.select()) {
            gpr.get(&self.regs)
        } else {
            0
        }
    }

    /// The register file for the thunk, in place: exposed registers with their values,
    /// every other one zero, RCX = the mask.
    ///
    /// `self.regs` already is that file but for RCX: the slot of a register that is not
    /// exposed is only ever written with zero ([`VmcallRegs::new`] and
    /// [`VmcallRegs::input`] write exposed slots, [`VmcallRegs::keep_exposed`] zeroes the
    /// others), and RCX has no [`Gpr`]. The thunk works on this struct directly: a copy
    /// in and out would cost more than the rest of the wrapper (each 16-byte load of two
    /// fields just stored one by one misses store forwarding).
    #[inline]
    fn thunk_regs(&mut self) -> &mut Regs {
        self.regs.rcx = self.exposed.bits() as u64;
        &mut self.regs
    }

    /// After the call: RCX back to zero and the slot of every register that is not exposed
    /// zeroed, so only the VMM's values of exposed registers remain. Only stores: where the
    /// mask is a constant it folds to the stores of the unexposed slots.
    #[inline]
    fn keep_exposed(&mut self) {
        self.regs.rcx = 0;
        for gpr in Gpr::ALL {
            if !self.exposed.contains(gpr.select()) {
                *gpr.slot(&mut self.regs) = 0;
            }
        }
    }
}

/// The access size of an [`Guest::tdvmcall_io_read`] / [`Guest::tdvmcall_io_write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum IoSize {
    /// 1 byte.
    B1 = 1,
    /// 2 bytes.
    B2 = 2,
    /// 4 bytes.
    B4 = 4,
}

/// The access size of an emulated MMIO access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MmioSize {
    /// 1 byte.
    B1 = 1,
    /// 2 bytes.
    B2 = 2,
    /// 4 bytes.
    B4 = 4,
    /// 8 bytes.
    B8 = 8,
}

const fn size_mask(bytes: u8) -> u64 {
    if bytes >= 8 {
        u64::MAX
    } else {
        (1 << (bytes as u32 * 8)) - 1
    }
}

fn check_fits(argument: &'static str, value: u64, bytes: u8) -> Result<u64, Error> {
    if value & !size_mask(bytes) != 0 {
        return Err(invalid(
            argument,
            InvalidReason::TooWide {
                value,
                max_bits: bytes as u32 * 8,
            },
        )
        .into());
    }
    Ok(value)
}

/// The GPA of an MMIO access of `size` bytes: naturally aligned (so the access never
/// crosses a page) and within bits 51:0.
fn mmio_gpa(gpa: GuestPhysAddr, size: MmioSize) -> Result<u64, Error> {
    check_address("MMIO GPA", gpa.raw(), 52, size as u64)
}

/// Direction of an I/O or MMIO access (R13).
const READ: u64 = 0;
const WRITE: u64 = 1;

/// The four values of an emulated CPUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpuidResult {
    /// EAX (R12).
    pub eax: u32,
    /// EBX (R13).
    pub ebx: u32,
    /// ECX (R14).
    pub ecx: u32,
    /// EDX (R15).
    pub edx: u32,
}

impl CpuidResult {
    /// The four registers.
    #[inline]
    pub const fn new(eax: u32, ebx: u32, ecx: u32, edx: u32) -> CpuidResult {
        CpuidResult { eax, ebx, ecx, edx }
    }
}

/// The operation of Instruction.WBINVD (R12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CacheFlush {
    /// WBINVD: write back and invalidate.
    WriteBackInvalidate = 0,
    /// WBNOINVD: write back, keep the lines.
    WriteBackNoInvalidate = 1,
}

/// What a vendor call returns: R10 and R11 as the VMM left them (for a KVM hypercall, R10
/// is the hypercall's return value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VendorResult {
    /// R10.
    pub r10: u64,
    /// R11.
    pub r11: u64,
}

/// How many MapGPA calls in a row may end in a RETRY without progress before
/// [`Guest::tdvmcall_map_gpa`] gives up: the third such answer ends the loop, so at most 3
/// calls are issued from the same address. This is Linux's `tdx_map_gpa` bound (3, counted
/// per RETRY that does not advance, reset when one does), read in the same way.
pub const MAP_GPA_RETRIES_WITHOUT_PROGRESS: u32 = 3;

/// Lowest vector the VMM may be asked to inject (0-31 are exceptions).
const FIRST_EXTERNAL_VECTOR: u64 = 32;

impl<B: Backend> Guest<B> {
    /// Executes one TDG.VP.VMCALL over `call`: RCX is derived from the exposed registers,
    /// the outputs land back in `call` (on `Err` too: then the exposed registers hold what
    /// the thunk returned, which after a fault are the inputs). Returns R10 as the GHCI
    /// status (for a vendor call it is the vendor's value).
    ///
    /// Leaf 0 (through [`CallKind::Tdvmcall`](crate::call::CallKind::Tdvmcall)). Since
    /// module 1.0.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] when the TDCALL itself fails (RAX ≠ 0).
    ///
    /// # Safety
    ///
    /// The VMM acts on whatever the registers ask: a raw call can change the private/shared
    /// state of memory (MapGPA), start DMA or let the VMM write shared buffers later. The
    /// caller upholds the memory-safety contract of the sub-function it names.
    #[inline]
    #[doc(alias = "TDG.VP.VMCALL")]
    pub unsafe fn tdvmcall_raw(&mut self, call: &mut VmcallRegs) -> Result<TdvmcallStatus, Error> {
        // The thunk: the GHCI variant (RCX, R10-R15) when every exposed register lies there,
        // as for most sub-functions; a constant where the wrapper's mask is one.
        let exposed = call.exposed;
        let set = RegSet::covering(exposed.bits());
        // SAFETY: the caller upholds the sub-function's contract; the mask names only
        // exposable registers by construction, and the VMM can write only those, all in
        // `set`.
        let status = unsafe {
            self.backend_mut().call_set(
                crate::call::CallKind::Tdvmcall,
                set,
                Leaf::TdgVpVmcall.rax(),
                call.thunk_regs(),
            )
        };
        // The thunk got a pointer into `call`, so the compiler must assume it changed the
        // mask too and would reload it for every test below. Storing back the value it had
        // keeps it a constant where the wrapper's mask is one (the tests below then fold),
        // for the price of one store.
        call.exposed = exposed;
        call.keep_exposed();
        if status.raw() != 0 {
            return Err(Error::Status(status));
        }
        Ok(TdvmcallStatus::from_raw(call.get(Gpr::R10)))
    }

    /// A standard call whose sub-function the wrapper vouches for: success or
    /// [`VmcallError::Vmm`].
    #[inline]
    fn ghci(&mut self, mut call: VmcallRegs) -> VmcallResult<VmcallRegs> {
        // SAFETY: only called by the safe wrappers below, for sub-functions that cannot
        // affect memory safety (see the module docs).
        let status = unsafe { self.tdvmcall_raw(&mut call) }?;
        if status != TdvmcallStatus::SUCCESS {
            return Err(VmcallError::Vmm(status));
        }
        Ok(call)
    }

    /// Asks the VMM for CPUID leaf `leaf`, sub-leaf `subleaf`.
    ///
    /// Sub-function 10. Exposes R10-R15. Inputs: R12 EAX, R13 ECX. Outputs: R12-R15 =
    /// EAX, EBX, ECX, EDX (bits 63:32 dropped).
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.CPUID"))]
    pub fn tdvmcall_cpuid(&mut self, leaf: u32, subleaf: u32) -> VmcallResult<CpuidResult> {
        let out = self.ghci(
            VmcallRegs::standard(Subfunction::Cpuid)
                .input(Gpr::R12, leaf as u64)
                .input(Gpr::R13, subleaf as u64)
                .output(Gpr::R14)
                .output(Gpr::R15),
        )?;
        Ok(CpuidResult {
            eax: out.get(Gpr::R12) as u32,
            ebx: out.get(Gpr::R13) as u32,
            ecx: out.get(Gpr::R14) as u32,
            edx: out.get(Gpr::R15) as u32,
        })
    }

    /// Halts the vCPU until the next interrupt.
    ///
    /// Sub-function 12. Exposes R10-R12. Input: R12 = 1 when the guest has interrupts
    /// disabled (RFLAGS.IF = 0), so the VMM wakes it only for NMIs and the like.
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.HLT"))]
    pub fn tdvmcall_hlt(&mut self, interrupts_blocked: bool) -> VmcallResult<()> {
        self.ghci(
            VmcallRegs::standard(Subfunction::Hlt).input(Gpr::R12, interrupts_blocked as u64),
        )?;
        Ok(())
    }

    /// Reads `size` bytes from I/O port `port`.
    ///
    /// Sub-function 30. Exposes R10-R14. Inputs: R12 size, R13 0 (read), R14 port. Output:
    /// R11 value (bits above `size` dropped).
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.IO"))]
    pub fn tdvmcall_io_read(&mut self, port: u16, size: IoSize) -> VmcallResult<u32> {
        let out = self.ghci(
            VmcallRegs::standard(Subfunction::Io)
                .input(Gpr::R12, size as u64)
                .input(Gpr::R13, READ)
                .input(Gpr::R14, port as u64),
        )?;
        Ok((out.get(Gpr::R11) & size_mask(size as u8)) as u32)
    }

    /// Writes `value` (`size` bytes) to I/O port `port`.
    ///
    /// Sub-function 30. Exposes R10-R15. Inputs: R12 size, R13 1 (write), R14 port, R15
    /// value.
    ///
    /// # Errors
    ///
    /// `value` wider than `size` (nothing runs); [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.IO"))]
    pub fn tdvmcall_io_write(&mut self, port: u16, size: IoSize, value: u32) -> VmcallResult<()> {
        let value = check_fits("I/O value", value as u64, size as u8)?;
        self.ghci(
            VmcallRegs::standard(Subfunction::Io)
                .input(Gpr::R12, size as u64)
                .input(Gpr::R13, WRITE)
                .input(Gpr::R14, port as u64)
                .input(Gpr::R15, value),
        )?;
        Ok(())
    }

    /// Reads MSR `index` through the VMM.
    ///
    /// Sub-function 31. Exposes R10-R12. Input: R12 index. Output: R11 value.
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.RDMSR"))]
    pub fn tdvmcall_rdmsr(&mut self, index: u32) -> VmcallResult<u64> {
        let out =
            self.ghci(VmcallRegs::standard(Subfunction::Rdmsr).input(Gpr::R12, index as u64))?;
        Ok(out.get(Gpr::R11))
    }

    /// Writes MSR `index` through the VMM. Safe: the VMM emulates the MSR for this TD; it
    /// cannot reach TD private memory.
    ///
    /// Sub-function 32. Exposes R10-R13. Inputs: R12 index, R13 value.
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.WRMSR"))]
    pub fn tdvmcall_wrmsr(&mut self, index: u32, value: u64) -> VmcallResult<()> {
        self.ghci(
            VmcallRegs::standard(Subfunction::Wrmsr)
                .input(Gpr::R12, index as u64)
                .input(Gpr::R13, value),
        )?;
        Ok(())
    }

    /// Reads `size` bytes of emulated MMIO at the shared GPA `gpa`.
    ///
    /// Sub-function 48. Exposes R10-R14. Inputs: R12 size, R13 0 (read), R14 GPA (with the
    /// shared bit). Output: R11 value (bits above `size` dropped).
    ///
    /// # Errors
    ///
    /// `gpa` not aligned to `size` (nothing runs: an unaligned access may cross into the
    /// next page); [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "#VE.RequestMMIO"))]
    pub fn tdvmcall_mmio_read(&mut self, gpa: GuestPhysAddr, size: MmioSize) -> VmcallResult<u64> {
        let gpa = mmio_gpa(gpa, size)?;
        let out = self.ghci(
            VmcallRegs::standard(Subfunction::RequestMmio)
                .input(Gpr::R12, size as u64)
                .input(Gpr::R13, READ)
                .input(Gpr::R14, gpa),
        )?;
        Ok(out.get(Gpr::R11) & size_mask(size as u8))
    }

    /// Writes `value` (`size` bytes) to emulated MMIO at the shared GPA `gpa`. This is how a
    /// guest test can report to its VMM.
    ///
    /// Sub-function 48. Exposes R10-R15. Inputs: R12 size, R13 1 (write), R14 GPA, R15
    /// value.
    ///
    /// # Errors
    ///
    /// `gpa` not aligned to `size` or `value` wider than `size` (nothing runs);
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "#VE.RequestMMIO"))]
    pub fn tdvmcall_mmio_write(
        &mut self,
        gpa: GuestPhysAddr,
        size: MmioSize,
        value: u64,
    ) -> VmcallResult<()> {
        let gpa = mmio_gpa(gpa, size)?;
        let value = check_fits("MMIO value", value, size as u8)?;
        self.ghci(
            VmcallRegs::standard(Subfunction::RequestMmio)
                .input(Gpr::R12, size as u64)
                .input(Gpr::R13, WRITE)
                .input(Gpr::R14, gpa)
                .input(Gpr::R15, value),
        )?;
        Ok(())
    }

    /// Asks the VMM to write back (and optionally invalidate) caches.
    ///
    /// Sub-function 54. Exposes R10-R12. Input: R12 0 = WBINVD, 1 = WBNOINVD.
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.WBINVD"))]
    pub fn tdvmcall_wbinvd(&mut self, operation: CacheFlush) -> VmcallResult<()> {
        self.ghci(VmcallRegs::standard(Subfunction::Wbinvd).input(Gpr::R12, operation as u64))?;
        Ok(())
    }

    /// Asks the VMM to emulate PCONFIG leaf `leaf` with operands `rbx`, `rcx`, `rdx`;
    /// returns R11 (the instruction's EAX result).
    ///
    /// Sub-function 65. Exposes R10-R15. Inputs: R12 leaf (EAX), R13-R15 the RBX, RCX and
    /// RDX operands. Output: R11. The operand-to-register mapping follows the GHCI table as
    /// other guests implement it; **UNVERIFIED** against a VMM implementation (KVM treats
    /// the call as a stub).
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Instruction.PCONFIG"))]
    pub fn tdvmcall_pconfig(
        &mut self,
        leaf: u32,
        rbx: u64,
        rcx: u64,
        rdx: u64,
    ) -> VmcallResult<u64> {
        let out = self.ghci(
            VmcallRegs::standard(Subfunction::Pconfig)
                .input(Gpr::R12, leaf as u64)
                .input(Gpr::R13, rbx)
                .input(Gpr::R14, rcx)
                .input(Gpr::R15, rdx),
        )?;
        Ok(out.get(Gpr::R11))
    }

    /// Asks which TDG.VP.VMCALLs the VMM supports; returns R11-R14.
    ///
    /// Sub-function 0x10000. Exposes R10-R14. Input: R12 leaf (0; KVM also answers 1).
    /// Outputs: R11-R14 (all zero for leaf 0: every GHCI 1.0 call supported).
    ///
    /// # Errors
    ///
    /// [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "GetTdVmCallInfo"))]
    pub fn tdvmcall_get_td_vm_call_info(&mut self, leaf: u64) -> VmcallResult<[u64; 4]> {
        let out = self.ghci(
            VmcallRegs::standard(Subfunction::GetTdVmCallInfo)
                .input(Gpr::R12, leaf)
                .output(Gpr::R13)
                .output(Gpr::R14),
        )?;
        Ok([
            out.get(Gpr::R11),
            out.get(Gpr::R12),
            out.get(Gpr::R13),
            out.get(Gpr::R14),
        ])
    }

    /// Asks the VMM to map `[start, start + size)` as shared (shared bit set in `start`) or
    /// private (clear), following RETRY answers from the address the VMM returns.
    ///
    /// Sub-function 0x10001. Exposes R10-R13. Inputs: R12 start GPA, R13 size. Output: on
    /// RETRY, R11 = the GPA to resume from, which must lie in `[start, start + size)`.
    /// Gives up at the [`MAP_GPA_RETRIES_WITHOUT_PROGRESS`]th RETRY answer in a row that does
    /// not advance (3 calls without progress, as Linux); a RETRY that advances starts the
    /// count again.
    ///
    /// # Errors
    ///
    /// `start` or `size` not 4 KiB aligned, `size` zero or the range past 2^52 (nothing
    /// runs); [`VmcallError::Vmm`], [`VmcallError::MapGpaResumeOutOfRange`],
    /// [`VmcallError::MapGpaNoProgress`], [`VmcallError::Call`].
    ///
    /// # Safety
    ///
    /// Changes which GPAs are private. Converting to shared discards the private contents
    /// and lets the VMM read and write the range; converting to private makes it pending
    /// until accepted. The caller ensures no live Rust value relies on the range's contents
    /// or accessibility across the change, and (for private) accepts the pages before use.
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "MapGPA"))]
    pub unsafe fn tdvmcall_map_gpa(&mut self, start: GuestPhysAddr, size: u64) -> VmcallResult<()> {
        check_address("MapGPA start", start.raw(), 52, PAGE_SIZE)?;
        let end = check_span("MapGPA size", start.raw(), size, PAGE_SIZE, 52)?;
        let mut current = start.raw();
        let mut stalls = 0;
        loop {
            let mut call = VmcallRegs::standard(Subfunction::MapGpa)
                .input(Gpr::R12, current)
                .input(Gpr::R13, end - current);
            // SAFETY: the caller upholds the conversion contract for the whole range.
            let status = unsafe { self.tdvmcall_raw(&mut call) }?;
            if status == TdvmcallStatus::SUCCESS {
                return Ok(());
            }
            if status != TdvmcallStatus::RETRY {
                return Err(VmcallError::Vmm(status));
            }
            let resume = call.get(Gpr::R11);
            if resume < start.raw() || resume >= end {
                return Err(VmcallError::MapGpaResumeOutOfRange { resume });
            }
            if resume <= current {
                stalls += 1;
                if stalls >= MAP_GPA_RETRIES_WITHOUT_PROGRESS {
                    return Err(VmcallError::MapGpaNoProgress { resume });
                }
            } else {
                stalls = 0;
            }
            current = resume;
        }
    }

    /// Asks the VMM to have the TDREPORT in the shared buffer at `buffer` turned into a
    /// quote, written back into the same buffer.
    ///
    /// Sub-function 0x10002. Exposes R10-R13. Inputs: R12 shared GPA (4 KiB aligned), R13
    /// buffer size (a multiple of 4 KiB). The VMM completes asynchronously (status in the
    /// buffer header, optionally an event-notify interrupt).
    ///
    /// # Errors
    ///
    /// A misaligned buffer, a size that is zero or not a multiple of 4 KiB, or a buffer
    /// that would end above 2^52 (nothing runs); [`VmcallError`].
    ///
    /// # Safety
    ///
    /// The VMM writes the buffer at any time until it marks the request done. The range must
    /// be shared memory that the caller keeps mapped, does not reuse, and reads only with
    /// volatile or otherwise race-tolerant accesses until then.
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "GetQuote"))]
    pub unsafe fn tdvmcall_get_quote(
        &mut self,
        buffer: GuestPhysAddr,
        size: u64,
    ) -> VmcallResult<()> {
        check_address("GetQuote buffer", buffer.raw(), 52, PAGE_SIZE)?;
        check_span("GetQuote size", buffer.raw(), size, PAGE_SIZE, 52)?;
        self.ghci(
            VmcallRegs::standard(Subfunction::GetQuote)
                .input(Gpr::R12, buffer.raw())
                .input(Gpr::R13, size),
        )?;
        Ok(())
    }

    /// Reports a fatal error to the VMM, with up to 64 bytes of message and optionally the
    /// shared GPA of more data. The VMM normally does not resume the TD.
    ///
    /// Sub-function 0x10003. Exposes R10-R15, RBX, RDI, RSI, R8, R9, RDX. Inputs: R12 error
    /// code (bits 31:0; bit 63 set when R13 holds a data GPA), R13 data GPA, and the
    /// message bytes, little-endian, 8 per register in the order R14, R15, RBX, RDI, RSI,
    /// R8, R9, RDX (unused bytes zero).
    ///
    /// # Errors
    ///
    /// `message` longer than 64 bytes (nothing runs); [`VmcallError`] if the VMM returns.
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "ReportFatalError"))]
    pub fn tdvmcall_report_fatal_error(
        &mut self,
        error_code: u32,
        data: Option<GuestPhysAddr>,
        message: &[u8],
    ) -> VmcallResult<()> {
        check_range("fatal error message length", message.len() as u64, 0, 64)?;
        let mut bytes = [0u8; 64];
        bytes[..message.len()].copy_from_slice(message);
        let r12 = error_code as u64 | if data.is_some() { 1 << 63 } else { 0 };
        let mut call = VmcallRegs::standard(Subfunction::ReportFatalError)
            .input(Gpr::R12, r12)
            .input(Gpr::R13, data.map_or(0, GuestPhysAddr::raw));
        for (gpr, chunk) in crate::host::vmcall::FATAL_MESSAGE_REGS
            .into_iter()
            .zip(bytes.chunks_exact(8))
        {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            call = call.input(gpr, u64::from_le_bytes(word));
        }
        self.ghci(call)?;
        Ok(())
    }

    /// Asks the VMM to notify events with interrupt `vector` (32-255).
    ///
    /// Sub-function 0x10004. Exposes R10-R12. Input: R12 vector.
    ///
    /// # Errors
    ///
    /// `vector` below 32 (nothing runs); [`VmcallError`].
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "SetupEventNotifyInterrupt"))]
    pub fn tdvmcall_setup_event_notify_interrupt(&mut self, vector: u8) -> VmcallResult<()> {
        let vector = check_range(
            "event notify vector",
            vector as u64,
            FIRST_EXTERNAL_VECTOR,
            255,
        )?;
        self.ghci(
            VmcallRegs::standard(Subfunction::SetupEventNotifyInterrupt).input(Gpr::R12, vector),
        )?;
        Ok(())
    }

    /// Sends the command in the shared buffer at `command` to a VMM service; the response
    /// goes to the shared buffer at `response`.
    ///
    /// Sub-function 0x10005 (GHCI 1.5). Exposes R10-R15. Inputs: R12 command GPA, R13
    /// response GPA (both shared, 4 KiB aligned), R14 notification vector (0 = the VMM
    /// returns only when the response is ready; 32-255 = it returns at once and raises the
    /// vector when done), R15 timeout (0 = none).
    ///
    /// # Errors
    ///
    /// Misaligned GPAs or a vector in 1-31 (nothing runs); [`VmcallError`].
    ///
    /// # Safety
    ///
    /// The VMM reads the command and writes the response buffer, possibly after this call
    /// returns. Both must be shared memory the caller keeps mapped and treats as racy until
    /// the response is complete.
    #[inline]
    #[doc(alias("TDG.VP.VMCALL", "Service"))]
    pub unsafe fn tdvmcall_service(
        &mut self,
        command: GuestPhysAddr,
        response: GuestPhysAddr,
        vector: u8,
        timeout: u64,
    ) -> VmcallResult<()> {
        check_address("Service command GPA", command.raw(), 52, PAGE_SIZE)?;
        check_address("Service response GPA", response.raw(), 52, PAGE_SIZE)?;
        if vector != 0 {
            check_range("Service vector", vector as u64, FIRST_EXTERNAL_VECTOR, 255)?;
        }
        self.ghci(
            VmcallRegs::standard(Subfunction::Service)
                .input(Gpr::R12, command.raw())
                .input(Gpr::R13, response.raw())
                .input(Gpr::R14, vector as u64)
                .input(Gpr::R15, timeout),
        )?;
        Ok(())
    }

    /// A vendor-specific TDG.VP.VMCALL (R10 ≠ 0), such as a KVM hypercall: R10 = `number`,
    /// R11-R14 = `args`.
    ///
    /// Exposes R10-R14. Outputs: R10 and R11 as the VMM left them (KVM: R10 = the
    /// hypercall's return value).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] when the TDCALL itself fails.
    ///
    /// # Safety
    ///
    /// Vendor calls can do anything the VMM offers, including changing memory attributes
    /// (KVM_HC_MAP_GPA_RANGE). The caller upholds the contract of the call it makes.
    #[inline]
    #[doc(alias = "TDG.VP.VMCALL")]
    pub unsafe fn tdvmcall_vendor(
        &mut self,
        number: NonZeroU64,
        args: [u64; 4],
    ) -> Result<VendorResult, Error> {
        let mut call = VmcallRegs::new(number.get(), args[0])
            .input(Gpr::R12, args[1])
            .input(Gpr::R13, args[2])
            .input(Gpr::R14, args[3]);
        // SAFETY: the caller upholds the vendor call's contract.
        unsafe { self.tdvmcall_raw(&mut call) }?;
        Ok(VendorResult {
            r10: call.get(Gpr::R10),
            r11: call.get(Gpr::R11),
        })
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use super::*;
    use crate::call::CallKind;
    use crate::guest::testing::*;
    use crate::status::{Status, TdvmcallCode};

    /// Asserts the call was a TDVMCALL whose RCX exposes exactly `exposed` (checked bit by
    /// bit over all 64 bits) and whose unexposed registers were all zero.
    fn assert_exposes(call: &Recorded, exposed: &[Gpr]) {
        assert_eq!(call.kind, CallKind::Tdvmcall);
        assert_eq!(call.rax, 0);
        for bit in 0..64u8 {
            let expected = exposed.iter().any(|g| g.index() == bit);
            assert_eq!(call.regs.rcx >> bit & 1 == 1, expected, "RCX bit {bit}");
        }
        for gpr in Gpr::ALL {
            if !exposed.contains(&gpr) {
                assert_eq!(gpr.get(&call.regs), 0, "{gpr:?} not exposed but non-zero");
            }
        }
    }

    fn std_regs(call: &Recorded, sub: Subfunction) {
        assert_eq!(call.regs.r10, 0);
        assert_eq!(call.regs.r11, sub.number());
    }

    use Gpr::*;

    #[test]
    fn cpuid() {
        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 0;
            r.r12 = 0xFFFF_FFFF_0000_0001;
            r.r13 = 2;
            r.r14 = 3;
            r.r15 = 4;
        };
        let (res, log) = run(&[(0, &out)], |g| g.tdvmcall_cpuid(7, 1));
        let call = log.only();
        assert_exposes(&call, &[R10, R11, R12, R13, R14, R15]);
        std_regs(&call, Subfunction::Cpuid);
        assert_eq!((call.regs.r12, call.regs.r13), (7, 1));
        assert_eq!(
            res,
            Ok(CpuidResult {
                eax: 1,
                ebx: 2,
                ecx: 3,
                edx: 4
            })
        );
    }

    #[test]
    fn hlt() {
        for blocked in [false, true] {
            let (res, log) = run(&[(0, &nothing)], |g| g.tdvmcall_hlt(blocked));
            assert_eq!(res, Ok(()));
            let call = log.only();
            assert_exposes(&call, &[R10, R11, R12]);
            std_regs(&call, Subfunction::Hlt);
            assert_eq!(call.regs.r12, blocked as u64);
        }
    }

    #[test]
    fn io() {
        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 0;
            r.r11 = 0xFFFF_ABCD;
        };
        let (res, log) = run(&[(0, &out)], |g| g.tdvmcall_io_read(0x3F8, IoSize::B2));
        assert_eq!(res, Ok(0xABCD));
        let call = log.only();
        assert_exposes(&call, &[R10, R11, R12, R13, R14]);
        std_regs(&call, Subfunction::Io);
        assert_eq!((call.regs.r12, call.regs.r13, call.regs.r14), (2, 0, 0x3F8));

        let (res, log) = run(&[(0, &nothing)], |g| {
            g.tdvmcall_io_write(0x80, IoSize::B1, 0x5A)
        });
        assert_eq!(res, Ok(()));
        let call = log.only();
        assert_exposes(&call, &[R10, R11, R12, R13, R14, R15]);
        assert_eq!(
            (call.regs.r12, call.regs.r13, call.regs.r14, call.regs.r15),
            (1, 1, 0x80, 0x5A)
        );

        let (res, log) = run(&[], |g| g.tdvmcall_io_write(0x80, IoSize::B1, 0x100));
        assert!(
            matches!(res, Err(VmcallError::Call(Error::InvalidArgument(a))) if matches!(a.reason, InvalidReason::TooWide { max_bits: 8, .. }))
        );
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn msr() {
        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 0;
            r.r11 = 0xFEE0_0900;
        };
        let (res, log) = run(&[(0, &out)], |g| g.tdvmcall_rdmsr(0x1B));
        assert_eq!(res, Ok(0xFEE0_0900));
        assert_exposes(&log.only(), &[R10, R11, R12]);
        std_regs(&log.only(), Subfunction::Rdmsr);
        assert_eq!(log.only().regs.r12, 0x1B);

        let (res, log) = run(&[(0, &nothing)], |g| {
            g.tdvmcall_wrmsr(0x6E0, 0x1234_5678_9ABC)
        });
        assert_eq!(res, Ok(()));
        assert_exposes(&log.only(), &[R10, R11, R12, R13]);
        std_regs(&log.only(), Subfunction::Wrmsr);
        assert_eq!(
            (log.only().regs.r12, log.only().regs.r13),
            (0x6E0, 0x1234_5678_9ABC)
        );
    }

    #[test]
    fn mmio_all_sizes() {
        let gpa = GuestPhysAddr::new(1 << 47 | 0xFED0_0000).unwrap();
        for (size, bytes) in [
            (MmioSize::B1, 1u64),
            (MmioSize::B2, 2),
            (MmioSize::B4, 4),
            (MmioSize::B8, 8),
        ] {
            let out = |r: &mut Regs| {
                poison(r);
                r.r10 = 0;
                r.r11 = 0x8877_6655_4433_2211;
            };
            let (res, log) = run(&[(0, &out)], |g| g.tdvmcall_mmio_read(gpa, size));
            assert_eq!(res, Ok(0x8877_6655_4433_2211 & size_mask(bytes as u8)));
            let call = log.only();
            assert_exposes(&call, &[R10, R11, R12, R13, R14]);
            std_regs(&call, Subfunction::RequestMmio);
            assert_eq!(
                (call.regs.r12, call.regs.r13, call.regs.r14),
                (bytes, 0, gpa.raw())
            );

            let value = 0x0102_0304_0506_0708 & size_mask(bytes as u8);
            let (res, log) = run(&[(0, &nothing)], |g| {
                g.tdvmcall_mmio_write(gpa, size, value)
            });
            assert_eq!(res, Ok(()));
            let call = log.only();
            assert_exposes(&call, &[R10, R11, R12, R13, R14, R15]);
            assert_eq!(
                (call.regs.r12, call.regs.r13, call.regs.r14, call.regs.r15),
                (bytes, 1, gpa.raw(), value)
            );
            if bytes < 8 {
                let (res, log) = run(&[], |g| {
                    g.tdvmcall_mmio_write(gpa, size, value | 1 << (bytes * 8))
                });
                assert!(res.is_err());
                assert_eq!(log.len(), 0);
            }
        }
    }

    #[test]
    fn wbinvd_pconfig_info() {
        let (res, log) = run(&[(0, &nothing)], |g| {
            g.tdvmcall_wbinvd(CacheFlush::WriteBackNoInvalidate)
        });
        assert_eq!(res, Ok(()));
        assert_exposes(&log.only(), &[R10, R11, R12]);
        std_regs(&log.only(), Subfunction::Wbinvd);
        assert_eq!(log.only().regs.r12, 1);

        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 0;
            r.r11 = 9;
        };
        let (res, log) = run(&[(0, &out)], |g| g.tdvmcall_pconfig(1, 0xB, 0xC, 0xD));
        assert_eq!(res, Ok(9));
        assert_exposes(&log.only(), &[R10, R11, R12, R13, R14, R15]);
        std_regs(&log.only(), Subfunction::Pconfig);
        let r = log.only().regs;
        assert_eq!((r.r12, r.r13, r.r14, r.r15), (1, 0xB, 0xC, 0xD));

        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 0;
        };
        let (res, log) = run(&[(0, &out)], |g| g.tdvmcall_get_td_vm_call_info(1));
        assert_eq!(
            res,
            Ok([
                0x1111_0000_0000_0011,
                0x1212_0000_0000_0012,
                0x1313_0000_0000_0013,
                0x1414_0000_0000_0014
            ])
        );
        assert_exposes(&log.only(), &[R10, R11, R12, R13, R14]);
        std_regs(&log.only(), Subfunction::GetTdVmCallInfo);
        assert_eq!(log.only().regs.r12, 1);
    }

    #[test]
    fn vmm_and_tdcall_failures() {
        let fail = |r: &mut Regs| r.r10 = TdvmcallCode::InvalidOperand.status().raw();
        let (res, _) = run(&[(0, &fail)], |g| g.tdvmcall_rdmsr(0x10));
        assert_eq!(
            res,
            Err(VmcallError::Vmm(TdvmcallCode::InvalidOperand.status()))
        );
        let (res, _) = run(&[(Status::TDCALL_UD.raw(), &nothing)], |g| {
            g.tdvmcall_rdmsr(0x10)
        });
        assert_eq!(
            res,
            Err(VmcallError::Call(Error::Status(Status::TDCALL_UD)))
        );
        let (res, _) = run(&[(0xC000_0100_0000_0001, &nothing)], |g| {
            g.tdvmcall_hlt(false)
        });
        assert_eq!(
            res,
            Err(VmcallError::Call(Error::Status(Status::from_raw(
                0xC000_0100_0000_0001
            ))))
        );
        assert_eq!(
            TdvmcallCode::SubfuncUnsupported
                .status()
                .named()
                .map(TdvmcallCode::name),
            Some("TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED")
        );
        assert!(TdvmcallCode::AlignError.status().is_error());
        assert!(!TdvmcallStatus::RETRY.is_error());
    }

    #[test]
    fn map_gpa_follows_retries() {
        let start = GuestPhysAddr::page(1 << 47 | 0x10_0000).unwrap();
        let size = 0x40_0000;
        let retry_at = |at: u64| {
            move |r: &mut Regs| {
                r.r10 = 1;
                r.r11 = at;
            }
        };
        let half = retry_at(start.raw() + 0x20_0000);
        let (res, log) = run(&[(0, &half), (0, &nothing)], |g| unsafe {
            g.tdvmcall_map_gpa(start, size)
        });
        assert_eq!(res, Ok(()));
        assert_eq!(log.len(), 2);
        assert_exposes(&log.get(0), &[R10, R11, R12, R13]);
        std_regs(&log.get(0), Subfunction::MapGpa);
        assert_eq!(
            (log.get(0).regs.r12, log.get(0).regs.r13),
            (start.raw(), size)
        );
        assert_eq!(
            (log.get(1).regs.r12, log.get(1).regs.r13),
            (start.raw() + 0x20_0000, 0x20_0000)
        );
        assert_eq!(log.get(1).regs.r11, Subfunction::MapGpa.number());

        // At most 3 calls in a row without progress (Linux's bound): the third RETRY that
        // does not advance gives up. The script would answer a fourth call, so a loop
        // that issued one would show in the count.
        let stuck = retry_at(start.raw());
        let replies: [Reply<'_>; 4] = [(0, &stuck), (0, &stuck), (0, &stuck), (0, &nothing)];
        let (res, log) = run(&replies, |g| unsafe { g.tdvmcall_map_gpa(start, size) });
        assert_eq!(
            res,
            Err(VmcallError::MapGpaNoProgress {
                resume: start.raw()
            })
        );
        assert_eq!(log.len(), MAP_GPA_RETRIES_WITHOUT_PROGRESS as usize);
        assert_eq!(log.len(), 3);
        let (res, log) = run(&[(0, &stuck), (0, &stuck), (0, &nothing)], |g| unsafe {
            g.tdvmcall_map_gpa(start, size)
        });
        assert_eq!(res, Ok(()));
        assert_eq!(log.len(), 3);
        // Progress starts the count again: two stalls, an advance, two stalls, success.
        let (res, log) = run(
            &[
                (0, &stuck),
                (0, &stuck),
                (0, &half),
                (0, &half),
                (0, &half),
                (0, &nothing),
            ],
            |g| unsafe { g.tdvmcall_map_gpa(start, size) },
        );
        assert_eq!(res, Ok(()));
        assert_eq!(log.len(), 6);
        assert_eq!(log.get(3).regs.r12, start.raw() + 0x20_0000);

        let outside = retry_at(start.raw() + size);
        let (res, _) = run(&[(0, &outside)], |g| unsafe {
            g.tdvmcall_map_gpa(start, size)
        });
        assert_eq!(
            res,
            Err(VmcallError::MapGpaResumeOutOfRange {
                resume: start.raw() + size
            })
        );
        let below = retry_at(start.raw() - 0x1000);
        let (res, _) = run(&[(0, &below)], |g| unsafe {
            g.tdvmcall_map_gpa(start, size)
        });
        assert!(matches!(
            res,
            Err(VmcallError::MapGpaResumeOutOfRange { .. })
        ));

        let align = |r: &mut Regs| r.r10 = TdvmcallCode::AlignError.status().raw();
        let (res, _) = run(&[(0, &align)], |g| unsafe {
            g.tdvmcall_map_gpa(start, size)
        });
        assert_eq!(
            res,
            Err(VmcallError::Vmm(TdvmcallCode::AlignError.status()))
        );

        for (s, n) in [
            (start.raw() + 8, size),
            (start.raw(), 0x1234),
            (start.raw(), 0),
            ((1 << 52) - 0x1000, 0x2000),
        ] {
            let (res, log) = run(&[], |g| unsafe {
                g.tdvmcall_map_gpa(GuestPhysAddr::new(s).unwrap(), n)
            });
            assert!(
                matches!(res, Err(VmcallError::Call(Error::InvalidArgument(_)))),
                "{s:#x} {n:#x}"
            );
            assert_eq!(log.len(), 0);
        }
    }

    #[test]
    fn get_quote_and_service() {
        let buf = GuestPhysAddr::page(1 << 51 | 0x5000).unwrap();
        let (res, log) = run(&[(0, &nothing)], |g| unsafe {
            g.tdvmcall_get_quote(buf, 0x2000)
        });
        assert_eq!(res, Ok(()));
        assert_exposes(&log.only(), &[R10, R11, R12, R13]);
        std_regs(&log.only(), Subfunction::GetQuote);
        assert_eq!(
            (log.only().regs.r12, log.only().regs.r13),
            (buf.raw(), 0x2000)
        );
        let (res, log) = run(&[], |g| unsafe { g.tdvmcall_get_quote(buf, 0x100) });
        assert!(res.is_err());
        assert_eq!(log.len(), 0);

        let resp = GuestPhysAddr::page(1 << 51 | 0x9000).unwrap();
        let (res, log) = run(&[(0, &nothing)], |g| unsafe {
            g.tdvmcall_service(buf, resp, 0x40, 1000)
        });
        assert_eq!(res, Ok(()));
        assert_exposes(&log.only(), &[R10, R11, R12, R13, R14, R15]);
        std_regs(&log.only(), Subfunction::Service);
        let r = log.only().regs;
        assert_eq!(
            (r.r12, r.r13, r.r14, r.r15),
            (buf.raw(), resp.raw(), 0x40, 1000)
        );
        let (res, _) = run(&[(0, &nothing)], |g| unsafe {
            g.tdvmcall_service(buf, resp, 0, 0)
        });
        assert_eq!(res, Ok(()));
        let (res, log) = run(&[], |g| unsafe { g.tdvmcall_service(buf, resp, 31, 0) });
        assert!(res.is_err());
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn report_fatal_error_message_registers() {
        let message: [u8; 64] = core::array::from_fn(|i| i as u8 + 1);
        let data = GuestPhysAddr::page(1 << 51 | 0x3000).unwrap();
        let (res, log) = run(&[(0, &nothing)], |g| {
            g.tdvmcall_report_fatal_error(0xDEAD, Some(data), &message)
        });
        assert_eq!(res, Ok(()));
        let call = log.only();
        assert_exposes(
            &call,
            &[Rdx, Rbx, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15],
        );
        std_regs(&call, Subfunction::ReportFatalError);
        assert_eq!(call.regs.r12, 1 << 63 | 0xDEAD);
        assert_eq!(call.regs.r13, data.raw());
        let word =
            |i: u64| u64::from_le_bytes(core::array::from_fn(|b| (i * 8 + b as u64 + 1) as u8));
        let r = call.regs;
        assert_eq!(
            [r.r14, r.r15, r.rbx, r.rdi, r.rsi, r.r8, r.r9, r.rdx],
            [
                word(0),
                word(1),
                word(2),
                word(3),
                word(4),
                word(5),
                word(6),
                word(7)
            ]
        );

        let (_, log) = run(&[(0, &nothing)], |g| {
            g.tdvmcall_report_fatal_error(0, None, b"panic")
        });
        let r = log.only().regs;
        assert_eq!((r.r12, r.r13), (0, 0));
        assert_eq!(r.r14, u64::from_le_bytes(*b"panic\0\0\0"));
        assert_eq!([r.r15, r.rbx, r.rdx], [0, 0, 0]);
        let (res, log) = run(&[], |g| g.tdvmcall_report_fatal_error(0, None, &[0; 65]));
        assert!(res.is_err());
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn setup_event_notify() {
        let (res, log) = run(&[(0, &nothing)], |g| {
            g.tdvmcall_setup_event_notify_interrupt(0xEC)
        });
        assert_eq!(res, Ok(()));
        assert_exposes(&log.only(), &[R10, R11, R12]);
        std_regs(&log.only(), Subfunction::SetupEventNotifyInterrupt);
        assert_eq!(log.only().regs.r12, 0xEC);
        let (res, log) = run(&[], |g| g.tdvmcall_setup_event_notify_interrupt(31));
        assert!(
            matches!(res, Err(VmcallError::Call(Error::InvalidArgument(a))) if matches!(a.reason, InvalidReason::OutOfRange { value: 31, min: 32, max: 255 }))
        );
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn vendor_and_raw_calls() {
        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 0x42;
        };
        let nr = NonZeroU64::new(12).unwrap();
        let (res, log) = run(&[(0, &out)], |g| unsafe {
            g.tdvmcall_vendor(nr, [1, 2, 3, 4])
        });
        assert_eq!(
            res,
            Ok(VendorResult {
                r10: 0x42,
                r11: 0x1111_0000_0000_0011
            })
        );
        let call = log.only();
        assert_exposes(&call, &[R10, R11, R12, R13, R14]);
        let r = call.regs;
        assert_eq!((r.r10, r.r11, r.r12, r.r13, r.r14), (12, 1, 2, 3, 4));

        // Raw: exactly the chosen registers, outputs only from exposed registers.
        let mut regs = VmcallRegs::new(0, 0x1_2345).input(Rbx, 0xB).output(R9);
        assert_eq!(
            regs.exposed(),
            GprSelect::R10 | GprSelect::R11 | GprSelect::RBX | GprSelect::R9
        );
        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 1;
        };
        let (res, log) = run(&[(0, &out)], |g| unsafe { g.tdvmcall_raw(&mut regs) });
        assert_eq!(res, Ok(TdvmcallStatus::RETRY));
        assert_exposes(&log.only(), &[Rbx, R9, R10, R11]);
        assert_eq!(log.only().regs.rbx, 0xB);
        assert_eq!(regs.get(R9), 0x0909_0000_0000_0009);
        assert_eq!(regs.get(Rbx), 0xB1B1_0000_0000_00B1);
        assert_eq!(regs.get(R12), 0, "unexposed register read back");
    }

    /// The thunk works on the `VmcallRegs` in place: a second call through the same value,
    /// after an answer that wrote every register (RCX and unexposed ones included), must
    /// again send RCX = the mask and zero in every unexposed register.
    #[test]
    fn reused_call_sends_no_leftovers() {
        let mut regs = VmcallRegs::new(0, 0x77).input(R12, 0x12);
        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 0;
        };
        let (res, log) = run(&[(0, &out), (0, &out)], |g| unsafe {
            g.tdvmcall_raw(&mut regs)
                .and_then(|_| g.tdvmcall_raw(&mut regs))
        });
        assert_eq!(res, Ok(TdvmcallStatus::SUCCESS));
        assert_exposes(&log.get(1), &[R10, R11, R12]);
        assert_eq!(
            log.get(1).regs.r12,
            0x1212_0000_0000_0012,
            "the VMM's R12 went back"
        );
        assert_eq!(regs.get(R11), 0x1111_0000_0000_0011);
        assert_eq!(regs.get(R13), 0, "unexposed register read back");

        // A failed TDCALL leaves the exposed registers as the thunk returned them.
        let mut regs = VmcallRegs::new(0, 0x77);
        let failed = |r: &mut Regs| poison(r);
        let (res, _) = run(&[(0xC000_0100_0000_0001, &failed)], |g| unsafe {
            g.tdvmcall_raw(&mut regs)
        });
        assert!(res.is_err());
        assert_eq!(regs.get(R11), 0x1111_0000_0000_0011);
        assert_eq!(regs.get(R12), 0);
    }

    #[test]
    fn subfunction_numbers() {
        let expected: [(Subfunction, u64); 14] = [
            (Subfunction::Cpuid, 10),
            (Subfunction::Hlt, 12),
            (Subfunction::Io, 30),
            (Subfunction::Rdmsr, 31),
            (Subfunction::Wrmsr, 32),
            (Subfunction::RequestMmio, 48),
            (Subfunction::Wbinvd, 54),
            (Subfunction::Pconfig, 65),
            (Subfunction::GetTdVmCallInfo, 0x10000),
            (Subfunction::MapGpa, 0x10001),
            (Subfunction::GetQuote, 0x10002),
            (Subfunction::ReportFatalError, 0x10003),
            (Subfunction::SetupEventNotifyInterrupt, 0x10004),
            (Subfunction::Service, 0x10005),
        ];
        assert_eq!(Subfunction::ALL.len(), expected.len());
        for (sub, number) in expected {
            assert_eq!(sub.number(), number, "{sub:?}");
        }
    }
}
