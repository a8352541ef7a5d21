//! Live migration between two software TDX modules: the whole flow (the `migrate` example)
//! and each failure path, with the exact status the module returns.
#![cfg(all(
    feature = "software-module",
    target_arch = "x86_64",
    target_os = "linux"
))]

#[path = "../examples/migrate.rs"]
#[allow(unused)]
mod migrate;

use migrate::{Bundle, Machine, Setup, StateKind, Td, DATA_GPA, DATA_PAGES, STATE_GPA};
use tdxcall::abi::mig::GpaListOp;
use tdxcall::abi::{Attributes, GuestPhysAddr, PageLevel};
use tdxcall::module::GuestMemoryError;
use tdxcall::status::{Operand, StatusCode};
use tdxcall::{Error, Status};

fn status<T: core::fmt::Debug>(result: Result<T, Error>) -> Status {
    match result {
        Err(Error::Status(status)) => status,
        other => panic!("expected a module status, got {other:?}"),
    }
}

fn all_gpas() -> Vec<u64> {
    let mut gpas = vec![0, STATE_GPA];
    gpas.extend((0..DATA_PAGES).map(|i| DATA_GPA + 0x1000 * i));
    gpas
}

/// Session started on both sides: immutable state exported and imported.
fn started() -> (Setup, Td) {
    let setup = Setup::new(None);
    let bundle = setup
        .a
        .export_state(StateKind::Immutable, setup.source)
        .expect("EXPORT.STATE.IMMUTABLE");
    let dest = Td {
        tdr: setup.dest,
        tdvpr: setup.source.tdvpr,
    };
    setup
        .b
        .import_state(StateKind::Immutable, dest, &bundle)
        .expect("IMPORT.STATE.IMMUTABLE");
    setup.b.sept(setup.dest);
    (setup, dest)
}

/// BLOCKW and EXPORT.MEM of `gpas` (first export).
fn export(a: &Machine, td: Td, gpas: &[u64]) -> Bundle {
    a.blockw(td.tdr, gpas).expect("EXPORT.BLOCKW");
    let list: Vec<_> = gpas.iter().map(|&g| (g, GpaListOp::Migrate)).collect();
    a.export_mem(td.tdr, &list).expect("EXPORT.MEM")
}

fn commit_status(b: &Machine, dest: Td) -> Status {
    let tdr = dest.tdr;
    status(b.run(move |host, _| host.import_commit(tdr)))
}

#[test]
fn whole_flow_migrates_a_running_td() {
    let mut lines = Vec::new();
    let report = migrate::run(&mut |line| lines.push(line));
    assert_eq!(
        report.stats.pages,
        2 + DATA_PAGES,
        "every page exported once"
    );
    assert!(
        report.stats.re_exported >= 1,
        "pages dirtied during pre-copy were re-exported"
    );
    assert_eq!(
        report.stats.epochs, 5,
        "three in-order epochs while running, one paused, and the start token"
    );
    assert_eq!(report.guest.pages_verified, DATA_PAGES);
    assert_eq!(report.guest.counters_continued, 1 + DATA_PAGES);
    assert_eq!(report.mrtd_source, migrate::expected_mrtd());
    assert_eq!(report.mrtd_source, report.mrtd_destination);
    let lines = migrate::summary(&report);
    assert!(lines[0].starts_with("migrated: 10 pages, "), "{}", lines[0]);
    assert!(lines[0].ends_with(", 5 epochs, 11 bundles"), "{}", lines[0]);
    assert_eq!(
        lines[1],
        "destination guest: memory verified, 9 counters continued"
    );
    let mrtd = migrate::hex(&migrate::expected_mrtd());
    assert_eq!(mrtd.len(), 96);
    assert_eq!(lines[2], format!("MRTD source:      {mrtd}"));
    assert_eq!(lines[3], format!("MRTD destination: {mrtd}"));
    // A second run in the same process: the same MRTDs.
    let again = migrate::run(&mut |_| {});
    assert_eq!(migrate::summary(&again)[2..], lines[2..]);
}

#[test]
fn abort_on_source_before_pause_then_restore() {
    let (setup, _dest) = started();
    let (a, source) = (&setup.a, setup.source);
    export(a, source, &[0, STATE_GPA]);
    a.export_abort(source.tdr, None)
        .expect("EXPORT.ABORT in LIVE_EXPORT");
    // RUNNABLE again: a leaf of the live phase is refused ...
    let tdr = source.tdr;
    assert_eq!(
        status(a.run(move |host, _| host.export_pause(tdr))),
        StatusCode::OpStateIncorrect.status()
    );
    // ... and a new session waits until every exported page is restored.
    assert_eq!(
        status(a.export_state(StateKind::Immutable, source)),
        StatusCode::PreviousExportCleanupIncomplete.status()
    );
    // The exported pages are still write-blocked for the guest until then.
    let memory = a.module.guest_memory(source.tdr);
    let at = GuestPhysAddr::new(STATE_GPA).unwrap();
    assert_eq!(
        memory.write(at, &[1]),
        Err(GuestMemoryError::WriteBlocked { gpa: STATE_GPA })
    );
    a.export_restore(source.tdr, &[0, STATE_GPA])
        .expect("EXPORT.RESTORE");
    memory.write(at, &[1]).expect("writable after RESTORE");
    a.export_state(StateKind::Immutable, source)
        .expect("a new session starts");
}

#[test]
fn abort_on_source_after_pause_and_after_the_start_token() {
    let (setup, dest) = started();
    let (a, b, source) = (&setup.a, &setup.b, setup.source);
    let bundle = export(a, source, &all_gpas());
    b.import_mem(dest.tdr, &bundle).expect("IMPORT.MEM");
    let tdr = source.tdr;
    a.run(move |host, _| host.export_pause(tdr))
        .expect("EXPORT.PAUSE");
    // PAUSED_EXPORT: abort needs no token.
    a.export_abort(source.tdr, None)
        .expect("EXPORT.ABORT in PAUSED_EXPORT");
    assert_eq!(
        status(a.export_track(source.tdr, false)),
        StatusCode::OpStateIncorrect.status()
    );

    // A second session to POST_EXPORT: then only the destination's abort token aborts.
    let (setup, dest) = started_again(setup);
    let (a, b, source) = (&setup.a, &setup.b, setup.source);
    let bundle = export(a, source, &all_gpas());
    b.import_mem(dest.tdr, &bundle).expect("IMPORT.MEM");
    let tdr = source.tdr;
    a.run(move |host, _| host.export_pause(tdr))
        .expect("EXPORT.PAUSE");
    a.export_state(StateKind::Td, source).expect("STATE.TD");
    a.export_state(StateKind::Vp, source).expect("STATE.VP");
    a.export_track(source.tdr, true).expect("start token");
    let garbage = Bundle {
        mbmd: vec![0; 64],
        ..Bundle::default()
    };
    assert_eq!(
        status(a.export_abort(source.tdr, Some(&garbage))),
        StatusCode::InvalidMbmd.status()
    );
    let token = b.import_abort(dest.tdr).expect("IMPORT.ABORT");
    a.export_abort(source.tdr, Some(&token))
        .expect("EXPORT.ABORT with the destination's abort token");
    a.export_restore(source.tdr, &all_gpas()).expect("RESTORE");
}

/// Restores the source after an aborted session and starts a new one into a fresh
/// destination TD on a new machine B (the first destination is spent).
fn started_again(setup: Setup) -> (Setup, Td) {
    setup
        .a
        .export_restore(setup.source.tdr, &all_gpas())
        .expect("RESTORE");
    drop(setup);
    started()
}

#[test]
fn import_abort_leaves_a_td_that_never_runs() {
    let (setup, dest) = started();
    let (a, b, source) = (&setup.a, &setup.b, setup.source);
    let bundle = export(a, source, &[0]);
    b.import_abort(dest.tdr).expect("IMPORT.ABORT");
    assert_eq!(
        status(b.import_mem(dest.tdr, &bundle)),
        StatusCode::OpStateIncorrect.status()
    );
    assert_eq!(
        commit_status(b, dest),
        StatusCode::OpStateIncorrect.status()
    );
}

#[test]
fn tampered_bundles_fail_import() {
    // A page's ciphertext changed: its tag fails.
    let (setup, dest) = started();
    let mut bundle = export(&setup.a, setup.source, &[0, STATE_GPA]);
    bundle.pages[1][100] ^= 1;
    assert_eq!(
        status(setup.b.import_mem(dest.tdr, &bundle)),
        StatusCode::InvalidPageMac.with_operand(Operand::R11)
    );
    assert_eq!(
        commit_status(&setup.b, dest),
        StatusCode::OpStateIncorrect.status()
    );

    // A GPA-list entry changed (the page moved to another GPA): the MBMD's MAC fails.
    let (setup, dest) = started();
    let mut bundle = export(&setup.a, setup.source, &[0, STATE_GPA]);
    bundle.entries[1] += 0x1000;
    assert_eq!(
        status(setup.b.import_mem(dest.tdr, &bundle)),
        StatusCode::IncorrectMbmdMac.status()
    );

    // A truncated bundle (one entry dropped): the MBMD's MAC fails.
    let (setup, dest) = started();
    let mut bundle = export(&setup.a, setup.source, &[0, STATE_GPA]);
    bundle.entries.pop();
    bundle.pages.pop();
    assert_eq!(
        status(setup.b.import_mem(dest.tdr, &bundle)),
        StatusCode::IncorrectMbmdMac.status()
    );
    // The failed in-order import is over: nothing more is imported.
    let again = export(&setup.a, setup.source, &[DATA_GPA]);
    assert_eq!(
        status(setup.b.import_mem(dest.tdr, &again)),
        StatusCode::OpStateIncorrect.status()
    );
}

#[test]
fn replayed_bundle_fails_import() {
    let (setup, dest) = started();
    let bundle = export(&setup.a, setup.source, &[0]);
    setup.b.import_mem(dest.tdr, &bundle).expect("first import");
    assert_eq!(
        status(setup.b.import_mem(dest.tdr, &bundle)),
        StatusCode::InvalidMbmd.status()
    );
    assert_eq!(
        commit_status(&setup.b, dest),
        StatusCode::OpStateIncorrect.status()
    );
}

#[test]
fn bundle_out_of_order_fails_import() {
    let (setup, dest) = started();
    let first = export(&setup.a, setup.source, &[0]);
    let second = export(&setup.a, setup.source, &[STATE_GPA]);
    assert_eq!(
        status(setup.b.import_mem(dest.tdr, &second)),
        StatusCode::InvalidMbmd.status()
    );
    // The session is over: even the right bundle is refused now.
    assert_eq!(
        status(setup.b.import_mem(dest.tdr, &first)),
        StatusCode::OpStateIncorrect.status()
    );
}

#[test]
fn wrong_key_fails_the_first_import() {
    let setup = Setup::new(Some([1, 2, 3, 4]));
    let bundle = setup
        .a
        .export_state(StateKind::Immutable, setup.source)
        .expect("EXPORT.STATE.IMMUTABLE");
    let dest = Td {
        tdr: setup.dest,
        tdvpr: setup.source.tdvpr,
    };
    assert_eq!(
        status(setup.b.import_state(StateKind::Immutable, dest, &bundle)),
        StatusCode::IncorrectMbmdMac.status()
    );
    // FAILED_IMPORT: no second try, no commit.
    assert_eq!(
        status(setup.b.import_state(StateKind::Immutable, dest, &bundle)),
        StatusCode::OpStateIncorrect.status()
    );
    assert_eq!(
        commit_status(&setup.b, dest),
        StatusCode::OpStateIncorrect.status()
    );
}

#[test]
fn page_dirtied_after_export_must_be_reexported() {
    let (setup, dest) = started();
    let (a, b, source) = (&setup.a, &setup.b, setup.source);
    let bundle = export(a, source, &all_gpas());
    b.import_mem(dest.tdr, &bundle).expect("IMPORT.MEM");
    // The guest writes an exported page: blocked; the VMM unblocks it (now dirty); the
    // write goes through.
    let memory = a.module.guest_memory(source.tdr);
    let at = GuestPhysAddr::new(DATA_GPA).unwrap();
    assert_eq!(
        memory.write(at, b"new"),
        Err(GuestMemoryError::WriteBlocked { gpa: DATA_GPA })
    );
    let tdr = source.tdr;
    a.run(move |host, _| {
        host.export_unblockw(at, PageLevel::Size4K, tdr)
            .map_err(|e| e.error)
    })
    .expect("EXPORT.UNBLOCKW");
    memory.write(at, b"new").expect("dirty page is writable");
    a.run(move |host, _| host.export_pause(tdr)).expect("PAUSE");
    let token = a.export_track(source.tdr, false).expect("EXPORT.TRACK");
    b.import_track(dest.tdr, &token).expect("IMPORT.TRACK");
    let td_state = a.export_state(StateKind::Td, source).expect("STATE.TD");
    let vp_state = a.export_state(StateKind::Vp, source).expect("STATE.VP");
    // The VMM skips the re-export: no start token.
    assert_eq!(
        status(a.export_track(source.tdr, true)),
        StatusCode::ExportedDirtyPagesRemain.status()
    );
    // Without it the destination, which holds the stale page, cannot commit and never
    // runs.
    b.import_state(StateKind::Td, dest, &td_state)
        .expect("STATE.TD");
    let vcpu = b.create_vcpu(dest.tdr);
    let dest = Td {
        tdr: dest.tdr,
        tdvpr: vcpu,
    };
    b.import_state(StateKind::Vp, dest, &vp_state)
        .expect("STATE.VP");
    assert_eq!(
        commit_status(b, dest),
        StatusCode::OpStateIncorrect.status()
    );
    let entered = b.run(move |host, _| {
        let mut regs = tdxcall::Regs::ZERO;
        // SAFETY: model vCPU.
        unsafe { host.vp_enter(vcpu, tdxcall::host::vp::VpEnterFlags::empty(), &mut regs) }
            .map(drop)
    });
    assert_eq!(status(entered), StatusCode::OpStateIncorrect.status());

    // Re-exporting it (paused: no BLOCKW needed) makes the start token possible.
    let again = a
        .export_mem(source.tdr, &[(DATA_GPA, GpaListOp::Remigrate)])
        .expect("REMIGRATE");
    let start = a.export_track(source.tdr, true).expect("start token");
    b.import_mem(dest.tdr, &again)
        .expect("IMPORT.MEM of the re-exported page");
    b.import_track(dest.tdr, &start)
        .expect("IMPORT.TRACK start token");
    let mut bytes = [0u8; 3];
    b.module
        .guest_memory(dest.tdr)
        .read(at, &mut bytes)
        .expect("imported page");
    assert_eq!(&bytes, b"new");
}

#[test]
fn import_into_a_td_in_the_wrong_state() {
    let setup = Setup::new(None);
    let bundle = setup
        .a
        .export_state(StateKind::Immutable, setup.source)
        .expect("EXPORT.STATE.IMMUTABLE");
    // A TD that went through MNG.INIT (RUNNABLE) cannot be an import target.
    let other = setup.b.build_td(
        40,
        Attributes::SEPT_VE_DISABLE | Attributes::MIGRATABLE,
        migrate::source_pages(),
    );
    assert_eq!(
        status(setup.b.import_state(StateKind::Immutable, other, &bundle)),
        StatusCode::OpStateIncorrect.status()
    );
    // Memory and state leaves before the immutable state: wrong state too.
    let dest = Td {
        tdr: setup.dest,
        tdvpr: setup.source.tdvpr,
    };
    assert_eq!(
        status(setup.b.import_state(StateKind::Td, dest, &bundle)),
        StatusCode::OpStateIncorrect.status()
    );
    assert_eq!(
        commit_status(&setup.b, dest),
        StatusCode::OpStateIncorrect.status()
    );
    // The right state still works.
    setup
        .b
        .import_state(StateKind::Immutable, dest, &bundle)
        .expect("IMPORT.STATE.IMMUTABLE");
}

#[test]
fn prebind_checks_the_service_td_hash_at_bind() {
    use tdxcall::abi::mig::ServtdAttr;
    use tdxcall::host::servtd::ServtdSlot;
    let m = Machine::new();
    let migtd = m.build_migtd();
    let slot = ServtdSlot {
        slot: 0,
        servtd_type: 0,
    };
    let attr = ServtdAttr::new(0).unwrap();
    let prebind_then_bind = |hkid: u16, hash: [u8; 48]| {
        let target = m.create_td(hkid);
        let page = m.module.alloc_page().unwrap();
        m.module.write(page, &hash).unwrap();
        let servtd = migtd.tdr;
        m.run(move |host, _| {
            host.servtd_prebind(target, page, slot, attr)?;
            host.servtd_bind(target, servtd, slot, attr).map(drop)
        })
    };
    // A hash that is not the MigTD's: BIND refuses it.
    assert_eq!(
        status(prebind_then_bind(50, [0xAA; 48])),
        StatusCode::ServtdInfoHashMismatch.status()
    );
    // The MigTD's SERVTD_INFO_HASH (what a VMM gets from the MigTD's TDINFO): BIND takes it.
    let hash = m.module.servtd_info_hash(migtd.tdr, attr.raw()).unwrap();
    prebind_then_bind(51, hash).expect("PREBIND, then BIND of the pre-bound MigTD");
}
