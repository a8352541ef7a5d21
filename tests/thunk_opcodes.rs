//! The exception table against the machine code it describes: every site holds the 4-byte
//! instruction its kind names, each thunk has exactly one site, and the fixup maps each site
//! and vector to the right software code.
#![cfg(target_arch = "x86_64")]

mod common;

use common::{bytes_at, production_bytes, thunk_of_site, Thunk, PRODUCTION};
use tdxcall::fixup::{fixup_exception, site_at, Site, SiteKind};

fn sites() -> Vec<Site> {
    tdxcall::fixup::sites().collect()
}

fn sites_of(thunks: &[Thunk]) -> Vec<(Thunk, Site)> {
    thunks.iter().map(|thunk| (*thunk, thunk.site())).collect()
}

#[test]
fn every_site_lies_in_exactly_one_thunk_and_each_thunk_has_one_site() {
    let sites = sites();
    let thunks = common::all_thunks();
    assert_eq!(
        sites.len(),
        thunks.len(),
        "one site per linked thunk: {sites:x?}"
    );
    for site in &sites {
        let thunk =
            thunk_of_site(site).unwrap_or_else(|| panic!("site {site:x?} lies in no thunk"));
        assert_eq!(site.kind, thunk.kind, "{}: site kind", thunk.name);
        // The entry names the thunk and its register set, which the emulator relies on.
        assert_eq!(site.thunk, thunk.call_kind(), "{}: site thunk", thunk.name);
        assert_eq!(site.regs, thunk.set, "{}: site register set", thunk.name);
        // The fixup label follows the instruction, inside the same thunk.
        assert!(
            site.fixup >= site.instruction + tdxcall::fixup::Site::INSTRUCTION_LEN
                && site.fixup < thunk.entry() + common::MAX_THUNK_LEN,
            "{}: fixup {:#x} for instruction {:#x}",
            thunk.name,
            site.fixup,
            site.instruction
        );
    }
    // `Thunk::site` asserts exactly one site per thunk.
    for thunk in &thunks {
        thunk.site();
    }
}

#[test]
fn production_sites_hold_seamcall_and_tdcall_opcodes() {
    let production = sites_of(&PRODUCTION);
    let mut seamcall_sites = 0;
    let mut tdcall_sites = 0;
    for (thunk, site) in &production {
        match site.kind {
            SiteKind::Seamcall => seamcall_sites += 1,
            SiteKind::Tdcall => tdcall_sites += 1,
        }
        assert_eq!(
            bytes_at(site.instruction),
            production_bytes(site.kind),
            "{}: bytes at {:#x}",
            thunk.name,
            site.instruction
        );
    }
    assert_eq!(
        seamcall_sites, 3,
        "seamcall, seamcall_args and seamcall_scrub"
    );
    assert_eq!(
        tdcall_sites, 4,
        "tdcall, tdcall_args, tdvmcall and tdvmcall_ghci"
    );
}

#[cfg(feature = "loopback")]
#[test]
fn loopback_sites_hold_same_length_no_ops() {
    let loopback = sites_of(&common::LOOPBACK);
    let mut seamcall_sites = 0;
    let mut tdcall_sites = 0;
    for (thunk, site) in &loopback {
        match site.kind {
            SiteKind::Seamcall => seamcall_sites += 1,
            SiteKind::Tdcall => tdcall_sites += 1,
        }
        assert_eq!(
            bytes_at(site.instruction),
            common::loopback_bytes(site.kind),
            "{}: bytes at {:#x}",
            thunk.name,
            site.instruction
        );
    }
    assert_eq!(
        seamcall_sites, 3,
        "loopback seamcall, seamcall_args, seamcall_scrub"
    );
    assert_eq!(
        tdcall_sites, 4,
        "loopback tdcall, tdcall_args, tdvmcall, tdvmcall_ghci"
    );
}

#[test]
fn site_at_finds_exactly_the_instruction_addresses() {
    for site in sites() {
        assert_eq!(site_at(site.instruction), Some(site));
        for near in [site.instruction - 1, site.instruction + 1, site.fixup] {
            assert_eq!(site_at(near), None, "{near:#x} is no instruction site");
        }
    }
}

#[test]
fn fixup_maps_ud_and_gp_at_each_site_to_its_software_code() {
    for thunk in common::all_thunks() {
        let site = thunk.site();
        for vector in [6u64, 13] {
            let mut rip = site.instruction;
            let mut rax = 0x1234;
            assert!(
                fixup_exception(vector, &mut rip, &mut rax),
                "{}",
                thunk.name
            );
            assert_eq!(rip, site.fixup, "{}: vector {vector}", thunk.name);
            assert_eq!(
                rax,
                thunk.fault_status(vector as u8).raw(),
                "{}",
                thunk.name
            );
        }
        // Any other vector, or any other address, is not the crate's: nothing changes.
        for (vector, address) in [
            (14u64, site.instruction),
            (0, site.instruction),
            (6, site.fixup),
        ] {
            let mut rip = address;
            let mut rax = 0x1234;
            assert!(
                !fixup_exception(vector, &mut rip, &mut rax),
                "{}",
                thunk.name
            );
            assert_eq!(
                (rip, rax),
                (address, 0x1234),
                "{}: vector {vector}",
                thunk.name
            );
        }
    }
}
