//! Compile-fail tests: a graph sent to a cluster whose values cannot travel
//! between machines, with the exact compiler output in the `.stderr` beside
//! each case.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
