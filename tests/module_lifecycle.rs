//! The lifecycle example end to end, twice: same MRTD each time, equal to the MRTD computed
//! offline, in TDH.MNG.RD and in the guest's TDREPORT.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

#[path = "../examples/lifecycle.rs"]
mod lifecycle;

#[test]
fn lifecycle_runs_end_to_end_twice_with_the_same_mrtd() {
    let expected = lifecycle::expected_mrtd();
    let mut lines = Vec::new();
    let first = lifecycle::run(&mut |line| lines.push(line));
    let second = lifecycle::run(&mut |_| {});
    assert_eq!(first.mrtd, expected, "the model's MRTD is the offline one");
    assert_eq!(
        second.mrtd, first.mrtd,
        "a second TD built the same way measures the same"
    );
    assert_eq!(first.guest_mrtd, expected, "TDG.MR.REPORT carries the MRTD");
    assert_ne!(expected, tdxcall::module::MrtdBuilder::new().finish());

    // The VMM saw: the EPT violation of the lazy accept, the mailbox's three MMIO writes
    // (SYNC's argument and command, DONE), the HLT.
    assert_eq!(
        first.exits,
        vec![(48, 0x2000), (77, 48), (77, 48), (77, 48), (77, 12)],
        "{lines:#?}"
    );
    let mrtd_head = u64::from_le_bytes(expected[..8].try_into().unwrap());
    assert_eq!(first.ucalls, vec![(1, mrtd_head), (2, 0)]);
    assert_eq!(first.exits, second.exits);
    // 1 TDR + 6 TDCS + 6 TDVPS + 3 SEPT + 2 added + 1 augmented pages.
    assert_eq!(first.reclaimed, 19);
    assert_eq!(
        first.guest_release,
        Some(tdxcall::status::StatusCode::TdcallUd.status()),
        "the teardown releases the guest's blocked TDVMCALL with #UD"
    );
}
