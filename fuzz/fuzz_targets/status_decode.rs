//! Any 64-bit status (and R10 value) decodes, displays and reads back without losing a bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdxcall::leaf::ModuleVersion;
use tdxcall::status::{parse_status_text, Status, StatusKind, TdvmcallStatus};

fuzz_target!(|data: &[u8]| {
    let mut bytes = [0u8; 8];
    let take = data.len().min(8);
    bytes[..take].copy_from_slice(&data[..take]);
    let raw = u64::from_le_bytes(bytes);
    let status = Status::from_raw(raw);

    // Display starts with every bit, and reads back as the same value.
    let text = status.to_string();
    assert!(text.starts_with(&format!("{raw:#018X} ")), "{text}");
    let parsed = parse_status_text(&text).expect("Display output reads back");
    assert_eq!(parsed.status, status, "{text}");
    let debug = format!("{status:?}");
    assert!(debug.contains(&format!("{raw:#018x}")), "{debug}");

    // The name, when there is one, matches the bits it claims to.
    if let Some(code) = status.named() {
        assert!(status.is(code));
        if code.is_software() {
            assert_eq!(code.value(), raw);
        } else {
            assert_eq!(code.code(), status.code());
        }
    }
    assert_eq!(status.details().raw(), raw as u32);

    // The kind follows the bits.
    let kind = status.kind();
    assert_eq!(kind == StatusKind::Error, raw >> 63 == 1);
    assert_eq!(kind == StatusKind::Success, raw >> 32 == 0);
    assert_eq!(status.check().is_err(), status.is_error());

    // Version-specific decoding agrees on the bits too.
    let version_byte = data.get(8).copied().unwrap_or(0);
    let version = ModuleVersion {
        major: 1,
        minor: if version_byte & 1 == 0 { 0 } else { 5 },
        update: version_byte >> 1,
    };
    let text = status.display_for_version(version).to_string();
    assert_eq!(
        parse_status_text(&text).map(|p| p.status),
        Ok(status),
        "{text}"
    );
    if let Some(code) = status.named_for_version(version) {
        assert!(status.is(code));
    }

    let r10 = TdvmcallStatus::from_raw(raw);
    let text = r10.to_string();
    assert!(text.starts_with(&format!("{raw:#018X} ")), "{text}");
    let _ = format!("{r10:?}");
});
