//! A host tool's view of a TD: every TD and vCPU field the module lets the host read,
//! iterated with `Host::mng_fields` / `Host::vp_fields` and named by `abi::field_names`.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::Machine;
use tdxcall::abi::field_names::{field_by_name, field_name, FieldIndex};
use tdxcall::abi::fields;

#[test]
fn td_and_vcpu_fields_iterate_and_every_id_has_a_name() {
    let mut m = Machine::new();
    let (tdr, tdvpr, _) = m.built_td(40);
    m.host.mr_finalize(tdr).unwrap();
    let expected_mrtd = m.module.mrtd(tdr).unwrap();

    let td: Vec<_> = m
        .host
        .mng_fields(tdr)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(td.len() > 10, "{td:x?}");
    let mut mrtd = Vec::new();
    for (id, value) in &td {
        let name = field_name(*id).unwrap_or_else(|| panic!("{id:?} has no name"));
        assert_eq!(field_by_name(&name.to_string()), Some(*id), "{name}");
        if name.name == "MRTD" {
            mrtd.push((name.index, *value));
        }
    }
    // MRTD comes as six elements, First then [1]..[5], and holds the TD's measurement.
    assert_eq!(mrtd.len(), 6);
    assert_eq!(mrtd[0].0, FieldIndex::First);
    assert_eq!(mrtd[5].0, FieldIndex::Element(5));
    let bytes: Vec<u8> = mrtd.iter().flat_map(|(_, v)| v.to_le_bytes()).collect();
    assert_eq!(bytes, expected_mrtd.to_vec());
    assert!(td.iter().any(|(id, _)| *id == fields::td::MAX_VCPUS));

    let vp: Vec<_> = m
        .host
        .vp_fields(tdvpr)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!vp.is_empty());
    for (id, _) in &vp {
        let name = field_name(*id).unwrap_or_else(|| panic!("{id:?} has no name"));
        assert_eq!(name.context, tdxcall::abi::Context::Vcpu);
    }
    assert!(vp
        .iter()
        .any(|(id, v)| *id == fields::vp::VCPU_INDEX && *v == 0));
}
