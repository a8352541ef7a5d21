//! Status decoding: what reading a status costs, from the bit tests a wrapper does on every
//! call to the text a person reads in a log.
//!
//! - `is_error`: bit 63, the only test on a wrapper's success path;
//! - `named/*`: [`Status::named`], the table lookup (a common code, TDX_SUCCESS, a software
//!   code, and an unknown code, which scans every release's rows and is the worst case);
//! - `from_name`: [`StatusCode::from_name`], a name back to its code;
//! - `operand`: [`Status::operand`] and the operand's name (TDX_OPERAND_BUSY on RCX);
//! - `display/*`: `Display` into one `String` reused (cleared) every iteration, so the
//!   figure is formatting, not allocation;
//! - `parse/*`: [`parse_status_text`] on a bare value and on a kernel log line.
//!
//! No target: these run on error paths and in tools, not per call. The figures say what a
//! log line costs relative to the call that produced it.
//!
//! `cargo bench -p tdxcall-benches --bench status`

use criterion::{criterion_group, criterion_main, Criterion};
use std::fmt::Write as _;
use std::hint::black_box;
use tdxcall::status::{parse_status_text, Operand, StatusCode};
use tdxcall::Status;

fn status(c: &mut Criterion) {
    let mut group = c.benchmark_group("status");
    let busy = StatusCode::OperandBusy.with_operand(Operand::from_id(1));
    let software = Status::TDCALL_UD;
    // An unused class and code: no row matches, every release is scanned.
    let unknown = Status::from_raw(0x8000_7F7F_0000_0000);
    assert_eq!(busy.named(), Some(StatusCode::OperandBusy));
    assert!(software.named().is_some());
    assert_eq!(unknown.named(), None);

    group.bench_function("is_error", |b| b.iter(|| black_box(busy).is_error()));
    for (name, value) in [
        ("named/operand_busy", busy),
        ("named/success", Status::SUCCESS),
        ("named/software_tdcall_ud", software),
        ("named/unknown", unknown),
    ] {
        group.bench_function(name, |b| b.iter(|| black_box(value).named()));
    }
    group.bench_function("from_name", |b| {
        b.iter(|| StatusCode::from_name(black_box("TDX_OPERAND_BUSY")))
    });
    assert_eq!(busy.operand().and_then(Operand::name), Some("RCX"));
    group.bench_function("operand", |b| {
        b.iter(|| black_box(busy).operand().and_then(Operand::name))
    });

    let mut text = String::with_capacity(512);
    for (name, value) in [("display/operand_busy", busy), ("display/unknown", unknown)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                text.clear();
                write!(text, "{}", black_box(value)).unwrap();
                black_box(text.len())
            })
        });
    }

    let bare = "0x8000020000000001";
    let log_line = "tdx: SEAMCALL (0x0000000000000002) failed: 0x8000020000000001";
    for input in [bare, log_line] {
        assert_eq!(
            parse_status_text(input).map(|parsed| parsed.status),
            Ok(busy)
        );
    }
    group.bench_function("parse/bare_value", |b| {
        b.iter(|| parse_status_text(black_box(bare)))
    });
    group.bench_function("parse/kernel_log_line", |b| {
        b.iter(|| parse_status_text(black_box(log_line)))
    });
    group.finish();
}

criterion_group!(benches, status);
criterion_main!(benches);
