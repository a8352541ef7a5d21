//! Shared by the thunk integration tests: the table of thunks under test, a caller written
//! in assembly that watches every register across a thunk call, and register patterns.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

use tdxcall::call::CallKind;
use tdxcall::fixup::{Site, SiteKind};
use tdxcall::regs::RegSet;
use tdxcall::{Regs, Status};

/// The assembly entry point of a thunk, as `asm/tdxcall.S` defines it.
pub type RawThunk = unsafe extern "C" fn(leaf: u64, regs: *mut Regs) -> u64;
/// The crate's Rust wrapper of a thunk (`tdxcall::call::thunk::*`, `call::loopback::*`).
pub type Wrapper = unsafe fn(leaf: u64, regs: &mut Regs) -> Status;

// The thunk symbols are hidden (not exported from the final binary) but resolvable by any
// object of the same link, which the test binary is. The tests call them directly so that
// nothing compiled by rustc sits between the assembly and the register checks.
extern "C" {
    fn tdxcall_seamcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_seamcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_seamcall_scrub(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdvmcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdvmcall_ghci(leaf: u64, regs: *mut Regs) -> u64;
}

#[cfg(feature = "loopback")]
extern "C" {
    fn tdxcall_loopback_seamcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_seamcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_seamcall_scrub(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdvmcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdvmcall_ghci(leaf: u64, regs: *mut Regs) -> u64;
}

/// One thunk under test.
#[derive(Clone, Copy)]
pub struct Thunk {
    /// The expansion's name, for messages.
    pub name: &'static str,
    /// The assembly entry point.
    pub raw: RawThunk,
    /// The crate's public wrapper of the same entry point.
    pub wrapper: Wrapper,
    /// The instruction its site holds.
    pub kind: SiteKind,
    /// Whether it clears the scratch registers before returning.
    pub scrub: bool,
    /// The registers it moves.
    pub set: RegSet,
}

impl Thunk {
    /// Whether the thunk moves the register with hardware number `hw`.
    pub fn moves(&self, hw: usize) -> bool {
        hw != RBP && self.set.holds_index(hw as u8)
    }

    /// The thunk kind its exception-table entry must name.
    pub fn call_kind(&self) -> CallKind {
        match (self.kind, self.scrub) {
            (SiteKind::Seamcall, false) => CallKind::Seamcall,
            (SiteKind::Seamcall, true) => CallKind::SeamcallScrub,
            (SiteKind::Tdcall, false) => CallKind::Tdcall,
            (SiteKind::Tdcall, true) => CallKind::Tdvmcall,
        }
    }

    /// The entry address.
    pub fn entry(&self) -> u64 {
        self.raw as usize as u64
    }

    /// The status a #UD (vector 6) or #GP (vector 13) on this thunk's instruction becomes.
    pub fn fault_status(&self, vector: u8) -> Status {
        match (self.kind, vector) {
            (SiteKind::Seamcall, 6) => Status::SEAMCALL_UD,
            (SiteKind::Seamcall, 13) => Status::SEAMCALL_GP,
            (SiteKind::Tdcall, 6) => Status::TDCALL_UD,
            (SiteKind::Tdcall, 13) => Status::TDCALL_GP,
            _ => panic!("no software code for vector {vector}"),
        }
    }

    /// The one exception-table site inside this thunk (see [`thunk_of_site`]).
    pub fn site(&self) -> Site {
        let sites: Vec<Site> = tdxcall::fixup::sites()
            .filter(|site| thunk_of_site(site).is_some_and(|t| t.entry() == self.entry()))
            .collect();
        assert_eq!(sites.len(), 1, "{}: sites {sites:x?}", self.name);
        sites[0]
    }
}

/// Whether this is a TD guest: CPUID leaf 0x21 carries "IntelTDX    ".
pub fn is_td_guest() -> bool {
    use core::arch::x86_64::__cpuid_count;
    if __cpuid_count(0, 0).eax < 0x21 {
        return false;
    }
    let signature = __cpuid_count(0x21, 0);
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&signature.ebx.to_le_bytes());
    bytes[4..8].copy_from_slice(&signature.edx.to_le_bytes());
    bytes[8..].copy_from_slice(&signature.ecx.to_le_bytes());
    &bytes == b"IntelTDX    "
}

/// Whether the CPU reports VMX (CPUID.1:ECX bit 5): the kernel may then be in VMX operation.
fn has_vmx() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 5) != 0
}

impl Thunk {
    /// The statuses a real call of this production thunk from user space can return on this
    /// machine. TDCALL at CPL 3 raises #UD outside a TD and #GP inside one. SEAMCALL raises
    /// #UD outside VMX operation and #GP at CPL 3 inside it (a host running KVM), which user
    /// space cannot tell apart; on a CPU without VMX (this AMD machine) only #UD is possible.
    pub fn native_fault_statuses(&self) -> Vec<Status> {
        match self.kind {
            SiteKind::Tdcall if is_td_guest() => vec![Status::TDCALL_GP],
            SiteKind::Tdcall => vec![Status::TDCALL_UD],
            SiteKind::Seamcall if has_vmx() => vec![Status::SEAMCALL_UD, Status::SEAMCALL_GP],
            SiteKind::Seamcall => vec![Status::SEAMCALL_UD],
        }
    }
}

/// The production thunks, in expansion order.
pub const PRODUCTION: [Thunk; 7] = [
    Thunk {
        name: "seamcall",
        raw: tdxcall_seamcall,
        wrapper: tdxcall::call::thunk::seamcall,
        kind: SiteKind::Seamcall,
        scrub: false,
        set: RegSet::Full,
    },
    Thunk {
        name: "seamcall_args",
        raw: tdxcall_seamcall_args,
        wrapper: tdxcall::call::thunk::seamcall_args,
        kind: SiteKind::Seamcall,
        scrub: false,
        set: RegSet::Args,
    },
    Thunk {
        name: "seamcall_scrub",
        raw: tdxcall_seamcall_scrub,
        wrapper: tdxcall::call::thunk::seamcall_scrub,
        kind: SiteKind::Seamcall,
        scrub: true,
        set: RegSet::Full,
    },
    Thunk {
        name: "tdcall",
        raw: tdxcall_tdcall,
        wrapper: tdxcall::call::thunk::tdcall,
        kind: SiteKind::Tdcall,
        scrub: false,
        set: RegSet::Full,
    },
    Thunk {
        name: "tdcall_args",
        raw: tdxcall_tdcall_args,
        wrapper: tdxcall::call::thunk::tdcall_args,
        kind: SiteKind::Tdcall,
        scrub: false,
        set: RegSet::Args,
    },
    Thunk {
        name: "tdvmcall",
        raw: tdxcall_tdvmcall,
        wrapper: tdxcall::call::thunk::tdvmcall,
        kind: SiteKind::Tdcall,
        scrub: true,
        set: RegSet::Full,
    },
    Thunk {
        name: "tdvmcall_ghci",
        raw: tdxcall_tdvmcall_ghci,
        wrapper: tdxcall::call::thunk::tdvmcall_ghci,
        kind: SiteKind::Tdcall,
        scrub: true,
        set: RegSet::Ghci,
    },
];

/// The loopback thunks, in expansion order.
#[cfg(feature = "loopback")]
pub const LOOPBACK: [Thunk; 7] = [
    Thunk {
        name: "loopback_seamcall",
        raw: tdxcall_loopback_seamcall,
        wrapper: tdxcall::call::loopback::seamcall,
        kind: SiteKind::Seamcall,
        scrub: false,
        set: RegSet::Full,
    },
    Thunk {
        name: "loopback_seamcall_args",
        raw: tdxcall_loopback_seamcall_args,
        wrapper: tdxcall::call::loopback::seamcall_args,
        kind: SiteKind::Seamcall,
        scrub: false,
        set: RegSet::Args,
    },
    Thunk {
        name: "loopback_seamcall_scrub",
        raw: tdxcall_loopback_seamcall_scrub,
        wrapper: tdxcall::call::loopback::seamcall_scrub,
        kind: SiteKind::Seamcall,
        scrub: true,
        set: RegSet::Full,
    },
    Thunk {
        name: "loopback_tdcall",
        raw: tdxcall_loopback_tdcall,
        wrapper: tdxcall::call::loopback::tdcall,
        kind: SiteKind::Tdcall,
        scrub: false,
        set: RegSet::Full,
    },
    Thunk {
        name: "loopback_tdcall_args",
        raw: tdxcall_loopback_tdcall_args,
        wrapper: tdxcall::call::loopback::tdcall_args,
        kind: SiteKind::Tdcall,
        scrub: false,
        set: RegSet::Args,
    },
    Thunk {
        name: "loopback_tdvmcall",
        raw: tdxcall_loopback_tdvmcall,
        wrapper: tdxcall::call::loopback::tdvmcall,
        kind: SiteKind::Tdcall,
        scrub: true,
        set: RegSet::Full,
    },
    Thunk {
        name: "loopback_tdvmcall_ghci",
        raw: tdxcall_loopback_tdvmcall_ghci,
        wrapper: tdxcall::call::loopback::tdvmcall_ghci,
        kind: SiteKind::Tdcall,
        scrub: true,
        set: RegSet::Ghci,
    },
];

/// Every linked thunk: production, and loopback with that feature.
pub fn all_thunks() -> Vec<Thunk> {
    #[cfg(feature = "loopback")]
    return PRODUCTION.iter().chain(LOOPBACK.iter()).copied().collect();
    #[cfg(not(feature = "loopback"))]
    PRODUCTION.to_vec()
}

/// No thunk is anywhere near this long; a site further than this from the nearest entry
/// before it belongs to no thunk.
pub const MAX_THUNK_LEN: u64 = 512;

/// The thunk a site lies in: the one whose entry is the closest at or before the site's
/// instruction, provided the instruction is within [`MAX_THUNK_LEN`] of it.
pub fn thunk_of_site(site: &Site) -> Option<Thunk> {
    all_thunks()
        .into_iter()
        .filter(|thunk| thunk.entry() <= site.instruction)
        .max_by_key(|thunk| thunk.entry())
        .filter(|thunk| site.instruction - thunk.entry() < MAX_THUNK_LEN)
}

/// The 4 bytes a production site must hold: SEAMCALL `66 0F 01 CF`, TDCALL `66 0F 01 CC`.
pub fn production_bytes(kind: SiteKind) -> [u8; 4] {
    match kind {
        SiteKind::Seamcall => [0x66, 0x0F, 0x01, 0xCF],
        SiteKind::Tdcall => [0x66, 0x0F, 0x01, 0xCC],
    }
}

/// The 4 bytes a loopback site must hold: CLC + NOPL (%rax), and NOPL 0(%rax).
pub fn loopback_bytes(kind: SiteKind) -> [u8; 4] {
    match kind {
        SiteKind::Seamcall => [0xF8, 0x0F, 0x1F, 0x00],
        SiteKind::Tdcall => [0x0F, 0x1F, 0x40, 0x00],
    }
}

/// The 4 bytes at a site's instruction address.
pub fn bytes_at(address: u64) -> [u8; 4] {
    // SAFETY: only called with the address of a thunk instruction site, which lies in the
    // mapped, readable text of this binary.
    unsafe { core::ptr::read_unaligned(address as *const [u8; 4]) }
}

// Hardware register numbers, the index order of `Snapshot::after`.
pub const RAX: usize = 0;
pub const RCX: usize = 1;
pub const RDX: usize = 2;
pub const RBX: usize = 3;
pub const RSP: usize = 4;
pub const RBP: usize = 5;
pub const RSI: usize = 6;
pub const RDI: usize = 7;
pub const R8: usize = 8;
pub const R9: usize = 9;
pub const R10: usize = 10;
pub const R11: usize = 11;
pub const R12: usize = 12;
pub const R13: usize = 13;
pub const R14: usize = 14;
pub const R15: usize = 15;

/// Register names by hardware number, for messages.
pub const NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// The registers System V lets a callee change, besides RAX: what the scrub thunks clear.
pub const SCRATCH: [usize; 8] = [RCX, RDX, RSI, RDI, R8, R9, R10, R11];

/// The registers System V makes the callee preserve, besides RSP, in the order the
/// caller loads its sentinels into them.
pub const CALLEE_SAVED: [usize; 6] = [RBX, RBP, R12, R13, R14, R15];

/// What the hardware registers held right after a thunk returned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    /// Every general register after the `call` returned, by hardware number.
    pub after: [u64; 16],
    /// RSP at the `call` instruction (before the return address was pushed).
    pub rsp_at_call: u64,
}

/// Calls `thunk` from assembly with RDI = `leaf`, RSI = `regs`, and each callee-saved
/// register (RBX, RBP, R12-R15, in that order) holding the matching `sentinels` entry, and
/// records every general register right after it returns.
///
/// # Safety
///
/// `thunk` must follow the System V ABI at least far enough to return here; whatever it
/// does to the registers is recorded, and the caller's own callee-saved registers are
/// restored by this function, not trusted to the thunk.
pub unsafe fn call_watched(
    thunk: RawThunk,
    leaf: u64,
    regs: &mut Regs,
    sentinels: &[u64; 6],
) -> Snapshot {
    let mut snapshot = Snapshot::default();
    // SAFETY: the block saves every callee-saved register it loads a sentinel into and
    // restores it from its own stack, keeps RSP 16-byte aligned at the call as System V
    // requires, stays clear of the red zone, and declares every register the C ABI lets the
    // callee change as clobbered. `regs`, `sentinels` and `snapshot` are valid for the
    // accesses made through them; the thunk's own contract is the caller's.
    unsafe {
        core::arch::asm!(
            // Step over the red zone: the compiler may keep live data below RSP.
            "sub rsp, 128",
            // The caller's callee-saved registers, restored below whatever the thunk does.
            "push rbx",
            "push rbp",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            // The snapshot pointer, found again after the call at [rsp + 8]; the extra 8
            // bytes make RSP a multiple of 16 at the call.
            "push rcx",
            "sub rsp, 8",
            "mov [rcx + 128], rsp",
            "mov rbx, [rdx]",
            "mov rbp, [rdx + 8]",
            "mov r12, [rdx + 16]",
            "mov r13, [rdx + 24]",
            "mov r14, [rdx + 32]",
            "mov r15, [rdx + 40]",
            "call rax",
            // Free RCX to hold the snapshot pointer; store the thunk's RCX from the stack.
            "push rcx",
            "mov rcx, [rsp + 16]",
            "mov [rcx + 0], rax",
            "pop rax",
            "mov [rcx + 8], rax",
            "mov [rcx + 16], rdx",
            "mov [rcx + 24], rbx",
            // Back to the RSP of the call: equal to `rsp_at_call` iff the thunk's stack
            // was balanced.
            "mov [rcx + 32], rsp",
            "mov [rcx + 40], rbp",
            "mov [rcx + 48], rsi",
            "mov [rcx + 56], rdi",
            "mov [rcx + 64], r8",
            "mov [rcx + 72], r9",
            "mov [rcx + 80], r10",
            "mov [rcx + 88], r11",
            "mov [rcx + 96], r12",
            "mov [rcx + 104], r13",
            "mov [rcx + 112], r14",
            "mov [rcx + 120], r15",
            "add rsp, 16",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbp",
            "pop rbx",
            "add rsp, 128",
            in("rax") thunk,
            in("rdi") leaf,
            in("rsi") regs as *mut Regs,
            in("rcx") &mut snapshot as *mut Snapshot,
            in("rdx") sentinels.as_ptr(),
            clobber_abi("C"),
        );
    }
    snapshot
}

/// Sentinels for the callee-saved registers, distinct from each other and from every
/// register pattern below.
pub const SENTINELS: [u64; 6] = [
    0x5E57_0000_0000_B0B0,
    0x5E57_0000_0000_B9B9,
    0x5E57_0000_0000_C1C1,
    0x5E57_0000_0000_C2C2,
    0x5E57_0000_0000_C3C3,
    0x5E57_0000_0000_C4C4,
];

/// A register struct whose every field differs from every other field, and from the fields
/// of any other `(tag, salt)`: field `i` (memory order) is `tag << 48 | salt << 8 | i + 1`.
pub fn pattern(tag: u16, salt: u32) -> Regs {
    let value = |i: u64| (u64::from(tag) << 48) | (u64::from(salt) << 8) | (i + 1);
    Regs {
        rcx: value(0),
        rdx: value(1),
        r8: value(2),
        r9: value(3),
        r10: value(4),
        r11: value(5),
        r12: value(6),
        r13: value(7),
        r14: value(8),
        r15: value(9),
        rbx: value(10),
        rdi: value(11),
        rsi: value(12),
    }
}

/// Every struct field with the hardware register number it must travel in, written out
/// field by field (independently of the crate's own `Regs::by_hw_index`).
pub fn fields_by_register(regs: &Regs) -> [(usize, u64); 13] {
    [
        (RCX, regs.rcx),
        (RDX, regs.rdx),
        (R8, regs.r8),
        (R9, regs.r9),
        (R10, regs.r10),
        (R11, regs.r11),
        (R12, regs.r12),
        (R13, regs.r13),
        (R14, regs.r14),
        (R15, regs.r15),
        (RBX, regs.rbx),
        (RDI, regs.rdi),
        (RSI, regs.rsi),
    ]
}

/// The struct that holds, in each field, the value `registers` gives the hardware register of
/// the same name (the inverse of [`fields_by_register`]).
pub fn regs_from_registers(registers: &[u64; 16]) -> Regs {
    Regs {
        rcx: registers[RCX],
        rdx: registers[RDX],
        r8: registers[R8],
        r9: registers[R9],
        r10: registers[R10],
        r11: registers[R11],
        r12: registers[R12],
        r13: registers[R13],
        r14: registers[R14],
        r15: registers[R15],
        rbx: registers[RBX],
        rdi: registers[RDI],
        rsi: registers[RSI],
    }
}

/// Checks that the callee-saved registers and RSP came back as the caller had them.
pub fn assert_callee_saved(name: &str, snapshot: &Snapshot) {
    for (sentinel, &hw) in SENTINELS.iter().zip(CALLEE_SAVED.iter()) {
        assert_eq!(
            snapshot.after[hw], *sentinel,
            "{name}: {} not preserved (got {:#x})",
            NAMES[hw], snapshot.after[hw]
        );
    }
    assert_eq!(
        snapshot.after[RSP], snapshot.rsp_at_call,
        "{name}: rsp not preserved"
    );
}

/// Checks that every scratch register of the thunk's set is zero after a scrub thunk: what
/// the other side could have written (a narrow thunk's RSI is the struct pointer, never the
/// other side's).
pub fn assert_scratch_zero(thunk: &Thunk, snapshot: &Snapshot) {
    let name = thunk.name;
    for hw in SCRATCH.into_iter().filter(|&hw| thunk.moves(hw)) {
        assert_eq!(
            snapshot.after[hw], 0,
            "{name}: {} not cleared (got {:#x})",
            NAMES[hw], snapshot.after[hw]
        );
    }
}

/// Running one test of a binary in a child process of its own, for tests that change
/// process-wide state (signal dispositions) or are meant to end the process.
pub mod child {
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    /// The environment variable that names the test a child process runs.
    pub const CHILD_ENV: &str = "TDXCALL_TEST_CHILD";

    /// How long a child may take: a handler that swallows a fault it should pass on makes
    /// the instruction fault again forever, and that must fail the test, not hang it.
    pub const DEADLINE: Duration = Duration::from_secs(60);

    /// The name of test function `f`, as `--exact` wants it.
    pub fn test_name<F>(_: F) -> &'static str {
        let path = std::any::type_name::<F>();
        path.rsplit("::").next().expect("a path")
    }

    /// Whether this process is the child for `test`.
    pub fn is_child(test: &str) -> bool {
        std::env::var(CHILD_ENV).is_ok_and(|name| name == test)
    }

    /// Runs `test` alone in a child process (this binary, `--exact`) and returns how it
    /// ended; kills it and panics after [`DEADLINE`].
    pub fn run(test: &str) -> Output {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, test)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let started = Instant::now();
        while child.try_wait().expect("wait for the child").is_none() {
            if started.elapsed() > DEADLINE {
                child.kill().expect("kill the child");
                panic!("child {test} still running after {DEADLINE:?}: a signal loops");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let output = child
            .wait_with_output()
            .expect("collect the child's output");
        eprintln!(
            "child {test}: {:?}\n--- stdout\n{}--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// No core file from a child that is meant to die.
    pub fn no_core_dump() {
        let limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) }, 0);
    }
}
