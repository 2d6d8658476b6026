//! The runtime's layers (`src/exec/README.md`, "Layers"), checked on its
//! `use` lines: every file's `crate::` paths name only files of its own
//! layer or of layers below it, and no set of files imports itself in a
//! circle. A new file must be given its layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every file of `src/`, by module path (`exec/task`), with its layer.
const LAYERS: &[(&str, u32)] = &[
    // 1. vocabulary
    ("sync", 1),
    ("site", 1),
    ("site/task", 1),
    ("site/template", 1),
    ("error", 1),
    // 2. values and events
    ("value", 2),
    ("value/slot", 2),
    ("observe", 2),
    // 3. the scheduler
    ("exec", 3),
    ("exec/cache", 3),
    ("exec/control", 3),
    ("exec/drive", 3),
    ("exec/finish", 3),
    ("exec/future", 3),
    ("exec/part", 3),
    ("exec/progress", 3),
    ("exec/registry", 3),
    ("exec/rule", 3),
    ("exec/sleep", 3),
    ("exec/task", 3),
    ("exec/topology", 3),
    // 4. kinds of families, how values pass
    ("kept", 4),
    ("pass", 4),
    ("outputs", 4),
    ("tree", 4),
    ("family", 4),
    ("loops", 4),
    ("source", 4),
    ("range", 4),
    ("reduce", 4),
    // 5. seeing a graph: instances, drawings, the viewer, the cluster's interface,
    // the observers
    ("view/instance", 5),
    ("view/draw", 5),
    ("view", 5),
    ("plan", 5),
    ("stream", 5),
    ("report", 5),
    ("progress", 5),
    ("trace", 5),
    ("trace/spans", 5),
    ("dashboard", 5),
    // 6. instantiation, background runs
    ("scope", 6),
    ("spawn", 6),
    ("spawn/body", 6),
    ("spawn/feed", 6),
    ("results", 6),
    // 7. the runtime
    ("runtime", 7),
    // 8. graphs
    ("part", 8),
    ("graph", 8),
    // the crate root re-exports everything
    ("lib", 9),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `exec/mod.rs` -> `exec`, `exec/task.rs` -> `exec/task`, `lib.rs` -> `lib`.
fn module_of(rel: &Path) -> String {
    let s = rel.with_extension("").to_string_lossy().replace('\\', "/");
    s.strip_suffix("/mod").map(str::to_owned).unwrap_or(s)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file that is compiled into the library: comments and
/// `#[cfg(test)]` modules (unit tests, loom models) are left out.
fn library_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") || t.starts_with("#[cfg(all(test") {
            // Skip the item that follows: to the end of its braces.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The modules a file's code names with `crate::a::b::..` (or `super::`),
/// resolved to the longest path that is a module of the crate.
fn imports(module: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let resolve = |path: &[&str], out: &mut BTreeSet<String>| {
        let mut best = None;
        for i in 1..=path.len() {
            let cand = path[..i].join("/");
            if modules.contains(&cand) {
                best = Some(cand);
            }
        }
        if let Some(b) = best {
            if b != module {
                out.insert(b);
            }
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        let end = rest.find(|c| !ident(c)).unwrap_or(rest.len());
        let path: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        resolve(&path, &mut out);
    }
    // `super::x` from `exec/task` names `exec::x`.
    let parent: Vec<&str> = {
        let mut p: Vec<&str> = module.split('/').collect();
        p.pop();
        p
    };
    for (at, _) in code.match_indices("super::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + "super::".len()..];
        let end = rest.find(|c| !ident(c)).unwrap_or(rest.len());
        let mut path = parent.clone();
        path.extend(rest[..end].split("::").filter(|s| !s.is_empty()));
        resolve(&path, &mut out);
    }
    out
}

#[test]
fn imports_point_down_and_never_in_a_circle() {
    let root = src();
    let mut all = Vec::new();
    files(&root, &mut all);
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut modules = BTreeSet::new();
    let mut texts = BTreeMap::new();
    for f in &all {
        let m = module_of(f.strip_prefix(&root).expect("under src/"));
        if m.ends_with("loom_models") {
            continue; // compiled only under `--cfg loom`, with the tests
        }
        assert!(
            layer.contains_key(m.as_str()),
            "src/{m}.rs has no layer: add it to LAYERS in tests/layers.rs \
             (and to the list in src/exec/README.md)"
        );
        modules.insert(m.clone());
        texts.insert(m, std::fs::read_to_string(f).expect("a readable file"));
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (m, text) in &texts {
        let uses = imports(m, &library_code(text), &modules);
        for u in &uses {
            // A module's own children (`exec` declaring `exec/task`) are
            // part of it; importing from them is not an import upward.
            if u.starts_with(&format!("{m}/")) && layer[u.as_str()] == layer[m.as_str()] {
                continue;
            }
            if layer[u.as_str()] > layer[m.as_str()] {
                wrong.push(format!(
                    "src/{m}.rs (layer {}) imports {u} (layer {})",
                    layer[m.as_str()],
                    layer[u.as_str()]
                ));
            }
        }
        edges.insert(m.clone(), uses);
    }
    assert!(
        wrong.is_empty(),
        "imports that point up:\n{}",
        wrong.join("\n")
    );

    // No circle: a depth-first search finds no back edge (a module's
    // imports of its own children excepted, as above).
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for u in edges.get(m).into_iter().flatten() {
            if u.starts_with(&format!("{m}/")) {
                continue;
            }
            match state.get(u.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == u).expect("on the stack");
                    let mut c = stack[from..].to_vec();
                    c.push(u.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(u, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        if state.get(m.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(m, &edges, &mut state, &mut stack) {
                panic!("an import circle: {}", c.join(" -> "));
            }
        }
    }
}

#[test]
fn the_checker_sees_imports_and_skips_comments_and_tests() {
    let modules: BTreeSet<String> = ["exec", "exec/task", "graph", "value"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let code = library_code(
        "use crate::value::NodeId;\n\
         // crate::graph::Graph in a comment\n\
         use super::Cx;\n\
         #[cfg(test)]\n\
         mod tests {\n    use crate::graph::Graph;\n}\n",
    );
    let got = imports("exec/task", &code, &modules);
    let want: BTreeSet<String> = ["exec", "value"].into_iter().map(str::to_owned).collect();
    assert_eq!(got, want);
}
