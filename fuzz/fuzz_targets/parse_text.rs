//! Arbitrary text through the status parser and the field-ID parser: no panic, and what
//! parses, prints and decodes consistently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdxcall::abi::FieldId;
use tdxcall::status::{parse_hex_u64, parse_status_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };

    if let Ok(parsed) = parse_status_text(text) {
        let shown = parsed.status.to_string();
        assert_eq!(
            parse_status_text(&shown).map(|p| p.status),
            Ok(parsed.status)
        );
        let _ = format!("{parsed:?}");
    }

    if let Ok(value) = parse_hex_u64(text) {
        assert_eq!(parse_hex_u64(&format!("{value:#x}")), Ok(value));
        assert_eq!(parse_hex_u64(&format!("{value:X}")), Ok(value));
    }

    if let Ok(id) = FieldId::parse(text) {
        assert_eq!(FieldId::parse(&format!("{:#x}", id.raw())), Ok(id));
        let shown = id.to_string();
        assert!(shown.starts_with(&format!("{:#018X}", id.raw())), "{shown}");
        let _ = format!("{id:?}");
        let valid = id.check_single_element().is_ok();
        assert_eq!(valid, id.single_element_violations() == 0);
        assert_eq!(id.reserved_bits() & !id.single_element_violations(), 0);
        for index in [0, 1, 7, u32::MAX] {
            if let Ok(element) = id.element(index) {
                assert_eq!(element.raw() & !0xFF_FFFF, id.raw() & !0xFF_FFFF);
            }
        }
        if let Ok(header) = id.sequence_header(15, 511) {
            assert_eq!(header.last_element_in_field(), 15);
            assert_eq!(header.last_field_in_sequence(), 511);
        }
        let _ = id.element_size().bytes();
        let _ = id.context();
    }
});
