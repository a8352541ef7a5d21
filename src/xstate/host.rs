//! The ring-0 guard for TDH.VP.ENTER: host XCR0, IA32_XSS and PKRU.
//!
//! When a TD exits, the module sets XCR0 and IA32_XSS from the TD's XFAM and resets every
//! XFAM component to INIT, PKRU included when XFAM has it (tdx-module-abi.md §7, item 3);
//! it never restores the host's values. [`HostXstateGuard`] reads them before the call and,
//! after it, writes back each one that differs, and only those: XSETBV and WRMSR are
//! serializing, so a write that changes nothing is pure cost. When TDH.VP.ENTER fails before
//! entering the TD nothing changed and nothing is written.
//!
//! The registers are reached through [`HostXstateAccess`]: [`Ring0HostXstate`] executes the
//! instructions (CPL 0 only); a test stands in a model and checks which writes happen.

use crate::call::{Backend, CallKind};
use crate::regs::Regs;
use crate::status::Status;

/// Host XCR0, IA32_XSS and PKRU, as read before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostXstate {
    /// XCR0 (XGETBV with ECX=0).
    pub xcr0: u64,
    /// IA32_XSS (MSR 0xDA0); `None` on a CPU without it (no XSAVES).
    pub xss: Option<u64>,
    /// PKRU; `None` when protection keys are not enabled (CR4.PKE clear).
    pub pkru: Option<u32>,
}

impl HostXstate {
    /// Which registers must be written to go from `now` back to `self`: those whose value
    /// differs. A register one side does not have is never written.
    #[inline]
    pub fn rewrites(&self, now: &HostXstate) -> Rewritten {
        Rewritten {
            xcr0: self.xcr0 != now.xcr0,
            xss: matches!((self.xss, now.xss), (Some(saved), Some(current)) if saved != current),
            pkru: matches!((self.pkru, now.pkru), (Some(saved), Some(current)) if saved != current),
        }
    }
}

/// Which registers a restore wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rewritten {
    /// XCR0 was written (XSETBV).
    pub xcr0: bool,
    /// IA32_XSS was written (WRMSR).
    pub xss: bool,
    /// PKRU was written (WRPKRU).
    pub pkru: bool,
}

impl Rewritten {
    /// Whether any register was written.
    #[inline]
    pub const fn any(&self) -> bool {
        self.xcr0 || self.xss || self.pkru
    }
}

/// Access to the host's XCR0, IA32_XSS and PKRU.
///
/// # Safety
///
/// An implementation promises that its reads are sound to execute whenever a value of the
/// type exists (for the real registers: the code runs at CPL 0 with CR4.OSXSAVE set, and
/// `has_xss` / `has_pkru` are true only where RDMSR 0xDA0 / RDPKRU work).
pub unsafe trait HostXstateAccess {
    /// Whether IA32_XSS exists.
    fn has_xss(&self) -> bool;
    /// Whether PKRU is accessible (CR4.PKE set).
    fn has_pkru(&self) -> bool;
    /// Reads XCR0.
    fn read_xcr0(&mut self) -> u64;
    /// Reads IA32_XSS; called only when [`has_xss`](HostXstateAccess::has_xss).
    fn read_xss(&mut self) -> u64;
    /// Reads PKRU; called only when [`has_pkru`](HostXstateAccess::has_pkru).
    fn read_pkru(&mut self) -> u32;
    /// Writes XCR0.
    ///
    /// # Safety
    ///
    /// `value` is one this CPU accepts and the rest of the system expects (the host's own,
    /// read earlier through the same accessor).
    unsafe fn write_xcr0(&mut self, value: u64);
    /// Writes IA32_XSS.
    ///
    /// # Safety
    ///
    /// As for [`write_xcr0`](HostXstateAccess::write_xcr0).
    unsafe fn write_xss(&mut self, value: u64);
    /// Writes PKRU.
    ///
    /// # Safety
    ///
    /// As for [`write_xcr0`](HostXstateAccess::write_xcr0).
    unsafe fn write_pkru(&mut self, value: u32);

    /// Reads all three (those that exist).
    #[inline]
    fn read(&mut self) -> HostXstate {
        HostXstate {
            xcr0: self.read_xcr0(),
            xss: if self.has_xss() {
                Some(self.read_xss())
            } else {
                None
            },
            pkru: if self.has_pkru() {
                Some(self.read_pkru())
            } else {
                None
            },
        }
    }
}

/// Saves host XCR0, IA32_XSS and PKRU when made, and writes back the ones that changed when
/// [`restore`](HostXstateGuard::restore)d or dropped (the drop covers an unwinding backend).
///
/// ```ignore
/// // Ring 0, around TDH.VP.ENTER (`regs` hold the TD's exposed registers):
/// let mut host = unsafe { Ring0HostXstate::new() };   // once, at CPL 0
/// let guard = HostXstateGuard::save(&mut host);
/// let status = unsafe { backend.call(CallKind::SeamcallScrub, TDH_VP_ENTER, &mut regs) };
/// let rewritten = guard.restore();
/// ```
///
/// [`call_restoring_host_xstate`] does exactly that.
#[derive(Debug)]
pub struct HostXstateGuard<'a, A: HostXstateAccess + ?Sized> {
    access: &'a mut A,
    saved: HostXstate,
    restored: bool,
}

impl<'a, A: HostXstateAccess + ?Sized> HostXstateGuard<'a, A> {
    /// Reads the host's values.
    #[inline]
    pub fn save(access: &'a mut A) -> HostXstateGuard<'a, A> {
        let saved = access.read();
        HostXstateGuard {
            access,
            saved,
            restored: false,
        }
    }

    /// The values read by [`save`](HostXstateGuard::save).
    #[inline]
    pub fn saved(&self) -> HostXstate {
        self.saved
    }

    /// Reads the registers again and writes back each one that differs from the saved
    /// value: XCR0 first (XSETBV), then IA32_XSS (WRMSR), then PKRU (WRPKRU). Returns which
    /// were written.
    #[inline]
    pub fn restore(mut self) -> Rewritten {
        self.restored = true;
        self.restore_now()
    }

    fn restore_now(&mut self) -> Rewritten {
        let now = self.access.read();
        let rewrites = self.saved.rewrites(&now);
        if rewrites.xcr0 {
            // SAFETY: the value was read from the same register through the same accessor
            // before the call, so the CPU accepted it and the host expects it.
            unsafe { self.access.write_xcr0(self.saved.xcr0) };
        }
        if let (true, Some(xss)) = (rewrites.xss, self.saved.xss) {
            // SAFETY: as above.
            unsafe { self.access.write_xss(xss) };
        }
        if let (true, Some(pkru)) = (rewrites.pkru, self.saved.pkru) {
            // SAFETY: as above.
            unsafe { self.access.write_pkru(pkru) };
        }
        rewrites
    }
}

impl<A: HostXstateAccess + ?Sized> Drop for HostXstateGuard<'_, A> {
    fn drop(&mut self) {
        if !self.restored {
            self.restore_now();
        }
    }
}

/// TDH.VP.ENTER (or any call) with host XCR0, IA32_XSS and PKRU saved before and the
/// changed ones written back after, whatever the status. Returns the status and which
/// registers were rewritten.
///
/// The vector registers themselves are not saved: the module resets them all, and a
/// kernel's vCPU loop has already saved the task's state before entering a guest.
///
/// # Safety
///
/// That of [`Backend::call`] for `leaf` (for TDH.VP.ENTER, `kind` is
/// [`CallKind::SeamcallScrub`]).
#[inline]
pub unsafe fn call_restoring_host_xstate<B, A>(
    backend: &mut B,
    kind: CallKind,
    leaf: u64,
    regs: &mut Regs,
    access: &mut A,
) -> (Status, Rewritten)
where
    B: Backend + ?Sized,
    A: HostXstateAccess + ?Sized,
{
    let guard = HostXstateGuard::save(access);
    // SAFETY: the caller upholds the contract of `Backend::call`.
    let status = unsafe { backend.call(kind, leaf, regs) };
    (status, guard.restore())
}

#[cfg(target_arch = "x86_64")]
pub use self::ring0::Ring0HostXstate;

#[cfg(target_arch = "x86_64")]
mod ring0 {
    use super::HostXstateAccess;
    use crate::xstate::insn::{cpuid, xgetbv};
    use core::arch::asm;

    /// IA32_XSS: the supervisor state components enabled for XSAVES.
    const MSR_IA32_XSS: u32 = 0xDA0;
    /// CPUID.(EAX=0DH,ECX=1):EAX bit 3: XSAVES/XRSTORS and IA32_XSS.
    const CPUID_D1_EAX_XSAVES: u32 = 1 << 3;
    /// CPUID.(EAX=07H,ECX=0):ECX bit 4: OSPKE, CR4.PKE is set (RDPKRU/WRPKRU work).
    const CPUID_7_ECX_OSPKE: u32 = 1 << 4;

    /// The real registers, through XGETBV/XSETBV, RDMSR/WRMSR and RDPKRU/WRPKRU.
    #[derive(Clone, Copy, Debug)]
    pub struct Ring0HostXstate {
        has_xss: bool,
        has_pkru: bool,
    }

    impl Ring0HostXstate {
        /// Detects IA32_XSS (CPUID.(0DH,1):EAX bit 3) and PKRU (CPUID.(07H,0):ECX bit 4, OSPKE,
        /// which mirrors CR4.PKE). Make it once and keep it: CPUID is slow.
        ///
        /// # Safety
        ///
        /// CPL 0 only, with CR4.OSXSAVE set: XSETBV, RDMSR and WRMSR fault anywhere else.
        /// CR4.PKE must not change while the value is in use.
        pub unsafe fn new() -> Ring0HostXstate {
            Ring0HostXstate {
                has_xss: cpuid(0xD, 1).eax & CPUID_D1_EAX_XSAVES != 0,
                has_pkru: cpuid(7, 0).ecx & CPUID_7_ECX_OSPKE != 0,
            }
        }
    }

    // SAFETY: `new` is unsafe and requires CPL 0 with CR4.OSXSAVE, so every read below is
    // defined, and each optional register is read only when CPUID reported it.
    unsafe impl HostXstateAccess for Ring0HostXstate {
        #[inline]
        fn has_xss(&self) -> bool {
            self.has_xss
        }

        #[inline]
        fn has_pkru(&self) -> bool {
            self.has_pkru
        }

        #[inline]
        fn read_xcr0(&mut self) -> u64 {
            // SAFETY: CR4.OSXSAVE is set (contract of `new`).
            unsafe { xgetbv(0) }
        }

        #[inline]
        fn read_xss(&mut self) -> u64 {
            let (low, high): (u32, u32);
            // SAFETY: CPL 0 and IA32_XSS exists (`has_xss`); RDMSR writes only EDX:EAX.
            unsafe {
                asm!(
                    "rdmsr",
                    in("ecx") MSR_IA32_XSS,
                    out("eax") low,
                    out("edx") high,
                    options(nomem, nostack, preserves_flags),
                );
            }
            (high as u64) << 32 | low as u64
        }

        #[inline]
        fn read_pkru(&mut self) -> u32 {
            let pkru: u32;
            // SAFETY: CR4.PKE is set (`has_pkru`); RDPKRU needs ECX=0 and writes EDX:EAX.
            unsafe {
                asm!(
                    "rdpkru",
                    in("ecx") 0u32,
                    out("eax") pkru,
                    out("edx") _,
                    options(nomem, nostack, preserves_flags),
                );
            }
            pkru
        }

        #[inline]
        unsafe fn write_xcr0(&mut self, value: u64) {
            // SAFETY: CPL 0 and a value the CPU accepts (caller's contract).
            unsafe {
                asm!(
                    "xsetbv",
                    in("ecx") 0u32,
                    in("eax") value as u32,
                    in("edx") (value >> 32) as u32,
                    options(nostack, preserves_flags),
                );
            }
        }

        #[inline]
        unsafe fn write_xss(&mut self, value: u64) {
            // SAFETY: CPL 0, IA32_XSS exists, and a value the CPU accepts (caller's
            // contract).
            unsafe {
                asm!(
                    "wrmsr",
                    in("ecx") MSR_IA32_XSS,
                    in("eax") value as u32,
                    in("edx") (value >> 32) as u32,
                    options(nostack, preserves_flags),
                );
            }
        }

        #[inline]
        unsafe fn write_pkru(&mut self, value: u32) {
            // SAFETY: CR4.PKE is set; WRPKRU needs ECX = EDX = 0.
            unsafe {
                asm!(
                    "wrpkru",
                    in("ecx") 0u32,
                    in("edx") 0u32,
                    in("eax") value,
                    options(nostack, preserves_flags),
                );
            }
        }
    }
}
