//! Instantiating a graph: the `Scope` a `graph!` closure receives numbers
//! its families and brands every lazy handle with `'g`, then `execute`
//! builds the topology and runs it.

use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::resume_unwind;

use crate::cache::Cache;
use crate::error::Error;
use crate::exec::control::Control;
use crate::exec::registry::WorkerCtx;
use crate::exec::{drive, Cx, ErasedFamily, Outcome, Run, Topology};
use crate::family::{Family, FamilyInfo};
use crate::graph::Outputs;
use crate::loops::{Elements, Loop};
use crate::runtime::Inner;
use crate::value::pass::InputSet;
use crate::value::{Brand, Piece};

/// The graph under construction, handed to the closure a `graph!` expands to.
///
/// It numbers the families and brands every lazy handle with `'g`, so handles
/// can neither leave the graph nor mix with another graph's.
pub struct Scope<'g> {
    next_id: &'g Cell<u32>,
    pub(crate) runtime: &'g Inner,
    ctl: Option<&'g Control>,
    _brand: Brand<'g>,
}

impl<'g> Scope<'g> {
    pub(crate) fn new(
        next_id: &'g Cell<u32>,
        runtime: &'g Inner,
        ctl: Option<&'g Control>,
    ) -> Self {
        Scope {
            next_id,
            runtime,
            ctl,
            _brand: PhantomData,
        }
    }

    pub(crate) fn next(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Whether loops that allow it run fused (see
    /// `RuntimeBuilder::fuse_loops`).
    #[inline]
    pub fn fusion(&self) -> bool {
        self.runtime.fuse
    }

    /// Starts a new, empty task family for one call site.
    pub fn family<A, I: InputSet<'g>, L: crate::family::LoopIndex, T>(
        &self,
        info: &'static FamilyInfo,
    ) -> Family<'g, A, I, L, T> {
        Family::new(self.next(), info)
    }

    /// Starts a fused loop for one loop of the graph (empty until made).
    pub fn loop_family<K>(&self, info: &'static FamilyInfo) -> Loop<'g, K> {
        Loop::new(self.next(), info)
    }

    /// Starts the output elements of a fused loop's pushes onto one vector.
    pub fn elements<T>(&self, info: &'static FamilyInfo) -> Elements<'g, T> {
        Elements::new(self.next(), info)
    }

    /// How many families this scope has made.
    pub(crate) fn families(&self) -> u32 {
        self.next_id.get()
    }

    /// Runs every node and moves the final outputs out.
    ///
    /// `fams` lists every family this scope made, in order.
    ///
    /// # Errors
    /// The first task failure; see [`Error`].
    pub fn execute<O: Outputs<'g>>(
        &self,
        fams: &[&dyn ErasedFamily<'g>],
        outs: O,
    ) -> Result<O::Value, Error> {
        assert!(
            fams.len() == self.families() as usize
                && fams
                    .iter()
                    .enumerate()
                    .all(|(i, f)| f.core().id == i as u32),
            "taskgraph internal error: families listed out of order"
        );
        if let Some(ctl) = self.ctl {
            ctl.built(outs.len_hint());
        }
        let rt = self.runtime;
        let cache = &rt.cache;
        let mut finals: Vec<Piece> = Vec::new();
        outs.for_each(&mut |p| finals.push(p));
        let mut topo = Topology::build(fams, &finals, cache);
        for (i, f) in fams.iter().enumerate() {
            let states = topo.states_of(i as u32);
            topo.meta[i].values = f.prepare(cache, states);
        }
        let ctl = self.ctl;
        WorkerCtx::current(|cur| match cur {
            Some(w) if std::ptr::eq(w.reg, &*rt.reg) => run(fams, topo, outs, w, cache, ctl),
            _ => {
                let (w, slot) = match rt.reg.claim_external() {
                    Some((me, deque)) => (WorkerCtx::external(&rt.reg, me, deque), true),
                    None => (WorkerCtx::unregistered(&rt.reg), false),
                };
                let entered = w.enter();
                let r = run(fams, topo, outs, &w, cache, ctl);
                drop(entered);
                if slot {
                    let (me, deque) = w.into_deque();
                    rt.reg.release_external(me, deque);
                }
                r
            }
        })
    }
}

fn run<'g, O: Outputs<'g>>(
    fams: &[&dyn ErasedFamily<'g>],
    topo: Topology,
    outs: O,
    w: &WorkerCtx<'_>,
    cache: &Cache,
    ctl: Option<&Control>,
) -> Result<O::Value, Error> {
    let run = Run::new(fams, topo, w.reg, w.has_token(), ctl);
    // SAFETY: withdrawn below, before the run is torn down.
    unsafe { run.register() };
    drive(&run, w);
    run.withdraw();
    let cx = Cx::new(&run, w);
    let outcome = match run.outcome() {
        Ok(()) => Ok(outs.take(&cx)),
        Err(o) => Err(o),
    };
    // After a successful run every value was consumed (the outputs just
    // now), unless an output appeared twice.
    let live = !matches!(outcome, Ok(Ok(_)));
    // Values whose `Drop` panics while they are dropped here count as more
    // failures of the run (its error is already decided).
    let panics: usize = fams.iter().map(|f| f.teardown(&cx, cache, live)).sum();
    let Run { topo, .. } = run;
    topo.recycle(cache);
    match outcome {
        Ok(v) => v,
        Err(Outcome::Failed(e)) => Err(e.with_more(panics)),
        Err(Outcome::Panic(p)) => resume_unwind(p),
    }
}
