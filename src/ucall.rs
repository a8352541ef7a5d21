//! A guest-to-VMM mailbox over MMIO writes, for test harnesses: the KVM selftest "ucall"
//! pattern. The guest reports progress, values and its end; the VMM loop sees each report
//! as one [`Ucall`]. Works without `std`.
//!
//! # The protocol
//!
//! The mailbox is a shared GPA `M`, 16-byte aligned, that is not memory (the VMM emulates
//! it): two 8-byte registers, written only with #VE.RequestMMIO 8-byte writes
//! ([`Guest::tdvmcall_mmio_write`]).
//!
//! | address | write | meaning |
//! |---|---|---|
//! | `M + 8` | an argument | appended to the pending call's arguments (at most [`MAX_ARGS`]) |
//! | `M` | a command | ends the call: the VMM acts on the command with the arguments written since the last command |
//!
//! Commands: [`Command::Sync`] (progress: argument 0 is the stage), [`Command::Done`],
//! [`Command::Abort`] (argument 0 an error code), [`Command::Print`] (the arguments are up
//! to 48 bytes of text, 8 per argument, little-endian, NUL-padded), or any other value as
//! [`Command::User`]. Every write is answered with success; a reader of the mailbox gets 0.
//! A call with more than [`MAX_ARGS`] arguments reaches the VMM with `overflowed` set and
//! the first [`MAX_ARGS`].
//!
//! # Examples
//!
//! ```no_run
//! use tdxcall::abi::GuestPhysAddr;
//! use tdxcall::guest::Guest;
//! use tdxcall::ucall::GuestMailbox;
//!
//! // Guest side.
//! let mut guest = Guest::native();
//! let mailbox = GuestMailbox::new(GuestPhysAddr::new_const(1 << 47 | 0xFEB0_0000))?;
//! mailbox.sync(&mut guest, 1)?;
//! mailbox.print(&mut guest, "hello from the TD")?;
//! mailbox.done(&mut guest)?;
//! # Ok::<(), tdxcall::guest::tdvmcall::VmcallError>(())
//! ```
//!
//! The VMM side feeds every decoded request to a [`VmmMailbox`]; see
//! `examples/selftest.rs` for the whole loop.

use crate::abi::check::invalid;
use crate::abi::GuestPhysAddr;
use crate::call::Backend;
use crate::error::{Error, InvalidReason};
use crate::guest::tdvmcall::{MmioSize, VmcallResult};
use crate::guest::Guest;
use crate::host::vmcall::{Answer, Request};

/// The most arguments one call carries.
pub const MAX_ARGS: usize = 6;

/// Offset of the argument register from the mailbox GPA.
const ARG_OFFSET: u64 = 8;

/// The command numbers.
const SYNC: u64 = 1;
const DONE: u64 = 2;
const ABORT: u64 = 3;
const PRINT: u64 = 4;

/// What a call asks the VMM to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// 1: a progress report; argument 0 is the stage.
    Sync,
    /// 2: the guest finished.
    Done,
    /// 3: the guest failed; argument 0 is its error code.
    Abort,
    /// 4: text in the arguments.
    Print,
    /// Any other command number, for the harness's own use.
    User(u64),
}

impl Command {
    /// The number written to the command register.
    pub const fn number(self) -> u64 {
        match self {
            Command::Sync => SYNC,
            Command::Done => DONE,
            Command::Abort => ABORT,
            Command::Print => PRINT,
            Command::User(n) => n,
        }
    }

    /// The command for a number.
    pub const fn from_number(number: u64) -> Command {
        match number {
            SYNC => Command::Sync,
            DONE => Command::Done,
            ABORT => Command::Abort,
            PRINT => Command::Print,
            n => Command::User(n),
        }
    }
}

/// One call, as the VMM receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ucall {
    /// The command.
    pub command: Command,
    args: [u64; MAX_ARGS],
    len: usize,
    /// More than [`MAX_ARGS`] arguments were written; the first ones are kept.
    pub overflowed: bool,
}

impl Ucall {
    /// The arguments written since the previous call.
    pub fn args(&self) -> &[u64] {
        &self.args[..self.len]
    }

    /// Argument `index`, 0 if it was not written.
    pub fn arg(&self, index: usize) -> u64 {
        self.args().get(index).copied().unwrap_or(0)
    }

    /// The text of a [`Command::Print`]: the argument bytes up to the first NUL.
    pub fn text(&self) -> TextBytes {
        let mut bytes = [0u8; MAX_ARGS * 8];
        for (chunk, arg) in bytes.chunks_exact_mut(8).zip(self.args()) {
            chunk.copy_from_slice(&arg.to_le_bytes());
        }
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        TextBytes { bytes, len }
    }
}

/// The bytes of a printed text (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TextBytes {
    bytes: [u8; MAX_ARGS * 8],
    len: usize,
}

impl TextBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }
}

fn check_mailbox(gpa: GuestPhysAddr) -> Result<GuestPhysAddr, Error> {
    if gpa.raw() % 16 != 0 || gpa.raw() >> 51 != 0 {
        return Err(invalid(
            "ucall mailbox GPA",
            InvalidReason::Misaligned {
                value: gpa.raw(),
                required: 16,
            },
        )
        .into());
    }
    Ok(gpa)
}

/// The guest's half: writes calls to the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GuestMailbox {
    gpa: GuestPhysAddr,
}

impl GuestMailbox {
    /// The mailbox at the shared GPA `gpa` (16-byte aligned, below bit 51 so that the
    /// argument register is too).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a misaligned GPA.
    pub fn new(gpa: GuestPhysAddr) -> Result<GuestMailbox, Error> {
        check_mailbox(gpa).map(|gpa| GuestMailbox { gpa })
    }

    /// Sends `command` with `args` (the VMM keeps the first [`MAX_ARGS`]).
    ///
    /// # Errors
    ///
    /// The MMIO write's [`VmcallError`](crate::guest::tdvmcall::VmcallError).
    pub fn call<B: Backend>(
        &self,
        guest: &mut Guest<B>,
        command: Command,
        args: &[u64],
    ) -> VmcallResult<()> {
        let arg_gpa = GuestPhysAddr::from_raw_unchecked(self.gpa.raw() + ARG_OFFSET);
        for &arg in args {
            guest.tdvmcall_mmio_write(arg_gpa, MmioSize::B8, arg)?;
        }
        guest.tdvmcall_mmio_write(self.gpa, MmioSize::B8, command.number())
    }

    /// [`Command::Sync`] with `stage`.
    ///
    /// # Errors
    ///
    /// As [`GuestMailbox::call`].
    pub fn sync<B: Backend>(&self, guest: &mut Guest<B>, stage: u64) -> VmcallResult<()> {
        self.call(guest, Command::Sync, &[stage])
    }

    /// [`Command::Done`].
    ///
    /// # Errors
    ///
    /// As [`GuestMailbox::call`].
    pub fn done<B: Backend>(&self, guest: &mut Guest<B>) -> VmcallResult<()> {
        self.call(guest, Command::Done, &[])
    }

    /// [`Command::Abort`] with `code`.
    ///
    /// # Errors
    ///
    /// As [`GuestMailbox::call`].
    pub fn abort<B: Backend>(&self, guest: &mut Guest<B>, code: u64) -> VmcallResult<()> {
        self.call(guest, Command::Abort, &[code])
    }

    /// [`Command::Print`] of `text` (the first 48 bytes).
    ///
    /// # Errors
    ///
    /// As [`GuestMailbox::call`].
    pub fn print<B: Backend>(&self, guest: &mut Guest<B>, text: &str) -> VmcallResult<()> {
        let mut bytes = [0u8; MAX_ARGS * 8];
        let len = text.len().min(bytes.len());
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        let mut args = [0u64; MAX_ARGS];
        for (arg, chunk) in args.iter_mut().zip(bytes.chunks_exact(8)) {
            *arg = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        self.call(guest, Command::Print, &args[..len.div_ceil(8)])
    }
}

/// What [`VmmMailbox::handle`] made of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Handled {
    /// Not a mailbox access: the VMM handles the request itself.
    NotMailbox,
    /// An argument was stored (or a read answered); answer with the [`Answer`].
    Pending(Answer),
    /// A call is complete; answer with the [`Answer`] and act on the call.
    Call(Ucall, Answer),
}

/// The VMM's half: collects arguments until a command completes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmmMailbox {
    gpa: GuestPhysAddr,
    args: [u64; MAX_ARGS],
    len: usize,
    overflowed: bool,
}

impl VmmMailbox {
    /// The mailbox at `gpa` (the guest's [`GuestMailbox::new`] address).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a misaligned GPA.
    pub fn new(gpa: GuestPhysAddr) -> Result<VmmMailbox, Error> {
        check_mailbox(gpa).map(|gpa| VmmMailbox {
            gpa,
            args: [0; MAX_ARGS],
            len: 0,
            overflowed: false,
        })
    }

    /// Looks at one decoded TDVMCALL request: a write to the mailbox's registers stores an
    /// argument or completes a call, a read of them answers 0, anything else is
    /// [`Handled::NotMailbox`].
    pub fn handle(&mut self, request: &Request) -> Handled {
        let command = self.gpa.raw();
        let arg = command + ARG_OFFSET;
        match *request {
            Request::MmioWrite { gpa, value, .. } if gpa.raw() == arg => {
                if self.len < MAX_ARGS {
                    self.args[self.len] = value;
                    self.len += 1;
                } else {
                    self.overflowed = true;
                }
                Handled::Pending(Answer::Success)
            }
            Request::MmioWrite { gpa, value, .. } if gpa.raw() == command => {
                let call = Ucall {
                    command: Command::from_number(value),
                    args: self.args,
                    len: self.len,
                    overflowed: self.overflowed,
                };
                self.args = [0; MAX_ARGS];
                self.len = 0;
                self.overflowed = false;
                Handled::Call(call, Answer::Success)
            }
            Request::MmioRead { gpa, .. } if gpa.raw() == command || gpa.raw() == arg => {
                Handled::Pending(Answer::Value(0))
            }
            _ => Handled::NotMailbox,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::testing::*;
    use crate::host::vp::TdvmcallExit;
    use crate::status::{ExitReason, Status};

    const M: u64 = 1 << 47 | 0xFEB0_0000;

    /// Runs `body` on a guest whose every call goes through `vmm`, collecting the calls.
    fn through_vmm(
        calls: usize,
        body: impl FnOnce(&mut Guest<&mut dyn Backend>, &GuestMailbox),
    ) -> ([Option<Ucall>; 4], usize) {
        let replies: std::vec::Vec<Reply<'_>> = (0..calls).map(|_| (0, &nothing as _)).collect();
        let mailbox = GuestMailbox::new(GuestPhysAddr::new_const(M)).unwrap();
        let ((), log) = run(&replies, |g| body(g, &mailbox));
        let mut vmm = VmmMailbox::new(GuestPhysAddr::new_const(M)).unwrap();
        let mut out = [None; 4];
        let mut n = 0;
        for call in log.calls() {
            let exit = TdvmcallExit {
                status: Status::from_raw(u64::from(ExitReason::TDCALL)),
                regs: &call.regs,
            };
            match vmm.handle(&exit.request()) {
                Handled::Call(ucall, Answer::Success) => {
                    out[n] = Some(ucall);
                    n += 1;
                }
                Handled::Pending(Answer::Success) => {}
                other => panic!("{other:?}"),
            }
        }
        (out, n)
    }

    extern crate std;

    #[test]
    fn sync_print_done_and_abort_arrive_whole() {
        let (calls, n) = through_vmm(2 + 3 + 1 + 2, |g, m| {
            m.sync(g, 7).unwrap();
            m.print(g, "hello, VMM").unwrap();
            m.done(g).unwrap();
            m.abort(g, 0xBAD).unwrap();
        });
        assert_eq!(n, 4);
        let [sync, print, done, abort] = calls.map(Option::unwrap);
        assert_eq!((sync.command, sync.args()), (Command::Sync, &[7][..]));
        assert_eq!(print.command, Command::Print);
        assert_eq!(print.text().as_str(), Some("hello, VMM"));
        assert_eq!((done.command, done.args()), (Command::Done, &[][..]));
        assert_eq!((abort.command, abort.arg(0)), (Command::Abort, 0xBAD));
        assert!(!abort.overflowed);
    }

    #[test]
    fn too_many_arguments_are_flagged_and_user_commands_pass() {
        let (calls, n) = through_vmm(9, |g, m| {
            m.call(g, Command::User(0x99), &[1, 2, 3, 4, 5, 6, 7, 8])
                .unwrap();
        });
        assert_eq!(n, 1);
        let call = calls[0].unwrap();
        assert_eq!(call.command, Command::User(0x99));
        assert_eq!(call.args(), &[1, 2, 3, 4, 5, 6]);
        assert!(call.overflowed);
    }

    #[test]
    fn other_requests_are_not_the_mailbox_and_bad_addresses_are_refused() {
        let mut vmm = VmmMailbox::new(GuestPhysAddr::new_const(M)).unwrap();
        let other = Request::MmioWrite {
            gpa: GuestPhysAddr::new_const(M + 16),
            size: MmioSize::B8,
            value: 1,
        };
        assert_eq!(vmm.handle(&other), Handled::NotMailbox);
        assert_eq!(
            vmm.handle(&Request::Rdmsr { index: 1 }),
            Handled::NotMailbox
        );
        let read = Request::MmioRead {
            gpa: GuestPhysAddr::new_const(M),
            size: MmioSize::B8,
        };
        assert_eq!(vmm.handle(&read), Handled::Pending(Answer::Value(0)));
        assert!(GuestMailbox::new(GuestPhysAddr::new_const(M + 8)).is_err());
        let (res, log) = run(&[], |_| GuestMailbox::new(GuestPhysAddr::new_const(M + 4)));
        assert!(matches!(res, Err(Error::InvalidArgument(_))));
        assert_eq!(log.len(), 0);
    }
}
