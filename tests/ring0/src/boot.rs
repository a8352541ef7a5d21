//! From QEMU's PVH entry to Rust: the PVH note, the 32-bit entry, identity paging, long mode
//! and the stack.
//!
//! QEMU's `-kernel` loads an ELF that carries a PVH note (`XEN_ELFNOTE_PHYS32_ENTRY`) and
//! starts the address in that note in 32-bit protected mode: flat segments, paging off,
//! interrupts off, no stack. The entry below:
//!
//! 1. zeroes `.bss` (page tables, stack and every zero-initialised static live there);
//! 2. identity-maps the first GiB with 2 MiB pages (1 GiB pages triple-fault under KVM's
//!    default CPU model, so they are avoided even though this image runs under TCG);
//! 3. enables PAE, and SSE (the host target's `core` uses SSE registers) with CR4.OSFXSR /
//!    OSXMMEXCPT and CR0.MP set, CR0.EM clear;
//! 4. sets EFER.LME, turns paging on, loads a GDT with a 64-bit code segment and jumps to
//!    it;
//! 5. sets up the data segments and the stack and calls [`crate::ring0_main`].

use core::arch::global_asm;

/// Bytes of stack for the whole run, exception handlers included.
const STACK_BYTES: usize = 64 * 1024;

global_asm!(
    // The PVH note: namesz, descsz, type 18 (XEN_ELFNOTE_PHYS32_ENTRY), "Xen", then the
    // 32-bit physical address of the entry. SHT_NOTE, so the linker gives it a PT_NOTE
    // segment, where QEMU looks.
    ".pushsection .note.pvh, \"a\", @note",
    ".balign 4",
    ".long 4",
    ".long 4",
    ".long 18",
    ".asciz \"Xen\"",
    ".balign 4",
    ".long pvh_start32",
    ".balign 4",
    ".popsection",

    // Page tables and the stack: zeroed by the entry code, not by the loader.
    ".pushsection .bss.boot, \"aw\", @nobits",
    ".balign 4096",
    "boot_pml4: .skip 4096",
    "boot_pdpt: .skip 4096",
    "boot_pd: .skip 4096",
    "boot_stack: .skip {stack_bytes}",
    "boot_stack_top:",
    ".popsection",

    // GDT: null, 0x08 64-bit code (L=1, DPL 0), 0x10 data. The pointer's base is written as
    // 8 bytes so the same pointer serves a 32-bit and a 64-bit LGDT.
    ".pushsection .rodata.boot_gdt, \"a\"",
    ".balign 16",
    "boot_gdt:",
    ".quad 0",
    ".quad 0x00af9a000000ffff",
    ".quad 0x00cf92000000ffff",
    "boot_gdt_end:",
    "boot_gdt_pointer:",
    ".word boot_gdt_end - boot_gdt - 1",
    ".quad boot_gdt",
    ".popsection",

    ".pushsection .text.boot32, \"ax\"",
    ".code32",
    ".globl pvh_start32",
    "pvh_start32:",
    "    cli",
    "    cld",
    // Zero .bss. EBX holds the PVH start-info pointer, which the image does not use.
    "    mov $__bss_start, %edi",
    "    mov $__bss_end, %ecx",
    "    sub %edi, %ecx",
    "    xor %eax, %eax",
    "    rep stosb",
    // PML4[0] -> PDPT, PDPT[0] -> PD: present and writable.
    "    mov $boot_pdpt + 0x3, %eax",
    "    mov %eax, boot_pml4",
    "    mov $boot_pd + 0x3, %eax",
    "    mov %eax, boot_pdpt",
    // PD[i] = i * 2 MiB | PS | RW | P, for the 512 entries: the first GiB. The upper halves
    // of the entries stay zero from the .bss clear.
    "    xor %ecx, %ecx",
    "1:  mov %ecx, %eax",
    "    shl $21, %eax",
    "    or $0x83, %eax",
    "    mov %eax, boot_pd(,%ecx,8)",
    "    inc %ecx",
    "    cmp $512, %ecx",
    "    jb 1b",
    // CR4: PAE (bit 5), OSFXSR (9), OSXMMEXCPT (10).
    "    mov %cr4, %eax",
    "    or $0x620, %eax",
    "    mov %eax, %cr4",
    "    mov $boot_pml4, %eax",
    "    mov %eax, %cr3",
    // EFER (MSR 0xC0000080).LME, bit 8: long mode once paging is on.
    "    mov $0xc0000080, %ecx",
    "    rdmsr",
    "    or $0x100, %eax",
    "    wrmsr",
    // CR0: clear EM (bit 2) so SSE does not fault; set MP (1), PE (0) and PG (31).
    "    mov %cr0, %eax",
    "    and $~0x4, %eax",
    "    or $0x80000003, %eax",
    "    mov %eax, %cr0",
    // Now in compatibility mode: a far jump through the 64-bit code segment enters long mode.
    "    lgdt boot_gdt_pointer",
    "    ljmp $0x08, $boot_start64",
    ".code64",
    "boot_start64:",
    "    mov $0x10, %eax",
    "    mov %eax, %ds",
    "    mov %eax, %es",
    "    mov %eax, %ss",
    "    mov %eax, %fs",
    "    mov %eax, %gs",
    "    mov $boot_stack_top, %esp",
    // No caller frame: a zero RBP ends any frame-pointer walk here.
    "    xor %ebp, %ebp",
    "    call {main}",
    "    ud2",
    ".popsection",
    stack_bytes = const STACK_BYTES,
    main = sym crate::ring0_main,
    options(att_syntax)
);
