//! Live-migration import: TDH.IMPORT.* leaves.
//!
//! ABORT, MEM, TRACK and the three STATE leaves run AES-GCM, which zeroes XMM0-15: they go
//! through the host's one vector-clobbering path. Interrupted leaves
//! (TDX_INTERRUPTED_RESUMABLE) come back as errors; call again with
//! [`MigCommand::Resume`].

use super::export::{list_result, state_operands, MemBundle};
use super::{check_page, DetailedError, DetailedResult, Host};
use crate::abi::mig::{
    stream_operand, GpaListInfo, Mbmd, MigCommand, MigStreamIndex, PageListInfo,
};
use crate::abi::{HostPhysAddr, TdrPage, TdvprPage};
use crate::call::Backend;
use crate::error::{Error, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::{Status, StatusCode};
use crate::xstate::Preserve;

/// The extended error information the state import leaves write on failure (RCX, RDX;
/// e.g. the metadata field ID that failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImportErrorInfo {
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
}

impl<B: Backend> Host<B> {
    /// TDH.IMPORT.ABORT (leaf 80): abort an import session, consuming an abort token.
    ///
    /// RCX = TDR, R8 = MBMD (read), R10 = stream 0. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.ABORT")]
    pub fn import_abort(&mut self, tdr: TdrPage, mbmd: Mbmd, preserve: Preserve<'_>) -> Result<()> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            r8: mbmd.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the module reads the MBMD only.
        Status::check(unsafe { self.call_migration(Leaf::TdhImportAbort, &mut regs, preserve) })
            .map(drop)
    }

    /// TDH.IMPORT.END (leaf 81): end an import session.
    ///
    /// RCX = TDR. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.END")]
    pub fn import_end(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhImportEnd, tdr).map(drop)
    }

    /// TDH.IMPORT.COMMIT (leaf 82): commit the import; the TD may run on this platform.
    ///
    /// RCX = TDR. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.COMMIT")]
    pub fn import_commit(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhImportCommit, tdr).map(drop)
    }

    /// TDH.IMPORT.MEM (leaf 83): import (decrypt) the pages of a GPA list.
    ///
    /// RCX = GPA_LIST_INFO, RDX = TDR, R8 = MBMD, R9 = buffer list, R10 = stream and
    /// command, R11/R12 = MAC lists, R13 = new-page list (NULL_PA = import in place). RCX
    /// comes back advanced (also in the error's details). Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for misaligned pages; [`Error::Status`].
    ///
    /// # Safety
    ///
    /// The pages named in the new-page list become private TD pages; the module writes
    /// entry statuses into the GPA list. All must be host memory the caller owns for the
    /// call, and the new pages are given up.
    #[inline]
    #[doc(alias = "TDH.IMPORT.MEM")]
    pub unsafe fn import_mem(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
        bundle: &MemBundle,
        new_pages: Option<HostPhysAddr>,
        preserve: Preserve<'_>,
    ) -> DetailedResult<GpaListInfo, GpaListInfo> {
        // SAFETY: the caller lends the buffers and gives the new pages up.
        unsafe { self.import_mem_at(0, gpa_list, tdr, bundle, new_pages, preserve) }
    }

    /// TDH.IMPORT.MEM at leaf version `version`: the page checks of [`MemBundle::fill`]
    /// and of the new-page list before any instruction, then the call through the
    /// vector-preserving path.
    ///
    /// # Safety
    ///
    /// As [`Host::import_mem`].
    #[inline]
    pub(super) unsafe fn import_mem_at(
        &mut self,
        version: u8,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
        bundle: &MemBundle,
        new_pages: Option<HostPhysAddr>,
        preserve: Preserve<'_>,
    ) -> DetailedResult<GpaListInfo, GpaListInfo> {
        let mut regs = Regs {
            rcx: gpa_list.raw(),
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        bundle.fill(&mut regs)?;
        regs.r13 = super::page_or_null(
            new_pages
                .map(|p| check_page("new-page list", p))
                .transpose()?,
        );
        // SAFETY: forwarded; the caller lends the buffers and gives the new pages up.
        let status = unsafe {
            self.call_migration_versioned(Leaf::TdhImportMem, version, &mut regs, preserve)
        };
        list_result(status, &regs)
    }

    /// TDH.IMPORT.TRACK (leaf 84): consume an epoch token.
    ///
    /// RCX = TDR, R8 = MBMD (read), R10 = stream and command. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.TRACK")]
    pub fn import_track(
        &mut self,
        tdr: TdrPage,
        mbmd: Mbmd,
        stream: MigStreamIndex,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> Result<()> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            r8: mbmd.raw(),
            r10: stream_operand(stream, command),
            ..Regs::ZERO
        };
        // SAFETY: the module reads the MBMD only.
        Status::check(unsafe { self.call_migration(Leaf::TdhImportTrack, &mut regs, preserve) })
            .map(drop)
    }

    /// TDH.IMPORT.STATE.IMMUTABLE (leaf 85): import the TD's immutable state; starts the
    /// session (retried on TDX_RND_NO_ENTROPY).
    ///
    /// RCX = TDR, R8 = MBMD, R9 = page list, R10 = stream and command (all read). RCX/RDX
    /// = extended error info on failure. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with [`ImportErrorInfo`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.STATE.IMMUTABLE")]
    pub fn import_state_immutable(
        &mut self,
        tdr: TdrPage,
        mbmd: Mbmd,
        pages: PageListInfo,
        stream: MigStreamIndex,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> DetailedResult<(), ImportErrorInfo> {
        self.import_state(
            Leaf::TdhImportStateImmutable,
            state_operands(tdr.raw(), mbmd, pages, stream, command),
            preserve,
        )
    }

    /// TDH.IMPORT.STATE.TD (leaf 86): import the TD's mutable TD-scope state.
    ///
    /// As [`Host::import_state_immutable`]. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// As [`Host::import_state_immutable`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.STATE.TD")]
    pub fn import_state_td(
        &mut self,
        tdr: TdrPage,
        mbmd: Mbmd,
        pages: PageListInfo,
        stream: MigStreamIndex,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> DetailedResult<(), ImportErrorInfo> {
        self.import_state(
            Leaf::TdhImportStateTd,
            state_operands(tdr.raw(), mbmd, pages, stream, command),
            preserve,
        )
    }

    /// TDH.IMPORT.STATE.VP (leaf 87): import a vCPU's state (RCX = TDVPR).
    ///
    /// As [`Host::import_state_immutable`]. Module 1.5+.
    ///
    /// `preserve` says how the caller's vector state, which this leaf's AES-GCM clobbers,
    /// is kept: [`Preserve::on_stack`], [`Preserve::in_area`], or [`Preserve::skip`] for a
    /// caller that saved it itself (see [`crate::xstate`]).
    ///
    /// # Errors
    ///
    /// As [`Host::import_state_immutable`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.STATE.VP")]
    pub fn import_state_vp(
        &mut self,
        tdvpr: TdvprPage,
        mbmd: Mbmd,
        pages: PageListInfo,
        stream: MigStreamIndex,
        command: MigCommand,
        preserve: Preserve<'_>,
    ) -> DetailedResult<(), ImportErrorInfo> {
        self.import_state(
            Leaf::TdhImportStateVp,
            state_operands(tdvpr.raw(), mbmd, pages, stream, command),
            preserve,
        )
    }

    fn import_state(
        &mut self,
        leaf: Leaf,
        mut regs: Regs,
        preserve: Preserve<'_>,
    ) -> DetailedResult<(), ImportErrorInfo> {
        // SAFETY: the module reads the MBMD and the state pages; it writes TD state only.
        let status = unsafe {
            if leaf == Leaf::TdhImportStateImmutable {
                self.call_migration_retrying_entropy(leaf, &mut regs, preserve)
            } else {
                self.call_migration(leaf, &mut regs, preserve)
            }
        };
        if status.is_error() {
            let interrupted = status.is(StatusCode::InterruptedResumable) || status.is_software();
            return Err(DetailedError {
                error: Error::from(status),
                details: (!interrupted).then_some(ImportErrorInfo {
                    rcx: regs.rcx,
                    rdx: regs.rdx,
                }),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::export::tests::{bundle, hpa, mbmd, tdr, MBMD, TDR};
    use crate::host::testing::*;
    use crate::Status;

    #[test]
    fn abort_end_commit_track() {
        let input = regs!(rcx: TDR, r8: MBMD);
        let calls = [seamcall(80, input, regs!(JUNK;), 0)];
        with_script(&calls, |h| h.import_abort(tdr(), mbmd(), Preserve::skip())).unwrap();
        let calls = [seamcall(81, regs!(rcx: TDR), regs!(JUNK;), 0)];
        with_script(&calls, |h| h.import_end(tdr())).unwrap();
        let e = 0xC000_0E12_0000_0000;
        let calls = [seamcall(82, regs!(rcx: TDR), regs!(rcx: TDR), e)];
        assert_eq!(
            with_script(&calls, |h| h.import_commit(tdr())),
            Err(Error::Status(Status::from_raw(e)))
        );
        let calls = [seamcall(84, regs!(input; r10: 1), regs!(JUNK;), 0)];
        with_script(&calls, |h| {
            h.import_track(
                tdr(),
                mbmd(),
                MigStreamIndex(1),
                MigCommand::New,
                Preserve::skip(),
            )
        })
        .unwrap();
    }

    #[test]
    fn mem() {
        let list = GpaListInfo::new(hpa(0x8000), 0, 9).unwrap();
        let advanced = GpaListInfo::new(hpa(0x8000), 9, 9).unwrap();
        let input = regs!(rcx: list.raw(), rdx: TDR, r8: MBMD, r9: 0x5000, r10: 2, r11: 0x6000, r12: 0x7000, r13: crate::abi::NULL_PA);
        let calls = [seamcall(83, input, regs!(JUNK; rcx: advanced.raw()), 0)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.import_mem(
                list,
                tdr(),
                &bundle(MigCommand::New),
                None,
                Preserve::skip(),
            )
        });
        assert_eq!(r, Ok(advanced));
        let e = 0xC000_0E0F_0000_0000;
        let calls = [seamcall(
            83,
            regs!(input; r13: 0xA000),
            regs!(JUNK; rcx: advanced.raw()),
            e,
        )];
        // SAFETY: scripted backend; no instruction executes.
        let err = with_script(&calls, |h| unsafe {
            h.import_mem(
                list,
                tdr(),
                &bundle(MigCommand::New),
                Some(hpa(0xA000)),
                Preserve::skip(),
            )
        })
        .unwrap_err();
        assert_eq!(err.details, Some(advanced));
        // SAFETY: scripted backend; no instruction executes.
        assert!(without_call(|h| unsafe {
            h.import_mem(
                list,
                tdr(),
                &bundle(MigCommand::New),
                Some(hpa(0xA001)),
                Preserve::skip(),
            )
        })
        .is_err());
    }

    #[test]
    fn state_leaves() {
        let pages = PageListInfo::new(hpa(0x9000), 3).unwrap();
        let input = regs!(rcx: TDR, r8: MBMD, r9: pages.raw(), r10: 2);
        let calls = [
            seamcall(85, input, input, 0x8000_0203_0000_0000),
            seamcall(85, input, regs!(JUNK; rcx: 0, rdx: 0), 0),
        ];
        with_script(&calls, |h| {
            h.import_state_immutable(
                tdr(),
                mbmd(),
                pages,
                MigStreamIndex(2),
                MigCommand::New,
                Preserve::skip(),
            )
        })
        .unwrap();
        let e = 0xC000_0C03_0000_0000;
        let calls = [seamcall(
            86,
            input,
            regs!(JUNK; rcx: 0x1110_0003_0000_0001, rdx: 7),
            e,
        )];
        let err = with_script(&calls, |h| {
            h.import_state_td(
                tdr(),
                mbmd(),
                pages,
                MigStreamIndex(2),
                MigCommand::New,
                Preserve::skip(),
            )
        })
        .unwrap_err();
        assert_eq!(
            err.details,
            Some(ImportErrorInfo {
                rcx: 0x1110_0003_0000_0001,
                rdx: 7
            })
        );
        let tdvpr = TdvprPage::from_raw(0x2000).unwrap();
        let input = regs!(rcx: 0x2000, r8: MBMD, r9: pages.raw(), r10: 1 << 63 | 2);
        let interrupted = 0x8000_0003_0000_0000;
        let calls = [seamcall(87, input, input, interrupted)];
        let err = with_script(&calls, |h| {
            h.import_state_vp(
                tdvpr,
                mbmd(),
                pages,
                MigStreamIndex(2),
                MigCommand::Resume,
                Preserve::skip(),
            )
        })
        .unwrap_err();
        assert_eq!(
            (err.status(), err.details),
            (Some(Status::from_raw(interrupted)), None)
        );
    }
}
