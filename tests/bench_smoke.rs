//! Runs the benchmark suite (`benches/suite.rs`) in smoke mode: tiny sizes, so
//! `cargo test` keeps the suite compiling and its results checked.

#[path = "../benches/suite.rs"]
mod suite;

#[test]
fn bench_suite_smoke() {
    suite::run(&["--smoke".to_owned()]);
}
