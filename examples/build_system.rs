//! A small build system: targets that depend on targets, read from a plain
//! dependency list, built as a graph in which every target waits only for
//! what it depends on.
//!
//! ```text
//! cargo run --release --example build_system [-- --big] [--threads N]
//! ```
//!
//! The project is a list of lines `target: dependency dependency ...`, as
//! a Makefile's rules without recipes. It is generated: 400 targets (4,000
//! with `--big`) in layers, each depending on up to four targets of the
//! layers below, the way libraries depend on libraries. Building a target
//! is a task that digests its name and its dependencies' artifacts
//! (compute-bound, a cost per target that varies). The list is parsed and
//! ordered (dependencies first, a cycle or an unknown name is an error)
//! before the graph is built; the graph's loop then pushes one `build` per
//! target, each gathering the artifacts of its dependencies by index
//! (`inputs.push(built[d])`). The artifacts are compared with a sequential
//! build in the same order.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Runtime};

/// One target of the project, with its dependencies as positions in the
/// build order (always before it).
#[derive(Clone, Debug)]
pub struct Target {
    /// The target's name.
    pub name: String,
    /// The targets it depends on, as indices into the build order.
    pub deps: Vec<usize>,
    /// How much work building it takes (rounds of the digest).
    pub cost: u64,
}

/// What building a target makes: a digest of its name and of everything
/// it depends on, so that any change below shows in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The digest.
    pub digest: u64,
    /// The longest chain of targets that ends with it, itself included:
    /// how many builds must run one after the other to make it.
    pub depth: u64,
}

/// Why a dependency list cannot be built.
#[derive(Debug, PartialEq, Eq)]
pub enum ListError {
    /// A line that is not `target: dependency ...`.
    BadLine(usize),
    /// A target listed twice.
    Duplicate(String),
    /// A dependency that is not a target.
    Unknown {
        /// The target that names it.
        target: String,
        /// The name.
        dep: String,
    },
    /// Targets that depend on each other in a circle (one of them).
    Cycle(String),
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::BadLine(n) => write!(f, "line {n} is not `target: dependency ...`"),
            ListError::Duplicate(t) => write!(f, "`{t}` is listed twice"),
            ListError::Unknown { target, dep } => {
                write!(f, "`{target}` depends on `{dep}`, which is not a target")
            }
            ListError::Cycle(t) => write!(f, "`{t}` depends on itself through its dependencies"),
        }
    }
}

impl std::error::Error for ListError {}

/// Reads a dependency list and orders it so that every target comes after
/// its dependencies (depth first, in the order of the list).
pub fn parse(list: &str) -> Result<Vec<Target>, ListError> {
    let mut names = Vec::new();
    let mut deps = Vec::new();
    let mut index = HashMap::new();
    for (n, line) in list.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = line.split_once(':').ok_or(ListError::BadLine(n + 1))?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ListError::BadLine(n + 1));
        }
        if index.insert(name.to_owned(), names.len()).is_some() {
            return Err(ListError::Duplicate(name.to_owned()));
        }
        names.push(name.to_owned());
        deps.push(
            rest.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    let mut edges = Vec::with_capacity(names.len());
    for (name, ds) in names.iter().zip(&deps) {
        let mut e = Vec::with_capacity(ds.len());
        for d in ds {
            match index.get(d) {
                Some(&i) => e.push(i),
                None => {
                    return Err(ListError::Unknown {
                        target: name.clone(),
                        dep: d.clone(),
                    })
                }
            }
        }
        edges.push(e);
    }

    // Depth-first post-order, iteratively: 0 unvisited, 1 on the path, 2 done.
    let mut state = vec![0u8; names.len()];
    let mut position = vec![usize::MAX; names.len()];
    let mut order = Vec::with_capacity(names.len());
    for root in 0..names.len() {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (t, ref mut next)) = stack.last_mut() {
            if let Some(&d) = edges[t].get(*next) {
                *next += 1;
                match state[d] {
                    0 => {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                    1 => return Err(ListError::Cycle(names[d].clone())),
                    _ => {}
                }
            } else {
                state[t] = 2;
                position[t] = order.len();
                order.push(t);
                stack.pop();
            }
        }
    }
    Ok(order
        .into_iter()
        .map(|t| Target {
            cost: cost(&names[t]),
            deps: edges[t].iter().map(|&d| position[d]).collect(),
            name: std::mem::take(&mut names[t]),
        })
        .collect())
}

/// A target's cost, from its name: between 20,000 and 220,000 rounds.
fn cost(name: &str) -> u64 {
    20_000 + fnv(name.as_bytes()) % 200_000
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Builds one target from its dependencies' artifacts.
#[delayed]
pub fn build(name: &str, cost: u64, deps: &[Artifact]) -> Artifact {
    let mut digest = fnv(name.as_bytes());
    let mut depth = 0;
    for a in deps {
        digest = mix(digest ^ a.digest);
        depth = depth.max(a.depth);
    }
    for _ in 0..cost {
        digest = mix(digest);
    }
    Artifact {
        digest,
        depth: depth + 1,
    }
}

/// Every target, as a graph: one `build` per target, gathering the
/// artifacts of its dependencies.
pub fn parallel(rt: &Runtime, targets: &[Target]) -> Result<Vec<Artifact>, taskdag::Error> {
    rt.compute(graph! {
        let mut built = Vec::new();
        for t in targets {
            let mut inputs = Vec::new();
            for &d in &t.deps {
                inputs.push(built[d]);
            }
            built.push(build(&t.name, t.cost, &inputs));
        }
        built
    })
}

/// Every target, one after the other in the build order.
pub fn sequential(targets: &[Target]) -> Vec<Artifact> {
    let mut built: Vec<Artifact> = Vec::with_capacity(targets.len());
    for t in targets {
        let inputs: Vec<Artifact> = t.deps.iter().map(|&d| built[d]).collect();
        built.push(build(&t.name, t.cost, &inputs));
    }
    built
}

/// A generated project of `targets` targets in `layers` layers: each
/// target depends on up to four targets of the layers below, listed in no
/// particular order (the last layer first).
pub fn generate(targets: usize, layers: usize) -> String {
    let per_layer = targets.div_ceil(layers);
    let name = |i: usize| format!("lib{}_{}", i / per_layer, i % per_layer);
    let mut lines = Vec::with_capacity(targets);
    let mut state = 7;
    for i in 0..targets {
        let layer = i / per_layer;
        let mut line = format!("{}:", name(i));
        if layer > 0 {
            state = mix(state);
            let mut picked = Vec::new();
            for k in 0..1 + state % 4 {
                state = mix(state);
                // Mostly the layer just below, sometimes further down.
                let below = if k == 0 || state % 3 != 0 {
                    layer - 1
                } else {
                    (state >> 8) as usize % layer
                };
                let d = below * per_layer + (state >> 16) as usize % per_layer;
                if !picked.contains(&d) {
                    picked.push(d);
                    line.push(' ');
                    line.push_str(&name(d));
                }
            }
        }
        lines.push(line);
    }
    lines.reverse();
    lines.join("\n")
}

// ---------------------------------------------------------------------------

fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

const USAGE: &str = "usage: build_system [--big] [--threads N]\n\n  \
    --big         4,000 targets instead of 400\n  \
    --threads N   threads of the runtime (default: one per core)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut big = false;
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--big" => big = true,
            "--threads" => threads = Some(args.next().ok_or(USAGE)?.parse()?),
            _ => return Err(USAGE.into()),
        }
    }
    let (n, layers) = if big { (4_000, 40) } else { (400, 20) };
    let list = generate(n, layers);
    let targets = parse(&list)?;
    let edges: usize = targets.iter().map(|t| t.deps.len()).sum();
    println!("{n} targets in {layers} layers, {edges} dependencies; the first lines:");
    for line in list.lines().take(3) {
        println!("  {line}");
    }

    let rt = match threads {
        Some(n) => Runtime::new(n)?,
        None => Runtime::builder().build()?,
    };
    let (want, seq) = timed(|| sequential(&targets));
    let (got, par) = timed(|| parallel(&rt, &targets));
    let got = got?;
    if got != want {
        return Err("the graph's artifacts differ from the sequential build".into());
    }
    let deepest = (0..got.len()).max_by_key(|&i| got[i].depth).unwrap_or(0);
    println!(
        "`{}` is {} builds deep, the longest chain (digest {:016x})",
        targets[deepest].name, got[deepest].depth, got[deepest].digest
    );
    println!(
        "sequential {:.3} s, taskgraph {:.3} s on {} threads: {:.2}x, the same artifacts",
        seq.as_secs_f64(),
        par.as_secs_f64(),
        rt.threads(),
        seq.as_secs_f64() / par.as_secs_f64()
    );

    // A list with a circle in it is refused before anything is built.
    let circular = "app: net\nnet: tls\ntls: app\n";
    match parse(circular) {
        Err(e) => println!("a list with a circle: error: {e}"),
        Ok(_) => return Err("a circular list was accepted".into()),
    }
    Ok(())
}
