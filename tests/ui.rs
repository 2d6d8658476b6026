//! Compile-fail tests: each `tests/ui/*.rs` is one mistake, with the exact
//! compiler output in the `.stderr` beside it. Tricky programs that must
//! keep compiling are in `tests/ui-pass`, an ordinary test crate: with only
//! compile-fail cases, trybuild checks them all in one `cargo check`
//! (metadata only, no code generation or linking).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
