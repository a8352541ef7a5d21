//! P-SEAMLDR structures for the run-time module update: SEAMLDR_INFO and SEAMLDR_PARAMS.
//!
//! Layouts as Linux's TDX module-update code defines them (`torvalds/linux` b2128290
//! `arch/x86/virt/vmx/tdx/seamldr.c` and the module-update patch series, after the
//! "SEAM Loader (SEAMLDR) Interface Specification"). The loader's own source was not read:
//! the layouts are **UNVERIFIED** beyond Linux. Written in our own words, not copied.

use super::HostPhysAddr;

/// SEAMLDR_INFO: what SEAMLDR.INFO writes, 256 bytes, 256-byte aligned.
#[repr(C, align(256))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeamldrInfo {
    /// Offset 0: the structure's version.
    pub version: u32,
    /// Offset 4: attributes.
    pub attributes: u32,
    /// Offset 8: vendor ID.
    pub vendor_id: u32,
    /// Offset 12: build date.
    pub build_date: u32,
    /// Offset 16: build number.
    pub build_num: u16,
    /// Offset 18: the loader's minor version.
    pub minor_version: u16,
    /// Offset 20: the loader's major version.
    pub major_version: u16,
    /// Offset 22: the loader's update version.
    pub update_version: u16,
    /// Offset 24: x2APIC ID of the ACM's processor (unused by Linux).
    pub acm_x2apicid: u32,
    /// Offset 28: how many more run-time updates the loader allows.
    pub num_remaining_updates: u32,
    /// Offset 32: the SEAM info block (128 bytes, raw).
    pub seam_info: [u8; 128],
    /// Offset 160: a module is loaded and ready.
    pub seam_ready: u8,
    /// Offset 161: the module is a debug module.
    pub seam_debug: u8,
    /// Offset 162: the P-SEAMLDR is ready.
    pub p_seam_ready: u8,
    /// Offset 163: reserved.
    pub reserved: [u8; 93],
}

impl SeamldrInfo {
    /// All zero.
    pub const ZERO: SeamldrInfo = SeamldrInfo {
        version: 0,
        attributes: 0,
        vendor_id: 0,
        build_date: 0,
        build_num: 0,
        minor_version: 0,
        major_version: 0,
        update_version: 0,
        acm_x2apicid: 0,
        num_remaining_updates: 0,
        seam_info: [0; 128],
        seam_ready: 0,
        seam_debug: 0,
        p_seam_ready: 0,
        reserved: [0; 93],
    };
}

/// The most module pages one SEAMLDR_PARAMS page can list.
pub const SEAMLDR_MAX_MODULE_PAGES: usize = 496;

/// SEAMLDR.INSTALL scenario 1: a run-time update of the loaded module.
pub const SEAMLDR_SCENARIO_UPDATE: u32 = 1;

/// SEAMLDR_PARAMS: the 4 KiB page SEAMLDR.INSTALL reads.
#[repr(C, align(4096))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeamldrParams {
    /// Offset 0: the structure's version (Linux sends 0).
    pub version: u32,
    /// Offset 4: the scenario ([`SEAMLDR_SCENARIO_UPDATE`]).
    pub scenario: u32,
    /// Offset 8: physical address of the new module's SIGSTRUCT page.
    pub sigstruct_pa: u64,
    /// Offset 16: reserved, zero.
    pub reserved: [u8; 104],
    /// Offset 120: how many entries of `module_pa_list` are used.
    pub module_pages: u64,
    /// Offset 128: physical addresses of the module image's 4 KiB pages.
    pub module_pa_list: [u64; SEAMLDR_MAX_MODULE_PAGES],
}

impl SeamldrParams {
    /// An update of the module whose SIGSTRUCT is at `sigstruct` and whose image is in
    /// `pages` (at most [`SEAMLDR_MAX_MODULE_PAGES`]; `None` for more).
    pub fn update(sigstruct: HostPhysAddr, pages: &[HostPhysAddr]) -> Option<SeamldrParams> {
        if pages.len() > SEAMLDR_MAX_MODULE_PAGES {
            return None;
        }
        let mut params = SeamldrParams {
            version: 0,
            scenario: SEAMLDR_SCENARIO_UPDATE,
            sigstruct_pa: sigstruct.raw(),
            reserved: [0; 104],
            module_pages: pages.len() as u64,
            module_pa_list: [0; SEAMLDR_MAX_MODULE_PAGES],
        };
        for (slot, page) in params.module_pa_list.iter_mut().zip(pages) {
            *slot = page.raw();
        }
        Some(params)
    }
}

const _: () = assert!(core::mem::size_of::<SeamldrInfo>() == 256);
const _: () = assert!(core::mem::offset_of!(SeamldrInfo, seam_ready) == 160);
const _: () = assert!(core::mem::size_of::<SeamldrParams>() == 4096);
const _: () = assert!(core::mem::offset_of!(SeamldrParams, module_pages) == 120);
const _: () = assert!(core::mem::offset_of!(SeamldrParams, module_pa_list) == 128);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_params() {
        let sig = HostPhysAddr::new(0x1000).unwrap();
        let pages = [
            HostPhysAddr::new(0x2000).unwrap(),
            HostPhysAddr::new(0x3000).unwrap(),
        ];
        let params = SeamldrParams::update(sig, &pages).unwrap();
        assert_eq!(params.scenario, 1);
        assert_eq!(params.module_pages, 2);
        assert_eq!(params.module_pa_list[..3], [0x2000, 0x3000, 0]);
        let too_many = [sig; SEAMLDR_MAX_MODULE_PAGES + 1];
        assert!(SeamldrParams::update(sig, &too_many).is_none());
    }
}
