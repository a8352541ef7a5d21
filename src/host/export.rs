//! Live-migration export: TDH.EXPORT.* leaves.
//!
//! ABORT, MEM, TRACK and the three STATE leaves run AES-GCM, which zeroes XMM0-15: they go
//! through the host's one vector-clobbering path (see the leaf table). Interrupted leaves
//! (TDX_INTERRUPTED_RESUMABLE) come back as errors; call again with
//! [`MigCommand::Resume`] and the same other inputs.

use super::{check_page, DetailedError, DetailedResult, Host, SeptDetails};
use crate::abi::mig::{
    stream_operand, GpaListInfo, Mbmd, MigCommand, MigStreamIndex, PageListInfo,
};
use crate::abi::{GuestPhysAddr, HostPhysAddr, PageLevel, TdrPage, TdvprPage};
use crate::call::Backend;
use crate::error::{Error, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::{Status, StatusCode};
use crate::xstate::Preserve;

/// The buffers of a TDH.EXPORT.MEM or TDH.IMPORT.MEM call (R8-R12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemBundle {
    /// R8: the MBMD buffer.
    pub mbmd: Mbmd,
    /// R9: the migration-buffer list page (a list of 4 KiB buffer HPAs, one per GPA entry).
    pub buffer_list: HostPhysAddr,
    /// R11, R12: the two MAC list pages.
    pub mac_lists: [HostPhysAddr; 2],
    /// R10 bits 15:0: the stream.
    pub stream: MigStreamIndex,
    /// R10 bit 63: new or resume.
    pub command: MigCommand,
}

impl MemBundle {
    pub(crate) fn fill(&self, regs: &mut Regs) -> Result<()> {
        regs.r8 = self.mbmd.raw();
        regs.r9 = check_page("migration buffer list", self.buffer_list)?.raw();
        regs.r10 = stream_operand(self.stream, self.command);
        regs.r11 = check_page("MAC list 0", self.mac_lists[0])?.raw();
        regs.r12 = check_page("MAC list 1", self.mac_lists[1])?.raw();
        Ok(())
    }
}

/// What TDH.EXPORT.MEM reports on completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExportMem {
    /// RCX: the GPA list info, advanced past the processed entries.
    pub gpa_list: GpaListInfo,
    /// RDX: the number of entries processed.
    pub processed: u64,
    /// RAX bits 31:0: the number of list entries with a problem status (see each
    /// [`GpaListEntry::status`](crate::abi::mig::GpaListEntry::status)).
    pub problem_entries: u32,
}

/// How TDH.EXPORT.BLOCKW completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExportBlockw {
    /// RCX: the GPA list info, advanced.
    pub gpa_list: GpaListInfo,
    /// Whether the module returned TDX_ALREADY_WRITE_BLOCKED (a warning).
    pub already_blocked: bool,
}

pub(crate) fn list_result(status: Status, regs: &Regs) -> DetailedResult<GpaListInfo, GpaListInfo> {
    let list = GpaListInfo::from_raw(regs.rcx).ok();
    if status.is_error() {
        return Err(DetailedError {
            error: Error::from(status),
            details: list,
        });
    }
    Ok(list.unwrap_or(GpaListInfo::from_raw(0).expect("zero is a valid GPA_LIST_INFO")))
}

impl<B: Backend> Host<B> {
    /// TDH.EXPORT.ABORT (leaf 64): abort an export session, writing an abort token MBMD.
    ///
    /// RCX = TDR, R8 = MBMD, R10 = stream 0. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    ///
    /// # Safety
    ///
    /// The module writes the MBMD buffer: it must be host memory the caller owns for the
    /// call.
    #[inline]
    #[doc(alias = "TDH.EXPORT.ABORT")]
    pub unsafe fn export_abort(
        &mut self,
        tdr: TdrPage,
        mbmd: Mbmd,
        preserve: Preserve<'_>,
    ) -> Result<()> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            r8: mbmd.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller lends the MBMD buffer.
        Status::check(unsafe { self.call_migration(Leaf::TdhExportAbort, &mut regs, preserve) })
            .map(drop)
    }

    /// TDH.EXPORT.BLOCKW (leaf 65): write-block the pages of a GPA list.
    ///
    /// RCX = GPA_LIST_INFO, RDX = TDR. RCX comes back advanced (also on failure, in the
    /// error's details). Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] (TDX_INTERRUPTED_RESUMABLE: call again with the returned list).
    ///
    /// # Safety
    ///
    /// The module writes each entry's status into the list page: it must be host memory
    /// the caller owns for the call.
    #[inline]
    #[doc(alias = "TDH.EXPORT.BLOCKW")]
    pub unsafe fn export_blockw(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
    ) -> DetailedResult<ExportBlockw, GpaListInfo> {
        // SAFETY: the caller lends the list page.
        let (status, regs) = unsafe { self.gpa_list_call(Leaf::TdhExportBlockw, 0, gpa_list, tdr) };
        let gpa_list = list_result(status, &regs)?;
        Ok(ExportBlockw {
            gpa_list,
            already_blocked: status.is(StatusCode::AlreadyWriteBlocked),
        })
    }

    /// TDH.EXPORT.RESTORE (leaf 66): undo the export state of a GPA list's pages after an
    /// aborted export.
    ///
    /// RCX = GPA_LIST_INFO, RDX = TDR; RCX comes back advanced. Module 1.5+.
    ///
    /// # Errors
    ///
    /// As [`Host::export_blockw`].
    ///
    /// # Safety
    ///
    /// As [`Host::export_blockw`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.RESTORE")]
    pub unsafe fn export_restore(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
    ) -> DetailedResult<GpaListInfo, GpaListInfo> {
        // SAFETY: the caller lends the list page.
        unsafe { self.export_restore_at(0, gpa_list, tdr) }
    }

    /// TDH.EXPORT.MEM (leaf 68): export (encrypt) the pages of a GPA list.
    ///
    /// RCX = GPA_LIST_INFO, RDX = TDR, R8 = MBMD, R9 = buffer list, R10 = stream and
    /// command, R11/R12 = MAC lists. RCX comes back advanced (always); on completion RDX =
    /// entries processed and RAX bits 31:0 = entries with problems. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for misaligned pages; [`Error::Status`] with the updated
    /// list in the details (TDX_INTERRUPTED_RESUMABLE: resume with
    /// [`MigCommand::Resume`]).
    ///
    /// # Safety
    ///
    /// The module writes the MBMD, the migration buffers named in the buffer list, the MAC
    /// lists and the GPA list: all must be host memory the caller owns for the call.
    #[inline]
    #[doc(alias = "TDH.EXPORT.MEM")]
    pub unsafe fn export_mem(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
        bundle: &MemBundle,
        preserve: Preserve<'_>,
    ) -> DetailedResult<ExportMem, GpaListInfo> {
        // SAFETY: the caller lends the buffers.
        unsafe { self.export_mem_at(0, gpa_list, tdr, bundle, preserve) }
    }

    /// A GPA-list leaf that is not vector-clobbering (TDH.EXPORT.BLOCKW, TDH.EXPORT.RESTORE)
    /// at leaf version `version`: RCX = GPA_LIST_INFO, RDX = TDR; the status and the
    /// output registers.
    ///
    /// # Safety
    ///
    /// As [`Host::export_blockw`].
    #[inline]
    pub(super) unsafe fn gpa_list_call(
        &mut self,
        leaf: Leaf,
        version: u8,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
    ) -> (Status, Regs) {
        let mut regs = Regs {
            rcx: gpa_list.raw(),
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: forwarded; the caller lends the list page.
        let status = unsafe { self.call(leaf, version, &mut regs) };
        (status, regs)
    }

    /// TDH.EXPORT.RESTORE at leaf version `version`.
    ///
    /// # Safety
    ///
    /// As [`Host::export_restore`].
    #[inline]
    pub(super) unsafe fn export_restore_at(
        &mut self,
        version: u8,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
    ) -> DetailedResult<GpaListInfo, GpaListInfo> {
        // SAFETY: forwarded; the caller lends the list page.
        let (status, regs) =
            unsafe { self.gpa_list_call(Leaf::TdhExportRestore, version, gpa_list, tdr) };
        list_result(status, &regs)
    }

    /// TDH.EXPORT.MEM at leaf version `version`: the page checks of [`MemBundle::fill`]
    /// before any instruction, then the call through the vector-preserving path.
    ///
    /// # Safety
    ///
    /// As [`Host::export_mem`].
    #[inline]
    pub(super) unsafe fn export_mem_at(
        &mut self,
        version: u8,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
        bundle: &MemBundle,
        preserve: Preserve<'_>,
    ) -> DetailedResult<ExportMem, GpaListInfo> {
        let mut regs = Regs {
            rcx: gpa_list.raw(),
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        bundle.fill(&mut regs)?;
        // SAFETY: forwarded; the caller lends the buffers.
        let status = unsafe {
            self.call_migration_versioned(Leaf::TdhExportMem, version, &mut regs, preserve)
        };
        let gpa_list = list_result(status, &regs)?;
        Ok(ExportMem {
            gpa_list,
            processed: regs.rdx,
            problem_entries: status.details_l2(),
        })
    }

    /// TDH.EXPORT.PAUSE (leaf 70): pause the TD for the final export phase.
    ///
    /// RCX = TDR. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.PAUSE")]
    pub fn export_pause(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhExportPause, tdr).map(drop)
    }

    /// TDH.EXPORT.TRACK (leaf 71): end an export epoch, writing an epoch token MBMD.
    ///
    /// RCX = TDR, R8 = MBMD, R10 = stream 0 | command (bit 63: [`MigCommand::New`] = next
    /// in-order epoch, [`MigCommand::Resume`] = end of the in-order phase). Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    ///
    /// # Safety
    ///
    /// As [`Host::export_abort`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.TRACK")]
    pub unsafe fn export_track(
        &mut self,
        tdr: TdrPage,
        mbmd: Mbmd,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> Result<()> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            r8: mbmd.raw(),
            r10: stream_operand(MigStreamIndex(0), command),
            ..Regs::ZERO
        };
        // SAFETY: the caller lends the MBMD buffer.
        Status::check(unsafe { self.call_migration(Leaf::TdhExportTrack, &mut regs, preserve) })
            .map(drop)
    }

    /// TDH.EXPORT.STATE.IMMUTABLE (leaf 72): export the TD's immutable state; starts the
    /// session (retried on TDX_RND_NO_ENTROPY, the session key).
    ///
    /// RCX = TDR, R8 = MBMD, R9 = page list, R10 = stream and command. RDX = pages
    /// written. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] (TDX_INTERRUPTED_RESUMABLE: resume with [`MigCommand::Resume`]).
    ///
    /// # Safety
    ///
    /// The module writes the MBMD and the pages of the list: host memory the caller owns
    /// for the call.
    #[inline]
    #[doc(alias = "TDH.EXPORT.STATE.IMMUTABLE")]
    pub unsafe fn export_state_immutable(
        &mut self,
        tdr: TdrPage,
        mbmd: Mbmd,
        pages: PageListInfo,
        stream: MigStreamIndex,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> Result<u64> {
        // SAFETY: the caller lends the buffers.
        unsafe {
            self.export_state(
                Leaf::TdhExportStateImmutable,
                state_operands(tdr.raw(), mbmd, pages, stream, command),
                preserve,
            )
        }
    }

    /// TDH.EXPORT.STATE.TD (leaf 73): export the TD's mutable TD-scope state.
    ///
    /// As [`Host::export_state_immutable`] (no entropy retry). Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// As [`Host::export_state_immutable`].
    ///
    /// # Safety
    ///
    /// As [`Host::export_state_immutable`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.STATE.TD")]
    pub unsafe fn export_state_td(
        &mut self,
        tdr: TdrPage,
        mbmd: Mbmd,
        pages: PageListInfo,
        stream: MigStreamIndex,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> Result<u64> {
        // SAFETY: the caller lends the buffers.
        unsafe {
            self.export_state(
                Leaf::TdhExportStateTd,
                state_operands(tdr.raw(), mbmd, pages, stream, command),
                preserve,
            )
        }
    }

    /// TDH.EXPORT.STATE.VP (leaf 74): export a vCPU's state (RCX = TDVPR).
    ///
    /// As [`Host::export_state_immutable`]. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// As [`Host::export_state_immutable`].
    ///
    /// # Safety
    ///
    /// As [`Host::export_state_immutable`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.STATE.VP")]
    pub unsafe fn export_state_vp(
        &mut self,
        tdvpr: TdvprPage,
        mbmd: Mbmd,
        pages: PageListInfo,
        stream: MigStreamIndex,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> Result<u64> {
        // SAFETY: the caller lends the buffers.
        unsafe {
            self.export_state(
                Leaf::TdhExportStateVp,
                state_operands(tdvpr.raw(), mbmd, pages, stream, command),
                preserve,
            )
        }
    }

    unsafe fn export_state(
        &mut self,
        leaf: Leaf,
        mut regs: Regs,
        preserve: Preserve<'_>,
    ) -> Result<u64> {
        // SAFETY: the caller of the public wrapper lends the buffers.
        let status = unsafe {
            if leaf == Leaf::TdhExportStateImmutable {
                self.call_migration_retrying_entropy(leaf, &mut regs, preserve)
            } else {
                self.call_migration(leaf, &mut regs, preserve)
            }
        };
        Status::check(status)?;
        Ok(regs.rdx)
    }

    /// TDH.EXPORT.UNBLOCKW (leaf 75): remove the write block of one page.
    ///
    /// RCX = page_info (level 0..=4), RDX = TDR. SEPT details on failure. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with [`SeptDetails`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.UNBLOCKW")]
    pub fn export_unblockw(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<(), SeptDetails> {
        self.gpa_tdr(Leaf::TdhExportUnblockw, gpa, level, PageLevel::Size4K, tdr)
            .map(drop)
    }
}

/// The registers of the STATE.IMMUTABLE/TD/VP export and import leaves: RCX = TDR (TDVPR for
/// .VP), R8 = MBMD, R9 = page list, R10 = stream index and command.
pub(super) fn state_operands(
    handle: u64,
    mbmd: Mbmd,
    pages: PageListInfo,
    stream: MigStreamIndex,
    command: MigCommand,
) -> Regs {
    Regs {
        rcx: handle,
        r8: mbmd.raw(),
        r9: pages.raw(),
        r10: stream_operand(stream, command),
        ..Regs::ZERO
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::testing::*;

    pub const TDR: u64 = 0x7_0000_1000;
    pub fn tdr() -> TdrPage {
        TdrPage::from_raw(TDR).unwrap()
    }
    pub fn hpa(raw: u64) -> HostPhysAddr {
        HostPhysAddr::new(raw).unwrap()
    }
    pub fn mbmd() -> Mbmd {
        Mbmd::new(hpa(0x4080), 0x80).unwrap()
    }
    pub const MBMD: u64 = 0x80 << 52 | 0x4080;
    pub fn bundle(command: MigCommand) -> MemBundle {
        MemBundle {
            mbmd: mbmd(),
            buffer_list: hpa(0x5000),
            mac_lists: [hpa(0x6000), hpa(0x7000)],
            stream: MigStreamIndex(2),
            command,
        }
    }

    #[test]
    fn abort_track_pause() {
        let input = regs!(rcx: TDR, r8: MBMD);
        let calls = [seamcall(64, input, regs!(JUNK;), 0)];
        // SAFETY: scripted backend; no instruction executes.
        with_script(&calls, |h| unsafe {
            h.export_abort(tdr(), mbmd(), Preserve::skip())
        })
        .unwrap();
        let calls = [seamcall(71, regs!(input; r10: 1 << 63), regs!(JUNK;), 0)];
        // SAFETY: scripted backend; no instruction executes.
        with_script(&calls, |h| unsafe {
            h.export_track(tdr(), mbmd(), MigCommand::Resume, Preserve::skip())
        })
        .unwrap();
        let e = 0xC000_0E05_0000_0000;
        let calls = [seamcall(71, input, input, e)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.export_track(tdr(), mbmd(), MigCommand::New, Preserve::skip())
        });
        assert_eq!(r, Err(Error::Status(Status::from_raw(e))));
        let calls = [seamcall(70, regs!(rcx: TDR), regs!(JUNK;), 0)];
        with_script(&calls, |h| h.export_pause(tdr())).unwrap();
    }

    #[test]
    fn blockw_restore_mem_lists() {
        let list = GpaListInfo::new(hpa(0x8000), 0, 9).unwrap();
        let advanced = GpaListInfo::new(hpa(0x8000), 4, 9).unwrap();
        let input = regs!(rcx: list.raw(), rdx: TDR);
        let calls = [seamcall(
            65,
            input,
            regs!(JUNK; rcx: advanced.raw()),
            0x0000_0E03_0000_0000,
        )];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe { h.export_blockw(list, tdr()) }).unwrap();
        assert_eq!(
            r,
            ExportBlockw {
                gpa_list: advanced,
                already_blocked: true
            }
        );
        let interrupted = 0x8000_0003_0000_0000;
        let calls = [seamcall(
            66,
            input,
            regs!(JUNK; rcx: advanced.raw()),
            interrupted,
        )];
        // SAFETY: scripted backend; no instruction executes.
        let err = with_script(&calls, |h| unsafe { h.export_restore(list, tdr()) }).unwrap_err();
        assert_eq!(
            (err.status(), err.details),
            (Some(Status::from_raw(interrupted)), Some(advanced))
        );

        let input = regs!(rcx: list.raw(), rdx: TDR, r8: MBMD, r9: 0x5000, r10: 2, r11: 0x6000, r12: 0x7000);
        let out = regs!(JUNK; rcx: advanced.raw(), rdx: 10);
        let calls = [seamcall(68, input, out, 3)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.export_mem(list, tdr(), &bundle(MigCommand::New), Preserve::skip())
        })
        .unwrap();
        assert_eq!(
            r,
            ExportMem {
                gpa_list: advanced,
                processed: 10,
                problem_entries: 3
            }
        );
        let calls = [seamcall(
            68,
            regs!(input; r10: 1 << 63 | 2),
            out,
            interrupted,
        )];
        // SAFETY: scripted backend; no instruction executes.
        let err = with_script(&calls, |h| unsafe {
            h.export_mem(list, tdr(), &bundle(MigCommand::Resume), Preserve::skip())
        })
        .unwrap_err();
        assert_eq!(err.details, Some(advanced));
        let mut bad = bundle(MigCommand::New);
        bad.mac_lists[1] = hpa(0x7010);
        let rejected = without_call(|h| {
            // SAFETY: scripted backend; no instruction executes.
            unsafe { h.export_mem(list, tdr(), &bad, Preserve::skip()) }
        });
        assert!(rejected.is_err());
    }

    #[test]
    fn state_leaves_and_unblockw() {
        let pages = PageListInfo::new(hpa(0x9000), 3).unwrap();
        let input = regs!(rcx: TDR, r8: MBMD, r9: pages.raw(), r10: 2);
        let out = regs!(JUNK; rdx: 4);
        let entropy = 0x8000_0203_0000_0000;
        let calls = [
            seamcall(72, input, input, entropy),
            seamcall(72, input, out, 0),
        ];
        // SAFETY: scripted backend; no instruction executes.
        let n = with_script(&calls, |h| unsafe {
            h.export_state_immutable(
                tdr(),
                mbmd(),
                pages,
                MigStreamIndex(2),
                MigCommand::New,
                Preserve::skip(),
            )
        });
        assert_eq!(n, Ok(4));
        let calls = [seamcall(73, input, out, 0)];
        // SAFETY: scripted backend; no instruction executes.
        let n = with_script(&calls, |h| unsafe {
            h.export_state_td(
                tdr(),
                mbmd(),
                pages,
                MigStreamIndex(2),
                MigCommand::New,
                Preserve::skip(),
            )
        });
        assert_eq!(n, Ok(4));
        let input = regs!(rcx: 0x2000, r8: MBMD, r9: pages.raw(), r10: 1 << 63 | 2);
        let calls = [seamcall(74, input, input, entropy)];
        let tdvpr = TdvprPage::from_raw(0x2000).unwrap();
        // SAFETY: scripted backend; no instruction executes.
        let n = with_script(&calls, |h| unsafe {
            h.export_state_vp(
                tdvpr,
                mbmd(),
                pages,
                MigStreamIndex(2),
                MigCommand::Resume,
                Preserve::skip(),
            )
        });
        assert_eq!(n, Err(Error::Status(Status::from_raw(entropy))));

        let input = regs!(rcx: 0x3000, rdx: TDR);
        let calls = [seamcall(75, input, regs!(JUNK; rcx: 0, rdx: 0), 0)];
        with_script(&calls, |h| {
            h.export_unblockw(
                GuestPhysAddr::new(0x3000).unwrap(),
                PageLevel::Size4K,
                tdr(),
            )
        })
        .unwrap();
        let calls = [seamcall(
            75,
            input,
            regs!(JUNK; rcx: 9, rdx: 0x100),
            0xC000_0B0D_0000_0000,
        )];
        let err = with_script(&calls, |h| {
            h.export_unblockw(
                GuestPhysAddr::new(0x3000).unwrap(),
                PageLevel::Size4K,
                tdr(),
            )
        })
        .unwrap_err();
        assert_eq!(err.details.map(|d| (d.entry, d.state)), Some((9, 1)));
    }
}
