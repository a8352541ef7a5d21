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
//! platform (which describes no real part). The example evaluates only; it builds no TD.

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
            "--help" | "-h" => {
                return Err("usage: cpuid --module VER --xfam HEX --attributes HEX \
                            [--config LEAF[.SUB]=EAX,EBX,ECX,EDX]... [--reduce-ve] \
                            [--paravirt MASK] [--enum-topology] [--virt-cpuid2] \
                            [--explain LEAF[.SUB]]... [--native]"
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
    let td = match mng_init(table, native, &Platform::default(), &params) {
        Ok(td) => td,
        Err(error) => {
            println!("{error}");
            return Err(ExitCode::from(1));
        }
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
        match td.guest_view(leaf, query, &args.controls) {
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
