//! Runs the benchmark suite (`benches/suite.rs`) and Task Bench
//! (`benches/taskbench.rs`) in smoke mode: tiny sizes, so `cargo test` keeps
//! them compiling and their results checked.

#[path = "../benches/suite.rs"]
mod suite;

#[path = "../benches/taskbench.rs"]
mod taskbench;

#[test]
fn bench_suite_smoke() {
    suite::run(&["--smoke".to_owned()]);
}

#[test]
fn task_bench_smoke() {
    taskbench::run(&["--smoke".to_owned()]);
}
