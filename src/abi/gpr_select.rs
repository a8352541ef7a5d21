//! The GPR exposure mask of TDG.VP.VMCALL (RCX bits 15:0, `GPR_SELECT`).
//!
//! Bit *i* exposes the general register with hardware index *i* (RAX 0, RCX 1, RDX 2, RBX 3,
//! RSP 4, RBP 5, RSI 6, RDI 7, R8-R15 8-15) to the VMM: the module copies the guest's value
//! out on the TD exit and the VMM's value back in on resume. The module rejects a mask that
//! selects RAX, RCX or RSP (and RBP when the TD runs with `NO_RBP_MOD`) with
//! `TDX_OPERAND_INVALID` + RCX. [`GprSelect`] has no bit for those four registers, so no value
//! of it can name them; [`Gpr`] lists the twelve registers that can be exposed.
//!
//! Bits 31:16 of RCX (`XMM_SELECT`) stay zero: this crate never exposes vector registers.

use crate::regs::Regs;

bitflags::bitflags! {
    /// GPR_SELECT: the general registers a TDG.VP.VMCALL exposes to the VMM.
    ///
    /// Only the twelve exposable registers have bits; RAX (0), RCX (1), RSP (4) and RBP (5)
    /// cannot be expressed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct GprSelect: u16 {
        /// RDX, hardware index 2.
        const RDX = 1 << 2;
        /// RBX, hardware index 3.
        const RBX = 1 << 3;
        /// RSI, hardware index 6.
        const RSI = 1 << 6;
        /// RDI, hardware index 7.
        const RDI = 1 << 7;
        /// R8.
        const R8 = 1 << 8;
        /// R9.
        const R9 = 1 << 9;
        /// R10: the TDVMCALL kind in, its status out. Every call exposes it.
        const R10 = 1 << 10;
        /// R11: the sub-function in, the main output out. Every call exposes it.
        const R11 = 1 << 11;
        /// R12.
        const R12 = 1 << 12;
        /// R13.
        const R13 = 1 << 13;
        /// R14.
        const R14 = 1 << 14;
        /// R15.
        const R15 = 1 << 15;
    }
}

/// Bits of RCX that select registers the module never lets a guest expose: RAX, RCX, RSP,
/// RBP.
pub const FORBIDDEN_GPR_BITS: u16 = 1 << 0 | 1 << 1 | 1 << 4 | 1 << 5;

const _: () = assert!(GprSelect::all().bits() & FORBIDDEN_GPR_BITS == 0);
const _: () = assert!(GprSelect::all().bits() == 0xFFCC);

/// A general register that a TDG.VP.VMCALL may expose, named by its hardware index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Gpr {
    /// RDX.
    Rdx = 2,
    /// RBX.
    Rbx = 3,
    /// RSI.
    Rsi = 6,
    /// RDI.
    Rdi = 7,
    /// R8.
    R8 = 8,
    /// R9.
    R9 = 9,
    /// R10.
    R10 = 10,
    /// R11.
    R11 = 11,
    /// R12.
    R12 = 12,
    /// R13.
    R13 = 13,
    /// R14.
    R14 = 14,
    /// R15.
    R15 = 15,
}

impl Gpr {
    /// Every exposable register, in hardware-index order.
    pub const ALL: [Gpr; 12] = [
        Gpr::Rdx,
        Gpr::Rbx,
        Gpr::Rsi,
        Gpr::Rdi,
        Gpr::R8,
        Gpr::R9,
        Gpr::R10,
        Gpr::R11,
        Gpr::R12,
        Gpr::R13,
        Gpr::R14,
        Gpr::R15,
    ];

    /// The hardware register index.
    #[inline]
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The GPR_SELECT bit of this register.
    #[inline]
    pub const fn select(self) -> GprSelect {
        GprSelect::from_bits_retain(1 << self as u8)
    }

    /// This register's slot in a [`Regs`].
    #[inline]
    pub fn slot(self, regs: &mut Regs) -> &mut u64 {
        match self {
            Gpr::Rdx => &mut regs.rdx,
            Gpr::Rbx => &mut regs.rbx,
            Gpr::Rsi => &mut regs.rsi,
            Gpr::Rdi => &mut regs.rdi,
            Gpr::R8 => &mut regs.r8,
            Gpr::R9 => &mut regs.r9,
            Gpr::R10 => &mut regs.r10,
            Gpr::R11 => &mut regs.r11,
            Gpr::R12 => &mut regs.r12,
            Gpr::R13 => &mut regs.r13,
            Gpr::R14 => &mut regs.r14,
            Gpr::R15 => &mut regs.r15,
        }
    }

    /// This register's value in a [`Regs`].
    #[inline]
    pub fn get(self, regs: &Regs) -> u64 {
        let mut copy = *regs;
        *self.slot(&mut copy)
    }
}

impl From<Gpr> for GprSelect {
    #[inline]
    fn from(gpr: Gpr) -> GprSelect {
        gpr.select()
    }
}

impl GprSelect {
    /// The exposed registers, in hardware-index order.
    pub fn registers(self) -> impl Iterator<Item = Gpr> {
        Gpr::ALL
            .into_iter()
            .filter(move |gpr| self.contains(gpr.select()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bit_is_the_hardware_index() {
        let expected: [(GprSelect, u32); 12] = [
            (GprSelect::RDX, 2),
            (GprSelect::RBX, 3),
            (GprSelect::RSI, 6),
            (GprSelect::RDI, 7),
            (GprSelect::R8, 8),
            (GprSelect::R9, 9),
            (GprSelect::R10, 10),
            (GprSelect::R11, 11),
            (GprSelect::R12, 12),
            (GprSelect::R13, 13),
            (GprSelect::R14, 14),
            (GprSelect::R15, 15),
        ];
        for (flag, bit) in expected {
            assert_eq!(flag.bits(), 1 << bit, "{flag:?}");
        }
        for gpr in Gpr::ALL {
            assert_eq!(gpr.select().bits(), 1u16 << gpr.index());
            // The Regs accessor by hardware index agrees with the slot.
            let mut regs = Regs::ZERO;
            *gpr.slot(&mut regs) = 0x1234 + gpr.index() as u64;
            assert_eq!(
                regs.by_hw_index(gpr.index()),
                Some(0x1234 + gpr.index() as u64)
            );
        }
        // RBX is bit 3 and RDX bit 2, not swapped.
        assert_eq!(GprSelect::RBX.bits(), 0b1000);
        assert_eq!(GprSelect::RDX.bits(), 0b0100);
    }

    #[test]
    fn forbidden_registers_cannot_be_selected() {
        for bit in [0u16, 1, 4, 5] {
            assert_eq!(GprSelect::from_bits(1 << bit), None, "bit {bit}");
            assert!(GprSelect::from_bits_truncate(1 << bit).is_empty());
        }
        assert_eq!(GprSelect::all().bits(), 0xFFCC);
    }

    #[test]
    fn registers_iterates_in_index_order() {
        let select = GprSelect::R15 | GprSelect::RBX | GprSelect::R10;
        let regs: [Gpr; 3] = [Gpr::Rbx, Gpr::R10, Gpr::R15];
        assert!(select.registers().eq(regs));
    }
}
