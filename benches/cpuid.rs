//! CPUID virtualization from data (`tdxcall::cpuid`): what answering a guest CPUID costs.
//!
//! - `guest_view/leaf_7_0`: one leaf from a TD's state after TDH.MNG.INIT (lookup, the
//!   #VE-reduction bits, the dynamic mask), 2.0.18 with REDUCE_VE set;
//! - `guest_view/not_in_table`: a leaf outside the table (the whole lookup is scanned);
//! - `classify/bit`: one bit's class;
//! - `mng_init/2.0.18`: TDH.MNG.INIT's whole CPUID composition (79 entries) over the
//!   synthetic platform.
//!
//! With feature `software-module`, where CPUID faulting is available
//! (`arch_prctl(ARCH_SET_CPUID)`), also:
//!
//! - `trapped/bare_sigsegv_round_trip`: `cpuid` faulting into a bare SIGSEGV handler that
//!   writes four constants and skips the instruction;
//! - `trapped/guest_cpuid_leaf_0`: the same `cpuid` on a thread trapped by
//!   `VirtualCpu::trap_cpuid`, answered by the software module through the crate's handler
//!   (target: at most 1.2x the bare round trip).
//!
//! Where faulting is unavailable the two are skipped with a message.
//!
//! `cargo bench -p tdxcall-benches --bench cpuid`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tdxcall::abi::td_params::TdParams;
use tdxcall::abi::Xfam;
use tdxcall::cpuid::{self, GuestControls, GuestCpuid, Platform, Reg, TdCtls, SYNTHETIC_PLATFORM};

fn cpuid_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpuid");
    let table = cpuid::table(cpuid::V2_0_18).expect("modelled");
    let params = TdParams {
        xfam: Xfam::from_bits_retain(0xE7),
        tsc_frequency: 100,
        ..TdParams::default()
    };
    let td = cpuid::mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &params)
        .expect("MNG.INIT");
    let controls = GuestControls {
        td_ctls: TdCtls::REDUCE_VE,
        ..GuestControls::default()
    };
    assert!(matches!(
        td.guest_view(7, 0, &controls),
        GuestCpuid::Value { .. }
    ));
    group.bench_function("guest_view/leaf_7_0", |b| {
        b.iter(|| td.guest_view(black_box(7), black_box(0), black_box(&controls)))
    });
    group.bench_function("guest_view/not_in_table", |b| {
        b.iter(|| td.guest_view(black_box(0x18), black_box(20), black_box(&controls)))
    });
    group.bench_function("classify/bit", |b| {
        b.iter(|| cpuid::classify(table, black_box(7), black_box(0), Reg::Ebx, black_box(16)))
    });
    group.bench_function("mng_init/2.0.18", |b| {
        b.iter(|| {
            cpuid::mng_init(
                table,
                &SYNTHETIC_PLATFORM,
                &Platform::default(),
                black_box(&params),
            )
        })
    });
    group.finish();
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod trapped {
    use criterion::Criterion;
    use std::hint::black_box;
    use tdxcall::abi::td_params::TdParams;
    use tdxcall::abi::{Attributes, Hkid, TdcxPage, TdrPage, TdvprPage, Xfam};
    use tdxcall::emu;
    use tdxcall::host::Host;
    use tdxcall::module::{Config, SoftwareModule};

    const ARCH_SET_CPUID: libc::c_int = 0x1012;

    extern "C" fn bare_handler(
        _signal: libc::c_int,
        _info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler.
        let gregs = unsafe { &mut (*(context as *mut libc::ucontext_t)).uc_mcontext.gregs };
        gregs[libc::REG_RAX as usize] = 0x23;
        gregs[libc::REG_RBX as usize] = 1;
        gregs[libc::REG_RCX as usize] = 2;
        gregs[libc::REG_RDX as usize] = 3;
        gregs[libc::REG_RIP as usize] += 2;
    }

    fn cpuid0() -> u32 {
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU; here it faults and a handler answers.
        unsafe { core::arch::x86_64::__cpuid_count(black_box(0), 0) }.eax
    }

    /// A module with one initialized TD and vCPU; this thread is LP 0 (and stays so).
    fn build() -> (
        SoftwareModule,
        emu::Installed<tdxcall::module::LogicalProcessor>,
        TdvprPage,
    ) {
        let module = SoftwareModule::new(Config::default().with_logical_processors(1));
        let lp0 = emu::install(module.logical_processor(0));
        let mut host = Host::native();
        let page = || module.alloc_page().unwrap();
        host.sys_init().unwrap();
        host.sys_lp_init().unwrap();
        let (info, pointers) = (page(), page());
        module.write_tdmr_info(info, &module.tdmr()).unwrap();
        module.write_u64s(pointers, &[info.raw()]).unwrap();
        host.sys_config(pointers, 1, Hkid::new(32)).unwrap();
        host.sys_key_config().unwrap();
        let tdmr = module.tdmr();
        host.sys_tdmr_init(tdmr.tdmr_base, tdmr.tdmr_size).unwrap();
        let tdr = TdrPage::new(page()).unwrap();
        // SAFETY: model memory.
        unsafe { host.mng_create(tdr, Hkid::new(33)) }.unwrap();
        host.mng_key_config(tdr).unwrap();
        for _ in 0..6 {
            // SAFETY: model memory.
            unsafe { host.mng_addcx(TdcxPage::new(page()).unwrap(), tdr) }.unwrap();
        }
        let params = TdParams {
            attributes: Attributes::SEPT_VE_DISABLE,
            xfam: Xfam::X87 | Xfam::SSE,
            max_vcpus: 1,
            eptp_controls: 6 | 3 << 3,
            tsc_frequency: 100,
            ..TdParams::default()
        };
        let params_page = page();
        module.write_td_params(params_page, &params).unwrap();
        host.mng_init(tdr, params_page).unwrap();
        let tdvpr = TdvprPage::new(page()).unwrap();
        // SAFETY: model memory.
        unsafe { host.vp_create(tdvpr, tdr) }.unwrap();
        (module, lp0, tdvpr)
    }

    pub fn bench(c: &mut Criterion) {
        let (module, _lp0, tdvpr) = build();
        let trap = match module.virtual_cpu(tdvpr).trap_cpuid(None) {
            Ok(trap) => trap,
            Err(unavailable) => {
                eprintln!("cpuid/trapped skipped: {unavailable}");
                return;
            }
        };
        let mut group = c.benchmark_group("cpuid/trapped");
        assert_eq!(cpuid0(), 0x23);
        group.bench_function("guest_cpuid_leaf_0", |b| b.iter(cpuid0));
        drop(trap);

        // The bare baseline: the crate's SIGSEGV disposition swapped out for the run.
        // SAFETY: a zeroed sigaction is valid; the handler only edits the signal context;
        // arch_prctl only changes this thread's CPUID-faulting flag.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = bare_handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            let mut previous: libc::sigaction = core::mem::zeroed();
            assert_eq!(libc::sigaction(libc::SIGSEGV, &action, &mut previous), 0);
            libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0);
            assert_eq!(cpuid0(), 0x23);
            group.bench_function("bare_sigsegv_round_trip", |b| b.iter(cpuid0));
            libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 1);
            assert_eq!(
                libc::sigaction(libc::SIGSEGV, &previous, core::ptr::null_mut()),
                0
            );
        }
        group.finish();
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion_group!(benches, cpuid_bench, trapped::bench);
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
criterion_group!(benches, cpuid_bench);
criterion_main!(benches);
