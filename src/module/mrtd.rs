//! MRTD, the TD's build-time measurement, computed as the TDX module computes it.
//!
//! The module keeps one incremental SHA-384 per TD, started by TDH.MNG.INIT and finalized
//! by TDH.MR.FINALIZE; MRTD is the digest. Only two leaves feed it, each with whole 128-byte
//! SHA-384 blocks (module 1.5.01, `tdh_mem_page_add.c` and `tdh_mr_extend.c`; the block type
//! is `sha384_128B_block_t`):
//!
//! | leaf | what is hashed |
//! |---|---|
//! | TDH.MEM.PAGE.ADD | one 128-byte record block: bytes 0..16 the ASCII name `MEM.PAGE.ADD` zero-padded to 16 bytes, bytes 16..24 the page's GPA (little-endian u64), bytes 24..128 zero. The page contents are *not* hashed. |
//! | TDH.MR.EXTEND | the same record block with the name `MR.EXTEND` and the chunk's GPA (256-byte aligned), then the 256 bytes of the chunk as two more blocks (384 bytes in all) |
//!
//! TDH.MR.FINALIZE applies SHA-384's standard padding to everything fed so far. So a TD's
//! MRTD depends only on the sequence of PAGE.ADD GPAs and MR.EXTEND chunks, in call order,
//! and [`MrtdBuilder`] reproduces it offline, before the TD exists. Adding a page and
//! extending it (the usual way to measure contents) is [`MrtdBuilder::add_measured_page`].

use sha2::{Digest, Sha384};

/// A SHA-384 measurement (48 bytes).
pub type Measurement = [u8; 48];

/// Size of one SHA-384 block and of a measurement record.
const RECORD_SIZE: usize = 128;
/// Size of the chunk TDH.MR.EXTEND measures.
pub const MR_EXTEND_CHUNK: usize = 256;

/// The 128-byte record block the module hashes for `name` at `gpa`.
fn record(name: &[u8], gpa: u64) -> [u8; RECORD_SIZE] {
    debug_assert!(name.len() <= 16);
    let mut block = [0; RECORD_SIZE];
    block[..name.len()].copy_from_slice(name);
    block[16..24].copy_from_slice(&gpa.to_le_bytes());
    block
}

/// Computes a TD's MRTD offline from its build sequence, byte for byte as the module does.
///
/// ```
/// use tdxcall::module::MrtdBuilder;
///
/// let mut page = [0u8; 4096];
/// page[..4].copy_from_slice(b"boot");
/// let mut mrtd = MrtdBuilder::new();
/// mrtd.add_measured_page(0x1000, &page);
/// let digest = mrtd.finish();
/// assert_ne!(digest, MrtdBuilder::new().finish());
/// ```
#[derive(Clone, Debug, Default)]
pub struct MrtdBuilder {
    sha: Sha384,
}

impl MrtdBuilder {
    /// The empty measurement, as TDH.MNG.INIT starts it.
    pub fn new() -> MrtdBuilder {
        MrtdBuilder { sha: Sha384::new() }
    }

    /// What TDH.MEM.PAGE.ADD of a page at `gpa` adds (the GPA only, not the contents).
    pub fn page_add(&mut self, gpa: u64) -> &mut MrtdBuilder {
        self.sha.update(record(b"MEM.PAGE.ADD", gpa));
        self
    }

    /// What TDH.MR.EXTEND of the 256-byte chunk at `gpa` with contents `chunk` adds.
    pub fn mr_extend(&mut self, gpa: u64, chunk: &[u8; MR_EXTEND_CHUNK]) -> &mut MrtdBuilder {
        self.sha.update(record(b"MR.EXTEND", gpa));
        self.sha.update(chunk);
        self
    }

    /// TDH.MEM.PAGE.ADD of the 4 KiB page at `gpa`, then TDH.MR.EXTEND of its 16 chunks in
    /// address order.
    pub fn add_measured_page(&mut self, gpa: u64, page: &[u8; 4096]) -> &mut MrtdBuilder {
        self.page_add(gpa);
        for (index, chunk) in page.chunks_exact(MR_EXTEND_CHUNK).enumerate() {
            let chunk: &[u8; MR_EXTEND_CHUNK] = chunk.try_into().expect("256-byte chunk");
            // A GPA near 2^64 no module accepts; wrap rather than panic on it.
            self.mr_extend(gpa.wrapping_add((index * MR_EXTEND_CHUNK) as u64), chunk);
        }
        self
    }

    /// The MRTD TDH.MR.FINALIZE would produce now.
    pub fn finish(&self) -> Measurement {
        self.sha.clone().finalize().into()
    }
}

/// SHA-384 of `data` (TDREPORT hashes, RTMR extension).
pub(super) fn sha384(parts: &[&[u8]]) -> Measurement {
    let mut sha = Sha384::new();
    for part in parts {
        sha.update(part);
    }
    sha.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_measurement_is_sha384_of_nothing() {
        // SHA-384("") from FIPS 180-4's examples, first and last bytes.
        let empty = MrtdBuilder::new().finish();
        assert_eq!(&empty[..4], &[0x38, 0xb0, 0x60, 0xa7]);
        assert_eq!(&empty[44..], &[0x48, 0x98, 0xb9, 0x5b]);
    }

    #[test]
    fn records_are_one_block_with_name_and_gpa() {
        let block = record(b"MR.EXTEND", 0x1234_5600);
        assert_eq!(&block[..9], b"MR.EXTEND");
        assert!(block[9..16].iter().all(|&b| b == 0));
        assert_eq!(&block[16..24], &0x1234_5600u64.to_le_bytes());
        assert!(block[24..].iter().all(|&b| b == 0));
        // PAGE.ADD hashes exactly one record: the same as hashing the block directly.
        let mut builder = MrtdBuilder::new();
        builder.page_add(0x1000);
        assert_eq!(
            builder.finish(),
            sha384(&[&record(b"MEM.PAGE.ADD", 0x1000)])
        );
    }

    #[test]
    fn order_and_contents_matter() {
        let page = [7u8; 4096];
        let mut a = MrtdBuilder::new();
        a.add_measured_page(0x1000, &page).page_add(0x2000);
        let mut b = MrtdBuilder::new();
        b.page_add(0x2000).add_measured_page(0x1000, &page);
        assert_ne!(a.finish(), b.finish());
        let mut c = MrtdBuilder::new();
        c.add_measured_page(0x1000, &[8u8; 4096]).page_add(0x2000);
        assert_ne!(a.finish(), c.finish());
    }
}
