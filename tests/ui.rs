//! Compile-fail tests: each `tests/ui/*.rs` is one mistake, with the exact
//! compiler output in the `.stderr` beside it; `tests/ui-pass` holds tricky
//! programs that must keep compiling.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
