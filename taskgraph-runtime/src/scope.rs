//! Instantiating a graph: the `Scope` a `graph!` closure receives numbers
//! its families and brands every lazy handle with `'g`, then `execute`
//! builds the topology and runs it.

use std::cell::Cell;
use std::future::Future;
use std::marker::{PhantomData, PhantomPinned};
use std::mem::MaybeUninit;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::Error;
use crate::exec::cache::Cache;
use crate::exec::control::{Control, CANCELLED};
use crate::exec::part::{NodeRange, PartCtl, NOT_COLLECTED};
use crate::exec::registry::WorkerCtx;
use crate::exec::{drive, Cx, ErasedFamily, Full, Kind, Outcome, Park, Run, Topology, Watch};
use crate::family::Family;
use crate::kept::Kept;
use crate::loops::{Elements, Loop};
use crate::observe::{
    next_run, now_ns, FamilyKind, FamilySummary, Observers, RunFinished, RunStarted,
};
use crate::outputs::{Outputs, PlainOutput};
use crate::pass::InputSet;
use crate::plan::Part;
use crate::site::FamilyInfo;
use crate::site::Template;
use crate::source::Source;
use crate::value::slot::NOT_RUN;
use crate::value::NodeId;
use crate::value::{Brand, Piece};
use crate::view::instance::Instance;

/// What instantiating and running a graph needs of its runtime: the pool,
/// the storage cache, the fusion setting and the observers. The `Runtime`
/// owns one; graphs borrow it while they run.
pub struct Host {
    pub(crate) reg: std::sync::Arc<crate::exec::registry::Registry>,
    pub(crate) cache: Cache,
    pub(crate) fuse: bool,
    /// Who watches the runs (`observe.rs`).
    pub(crate) observers: crate::observe::Registry,
}

/// The graph under construction, handed to the closure a `graph!` expands to.
///
/// It numbers the families and brands every lazy handle with `'g`, so handles
/// can neither leave the graph nor mix with another graph's.
pub struct Scope<'g> {
    /// The next family's number (owned, so that the scope is `Send`: the
    /// graph's body holds it across `execute`, an await point).
    next_id: Cell<u32>,
    mode: Mode<'g>,
    template: Option<&'static Template>,
    ctl: Option<&'g Control>,
    /// The families, fused loops and elements it made, which it owns
    /// (`kept.rs`).
    kept: Kept<'g>,
    _brand: Brand<'g>,
}

/// What instantiating the graph is for.
#[derive(Clone, Copy)]
pub(crate) enum Mode<'g> {
    /// Running it on a runtime.
    Run(&'g Host),
    /// Describing it without running a task (`view/`): every loop is
    /// recorded node by node, and `execute` halts with the description.
    Describe,
    /// Running the part of it that `Part` plans (`part.rs`): every loop
    /// node by node; `execute` halts with `PartDone` when the part ran and
    /// took no output.
    Part(&'g Host, &'g dyn Part),
}

/// Why the closure `graph!` generates stopped without the graph's output:
/// it returns this, converting any [`Error`] with `?`.
#[doc(hidden)]
pub enum Halt {
    /// Building or running the graph failed.
    Failed(Error),
    /// The graph was only instantiated, to be looked at.
    Described(Instance),
    /// A part run that takes no output ended (`part.rs`).
    PartDone,
}

impl From<Error> for Halt {
    #[cold]
    fn from(e: Error) -> Self {
        Halt::Failed(e)
    }
}

impl Halt {
    /// The error of a run that can halt only by failing (a whole run).
    pub(crate) fn failed(self) -> Error {
        match self {
            Halt::Failed(e) => e,
            Halt::Described(_) | Halt::PartDone => {
                unreachable!("taskgraph internal error: a run halted without an error")
            }
        }
    }
}

impl<'g> Scope<'g> {
    pub(crate) fn new(
        mode: Mode<'g>,
        template: Option<&'static Template>,
        ctl: Option<&'g Control>,
    ) -> Self {
        Scope {
            next_id: Cell::new(0),
            mode,
            template,
            ctl,
            kept: Kept::new(match mode {
                Mode::Run(host) | Mode::Part(host, _) => Some(&host.cache),
                Mode::Describe => None,
            }),
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
        match self.mode {
            Mode::Run(rt) => rt.fuse,
            Mode::Describe | Mode::Part(..) => false,
        }
    }

    /// Starts a new, empty task family for one call site, owned by the
    /// scope (see `kept.rs`).
    #[inline(never)] // Once per type, not inlined into each graph's code.
    #[allow(improper_ctypes_definitions)] // Cannot unwind: see `Family::push`.
    #[allow(clippy::mut_from_ref)] // Each call lends a family of its own.
    pub extern "C" fn family<A, I: InputSet<'g>, L: crate::site::LoopIndex, T>(
        &self,
        info: &'static FamilyInfo,
    ) -> &mut Family<'g, A, I, L, T>
    where
        Family<'g, A, I, L, T>: Send,
    {
        self.kept.keep(Family::new(self.next(), info))
    }

    /// Starts a fused loop for one loop of the graph (empty until made),
    /// owned by the scope.
    #[inline(never)] // Once per type, not inlined into each graph's code.
    #[allow(improper_ctypes_definitions)] // Cannot unwind: see `Family::push`.
    #[allow(clippy::mut_from_ref)] // Each call lends a loop of its own.
    pub extern "C" fn loop_family<'s, 'k: 's, O: Send>(
        &'s self,
        info: &'static FamilyInfo,
    ) -> &'s mut Loop<'g, 'k, O> {
        self.kept.keep(Loop::new(self.next(), info, &self.kept))
    }

    /// Starts the output elements of a fused loop's pushes onto one
    /// vector, owned by the scope.
    #[inline(never)] // Once per type, not inlined into each graph's code.
    #[allow(improper_ctypes_definitions)] // Cannot unwind: see `Family::push`.
    #[allow(clippy::mut_from_ref)] // Each call lends elements of their own.
    pub extern "C" fn elements<T>(&self, info: &'static FamilyInfo) -> &mut Elements<'g, T>
    where
        Elements<'g, T>: Send,
    {
        self.kept.keep(Elements::new(self.next(), info))
    }

    /// How many families this scope has made.
    pub(crate) fn families(&self) -> u32 {
        self.next_id.get()
    }

    /// Runs every node and moves the final outputs out: the await point of
    /// the graph's body ([`GraphBody`]). Its future ([`Execute`]) builds
    /// the run at its first poll and takes part in it on the polling
    /// thread, with the pool.
    ///
    /// `fams` lists every family this scope made, in order.
    ///
    /// # Errors
    /// The first task failure (see [`Error`]), or, when the graph is only
    /// described or runs in parts, why it stopped ([`Halt`]).
    pub fn execute<'s, O: Outputs<'g>>(
        &self,
        fams: &'s [&'s dyn ErasedFamily<'g>],
        outs: O,
    ) -> Execute<'s, 'g, O> {
        assert!(
            fams.len() == self.families() as usize
                && fams
                    .iter()
                    .enumerate()
                    .all(|(i, f)| f.core().id == i as u32),
            "taskgraph internal error: families listed out of order"
        );
        Execute {
            mode: self.mode,
            template: self.template,
            ctl: self.ctl,
            fams,
            outs: Some(outs),
            run: MaybeUninit::uninit(),
            live: false,
            _pinned: PhantomPinned,
        }
    }
}

/// The future of [`Scope::execute`]: the graph's run, taking place in the
/// polls of the graph's body. The first poll builds the topology and the
/// run, which lives in this future's state until its last item has ended
/// and it is torn down: the pool's work items point at it, so it never
/// moves (the future is pinned, inside the boxed body). Each poll takes
/// part in the run on the polling thread; a poll that finds nothing it may
/// run either sleeps with the pool until the run ends (a body polled by
/// `compute`: the first poll is ready) or, for a body polled as a future,
/// keeps the waker in the run and returns `Pending` (`exec/drive.rs`).
///
/// Its `Send` bound names no lifetime (see [`GraphBody`]).
#[doc(hidden)]
#[must_use = "a graph runs when its body awaits `execute`"]
pub struct Execute<'s, 'g, O> {
    mode: Mode<'g>,
    template: Option<&'static Template>,
    ctl: Option<&'g Control>,
    fams: &'s [&'s dyn ErasedFamily<'g>],
    /// The graph's outputs, taken once the run is over.
    outs: Option<O>,
    /// The run, from the first poll until it is torn down (`live`). Only
    /// reached through its address ([`Execute::run_ptr`]): while it lives,
    /// pool threads write its atomics, and a reference to the field (an
    /// `Option`'s, say) would read all of it, racing with them.
    run: MaybeUninit<Run<'s, 'g>>,
    /// Whether `run` holds a run.
    live: bool,
    _pinned: PhantomPinned,
}

// SAFETY: what the future holds may move to another thread between polls:
// the host, the control, the families (`ErasedFamily: Sync`) and the part
// plan are shared references to `Sync` data; the outputs are `O: Send`;
// the run (`Run: Sync`) owns its topology's buffers, shares its observers
// through an `Arc` and holds no thread-bound state, and the items pointing
// at it reach it by address, which pinning keeps fixed wherever the future
// is polled from. The bound names no lifetime, so a body holding this
// future is `Send` as far as the compiler can tell with lifetimes erased.
unsafe impl<O: Send> Send for Execute<'_, '_, O> {}

const POLLED_AGAIN: &str = "taskgraph internal error: a graph's `execute` polled after it ended";

impl<'s, 'g, O: Outputs<'g>> Future for Execute<'s, 'g, O> {
    type Output = Result<O::Value, Halt>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: the run is never moved while it lives: it is written in
        // place by the first poll and moved out only once its latch is set
        // (no item points at it any more); `outs` is not pinned (nothing
        // points at it).
        let this = unsafe { self.get_unchecked_mut() };
        if !this.live {
            // A family that could not take a node (`Family::push`): the
            // graph fails, before any task runs, whatever the mode.
            if let Some(f) = this.fams.iter().find(|f| f.core().full != Full::No) {
                this.outs = None;
                let e = f.core().failure().expect("a full family's error");
                return Poll::Ready(Err(e.into()));
            }
        }
        let rt = match this.mode {
            Mode::Run(rt) => rt,
            Mode::Describe => {
                let outs = this.outs.take().expect(POLLED_AGAIN);
                return Poll::Ready(Err(Halt::Described(Instance::new(
                    this.fams,
                    &outs,
                    this.template,
                ))));
            }
            Mode::Part(rt, part) => {
                let outs = this.outs.take().expect(POLLED_AGAIN);
                return Poll::Ready(execute_part(this.template, rt, part, this.fams, outs));
            }
        };
        let first = !this.live;
        if first {
            if let Err(e) = this.start(rt) {
                this.outs = None;
                return Poll::Ready(Err(e.into()));
            }
        }
        let park = if YIELDS.with(Cell::get) {
            Park::Yield(cx.waker())
        } else {
            Park::Block
        };
        let run_ptr = Self::run_ptr(this);
        let ended = on_worker(rt, |w| {
            // SAFETY: `live` (just started or started before): the run is
            // in place, and only shared references to it are made.
            let run = unsafe { &*run_ptr };
            if !drive(run, w, first, park) {
                return None;
            }
            // Withdrawn where it was registered, before it moves.
            run.withdraw();
            this.live = false;
            // SAFETY: the latch is set and the run withdrawn: nothing points
            // at it any more; `live` is cleared, so it is read out once.
            let run = unsafe { std::ptr::read(run_ptr) };
            let outs = this.outs.take().expect(POLLED_AGAIN);
            Some(finish(run, w, &rt.cache, None, false, |cx| {
                outs.take(cx).map(Some)
            }))
        });
        match ended {
            None => Poll::Pending,
            Some(Ok(v)) => Poll::Ready(Ok(v.expect("a whole run takes its outputs"))),
            Some(Err(e)) => Poll::Ready(Err(e.into())),
        }
    }
}

impl<'s, 'g, O> Execute<'s, 'g, O> {
    /// The run's address, taken without a reference to the field.
    fn run_ptr(this: &mut Self) -> *const Run<'s, 'g> {
        std::ptr::addr_of!(this.run).cast()
    }
}

impl<'s, 'g, O: Outputs<'g>> Execute<'s, 'g, O> {
    /// The first poll of a whole run: builds its topology and storage and
    /// creates the run in place, registered with its control.
    fn start(&mut self, rt: &'g Host) -> Result<(), Error> {
        let outs = self.outs.as_ref().expect(POLLED_AGAIN);
        if let Some(ctl) = self.ctl {
            ctl.built(outs.len_hint(), crate::exec::planned(self.fams));
        }
        let cache = &rt.cache;
        let mut finals: Vec<Piece> = Vec::new();
        outs.for_each(&mut |p| finals.push(p));
        let mut topo = Topology::build(self.fams, &finals, cache, false)?;
        for (i, f) in self.fams.iter().enumerate() {
            let states = topo.states_of(i as u32);
            topo.meta[i].values = f.prepare(cache, states)?;
        }
        let watch = watch(rt, self.template, self.fams);
        self.run
            .write(Run::new(self.fams, topo, &rt.reg, watch, None, self.ctl));
        self.live = true;
        // The address the pool's items and the control will use, taken
        // from the field's place, not from the reference `write` returned
        // (a unique one, which later reads by others would freeze).
        // SAFETY: just written.
        let run = unsafe { &*Self::run_ptr(self) };
        // SAFETY: the run stays where it is (the future is pinned) until
        // `poll` or `drop` withdraws it, right before it moves into `finish`.
        unsafe { run.register() };
        Ok(())
    }
}

impl<O> Drop for Execute<'_, '_, O> {
    /// A run dropped before it ended: the pool's items point at it, so it
    /// is stopped as a cancel stops it, its last items are waited for
    /// here, and it is torn down, every value it made dropped. The
    /// runtime's own code never drops a body mid-run (a cancelled awaited
    /// or spawned graph's body is polled to its end by the pool:
    /// `spawn/body.rs`), so this waits only after a poll unwound mid-run,
    /// an internal error.
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        let Mode::Run(rt) = self.mode else {
            unreachable!("taskgraph internal error: a run outside a whole run")
        };
        let run_ptr = Self::run_ptr(self);
        // SAFETY: `live`: the run is in place.
        unsafe { &*run_ptr }.stop_with(CANCELLED);
        on_worker(rt, |w| {
            // SAFETY: as above.
            let run = unsafe { &*run_ptr };
            drive(run, w, false, Park::Block);
            run.withdraw();
            self.live = false;
            // SAFETY: the latch is set and the run withdrawn; read out once.
            let run = unsafe { std::ptr::read(run_ptr) };
            let _ = finish(run, w, &rt.cache, None, true, |_| Ok(None::<()>));
        });
    }
}

/// Runs the parts of the graph that `part` plans (`part.rs`): one, then
/// another on the same instance while [`Part::next`] says so.
#[cold]
#[inline(never)]
fn execute_part<'g, O: Outputs<'g>>(
    template: Option<&'static Template>,
    rt: &Host,
    part: &dyn Part,
    fams: &[&dyn ErasedFamily<'g>],
    outs: O,
) -> Result<O::Value, Halt> {
    let instance = Instance::new(fams, &outs, template);
    let codec = part.codec();
    for f in fams {
        let c = f.core();
        if c.len > 0 && c.kind == Kind::Tasks && codec.type_name(c.id) != f.value_type() {
            return Err(Error::cluster(format!(
                "the values of `{}` at {}:{} are `{}` here but `{}` in the codec: \
                     the graph's types and its codec disagree (taskgraph internal error)",
                c.info.name,
                c.info.file,
                c.info.line,
                f.value_type().unwrap_or("?"),
                codec.type_name(c.id).unwrap_or("not sent"),
            ))
            .into());
        }
    }
    let mut finals: Vec<Piece> = Vec::new();
    outs.for_each(&mut |p| finals.push(p));
    loop {
        let plan = part.plan(&instance)?;
        if plan.take_outputs {
            // Taking the outputs ends the instance.
            return run_part(template, rt, part, fams, &finals, plan, outs)?.ok_or(Halt::PartDone);
        }
        // A part that takes no output: nothing to take.
        run_part(template, rt, part, fams, &finals, plan, PlainOutput(()))?;
        if !part.next() {
            return Err(Halt::PartDone);
        }
    }
}

/// Runs one part, `plan`, of the instantiated graph; takes `outs` if the
/// plan says so.
fn run_part<'g, O: Outputs<'g>>(
    template: Option<&'static Template>,
    rt: &Host,
    part: &dyn Part,
    fams: &[&dyn ErasedFamily<'g>],
    finals: &[Piece],
    plan: crate::plan::Plan<'_>,
    outs: O,
) -> Result<Option<O::Value>, Error> {
    let codec = part.codec();
    let cache = &rt.cache;
    let mut topo = Topology::build(fams, finals, cache, true)?;
    if let Err(e) = topo.restrict(&plan.run) {
        topo.recycle(cache);
        return Err(Error::cluster(e));
    }
    let mut collect_at = vec![NOT_COLLECTED; topo.states_len()];
    for (k, n) in plan.collect.iter().enumerate() {
        match topo.meta.get(n.fam as usize) {
            Some(m) if n.idx < m.len => collect_at[topo.global(*n)] = k as u32,
            _ => {
                topo.recycle(cache);
                return Err(Error::cluster(
                    "the part collects a node that does not exist",
                ));
            }
        }
    }
    for (i, f) in fams.iter().enumerate() {
        let states = topo.states_of(i as u32);
        topo.meta[i].values = f.prepare(cache, states)?;
    }
    let produced = |pos: usize, bytes: Vec<u8>| part.produced(pos, bytes);
    let ctl = PartCtl {
        produced: &produced,
        codec,
        inject: plan.inject.iter().map(|(n, b)| (*n, &b[..])).collect(),
        collect_at,
        take_outputs: plan.take_outputs,
    };
    let watch = watch(rt, template, fams);
    on_worker(rt, |w| {
        run(
            fams,
            topo,
            outs,
            w,
            cache,
            watch,
            None,
            Some((&ctl, &plan.run)),
        )
    })
}

/// Calls `f` with this thread's participant in `rt`'s pool: the pool
/// thread itself, or a caller's external slot for the time of the call.
fn on_worker<R>(rt: &Host, f: impl FnOnce(&WorkerCtx<'_>) -> R) -> R {
    WorkerCtx::current(|cur| match cur {
        Some(w) if std::ptr::eq(w.reg, &*rt.reg) => f(w),
        // A task of another runtime lends its token there while it waits
        // for this graph (which may wait for a graph of that runtime).
        Some(w) if w.has_token() => {
            let _back = w.lend();
            external(rt, f)
        }
        _ => external(rt, f),
    })
}

/// Runs `f` as a caller from outside `rt`'s pool, on an external slot.
fn external<R>(rt: &Host, f: impl FnOnce(&WorkerCtx<'_>) -> R) -> R {
    let (w, slot) = match rt.reg.claim_external() {
        Some((me, deque)) => (WorkerCtx::external(&rt.reg, me, deque), true),
        None => (WorkerCtx::unregistered(&rt.reg), false),
    };
    let entered = w.enter();
    let r = f(&w);
    drop(entered);
    if slot {
        let (me, deque) = w.into_deque();
        rt.reg.release_external(me, deque);
    }
    r
}

/// The run's observers, told that it starts (`None` when there are none).
fn watch(rt: &Host, template: Option<&'static Template>, fams: &[&dyn ErasedFamily<'_>]) -> Watch {
    let observers = rt.observers.snapshot();
    let id = match &observers {
        Some(obs) => started(obs, rt.reg.threads(), template, fams),
        None => 0,
    };
    Watch { observers, id }
}

#[cold]
#[inline(never)]
fn started(
    obs: &Observers,
    threads: usize,
    template: Option<&'static Template>,
    fams: &[&dyn ErasedFamily<'_>],
) -> u64 {
    let id = next_run();
    let families: Vec<FamilySummary> = fams
        .iter()
        .map(|f| {
            let c = f.core();
            FamilySummary {
                site: c.info,
                kind: match c.kind {
                    Kind::Tasks => FamilyKind::Tasks,
                    Kind::Loop => FamilyKind::Loop,
                    Kind::Elements => FamilyKind::Elements,
                    Kind::Source => FamilyKind::Source,
                },
                nodes: c.len,
                iterations: c.iterations,
                width: c.width,
            }
        })
        .collect();
    let ev = RunStarted {
        run: id,
        time: now_ns(),
        threads,
        families: &families,
        template,
    };
    obs.each(|o| o.run_started(&ev));
    id
}

#[cold]
#[inline(never)]
fn finished(obs: &Observers, id: u64, error: Option<&Error>, panicked: bool) {
    let ev = RunFinished {
        run: id,
        time: now_ns(),
        error,
        panicked,
    };
    obs.each(|o| o.run_finished(&ev));
}

/// Runs the graph (or the part `part` plans, with the nodes it runs) and
/// takes its outputs (`None` if the part takes none).
// One call from a whole run, one from a part run: a struct for the two
// optional handles would be built and taken apart right here.
#[allow(clippy::too_many_arguments)]
fn run<'g, O: Outputs<'g>>(
    fams: &[&dyn ErasedFamily<'g>],
    topo: Topology,
    outs: O,
    w: &WorkerCtx<'_>,
    cache: &Cache,
    watch: Watch,
    ctl: Option<&Control>,
    part: Option<(&PartCtl<'_>, &[NodeRange])>,
) -> Result<Option<O::Value>, Error> {
    let run = Run::new(fams, topo, w.reg, watch, part.map(|p| p.0), ctl);
    // SAFETY: withdrawn below, before the run moves into `finish`.
    unsafe { run.register() };
    drive(&run, w, true, Park::Block);
    run.withdraw();
    finish(run, w, cache, part, false, |cx| match part {
        Some((ctl, _)) if !ctl.take_outputs => Ok(None),
        _ => outs.take(cx).map(Some),
    })
}

/// Ends a run whose latch is set and which its control no longer reaches
/// ([`Run::withdraw`], called where it was registered): takes its
/// outputs after a success (`take`; not if the run is `dropped` unfinished
/// by its future, which drops everything), tears its families down and
/// tells the observers.
fn finish<'g, R>(
    run: Run<'_, 'g>,
    w: &WorkerCtx<'_>,
    cache: &Cache,
    part: Option<(&PartCtl<'_>, &[NodeRange])>,
    dropped: bool,
    take: impl FnOnce(&Cx<'_, 'g>) -> Result<Option<R>, Error>,
) -> Result<Option<R>, Error> {
    let fams = run.fams;
    let cx = Cx::new(&run, w);
    let outcome = match run.outcome() {
        Ok(()) if dropped => Ok(Ok(None)),
        Ok(()) => match part.and_then(|(_, nodes)| unrun(&run, nodes)) {
            Some(e) => Ok(Err(e)),
            None => Ok(take(&cx)),
        },
        Err(o) => Err(o),
    };
    // After a successful run every value was consumed (the outputs just
    // now), unless an output appeared twice; a part may leave values for
    // consumers it does not run.
    let live = dropped || part.is_some() || !matches!(outcome, Ok(Ok(_)));
    // Values whose `Drop` panics while they are dropped here count as more
    // failures of the run (its error is already decided).
    let panics: usize = fams.iter().map(|f| f.teardown(&cx, cache, live)).sum();
    let Run { topo, watch, .. } = run;
    topo.recycle(cache);
    let r = match outcome {
        Ok(v) => v,
        Err(Outcome::Failed(e)) => Err(e.with_more(panics)),
        Err(Outcome::Panic(p)) => {
            if let Some(obs) = &watch.observers {
                finished(obs, watch.id, None, true);
            }
            if dropped {
                // Nobody is left to raise it in.
                drop(p);
                return Err(Error::Cancelled);
            }
            resume_unwind(p)
        }
    };
    if let Some(obs) = &watch.observers {
        finished(obs, watch.id, r.as_ref().err(), false);
    }
    r
}

/// After a part run that did not fail: an error if a node it was to run
/// never ran (its inputs were neither in the part nor given to it).
#[cold]
fn unrun(run: &Run<'_, '_>, nodes: &[NodeRange]) -> Option<Error> {
    for r in nodes {
        for idx in r.lo..r.hi {
            let n = NodeId::new(r.family, idx);
            if run.topo.state_now(n) == NOT_RUN {
                let task = run.fams[r.family as usize].core().describe(idx);
                return Some(Error::cluster(format!(
                    "task {task} never became ready in its block: an input was neither \
                     computed there nor sent to it (taskgraph internal error)"
                )));
            }
        }
    }
    None
}

/// The body of a graph: the future the closure `graph!` writes returns
/// (`async move { .. scope.execute(..).await .. }`, boxed). Its state is
/// the graph's frame, on the heap: the families, the bound families and
/// the values the plain code holds across `execute`, which must therefore
/// be `Send`. The one form serves every way of running a graph (computed,
/// spawned, looked at, run in parts); today `execute` runs the graph within
/// the body's first poll ([`now`]).
#[doc(hidden)]
pub type GraphBody<'g, R> = Pin<Box<dyn Future<Output = R> + Send + 'g>>;

/// The second argument of the closure `graph!` writes: says that what the
/// graph borrows (for `'a`) outlives its scope (`'g`), so that a body
/// living for `'g` may hold those borrows.
#[doc(hidden)]
pub struct Within<'g, 'a>(PhantomData<&'g &'a ()>);

impl Within<'_, '_> {
    pub(crate) fn new() -> Self {
        Within(PhantomData)
    }
}

/// Fixes the signature of the closure `graph!` writes (its body borrows
/// the scope for `'g`, which the closure's return type names).
#[doc(hidden)]
pub fn body<'a, F, R>(f: F) -> F
where
    F: for<'g> FnOnce(Scope<'g>, Within<'g, 'a>) -> GraphBody<'g, R>,
{
    f
}

/// Boxes a graph's body.
#[doc(hidden)]
pub fn boxed<'g, R>(f: impl Future<Output = R> + Send + 'g) -> GraphBody<'g, R> {
    Box::pin(f)
}

thread_local! {
    /// Whether the body being polled on this thread is polled as a future
    /// ([`poll_yielding`]): its `execute` returns `Pending` where it would
    /// sleep with the pool. Set around each poll, so a task that the poll
    /// runs and that computes a graph of its own (with [`now`]) blocks.
    static YIELDS: Cell<bool> = const { Cell::new(false) };
}

/// Polls `f` with `yields` in [`YIELDS`] for the time of the poll.
fn poll_with<F: Future + ?Sized>(
    yields: bool,
    f: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            YIELDS.with(|y| y.set(self.0));
        }
    }
    let _restore = Restore(YIELDS.with(|y| y.replace(yields)));
    f.poll(cx)
}

/// Runs a graph's body to its end: one poll, since its only await point,
/// `execute`, sleeps with the pool rather than return `Pending`.
pub(crate) fn now<R>(mut f: GraphBody<'_, R>) -> R {
    match poll_with(false, f.as_mut(), &mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => unreachable!("taskgraph internal error: a graph's body waited"),
    }
}

/// Polls a graph's body as a future: where its run would sleep with the
/// pool, it keeps `cx`'s waker in the run and returns `Pending`, and the
/// run's end (or a stop) wakes it (`exec/drive.rs`).
pub(crate) fn poll_yielding<F: Future + ?Sized>(
    f: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    poll_with(true, f, cx)
}

impl<'g> Scope<'g> {
    /// Starts a source: values from outside the graph, read as lazy values
    /// where the graph uses them ([`Source::read`]).
    pub fn source<T, F>(&self) -> Source<'g, T, F> {
        Source::new(self.next())
    }
}
