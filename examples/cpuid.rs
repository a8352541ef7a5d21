//! What CPUID a TD gets, per TDX module version, computed from the module's tables and
//! rules (`tdxcall::cpuid`) over the synthetic platform's native CPUID.
//!
//! ```text
//! cargo run --example cpuid -- --module 1.5.05 --xfam 0xe7 --attributes 0x10000000 \
//!     [--config LEAF[.SUB]=EAX,EBX,ECX,EDX]... [--reduce-ve] [--paravirt MASK] \
//!     [--enum-topology] [--virt-cpuid2] [--explain LEAF[.SUB]]... [--native]
//! ```
//!
//! Prints one line per leaf/subleaf the module knows, as the guest sees it (`#VE` where the
//! guest gets a virtualization exception; dynamic bits read 0), then, for each `--explain`,
//! the class of every bit. A CPUID_CONFIG the module would refuse prints the module's status
//! and RCX and exits 1. `--native` uses this machine's `cpuid` instead of the synthetic
//! platform (which describes no real part).
//!
//! `--build` (feature `software-module`) builds the TD on the software module instead:
//! TDH.MNG.INIT checks the configuration (its status and RCX are printed on refusal), a guest
//! thread writes TD_CTLS and FEATURE_PARAVIRT_CTLS with TDG.VM.WR, and each line is the
//! module's answer to that guest's CPUID (`SoftwareModule::guest_cpuid`). The output is the
//! same as without `--build`: the library and the module compute it from the same data.

use std::process::ExitCode;
use tdxcall::abi::td_params::{CpuidValues, TdParams};
use tdxcall::abi::{Attributes, Xfam};
use tdxcall::cpuid::{
    self, classify, mng_init, CpuidTable, GuestControls, GuestCpuid, LiveCpuid, NativeCpuid,
    Platform, Reg, TdCtls, NO_SUBLEAF, SYNTHETIC_PLATFORM,
};

struct Args {
    table: &'static CpuidTable,
    xfam: u64,
    attributes: u64,
    config: Vec<(u32, u32, CpuidValues)>,
    controls: GuestControls,
    explain: Vec<(u32, u32)>,
    native: bool,
    build: bool,
}

fn number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => t.replace('_', "").parse(),
    };
    parsed.map_err(|_| format!("not a number: {text}"))
}

fn number32(text: &str) -> Result<u32, String> {
    u32::try_from(number(text)?).map_err(|_| format!("does not fit in 32 bits: {text}"))
}

fn leaf_subleaf(text: &str) -> Result<(u32, u32), String> {
    match text.split_once('.') {
        Some((leaf, sub)) => Ok((number32(leaf)?, number32(sub)?)),
        None => Ok((number32(text)?, NO_SUBLEAF)),
    }
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        table: cpuid::newest(),
        xfam: 0x3,
        attributes: 0,
        config: Vec::new(),
        controls: GuestControls::default(),
        explain: Vec::new(),
        native: false,
        build: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--module" => {
                let text = value("--module")?;
                let version =
                    cpuid::parse_version(&text).ok_or(format!("not a version: {text}"))?;
                args.table = cpuid::table(version).ok_or(format!(
                    "module {version} is not modelled (modelled: {})",
                    cpuid::TABLES
                        .iter()
                        .map(|t| t.version.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))?;
            }
            "--xfam" => args.xfam = number(&value("--xfam")?)?,
            "--attributes" => args.attributes = number(&value("--attributes")?)?,
            "--config" => {
                let text = value("--config")?;
                let (target, regs) = text
                    .split_once('=')
                    .ok_or(format!("--config wants LEAF[.SUB]=EAX,EBX,ECX,EDX: {text}"))?;
                let (leaf, subleaf) = leaf_subleaf(target)?;
                let regs: Vec<u32> = regs.split(',').map(number32).collect::<Result<_, _>>()?;
                let [eax, ebx, ecx, edx] = regs[..] else {
                    return Err(format!("--config wants four registers: {text}"));
                };
                args.config
                    .push((leaf, subleaf, CpuidValues { eax, ebx, ecx, edx }));
            }
            "--reduce-ve" => args.controls.td_ctls |= TdCtls::REDUCE_VE,
            "--enum-topology" => args.controls.td_ctls |= TdCtls::ENUM_TOPOLOGY,
            "--virt-cpuid2" => args.controls.td_ctls |= TdCtls::VIRT_CPUID2,
            "--paravirt" => args.controls.paravirt = number(&value("--paravirt")?)?,
            "--explain" => args.explain.push(leaf_subleaf(&value("--explain")?)?),
            "--native" => args.native = true,
            "--build" => args.build = true,
            "--help" | "-h" => {
                return Err("usage: cpuid --module VER --xfam HEX --attributes HEX \
                            [--config LEAF[.SUB]=EAX,EBX,ECX,EDX]... [--reduce-ve] \
                            [--paravirt MASK] [--enum-topology] [--virt-cpuid2] \
                            [--explain LEAF[.SUB]]... [--native] [--build]"
                    .into())
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(args)
}

fn run(args: &Args, native: &impl NativeCpuid) -> Result<(), ExitCode> {
    let table = args.table;
    let mut params = TdParams {
        attributes: Attributes::from_bits_retain(args.attributes),
        xfam: Xfam::from_bits_retain(args.xfam),
        tsc_frequency: 100,
        ..TdParams::default()
    };
    for &(leaf, subleaf, values) in &args.config {
        let Some(slot) = table
            .configurable
            .iter()
            .position(|c| c.leaf.leaf == leaf && c.leaf.subleaf == subleaf)
        else {
            eprintln!(
                "error: leaf {leaf:#x} subleaf {subleaf:#x} is not in module {}'s CPUID_CONFIG_LEAVES",
                table.version
            );
            return Err(ExitCode::from(2));
        };
        params.cpuid_config[slot] = values;
    }
    let view: Box<dyn Fn(u32, u32) -> GuestCpuid> = if args.build {
        build::on_software_module(args, &params)?
    } else {
        let td = match mng_init(table, native, &Platform::default(), &params) {
            Ok(td) => td,
            Err(error) => {
                println!("{error}");
                return Err(ExitCode::from(1));
            }
        };
        let controls = args.controls;
        Box::new(move |leaf, subleaf| td.guest_view(leaf, subleaf, &controls))
    };

    // Every lookup entry, and (2.0) the fixed-0 bitmap's leaves, in leaf order.
    let mut rows: Vec<(u32, u32)> = table
        .lookup
        .iter()
        .map(|e| (e.leaf.leaf, e.leaf.subleaf))
        .collect();
    for leaf in (0..52).chain(0x8000_0000..0x8000_000C) {
        if table.in_fixed0_bitmap(leaf) && table.find(leaf, 0).is_none() {
            rows.push((leaf, NO_SUBLEAF));
        }
    }
    rows.sort_by_key(|&(leaf, subleaf)| (leaf, subleaf));
    for (leaf, subleaf) in rows {
        let query = if subleaf == NO_SUBLEAF { 0 } else { subleaf };
        match view(leaf, query) {
            GuestCpuid::Ve => println!("{leaf:#010x}.{subleaf:#010x}: #VE"),
            GuestCpuid::Value { values: v, .. } => println!(
                "{leaf:#010x}.{subleaf:#010x}: eax={:#010x} ebx={:#010x} ecx={:#010x} edx={:#010x}",
                v.eax, v.ebx, v.ecx, v.edx
            ),
        }
    }
    for &(leaf, subleaf) in &args.explain {
        let query = if subleaf == NO_SUBLEAF { 0 } else { subleaf };
        println!(
            "explain {leaf:#010x}.{subleaf:#010x} (module {}):",
            table.version
        );
        for reg in Reg::ALL {
            for bit in (0..32).rev() {
                let class = classify(table, leaf, query, reg, bit);
                println!("  {}[{bit:2}]: {class}", reg.name());
            }
        }
    }
    Ok(())
}

#[cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]
mod build {
    use super::Args;
    use std::process::ExitCode;
    use tdxcall::abi::td_params::TdParams;
    use tdxcall::abi::{FieldId, Hkid, TdcxPage, TdrPage, TdvprPage};
    use tdxcall::cpuid::GuestCpuid;
    use tdxcall::emu;
    use tdxcall::host::vp::{TdExit, VpEnterFlags};
    use tdxcall::host::Host;
    use tdxcall::module::{Config, SoftwareModule};

    /// Builds the TD on a software module with `args`' CPUID version and returns its guest's
    /// CPUID as the module answers it.
    pub fn on_software_module(
        args: &Args,
        params: &TdParams,
    ) -> Result<Box<dyn Fn(u32, u32) -> GuestCpuid>, ExitCode> {
        let module = SoftwareModule::new(
            Config::default()
                .with_logical_processors(1)
                .with_cpuid_version(args.table.version),
        );
        let lp0 = emu::install(module.logical_processor(0));
        let mut host = Host::native();
        let page = || module.alloc_page().expect("model memory");
        host.sys_init().expect("SYS.INIT");
        host.sys_lp_init().expect("LP.INIT");
        let (info, pointers) = (page(), page());
        module
            .write_tdmr_info(info, &module.tdmr())
            .expect("TDMR_INFO");
        module
            .write_u64s(pointers, &[info.raw()])
            .expect("pointers");
        host.sys_config(pointers, 1, Hkid::new(32))
            .expect("SYS.CONFIG");
        host.sys_key_config().expect("SYS.KEY.CONFIG");
        let tdmr = module.tdmr();
        host.sys_tdmr_init(tdmr.tdmr_base, tdmr.tdmr_size)
            .expect("TDMR.INIT");
        let tdr = TdrPage::new(page()).unwrap();
        // SAFETY: pages of the model's memory.
        unsafe { host.mng_create(tdr, Hkid::new(33)) }.expect("MNG.CREATE");
        host.mng_key_config(tdr).expect("MNG.KEY.CONFIG");
        for _ in 0..6 {
            // SAFETY: as above.
            unsafe { host.mng_addcx(TdcxPage::new(page()).unwrap(), tdr) }.expect("ADDCX");
        }
        let params = TdParams {
            max_vcpus: 1,
            eptp_controls: 6 | 3 << 3,
            ..*params
        };
        let params_page = page();
        module
            .write_td_params(params_page, &params)
            .expect("TD_PARAMS");
        if let Err(error) = host.mng_init(tdr, params_page) {
            let status = error.status().map_or(0, |s| s.raw());
            let (leaf, subleaf) = error.details.map_or((0, 0), |l| (l.leaf, l.subleaf));
            println!("error: 0x{status:016X} leaf={leaf:#x} subleaf={subleaf:#x}");
            return Err(ExitCode::from(1));
        }
        let tdvpr = TdvprPage::new(page()).unwrap();
        // SAFETY: as above.
        unsafe { host.vp_create(tdvpr, tdr) }.expect("VP.CREATE");
        for _ in 0..5 {
            // SAFETY: as above.
            unsafe { host.vp_addcx(TdcxPage::new(page()).unwrap(), tdvpr) }.expect("VP.ADDCX");
        }
        host.vp_init(tdvpr, 0).expect("VP.INIT");
        host.mr_finalize(tdr).expect("MR.FINALIZE");
        // The guest opts in with TDG.VM.WR, then its program ends.
        let (td_ctls, paravirt) = (args.controls.td_ctls, args.controls.paravirt);
        let vcpu = module.virtual_cpu(tdvpr);
        let guest = std::thread::spawn(move || {
            let _vcpu = emu::install(vcpu);
            let mut guest = tdxcall::guest::Guest::native();
            for (id, value) in [
                (0x9110_0003_0000_0017u64, td_ctls),
                (0x9110_0003_0000_0022, paravirt),
            ] {
                if value != 0 {
                    // SAFETY: TD controls of the model's TD; only its CPUID depends on them.
                    unsafe { guest.vm_wr(FieldId::from_raw(id), value, value) }
                        .map_err(|e| format!("TDG.VM.WR {id:#x}: {e}"))?;
                }
            }
            Ok::<(), String>(())
        });
        let mut regs = tdxcall::Regs::ZERO;
        // SAFETY: the software module answers.
        let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) };
        assert!(
            matches!(exit, Ok(TdExit::Async(_))),
            "the guest program ended: {exit:?}"
        );
        if let Err(message) = guest.join().expect("guest thread") {
            eprintln!("error: {message}");
            return Err(ExitCode::from(2));
        }
        drop(lp0);
        Ok(Box::new(move |leaf, subleaf| {
            module
                .guest_cpuid(tdvpr, leaf, subleaf)
                .expect("an initialized vCPU")
        }))
    }
}

#[cfg(not(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
)))]
mod build {
    use super::Args;
    use std::process::ExitCode;
    use tdxcall::abi::td_params::TdParams;
    use tdxcall::cpuid::GuestCpuid;

    pub fn on_software_module(
        _args: &Args,
        _params: &TdParams,
    ) -> Result<Box<dyn Fn(u32, u32) -> GuestCpuid>, ExitCode> {
        eprintln!("--build needs the software module: --features software-module (Linux x86-64)");
        Err(ExitCode::from(2))
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let result = if args.native {
        run(&args, &LiveCpuid)
    } else {
        run(&args, &SYNTHETIC_PLATFORM)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
