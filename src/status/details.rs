//! Bits 31:0 of a status (details L2): operand IDs, VM-exit reasons and the other data the
//! module puts there, decoded according to the code's [`DetailsKind`].

use super::codes::DetailsKind;
use core::fmt;

/// What an operand ID names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperandGroup {
    /// A general-purpose register, by hardware index (0 to 15).
    Gpr,
    /// A field of the TD_PARAMS structure (64 to 72).
    TdParams,
    /// A page, an entry of a list, or a key-request field (95 to 108).
    PageOrList,
    /// A TD or vCPU control structure, or state inside one (128 to 178).
    ControlStructure,
    /// A module-global object or table (184 to 190, and TDX Connect's 256 to 320).
    Global,
}

macro_rules! operand_table {
    ($( $CONST:ident = $id:literal, $group:ident, $name:literal, $desc:literal; )*) => {
        impl Operand {
            $(
                #[doc = concat!("Operand ", stringify!($id), ", `", $name, "`: ", $desc)]
                pub const $CONST: Operand = Operand($id);
            )*
            /// Every named operand ID, in table order.
            pub const ALL: &'static [Operand] = &[$(Operand::$CONST),*];
        }

        const OPERAND_ROWS: &[(u32, OperandGroup, &str)] = &[
            $(($id, OperandGroup::$group, $name),)*
        ];
    };
}

/// An operand ID (bits 31:0 with `TDX_OPERAND_INVALID`, `TDX_OPERAND_BUSY` and others): the
/// register, TD_PARAMS field or structure an error is about. Any 32-bit value is kept; the
/// named ones come from the module's operand-ID list (1.5.01, with 1.0.3's TDVPX, and the
/// IDs 1.5.28 to 2.0.18 add; `tests/data/operands-2.0.18.txt` transcribes 2.0.18's list).
///
/// In TDH.MEM.SEPT.ADD version 1 and TDH.MEM.PAGE.DEMOTE the module names the page of L2
/// VM `n` (1 to 3) as operand `R8 + n`, i.e. R9, R10 or R11; see [`Operand::l2_vm_id`].
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operand(u32);

operand_table! {
    RAX = 0, Gpr, "RAX", "the leaf number and version.";
    RCX = 1, Gpr, "RCX", "general register.";
    RDX = 2, Gpr, "RDX", "general register.";
    RBX = 3, Gpr, "RBX", "general register.";
    RSP = 4, Gpr, "RSP", "reserved; the module never names it.";
    RBP = 5, Gpr, "RBP", "general register.";
    RSI = 6, Gpr, "RSI", "general register.";
    RDI = 7, Gpr, "RDI", "general register.";
    R8 = 8, Gpr, "R8", "general register; also the base of `R8 + vm_id`.";
    R9 = 9, Gpr, "R9", "general register (or L2 VM 1's page).";
    R10 = 10, Gpr, "R10", "general register (or L2 VM 2's page).";
    R11 = 11, Gpr, "R11", "general register (or L2 VM 3's page).";
    R12 = 12, Gpr, "R12", "general register.";
    R13 = 13, Gpr, "R13", "general register.";
    R14 = 14, Gpr, "R14", "general register.";
    R15 = 15, Gpr, "R15", "general register.";
    ATTRIBUTES = 64, TdParams, "ATTRIBUTES", "TD attributes.";
    XFAM = 65, TdParams, "XFAM", "extended features the TD may use.";
    EXEC_CONTROLS = 66, TdParams, "EXEC_CONTROLS", "execution controls (GPAW and others).";
    EPTP_CONTROLS = 67, TdParams, "EPTP_CONTROLS", "Secure-EPT pointer controls (levels).";
    MAX_VCPUS = 68, TdParams, "MAX_VCPUS", "maximum number of vCPUs.";
    CPUID_CONFIG = 69, TdParams, "CPUID_CONFIG", "the CPUID configuration entries.";
    TSC_FREQUENCY = 70, TdParams, "TSC_FREQUENCY", "virtual TSC frequency.";
    NUM_L2_VMS = 71, TdParams, "NUM_L2_VMS", "number of L2 VMs (1.5).";
    IA32_ARCH_CAPABILITIES_CONFIG = 72, TdParams, "IA32_ARCH_CAPABILITIES_CONFIG", "virtual IA32_ARCH_CAPABILITIES (1.5).";
    PAGE = 95, PageOrList, "PAGE", "a page operand (1.5).";
    TDMR_INFO_PA = 96, PageOrList, "TDMR_INFO_PA", "an entry of the TDMR_INFO array.";
    GPA_LIST_ENTRY = 97, PageOrList, "GPA_LIST_ENTRY", "an entry of a GPA list (1.5 migration).";
    MIG_BUFF_LIST_ENTRY = 98, PageOrList, "MIG_BUFF_LIST_ENTRY", "an entry of a migration-buffer list (1.5).";
    NEW_PAGE_LIST_ENTRY = 99, PageOrList, "NEW_PAGE_LIST_ENTRY", "an entry of a new-page list (1.5).";
    KEYNAME = 100, PageOrList, "KEYNAME", "the key name of a TDG.MR.KEY.GET request (1.5.32, 2.0.18).";
    MEM_SCAN_CONTEXT = 105, PageOrList, "MEM_SCAN_CONTEXT", "a memory-scan context (1.5.32, 2.0.18).";
    GPA_RANGE_LIST_ENTRY = 106, PageOrList, "GPA_RANGE_LIST_ENTRY", "an entry of a GPA range list (1.5.32, 2.0.18).";
    GPA_LIST_INFO_ENTRY = 107, PageOrList, "GPA_LIST_INFO_ENTRY", "an entry of a GPA list info (1.5.32, 2.0.18).";
    KEYSIZE_BITMAP = 108, PageOrList, "KEYSIZE_BITMAP", "the key-size bitmap of a key request (1.5.32, 2.0.18).";
    TDR = 128, ControlStructure, "TDR", "the TD root page.";
    TDCX = 129, ControlStructure, "TDCX", "a TDCS page.";
    TDVPR = 130, ControlStructure, "TDVPR", "the vCPU root page.";
    TDVPX = 131, ControlStructure, "TDVPX", "a TDVPS extension page (1.0.3 only).";
    REG_PAGE = 132, ControlStructure, "REG_PAGE", "a page named in a register (1.5).";
    TDCS = 144, ControlStructure, "TDCS", "the TD control structure.";
    TDVPS = 145, ControlStructure, "TDVPS", "the vCPU state.";
    SEPT_TREE = 146, ControlStructure, "SEPT_TREE", "the TD's Secure-EPT tree (1.0.3 calls it SEPT).";
    SEPT_ENTRY = 147, ControlStructure, "SEPT_ENTRY", "a Secure-EPT entry (1.5).";
    RTMR = 168, ControlStructure, "RTMR", "a run-time measurement register.";
    TD_EPOCH = 169, ControlStructure, "TD_EPOCH", "the TD's TLB epoch.";
    L2_VAPIC_GPA = 170, ControlStructure, "L2_VAPIC_GPA", "an L2 VM's virtual-APIC page GPA (1.5).";
    MIGSC = 171, ControlStructure, "MIGSC", "a migration-stream context (1.5).";
    OP_STATE = 172, ControlStructure, "OP_STATE", "the TD's operation state (1.5).";
    MIG = 173, ControlStructure, "MIG", "the TD's migration state (1.5).";
    SERVTD_BINDINGS = 174, ControlStructure, "SERVTD_BINDINGS", "the TD's service-TD bindings (1.5).";
    PASID_TRK = 175, ControlStructure, "PASID_TRK", "PASID tracking state (TDX Connect, 2.0).";
    METADATA_FIELD = 176, ControlStructure, "METADATA_FIELD", "a metadata field (1.5).";
    NUM_VCPUS = 177, ControlStructure, "NUM_VCPUS", "the TD's number of vCPUs (1.5.28 and later).";
    CPUID_FIXED0_BITMAP = 178, ControlStructure, "CPUID_FIXED0_BITMAP", "the TD's CPUID fixed-0 bitmap (1.5.28 and later).";
    SYS = 184, Global, "SYS", "the module's platform state.";
    TDMR = 185, Global, "TDMR", "a TDMR.";
    KOT = 186, Global, "KOT", "the key ownership table.";
    KET = 187, Global, "KET", "the key encryption table (MKTME key programming).";
    WBCACHE = 188, Global, "WBCACHE", "the cache write-back state.";
    MEM_SCAN_STATE = 190, Global, "MEM_SCAN_STATE", "the memory-scan state (1.5.32, 2.0.18).";
    PASIDMT = 256, Global, "PASIDMT", "the PASID mapping table (TDX Connect, 2.0).";
    MMIOMT = 257, Global, "MMIOMT", "the MMIO mapping table (TDX Connect, 2.0).";
    SPDMMT = 258, Global, "SPDMMT", "the SPDM session table (TDX Connect, 2.0).";
    DMAR = 320, Global, "DMAR", "a DMA-remapping entry (TDX Connect, 2.0).";
}

impl Operand {
    /// Wraps a raw operand ID.
    #[inline]
    pub const fn from_id(id: u32) -> Operand {
        Operand(id)
    }

    /// The raw ID.
    #[inline]
    pub const fn id(self) -> u32 {
        self.0
    }

    /// The operand `R8 + vm_id` that TDH.MEM.SEPT.ADD v1 and TDH.MEM.PAGE.DEMOTE use for
    /// L2 VM `vm_id` (1 to 3).
    #[inline]
    pub const fn for_l2_vm(vm_id: u8) -> Operand {
        Operand(Operand::R8.0 + vm_id as u32)
    }

    /// For R9, R10 and R11: the L2 VM (1 to 3) this operand means in TDH.MEM.SEPT.ADD v1
    /// and TDH.MEM.PAGE.DEMOTE. Other leaves mean the plain register.
    #[inline]
    pub const fn l2_vm_id(self) -> Option<u8> {
        match self.0 {
            9..=11 => Some((self.0 - 8) as u8),
            _ => None,
        }
    }

    fn row(self) -> Option<&'static (u32, OperandGroup, &'static str)> {
        OPERAND_ROWS.iter().find(|row| row.0 == self.0)
    }

    /// The module's name for this ID, e.g. `"RCX"`, `"ATTRIBUTES"` or `"TDR"`.
    pub fn name(self) -> Option<&'static str> {
        self.row().map(|row| row.2)
    }

    /// What the ID names, if it is a known ID.
    pub fn group(self) -> Option<OperandGroup> {
        self.row().map(|row| row.1)
    }

    /// For a GPR operand, its hardware index, usable with
    /// [`Regs::by_hw_index`](crate::Regs::by_hw_index).
    pub fn gpr_index(self) -> Option<u8> {
        match self.group() {
            Some(OperandGroup::Gpr) => Some(self.0 as u8),
            _ => None,
        }
    }
}

impl fmt::Display for Operand {
    /// The name, with `TD_PARAMS.` before TD_PARAMS fields; `0x…` for an unnamed ID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row() {
            Some((_, OperandGroup::TdParams, name)) => write!(f, "TD_PARAMS.{name}"),
            Some((_, _, name)) => f.write_str(name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl fmt::Debug for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Operand({} = {})", self.0, self)
    }
}

/// VMX basic exit reasons (bits 15:0 of the exit reason), as the module's VMCS definitions
/// number them.
const BASIC_EXIT_REASONS: &[(u16, &str)] = &[
    (0, "EXCEPTION_OR_NMI"),
    (1, "EXTERNAL_INTERRUPT"),
    (2, "TRIPLE_FAULT"),
    (3, "INIT"),
    (4, "SIPI"),
    (5, "IO_SMI"),
    (6, "OTHER_SMI"),
    (7, "INTERRUPT_WINDOW"),
    (8, "NMI_WINDOW"),
    (9, "TASK_SWITCH"),
    (10, "CPUID"),
    (11, "GETSEC"),
    (12, "HLT"),
    (13, "INVD"),
    (14, "INVLPG"),
    (15, "RDPMC"),
    (16, "RDTSC"),
    (17, "RSM"),
    (18, "VMCALL"),
    (19, "VMCLEAR"),
    (20, "VMLAUNCH"),
    (21, "VMPTRLD"),
    (22, "VMPTRST"),
    (23, "VMREAD"),
    (24, "VMRESUME"),
    (25, "VMWRITE"),
    (26, "VMXOFF"),
    (27, "VMXON"),
    (28, "CR_ACCESS"),
    (29, "DR_ACCESS"),
    (30, "IO_INSTRUCTION"),
    (31, "RDMSR"),
    (32, "WRMSR"),
    (33, "ENTRY_FAIL_GUEST_STATE"),
    (34, "ENTRY_FAIL_MSR_LOADING"),
    (36, "MWAIT"),
    (37, "MONITOR_TRAP_FLAG"),
    (39, "MONITOR"),
    (40, "PAUSE"),
    (41, "ENTRY_FAIL_MACHINE_CHECK"),
    (43, "TPR_BELOW_THRESHOLD"),
    (44, "APIC_ACCESS"),
    (45, "VIRTUALIZED_EOI"),
    (46, "GDTR_IDTR_ACCESS"),
    (47, "LDTR_TR_ACCESS"),
    (48, "EPT_VIOLATION"),
    (49, "EPT_MISCONFIGURATION"),
    (50, "INVEPT"),
    (51, "RDTSCP"),
    (52, "PREEMPTION_TIMER"),
    (53, "INVVPID"),
    (54, "WBINVD"),
    (55, "XSETBV"),
    (56, "APIC_WRITE"),
    (57, "RDRAND"),
    (58, "INVPCID"),
    (59, "VMFUNC"),
    (60, "ENCLS"),
    (61, "RDSEED"),
    (62, "PML_FULL"),
    (63, "XSAVES"),
    (64, "XRSTORS"),
    (65, "PCONFIG"),
    (66, "SPP_INDUCED"),
    (67, "UMWAIT"),
    (68, "TPAUSE"),
    (69, "LOADIWKEY"),
    (70, "ENCLV"),
    (71, "SGX_CONFLICT"),
    (72, "ENQCMD_PASID_TRANSLATION_FAILURE"),
    (73, "ENQCMDS_PASID_TRANSLATION_FAILURE"),
    (74, "BUS_LOCK"),
    (75, "NOTIFY"),
    (76, "SEAMCALL"),
    (77, "TDCALL"),
];

/// A 32-bit VMX exit reason, as TD-exit statuses carry it in bits 31:0.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitReason(u32);

impl ExitReason {
    /// Basic reason 48: EPT violation.
    pub const EPT_VIOLATION: u16 = 48;
    /// Basic reason 77: the guest executed TDCALL (TDG.VP.VMCALL to the host).
    pub const TDCALL: u16 = 77;

    /// Wraps a raw exit reason.
    #[inline]
    pub const fn from_raw(raw: u32) -> ExitReason {
        ExitReason(raw)
    }

    /// All 32 bits.
    #[inline]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Bits 15:0: the basic exit reason.
    #[inline]
    pub const fn basic(self) -> u16 {
        self.0 as u16
    }

    /// The name of the basic exit reason, e.g. `"EPT_VIOLATION"`.
    pub fn name(self) -> Option<&'static str> {
        BASIC_EXIT_REASONS
            .iter()
            .find(|(basic, _)| *basic == self.basic())
            .map(|(_, name)| *name)
    }

    /// Bit 26: a bus lock was preempted.
    #[inline]
    pub const fn bus_lock_preempted(self) -> bool {
        self.0 & (1 << 26) != 0
    }

    /// Bit 27: the exit interrupted an enclave.
    #[inline]
    pub const fn enclave_interruption(self) -> bool {
        self.0 & (1 << 27) != 0
    }

    /// Bit 28: a monitor-trap-flag exit is pending.
    #[inline]
    pub const fn pending_mtf(self) -> bool {
        self.0 & (1 << 28) != 0
    }

    /// Bit 31: VM entry failed.
    #[inline]
    pub const fn vm_entry_failure(self) -> bool {
        self.0 & (1 << 31) != 0
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.basic())?;
        if let Some(name) = self.name() {
            write!(f, " {name}")?;
        }
        let flags = self.0 & 0xFFFF_0000;
        if flags != 0 {
            write!(f, " (flags {flags:#010x}")?;
            for (set, text) in [
                (self.vm_entry_failure(), "VM-entry failure"),
                (self.bus_lock_preempted(), "bus lock preempted"),
                (self.enclave_interruption(), "enclave interrupted"),
                (self.pending_mtf(), "MTF pending"),
            ] {
                if set {
                    write!(f, ", {text}")?;
                }
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExitReason({:#010x} = {})", self.0, self)
    }
}

/// Bits 31:0 of a status, with the meaning its code gives them.
///
/// Nothing is dropped: [`Details::raw`] is all 32 bits, and `Display` shows any bits the
/// interpretation does not use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Details {
    kind: DetailsKind,
    raw: u32,
}

const PAGE_SIZES: [&str; 5] = ["4K", "2M", "1G", "512G", "256T"];

fn page_size(level: u32) -> &'static str {
    PAGE_SIZES.get(level as usize).copied().unwrap_or("?")
}

impl Details {
    /// Bits 31:0 with the meaning `kind`.
    #[inline]
    pub const fn new(kind: DetailsKind, raw: u32) -> Details {
        Details { kind, raw }
    }

    /// What the bits mean.
    #[inline]
    pub const fn kind(self) -> DetailsKind {
        self.kind
    }

    /// All 32 bits.
    #[inline]
    pub const fn raw(self) -> u32 {
        self.raw
    }

    /// Whether there is nothing to show: no meaning and all bits zero, or bits that are part
    /// of a software code.
    #[inline]
    pub const fn is_empty(self) -> bool {
        match self.kind {
            DetailsKind::None | DetailsKind::SuccessInfo | DetailsKind::NotRead => self.raw == 0,
            DetailsKind::PartOfCode => true,
            _ => false,
        }
    }

    /// The operand, when the bits are an operand ID.
    #[inline]
    pub const fn operand(self) -> Option<Operand> {
        match self.kind {
            DetailsKind::Operand => Some(Operand(self.raw)),
            _ => None,
        }
    }

    /// The VM-exit reason, when the bits are one (for `TDX_SUCCESS` this holds only after
    /// TDH.VP.ENTER or TDG.VP.ENTER; the caller knows the leaf).
    #[inline]
    pub const fn exit_reason(self) -> Option<ExitReason> {
        match self.kind {
            DetailsKind::ExitReason | DetailsKind::SuccessInfo => Some(ExitReason(self.raw)),
            _ => None,
        }
    }

    /// The Secure-EPT level, when the bits are one (also the level of an L2 SEPT failure).
    #[inline]
    pub const fn sept_level(self) -> Option<u8> {
        match self.kind {
            DetailsKind::SeptLevel => Some(self.raw as u8),
            DetailsKind::L2SeptLevel => Some(self.raw as u16 as u8),
            _ => None,
        }
    }

    /// The MSR index, when the bits are one.
    #[inline]
    pub const fn msr_index(self) -> Option<u32> {
        match self.kind {
            DetailsKind::MsrIndex => Some(self.raw),
            _ => None,
        }
    }

    /// The bits the interpretation reads; others are shown raw if set.
    const fn used_bits(self) -> u32 {
        match self.kind {
            DetailsKind::None | DetailsKind::NotRead => 0,
            DetailsKind::SeptLevel => 0xFF,
            DetailsKind::SmrrCmr | DetailsKind::TdmrPamt | DetailsKind::TdmrReserved => 0xFFFF,
            DetailsKind::Tdmr => 0xFF,
            DetailsKind::PamtOverlap => 0xFF_FFFF,
            DetailsKind::MetadataList => {
                if self.raw >> 16 == 0xFFFF {
                    u32::MAX
                } else {
                    0
                }
            }
            _ => u32::MAX,
        }
    }
}

impl fmt::Display for Details {
    /// An empty string when [`Details::is_empty`]; otherwise e.g. `operand RCX`,
    /// `exit reason 48 EPT_VIOLATION`, `SEPT level 1, 2M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        let raw = self.raw;
        let b0 = raw & 0xFF;
        let b1 = (raw >> 8) & 0xFF;
        let b2 = (raw >> 16) & 0xFF;
        match self.kind {
            DetailsKind::None | DetailsKind::PartOfCode | DetailsKind::NotRead => Ok(()),
            DetailsKind::Operand => write!(f, "operand {}", Operand(raw)),
            DetailsKind::SuccessInfo => write!(
                f,
                "exit reason {} after VP.ENTER, or {raw} problem entries after EXPORT/IMPORT",
                ExitReason(raw)
            ),
            DetailsKind::ExitReason => write!(f, "exit reason {}", ExitReason(raw)),
            DetailsKind::SeptLevel => write!(f, "SEPT level {b0}, {}", page_size(b0)),
            DetailsKind::L2SeptLevel => {
                let level = raw & 0xFFFF;
                write!(
                    f,
                    "L2 VM {}, SEPT level {level}, {}",
                    raw >> 16,
                    page_size(level)
                )
            }
            DetailsKind::MsrIndex => write!(f, "MSR {raw:#x}"),
            DetailsKind::CpuidLeaf => write!(f, "CPUID leaf {raw:#x}"),
            DetailsKind::X2apicId => write!(f, "x2APIC ID {raw}"),
            DetailsKind::ServtdSlot => write!(f, "service-TD slot {raw}"),
            DetailsKind::SmrrIndex => write!(f, "SMRR {raw}"),
            DetailsKind::SmrrCmr => write!(f, "SMRR {b0}, CMR {b1}"),
            DetailsKind::Tdmr => write!(f, "TDMR {b0}"),
            DetailsKind::TdmrPamt => write!(f, "TDMR {b0}, {} PAMT", page_size(b1)),
            DetailsKind::PamtOverlap => {
                write!(f, "TDMR {b0}, {} PAMT, other TDMR {b2}", page_size(b1))
            }
            DetailsKind::TdmrReserved => write!(f, "TDMR {b0}, reserved area {b1}"),
            DetailsKind::PackageId => write!(f, "package {raw}"),
            DetailsKind::HkidLimit => write!(f, "module limit {raw} HKIDs"),
            DetailsKind::VmcsField => write!(f, "VMCS field {raw:#06x}"),
            DetailsKind::MetadataList if raw >> 16 == 0xFFFF => {
                write!(f, "metadata list element {}", raw & 0xFFFF)
            }
            DetailsKind::MetadataList => Ok(()),
        }?;
        let unused = raw & !self.used_bits();
        if unused != 0 {
            if self.used_bits() != 0 {
                f.write_str(", ")?;
            }
            write!(f, "details {raw:#010x}")?;
        }
        Ok(())
    }
}
