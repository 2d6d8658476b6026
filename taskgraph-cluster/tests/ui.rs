//! Compile-fail tests: a graph sent to a cluster whose function captures a
//! variable, or whose inputs cannot travel with it, with the exact compiler
//! output in the `.stderr` beside each case.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
