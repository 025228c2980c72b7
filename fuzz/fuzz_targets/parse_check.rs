//! Fuzzes the whole front end: any bytes, read as (lossy) UTF-8, must be
//! checked, formatted and rendered without a panic, a stack overflow or a
//! hang, and every diagnostic must point inside the source.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loyalty::Diagnostic;

fn assert_points_inside(diagnostic: &Diagnostic, source: &str) {
    let span = diagnostic.span;
    assert!(
        span.start <= span.end && span.end <= source.len(),
        "span {span:?} outside a source of {} bytes: {diagnostic:?}",
        source.len()
    );
    assert!(
        source.is_char_boundary(span.start) && source.is_char_boundary(span.end),
        "span {span:?} splits a character: {diagnostic:?}"
    );
    assert!(!diagnostic.render("fuzz.loyalty", source, false).is_empty());
    diagnostic.to_record("fuzz.loyalty", source);
}

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    for diagnostic in loyalty::check_source(&source) {
        assert_points_inside(&diagnostic, &source);
    }
    if let Err(diagnostic) = loyalty::syntax::format(&source) {
        assert_points_inside(&diagnostic, &source);
    }
});
