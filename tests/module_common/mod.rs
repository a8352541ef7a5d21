//! A machine with the software TDX module, for the module tests: the test thread is LP 0.
//!
//! The machine reaches the module through a [`Port`]: the trapped path (the real thunks, the
//! model installed on the thread with `emu::install`) or the direct backend
//! (`tdxcall::module::Direct`), chosen by [`Via`]. Every call through a port is logged
//! ([`Logged`]), so a scenario run both ways can be compared status by status and register
//! by register.
#![allow(dead_code)] // each test file uses part of it

pub mod lifecycle;
pub mod misuse;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::thread;
use tdxcall::abi::td_params::TdParams;
use tdxcall::abi::{
    Attributes, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdcxPage, TdrPage, TdvprPage, Xfam,
};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::emu::{self, Installed};
use tdxcall::guest::Guest;
use tdxcall::host::Host;
use tdxcall::module::{
    Config, DirectGuest, DirectHost, LogicalProcessor, SoftwareModule, VirtualCpu,
};
use tdxcall::{Error, Regs, Status};

/// How a machine's threads reach the software module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The real thunks; the CPU's #UD hands each call to the model installed on the thread.
    Trapped,
    /// `tdxcall::module::Direct`: the model called in-process, no instruction executed.
    Direct,
}

/// One call as the port saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Who made it: "lp0", "lp1", "guest".
    pub who: &'static str,
    pub kind: CallKind,
    pub leaf: u64,
    pub input: Regs,
    pub status: Status,
    pub output: Regs,
}

/// The calls of one machine, in the order they completed.
pub type Log = Arc<Mutex<Vec<Logged>>>;

/// The calls of `who`, in order (each thread's calls are in program order).
pub fn calls_of(log: &Log, who: &str) -> Vec<Logged> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|call| call.who == who)
        .cloned()
        .collect()
}

enum Inner {
    TrappedHost(Installed<LogicalProcessor>, Native),
    TrappedGuest(Installed<VirtualCpu>, Native),
    DirectHost(DirectHost),
    DirectGuest(DirectGuest),
}

/// A backend to the software module, trapped or direct, that logs every call.
pub struct Port {
    inner: Inner,
    who: &'static str,
    log: Log,
}

impl Port {
    /// Logical processor `lp` on this thread.
    pub fn host(via: Via, module: &SoftwareModule, lp: u32, log: &Log) -> Port {
        let inner = match via {
            Via::Trapped => {
                Inner::TrappedHost(emu::install(module.logical_processor(lp)), Native::new())
            }
            Via::Direct => Inner::DirectHost(module.direct_host(lp)),
        };
        let who = if lp == 0 { "lp0" } else { "lp1" };
        Port {
            inner,
            who,
            log: log.clone(),
        }
    }

    /// The vCPU at `tdvpr` on this thread.
    pub fn guest(via: Via, module: &SoftwareModule, tdvpr: TdvprPage, log: &Log) -> Port {
        let inner = match via {
            Via::Trapped => {
                Inner::TrappedGuest(emu::install(module.virtual_cpu(tdvpr)), Native::new())
            }
            Via::Direct => Inner::DirectGuest(module.direct_guest(tdvpr)),
        };
        Port {
            inner,
            who: "guest",
            log: log.clone(),
        }
    }
}

impl Backend for Port {
    unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
        let input = *regs;
        // SAFETY: forwarded; the caller upholds the leaf's contract.
        let status = unsafe {
            match &mut self.inner {
                Inner::TrappedHost(_, native) | Inner::TrappedGuest(_, native) => {
                    native.call(kind, leaf, regs)
                }
                Inner::DirectHost(direct) => direct.call(kind, leaf, regs),
                Inner::DirectGuest(direct) => direct.call(kind, leaf, regs),
            }
        };
        self.log.lock().unwrap().push(Logged {
            who: self.who,
            kind,
            leaf,
            input,
            status,
            output: *regs,
        });
        status
    }
}

/// What a guest thread needs to reach the module the machine's way (`Send`).
#[derive(Clone)]
pub struct GuestSide {
    pub via: Via,
    pub module: SoftwareModule,
    pub log: Log,
}

impl GuestSide {
    /// The guest of the vCPU at `tdvpr`, on the calling thread.
    pub fn guest(&self, tdvpr: TdvprPage) -> Guest<Port> {
        Guest::new(Port::guest(self.via, &self.module, tdvpr, &self.log))
    }
}

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
    pub host: Host<Port>,
    pub via: Via,
    pub log: Log,
}

impl Machine {
    /// A machine at power-on, reached through the trapped path; this thread is LP 0.
    pub fn new() -> Machine {
        Machine::with(Via::Trapped)
    }

    /// A machine at power-on, reached `via`; this thread is LP 0.
    pub fn with(via: Via) -> Machine {
        Machine::with_config_via(Config::default(), via)
    }

    /// A machine at power-on with `config`, reached by trapping; this thread is LP 0.
    pub fn with_config(config: Config) -> Machine {
        Machine::with_config_via(config, Via::Trapped)
    }

    /// A machine at power-on with `config`, reached `via`; this thread is LP 0.
    pub fn with_config_via(config: Config, via: Via) -> Machine {
        let module = SoftwareModule::new(config);
        let log = Log::default();
        let host = Host::new(Port::host(via, &module, 0, &log));
        Machine {
            module,
            host,
            via,
            log,
        }
    }

    /// What a guest thread needs to reach the module this machine's way.
    pub fn guest_side(&self) -> GuestSide {
        GuestSide {
            via: self.via,
            module: self.module.clone(),
            log: self.log.clone(),
        }
    }

    /// A raw call of `leaf` (RAX, version included) through this thread's port, for leaves
    /// and statuses the typed wrappers turn into something else.
    pub fn raw(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
        // SAFETY: the software module answers; it only touches its own memory.
        unsafe { self.host.backend_mut().call(kind, leaf, regs) }
    }

    pub fn page(&self) -> HostPhysAddr {
        self.module.alloc_page().expect("memory")
    }

    /// Runs `f` on LP 1 (another thread) and returns its result.
    pub fn on_lp1<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Host<Port>) -> R + Send + 'static,
    ) -> R {
        let (module, via, log) = (self.module.clone(), self.via, self.log.clone());
        thread::spawn(move || f(&mut Host::new(Port::host(via, &module, 1, &log))))
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
