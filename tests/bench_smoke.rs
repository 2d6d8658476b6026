//! Runs the benchmark suite (`benches/suite.rs`), Task Bench
//! (`benches/taskbench.rs`), the step-loop benchmark (`benches/steps.rs`),
//! the node-by-node benchmark (`benches/nodes.rs`) and the large-pool
//! benchmark (`benches/pool.rs`) in smoke mode: tiny sizes, so `cargo test` keeps them compiling and their
//! results checked.

#[path = "../benches/suite.rs"]
mod suite;

#[path = "../benches/taskbench.rs"]
mod taskbench;

#[path = "../benches/steps.rs"]
mod steps;

#[path = "../benches/nodes.rs"]
mod nodes;

#[path = "../benches/pool.rs"]
mod pool;

#[test]
fn bench_suite_smoke() {
    suite::run(&["--smoke".to_owned()]);
}

#[test]
fn task_bench_smoke() {
    taskbench::run(&["--smoke".to_owned()]);
}

#[test]
fn step_loop_bench_smoke() {
    steps::run(&["--smoke".to_owned()]);
}

#[test]
fn node_by_node_bench_smoke() {
    nodes::run(&["--smoke".to_owned()]);
}

#[test]
fn pool_bench_smoke() {
    pool::run(&["--smoke".to_owned()]);
}
