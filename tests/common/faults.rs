//! Fault injection shared by `faults.rs` and `stress.rs`: a graph whose
//! tasks panic or return `Err` where a plan says, its sequential result,
//! and the check of a run's outcome against the plan.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use taskdag::{delayed, graph, Error};

/// A value that counts how many of its kind are alive, and may carry a
/// fault for the combine that reads it.
#[derive(Debug)]
pub struct Tracked {
    pub v: u64,
    /// The leaf whose combine must panic, if any.
    pub bomb: Option<u64>,
    live: Arc<AtomicI64>,
}

impl Tracked {
    fn new(v: u64, bomb: Option<u64>, live: &Arc<AtomicI64>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            v,
            bomb,
            live: Arc::clone(live),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.v, self.bomb, &self.live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a task fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Panic,
    Err,
}

/// Where a task sits, for the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    Leaf,
    Step,
    Chain,
    Total,
    Combine,
}

impl Site {
    fn name(self) -> &'static str {
        match self {
            Site::Leaf => "leaf",
            Site::Step => "step",
            Site::Chain => "chain",
            Site::Total => "total",
            Site::Combine => "combine",
        }
    }
}

/// What goes wrong in one run, and when.
#[derive(Debug)]
pub struct Plan {
    pub faults: Vec<(Site, u64, How)>,
    /// Tasks whose number hashes below this sleep a little (timing noise).
    pub nap_permille: u64,
    pub seed: u64,
    pub started: AtomicUsize,
    pub live: Arc<AtomicI64>,
}

#[derive(Debug)]
pub struct Injected(String);
impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Injected {}

fn mix(a: u64, b: u64) -> u64 {
    let mut x = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

impl Plan {
    /// Runs the plan's part for task `site` `i`: maybe a nap, maybe a fault.
    fn enter(&self, site: Site, i: u64) -> Result<(), Injected> {
        self.started.fetch_add(1, Ordering::SeqCst);
        if mix(self.seed, i * 8 + site as u64) % 1000 < self.nap_permille {
            std::thread::sleep(Duration::from_micros(mix(self.seed, i) % 200));
        }
        match self.faults.iter().find(|f| f.0 == site && f.1 == i) {
            Some((_, _, How::Panic)) => panic!("injected panic {} {i}", site.name()),
            Some((_, _, How::Err)) => Err(Injected(format!("injected error {} {i}", site.name()))),
            None => Ok(()),
        }
    }

    fn bomb(&self, i: u64) -> Option<u64> {
        self.faults
            .iter()
            .any(|f| f.0 == Site::Combine && f.1 == i)
            .then_some(i)
    }

    /// Whether the graph's tasks reach a fault (all of them run when none
    /// fails, so any planned fault stops the run).
    fn fails(&self) -> bool {
        !self.faults.is_empty()
    }
}

#[delayed]
fn leaf(i: u64, p: &Arc<Plan>) -> Result<Tracked, Injected> {
    p.enter(Site::Leaf, i)?;
    Ok(Tracked::new(i * 3 + 1, p.bomb(i), &p.live))
}
#[delayed]
fn step(x: Tracked, i: u64, p: &Arc<Plan>) -> Result<Tracked, Injected> {
    p.enter(Site::Step, i)?;
    Ok(Tracked::new(x.v.wrapping_mul(5) ^ i, x.bomb, &x.live))
}
#[delayed]
fn chain(s: Tracked, i: u64, p: &Arc<Plan>) -> Result<Tracked, Injected> {
    p.enter(Site::Chain, i)?;
    Ok(Tracked::new(
        s.v.wrapping_mul(31).wrapping_add(i),
        None,
        &s.live,
    ))
}
#[delayed]
fn total(v: &[Tracked], p: &Arc<Plan>) -> Result<Tracked, Injected> {
    p.enter(Site::Total, 0)?;
    let s = v.iter().fold(0u64, |a, x| a.wrapping_add(x.v));
    Ok(Tracked::new(s, None, &p.live))
}
#[delayed]
fn combine(a: Tracked, b: Tracked) -> Tracked {
    if let Some(i) = a.bomb.or(b.bomb) {
        panic!("injected panic combine {i}");
    }
    // Not commutative: the tree's order matters.
    Tracked::new(a.v.wrapping_mul(7).wrapping_add(b.v), None, &a.live)
}
#[delayed]
fn finish(a: Tracked, b: Tracked, c: Tracked) -> (u64, u64, u64) {
    (a.v, b.v, c.v)
}

/// The graph under test: a loop of leaf and step reduced in a tree, a
/// loop-carried chain, and a gather of the loop's steps.
pub fn faulty_graph(
    n: u64,
    m: u64,
    p: Arc<Plan>,
) -> impl taskdag::Graph<Output = (u64, u64, u64)> + Send + 'static {
    graph! {
        let mut v = Vec::new();
        for i in 0..n {
            let x = leaf(i, &p)?;
            let y = step(x, i, &p)?;
            v.push(y);
        }
        let t = total(&v, &p)?;
        let r = tree_reduce(v, combine);
        let mut s = leaf(1000, &p)?;
        for i in 0..m {
            s = chain(s, i, &p)?;
        }
        finish(r, s, t)
    }
}

/// The same, sequentially (no faults).
pub fn sequential(n: u64, m: u64) -> (u64, u64, u64) {
    let mut level: Vec<u64> = (0..n).map(|i| (i * 3 + 1).wrapping_mul(5) ^ i).collect();
    let t = level.iter().fold(0u64, |a, x| a.wrapping_add(*x));
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|c| match c {
                [a, b] => a.wrapping_mul(7).wrapping_add(*b),
                [a] => *a,
                _ => unreachable!(),
            })
            .collect();
    }
    let mut s: u64 = 1000 * 3 + 1;
    for i in 0..m {
        s = s.wrapping_mul(31).wrapping_add(i);
    }
    (level[0], s, t)
}

/// Checks one run's outcome against its plan; `cancelled`: a cancel was
/// asked for while it ran.
pub fn check(r: &Result<(u64, u64, u64), Error>, plan: &Plan, n: u64, m: u64, cancelled: bool) {
    let planned = |function: &str, message: &str| {
        plan.faults.iter().any(|&(site, i, how)| {
            let (f, text) = match how {
                How::Panic => (site.name(), format!("injected panic {} {i}", site.name())),
                How::Err => (site.name(), format!("injected error {} {i}", site.name())),
            };
            f == function && text == message
        })
    };
    match r {
        Ok(v) => {
            assert!(!plan.fails(), "succeeded despite faults {:?}", plan.faults);
            assert_eq!(*v, sequential(n, m));
        }
        Err(Error::Cancelled) => assert!(cancelled, "cancelled without a cancel"),
        Err(Error::TaskPanicked {
            task,
            message,
            others,
            ..
        }) => {
            assert!(planned(task.function(), message), "{task} {message}");
            assert!(*others < plan.faults.len(), "{others} others");
        }
        Err(Error::TaskFailed {
            task,
            source,
            others,
            ..
        }) => {
            assert!(
                planned(task.function(), &source.to_string()),
                "{task} {source}"
            );
            assert!(*others < plan.faults.len(), "{others} others");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Keeps the injected panics' messages out of the test log.
pub fn quiet_injected_panics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m.starts_with("injected "));
            if !injected {
                default(info);
            }
        }));
    });
}
