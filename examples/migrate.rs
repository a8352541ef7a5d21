//! Live migration of a running TD between two software TDX modules in one process.
//!
//! `cargo run --example migrate --features software-module`
//!
//! Machine A and machine B are two `SoftwareModule`s, each with its own host thread (its
//! logical processor 0). On each, a migration TD (MigTD) is bound to the migrating TD with
//! TDH.SERVTD.BIND; its guest code writes the migration key with TDG.SERVTD.WR (MIG_ENC_KEY
//! on A, MIG_DEC_KEY on B). The two MigTDs agree on the key by a plain in-process exchange
//! (a channel): real MigTDs run an attested key exchange between the platforms.
//!
//! The migrating TD's guest program keeps all its state in TD memory: an iteration counter
//! and, per data page, the iteration that last wrote it. Each iteration rewrites one data
//! page with a pattern of (page, iteration) and ends with a "tick" TDVMCALL, which gives the
//! VMM its turn. While the TD runs, the VMM pre-copies: BLOCKW, EXPORT.MEM, EXPORT.TRACK per
//! epoch, each bundle imported on B at once. A guest write to an exported page fails
//! (write-blocked; on hardware an EPT violation), the guest reports the GPA with a TDVMCALL,
//! the VMM runs TDH.EXPORT.UNBLOCKW and the page is re-exported in a later epoch. Then the
//! VMM pauses the TD, exports the last dirty pages, the TD state, the vCPU state and the
//! start token, and B commits.
//!
//! Resuming on B: a guest thread is a `VirtualCpu` installed on a thread, and B's vCPU is a
//! different TDVPR on another module. The guest program's TDVMCALL pending on A is released
//! when A tears the TD down (TDX_TDCALL_UD); the guest thread then drops A's `VirtualCpu`,
//! installs the one of B's imported vCPU that the harness hands it, and continues its loop
//! from the state in (imported) TD memory. Its registers are not carried: the model's
//! vCPU state is the TDVPS fields the module keeps, not the thread's registers.
#![allow(dead_code)] // also driven by tests/migration.rs

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use tdxcall::abi::fields;
use tdxcall::abi::mig::{
    GpaListEntry, GpaListInfo, GpaListOp, Mbmd, MigCommand, MigStreamIndex, PageListInfo,
    ServtdAttr,
};
use tdxcall::abi::td_params::TdParams;
use tdxcall::abi::{
    Attributes, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdcxPage, TdrPage, TdvprPage, Xfam,
};
use tdxcall::emu;
use tdxcall::guest::servtd::{BindingHandle, TdUuid};
use tdxcall::guest::tdvmcall::{MmioSize, VmcallError};
use tdxcall::guest::Guest;
use tdxcall::host::export::MemBundle;
use tdxcall::host::servtd::ServtdSlot;
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::host::Host;
use tdxcall::module::{
    Config, GuestMemoryError, Measurement, MigrationStats, MrtdBuilder, SoftwareModule,
};
use tdxcall::xstate::Preserve;
use tdxcall::{Error, Regs};

/// Data pages the guest rewrites.
pub const DATA_PAGES: u64 = 8;
/// The guest's state page: iteration counter, then the last-writer iteration per page.
pub const STATE_GPA: u64 = 0x1000;
/// The first data page.
pub const DATA_GPA: u64 = 0x2000;
/// The TD's pages: code, state, data.
pub const TD_GPAS: u64 = 2 + DATA_PAGES;
/// MMIO (shared) GPAs of the guest's reports.
pub const TICK_MMIO: u64 = 1 << 47 | 0xFEB0_0000;
pub const BLOCKED_MMIO: u64 = 1 << 47 | 0xFEB0_1000;
pub const DONE_MMIO: u64 = 1 << 47 | 0xFEB0_2000;
const GLOBAL_HKID: u16 = 32;
const MIGTD_HKID: u16 = 33;
const TD_HKID: u16 = 34;
/// State pages lent to the state leaves.
const STATE_PAGES: usize = 4;

/// A job for a machine's host thread.
type Job = Box<dyn FnOnce(&mut Host) + Send>;

/// One platform: a software module and its host thread (LP 0), with host pages lent to
/// the migration leaves.
#[derive(Clone)]
pub struct Machine {
    pub module: SoftwareModule,
    jobs: Sender<Job>,
    pub pages: Pages,
}

/// The host pages a machine lends the migration leaves.
#[derive(Clone, Copy, Debug)]
pub struct Pages {
    pub gpa_list: HostPhysAddr,
    pub buffer_list: HostPhysAddr,
    pub mac_lists: [HostPhysAddr; 2],
    pub mbmd: HostPhysAddr,
    pub buffers: [HostPhysAddr; 16],
    pub state_list: HostPhysAddr,
    pub state_pages: [HostPhysAddr; STATE_PAGES],
}

/// A bundle as it travels between the machines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bundle {
    pub mbmd: Vec<u8>,
    /// GPA-list entries (memory bundles).
    pub entries: Vec<u64>,
    /// Encrypted pages (memory) or state pages.
    pub pages: Vec<Vec<u8>>,
    /// The MAC list bytes (memory bundles).
    pub macs: Vec<u8>,
}

/// A TD and its vCPU on one machine.
#[derive(Clone, Copy, Debug)]
pub struct Td {
    pub tdr: TdrPage,
    pub tdvpr: TdvprPage,
}

fn gpa(raw: u64) -> GuestPhysAddr {
    GuestPhysAddr::new(raw).expect("GPA")
}

impl Default for Machine {
    fn default() -> Machine {
        Machine::new()
    }
}

impl Machine {
    /// A machine with an initialized platform (SYS.INIT, LP.INIT, CONFIG, KEY.CONFIG,
    /// TDMR.INIT) and its migration pages.
    pub fn new() -> Machine {
        let module = SoftwareModule::new(Config::default().with_logical_processors(1));
        let (jobs, inbox) = mpsc::channel::<Job>();
        let lp = module.clone();
        thread::spawn(move || {
            let _lp0 = emu::install(lp.logical_processor(0));
            let mut host = Host::native();
            for job in inbox {
                job(&mut host);
            }
        });
        let page = || module.alloc_page().expect("memory");
        let pages = Pages {
            gpa_list: page(),
            buffer_list: page(),
            mac_lists: [page(), page()],
            mbmd: page(),
            buffers: core::array::from_fn(|_| page()),
            state_list: page(),
            state_pages: core::array::from_fn(|_| page()),
        };
        let buffers: Vec<u64> = pages.buffers.iter().map(|p| p.raw()).collect();
        module.write_u64s(pages.buffer_list, &buffers).unwrap();
        let states: Vec<u64> = pages.state_pages.iter().map(|p| p.raw()).collect();
        module.write_u64s(pages.state_list, &states).unwrap();
        let machine = Machine {
            module,
            jobs,
            pages,
        };
        machine.run(|host, module| {
            host.sys_init().expect("TDH.SYS.INIT");
            host.sys_lp_init().expect("TDH.SYS.LP.INIT");
            let tdmr = module.tdmr();
            let (info, pointers) = (module.alloc_page().unwrap(), module.alloc_page().unwrap());
            module.write_tdmr_info(info, &tdmr).unwrap();
            module.write_u64s(pointers, &[info.raw()]).unwrap();
            host.sys_config(pointers, 1, Hkid::new(GLOBAL_HKID))
                .expect("TDH.SYS.CONFIG");
            host.sys_key_config().expect("TDH.SYS.KEY.CONFIG");
            host.sys_tdmr_init(tdmr.tdmr_base, tdmr.tdmr_size)
                .expect("TDH.SYS.TDMR.INIT");
        });
        machine
    }

    /// Runs `f` on the machine's host thread (its LP 0) and returns its result.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Host, &SoftwareModule) -> R + Send + 'static,
    ) -> R {
        let (tx, rx) = mpsc::channel();
        let module = self.module.clone();
        self.jobs
            .send(Box::new(move |host: &mut Host| {
                let _ = tx.send(f(host, &module));
            }))
            .expect("host thread");
        rx.recv().expect("the job panicked")
    }

    fn page(&self) -> HostPhysAddr {
        self.module.alloc_page().expect("memory")
    }

    /// MNG.CREATE, KEY.CONFIG and the TDCS pages.
    pub fn create_td(&self, hkid: u16) -> TdrPage {
        let tdr = TdrPage::new(self.page()).unwrap();
        let tdcs: Vec<_> = (0..6)
            .map(|_| TdcxPage::new(self.page()).unwrap())
            .collect();
        self.run(move |host, _| {
            // SAFETY: model memory.
            unsafe { host.mng_create(tdr, Hkid::new(hkid)) }.expect("TDH.MNG.CREATE");
            host.mng_key_config(tdr).expect("TDH.MNG.KEY.CONFIG");
            for page in tdcs {
                // SAFETY: model memory.
                unsafe { host.mng_addcx(page, tdr) }.expect("TDH.MNG.ADDCX");
            }
        });
        tdr
    }

    /// VP.CREATE and the TDVPS pages.
    pub fn create_vcpu(&self, tdr: TdrPage) -> TdvprPage {
        let tdvpr = TdvprPage::new(self.page()).unwrap();
        let extra: Vec<_> = (0..5)
            .map(|_| TdcxPage::new(self.page()).unwrap())
            .collect();
        self.run(move |host, _| {
            // SAFETY: model memory.
            unsafe { host.vp_create(tdvpr, tdr) }.expect("TDH.VP.CREATE");
            for page in extra {
                // SAFETY: model memory.
                unsafe { host.vp_addcx(page, tdvpr) }.expect("TDH.VP.ADDCX");
            }
        });
        tdvpr
    }

    /// Secure-EPT pages for the first 2 MiB.
    pub fn sept(&self, tdr: TdrPage) {
        let pages: Vec<_> = (0..3).map(|_| self.page()).collect();
        self.run(move |host, _| {
            let levels = [PageLevel::Size512G, PageLevel::Size1G, PageLevel::Size2M];
            for (level, page) in levels.into_iter().zip(pages) {
                // SAFETY: model memory.
                unsafe { host.mem_sept_add(gpa(0), level, tdr, page) }.expect("SEPT.ADD");
            }
        });
    }

    /// A finalized TD with one vCPU and `pages` (GPA, content, measured) added.
    pub fn build_td(
        &self,
        hkid: u16,
        attributes: Attributes,
        pages: Vec<(u64, Vec<u8>, bool)>,
    ) -> Td {
        let tdr = self.create_td(hkid);
        let params = TdParams {
            attributes,
            xfam: Xfam::X87 | Xfam::SSE,
            max_vcpus: 1,
            eptp_controls: 6 | 3 << 3,
            tsc_frequency: 100,
            ..TdParams::default()
        };
        let params_page = self.page();
        self.module.write_td_params(params_page, &params).unwrap();
        self.run(move |host, _| host.mng_init(tdr, params_page).expect("TDH.MNG.INIT"));
        let tdvpr = self.create_vcpu(tdr);
        self.run(move |host, _| host.vp_init(tdvpr, 0).expect("TDH.VP.INIT"));
        self.sept(tdr);
        let (source, targets): (HostPhysAddr, Vec<_>) =
            (self.page(), pages.iter().map(|_| self.page()).collect());
        self.run(move |host, module| {
            for ((gpa_raw, content, measured), target) in pages.into_iter().zip(targets) {
                module.write(source, &content).unwrap();
                // SAFETY: model memory.
                unsafe {
                    host.mem_page_add(GuestPhysAddr::page(gpa_raw).unwrap(), tdr, target, source)
                }
                .expect("TDH.MEM.PAGE.ADD");
                if measured {
                    for chunk in (0..4096).step_by(256) {
                        host.mr_extend(gpa(gpa_raw + chunk), tdr)
                            .expect("MR.EXTEND");
                    }
                }
            }
            host.mr_finalize(tdr).expect("TDH.MR.FINALIZE");
        });
        Td { tdr, tdvpr }
    }

    /// A migration TD (not migratable itself).
    pub fn build_migtd(&self) -> Td {
        let mut code = vec![0u8; 4096];
        code[..20].copy_from_slice(b"migration TD: MigTD ");
        self.build_td(
            MIGTD_HKID,
            Attributes::SEPT_VE_DISABLE,
            vec![(0, code, true)],
        )
    }

    /// The migrating TD: code page (measured), state page, data pages.
    pub fn build_source(&self) -> Td {
        self.build_td(
            TD_HKID,
            Attributes::SEPT_VE_DISABLE | Attributes::MIGRATABLE,
            source_pages(),
        )
    }

    /// TDH.MIG.STREAM.CREATE.
    pub fn stream(&self, tdr: TdrPage) {
        let migsc = self.page();
        // SAFETY: model memory.
        self.run(move |host, _| {
            unsafe { host.mig_stream_create(migsc, tdr) }.expect("STREAM.CREATE")
        });
    }

    /// TDH.SERVTD.BIND of `migtd` to `target`, then the MigTD's guest code writes `key`
    /// (MIG_DEC_KEY when `decrypt`, else MIG_ENC_KEY) with TDG.SERVTD.WR and reads
    /// OP_STATE back with TDG.SERVTD.RD; returns what it read.
    pub fn bind_and_set_key(
        &self,
        target: TdrPage,
        migtd: Td,
        key: [u64; 4],
        decrypt: bool,
    ) -> u64 {
        let binding = self.run(move |host, _| {
            host.servtd_bind(
                target,
                migtd.tdr,
                ServtdSlot {
                    slot: 0,
                    servtd_type: 0,
                },
                ServtdAttr::new(0).unwrap(),
            )
            .expect("TDH.SERVTD.BIND")
        });
        let module = self.module.clone();
        let (read_tx, read_rx) = mpsc::channel();
        // The MigTD's guest thread stays blocked in its last TDVMCALL (the MigTD is not torn
        // down here); it is not joined.
        thread::spawn(move || {
            let _vcpu = emu::install(module.virtual_cpu(migtd.tdvpr));
            let mut guest = Guest::native();
            let field = if decrypt {
                fields::td::MIG_DEC_KEY
            } else {
                fields::td::MIG_ENC_KEY
            };
            let handle = BindingHandle(binding.handle);
            let uuid = TdUuid(binding.target_uuid);
            for (i, word) in key.iter().enumerate() {
                // SAFETY: the MigTD writes the migration key of the TD it serves.
                unsafe {
                    guest.servtd_wr(
                        handle,
                        field.element(i as u32).unwrap(),
                        *word,
                        u64::MAX,
                        uuid,
                    )
                }
                .expect("TDG.SERVTD.WR");
            }
            let op_state = guest
                .servtd_rd(handle, fields::td::OP_STATE, uuid)
                .expect("TDG.SERVTD.RD")
                .value;
            let _ = read_tx.send(op_state);
            let _ = guest.tdvmcall_hlt(false);
        });
        self.run(move |host, _| {
            let mut regs = Regs::ZERO;
            // SAFETY: model vCPU.
            let exit = unsafe { host.vp_enter(migtd.tdvpr, VpEnterFlags::empty(), &mut regs) }
                .expect("TDH.VP.ENTER MigTD");
            assert!(matches!(exit, TdExit::Tdvmcall(_)), "the MigTD halts");
        });
        read_rx.recv().expect("MigTD")
    }

    fn mbmd(&self) -> Mbmd {
        Mbmd::new(self.pages.mbmd, 128).unwrap()
    }

    fn state_list(&self) -> PageListInfo {
        PageListInfo::new(self.pages.state_list, STATE_PAGES as u16 - 1).unwrap()
    }

    fn read_mbmd(&self) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        self.module.read(self.pages.mbmd, &mut out).unwrap();
        out
    }

    /// A state export (`vp`: the vCPU's; else immutable or TD state).
    pub fn export_state(&self, which: StateKind, handle: Td) -> Result<Bundle, Error> {
        let (mbmd, list, pages) = (self.mbmd(), self.state_list(), self.pages);
        let written = self.run(move |host, _| {
            let stream = MigStreamIndex(0);
            // SAFETY: the machine's own migration pages.
            unsafe {
                match which {
                    StateKind::Immutable => host.export_state_immutable(
                        handle.tdr,
                        mbmd,
                        list,
                        stream,
                        MigCommand::New,
                        Preserve::on_stack()?,
                    ),
                    StateKind::Td => host.export_state_td(
                        handle.tdr,
                        mbmd,
                        list,
                        stream,
                        MigCommand::New,
                        Preserve::on_stack()?,
                    ),
                    StateKind::Vp => host.export_state_vp(
                        handle.tdvpr,
                        mbmd,
                        list,
                        stream,
                        MigCommand::New,
                        Preserve::on_stack()?,
                    ),
                }
            }
        })?;
        let mut bundle = Bundle {
            mbmd: self.read_mbmd(),
            ..Bundle::default()
        };
        for page in &pages.state_pages[..written as usize] {
            let mut bytes = vec![0u8; 4096];
            self.module.read(*page, &mut bytes).unwrap();
            bundle.pages.push(bytes);
        }
        Ok(bundle)
    }

    /// A state import of `bundle`.
    pub fn import_state(&self, which: StateKind, handle: Td, bundle: &Bundle) -> Result<(), Error> {
        self.module.write(self.pages.mbmd, &bundle.mbmd).unwrap();
        for (page, bytes) in self.pages.state_pages.iter().zip(&bundle.pages) {
            self.module.write(*page, bytes).unwrap();
        }
        let (mbmd, list) = (self.mbmd(), self.state_list());
        self.run(move |host, _| {
            let stream = MigStreamIndex(0);
            let preserve = Preserve::on_stack()?;
            match which {
                StateKind::Immutable => host.import_state_immutable(
                    handle.tdr,
                    mbmd,
                    list,
                    stream,
                    MigCommand::New,
                    preserve,
                ),
                StateKind::Td => {
                    host.import_state_td(handle.tdr, mbmd, list, stream, MigCommand::New, preserve)
                }
                StateKind::Vp => host.import_state_vp(
                    handle.tdvpr,
                    mbmd,
                    list,
                    stream,
                    MigCommand::New,
                    preserve,
                ),
            }
            .map_err(|e| e.error)
        })
    }

    fn gpa_list(&self, entries: &[u64]) -> GpaListInfo {
        self.module
            .write_u64s(self.pages.gpa_list, entries)
            .unwrap();
        GpaListInfo::new(self.pages.gpa_list, 0, entries.len() as u16 - 1).unwrap()
    }

    fn bundle_operands(&self) -> MemBundle {
        MemBundle {
            mbmd: self.mbmd(),
            buffer_list: self.pages.buffer_list,
            mac_lists: self.pages.mac_lists,
            stream: MigStreamIndex(0),
            command: MigCommand::New,
        }
    }

    /// TDH.EXPORT.BLOCKW of the pages at `gpas`.
    pub fn blockw(&self, tdr: TdrPage, gpas: &[u64]) -> Result<(), Error> {
        let entries: Vec<u64> = gpas.iter().map(|&g| entry(g, GpaListOp::Migrate)).collect();
        let list = self.gpa_list(&entries);
        // SAFETY: the machine's own list page.
        self.run(move |host, _| {
            unsafe { host.export_blockw(list, tdr) }
                .map(drop)
                .map_err(|e| e.error)
        })
    }

    /// TDH.EXPORT.MEM of `entries` (GPA, operation): the bundle to send.
    pub fn export_mem(&self, tdr: TdrPage, entries: &[(u64, GpaListOp)]) -> Result<Bundle, Error> {
        let raw: Vec<u64> = entries.iter().map(|&(g, op)| entry(g, op)).collect();
        let list = self.gpa_list(&raw);
        let operands = self.bundle_operands();
        self.run(move |host, _| {
            // SAFETY: the machine's own migration pages.
            unsafe { host.export_mem(list, tdr, &operands, Preserve::on_stack()?) }
                .map_err(|e| e.error)
        })?;
        let mut bundle = Bundle {
            mbmd: self.read_mbmd(),
            entries: vec![0; raw.len()],
            macs: vec![0; 16 * raw.len()],
            ..Bundle::default()
        };
        let mut list_bytes = vec![0u8; 8 * raw.len()];
        self.module
            .read(self.pages.gpa_list, &mut list_bytes)
            .unwrap();
        for (e, chunk) in bundle.entries.iter_mut().zip(list_bytes.chunks_exact(8)) {
            *e = u64::from_le_bytes(chunk.try_into().unwrap());
        }
        self.module
            .read(self.pages.mac_lists[0], &mut bundle.macs)
            .unwrap();
        for buffer in &self.pages.buffers[..raw.len()] {
            let mut bytes = vec![0u8; 4096];
            self.module.read(*buffer, &mut bytes).unwrap();
            bundle.pages.push(bytes);
        }
        Ok(bundle)
    }

    /// TDH.IMPORT.MEM of a memory bundle (new pages from a list of fresh host pages).
    pub fn import_mem(&self, tdr: TdrPage, bundle: &Bundle) -> Result<(), Error> {
        let list = self.gpa_list(&bundle.entries);
        self.module.write(self.pages.mbmd, &bundle.mbmd).unwrap();
        self.module
            .write(self.pages.mac_lists[0], &bundle.macs)
            .unwrap();
        for (buffer, bytes) in self.pages.buffers.iter().zip(&bundle.pages) {
            self.module.write(*buffer, bytes).unwrap();
        }
        let new_list = self.page();
        let fresh: Vec<u64> = bundle.entries.iter().map(|_| self.page().raw()).collect();
        self.module.write_u64s(new_list, &fresh).unwrap();
        let operands = self.bundle_operands();
        self.run(move |host, _| {
            // SAFETY: the machine's own pages; the new pages are given to the TD.
            unsafe { host.import_mem(list, tdr, &operands, Some(new_list), Preserve::on_stack()?) }
                .map(drop)
                .map_err(|e| e.error)
        })
    }

    /// TDH.EXPORT.TRACK: an epoch token, or the start token (`start`).
    pub fn export_track(&self, tdr: TdrPage, start: bool) -> Result<Bundle, Error> {
        let mbmd = self.mbmd();
        let command = if start {
            MigCommand::Resume
        } else {
            MigCommand::New
        };
        // SAFETY: the machine's own MBMD page.
        self.run(move |host, _| unsafe {
            host.export_track(tdr, mbmd, command, Preserve::on_stack()?)
        })?;
        Ok(Bundle {
            mbmd: self.read_mbmd(),
            ..Bundle::default()
        })
    }

    /// TDH.IMPORT.TRACK of a token.
    pub fn import_track(&self, tdr: TdrPage, token: &Bundle) -> Result<(), Error> {
        self.module.write(self.pages.mbmd, &token.mbmd).unwrap();
        let mbmd = self.mbmd();
        self.run(move |host, _| {
            host.import_track(
                tdr,
                mbmd,
                MigStreamIndex(0),
                MigCommand::New,
                Preserve::on_stack()?,
            )
        })
    }

    /// TDH.EXPORT.ABORT (with `token` written to the MBMD first, for the POST_EXPORT case).
    pub fn export_abort(&self, tdr: TdrPage, token: Option<&Bundle>) -> Result<(), Error> {
        if let Some(token) = token {
            self.module.write(self.pages.mbmd, &token.mbmd).unwrap();
        }
        let mbmd = self.mbmd();
        // SAFETY: the machine's own MBMD page.
        self.run(move |host, _| unsafe { host.export_abort(tdr, mbmd, Preserve::on_stack()?) })
    }

    /// TDH.IMPORT.ABORT: the abort token for the source.
    pub fn import_abort(&self, tdr: TdrPage) -> Result<Bundle, Error> {
        let mbmd = self.mbmd();
        self.run(move |host, _| host.import_abort(tdr, mbmd, Preserve::on_stack()?))?;
        Ok(Bundle {
            mbmd: self.read_mbmd(),
            ..Bundle::default()
        })
    }

    /// TDH.EXPORT.RESTORE of the pages at `gpas`.
    pub fn export_restore(&self, tdr: TdrPage, gpas: &[u64]) -> Result<(), Error> {
        let entries: Vec<u64> = gpas.iter().map(|&g| entry(g, GpaListOp::Migrate)).collect();
        let list = self.gpa_list(&entries);
        // SAFETY: the machine's own list page.
        self.run(move |host, _| {
            unsafe { host.export_restore(list, tdr) }
                .map(drop)
                .map_err(|e| e.error)
        })
    }
}

/// Which state leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// TDH.*PORT.STATE.IMMUTABLE.
    Immutable,
    /// TDH.*PORT.STATE.TD.
    Td,
    /// TDH.*PORT.STATE.VP.
    Vp,
}

/// A GPA-list entry for the 4 KiB page at `gpa_raw`.
pub fn entry(gpa_raw: u64, op: GpaListOp) -> u64 {
    GpaListEntry::new(GuestPhysAddr::page(gpa_raw).unwrap(), op)
        .unwrap()
        .0
}

/// The migrating TD's initial pages: code (measured), state (zeros), data (zeros).
pub fn source_pages() -> Vec<(u64, Vec<u8>, bool)> {
    let mut code = vec![0u8; 4096];
    let text = b"tdxcall migrate example: the guest's code";
    code[..text.len()].copy_from_slice(text);
    let mut pages = vec![(0, code, true), (STATE_GPA, vec![0; 4096], false)];
    for i in 0..DATA_PAGES {
        pages.push((DATA_GPA + 0x1000 * i, vec![0; 4096], false));
    }
    pages
}

/// The MRTD the source TD gets (computed offline).
pub fn expected_mrtd() -> Measurement {
    let mut builder = MrtdBuilder::new();
    for (gpa_raw, content, measured) in source_pages() {
        if measured {
            builder.add_measured_page(gpa_raw, content.as_slice().try_into().unwrap());
        } else {
            builder.page_add(gpa_raw);
        }
    }
    builder.finish()
}

/// The content data page `page` has after iteration `iteration` wrote it.
pub fn pattern(page: u64, iteration: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; 4096];
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        let word = iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (page << 48) ^ i as u64;
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

/// What the guest program tells its harness.
enum GuestNote {
    /// Its pending call on A was released: hand it B's vCPU.
    Released,
}

/// What the guest on B found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestCheck {
    pub pages_verified: u64,
    pub counters_continued: u64,
}

/// Writes `bytes` at `at`, reporting write-blocked pages to the VMM until the write is done.
fn guest_write(
    guest: &mut Guest,
    memory: &tdxcall::module::GuestMemory,
    at: u64,
    bytes: &[u8],
) -> Result<(), VmcallError> {
    loop {
        match memory.write(gpa(at), bytes) {
            Ok(()) => return Ok(()),
            Err(GuestMemoryError::WriteBlocked { gpa: page }) => {
                guest.tdvmcall_mmio_write(gpa(BLOCKED_MMIO), MmioSize::B8, page)?;
            }
            Err(other) => panic!("guest memory: {other}"),
        }
    }
}

fn read_u64(memory: &tdxcall::module::GuestMemory, at: u64) -> u64 {
    let mut b = [0u8; 8];
    memory.read(gpa(at), &mut b).expect("state page");
    u64::from_le_bytes(b)
}

/// One iteration of the guest program: rewrite one data page, count it, tick.
fn iterate(guest: &mut Guest, memory: &tdxcall::module::GuestMemory) -> Result<u64, VmcallError> {
    let k = read_u64(memory, STATE_GPA);
    let page = k % DATA_PAGES;
    guest_write(guest, memory, DATA_GPA + 0x1000 * page, &pattern(page, k))?;
    guest_write(guest, memory, STATE_GPA + 8 + 8 * page, &k.to_le_bytes())?;
    guest_write(guest, memory, STATE_GPA, &(k + 1).to_le_bytes())?;
    guest.tdvmcall_mmio_write(gpa(TICK_MMIO), MmioSize::B8, k + 1)?;
    Ok(k + 1)
}

/// The guest program: iterate on A until released, then on B for `more` iterations,
/// verify, report.
fn guest_program(
    a: SoftwareModule,
    td_a: Td,
    notes: Sender<GuestNote>,
    to_b: Receiver<(SoftwareModule, Td)>,
    more: u64,
) -> GuestCheck {
    {
        let memory = a.guest_memory(td_a.tdr);
        let _vcpu = emu::install(a.virtual_cpu(td_a.tdvpr));
        let mut guest = Guest::native();
        while iterate(&mut guest, &memory).is_ok() {}
    }
    let _ = notes.send(GuestNote::Released);
    let (b, td_b) = to_b.recv().expect("the destination vCPU");
    let memory = b.guest_memory(td_b.tdr);
    let _vcpu = emu::install(b.virtual_cpu(td_b.tdvpr));
    let mut guest = Guest::native();
    // Check what came over: every page holds the pattern of its last writer, and the
    // counters agree with each other.
    let k = read_u64(&memory, STATE_GPA);
    let mut verified = 0;
    let mut writes_seen = 0;
    for page in 0..DATA_PAGES {
        let last = read_u64(&memory, STATE_GPA + 8 + 8 * page);
        let mut bytes = vec![0u8; 4096];
        memory
            .read(gpa(DATA_GPA + 0x1000 * page), &mut bytes)
            .unwrap();
        let expected = if last == 0 && k <= page {
            vec![0; 4096]
        } else {
            pattern(page, last)
        };
        if bytes == expected {
            verified += 1;
        }
        if k > page {
            writes_seen += 1;
        }
    }
    let before: Vec<u64> = (0..=DATA_PAGES)
        .map(|i| read_u64(&memory, STATE_GPA + 8 * i))
        .collect();
    for _ in 0..more {
        iterate(&mut guest, &memory).expect("iteration on B");
    }
    let after: Vec<u64> = (0..=DATA_PAGES)
        .map(|i| read_u64(&memory, STATE_GPA + 8 * i))
        .collect();
    let continued = before.iter().zip(&after).filter(|(b, a)| a > b).count() as u64;
    let _ = writes_seen;
    let report = verified << 32 | continued;
    guest
        .tdvmcall_mmio_write(gpa(DONE_MMIO), MmioSize::B8, report)
        .expect("report");
    let _ = guest.tdvmcall_hlt(false);
    GuestCheck {
        pages_verified: verified,
        counters_continued: continued,
    }
}

/// The result of a migration run.
#[derive(Clone, Debug)]
pub struct Report {
    pub stats: MigrationStats,
    pub guest: GuestCheck,
    pub mrtd_source: Measurement,
    pub mrtd_destination: Measurement,
    pub iterations_on_a: u64,
}

/// A random-enough 256-bit key for one session (the in-process key agreement).
fn session_key() -> [u64; 4] {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    core::array::from_fn(|i| {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.finish()
    })
}

/// Both platforms, each MigTD bound and keyed; the source TD built and running nowhere yet;
/// the destination TD created. The source MigTD's key reaches the destination MigTD over
/// a channel (the stand-in for the MigTDs' attested key exchange).
pub struct Setup {
    pub a: Machine,
    pub b: Machine,
    pub source: Td,
    pub dest: TdrPage,
}

impl Setup {
    /// Builds everything; `dest_key` replaces the agreed key on B (a wrong-key test).
    pub fn new(dest_key: Option<[u64; 4]>) -> Setup {
        let (a, b) = (Machine::new(), Machine::new());
        let (migtd_a, migtd_b) = (a.build_migtd(), b.build_migtd());
        let source = a.build_source();
        a.stream(source.tdr);
        let dest = b.create_td(TD_HKID);
        b.stream(dest);
        let (to_b, from_a) = mpsc::channel();
        let key = session_key();
        to_b.send(key).unwrap();
        a.bind_and_set_key(source.tdr, migtd_a, key, false);
        let agreed = from_a.recv().unwrap();
        b.bind_and_set_key(dest, migtd_b, dest_key.unwrap_or(agreed), true);
        Setup { a, b, source, dest }
    }
}

/// Runs the whole migration; `say` gets the progress lines.
pub fn run(say: &mut dyn FnMut(String)) -> Report {
    let Setup { a, b, source, dest } = Setup::new(None);
    let mrtd_source = a.module.mrtd(source.tdr).unwrap();
    say(format!(
        "machine A: migratable TD {:#x} built, MigTD bound, MIG_ENC_KEY written",
        source.tdr.raw()
    ));

    // Session start: immutable state (A: LIVE_EXPORT, B: MEMORY_IMPORT).
    let immutable = a
        .export_state(StateKind::Immutable, source)
        .expect("EXPORT.STATE.IMMUTABLE");
    let dest_td = Td {
        tdr: dest,
        tdvpr: source.tdvpr,
    };
    b.import_state(StateKind::Immutable, dest_td, &immutable)
        .expect("IMPORT.STATE.IMMUTABLE");
    b.sept(dest);
    say("session started: immutable state imported on B".to_string());

    let (notes_tx, notes) = mpsc::channel();
    let (to_guest, guest_rx) = mpsc::channel();
    let guest_module = a.module.clone();
    let guest: JoinHandle<GuestCheck> = thread::spawn(move || {
        guest_program(guest_module, source, notes_tx, guest_rx, 3 * DATA_PAGES)
    });

    // Pre-copy while the guest runs: each tick is the VMM's turn.
    let all: Vec<u64> = std::iter::once(0)
        .chain(std::iter::once(STATE_GPA))
        .chain((0..DATA_PAGES).map(|i| DATA_GPA + 0x1000 * i))
        .collect();
    let (a2, b2) = (a.clone(), b.clone());
    let mut exported = std::collections::BTreeSet::new();
    let mut dirty = std::collections::BTreeSet::new();
    let mut epochs = 0;
    let mut ticks = 0u64;
    let round = |dirty: &mut std::collections::BTreeSet<u64>,
                 exported: &mut std::collections::BTreeSet<u64>,
                 paused: bool| {
        let fresh: Vec<u64> = all
            .iter()
            .copied()
            .filter(|g| !exported.contains(g))
            .take(4)
            .collect();
        let again: Vec<u64> = std::mem::take(dirty).into_iter().collect();
        let mut list: Vec<(u64, GpaListOp)> =
            fresh.iter().map(|&g| (g, GpaListOp::Migrate)).collect();
        list.extend(again.iter().map(|&g| (g, GpaListOp::Remigrate)));
        if !list.is_empty() {
            let gpas: Vec<u64> = list.iter().map(|e| e.0).collect();
            if !paused {
                a2.blockw(source.tdr, &gpas).expect("EXPORT.BLOCKW");
            }
            let bundle = a2.export_mem(source.tdr, &list).expect("EXPORT.MEM");
            b2.import_mem(dest, &bundle).expect("IMPORT.MEM");
            exported.extend(fresh);
        }
    };
    let entered = a.clone();
    let tdvpr = source.tdvpr;
    // The VMM loop on A runs on A's host thread, one VP.ENTER per job.
    let enter = move || {
        entered.run(move |host, _| {
            let mut regs = Regs::ZERO;
            // SAFETY: model vCPU.
            let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }
                .expect("VP.ENTER");
            match exit {
                TdExit::Tdvmcall(call) => (call.regs.r14, call.regs.r15),
                TdExit::Async(_) => panic!("unexpected asynchronous exit"),
            }
        })
    };
    while epochs < 3 {
        let (mmio, value) = enter();
        if mmio == BLOCKED_MMIO {
            a.run(move |host, _| {
                host.export_unblockw(gpa(value), PageLevel::Size4K, source.tdr)
                    .map(drop)
                    .map_err(|e| e.error)
            })
            .expect("EXPORT.UNBLOCKW");
            dirty.insert(value);
            continue;
        }
        assert_eq!(mmio, TICK_MMIO);
        ticks += 1;
        if ticks % 3 == 0 {
            let dirtied = dirty.len();
            round(&mut dirty, &mut exported, false);
            let token = a.export_track(source.tdr, false).expect("EXPORT.TRACK");
            b.import_track(dest, &token).expect("IMPORT.TRACK");
            epochs += 1;
            say(format!(
                "epoch {epochs}: {} of {} pages exported, {dirtied} dirtied pages re-exported",
                exported.len(),
                all.len(),
            ));
        }
    }
    // Finish pre-copy of pages never exported.
    while exported.len() < all.len() {
        round(&mut dirty, &mut exported, false);
    }
    a.run(move |host, _| host.export_pause(source.tdr))
        .expect("EXPORT.PAUSE");
    // The pages dirtied since the last epoch go in a last in-order epoch.
    let token = a.export_track(source.tdr, false).expect("EXPORT.TRACK");
    b.import_track(dest, &token).expect("IMPORT.TRACK");
    round(&mut dirty, &mut exported, true);
    let td_state = a
        .export_state(StateKind::Td, source)
        .expect("EXPORT.STATE.TD");
    let vp_state = a
        .export_state(StateKind::Vp, source)
        .expect("EXPORT.STATE.VP");
    let start = a
        .export_track(source.tdr, true)
        .expect("EXPORT.TRACK start token");
    say("paused: TD and vCPU state and the start token exported".to_string());

    b.import_state(StateKind::Td, dest_td, &td_state)
        .expect("IMPORT.STATE.TD");
    let dest_vcpu = b.create_vcpu(dest);
    let dest_td = Td {
        tdr: dest,
        tdvpr: dest_vcpu,
    };
    b.import_state(StateKind::Vp, dest_td, &vp_state)
        .expect("IMPORT.STATE.VP");
    b.import_track(dest, &start)
        .expect("IMPORT.TRACK start token");
    b.run(move |host, _| {
        host.import_commit(dest)?;
        host.import_end(dest)
    })
    .expect("IMPORT.COMMIT, IMPORT.END");
    let stats = a.module.migration_stats(source.tdr).unwrap();
    say("machine B: committed; the source TD is torn down and the guest moves".to_string());

    // Tear down on A: the guest's pending TDVMCALL is released.
    a.run(move |host, _| {
        host.vp_flush(source.tdvpr)?;
        host.mng_vpflushdone(source.tdr)
    })
    .expect("VP.FLUSH, VPFLUSHDONE");
    let GuestNote::Released = notes.recv().expect("guest released");

    let iterations_on_a = ticks;
    to_guest.send((b.module.clone(), dest_td)).unwrap();
    let report = loop {
        let (mmio, value) = b.run(move |host, _| {
            let mut regs = Regs::ZERO;
            // SAFETY: model vCPU.
            let exit = unsafe { host.vp_enter(dest_vcpu, VpEnterFlags::empty(), &mut regs) }
                .expect("VP.ENTER on B");
            match exit {
                TdExit::Tdvmcall(call) => (call.regs.r14, call.regs.r15),
                TdExit::Async(_) => panic!("unexpected asynchronous exit"),
            }
        });
        if mmio == DONE_MMIO {
            break value;
        }
    };
    b.run(move |host, _| {
        let mut regs = Regs::ZERO;
        // SAFETY: model vCPU; the guest halts.
        unsafe { host.vp_enter(dest_vcpu, VpEnterFlags::empty(), &mut regs) }.map(drop)?;
        // Tear the vCPU down: the guest's pending HLT is released and its thread ends.
        host.vp_flush(dest_vcpu)?;
        host.mng_vpflushdone(dest)
    })
    .expect("the destination guest halts");
    let check = guest.join().expect("guest program");
    assert_eq!(
        report,
        check.pages_verified << 32 | check.counters_continued
    );
    Report {
        stats,
        guest: check,
        mrtd_source,
        mrtd_destination: b.module.mrtd(dest).unwrap(),
        iterations_on_a,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last four lines of the example's output.
pub fn summary(report: &Report) -> [String; 4] {
    let s = report.stats;
    [
        format!(
            "migrated: {} pages, {} re-exported, {} epochs, {} bundles",
            s.pages, s.re_exported, s.epochs, s.bundles
        ),
        format!(
            "destination guest: memory verified, {} counters continued",
            report.guest.counters_continued
        ),
        format!("MRTD source:      {}", hex(&report.mrtd_source)),
        format!("MRTD destination: {}", hex(&report.mrtd_destination)),
    ]
}

fn main() {
    let report = run(&mut |line| println!("{line}"));
    assert_eq!(
        report.guest.pages_verified, DATA_PAGES,
        "every page verified"
    );
    assert_eq!(report.mrtd_source, report.mrtd_destination);
    for line in summary(&report) {
        println!("{line}");
    }
}
