//! A machine with the software TDX module, for the module tests: the test thread is LP 0.
#![allow(dead_code)] // each test file uses part of it

use std::fmt::Debug;
use std::thread;
use tdxcall::abi::td_params::TdParams;
use tdxcall::abi::{
    Attributes, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdcxPage, TdrPage, TdvprPage, Xfam,
};
use tdxcall::emu::{self, Installed};
use tdxcall::host::Host;
use tdxcall::module::{Config, LogicalProcessor, SoftwareModule};
use tdxcall::{Error, Status};

pub const GLOBAL_HKID: u16 = 32;

/// The status of a failed call (panics on success or a rejected argument).
pub fn status<T: Debug, E: Into<Error> + Debug>(result: Result<T, E>) -> Status {
    match result.map_err(Into::into) {
        Err(Error::Status(status)) => status,
        other => panic!("expected a module status, got {other:?}"),
    }
}

pub struct Machine {
    pub module: SoftwareModule,
    pub host: Host,
    _lp0: Installed<LogicalProcessor>,
}

impl Machine {
    /// A machine at power-on; this thread is LP 0.
    pub fn new() -> Machine {
        Machine::with_config(Config::default())
    }

    /// A machine at power-on with `config`; this thread is LP 0.
    pub fn with_config(config: Config) -> Machine {
        let module = SoftwareModule::new(config);
        let lp0 = emu::install(module.logical_processor(0));
        Machine {
            module,
            host: Host::native(),
            _lp0: lp0,
        }
    }

    pub fn page(&self) -> HostPhysAddr {
        self.module.alloc_page().expect("memory")
    }

    /// Runs `f` on LP 1 (another thread) and returns its result.
    pub fn on_lp1<R: Send + 'static>(&self, f: impl FnOnce(&mut Host) -> R + Send + 'static) -> R {
        let module = self.module.clone();
        thread::spawn(move || {
            let _lp1 = emu::install(module.logical_processor(1));
            f(&mut Host::native())
        })
        .join()
        .expect("LP 1 thread")
    }

    /// The TDMR_INFO pointer array for SYS.CONFIG.
    pub fn tdmr_pointers(&self) -> HostPhysAddr {
        let (info, pointers) = (self.page(), self.page());
        self.module
            .write_tdmr_info(info, &self.module.tdmr())
            .unwrap();
        self.module.write_u64s(pointers, &[info.raw()]).unwrap();
        pointers
    }

    /// SYS.INIT, LP.INIT on both LPs, SYS.CONFIG, SYS.KEY.CONFIG, TDMR.INIT.
    pub fn init_platform(&mut self) {
        self.host.sys_init().unwrap();
        self.host.sys_lp_init().unwrap();
        self.on_lp1(|host| host.sys_lp_init().unwrap());
        let pointers = self.tdmr_pointers();
        self.host
            .sys_config(pointers, 1, Hkid::new(GLOBAL_HKID))
            .unwrap();
        self.host.sys_key_config().unwrap();
        let tdmr = self.module.tdmr();
        self.host
            .sys_tdmr_init(tdmr.tdmr_base, tdmr.tdmr_size)
            .unwrap();
    }

    /// MNG.CREATE with `hkid`, MNG.KEY.CONFIG, the 6 TDCS pages.
    pub fn create_td(&mut self, hkid: u16) -> TdrPage {
        let tdr = TdrPage::new(self.page()).unwrap();
        // SAFETY: model memory.
        unsafe { self.host.mng_create(tdr, Hkid::new(hkid)) }.unwrap();
        self.host.mng_key_config(tdr).unwrap();
        for _ in 0..6 {
            let tdcx = TdcxPage::new(self.page()).unwrap();
            // SAFETY: model memory.
            unsafe { self.host.mng_addcx(tdcx, tdr) }.unwrap();
        }
        tdr
    }

    pub fn params() -> TdParams {
        TdParams {
            attributes: Attributes::SEPT_VE_DISABLE,
            xfam: Xfam::X87 | Xfam::SSE,
            max_vcpus: 1,
            eptp_controls: 6 | 3 << 3,
            tsc_frequency: 100,
            ..TdParams::default()
        }
    }

    /// MNG.INIT with `params`.
    pub fn init_td(
        &mut self,
        tdr: TdrPage,
        params: &TdParams,
    ) -> tdxcall::host::DetailedResult<(), tdxcall::abi::td_params::CpuidLeaf> {
        let page = self.page();
        self.module.write_td_params(page, params).unwrap();
        self.host.mng_init(tdr, page)
    }

    /// VP.CREATE and `extra` VP.ADDCX pages (5 make a complete TDVPS).
    pub fn create_vcpu(&mut self, tdr: TdrPage, extra: usize) -> TdvprPage {
        let tdvpr = TdvprPage::new(self.page()).unwrap();
        // SAFETY: model memory.
        unsafe { self.host.vp_create(tdvpr, tdr) }.unwrap();
        for _ in 0..extra {
            let tdcx = TdcxPage::new(self.page()).unwrap();
            // SAFETY: model memory.
            unsafe { self.host.vp_addcx(tdcx, tdvpr) }.unwrap();
        }
        tdvpr
    }

    /// Secure-EPT pages for the 2 MiB around `gpa`.
    pub fn sept(&mut self, tdr: TdrPage, gpa: u64) {
        for level in [PageLevel::Size512G, PageLevel::Size1G, PageLevel::Size2M] {
            let page = self.page();
            let gpa = GuestPhysAddr::new(gpa & !((level.size() << 9) - 1)).unwrap();
            // SAFETY: model memory.
            unsafe { self.host.mem_sept_add(gpa, level, tdr, page) }.unwrap();
        }
    }

    /// PAGE.ADD of a zero page at `gpa`; returns the target page.
    pub fn add_page(&mut self, tdr: TdrPage, gpa: u64) -> HostPhysAddr {
        let (target, source) = (self.page(), self.page());
        // SAFETY: model memory.
        unsafe {
            self.host
                .mem_page_add(GuestPhysAddr::page(gpa).unwrap(), tdr, target, source)
        }
        .unwrap();
        target
    }

    /// A ready platform and an initialized TD with a complete, initialized vCPU and a page
    /// at GPA 0 (not finalized).
    pub fn built_td(&mut self, hkid: u16) -> (TdrPage, TdvprPage, HostPhysAddr) {
        self.init_platform();
        let tdr = self.create_td(hkid);
        self.init_td(tdr, &Self::params()).unwrap();
        let tdvpr = self.create_vcpu(tdr, 5);
        self.host.vp_init(tdvpr, 0).unwrap();
        self.sept(tdr, 0);
        let page = self.add_page(tdr, 0);
        (tdr, tdvpr, page)
    }
}
