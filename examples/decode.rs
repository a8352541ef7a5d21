//! Decodes TDX statuses and metadata field IDs for people.
//!
//! ```text
//! cargo run --example decode -- 0xC000010000000001
//! cargo run --example decode -- 'SEAMCALL (0x0000000000000015) failed: 0xc000010000000000'
//! cargo run --example decode -- c000_0b0d_0000_0001 TDX_PAGE_ALREADY_ACCEPTED
//! cargo run --example decode -- --module 1.0.3 0xC000090100000000
//! cargo run --example decode -- --module 2.0.08 0xC0000F0100000000
//! cargo run --example decode -- --tdvmcall 0x8000000000000003
//! cargo run --example decode -- --field 0x9100000100000008
//! dmesg | grep SEAMCALL | cargo run --example decode -- -
//! ```
//!
//! Exit status: 0 when every input decoded, 1 when some input could not be read (the others
//! are still decoded), 2 for a usage error.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use tdxcall::abi::FieldId;
use tdxcall::leaf::{Leaf, ModuleVersion, Side, LEAF_NUMBER_MASK, LEAF_VERSION_SHIFT};
use tdxcall::status::{
    class_name, parse_hex_u64, parse_status_text, DetailsKind, LoggedLeaf, Origin, ParsedStatus,
    Release, Status, StatusKind, TdvmcallStatus,
};

const USAGE: &str = "\
usage: decode [--module <major.minor.update>] <status>...
       decode --tdvmcall <r10 value>...
       decode --field <field id>...
       decode -          (read statuses or log lines from standard input, one per line)

A status is hex (with or without 0x, underscores allowed), a status name such as
TDX_OPERAND_INVALID, or a kernel log line such as
'SEAMCALL (0x0000000000000015) failed: 0xc000010000000000' (quoted, or as the only
arguments). --module decodes with the codes of that TDX module release (1.0.3, 1.5.01,
1.5.05, 1.5.06, 1.5.28, 1.5.32, 2.0.08, 2.0.18 were read; another version is decoded with
the nearest older read one, and says so); every status whose code means something else, or
nothing, in some read release is followed by what it means in each.";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Status,
    Tdvmcall,
    Field,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match run(&args, &mut out) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        // A closed pipe (`decode ... | head`) is not worth a message.
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(Failure::Output(error)) => {
            eprintln!("error: cannot write output: {error}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Output(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Output(error)
    }
}

/// Decodes every input; `Ok(false)` when some input could not be read.
fn run(args: &[String], out: &mut impl Write) -> Result<bool, Failure> {
    let mut mode = Mode::Status;
    let mut version = None;
    let mut inputs = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                writeln!(out, "{USAGE}")?;
                return Ok(true);
            }
            "--field" => mode = Mode::Field,
            "--tdvmcall" => mode = Mode::Tdvmcall,
            "--module" => {
                let text = rest
                    .next()
                    .ok_or_else(|| Failure::Usage("--module needs a version".into()))?;
                version = Some(parse_version(text).ok_or_else(|| {
                    Failure::Usage(format!("{text:?} is not a version like 1.5.05"))
                })?);
            }
            "-" => inputs.push(None),
            option if option.starts_with("--") => {
                return Err(Failure::Usage(format!("unknown option {option}")));
            }
            value => inputs.push(Some(value)),
        }
    }
    if inputs.is_empty() {
        return Err(Failure::Usage("nothing to decode".into()));
    }

    // A log line pasted without quotes arrives as several arguments: when they name a
    // SEAMCALL, a TDCALL or "failed", read them as one line.
    if mode == Mode::Status && inputs.len() > 1 && inputs.iter().all(Option::is_some) {
        let values: Vec<&str> = inputs.iter().flatten().copied().collect();
        let is_log_word = |value: &&str| {
            let word = value.trim_end_matches(':');
            ["SEAMCALL", "TDCALL", "failed"]
                .iter()
                .any(|log_word| word.eq_ignore_ascii_case(log_word))
        };
        if values.iter().any(is_log_word) {
            return decode_one(mode, version, &values.join(" "), out);
        }
    }

    let mut all_read = true;
    for input in inputs {
        match input {
            Some(text) => all_read &= decode_one(mode, version, text, out)?,
            None => {
                for line in io::stdin().lock().lines() {
                    let line = line.map_err(Failure::Output)?;
                    if !line.trim().is_empty() {
                        all_read &= decode_one(mode, version, &line, out)?;
                    }
                }
            }
        }
    }
    Ok(all_read)
}

fn parse_version(text: &str) -> Option<ModuleVersion> {
    let mut parts = text.split('.').map(|part| part.parse::<u8>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let update = parts.next().unwrap_or(Some(0))?;
    if parts.next().is_some() {
        return None;
    }
    Some(ModuleVersion {
        major,
        minor,
        update,
    })
}

/// Decodes one input; `Ok(false)` (after a message on stderr) when it cannot be read.
fn decode_one(
    mode: Mode,
    version: Option<ModuleVersion>,
    text: &str,
    out: &mut impl Write,
) -> Result<bool, Failure> {
    let result = match mode {
        Mode::Status => parse_status_text(text).map(|parsed| print_status(&parsed, version, out)),
        Mode::Tdvmcall => parse_hex_u64(text).map(|raw| print_tdvmcall(raw, out)),
        Mode::Field => FieldId::parse(text).map(|id| print_field(id, out)),
    };
    match result {
        Ok(written) => {
            written?;
            Ok(true)
        }
        Err(error) => {
            eprintln!("error: cannot read {text:?}: {error}");
            Ok(false)
        }
    }
}

/// The name of leaf `number` on `side`, from the crate's leaf table.
fn leaf_name(side: Side, number: u16) -> Option<&'static str> {
    Leaf::from_number(side, number).map(Leaf::spec_name)
}

/// The leaf a KVM-style name (`TDH_MEM_PAGE_ADD`, any case) stands for.
fn leaf_by_log_name(side: Side, name: &str) -> Option<Leaf> {
    Leaf::ALL.iter().copied().find(|leaf| {
        leaf.side() == side
            && leaf.spec_name().len() == name.len()
            && leaf
                .spec_name()
                .bytes()
                .zip(name.bytes())
                .all(|(spec, given)| {
                    spec.eq_ignore_ascii_case(&given) || (spec == b'.' && given == b'_')
                })
    })
}

fn print_status(
    parsed: &ParsedStatus<'_>,
    version: Option<ModuleVersion>,
    out: &mut impl Write,
) -> io::Result<()> {
    let status = parsed.status;
    let named = match version {
        Some(version) => status.named_for_version(version),
        None => status.named(),
    };
    match version {
        Some(version) => writeln!(out, "{}", status.display_for_version(version))?,
        None => writeln!(out, "{status}")?,
    }
    if let (Some(version), None, Some(newer)) = (version, named, status.named()) {
        writeln!(
            out,
            "  note:      not defined in module {version}; newer releases name it {newer}"
        )?;
    }
    if let Some(version) = version {
        if Release::exact(version).is_none() {
            writeln!(
                out,
                "  note:      module {version} was not read; decoded with the codes of {}",
                Release::for_version(version)
            )?;
        }
    }
    if let Some(refusal) = status.as_not_in_module() {
        writeln!(
            out,
            "  refused:   {refusal}; nothing ran (a Host or Guest that knows its module)"
        )?;
    }
    if !status.is_software() {
        // What the same bits 63:32 mean in each read release, when that is not the same
        // everywhere: another name, or nothing.
        let by_release: Vec<(Release, Option<&str>)> = Release::NEWEST_FIRST
            .into_iter()
            .rev()
            .map(|release| {
                let name = tdxcall::status::StatusCode::from_code_in(status.code(), release)
                    .map(|code| code.name());
                (release, name)
            })
            .collect();
        let first = by_release[0].1;
        if by_release.iter().any(|(_, name)| *name != first) {
            let cells: Vec<String> = by_release
                .iter()
                .map(|(release, name)| format!("{release} {}", name.unwrap_or("—")))
                .collect();
            writeln!(out, "  by module: {}", cells.join(" | "))?;
        }
    }

    if let Some(call) = parsed.call {
        let instruction = match call.side {
            Side::Host => "SEAMCALL",
            Side::Guest => "TDCALL",
        };
        match call.leaf {
            LoggedLeaf::Rax(rax) => {
                let number = (rax & LEAF_NUMBER_MASK) as u16;
                let leaf_version = (rax >> LEAF_VERSION_SHIFT) as u8;
                let name = leaf_name(call.side, number).unwrap_or("unknown leaf");
                write!(
                    out,
                    "  call:      {instruction} leaf {number} {name}, version {leaf_version}"
                )?;
                if rax >> 24 != 0 {
                    write!(out, " (reserved RAX bits {:#x} set)", rax & !0xFF_FFFF)?;
                }
                writeln!(out)?;
            }
            LoggedLeaf::Name(name) => match leaf_by_log_name(call.side, name) {
                Some(leaf) => writeln!(
                    out,
                    "  call:      {instruction} {} (leaf {})",
                    leaf.spec_name(),
                    leaf.number()
                )?,
                None => writeln!(
                    out,
                    "  call:      {instruction} {name} (not in the leaf table)"
                )?,
            },
        }
    }

    let kind = match status.kind() {
        StatusKind::Error if status.is_software() => {
            "error raised by the crate (a fault or VMfailInvalid): the module did not run"
        }
        StatusKind::Success => "success",
        StatusKind::Warning => "warning: done, with information (not an error)",
        StatusKind::NonRecoverable => "non-recoverable TD exit: the vCPU or TD cannot run again",
        StatusKind::Error if status.is_non_recoverable() => {
            "error, non-recoverable (retrying the same call cannot help)"
        }
        StatusKind::Error => "error, recoverable (retrying may help)",
    };
    writeln!(out, "  kind:      {kind}")?;
    writeln!(
        out,
        "  bits:      error {} | non-recoverable {} | fatal {} | host-recoverability hint {} | reserved 59:48 {:#05x}",
        u8::from(status.is_error()),
        u8::from(status.is_non_recoverable()),
        u8::from(status.is_fatal()),
        u8::from(status.host_recoverability_hint()),
        status.reserved_bits() >> 48
    )?;
    writeln!(
        out,
        "  class:     {:#04x} {}",
        status.class(),
        class_name(status.class()).unwrap_or("(unknown class)")
    )?;
    let details = match version {
        Some(version) => status.details_for_version(version),
        None => status.details(),
    };
    write!(
        out,
        "  details:   L1 {:#04x}, L2 {:#010x}",
        status.details_l1(),
        status.details_l2()
    )?;
    if !details.is_empty() && details.kind() != DetailsKind::None {
        write!(out, ": {details}")?;
    }
    writeln!(out)?;
    if let Some(code) = named {
        let origin = match code.origin() {
            Origin::Software => String::from("software code of this crate, never from the module"),
            Origin::Module(_) => {
                let releases: Vec<String> = Release::NEWEST_FIRST
                    .into_iter()
                    .rev()
                    .filter(|&release| code.in_release(release))
                    .map(|release| release.to_string())
                    .collect();
                format!("module {}", releases.join(", "))
            }
        };
        writeln!(out, "  from:      {origin}")?;
    }
    Ok(())
}

fn print_tdvmcall(raw: u64, out: &mut impl Write) -> io::Result<()> {
    let status = TdvmcallStatus::from_raw(raw);
    writeln!(out, "{status}")?;
    let kind = if status.is_success() {
        "success"
    } else if status.is_retry() {
        "retry: partly done, call again"
    } else if status.is_error() {
        "error"
    } else {
        "not an error"
    };
    writeln!(out, "  kind:      {kind}")
}

fn print_field(id: FieldId, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{id}")?;
    writeln!(out, "  field code:    {:#08x}", id.field_code())?;
    writeln!(
        out,
        "  element size:  {} byte{} (code {})",
        id.element_size().bytes(),
        if id.element_size().bytes() == 1 {
            ""
        } else {
            "s"
        },
        id.element_size_code()
    )?;
    writeln!(out, "  last element:  {}", id.last_element_in_field())?;
    writeln!(out, "  last field:    {}", id.last_field_in_sequence())?;
    writeln!(out, "  INC_SIZE:      {}", u8::from(id.inc_size()))?;
    writeln!(out, "  WR_MASK_VALID: {}", u8::from(id.write_mask_valid()))?;
    match id.context() {
        Some(context) => writeln!(
            out,
            "  context:       {} ({})",
            context.code(),
            context.name()
        )?,
        None => writeln!(out, "  context:       {} (reserved)", id.context_code())?,
    }
    writeln!(out, "  class:         {}", id.class_code())?;
    writeln!(out, "  non-arch:      {}", u8::from(id.non_arch()))?;
    writeln!(out, "  reserved bits: {:#x}", id.reserved_bits())?;
    let verdict = if id == FieldId::NA {
        String::from("MD_FIELD_ID_NA, no field")
    } else if id.is_null() {
        String::from("null ID: a read returns the context's first field ID")
    } else {
        match id.check_single_element() {
            Ok(_) => String::from("valid"),
            Err(_) => format!(
                "invalid: bits {:#x} must be zero",
                id.single_element_violations()
            ),
        }
    };
    writeln!(out, "  single element: {verdict}")?;
    // A status in this position is a common mistake; say so rather than guess.
    if Status::from_raw(id.raw()).named().is_some() && id.reserved_bits() != 0 {
        writeln!(
            out,
            "  (this value is also a TDX status; drop --field to decode it as one)"
        )?;
    }
    Ok(())
}
