//! Building and tearing down TDs and bringing up the platform without boilerplate
//! (feature `std`): [`PlatformBuilder`], [`TdParamsBuilder`], [`TdBuilder`] and the [`Td`] it
//! returns, all through any [`Backend`], so on real hardware as on the software module.
//!
//! Pages come from a caller-supplied [`PageSource`]: the VMM's allocator of 4 KiB
//! host-physical pages, which can also write into a page it hands out (source pages,
//! TD_PARAMS, TDMR_INFO). The software module implements it
//! (`tdxcall::module::SoftwareModule`, feature `software-module`).
//!
//! What the builders do, in the module's order:
//!
//! - platform: TDH.SYS.INIT, TDH.SYS.LP.INIT on this logical processor, then on every other
//!   one (a caller's callback: only the caller can run code there), TDH.SYS.CONFIG from the
//!   TDMRs (TDMR_INFO entries and the pointer array written into pages from the source and
//!   given back afterwards), TDH.SYS.KEY.CONFIG (once per package: the callback for the
//!   other packages is the caller's too), TDH.SYS.TDMR.INIT of each TDMR.
//! - a TD: TDH.MNG.CREATE, TDH.MNG.KEY.CONFIG, TDH.MNG.ADDCX for as many pages as
//!   TDCS_BASE_SIZE asks, TDH.MNG.INIT from [`TdParamsBuilder`] (the module's FIXED0/FIXED1
//!   masks applied, CPUID values placed in the module's leaf order); then per vCPU
//!   TDH.VP.CREATE, TDH.VP.ADDCX up to TDVPS_BASE_SIZE, TDH.VP.INIT (with an x2APIC ID when
//!   asked); pages with TDH.MEM.PAGE.ADD (and TDH.MR.EXTEND of every 256-byte chunk when
//!   measured), the Secure-EPT pages each GPA needs added first; TDH.MR.FINALIZE.
//! - teardown ([`Td::teardown`]): TDH.VP.FLUSH of every vCPU, TDH.MNG.VPFLUSHDONE,
//!   TDH.PHYMEM.CACHE.WB, TDH.MNG.KEY.FREEID, TDH.PHYMEM.PAGE.RECLAIM of every page (the
//!   TDR last), each page back to the source.
//!
//! Errors are the wrappers' [`Error`]s; arguments the builder can check (a requested
//! ATTRIBUTES bit the module does not allow, a CPUID value for a leaf it does not list)
//! fail with [`Error::InvalidArgument`] before TDH.MNG.CREATE runs.
//!
//! # Examples
//!
//! On the software module (feature `software-module`), whose `SoftwareModule` is a
//! [`PageSource`] and brings the platform up in one call:
//!
//! ```
//! # #[cfg(all(feature = "software-module", target_os = "linux", target_arch = "x86_64"))]
//! # fn main() -> Result<(), tdxcall::Error> {
//! use tdxcall::abi::{GuestPhysAddr, Hkid};
//! use tdxcall::host::builder::{TdBuilder, TdParamsBuilder};
//! use tdxcall::module::SoftwareModule;
//!
//! let mut module = SoftwareModule::default();
//! let (_lp0, mut host) = module.platform()?; // this thread is LP 0, the platform is up
//! let params = TdParamsBuilder::new().max_vcpus(1);
//! let mut td = TdBuilder::new(Hkid::new(33), params).build(&mut host, &mut module)?;
//! let vcpu = td.add_vcpu(&mut host, &mut module, 0, None)?;
//! td.add_page(&mut host, &mut module, GuestPhysAddr::new(0)?, &[0x90; 4096], true)?;
//! td.finalize(&mut host)?;
//! # let _ = vcpu;
//! let reclaimed = td.teardown(&mut host, &mut module)?;
//! assert_eq!(reclaimed, 1 + 6 + 6 + 3 + 1); // TDR, TDCS, TDVPS, Secure EPT, the page
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "software-module", target_os = "linux", target_arch = "x86_64")))]
//! # fn main() {}
//! ```

use super::mr::MR_EXTEND_CHUNK;
use super::Host;
use crate::abi::check::invalid;
use crate::abi::fields;
use crate::abi::sysinfo::{TdmrInfo, MAX_TDMRS};
use crate::abi::td_params::{CpuidLeaf, CpuidValues, TdParams, TD_PARAMS_MAX_CPUID_CONFIG};
use crate::abi::{
    Attributes, ConfigFlags, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdcxPage, TdrPage,
    TdvprPage, Xfam, PAGE_SIZE,
};
use crate::call::Backend;
use crate::error::{Error, InvalidReason, Result};
use std::collections::BTreeSet;
use std::vec::Vec;

/// Where the builders get 4 KiB host pages, and how they fill them.
///
/// On real hardware: the VMM's allocator of physical pages, which maps a page to write it.
pub trait PageSource {
    /// A free, 4 KiB-aligned host page, or `None` when there is none.
    fn alloc_page(&mut self) -> Option<HostPhysAddr>;

    /// Takes back a page [`PageSource::alloc_page`] gave out (reclaimed from the module, or
    /// no longer needed).
    fn free_page(&mut self, page: HostPhysAddr);

    /// Writes `bytes` at `hpa` (within one page the source gave out).
    ///
    /// # Errors
    ///
    /// The source's own, as an [`Error`].
    fn write(&mut self, hpa: HostPhysAddr, bytes: &[u8]) -> Result<()>;
}

fn take_page<P: PageSource + ?Sized>(pages: &mut P) -> Result<HostPhysAddr> {
    pages.alloc_page().ok_or(Error::InvalidArgument(invalid(
        "page source",
        InvalidReason::OutOfRange {
            value: 0,
            min: 1,
            max: u64::MAX,
        },
    )))
}

/// The memory type of the Secure EPT (EPTP bits 2:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum EptMemoryType {
    /// Write-back (6), the only type the module accepts.
    WriteBack = 6,
}

/// The Secure EPT's page-walk length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EptLevels {
    /// 4 levels: GPAW 48.
    Four = 4,
    /// 5 levels: GPAW 52 (needs [`ConfigFlags::GPAW`]).
    Five = 5,
}

/// TD_PARAMS.EPTP_CONTROLS, typed: bits 2:0 the memory type, bits 5:3 the page-walk length
/// minus one (module 1.5 `td_params_t`; other bits reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EptpControls {
    /// The memory type.
    pub memory_type: EptMemoryType,
    /// The walk length.
    pub levels: EptLevels,
}

impl EptpControls {
    /// Write-back, 4 levels: what a TD with GPAW 48 uses.
    pub const WB_4_LEVEL: EptpControls = EptpControls {
        memory_type: EptMemoryType::WriteBack,
        levels: EptLevels::Four,
    };
    /// Write-back, 5 levels (GPAW 52).
    pub const WB_5_LEVEL: EptpControls = EptpControls {
        memory_type: EptMemoryType::WriteBack,
        levels: EptLevels::Five,
    };

    /// The raw EPTP_CONTROLS value.
    pub const fn raw(self) -> u64 {
        self.memory_type as u64 | (self.levels as u64 - 1) << 3
    }
}

/// TD_PARAMS, built from what the TD needs and completed from the module's metadata by
/// [`TdParamsBuilder::build`].
#[derive(Clone, Debug)]
pub struct TdParamsBuilder {
    attributes: Attributes,
    xfam: Xfam,
    max_vcpus: u16,
    eptp: EptpControls,
    config_flags: ConfigFlags,
    tsc_frequency: u16,
    mr_config_id: [u8; 48],
    mr_owner: [u8; 48],
    mr_owner_config: [u8; 48],
    cpuid: Vec<(CpuidLeaf, CpuidValues)>,
}

impl Default for TdParamsBuilder {
    fn default() -> TdParamsBuilder {
        TdParamsBuilder::new()
    }
}

impl TdParamsBuilder {
    /// SEPT_VE_DISABLE, XFAM x87 and SSE, one vCPU, write-back 4-level EPT, 2.5 GHz TSC,
    /// zero measurements, every configurable CPUID bit at the native value.
    pub fn new() -> TdParamsBuilder {
        TdParamsBuilder {
            attributes: Attributes::SEPT_VE_DISABLE,
            xfam: Xfam::X87.union(Xfam::SSE),
            max_vcpus: 1,
            eptp: EptpControls::WB_4_LEVEL,
            config_flags: ConfigFlags::empty(),
            tsc_frequency: 100,
            mr_config_id: [0; 48],
            mr_owner: [0; 48],
            mr_owner_config: [0; 48],
            cpuid: Vec::new(),
        }
    }

    /// ATTRIBUTES (the module's ATTRIBUTES_FIXED1 bits are added at build).
    pub fn attributes(mut self, attributes: Attributes) -> Self {
        self.attributes = attributes;
        self
    }

    /// XFAM (XFAM_FIXED1 added at build).
    pub fn xfam(mut self, xfam: Xfam) -> Self {
        self.xfam = xfam;
        self
    }

    /// MAX_VCPUS.
    pub fn max_vcpus(mut self, max_vcpus: u16) -> Self {
        self.max_vcpus = max_vcpus;
        self
    }

    /// EPTP_CONTROLS.
    pub fn eptp(mut self, eptp: EptpControls) -> Self {
        self.eptp = eptp;
        self
    }

    /// CONFIG_FLAGS (CONFIG_FLAGS_FIXED1 added at build).
    pub fn config_flags(mut self, flags: ConfigFlags) -> Self {
        self.config_flags = flags;
        self
    }

    /// TSC_FREQUENCY in units of 25 MHz.
    pub fn tsc_frequency(mut self, units_of_25mhz: u16) -> Self {
        self.tsc_frequency = units_of_25mhz;
        self
    }

    /// MRCONFIGID, MROWNER and MROWNERCONFIG.
    pub fn measurements(
        mut self,
        mr_config_id: [u8; 48],
        mr_owner: [u8; 48],
        mr_owner_config: [u8; 48],
    ) -> Self {
        self.mr_config_id = mr_config_id;
        self.mr_owner = mr_owner;
        self.mr_owner_config = mr_owner_config;
        self
    }

    /// The value of configurable CPUID leaf `leaf`: only configurable bits may be set
    /// (checked at build against CPUID_CONFIG_VALUES).
    pub fn cpuid(mut self, leaf: CpuidLeaf, values: CpuidValues) -> Self {
        self.cpuid.retain(|(l, _)| *l != leaf);
        self.cpuid.push((leaf, values));
        self
    }

    /// The TD_PARAMS for this module: ATTRIBUTES, XFAM and CONFIG_FLAGS with the FIXED1
    /// bits added, and the CPUID values in the module's leaf order (zero, the native
    /// value, for leaves not set).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] ([`InvalidReason::ReservedBitsSet`]) for a bit outside
    /// FIXED0 or a CPUID bit that is not configurable, ([`InvalidReason::OutOfRange`]) for
    /// a CPUID leaf the module does not list or more leaves than TD_PARAMS holds; the
    /// errors of [`Host::sys_rd`].
    pub fn build<B: Backend>(&self, host: &mut Host<B>) -> Result<TdParams> {
        let attributes = host.attributes_fixed()?;
        let xfam = host.xfam_fixed()?;
        let flags0 = host.sys_rd(fields::sys::CONFIG_FLAGS_FIXED0)?.value;
        let flags1 = host.sys_rd(fields::sys::CONFIG_FLAGS_FIXED1)?.value;
        let fixed = |argument, value: u64, fixed0: u64, fixed1: u64| -> Result<u64> {
            if value & !fixed0 != 0 {
                return Err(invalid(
                    argument,
                    InvalidReason::ReservedBitsSet {
                        value,
                        bits: value & !fixed0,
                    },
                )
                .into());
            }
            Ok(value | fixed1)
        };
        let mut params = TdParams {
            attributes: Attributes::from_bits_retain(fixed(
                "ATTRIBUTES",
                self.attributes.bits(),
                attributes.fixed0.bits(),
                attributes.fixed1.bits(),
            )?),
            xfam: Xfam::from_bits_retain(fixed(
                "XFAM",
                self.xfam.bits(),
                xfam.fixed0.bits(),
                xfam.fixed1.bits(),
            )?),
            max_vcpus: self.max_vcpus,
            eptp_controls: self.eptp.raw(),
            config_flags: ConfigFlags::from_bits_retain(fixed(
                "CONFIG_FLAGS",
                self.config_flags.bits(),
                flags0,
                flags1,
            )?),
            tsc_frequency: self.tsc_frequency,
            mr_config_id: self.mr_config_id,
            mr_owner: self.mr_owner,
            mr_owner_config: self.mr_owner_config,
            ..TdParams::default()
        };
        let mut used = 0;
        for (index, config) in host.cpuid_configs()?.enumerate() {
            let config = config?;
            if index >= TD_PARAMS_MAX_CPUID_CONFIG {
                return Err(invalid(
                    "CPUID_CONFIG count",
                    InvalidReason::OutOfRange {
                        value: index as u64 + 1,
                        min: 0,
                        max: TD_PARAMS_MAX_CPUID_CONFIG as u64,
                    },
                )
                .into());
            }
            let Some((_, values)) = self.cpuid.iter().find(|(l, _)| *l == config.leaf) else {
                continue;
            };
            let mask = config.values;
            for (value, allowed) in [
                (values.eax, mask.eax),
                (values.ebx, mask.ebx),
                (values.ecx, mask.ecx),
                (values.edx, mask.edx),
            ] {
                if value & !allowed != 0 {
                    return Err(invalid(
                        "CPUID_CONFIG value",
                        InvalidReason::ReservedBitsSet {
                            value: value.into(),
                            bits: (value & !allowed).into(),
                        },
                    )
                    .into());
                }
            }
            params.cpuid_config[index] = *values;
            used += 1;
        }
        if used != self.cpuid.len() {
            let unlisted = self
                .cpuid
                .iter()
                .map(|(l, _)| l.to_u64())
                .next()
                .unwrap_or(0);
            return Err(invalid(
                "CPUID leaf (not configurable on this module)",
                InvalidReason::OutOfRange {
                    value: unlisted,
                    min: 0,
                    max: 0,
                },
            )
            .into());
        }
        Ok(params)
    }
}

/// The bytes of a TD_PARAMS, as the module reads them.
fn td_params_bytes(params: &TdParams) -> [u8; TdParams::SIZE] {
    // SAFETY: TdParams is repr(C), 1024 bytes of integers, bitflags over integers and byte
    // arrays whose offsets (checked at compile time in `abi::td_params`) leave no padding,
    // so every byte is initialized.
    unsafe { core::mem::transmute_copy(params) }
}

/// The 320 bytes of a TDMR_INFO entry.
fn tdmr_info_bytes(tdmr: &TdmrInfo) -> Vec<u8> {
    tdmr.to_words()
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect()
}

/// Platform bring-up: TDH.SYS.INIT to TDH.SYS.TDMR.INIT.
#[derive(Clone, Debug)]
pub struct PlatformBuilder {
    global_hkid: Hkid,
    tdmrs: Vec<TdmrInfo>,
}

impl PlatformBuilder {
    /// A platform whose module uses `global_hkid` (the first private HKID, usually).
    pub fn new(global_hkid: Hkid) -> PlatformBuilder {
        PlatformBuilder {
            global_hkid,
            tdmrs: Vec::new(),
        }
    }

    /// Adds a TDMR (at most 64; the module checks them at TDH.SYS.CONFIG).
    pub fn tdmr(mut self, tdmr: TdmrInfo) -> Self {
        self.tdmrs.push(tdmr);
        self
    }

    /// Runs the bring-up on this logical processor. `other_lps` must run
    /// [`Host::sys_lp_init`] on every other logical processor (and return the first
    /// error); `other_packages` must run [`Host::sys_key_config`] on one logical processor
    /// of every other package. Both are called once, in the module's order.
    ///
    /// # Errors
    ///
    /// No TDMR or more than 64 ([`Error::InvalidArgument`], before TDH.SYS.INIT); the page
    /// source running dry; the wrappers' and callbacks' errors.
    pub fn init<B: Backend, P: PageSource + ?Sized>(
        &self,
        host: &mut Host<B>,
        pages: &mut P,
        other_lps: impl FnOnce() -> Result<()>,
        other_packages: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        if self.tdmrs.is_empty() || self.tdmrs.len() > MAX_TDMRS {
            return Err(invalid(
                "TDMR count",
                InvalidReason::OutOfRange {
                    value: self.tdmrs.len() as u64,
                    min: 1,
                    max: MAX_TDMRS as u64,
                },
            )
            .into());
        }
        host.sys_init()?;
        host.sys_lp_init()?;
        other_lps()?;
        // TDMR_INFO entries 512-byte aligned: up to 8 per page; pointers in one page.
        let mut info_pages = Vec::new();
        let mut pointers = Vec::new();
        for (index, tdmr) in self.tdmrs.iter().enumerate() {
            if index % 8 == 0 {
                info_pages.push(take_page(pages)?);
            }
            let hpa = HostPhysAddr::from_raw_unchecked(
                info_pages[index / 8].raw() + (index % 8) as u64 * 512,
            );
            pages.write(hpa, &tdmr_info_bytes(tdmr))?;
            pointers.extend(hpa.raw().to_le_bytes());
        }
        let pointer_page = take_page(pages)?;
        pages.write(pointer_page, &pointers)?;
        let configured = host.sys_config(pointer_page, self.tdmrs.len(), self.global_hkid);
        for page in info_pages.into_iter().chain([pointer_page]) {
            pages.free_page(page);
        }
        configured?;
        host.sys_key_config()?;
        other_packages()?;
        for tdmr in &self.tdmrs {
            host.sys_tdmr_init(tdmr.tdmr_base, tdmr.tdmr_size)?;
        }
        Ok(())
    }
}

/// A TD under construction: [`TdBuilder::build`] creates and initializes it.
#[derive(Clone, Debug)]
pub struct TdBuilder {
    hkid: Hkid,
    params: TdParamsBuilder,
}

impl TdBuilder {
    /// A TD with private HKID `hkid` and these parameters.
    pub fn new(hkid: Hkid, params: TdParamsBuilder) -> TdBuilder {
        TdBuilder { hkid, params }
    }

    /// TDH.MNG.CREATE, TDH.MNG.KEY.CONFIG, TDH.MNG.ADDCX for TDCS_BASE_SIZE, TDH.MNG.INIT.
    /// On an error after TDH.MNG.CREATE the pages given so far stay with the module; use
    /// [`TdBuilder::build_into`] to keep the partly built TD and [`Td::teardown`] it.
    ///
    /// # Errors
    ///
    /// TD_PARAMS problems ([`TdParamsBuilder::build`]) before anything is created; the
    /// page source running dry; the wrappers' errors.
    pub fn build<B: Backend, P: PageSource + ?Sized>(
        &self,
        host: &mut Host<B>,
        pages: &mut P,
    ) -> Result<Td> {
        let mut td = None;
        self.build_into(host, pages, &mut td)?;
        Ok(td.expect("build_into sets the TD on success"))
    }

    /// As [`TdBuilder::build`], leaving the partly built TD in `td` when a step after
    /// TDH.MNG.CREATE fails, so the caller can [`Td::teardown`] it.
    ///
    /// # Errors
    ///
    /// As [`TdBuilder::build`].
    pub fn build_into<B: Backend, P: PageSource + ?Sized>(
        &self,
        host: &mut Host<B>,
        pages: &mut P,
        td: &mut Option<Td>,
    ) -> Result<()> {
        let params = self.params.build(host)?;
        let sizes = host.control_struct_sizes()?;
        let tdr_page = take_page(pages)?;
        let tdr = TdrPage::new(tdr_page)?;
        // SAFETY: the page comes from the source, unused; it belongs to the module until
        // `Td::teardown` reclaims it.
        if let Err(error) = unsafe { host.mng_create(tdr, self.hkid) } {
            pages.free_page(tdr_page);
            return Err(error);
        }
        let td = td.insert(Td {
            tdr,
            levels: self.params.eptp.levels,
            tdcs: Vec::new(),
            vcpus: Vec::new(),
            sept: Vec::new(),
            sept_mapped: BTreeSet::new(),
            private: Vec::new(),
        });
        host.mng_key_config(tdr)?;
        for _ in 0..sizes.tdcs.div_ceil(PAGE_SIZE) {
            let page = take_page(pages)?;
            // SAFETY: as above; recorded for the teardown.
            match unsafe { host.mng_addcx(TdcxPage::new(page)?, tdr) } {
                Ok(()) => td.tdcs.push(page),
                Err(error) => {
                    pages.free_page(page);
                    return Err(error);
                }
            }
        }
        let params_page = take_page(pages)?;
        let written = pages.write(params_page, &td_params_bytes(&params));
        let init = written.and_then(|()| host.mng_init(tdr, params_page).map_err(Error::from));
        pages.free_page(params_page);
        init
    }
}

/// One vCPU of a [`Td`].
#[derive(Clone, Debug)]
pub struct Vcpu {
    /// Its TDVPR.
    pub tdvpr: TdvprPage,
    tdcx: Vec<HostPhysAddr>,
}

/// A TD the builder made: its TDR and every page it gave the module, for the teardown.
#[derive(Debug)]
pub struct Td {
    /// The TD's TDR.
    pub tdr: TdrPage,
    levels: EptLevels,
    tdcs: Vec<HostPhysAddr>,
    vcpus: Vec<Vcpu>,
    sept: Vec<HostPhysAddr>,
    /// (level, index of the `level`-sized region) of every SEPT entry given a page.
    sept_mapped: BTreeSet<(u8, u64)>,
    private: Vec<HostPhysAddr>,
}

impl Td {
    /// The vCPUs, in creation order.
    pub fn vcpus(&self) -> &[Vcpu] {
        &self.vcpus
    }

    /// How many pages the module holds for this TD.
    pub fn page_count(&self) -> usize {
        1 + self.tdcs.len()
            + self.vcpus.iter().map(|v| 1 + v.tdcx.len()).sum::<usize>()
            + self.sept.len()
            + self.private.len()
    }

    /// TDH.VP.CREATE, TDH.VP.ADDCX up to TDVPS_BASE_SIZE, TDH.VP.INIT with `initial_rcx`
    /// (and `x2apic_id`, through TDH.VP.INIT version 1, when given).
    ///
    /// # Errors
    ///
    /// The page source running dry; the wrappers' errors.
    pub fn add_vcpu<B: Backend, P: PageSource + ?Sized>(
        &mut self,
        host: &mut Host<B>,
        pages: &mut P,
        initial_rcx: u64,
        x2apic_id: Option<u32>,
    ) -> Result<TdvprPage> {
        let tdvps_pages = host.control_struct_sizes()?.tdvps.div_ceil(PAGE_SIZE);
        let page = take_page(pages)?;
        let tdvpr = TdvprPage::new(page)?;
        // SAFETY: an unused page from the source, the module's until the teardown.
        if let Err(error) = unsafe { host.vp_create(tdvpr, self.tdr) } {
            pages.free_page(page);
            return Err(error);
        }
        self.vcpus.push(Vcpu {
            tdvpr,
            tdcx: Vec::new(),
        });
        let vcpu = self.vcpus.last_mut().expect("just pushed");
        for _ in 1..tdvps_pages {
            let page = take_page(pages)?;
            // SAFETY: as above.
            match unsafe { host.vp_addcx(TdcxPage::new(page)?, tdvpr) } {
                Ok(()) => vcpu.tdcx.push(page),
                Err(error) => {
                    pages.free_page(page);
                    return Err(error);
                }
            }
        }
        match x2apic_id {
            Some(id) => host.vp_init_x2apic(tdvpr, initial_rcx, id)?,
            None => host.vp_init(tdvpr, initial_rcx)?,
        }
        Ok(tdvpr)
    }

    /// Adds the Secure-EPT pages `gpa` needs (from the top level down to the 2 MiB level)
    /// that this TD does not have yet.
    ///
    /// # Errors
    ///
    /// The page source running dry; TDH.MEM.SEPT.ADD's errors.
    pub fn map_sept<B: Backend, P: PageSource + ?Sized>(
        &mut self,
        host: &mut Host<B>,
        pages: &mut P,
        gpa: GuestPhysAddr,
    ) -> Result<()> {
        let top = match self.levels {
            EptLevels::Four => PageLevel::Size512G,
            EptLevels::Five => PageLevel::Size256T,
        };
        for level in PageLevel::ALL.into_iter().rev() {
            if level > top || level == PageLevel::Size4K {
                continue;
            }
            // TDH.MEM.SEPT.ADD at `level` fills the entry of that level that maps `gpa`
            // with a new SEPT page (for the 2 MiB level: a page table of 4 KiB entries),
            // so each page covers one `level`-sized region.
            let span = level.size();
            let key = (level as u8, gpa.raw() / span);
            if self.sept_mapped.contains(&key) {
                continue;
            }
            let page = take_page(pages)?;
            let base = GuestPhysAddr::new(gpa.raw() & !(span - 1))?;
            // SAFETY: an unused page from the source; it becomes a SEPT page of the TD.
            if let Err(error) = unsafe { host.mem_sept_add(base, level, self.tdr, page) } {
                pages.free_page(page);
                return Err(error.into());
            }
            self.sept.push(page);
            self.sept_mapped.insert(key);
        }
        Ok(())
    }

    /// TDH.MEM.PAGE.ADD of `contents` at `gpa` (4 KiB aligned), with the Secure-EPT pages
    /// it needs, then TDH.MR.EXTEND of each 256-byte chunk when `measure` is set. Before
    /// TDH.MR.FINALIZE only.
    ///
    /// # Errors
    ///
    /// `gpa` not 4 KiB aligned ([`Error::InvalidArgument`], nothing runs); the page
    /// source running dry; the wrappers' errors.
    pub fn add_page<B: Backend, P: PageSource + ?Sized>(
        &mut self,
        host: &mut Host<B>,
        pages: &mut P,
        gpa: GuestPhysAddr,
        contents: &[u8; 4096],
        measure: bool,
    ) -> Result<()> {
        let gpa = GuestPhysAddr::page(gpa.raw())?;
        self.map_sept(host, pages, gpa)?;
        let source = take_page(pages)?;
        let target = take_page(pages)?;
        let added = pages.write(source, contents).and_then(|()| {
            // SAFETY: `target` is an unused page from the source that becomes private TD
            // memory until the teardown; `source` is only read.
            unsafe { host.mem_page_add(gpa, self.tdr, target, source) }.map_err(Error::from)
        });
        pages.free_page(source);
        if let Err(error) = added {
            pages.free_page(target);
            return Err(error);
        }
        self.private.push(target);
        if measure {
            for offset in (0..PAGE_SIZE).step_by(MR_EXTEND_CHUNK as usize) {
                host.mr_extend(GuestPhysAddr::new(gpa.raw() + offset)?, self.tdr)?;
            }
        }
        Ok(())
    }

    /// TDH.MEM.PAGE.AUG of a fresh page at `gpa` (4 KiB) after TDH.MR.FINALIZE, with the
    /// Secure-EPT pages it needs: what a VMM does for the EPT violation of a guest's
    /// TDG.MEM.PAGE.ACCEPT.
    ///
    /// # Errors
    ///
    /// As [`Td::add_page`].
    pub fn aug_page<B: Backend, P: PageSource + ?Sized>(
        &mut self,
        host: &mut Host<B>,
        pages: &mut P,
        gpa: GuestPhysAddr,
    ) -> Result<()> {
        let gpa = GuestPhysAddr::page(gpa.raw())?;
        self.map_sept(host, pages, gpa)?;
        let page = take_page(pages)?;
        // SAFETY: an unused page from the source; private TD memory until the teardown.
        if let Err(error) = unsafe { host.mem_page_aug(gpa, PageLevel::Size4K, self.tdr, page) } {
            pages.free_page(page);
            return Err(error.into());
        }
        self.private.push(page);
        Ok(())
    }

    /// TDH.MR.FINALIZE.
    ///
    /// # Errors
    ///
    /// The wrapper's.
    pub fn finalize<B: Backend>(&mut self, host: &mut Host<B>) -> Result<()> {
        host.mr_finalize(self.tdr)
    }

    /// Tears the TD down and gives every page back to `pages`: TDH.VP.FLUSH of each vCPU,
    /// TDH.MNG.VPFLUSHDONE, TDH.PHYMEM.CACHE.WB, TDH.MNG.KEY.FREEID, then
    /// TDH.PHYMEM.PAGE.RECLAIM of every page, the TDR last. Returns how many pages were
    /// reclaimed. A vCPU that was never entered is not associated: its TDH.VP.FLUSH
    /// warning (TDX_VCPU_NOT_ASSOCIATED) is expected and ignored.
    ///
    /// # Errors
    ///
    /// The first failing step; the pages not yet reclaimed stay with the module (and are
    /// not given back).
    pub fn teardown<B: Backend, P: PageSource + ?Sized>(
        self,
        host: &mut Host<B>,
        pages: &mut P,
    ) -> Result<usize> {
        for vcpu in &self.vcpus {
            match host.vp_flush(vcpu.tdvpr) {
                Ok(()) => {}
                Err(Error::Status(s)) if s.is(crate::status::StatusCode::VcpuNotAssociated) => {}
                Err(error) => return Err(error),
            }
        }
        host.mng_vpflushdone(self.tdr)?;
        host.phymem_cache_wb()?;
        host.mng_key_freeid(self.tdr)?;
        let mut owned: Vec<HostPhysAddr> = self.private.clone();
        owned.extend(self.sept.iter().rev());
        for vcpu in &self.vcpus {
            owned.extend(&vcpu.tdcx);
            owned.push(vcpu.tdvpr.hpa());
        }
        owned.extend(&self.tdcs);
        owned.push(self.tdr.hpa());
        let mut reclaimed = 0;
        for page in owned {
            // SAFETY: the TD is torn down; the page goes back to the source.
            unsafe { host.phymem_page_reclaim(page) }?;
            pages.free_page(page);
            reclaimed += 1;
        }
        Ok(reclaimed)
    }
}
