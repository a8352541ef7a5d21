//! The software module's CPUID per module version: TDH.SYS.RD's CPUID_CONFIG_LEAVES/VALUES,
//! TDH.MNG.INIT's CPUID checks (exact status and RCX) and TDH.MNG.RD of TDCS.CPUID_VALUES.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use std::thread;
use tdxcall::abi::td_params::{CpuidLeaf, CpuidValues, TdParams};
use tdxcall::abi::{Attributes, FieldId, Hkid, HostPhysAddr, TdcxPage, TdrPage, Xfam};
use tdxcall::cpuid::{self, SYNTHETIC_PLATFORM};
use tdxcall::emu::{self, Installed};
use tdxcall::host::Host;
use tdxcall::leaf::ModuleVersion;
use tdxcall::module::{cpuid_values_field_id, Config, LogicalProcessor, SoftwareModule};
use tdxcall::status::StatusCode;

struct Machine {
    module: SoftwareModule,
    host: Host,
    _lp0: Installed<LogicalProcessor>,
}

impl Machine {
    /// A module with `version`'s CPUID, initialized up to TDMR.INIT; this thread is LP 0.
    fn new(version: ModuleVersion) -> Machine {
        let module = SoftwareModule::new(Config::default().with_cpuid_version(version));
        let lp0 = emu::install(module.logical_processor(0));
        let mut m = Machine {
            module,
            host: Host::native(),
            _lp0: lp0,
        };
        m.host.sys_init().unwrap();
        m.host.sys_lp_init().unwrap();
        let module = m.module.clone();
        thread::spawn(move || {
            let _lp1 = emu::install(module.logical_processor(1));
            Host::native().sys_lp_init().unwrap();
        })
        .join()
        .unwrap();
        let (info, pointers) = (m.page(), m.page());
        m.module.write_tdmr_info(info, &m.module.tdmr()).unwrap();
        m.module.write_u64s(pointers, &[info.raw()]).unwrap();
        m.host.sys_config(pointers, 1, Hkid::new(32)).unwrap();
        m.host.sys_key_config().unwrap();
        let tdmr = m.module.tdmr();
        m.host
            .sys_tdmr_init(tdmr.tdmr_base, tdmr.tdmr_size)
            .unwrap();
        m
    }

    fn page(&self) -> HostPhysAddr {
        self.module.alloc_page().unwrap()
    }

    fn create_td(&mut self) -> TdrPage {
        let tdr = TdrPage::new(self.page()).unwrap();
        // SAFETY: model memory.
        unsafe { self.host.mng_create(tdr, Hkid::new(33)) }.unwrap();
        self.host.mng_key_config(tdr).unwrap();
        for _ in 0..6 {
            let tdcx = TdcxPage::new(self.page()).unwrap();
            // SAFETY: model memory.
            unsafe { self.host.mng_addcx(tdcx, tdr) }.unwrap();
        }
        tdr
    }

    fn init_td(
        &mut self,
        tdr: TdrPage,
        params: &TdParams,
    ) -> tdxcall::host::DetailedResult<(), CpuidLeaf> {
        let page = self.page();
        self.module.write_td_params(page, params).unwrap();
        self.host.mng_init(tdr, page)
    }
}

fn params() -> TdParams {
    TdParams {
        attributes: Attributes::SEPT_VE_DISABLE,
        xfam: Xfam::X87 | Xfam::SSE,
        max_vcpus: 1,
        eptp_controls: 6 | 3 << 3,
        tsc_frequency: 100,
        ..TdParams::default()
    }
}

const VERSIONS: [(ModuleVersion, usize); 4] = [
    (cpuid::V1_5_01, 12),
    (cpuid::V1_5_05, 18),
    (cpuid::V1_5_32, 28),
    (cpuid::V2_0_18, 28),
];

#[test]
fn sys_rd_serves_each_versions_cpuid_config_leaves_and_values() {
    for (version, count) in VERSIONS {
        let mut m = Machine::new(version);
        let table = cpuid::table(version).unwrap();
        let configs: Vec<_> = m
            .host
            .cpuid_configs()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(configs.len(), count, "{version}");
        for (i, config) in configs.iter().enumerate() {
            assert_eq!(
                config.leaf, table.configurable[i].leaf,
                "{version} entry {i}"
            );
            let expected = cpuid::config_value(table, &SYNTHETIC_PLATFORM, i).unwrap();
            assert_eq!(config.values, expected, "{version} entry {i}");
        }
    }
}

#[test]
fn default_config_models_the_newest_cpuid_table() {
    assert_eq!(Config::default().cpuid_version, cpuid::V2_0_18);
}

#[test]
fn mng_init_refuses_a_bit_outside_config_direct_and_allow_direct() {
    for (version, _) in VERSIONS {
        let mut m = Machine::new(version);
        let table = cpuid::table(version).unwrap();
        let tdr = m.create_td();
        // 7.2.EAX has neither CONFIG_DIRECT nor ALLOW_DIRECT bits in any version.
        let slot = table
            .configurable
            .iter()
            .position(|c| {
                c.leaf
                    == CpuidLeaf {
                        leaf: 7,
                        subleaf: 2,
                    }
            })
            .unwrap();
        let mut bad = params();
        bad.cpuid_config[slot].eax = 1;
        let error = m.init_td(tdr, &bad).unwrap_err();
        assert_eq!(
            error.status().map(|s| s.raw()),
            Some(0xC000_0100_0000_0045),
            "{version}"
        );
        let leaf = error.details.expect("RCX names the leaf");
        assert_eq!((leaf.leaf, leaf.subleaf), (7, 2), "{version}");
        // The same TD then initializes with a valid configuration.
        m.init_td(tdr, &params()).unwrap();
    }
}

#[test]
fn mng_rd_reads_cpuid_values_as_computed_by_tdxcall_cpuid() {
    for (version, _) in VERSIONS {
        let mut m = Machine::new(version);
        let table = cpuid::table(version).unwrap();
        let tdr = m.create_td();
        let mut p = params();
        p.cpuid_config[0].ecx = 1 << 3; // keep MONITOR
        m.init_td(tdr, &p).unwrap();
        let expected =
            cpuid::mng_init(table, &SYNTHETIC_PLATFORM, &cpuid::Platform::default(), &p).unwrap();
        let mut read = 0;
        for (i, entry) in table.lookup.iter().enumerate() {
            let Some(id) = cpuid_values_field_id(entry.leaf) else {
                continue;
            };
            let low = m.host.mng_rd(tdr, FieldId::from_raw(id)).unwrap();
            let high = m.host.mng_rd(tdr, FieldId::from_raw(id + 1)).unwrap();
            let v = CpuidValues::from_u64_pair(low, high);
            assert_eq!(v, expected.values()[i], "{version} {:?}", entry.leaf);
            read += 1;
        }
        // Every entry below leaf 0x80 or in 0x80000000-0x8000007F is addressable.
        assert_eq!(read, table.lookup.len(), "{version}");
        // Leaf 0 reads the fixed maximum base leaf; leaf 1 ECX kept MONITOR (bit 3).
        let leaf0 = cpuid_values_field_id(CpuidLeaf {
            leaf: 0,
            subleaf: u32::MAX,
        })
        .unwrap();
        assert_eq!(
            m.host.mng_rd(tdr, FieldId::from_raw(leaf0)).unwrap() as u32,
            0x23
        );
        let leaf1 = cpuid_values_field_id(CpuidLeaf {
            leaf: 1,
            subleaf: u32::MAX,
        })
        .unwrap();
        let ecx = m.host.mng_rd(tdr, FieldId::from_raw(leaf1 + 1)).unwrap() as u32;
        assert_eq!(ecx & (1 << 3), 1 << 3);
        // A leaf the table does not have.
        let none = cpuid_values_field_id(CpuidLeaf {
            leaf: 0x30,
            subleaf: u32::MAX,
        })
        .unwrap();
        assert_eq!(
            m.host
                .mng_rd(tdr, FieldId::from_raw(none))
                .unwrap_err()
                .status()
                .map(|s| s.raw()),
            Some(StatusCode::MetadataFieldIdIncorrect.status().raw())
        );
    }
}

#[test]
fn guest_writes_of_td_ctls_and_paravirt_ctls_take_effect_on_its_cpuid() {
    use tdxcall::cpuid::{GuestCpuid, ParavirtBit, TdCtls};
    use tdxcall::host::vp::{TdExit, VpEnterFlags};
    let mut m = module_common::Machine::new(); // default: 2.0.18 CPUID
    let (tdr, tdvpr, _) = m.built_td(40);
    m.host.mr_finalize(tdr).unwrap();
    // Before the guest opts in: leaf 6 is #VE, MCA reads 1.
    assert_eq!(m.module.guest_cpuid(tdvpr, 6, 0), Some(GuestCpuid::Ve));
    let Some(GuestCpuid::Value { values, .. }) = m.module.guest_cpuid(tdvpr, 1, 0) else {
        panic!("leaf 1 answers")
    };
    assert_eq!(values.edx >> 14 & 1, 1);

    let vcpu = m.module.virtual_cpu(tdvpr);
    let guest = thread::spawn(move || {
        let _vcpu = emu::install(vcpu);
        let mut guest = tdxcall::guest::Guest::native();
        let td_ctls = FieldId::from_raw(0x9110_0003_0000_0017);
        let paravirt = FieldId::from_raw(0x9110_0003_0000_0022);
        // SAFETY: TD controls of the model's TD; nothing depends on them but CPUID.
        unsafe {
            guest
                .vm_wr(td_ctls, TdCtls::REDUCE_VE, TdCtls::REDUCE_VE)
                .unwrap();
            guest
                .vm_wr(paravirt, ParavirtBit::Mca.mask(), ParavirtBit::Mca.mask())
                .unwrap();
            // Bits above 11 are not writable.
            guest.vm_wr(paravirt, 1 << 12, 1 << 12).unwrap_err()
        }
    });
    let mut regs = tdxcall::Regs::ZERO;
    // SAFETY: the software module answers.
    let exit = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }.unwrap();
    assert!(
        matches!(exit, TdExit::Async(_)),
        "the guest thread ended: {exit:?}"
    );
    let refused = guest.join().unwrap();
    assert_eq!(
        refused.status(),
        Some(StatusCode::MetadataWrMaskNotValid.status())
    );
    // REDUCE_VE: leaf 6 answers (ARAT); MCA follows the host's configuration (0) since the
    // guest took MCA over.
    let Some(GuestCpuid::Value { values, .. }) = m.module.guest_cpuid(tdvpr, 6, 0) else {
        panic!("REDUCE_VE set")
    };
    assert_eq!(values.eax, 0x4);
    let Some(GuestCpuid::Value { values, .. }) = m.module.guest_cpuid(tdvpr, 1, 0) else {
        panic!("leaf 1 answers")
    };
    assert_eq!(values.edx >> 14 & 1, 0);
}

/// The guest's #VE handler: asks the module what happened, asks the VMM for the CPUID
/// values with TDG.VP.VMCALL Instruction.CPUID, and resumes after the `cpuid`.
extern "C" fn ve_handler(frame: &mut tdxcall::module::VeFrame) {
    let mut guest = tdxcall::guest::Guest::native();
    let info = guest.vp_veinfo_get().expect("a pending #VE");
    assert_eq!(info.exit_reason.raw(), 10, "exit reason CPUID");
    assert_eq!(info.instruction_length, 2);
    let answer = guest
        .tdvmcall_cpuid(frame.rax as u32, frame.rcx as u32)
        .expect("the VMM answers");
    frame.rax = answer.eax.into();
    frame.rbx = answer.ebx.into();
    frame.rcx = answer.ecx.into();
    frame.rdx = answer.edx.into();
    frame.rip += tdxcall::module::VeFrame::CPUID_LEN;
}

#[test]
fn a_guest_threads_cpuid_instruction_gets_the_tds_value_or_a_ve() {
    use std::arch::x86_64::__cpuid_count;
    use tdxcall::cpuid::GuestCpuid;
    use tdxcall::host::vp::{TdExit, VpEnterFlags};
    let mut m = module_common::Machine::new();
    let (tdr, tdvpr, _) = m.built_td(40);
    m.host.mr_finalize(tdr).unwrap();
    let expected = |leaf| match m.module.guest_cpuid(tdvpr, leaf, 0) {
        Some(GuestCpuid::Value { values, .. }) => values,
        other => panic!("{other:?}"),
    };
    let (leaf0, leaf7) = (expected(0), expected(7));
    assert_eq!(m.module.guest_cpuid(tdvpr, 6, 0), Some(GuestCpuid::Ve));

    let module = m.module.clone();
    let guest = thread::spawn(move || {
        let _vcpu = emu::install(module.virtual_cpu(tdvpr));
        let trap = match module.virtual_cpu(tdvpr).trap_cpuid(Some(ve_handler)) {
            Ok(trap) => trap,
            Err(unavailable) => {
                eprintln!("skipped: {unavailable}");
                return None;
            }
        };
        assert!(tdxcall::module::cpuid_faulting_enabled());
        // A vector register live across the #VE comes back intact.
        let marker = std::hint::black_box(f64::from(0x1234_5678u32));
        // SAFETY: CPUID exists on every x86-64 CPU; here it faults and the model answers.
        #[allow(unused_unsafe)]
        let (r0, r7, r6, hv) = unsafe {
            (
                __cpuid_count(0, 0),
                __cpuid_count(7, 0),
                __cpuid_count(6, 0), // #VE: the VMM answers through the handler
                __cpuid_count(0x4000_0000, 0), // #VE
            )
        };
        let marker_ok = std::hint::black_box(marker) == f64::from(0x1234_5678u32);
        drop(trap);
        assert!(!tdxcall::module::cpuid_faulting_enabled());
        Some((r0, r7, r6, hv, marker_ok))
    });
    // The VMM: answer Instruction.CPUID exits until the guest thread ends.
    let mut vmm_answers = 0;
    let mut regs = tdxcall::Regs::ZERO;
    loop {
        // SAFETY: the software module answers.
        let exit = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }.unwrap();
        match exit {
            TdExit::Async(_) => break,
            TdExit::Tdvmcall(_) => {
                assert_eq!(regs.r11, 10, "Instruction.CPUID");
                let leaf = regs.r12;
                regs = tdxcall::Regs {
                    r10: 0,
                    r12: leaf + 0x100,
                    r13: 0xBBBB,
                    r14: 0xCCCC,
                    r15: 0xDDDD,
                    ..tdxcall::Regs::ZERO
                };
                vmm_answers += 1;
            }
        }
    }
    let Some((r0, r7, r6, hv, marker_ok)) = guest.join().unwrap() else {
        return; // CPUID faulting unavailable: reported above
    };
    assert_eq!(
        (r0.eax, r0.ebx, r0.ecx, r0.edx),
        (leaf0.eax, leaf0.ebx, leaf0.ecx, leaf0.edx)
    );
    assert_eq!(
        (r7.eax, r7.ebx, r7.ecx, r7.edx),
        (leaf7.eax, leaf7.ebx, leaf7.ecx, leaf7.edx)
    );
    assert_eq!(
        (r6.eax, r6.ebx, r6.ecx, r6.edx),
        (0x106, 0xBBBB, 0xCCCC, 0xDDDD)
    );
    assert_eq!(hv.eax, 0x4000_0100);
    assert!(marker_ok);
    assert_eq!(vmm_answers, 2);
}

#[test]
fn the_modules_guest_cpuid_equals_the_librarys_guest_view_for_every_leaf() {
    use tdxcall::abi::TdvprPage;
    for (version, _) in VERSIONS {
        let mut m = Machine::new(version);
        let table = cpuid::table(version).unwrap();
        let tdr = m.create_td();
        let mut p = params();
        p.xfam = Xfam::from_bits_retain(0xE7);
        p.cpuid_config[0].ecx = 1 << 3 | 1 << 28; // MONITOR, AVX
        m.init_td(tdr, &p).unwrap();
        let tdvpr = TdvprPage::new(m.page()).unwrap();
        // SAFETY: model memory.
        unsafe { m.host.vp_create(tdvpr, tdr) }.unwrap();
        let library =
            cpuid::mng_init(table, &SYNTHETIC_PLATFORM, &cpuid::Platform::default(), &p).unwrap();
        let controls = cpuid::GuestControls::default();
        let leaves = table
            .lookup
            .iter()
            .map(|e| (e.leaf.leaf, e.leaf.subleaf & 0xFF))
            .chain([(0x9, 0), (0x4000_0000, 0), (0x30, 0), (0x8000_0010, 0)]);
        for (leaf, subleaf) in leaves {
            assert_eq!(
                m.module.guest_cpuid(tdvpr, leaf, subleaf),
                Some(library.guest_view(leaf, subleaf, &controls)),
                "{version} {leaf:#x}.{subleaf:#x}"
            );
        }
    }
}
