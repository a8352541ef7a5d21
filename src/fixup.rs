//! The exception table and the fault fixup.
//!
//! Every TDX instruction site in the thunks has an entry, emitted by the assembler macro
//! right next to the instruction:
//!
//! | offset | field | meaning |
//! |--------|-------|---------|
//! | 0 | `i32` | address of the instruction, relative to this field |
//! | 4 | `i32` | address of the fixup label, relative to this field |
//! | 8 | `u32` | bits 7:0 instruction kind (0 SEAMCALL, 1 TDCALL); bit 8 the thunk scrubs; bits 31:16 its register set ([`RegSet::mask`]) |
//!
//! A #UD or #GP at one of these sites means the instruction is unavailable (no TDX module,
//! not a TD, wrong mode). [`fixup_exception`] redirects execution to the site's fixup label
//! with RAX set to the matching software code, and the thunk returns that code as its status
//! with the register struct holding its input values.
//!
//! # Ring 0
//!
//! A kernel's #UD (vector 6) and #GP (vector 13) handlers call [`fixup_exception`] with the
//! vector and the RIP and RAX saved in the interrupt frame. When it returns `true`, the
//! handler returns to the (updated) RIP with the (updated) RAX; when it returns `false`, the
//! fault is not the crate's and the kernel handles it as it would otherwise. The function
//! takes no lock, allocates nothing and only reads the table, so it is safe to call from
//! any exception context.
//!
//! # User space
//!
//! `signal::install` (feature `std`, Linux) sets up a SIGILL/SIGSEGV handler that does the
//! same from the signal context.

use crate::call::CallKind;
use crate::regs::RegSet;
use crate::status::Status;

/// #UD, invalid opcode.
pub const VECTOR_UD: u8 = 6;
/// #GP, general protection.
pub const VECTOR_GP: u8 = 13;

/// Which instruction an exception-table entry covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SiteKind {
    /// A SEAMCALL instruction.
    Seamcall,
    /// A TDCALL instruction.
    Tdcall,
}

/// One instruction site of the thunks, as the exception table records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Site {
    /// Address of the first byte of the 4-byte instruction.
    pub instruction: u64,
    /// Address execution resumes at after a fault.
    pub fixup: u64,
    /// The instruction.
    pub kind: SiteKind,
    /// The thunk kind the site belongs to (SEAMCALL or TDCALL, scrubbing or not).
    pub thunk: CallKind,
    /// The registers the thunk moves: a model answering at this site may change only these
    /// (and RAX and the flags); the thunk neither stores nor saves the others.
    pub regs: RegSet,
}

impl Site {
    /// Length of SEAMCALL and TDCALL (`66 0F 01 CF` / `66 0F 01 CC`) in bytes.
    pub const INSTRUCTION_LEN: u64 = 4;

    /// The software status for `vector` at this site.
    pub const fn fault_status(&self, vector: u8) -> Status {
        Status::for_fault(matches!(self.kind, SiteKind::Tdcall), vector)
    }
}

#[cfg(target_arch = "x86_64")]
mod table {
    use super::{CallKind, RegSet, Site, SiteKind};

    /// The layout the assembly emits; see the module docs.
    #[repr(C)]
    struct Entry {
        instruction: i32,
        fixup: i32,
        kind: u32,
    }

    static_assertions::assert_eq_size!(Entry, [u32; 3]);

    extern "C" {
        static tdxcall_extable_start: [Entry; 0];
        static tdxcall_extable_end: [Entry; 0];
        #[cfg(feature = "loopback")]
        static tdxcall_loopback_extable_start: [Entry; 0];
        #[cfg(feature = "loopback")]
        static tdxcall_loopback_extable_end: [Entry; 0];
    }

    /// The entries between two linker-resolved addresses.
    ///
    /// The bounds are two distinct extern statics: Rust defines `offset_from` only between
    /// pointers into one allocation, which it cannot know these are (each is a zero-sized
    /// static of its own), so their addresses are compared as integers, and the slice is
    /// built from the start address by an integer-to-pointer cast: the table is memory the
    /// assembler laid out, not part of either zero-sized static.
    fn entries(start: usize, end: usize) -> &'static [Entry] {
        let len = entry_count(start, end);
        // SAFETY: `start` and `end` delimit one array of `Entry` in read-only data, emitted
        // by one assembly of asm/tdxcall.S (4-byte aligned, each entry 12 bytes, nothing
        // else in between); it is never written. `entry_count` never reaches past `end`.
        unsafe { core::slice::from_raw_parts(start as *const Entry, len) }
    }

    /// Whole entries from `start` to `end`; none if `end` is not above `start`.
    pub(super) const fn entry_count(start: usize, end: usize) -> usize {
        end.saturating_sub(start) / core::mem::size_of::<Entry>()
    }

    fn decode(entry: &Entry) -> Site {
        let base = entry as *const Entry as u64;
        let tdcall = entry.kind & 0xFF == 1;
        let scrub = entry.kind & 0x100 != 0;
        Site {
            instruction: base.wrapping_add(entry.instruction as i64 as u64),
            fixup: (base + 4).wrapping_add(entry.fixup as i64 as u64),
            kind: if tdcall {
                SiteKind::Tdcall
            } else {
                SiteKind::Seamcall
            },
            thunk: match (tdcall, scrub) {
                (false, false) => CallKind::Seamcall,
                (false, true) => CallKind::SeamcallScrub,
                (true, false) => CallKind::Tdcall,
                (true, true) => CallKind::Tdvmcall,
            },
            // Every mask the assembly emits is one of build.rs's sets; an unknown one (which
            // the tests rule out) is treated as the widest, which restricts a model least.
            regs: RegSet::from_mask((entry.kind >> 16) as u16).unwrap_or(RegSet::Full),
        }
    }

    /// Every instruction site of the linked thunks.
    pub fn sites() -> impl Iterator<Item = Site> {
        // Only the addresses of the linker-resolved table bounds are taken here.
        let production = entries(
            core::ptr::addr_of!(tdxcall_extable_start) as usize,
            core::ptr::addr_of!(tdxcall_extable_end) as usize,
        );
        #[cfg(feature = "loopback")]
        let loopback = entries(
            core::ptr::addr_of!(tdxcall_loopback_extable_start) as usize,
            core::ptr::addr_of!(tdxcall_loopback_extable_end) as usize,
        );
        #[cfg(not(feature = "loopback"))]
        let loopback: &[Entry] = &[];
        production.iter().chain(loopback.iter()).map(decode)
    }
}

/// Every TDX instruction site in the linked thunks (production, and loopback when that
/// feature is on).
#[cfg(target_arch = "x86_64")]
pub fn sites() -> impl Iterator<Item = Site> {
    table::sites()
}

/// The site whose instruction starts at `rip`, if any.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn site_at(rip: u64) -> Option<Site> {
    table::sites().find(|site| site.instruction == rip)
}

/// The ring-0 (and signal-handler) fixup.
///
/// Call it from a #UD or #GP handler with the exception `vector` and the interrupted
/// context's `rip` and `rax`. If the fault is a #UD or #GP on one of the crate's instruction
/// sites, it sets `*rip` to the site's fixup label and `*rax` to the software code
/// ([`Status::SEAMCALL_UD`], [`Status::SEAMCALL_GP`], [`Status::TDCALL_UD`] or
/// [`Status::TDCALL_GP`]) and returns `true`; the handler then resumes the interrupted
/// context. Otherwise it changes nothing and returns `false`: the fault is not the crate's.
///
/// No allocation, no lock, no panic: safe in any exception context.
#[cfg(target_arch = "x86_64")]
pub fn fixup_exception(vector: u64, rip: &mut u64, rax: &mut u64) -> bool {
    let vector = match vector {
        6 => VECTOR_UD,
        13 => VECTOR_GP,
        _ => return false,
    };
    match site_at(*rip) {
        Some(site) => {
            *rip = site.fixup;
            *rax = site.fault_status(vector).raw();
            true
        }
        None => false,
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::table::entry_count;

    #[test]
    fn entry_count_is_whole_entries_between_the_addresses() {
        assert_eq!(entry_count(0x1000, 0x1000), 0);
        assert_eq!(entry_count(0x1000, 0x1000 + 12), 1);
        assert_eq!(entry_count(0x1000, 0x1000 + 3 * 12), 3);
        assert_eq!(entry_count(0x1000, 0x1000 + 3 * 12 + 5), 3);
    }

    #[test]
    fn entry_count_is_zero_when_end_is_below_start() {
        // `offset_from` would give a negative count, a huge length once cast to usize.
        assert_eq!(entry_count(0x2000, 0x1000), 0);
        assert_eq!(entry_count(usize::MAX, 0), 0);
    }

    #[cfg(feature = "std")]
    #[test]
    fn every_site_is_found_in_the_table() {
        let sites: std::vec::Vec<_> = super::sites().collect();
        assert!(sites.len() >= 4, "{sites:x?}");
        for site in &sites {
            assert_eq!(super::site_at(site.instruction), Some(*site));
        }
    }
}
