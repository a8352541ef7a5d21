//! Ready-made pieces for programs on the software module: [`SoftwareModule`] as a
//! [`PageSource`] for the host builders, the platform brought up in one call
//! ([`SoftwareModule::platform`]), and [`Config`] setters.

use super::{Config, MemoryError, SoftwareModule};
use crate::abi::check::invalid;
use crate::abi::HostPhysAddr;
use crate::error::{Error, InvalidReason, Result};
use crate::host::builder::PageSource;

impl Config {
    /// The number of logical processors.
    pub fn with_logical_processors(mut self, count: u32) -> Config {
        self.logical_processors = count;
        self
    }

    /// The CMR: `size` bytes (a multiple of 1 GiB) at `base` (1 GiB aligned).
    pub fn with_memory(mut self, base: u64, size: u64) -> Config {
        self.memory_base = base;
        self.memory_size = size;
        self
    }

    /// The private HKIDs, `start..end`.
    pub fn with_private_hkids(mut self, hkids: core::ops::Range<u16>) -> Config {
        self.private_hkids = hkids;
        self
    }

    /// The module version whose CPUID table and rules the module applies (one of
    /// [`crate::cpuid::TABLES`]).
    pub fn with_cpuid_version(mut self, version: crate::leaf::ModuleVersion) -> Config {
        self.cpuid_version = version;
        self
    }
}

impl Default for SoftwareModule {
    /// [`SoftwareModule::new`] with [`Config::default`].
    fn default() -> SoftwareModule {
        SoftwareModule::new(Config::default())
    }
}

fn memory_error(error: MemoryError) -> Error {
    let (argument, value) = match error {
        MemoryError::OutOfRange { hpa } => ("host page (outside the model's memory)", hpa),
        MemoryError::NotHostOwned { page } => ("host page (owned by the module or a TD)", page),
    };
    invalid(
        argument,
        InvalidReason::OutOfRange {
            value,
            min: 0,
            max: 0,
        },
    )
    .into()
}

/// Pages come from [`SoftwareModule::alloc_page`] and go back with
/// [`SoftwareModule::free_page`]; writes go through [`SoftwareModule::write`] (host-owned
/// pages only, as the host key allows).
impl PageSource for SoftwareModule {
    fn alloc_page(&mut self) -> Option<HostPhysAddr> {
        SoftwareModule::alloc_page(self)
    }

    fn free_page(&mut self, page: HostPhysAddr) {
        SoftwareModule::free_page(self, page);
    }

    fn write(&mut self, hpa: HostPhysAddr, bytes: &[u8]) -> Result<()> {
        SoftwareModule::write(self, hpa, bytes).map_err(memory_error)
    }
}

/// The platform brought up over the trapped thunks: LP models installed with
/// [`emu::install`] and the calls made through [`Host::native`] (Linux x86-64 only, as
/// the trap is; elsewhere bring the platform up with `PlatformBuilder` over
/// [`SoftwareModule::direct_host`]).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod trapped {
    use super::super::{LogicalProcessor, SoftwareModule};
    use crate::abi::Hkid;
    use crate::emu::{self, Installed};
    use crate::error::{Error, Result};
    use crate::host::builder::PlatformBuilder;
    use crate::host::Host;
    use std::thread;

    impl SoftwareModule {
        /// Makes this thread logical processor 0 and brings the platform up with
        /// [`PlatformBuilder`]: TDH.SYS.INIT, TDH.SYS.LP.INIT here and on every other logical
        /// processor (each on a short-lived thread), TDH.SYS.CONFIG with [`SoftwareModule::tdmr`]
        /// and the first private HKID as the global one, TDH.SYS.KEY.CONFIG, TDH.SYS.TDMR.INIT.
        /// Returns the LP 0 installation (keep it alive) and a [`Host`] over the real thunks.
        ///
        /// # Errors
        ///
        /// The builder's; a second call fails as TDH.SYS.INIT does on an initialized module.
        pub fn platform(&self) -> Result<(Installed<LogicalProcessor>, Host)> {
            let lp0 = emu::install(self.logical_processor(0));
            let mut host = Host::native();
            let mut pages = self.clone();
            let config = self.config().clone();
            let others = || -> Result<()> {
                for index in 1..config.logical_processors {
                    let module = self.clone();
                    thread::spawn(move || {
                        let _lp = emu::install(module.logical_processor(index));
                        Host::native().sys_lp_init().map_err(Error::from)
                    })
                    .join()
                    .expect("an LP.INIT thread does not panic")?;
                }
                Ok(())
            };
            PlatformBuilder::new(Hkid::new(config.private_hkids.start))
                .tdmr(self.tdmr())
                .init(&mut host, &mut pages, others, || Ok(()))?;
            Ok((lp0, host))
        }
    }
}
