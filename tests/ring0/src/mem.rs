//! The C-library functions `core` and the compiler call: `memcpy`, `memmove`, `memset`,
//! `memcmp` and `bcmp`.
//!
//! The host target's `compiler_builtins` leaves them to the C library, and the image links
//! none. The copies and fills are `rep movsb` / `rep stosb` in inline assembly, and the
//! compare reads through `read_volatile`, so the compiler cannot turn any of them back into a
//! call to itself.

use core::arch::asm;

/// Copies `len` bytes from `src` to `dst`; the ranges do not overlap.
///
/// # Safety
///
/// `src` is readable and `dst` writable for `len` bytes (the C contract).
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges; the direction flag is clear (System V).
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags)
        );
    }
    dst
}

/// Copies `len` bytes from `src` to `dst`; the ranges may overlap.
///
/// # Safety
///
/// `src` is readable and `dst` writable for `len` bytes (the C contract).
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= len {
        // `dst` is below `src` or past the end of it: a forward copy never reads a byte it
        // has already overwritten.
        // SAFETY: the caller's contract, forwarded.
        return unsafe { memcpy(dst, src, len) };
    }
    // `dst` starts inside the source: copy backwards, from the last byte, with DF set for
    // the one instruction and cleared again (System V requires DF clear at calls and returns).
    // SAFETY: the caller guarantees both ranges; `len > 0` here, so `len - 1` is in bounds.
    unsafe {
        asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") len => _,
            inout("rdi") dst.add(len - 1) => _,
            inout("rsi") src.add(len - 1) => _,
            options(nostack)
        );
    }
    dst
}

/// Fills `len` bytes at `dst` with the low byte of `value`.
///
/// # Safety
///
/// `dst` is writable for `len` bytes (the C contract).
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, value: i32, len: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range; the direction flag is clear (System V).
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") len => _,
            inout("rdi") dst => _,
            in("al") value as u8,
            options(nostack, preserves_flags)
        );
    }
    dst
}

/// Compares `len` bytes: negative, zero or positive as the first differing byte of `a` is
/// below, equal to or above that of `b`.
///
/// # Safety
///
/// `a` and `b` are readable for `len` bytes (the C contract).
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
    for index in 0..len {
        // SAFETY: `index < len`, and the caller guarantees `len` readable bytes at each.
        let (x, y) = unsafe { (a.add(index).read_volatile(), b.add(index).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// Zero when the `len` bytes at `a` and `b` are equal, non-zero otherwise.
///
/// # Safety
///
/// `a` and `b` are readable for `len` bytes (the C contract).
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
    // SAFETY: the same contract.
    unsafe { memcmp(a, b, len) }
}
