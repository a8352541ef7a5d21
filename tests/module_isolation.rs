//! The software TDX module keeps TDs apart as hardware does: every host-memory operand the
//! module reads or writes is a host-key access (the rule in the `tdxcall::module` docs,
//! section "Memory"). A host-key read of a TD's private memory gives zeros, never its
//! plaintext; a host-key write into it takes the lines away from the TD, whose next read
//! fails its integrity check instead of returning the host's bytes as the TD's data; and
//! where the module checks a shared-HPA operand, a private KeyID in it is refused with
//! TDX_OPERAND_INVALID and the operand's ID.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::{status, Machine, GLOBAL_HKID};
use std::thread;
use tdxcall::abi::{
    Context, FieldId, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdrPage, TdvprPage,
};
use tdxcall::emu;
use tdxcall::guest::Guest;
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::module::GuestMemoryError;
use tdxcall::status::{Operand, StatusCode};
use tdxcall::{Error, Regs, Status};

const TD_A: u16 = 40;
const TD_B: u16 = 41;
/// TD A's secret: what no other TD and no host read may ever see.
const SECRET: [u8; 4096] = [0xA5; 4096];

fn gpa(raw: u64) -> GuestPhysAddr {
    GuestPhysAddr::new(raw).unwrap()
}

/// `page` with `keyid` in its KeyID bits.
fn with_keyid(m: &Machine, page: HostPhysAddr, keyid: u16) -> HostPhysAddr {
    HostPhysAddr::new(page.raw() | u64::from(keyid) << m.module.keyid_shift()).unwrap()
}

/// PAGE.ADD of `source` into `tdr` at `at`; returns the target page.
fn add_from(m: &mut Machine, tdr: TdrPage, at: u64, source: HostPhysAddr) -> HostPhysAddr {
    let target = m.page();
    // SAFETY: model memory.
    unsafe { m.host.mem_page_add(gpa(at), tdr, target, source) }.unwrap();
    target
}

/// PAGE.ADD of a page holding `bytes` (the rest zero) into `tdr` at `at`; returns the
/// target page, now private to the TD.
fn add_holding(m: &mut Machine, tdr: TdrPage, at: u64, bytes: &[u8]) -> HostPhysAddr {
    let source = m.page();
    m.module.write(source, bytes).unwrap();
    add_from(m, tdr, at, source)
}

/// A ready platform and two initialized TDs, A and B, each with Secure-EPT pages for its
/// first 2 MiB, and TD A's secret in its page at GPA 0 (returned).
fn two_tds(m: &mut Machine) -> (TdrPage, TdrPage, HostPhysAddr) {
    m.init_platform();
    let a = initialized_td(m, TD_A);
    let b = initialized_td(m, TD_B);
    let secret = add_holding(m, a, 0, &SECRET);
    (a, b, secret)
}

/// An initialized TD with `hkid`, Secure-EPT pages for its first 2 MiB.
fn initialized_td(m: &mut Machine, hkid: u16) -> TdrPage {
    let tdr = m.create_td(hkid);
    m.init_td(tdr, &Machine::params()).unwrap();
    m.sept(tdr, 0);
    tdr
}

/// Reads one page of a TD's memory at `at` as its guest does.
fn guest_page(m: &Machine, tdr: TdrPage, at: u64) -> Result<Vec<u8>, GuestMemoryError> {
    let mut page = vec![0u8; 4096];
    m.module.guest_memory(tdr).read(gpa(at), &mut page)?;
    Ok(page)
}

#[test]
fn page_add_from_another_tds_page_never_copies_its_plaintext() {
    let mut m = Machine::new();
    let (a, b, secret) = two_tds(&mut m);
    assert_eq!(
        guest_page(&m, a, 0).unwrap(),
        SECRET,
        "A reads its own page"
    );
    // The module does not ask who owns R9: it reads the source with the host's key, and a
    // host-key read of A's page gives zeros.
    add_from(&mut m, b, 0x1000, secret);
    let copied = guest_page(&m, b, 0x1000).unwrap();
    assert!(
        copied.iter().all(|&byte| byte == 0),
        "B's guest sees zeros, not A's plaintext"
    );
    // A's page is untouched, and A can still read it.
    assert_eq!(guest_page(&m, a, 0).unwrap(), SECRET);
}

#[test]
fn page_add_source_with_a_private_keyid_is_refused_before_anything_happens() {
    let mut m = Machine::new();
    let (a, b, secret) = two_tds(&mut m);
    let target = m.page();
    for keyid in [TD_A, GLOBAL_HKID] {
        let source = with_keyid(&m, secret, keyid);
        // SAFETY: model memory.
        let add = unsafe { m.host.mem_page_add(gpa(0x1000), b, target, source) };
        assert_eq!(
            status(add),
            StatusCode::OperandInvalid.with_operand(Operand::R9),
            "KeyID {keyid}"
        );
    }
    assert_eq!(
        guest_page(&m, b, 0x1000),
        Err(GuestMemoryError::NotMapped { gpa: 0x1000 }),
        "nothing was added"
    );
    // A shared KeyID is a host key: allowed, and it reads the host's data.
    let source = m.page();
    m.module.write(source, &[0x3C; 64]).unwrap();
    let shared = with_keyid(&m, source, 1);
    // SAFETY: model memory.
    unsafe { m.host.mem_page_add(gpa(0x1000), b, target, shared) }.unwrap();
    assert_eq!(guest_page(&m, b, 0x1000).unwrap()[..64], [0x3C; 64]);
    assert_eq!(guest_page(&m, a, 0).unwrap(), SECRET);
}

#[test]
fn sys_rdall_into_a_tds_page_is_an_integrity_failure_for_the_td_never_its_data() {
    let mut m = Machine::new();
    let (a, b, secret) = two_tds(&mut m);
    // The module checks only that RDX is a shared HPA: on hardware the list lands in A's
    // page, written with the host's key.
    // SAFETY: model memory; the page is A's, which is what this test is about.
    unsafe { m.host.sys_rdall(secret, FieldId::null(Context::Platform)) }.unwrap();
    assert_eq!(
        guest_page(&m, a, 0).map(|_| "the host's list read as A's data"),
        Err(GuestMemoryError::IntegrityFailure { gpa: 0 }),
        "A's guest never reads the host's bytes as its own data"
    );
    // A machine check killed A; B is untouched.
    assert_eq!(status(m.host.mr_finalize(a)), StatusCode::TdFatal.status());
    m.create_vcpu(b, 5);
    // The host still cannot read the page (A owns it), and A's secret is gone for everyone.
    let mut out = [0u8; 64];
    assert!(m.module.read(secret, &mut out).is_err());
}

#[test]
fn sys_rdall_with_a_private_keyid_is_refused() {
    let mut m = Machine::new();
    let (a, _, secret) = two_tds(&mut m);
    let page = with_keyid(&m, secret, TD_A);
    // SAFETY: model memory; refused before any write.
    let rdall = unsafe { m.host.sys_rdall(page, FieldId::null(Context::Platform)) };
    assert_eq!(
        status(rdall),
        StatusCode::OperandInvalid.with_operand(Operand::RDX)
    );
    assert_eq!(guest_page(&m, a, 0).unwrap(), SECRET);
}

#[test]
fn mng_init_reads_td_params_with_the_host_key() {
    let mut m = Machine::new();
    let (a, _, _) = two_tds(&mut m);
    // TD_PARAMS that would be valid, held in A's private page at GPA 0x1000.
    let staging = m.page();
    m.module
        .write_td_params(staging, &Machine::params())
        .unwrap();
    let mut params = vec![0u8; 1024];
    m.module.read(staging, &mut params).unwrap();
    let private_params = add_holding(&mut m, a, 0x1000, &params);
    // A third TD's MNG.INIT from A's page reads zeros: XFAM 0 is invalid.
    let c = m.create_td(42);
    assert_eq!(
        status(m.host.mng_init(c, private_params)),
        StatusCode::OperandInvalid.with_operand(Operand::XFAM)
    );
    // With a private KeyID in the address: refused as a shared-HPA operand.
    let keyed = with_keyid(&m, staging, TD_A);
    assert_eq!(
        status(m.host.mng_init(c, keyed)),
        StatusCode::OperandInvalid.with_operand(Operand::RDX)
    );
    // From a host page it works.
    m.host.mng_init(c, staging).unwrap();
}

#[test]
fn sys_config_refuses_private_keyids_in_the_array_and_its_pointers() {
    let mut m = Machine::new();
    m.host.sys_init().unwrap();
    m.host.sys_lp_init().unwrap();
    m.on_lp1(|host| host.sys_lp_init().unwrap());
    let pointers = m.tdmr_pointers();
    let keyed = with_keyid(&m, pointers, GLOBAL_HKID);
    assert_eq!(
        status(m.host.sys_config(keyed, 1, Hkid::new(GLOBAL_HKID))),
        StatusCode::OperandInvalid.with_operand(Operand::RCX),
        "the pointer array"
    );
    let mut first = [0u8; 8];
    m.module.read(pointers, &mut first).unwrap();
    let info = HostPhysAddr::new(u64::from_le_bytes(first)).unwrap();
    let bad_pointers = m.page();
    m.module
        .write_u64s(bad_pointers, &[with_keyid(&m, info, 63).raw()])
        .unwrap();
    assert_eq!(
        status(m.host.sys_config(bad_pointers, 1, Hkid::new(GLOBAL_HKID))),
        StatusCode::OperandInvalid.with_operand(Operand::RCX),
        "a TDMR_INFO pointer"
    );
    // Shared KeyIDs are host keys: the array and the TDMR_INFO are read through them.
    let shared_pointers = m.page();
    m.module
        .write_u64s(shared_pointers, &[with_keyid(&m, info, 3).raw()])
        .unwrap();
    m.host
        .sys_config(
            with_keyid(&m, shared_pointers, 1),
            1,
            Hkid::new(GLOBAL_HKID),
        )
        .unwrap();
}

#[test]
fn mr_extend_of_a_chunk_the_host_overwrote_kills_the_td() {
    let mut m = Machine::new();
    let (a, _, secret) = two_tds(&mut m);
    m.host.mr_extend(gpa(0x100), a).unwrap();
    // SAFETY: model memory; the page is A's.
    unsafe { m.host.sys_rdall(secret, FieldId::null(Context::Platform)) }.unwrap();
    assert_eq!(
        status(m.host.mr_extend(gpa(0), a)),
        StatusCode::TdFatal.status(),
        "the module's TD-key read of the overwritten chunk fails its integrity check"
    );
    assert_eq!(
        status(m.host.mr_extend(gpa(0x100), a)),
        StatusCode::TdFatal.status(),
        "a FATAL TD takes no more SEAMCALLs"
    );
}

#[test]
fn a_removed_page_keeps_the_tds_data_from_the_host_and_from_other_tds() {
    let mut m = Machine::new();
    let (a, b, secret) = two_tds(&mut m);
    // SAFETY: model memory.
    let removed = unsafe { m.host.mem_page_remove(gpa(0), PageLevel::Size4K, a) }.unwrap();
    assert_eq!(removed, secret);
    // The page is the host's again, but its lines are still A's ciphertext.
    let mut out = vec![0xFFu8; 4096];
    m.module.read(secret, &mut out).unwrap();
    assert!(out.iter().all(|&byte| byte == 0), "the host reads zeros");
    add_from(&mut m, b, 0, secret);
    assert!(guest_page(&m, b, 0).unwrap().iter().all(|&byte| byte == 0));
}

/// TDH.VP.ENTER: whether the exit is asynchronous, and its status.
fn vp_enter(m: &mut Machine, tdvpr: TdvprPage) -> Result<(bool, Status), Error> {
    let mut regs = Regs::ZERO;
    // SAFETY: the software module answers.
    unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }
        .map(|exit| (matches!(exit, TdExit::Async(_)), exit.status()))
}

#[test]
fn a_guest_tdcall_that_reads_an_overwritten_line_ends_the_td() {
    let mut m = Machine::new();
    let (a, tdvpr, page) = m.built_td(TD_A);
    m.host.mr_finalize(a).unwrap();
    // SAFETY: model memory; the page is A's (GPA 0).
    unsafe { m.host.sys_rdall(page, FieldId::null(Context::Platform)) }.unwrap();
    let vcpu = m.module.virtual_cpu(tdvpr);
    let guest = thread::spawn(move || {
        let _vcpu = emu::install(vcpu);
        let mut guest = Guest::native();
        let extend = guest.mr_rtmr_extend(gpa(0), 2);
        // Any later TDCALL of the dead TD raises #UD too.
        (extend, guest.vp_info().map(drop))
    });
    match vp_enter(&mut m, tdvpr) {
        Ok((true, exit_status)) => assert_eq!(
            exit_status,
            StatusCode::NonRecoverableTd.status(),
            "the host's TDH.VP.ENTER returns the TD's machine check"
        ),
        other => panic!("expected TDX_NON_RECOVERABLE_TD, got {other:?}"),
    }
    let (extend, info) = guest.join().unwrap();
    assert_eq!(extend, Err(Error::Status(Status::TDCALL_UD)));
    assert_eq!(info, Err(Error::Status(Status::TDCALL_UD)));
    assert_eq!(
        status(vp_enter(&mut m, tdvpr)),
        StatusCode::TdFatal.status()
    );
}
