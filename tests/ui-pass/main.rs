//! Tricky programs that must keep compiling, and compute the right values:
//! each file is one program (its `main` asserts), run as a test. They are
//! one test crate rather than trybuild cases, so they build with the other
//! tests and trybuild only checks (`tests/ui.rs`).

// The programs spell things out to exercise the macros (a fold written as
// plain code inside `graph!`, a task with an explicit lifetime).
#![allow(clippy::unnecessary_fold, clippy::needless_lifetimes)]

mod closure_params_shadow_lazy_names;
mod delayed_associated_functions;
mod generic_and_module_tasks;
mod iterate_lazy_vector;
mod lazy_names_match_functions;
mod local_task_functions;
mod plain_code_inside_graph;
mod shadowing;
mod variable_named_like_a_task;

#[test]
fn closure_params_shadow_lazy_names() {
    closure_params_shadow_lazy_names::main();
}

#[test]
fn delayed_associated_functions() {
    delayed_associated_functions::main();
}

#[test]
fn generic_and_module_tasks() {
    generic_and_module_tasks::main();
}

#[test]
fn iterate_lazy_vector() {
    iterate_lazy_vector::main();
}

#[test]
fn lazy_names_match_functions() {
    lazy_names_match_functions::main();
}

#[test]
fn local_task_functions() {
    local_task_functions::main();
}

#[test]
fn plain_code_inside_graph() {
    plain_code_inside_graph::main();
}

#[test]
fn shadowing() {
    shadowing::main();
}

#[test]
fn variable_named_like_a_task() {
    variable_named_like_a_task::main();
}
