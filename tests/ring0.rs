//! Ring 0: the thunks, the exception table and the fixup where kernels run them.
//!
//! Builds the freestanding test image in `tests/ring0` (its own cargo package, host target,
//! `core` only) and boots it with QEMU under TCG. At CPL 0 SEAMCALL and TDCALL raise #UD
//! through the image's IDT, whose handler calls `tdxcall::fixup::fixup_exception` as a
//! kernel would; the image reports each check over serial and ends the run through
//! `isa-debug-exit`. These tests assert on that report and on the exit status.
//!
//! TCG, not KVM: under KVM a SEAMCALL or TDCALL at CPL 0 stops the VM with an emulation
//! failure instead of raising #UD.
//!
//! QEMU (`qemu-system-x86_64`) must be installed; without it the tests fail and say how to
//! install it.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

#[path = "ring0/src/protocol.rs"]
#[allow(dead_code)]
mod protocol;

use std::ffi::OsString;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use protocol::{Verdict, CHECK_FAILED, CHECK_OK, CHECK_PREFIX, SITES_PREFIX, SUMMARY_PREFIX};
use protocol::{CPU_PREFIX, DEBUG_EXIT_PORT, UNHANDLED_PREFIX};

const IMAGE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ring0");
const IMAGE_TARGET: &str = "x86_64-unknown-linux-gnu";
const IMAGE_BIN: &str = "tdxcall-ring0";
/// Read by the crate's build.rs: assemble the TDCALL thunk without its exception-table entry.
const OMIT_TDCALL_FIXUP: &str = "TDXCALL_TEST_OMIT_TDCALL_FIXUP";
const QEMU: &str = "qemu-system-x86_64";
/// Longest a boot may take; a run normally ends in well under a second.
const BOOT_TIME_LIMIT: Duration = Duration::from_secs(60);
/// TDCALL, `66 0F 01 CC`.
const TDCALL_BYTES: [u8; 4] = [0x66, 0x0f, 0x01, 0xcc];

/// The checks the image must report as passed (see `tests/ring0/src/checks`).
const REQUIRED_CHECKS: [&str; 17] = [
    "thunk_seamcall",
    "thunk_seamcall_scrub",
    "thunk_tdcall",
    "thunk_tdvmcall",
    "thunk_seamcall_args",
    "thunk_tdcall_args",
    "thunk_tdvmcall_ghci",
    "native_backend",
    "foreign_ud_declined",
    "foreign_gp_declined",
    "xstate_vp_enter_guard_restores",
    "xstate_vp_enter_guard_writes_nothing_unchanged",
    "xstate_vp_enter_unguarded_control",
    "xstate_migration_vectors_preserved",
    "xstate_migration_wrapper_preserves",
    "xstate_migration_skip_control",
    "bench_harness",
];

/// A build of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// As any kernel would link the crate.
    Complete,
    /// The TDCALL site has no exception-table entry: the run must end with its #UD unhandled.
    WithoutTdcallFixup,
}

impl Variant {
    /// One target directory per variant, so both stay cached and can build side by side.
    fn target_dir(self) -> PathBuf {
        let name = match self {
            Variant::Complete => "ring0-image",
            Variant::WithoutTdcallFixup => "ring0-image-without-tdcall-fixup",
        };
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
    }
}

/// The image's ELF for `variant`, built once per test process.
fn image(variant: Variant) -> &'static Path {
    static COMPLETE: OnceLock<PathBuf> = OnceLock::new();
    static WITHOUT_TDCALL_FIXUP: OnceLock<PathBuf> = OnceLock::new();
    let cell = match variant {
        Variant::Complete => &COMPLETE,
        Variant::WithoutTdcallFixup => &WITHOUT_TDCALL_FIXUP,
    };
    cell.get_or_init(|| build(variant))
}

fn build(variant: Variant) -> PathBuf {
    // The cargo running this test, so the image builds with the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
    let target_dir = variant.target_dir();
    let mut command = Command::new(cargo);
    // From the image's directory, so its .cargo/config.toml (relocation model, red zone)
    // applies; and without the caller's RUSTFLAGS, which would replace that file's flags.
    command
        .current_dir(IMAGE_DIR)
        .args([
            "build",
            "--release",
            "--target",
            IMAGE_TARGET,
            "--manifest-path",
        ])
        .arg(Path::new(IMAGE_DIR).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    match variant {
        Variant::Complete => command.env_remove(OMIT_TDCALL_FIXUP),
        Variant::WithoutTdcallFixup => command.env(OMIT_TDCALL_FIXUP, "1"),
    };
    let started = Instant::now();
    let output = command
        .output()
        .expect("run cargo to build the ring-0 image");
    assert!(
        output.status.success(),
        "building the ring-0 image ({variant:?}) failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "ring0: built the {variant:?} image in {:.1?}",
        started.elapsed()
    );
    target_dir
        .join(IMAGE_TARGET)
        .join("release")
        .join(IMAGE_BIN)
}

/// What one boot of the image produced.
struct Run {
    /// QEMU's exit status.
    status: i32,
    /// Everything the image wrote to COM1.
    serial: String,
}

impl Run {
    fn verdict(&self) -> Option<Verdict> {
        Verdict::ALL
            .into_iter()
            .find(|verdict| verdict.qemu_exit_status() == self.status)
    }

    fn assert_verdict(&self, expected: Verdict) {
        assert_eq!(
            self.status,
            expected.qemu_exit_status(),
            "expected {expected:?}, QEMU exited with {} ({:?}; 0 is a triple fault); serial:\n{}",
            self.status,
            self.verdict(),
            self.serial
        );
    }

    fn has_line(&self, line: &str) -> bool {
        self.serial.lines().any(|candidate| candidate == line)
    }

    /// The value after `prefix` on the first line that starts with it.
    fn value_after(&self, prefix: &str) -> &str {
        self.serial
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?}; serial:\n{}", self.serial))
    }
}

fn spawn_qemu(elf: &Path) -> Child {
    let debug_exit = format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04");
    let spawned = Command::new(QEMU)
        .args(["-machine", "q35", "-accel", "tcg", "-smp", "1", "-m", "64M"])
        // TCG's `max` model: XSAVE, AVX and PKU, which the image enables and saves.
        .args(["-cpu", "max"])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .args(["-serial", "stdio", "-device", &debug_exit, "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == ErrorKind::NotFound => panic!(
            "{QEMU} is not installed (or not on PATH), and the ring-0 tests boot their test \
             kernel with it. Install it: `sudo apt-get install qemu-system-x86` on Debian and \
             Ubuntu (`.ci/run` does this), `sudo dnf install qemu-system-x86-core` on Fedora, \
             or your distribution's QEMU x86 system-emulator package."
        ),
        Err(error) => panic!("cannot start {QEMU}: {error}"),
    }
}

/// Boots `elf` and waits for the run to end, killing QEMU after [`BOOT_TIME_LIMIT`].
fn boot(elf: &Path) -> Run {
    let started = Instant::now();
    let mut qemu = spawn_qemu(elf);
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                // A read error just ends the capture; the assertions show what came before.
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let serial = drain(
        qemu.stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        qemu.stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = qemu.try_wait().expect("wait for QEMU") {
            break status;
        }
        if started.elapsed() > BOOT_TIME_LIMIT {
            // Killing QEMU closes its pipes, which ends both readers.
            let _ = qemu.kill();
            let _ = qemu.wait();
            panic!(
                "the ring-0 image did not finish within {BOOT_TIME_LIMIT:?}; serial:\n{}\nQEMU: {}",
                serial.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    let serial = serial.join().expect("serial reader");
    let stderr = stderr.join().expect("stderr reader");
    let status = status.code().unwrap_or_else(|| {
        panic!("QEMU ended by a signal ({status}); serial:\n{serial}\nQEMU: {stderr}")
    });
    eprintln!(
        "ring0: booted {} in {:.1?}",
        elf.display(),
        started.elapsed()
    );
    Run { status, serial }
}

/// The few facts the tests need from the image's ELF: its symbols and its loaded bytes.
struct Elf {
    bytes: Vec<u8>,
}

/// One `.symtab` entry.
struct Symbol {
    name: String,
    value: u64,
    size: u64,
}

/// One section header.
struct Section {
    kind: u32,
    address: u64,
    offset: u64,
    size: u64,
    link: u32,
}

const SHT_SYMTAB: u32 = 2;
const SHT_NOBITS: u32 = 8;

impl Elf {
    fn read(path: &Path) -> Elf {
        let bytes =
            std::fs::read(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        assert_eq!(
            &bytes[..5],
            b"\x7fELF\x02",
            "{} is not a 64-bit ELF",
            path.display()
        );
        Elf { bytes }
    }

    fn u16_at(&self, offset: u64) -> u16 {
        let offset = offset as usize;
        u16::from_le_bytes(self.bytes[offset..offset + 2].try_into().unwrap())
    }

    fn u32_at(&self, offset: u64) -> u32 {
        let offset = offset as usize;
        u32::from_le_bytes(self.bytes[offset..offset + 4].try_into().unwrap())
    }

    fn u64_at(&self, offset: u64) -> u64 {
        let offset = offset as usize;
        u64::from_le_bytes(self.bytes[offset..offset + 8].try_into().unwrap())
    }

    fn sections(&self) -> Vec<Section> {
        let table = self.u64_at(0x28);
        let entry_size = u64::from(self.u16_at(0x3a));
        let count = u64::from(self.u16_at(0x3c));
        (0..count)
            .map(|index| {
                let header = table + index * entry_size;
                Section {
                    kind: self.u32_at(header + 4),
                    address: self.u64_at(header + 16),
                    offset: self.u64_at(header + 24),
                    size: self.u64_at(header + 32),
                    link: self.u32_at(header + 40),
                }
            })
            .collect()
    }

    fn symbols(&self) -> Vec<Symbol> {
        let sections = self.sections();
        let symtab = sections
            .iter()
            .find(|section| section.kind == SHT_SYMTAB)
            .expect("the image keeps its .symtab");
        let strtab = &sections[symtab.link as usize];
        (0..symtab.size / 24)
            .map(|index| {
                let entry = symtab.offset + index * 24;
                let name_start = (strtab.offset + u64::from(self.u32_at(entry))) as usize;
                let name_len = self.bytes[name_start..]
                    .iter()
                    .position(|&byte| byte == 0)
                    .unwrap();
                Symbol {
                    name: String::from_utf8_lossy(&self.bytes[name_start..name_start + name_len])
                        .into_owned(),
                    value: self.u64_at(entry + 8),
                    size: self.u64_at(entry + 16),
                }
            })
            .collect()
    }

    fn symbol(&self, name: &str) -> Symbol {
        self.symbols()
            .into_iter()
            .find(|symbol| symbol.name == name)
            .unwrap_or_else(|| panic!("the image has no symbol {name}"))
    }

    /// The `len` bytes the loader places at `address`.
    fn loaded_bytes(&self, address: u64, len: u64) -> &[u8] {
        let section = self
            .sections()
            .into_iter()
            .find(|section| {
                section.kind != SHT_NOBITS
                    && section.address != 0
                    && (section.address..section.address + section.size).contains(&address)
            })
            .unwrap_or_else(|| panic!("{address:#x} is in no loaded section"));
        let start = (section.offset + address - section.address) as usize;
        &self.bytes[start..start + len as usize]
    }

    /// Entries in tdxcall's exception tables (12 bytes each, see src/fixup.rs): the
    /// production thunks' and the loopback thunks' (the image enables `loopback` for the
    /// cycle-count harness's baseline).
    fn exception_table_entries(&self) -> u64 {
        ["tdxcall", "tdxcall_loopback"]
            .iter()
            .map(|prefix| {
                let start = self.symbol(&format!("{prefix}_extable_start")).value;
                let end = self.symbol(&format!("{prefix}_extable_end")).value;
                (end - start) / 12
            })
            .sum()
    }
}

/// Whether `symbol` names an item of crate `krate`, in legacy (`_ZN3std...`,
/// `..<std..`) or v0 (`...C<s disambiguator _>3std...`) mangling.
fn names_item_of(symbol: &str, krate: &str) -> bool {
    let ident = format!("{}{krate}", krate.len());
    if symbol.starts_with(&format!("_ZN{ident}")) || symbol.contains(&format!("$LT${krate}..")) {
        return true;
    }
    if !symbol.starts_with("_R") {
        return false;
    }
    symbol.match_indices(&ident).any(|(at, _)| {
        let before = &symbol[..at];
        // A crate root is `C`, then an optional disambiguator `s<base 62>_`, then the name.
        before.ends_with('C')
            || before.strip_suffix('_').is_some_and(|rest| {
                let run = rest
                    .trim_end_matches(|c: char| c.is_ascii_alphanumeric())
                    .len();
                rest[run..].contains("Cs")
            })
    })
}

#[test]
fn every_ring0_check_passes() {
    let elf = image(Variant::Complete);
    let run = boot(elf);
    // The cycle-count harness's figures, for people reading the test log (`--nocapture`).
    for line in run
        .serial
        .lines()
        .filter(|line| line.trim_start().starts_with("bench "))
    {
        println!("ring0: {}", line.trim_start());
    }
    run.assert_verdict(Verdict::Passed);
    // The xstate checks exercise AVX and PKRU only where the CPU model has them: `-cpu max`
    // must, or those parts would pass without running.
    let cpu = run.value_after(CPU_PREFIX);
    assert!(
        cpu.starts_with("avx=true pku=true xcr0=0x207 "),
        "the CPU model lacks AVX or PKU (XCR0 x87|SSE|AVX|PKRU expected): {cpu}"
    );
    for name in REQUIRED_CHECKS {
        let line = format!("{CHECK_PREFIX}{name}{CHECK_OK}");
        assert!(
            run.has_line(&line),
            "missing {line:?}; serial:\n{}",
            run.serial
        );
    }
    let passed = run
        .serial
        .lines()
        .filter(|line| line.starts_with(CHECK_PREFIX) && line.ends_with(CHECK_OK))
        .count();
    let failed = run
        .serial
        .lines()
        .filter(|line| line.ends_with(CHECK_FAILED))
        .count();
    assert_eq!(failed, 0, "serial:\n{}", run.serial);
    assert_eq!(
        run.value_after(SUMMARY_PREFIX),
        format!("{passed} passed, 0 failed"),
        "serial:\n{}",
        run.serial
    );
    assert!(
        !run.serial.contains(UNHANDLED_PREFIX),
        "serial:\n{}",
        run.serial
    );
    let sites: u64 = run.value_after(SITES_PREFIX).parse().expect("a site count");
    assert_eq!(
        sites,
        Elf::read(elf).exception_table_entries(),
        "the image sees the table the linker built"
    );
}

#[test]
fn a_missing_fixup_entry_is_reported_as_an_unhandled_fault() {
    let elf_path = image(Variant::WithoutTdcallFixup);
    let run = boot(elf_path);
    run.assert_verdict(Verdict::UnhandledFault);

    // Exactly one entry fewer than the complete image, and the image saw that table.
    let elf = Elf::read(elf_path);
    let entries = elf.exception_table_entries();
    assert_eq!(
        entries + 1,
        Elf::read(image(Variant::Complete)).exception_table_entries()
    );
    assert_eq!(
        run.value_after(SITES_PREFIX),
        entries.to_string(),
        "serial:\n{}",
        run.serial
    );

    // The SEAMCALL thunks still have their entries and ran as usual.
    for name in ["thunk_seamcall", "thunk_seamcall_scrub"] {
        let line = format!("{CHECK_PREFIX}{name}{CHECK_OK}");
        assert!(
            run.has_line(&line),
            "missing {line:?}; serial:\n{}",
            run.serial
        );
    }

    // The run ended in the TDCALL check, at the TDCALL instruction of the TDCALL thunk.
    let lines: Vec<&str> = run.serial.lines().collect();
    let unhandled = lines
        .iter()
        .position(|line| line.starts_with(UNHANDLED_PREFIX))
        .unwrap_or_else(|| panic!("no unhandled-fault report; serial:\n{}", run.serial));
    assert_eq!(
        unhandled,
        lines.len() - 1,
        "the run goes on after the report; serial:\n{}",
        run.serial
    );
    assert_eq!(
        lines[unhandled - 1],
        "ring0: running thunk_tdcall",
        "serial:\n{}",
        run.serial
    );
    let report = lines[unhandled].strip_prefix(UNHANDLED_PREFIX).unwrap();
    let rip = report
        .strip_prefix("#UD at rip=0x")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("expected `#UD at rip=0x...`, got {report:?}"));
    let thunk = elf.symbol("tdxcall_tdcall");
    assert!(
        (thunk.value..thunk.value + thunk.size).contains(&rip),
        "the #UD at {rip:#x} is outside tdxcall_tdcall ({:#x}, {} bytes)",
        thunk.value,
        thunk.size
    );
    assert_eq!(
        elf.loaded_bytes(rip, 4),
        TDCALL_BYTES,
        "the #UD at {rip:#x} is not on the TDCALL instruction"
    );
}

/// The image is `#![no_std]`, has its own panic handler and no global allocator, and links
/// with `-nostdlib`: rustc refuses to build it if `tdxcall` (default features off) pulls in
/// `std` (a second `panic_impl`) or `alloc` (no allocator). Its symbol table shows the same
/// from the linker's side.
#[test]
fn the_crate_without_default_features_links_into_a_kernel_without_std_or_alloc() {
    let symbols = Elf::read(image(Variant::Complete)).symbols();
    let has = |name: &str| symbols.iter().any(|symbol| symbol.name == name);
    assert!(
        has("tdxcall_tdcall") && has("tdxcall_extable_start"),
        "the crate is linked in"
    );
    // The mangling check itself works: `core`, which the image does use, is found.
    assert!(
        symbols
            .iter()
            .any(|symbol| names_item_of(&symbol.name, "core")),
        "no `core` symbol recognised"
    );
    for symbol in &symbols {
        for krate in ["std", "alloc"] {
            assert!(
                !names_item_of(&symbol.name, krate),
                "{} is from `{krate}`",
                symbol.name
            );
        }
        assert!(
            ![
                "__rust_alloc",
                "__rust_dealloc",
                "__rust_realloc",
                "__rust_no_alloc_shim",
                "__rdl_",
                "__rg_"
            ]
            .iter()
            .any(|shim| symbol.name.contains(shim)),
            "{} is part of the allocator shim",
            symbol.name
        );
    }
}
