//! Simulated physical memory and the PAMT (Physical Address Metadata Table).
//!
//! Memory is one convertible memory range (CMR) of the configured size, kept as a sparse map
//! of 4 KiB pages (a page never written reads as zeros). The PAMT keeps, per 4 KiB page of
//! an initialized TDMR, what the module's PAMT_4K entry keeps: the page type, the owner (the
//! TDR's HPA) and the blocking epoch (BEPOCH). Pages outside a TDMR, or in the part of a TDMR
//! that TDH.SYS.TDMR.INIT has not reached yet, have no PAMT entry: the module answers
//! `TDX_OPERAND_ADDR_RANGE_ERROR` for them.
//!
//! Every 64-byte line also remembers the key it was last written with ([`Key`]): a host
//! (shared) KeyID, or a private HKID. All access goes through four helpers, which apply the
//! rules of TDX memory integrity described in the module docs (section "Memory"):
//! [`Memory::host_read`] and [`Memory::host_write`] for every access with the host's key (the
//! host's own reads and writes, and every "shared HPA" operand the module reads or writes),
//! [`Memory::td_read`] and [`Memory::td_write`] for accesses with a TD's private key.

use super::PAGE_SIZE;
use crate::status::{Operand, Status, StatusCode};
use std::boxed::Box;
use std::collections::HashMap;
use std::vec::Vec;

/// Bytes in a cache line, the unit a key and an integrity check cover.
const LINE: u64 = 64;
/// Lines in a 4 KiB page.
const LINES: usize = (PAGE_SIZE / LINE) as usize;

/// The key a line of memory was last written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// A host (shared) KeyID: any KeyID below the first private HKID.
    Host,
    /// A private HKID: a TD's key, or the module's global private key.
    Private(u16),
}

/// A TD-key read found a line that its key did not write: on hardware, the line's
/// integrity check fails and the read consumes poison (a machine check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Poisoned {
    /// The first address read whose line failed the check.
    pub hpa: u64,
}

/// One 4 KiB page of memory: its bytes and the key of each line.
struct Frame {
    data: Box<[u8; PAGE_SIZE as usize]>,
    keys: [Key; LINES],
}

impl Frame {
    fn zeroed(key: Key) -> Frame {
        Frame {
            data: Box::new([0; PAGE_SIZE as usize]),
            keys: [key; LINES],
        }
    }
}

/// The PAMT page type (`page_type_t`), with the module's encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum PageType {
    /// 0: not assigned to the module (a host page).
    Nda = 0,
    /// 1: reserved (a TDMR reserved area, e.g. the PAMT itself).
    Rsvd = 1,
    /// 3: a regular private TD page.
    Reg = 3,
    /// 4: a TD root page.
    Tdr = 4,
    /// 5: a TDCS or TDVPS extension page.
    Tdcx = 5,
    /// 6: a vCPU root page.
    Tdvpr = 6,
    /// 8: a Secure-EPT page.
    Ept = 8,
}

/// One PAMT_4K entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PamtEntry {
    pub page_type: PageType,
    /// The TDR HPA of the owning TD (0 for TDR, NDA and RSVD pages).
    pub owner: u64,
    /// The TD epoch at which the page was blocked (TDH.MEM.RANGE.BLOCK).
    pub bepoch: u64,
}

impl PamtEntry {
    pub const FREE: PamtEntry = PamtEntry {
        page_type: PageType::Nda,
        owner: 0,
        bepoch: 0,
    };
}

/// A configured TDMR and how far TDH.SYS.TDMR.INIT got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tdmr {
    pub base: u64,
    pub size: u64,
    /// Reserved areas as (offset, size), sorted.
    pub reserved: Vec<(u64, u64)>,
    /// PAMT_4K, PAMT_2M and PAMT_1G areas as (base, size).
    pub pamt: [(u64, u64); 3],
    /// Everything below `base + initialized` has its PAMT initialized.
    pub initialized: u64,
}

impl Tdmr {
    pub fn contains(&self, hpa: u64) -> bool {
        hpa >= self.base && hpa - self.base < self.size
    }

    fn is_reserved(&self, hpa: u64) -> bool {
        let offset = hpa - self.base;
        self.reserved
            .iter()
            .any(|&(start, size)| offset >= start && offset - start < size)
    }
}

/// Bytes in the range one PAMT page pair covers under Dynamic PAMT.
pub(super) const RANGE_2M: u64 = 2 << 20;

/// Dynamic PAMT (module 2.0.18, enabled by TDH.SYS.CONFIG version 1, R8 bit 16): the
/// 4 KiB-level PAMT of a 2 MiB range exists only once TDH.PHYMEM.PAMT.ADD gave it a page
/// pair (`intel/tdx-module` 1666adc4, `pamt_manager.c`, unchanged to 2.0.18 in the stored
/// history). The module keeps, per 2 MiB range, a PAMT_2M node entry of type PT_PAMT with
/// the two pages, and one bit per 4 KiB page of the TDMR (the PAMT page bitmap, set for
/// pages in use as PAMT pages and for reserved pages).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DynamicPamt {
    /// 2 MiB ranges that have their 4 KiB level: range base to the PAMT pages (the
    /// first holds the entries of the range's first 256 pages, the second the rest).
    pub nodes: HashMap<u64, [u64; 2]>,
    /// Pages in use as PAMT pages (their bitmap bit is set).
    pub pamt_pages: std::collections::HashSet<u64>,
}

/// Physical memory, the PAMT and the host-side page allocator.
pub(super) struct Memory {
    /// Dynamic PAMT, once TDH.SYS.CONFIG enabled it (module/host/pamt.rs).
    pub dynamic_pamt: Option<DynamicPamt>,
    base: u64,
    size: u64,
    /// Pages ever written; a page not here holds zeros written with the host's key.
    pages: HashMap<u64, Frame>,
    /// The first private HKID: KeyIDs below it are host (shared) KeyIDs.
    private_hkid_min: u16,
    /// The lowest bit of the KeyID field of a physical address (the KeyID bits are the top
    /// bits below MAX_PA).
    keyid_shift: u32,
    pamt: HashMap<u64, PamtEntry>,
    pub tdmrs: Vec<Tdmr>,
    /// Pages handed out by `alloc_page` and not freed.
    allocated: std::collections::HashSet<u64>,
    free_list: Vec<u64>,
    next_fresh: u64,
}

/// Why a host access to model memory was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemoryError {
    /// The address range is not inside the model's memory.
    OutOfRange {
        /// The first address outside.
        hpa: u64,
    },
    /// The page belongs to the module or a TD (its PAMT type is not NDA, or it is a
    /// Dynamic-PAMT page): on a real machine the host would see ciphertext (reads) or corrupt
    /// the TD or the PAMT (writes).
    NotHostOwned {
        /// The page.
        page: u64,
    },
}

impl core::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemoryError::OutOfRange { hpa } => {
                write!(f, "{hpa:#x} is outside the software module's memory")
            }
            MemoryError::NotHostOwned { page } => {
                write!(f, "page {page:#x} belongs to the TDX module or a TD")
            }
        }
    }
}

impl std::error::Error for MemoryError {}

/// The module's maximum physical-address width (bits 51:0).
pub(super) const MAX_PA_BITS: u32 = 52;

/// Where the KeyID bits of a physical address start when the private HKIDs end (exclusive)
/// at `private_hkid_end`: KeyIDs take the fewest top bits below MAX_PA that can hold every
/// KeyID up to `private_hkid_end - 1` (as MKTME partitions the top physical-address bits).
pub(super) fn keyid_shift(private_hkid_end: u16) -> u32 {
    let bits = u16::BITS - private_hkid_end.saturating_sub(1).leading_zeros();
    MAX_PA_BITS - bits
}

impl Memory {
    /// Memory at `base`, `size` bytes; host pages are handed out from `first_host_page` on.
    /// `private_hkids` is the range of private HKIDs, `start..end`.
    pub fn new(base: u64, size: u64, first_host_page: u64, private_hkids: (u16, u16)) -> Memory {
        Memory {
            dynamic_pamt: None,
            base,
            size,
            pages: HashMap::new(),
            private_hkid_min: private_hkids.0,
            keyid_shift: keyid_shift(private_hkids.1),
            pamt: HashMap::new(),
            tdmrs: Vec::new(),
            allocated: Default::default(),
            free_list: Vec::new(),
            next_fresh: first_host_page,
        }
    }

    pub fn in_range(&self, hpa: u64, len: u64) -> bool {
        hpa >= self.base && len <= self.size && hpa - self.base <= self.size - len
    }

    /// A page for the host: a free page of the model's memory, zeroed.
    pub fn alloc_page(&mut self) -> Option<u64> {
        let page = match self.free_list.pop() {
            Some(page) => page,
            None => {
                if !self.in_range(self.next_fresh, PAGE_SIZE) {
                    return None;
                }
                let page = self.next_fresh;
                self.next_fresh += PAGE_SIZE;
                page
            }
        };
        self.pages.remove(&page);
        self.allocated.insert(page);
        Some(page)
    }

    /// Gives a page back to the allocator. `false` if it was not allocated or the module still
    /// owns it.
    pub fn free_page(&mut self, page: u64) -> bool {
        if self.module_owned(page) {
            return false;
        }
        if !self.allocated.remove(&page) {
            return false;
        }
        self.free_list.push(page);
        true
    }

    /// The PAMT type of a page, `None` outside an initialized TDMR.
    pub fn pamt_type(&self, page: u64) -> Option<PageType> {
        self.pamt_entry(page).map(|entry| entry.page_type)
    }

    /// The PAMT entry of a page, `None` outside the initialized part of a TDMR.
    pub fn pamt_entry(&self, page: u64) -> Option<PamtEntry> {
        let page = page & !(PAGE_SIZE - 1);
        let tdmr = self.tdmrs.iter().find(|tdmr| tdmr.contains(page))?;
        if page - tdmr.base >= tdmr.initialized {
            return None;
        }
        Some(
            self.pamt
                .get(&page)
                .copied()
                .unwrap_or(if tdmr.is_reserved(page) {
                    PamtEntry {
                        page_type: PageType::Rsvd,
                        ..PamtEntry::FREE
                    }
                } else {
                    PamtEntry::FREE
                }),
        )
    }

    pub fn set_pamt(&mut self, page: u64, entry: PamtEntry) {
        if entry == PamtEntry::FREE {
            self.pamt.remove(&page);
        } else {
            self.pamt.insert(page, entry);
        }
    }

    /// Whether the module or a TD owns `page`: a PAMT type other than NDA, or (Dynamic
    /// PAMT) a page in use as a PAMT page.
    pub fn module_owned(&self, page: u64) -> bool {
        let page = page & !(PAGE_SIZE - 1);
        matches!(self.pamt_type(page), Some(t) if t != PageType::Nda) || self.is_pamt_page(page)
    }

    /// Dynamic PAMT: whether `page` is in use as a PAMT page.
    pub fn is_pamt_page(&self, page: u64) -> bool {
        self.dynamic_pamt
            .as_ref()
            .is_some_and(|dpamt| dpamt.pamt_pages.contains(&page))
    }

    /// Whether the 4 KiB-level PAMT of `page`'s 2 MiB range exists: always without Dynamic
    /// PAMT, after TDH.PHYMEM.PAMT.ADD with it.
    pub fn has_pamt_4k(&self, page: u64) -> bool {
        self.dynamic_pamt
            .as_ref()
            .is_none_or(|dpamt| dpamt.nodes.contains_key(&(page & !(RANGE_2M - 1))))
    }

    /// Dynamic PAMT: the PAMT page-bitmap bit of `page` (`dynamic_pamt_4k_bitmap_get`): set
    /// for a page in use as a PAMT page and for a reserved page (`pamt_4kb_bitmap_init`).
    pub fn bitmap_bit(&self, page: u64) -> bool {
        self.is_pamt_page(page)
            || self
                .tdmrs
                .iter()
                .any(|tdmr| tdmr.contains(page) && tdmr.is_reserved(page))
    }

    /// For each half (256 pages, the entries one PAMT page holds) of the 2 MiB range at
    /// `range`: whether a page in it has a PAMT type other than NDA.
    pub fn range_in_use(&self, range: u64) -> [bool; 2] {
        let half = RANGE_2M / 2;
        [0, 1].map(|i| {
            let start = range + i * half;
            (start..start + half)
                .step_by(PAGE_SIZE as usize)
                .any(|page| self.pamt.contains_key(&page))
        })
    }

    /// The KeyID bits of `hpa` are not zero (`get_hkid_from_pa`).
    pub fn has_keyid(&self, hpa: u64) -> bool {
        self.keyid(hpa) != 0
    }

    /// The module's check of an explicit private 4 KiB page operand
    /// (`check_and_lock_explicit_4k_private_hpa`): aligned, no bits above MAX_PA, inside an
    /// initialized TDMR, and of the expected PAMT type. Errors carry `operand`.
    ///
    /// With Dynamic PAMT (`non_shared_hpa_metadata_check_and_lock`, 1666adc4 `helpers.c`):
    /// a page whose 2 MiB range has no 4 KiB-level PAMT stops the PAMT walk at the 2 MiB
    /// level, whose entry is NDA (the model has no 2 MiB pages): TDX_MISSING_PAMT_PAGE_PAIR
    /// when the leaf wants a free (NDA) page, TDX_PAGE_METADATA_INCORRECT otherwise; and a
    /// free page in use as a PAMT page is TDX_PAGE_METADATA_INCORRECT.
    pub fn check_private_page(
        &self,
        hpa: u64,
        operand: Operand,
        expected: PageType,
    ) -> Result<PamtEntry, Status> {
        if hpa % PAGE_SIZE != 0 || hpa >> MAX_PA_BITS != 0 {
            return Err(StatusCode::OperandInvalid.with_operand(operand));
        }
        let entry = self
            .pamt_entry(hpa)
            .ok_or(StatusCode::OperandAddrRangeError.with_operand(operand))?;
        if !self.has_pamt_4k(hpa) {
            let code = if expected == PageType::Nda {
                StatusCode::MissingPamtPagePair
            } else {
                StatusCode::PageMetadataIncorrect
            };
            return Err(code.with_operand(operand));
        }
        if entry.page_type != expected {
            return Err(StatusCode::PageMetadataIncorrect.with_operand(operand));
        }
        if expected == PageType::Nda && self.is_pamt_page(hpa) {
            return Err(StatusCode::PageMetadataIncorrect.with_operand(operand));
        }
        Ok(entry)
    }

    /// The module's check of a shared HPA operand (`shared_hpa_check_with_pwr_2_alignment`):
    /// aligned to `align`, no bits at or above MAX_PA, and a KeyID that is not private
    /// (HKID bits below the first private HKID). The module source also refuses an operand
    /// that overlaps SEAMRR; the model has no SEAMRR.
    pub fn check_shared(&self, hpa: u64, align: u64) -> bool {
        hpa % align == 0 && hpa >> MAX_PA_BITS == 0 && self.keyid(hpa) < self.private_hkid_min
    }

    /// The KeyID bits of a physical address below MAX_PA.
    fn keyid(&self, hpa: u64) -> u16 {
        ((hpa & ((1 << MAX_PA_BITS) - 1)) >> self.keyid_shift) as u16
    }

    /// A physical address without its KeyID bits: the memory location.
    fn location(&self, hpa: u64) -> u64 {
        hpa & ((1 << self.keyid_shift) - 1)
    }

    /// Runs `each(page, offset in page, range of the caller's buffer)` for each piece of
    /// `len` bytes at `hpa` that lies in one page.
    fn pieces(hpa: u64, len: usize, mut each: impl FnMut(u64, usize, core::ops::Range<usize>)) {
        let mut done = 0;
        while done < len {
            let address = hpa.wrapping_add(done as u64);
            let page = address & !(PAGE_SIZE - 1);
            let offset = (address - page) as usize;
            let n = (PAGE_SIZE as usize - offset).min(len - done);
            each(page, offset, done..done + n);
            done += n;
        }
    }

    /// Writes `data` at `location` (no KeyID bits) with `key`. A line written in part that
    /// held another key's data keeps, outside the written bytes, what `key` reads there:
    /// zeros (a host-key read of a private line gives zeros, and a TD's partial write over a
    /// line it cannot read is not modelled as a machine check).
    fn write_with(&mut self, key: Key, location: u64, data: &[u8]) {
        Self::pieces(location, data.len(), |page, offset, range| {
            let frame = self
                .pages
                .entry(page)
                .or_insert_with(|| Frame::zeroed(Key::Host));
            let end = offset + range.len();
            for line in offset / LINE as usize..end.div_ceil(LINE as usize) {
                if frame.keys[line] != key {
                    let at = line * LINE as usize;
                    frame.data[at..at + LINE as usize].fill(0);
                    frame.keys[line] = key;
                }
            }
            frame.data[offset..end].copy_from_slice(&data[range]);
        });
    }

    /// Reads with the host's key: what a host-KeyID access to `hpa` (KeyID bits included)
    /// gives on hardware. Lines written with a private key read as zeros, never as their
    /// plaintext; everything else reads as written.
    pub fn host_read(&self, hpa: u64, out: &mut [u8]) {
        Self::pieces(self.location(hpa), out.len(), |page, offset, range| {
            let out = &mut out[range];
            match self.pages.get(&page) {
                None => out.fill(0),
                Some(frame) => {
                    for (i, byte) in out.iter_mut().enumerate() {
                        let at = offset + i;
                        *byte = match frame.keys[at / LINE as usize] {
                            Key::Host => frame.data[at],
                            Key::Private(_) => 0,
                        };
                    }
                }
            }
        });
    }

    /// Writes with the host's key: what a host-KeyID write to `hpa` (KeyID bits included)
    /// does on hardware. The lines written hold the host's data from now on; a line that held
    /// a TD's data loses it, and the TD's next read of that line fails its integrity check
    /// ([`Memory::td_read`]): the TD's data never changes silently.
    pub fn host_write(&mut self, hpa: u64, data: &[u8]) {
        let location = self.location(hpa);
        self.write_with(Key::Host, location, data);
    }

    /// A little-endian u64 read with the host's key.
    pub fn host_read_u64(&self, hpa: u64) -> u64 {
        let mut bytes = [0; 8];
        self.host_read(hpa, &mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// Reads with private HKID `hkid` at `hpa` (no KeyID bits: the module and the Secure EPT
    /// supply the key). A line not written with `hkid` fails its integrity check: the read
    /// consumes poison ([`Poisoned`]) and `out` is left incomplete.
    pub fn td_read(&self, hkid: u16, hpa: u64, out: &mut [u8]) -> Result<(), Poisoned> {
        let mut result = Ok(());
        Self::pieces(hpa, out.len(), |page, offset, range| {
            if result.is_err() {
                return;
            }
            let frame = self.pages.get(&page);
            for i in 0..range.len() {
                let at = offset + i;
                match frame {
                    Some(frame) if frame.keys[at / LINE as usize] == Key::Private(hkid) => {
                        out[range.start + i] = frame.data[at];
                    }
                    _ => {
                        result = Err(Poisoned {
                            hpa: page + at as u64,
                        });
                        return;
                    }
                }
            }
        });
        result
    }

    /// Writes with private HKID `hkid` at `hpa` (no KeyID bits).
    pub fn td_write(&mut self, hkid: u16, hpa: u64, data: &[u8]) {
        self.write_with(Key::Private(hkid), hpa, data);
    }

    /// Fills a page with zeros written with `key` (a page the module initializes for a TD,
    /// or the TDR with the global private key).
    pub fn fill_page(&mut self, page: u64, key: Key) {
        match key {
            Key::Host => {
                self.pages.remove(&page);
            }
            Key::Private(_) => {
                self.pages.insert(page, Frame::zeroed(key));
            }
        }
    }

    /// Checks a host access: inside memory and every page host-owned.
    pub fn check_host_access(&self, hpa: u64, len: usize) -> Result<(), MemoryError> {
        if !self.in_range(hpa, len as u64) {
            let end = self.base.saturating_add(self.size);
            return Err(MemoryError::OutOfRange {
                hpa: if hpa < self.base { hpa } else { hpa.max(end) },
            });
        }
        let first = hpa & !(PAGE_SIZE - 1);
        let mut page = first;
        while page < hpa + len as u64 {
            if self.module_owned(page) {
                return Err(MemoryError::NotHostOwned { page });
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_with_tdmr() -> Memory {
        let mut memory = Memory::new(1 << 30, 1 << 30, (1 << 30) + 0x10_0000, (32, 64));
        memory.tdmrs.push(Tdmr {
            base: 1 << 30,
            size: 1 << 30,
            reserved: std::vec![(0, 0x10_0000)],
            pamt: [(1 << 30, 0x1000), (0, 0), (0, 0)],
            initialized: 1 << 29,
        });
        memory
    }

    #[test]
    fn pamt_types_by_region() {
        let memory = memory_with_tdmr();
        assert_eq!(memory.pamt_type(1 << 30), Some(PageType::Rsvd));
        assert_eq!(memory.pamt_type((1 << 30) + 0x10_0000), Some(PageType::Nda));
        // Beyond the initialized part and outside the TDMR: no entry.
        assert_eq!(memory.pamt_type((1 << 30) + (1 << 29)), None);
        assert_eq!(memory.pamt_type(0x1000), None);
    }

    #[test]
    fn private_page_checks_name_the_operand() {
        let memory = memory_with_tdmr();
        let page = (1 << 30) + 0x10_0000;
        assert_eq!(
            memory.check_private_page(page + 8, Operand::R8, PageType::Nda),
            Err(StatusCode::OperandInvalid.with_operand(Operand::R8))
        );
        assert_eq!(
            memory.check_private_page(0x1000, Operand::RCX, PageType::Nda),
            Err(StatusCode::OperandAddrRangeError.with_operand(Operand::RCX))
        );
        assert_eq!(
            memory.check_private_page(page, Operand::RDX, PageType::Tdr),
            Err(StatusCode::PageMetadataIncorrect.with_operand(Operand::RDX))
        );
        assert!(memory
            .check_private_page(page, Operand::RDX, PageType::Nda)
            .is_ok());
    }

    #[test]
    fn reads_and_writes_cross_pages_and_allocation_recycles() {
        let mut memory = memory_with_tdmr();
        let a = memory.alloc_page().unwrap();
        let b = memory.alloc_page().unwrap();
        assert_eq!(b, a + PAGE_SIZE);
        memory.host_write(a + PAGE_SIZE - 4, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut out = [0; 8];
        memory.host_read(a + PAGE_SIZE - 4, &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(memory.free_page(a));
        assert!(!memory.free_page(a));
        assert_eq!(memory.alloc_page(), Some(a));
        let mut page = [0xFF; 8];
        memory.host_read(a, &mut page);
        assert_eq!(page, [0; 8], "a recycled page comes back zeroed");
    }

    #[test]
    fn keyid_bits_are_the_top_bits_below_max_pa() {
        assert_eq!(keyid_shift(64), 46);
        assert_eq!(keyid_shift(65), 45);
        assert_eq!(keyid_shift(2), 51);
        let memory = memory_with_tdmr();
        let page = (1 << 30) + 0x10_0000;
        assert!(memory.check_shared(page, PAGE_SIZE));
        assert!(
            memory.check_shared(page | 31 << 46, PAGE_SIZE),
            "a shared KeyID"
        );
        assert!(
            !memory.check_shared(page | 32 << 46, PAGE_SIZE),
            "a private KeyID"
        );
        assert!(
            !memory.check_shared(page | 1 << 52, PAGE_SIZE),
            "above MAX_PA"
        );
        assert!(!memory.check_shared(page + 8, PAGE_SIZE), "misaligned");
    }

    #[test]
    fn host_key_reads_never_see_private_lines() {
        let mut memory = memory_with_tdmr();
        let page = memory.alloc_page().unwrap();
        memory.td_write(40, page, &[0xAA; 128]);
        memory.host_write(page + 128, &[0x55; 8]);
        let mut out = [0xFF; 192];
        memory.host_read(page, &mut out);
        assert_eq!(out[..128], [0; 128], "the TD's lines read as zeros");
        assert_eq!(out[128..136], [0x55; 8]);
        // With a shared KeyID in the address, the same location.
        memory.host_read(page | 5 << 46, &mut out);
        assert_eq!(out[128..136], [0x55; 8]);
        // The TD reads its own lines; another TD, or the host's lines, fail the check.
        let mut mine = [0; 64];
        assert_eq!(memory.td_read(40, page + 64, &mut mine), Ok(()));
        assert_eq!(mine, [0xAA; 64]);
        assert_eq!(
            memory.td_read(41, page, &mut mine),
            Err(Poisoned { hpa: page })
        );
        assert_eq!(
            memory.td_read(40, page + 120, &mut mine),
            Err(Poisoned { hpa: page + 128 })
        );
    }

    #[test]
    fn a_host_write_takes_the_line_and_the_td_read_fails() {
        let mut memory = memory_with_tdmr();
        let page = memory.alloc_page().unwrap();
        memory.fill_page(page, Key::Private(40));
        memory.td_write(40, page, &[0xAA; 64]);
        memory.host_write(page + 8, &[1]);
        let mut line = [0xFF; 64];
        memory.host_read(page, &mut line);
        let mut expected = [0; 64];
        expected[8] = 1;
        assert_eq!(
            line, expected,
            "the rest of the line is what the host key reads: zeros"
        );
        assert_eq!(
            memory.td_read(40, page, &mut line),
            Err(Poisoned { hpa: page })
        );
        assert_eq!(
            memory.td_read(40, page + 64, &mut line),
            Ok(()),
            "other lines stay"
        );
    }
}
