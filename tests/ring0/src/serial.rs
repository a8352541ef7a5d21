//! The 16550 UART at COM1: the image's only output.

use core::arch::asm;
use core::fmt;

const COM1: u16 = 0x3f8;
/// Line status register bit 5: the transmit holding register is empty.
const LSR_THR_EMPTY: u8 = 1 << 5;

/// Writes `value` to I/O port `port`.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O to the UART and the debug-exit device the image owns; it touches no
    // memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Writes `value` to I/O port `port` as 32 bits.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as in `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    };
}

fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: reads a UART register; it touches no memory.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// 115200 baud, 8N1, FIFO on, no interrupts.
pub fn init() {
    outb(COM1 + 1, 0x00); // interrupt enable: none
    outb(COM1 + 3, 0x80); // line control: DLAB, to set the divisor
    outb(COM1, 0x01); // divisor low: 115200 / 1
    outb(COM1 + 1, 0x00); // divisor high
    outb(COM1 + 3, 0x03); // line control: 8 bits, no parity, 1 stop bit
    outb(COM1 + 2, 0xc7); // FIFO: enable, clear both, 14-byte threshold
}

/// The serial port as a `fmt::Write` sink.
pub struct Serial;

impl fmt::Write for Serial {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            while inb(COM1 + 5) & LSR_THR_EMPTY == 0 {}
            outb(COM1, byte);
        }
        Ok(())
    }
}

/// Prints to the serial port.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        // The port cannot fail.
        let _ = core::fmt::Write::write_fmt(&mut $crate::serial::Serial, format_args!($($arg)*));
    }};
}

/// Prints a line to the serial port.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!($($arg)*);
        $crate::print!("\n");
    }};
}
