//! Values from outside the graph as lazy values: a `Vec<T>` made before the
//! graph, or the outputs of a spawned graph (`Handle`, `../spawn/feed.rs`),
//! which a later
//! graph reads before they exist.
//!
//! A source is a family of kind `Source` whose nodes are the values, read
//! like the elements a fused loop pushes, and which runs no task. The
//! generated code declares it with the graph's other families
//! (`Scope::source`) and gives it its values where the graph reads them
//! (`Source::read`), so the borrow checker sees what it borrows. When the
//! run starts, one work item is seeded for the whole family. If the values
//! are there (a vector, a spawned graph that has finished) it moves or
//! clones them into the nodes' cells and completes them together, which
//! tells their consumers. If not, it subscribes a wake-up with the spawned
//! graph and ends as `Pending`, as a block of a fused loop does whose loop
//! another block will finish: no thread waits. The wake-up was counted in
//! the run's `active` items when it was made, so the run cannot end before
//! it; when the spawned graph finishes it pushes the wake-up as a work
//! item, which fills the cells and completes the family.
//!
//! A run that stops while a source waits withdraws the wake-up
//! (`ErasedFamily::abandon_wait`) and ends the item it stood for, so it
//! never waits for a graph whose outputs it will not use. The subscription
//! and the stop meet on one word per source (`Waiting`): the source puts
//! its subscription there with a `compare_exchange` from empty, the stopper
//! marks it `STOPPED` with a `fetch_or`. Whichever comes second sees the
//! other: a stopper that finds a subscription withdraws it; a source that
//! finds the mark withdraws its own. The spawned graph's lock then lets
//! exactly one of the withdrawal and the wake-up happen (loom models:
//! `a_stop_meets_a_wake_up`, `a_stopped_run_does_not_wait_for_its_source`).

use std::marker::PhantomData;
use std::sync::Mutex;

use crate::error::Error;
use crate::exec::cache::Cache;
use crate::exec::finish::Wake;
use crate::exec::registry::{Registry, WorkerCtx};
use crate::exec::{Block, Cells, Core, Cx, ErasedFamily, Job, Kind, Ran, Run};
use crate::site::FamilyInfo;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::value::{Brand, Lazy, LazyVec, NodeId, Piece};

/// Where a source's values come from.
#[doc(hidden)]
pub trait Feed<T>: Send + Sync {
    /// How many values (asked while the graph is built; may wait for a
    /// spawned graph to be built).
    fn count(&self) -> Result<usize, Error>;
    /// Whether the values are there.
    fn ready(&self) -> bool;
    /// Calls `wake` once the values are there: its id, or `None` (and
    /// `wake` dropped uncalled) if they are there already.
    fn subscribe(&self, wake: Wake) -> Option<u64>;
    /// Withdraws wake-up `id`; true if it had not been called.
    fn unsubscribe(&self, id: u64) -> bool;
    /// Hands the values over, in order (once they are there).
    fn fill(&self, put: &mut dyn FnMut(T)) -> Result<(), Error>;
}

/// A vector owned by the graph: moved into the elements.
pub struct OwnedValues<T>(Mutex<Option<Vec<T>>>);

impl<T: Send> Feed<T> for OwnedValues<T> {
    fn count(&self) -> Result<usize, Error> {
        Ok(lock(&self.0).as_ref().map_or(0, Vec::len))
    }
    fn ready(&self) -> bool {
        true
    }
    fn subscribe(&self, _: Wake) -> Option<u64> {
        None
    }
    fn unsubscribe(&self, _: u64) -> bool {
        false
    }
    fn fill(&self, put: &mut dyn FnMut(T)) -> Result<(), Error> {
        for v in lock(&self.0).take().into_iter().flatten() {
            put(v);
        }
        Ok(())
    }
}

/// A slice borrowed by the graph: cloned into the elements.
pub struct BorrowedValues<'a, T>(&'a [T]);

impl<T: Clone + Sync> Feed<T> for BorrowedValues<'_, T> {
    fn count(&self) -> Result<usize, Error> {
        Ok(self.0.len())
    }
    fn ready(&self) -> bool {
        true
    }
    fn subscribe(&self, _: Wake) -> Option<u64> {
        None
    }
    fn unsubscribe(&self, _: u64) -> bool {
        false
    }
    fn fill(&self, put: &mut dyn FnMut(T)) -> Result<(), Error> {
        for v in self.0 {
            put(v.clone());
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A source's subscription while it waits for its values, and the mark of
/// a stop: where the two meet (module docs). Shared with the loom models.
pub(crate) struct Waiting(AtomicU64);

/// The mark a stop leaves (subscription ids are small).
const STOPPED: u64 = 1 << 63;

impl Waiting {
    pub(crate) fn new() -> Self {
        Waiting(AtomicU64::new(0))
    }

    /// Records subscription `id`; false if the run has stopped first, and
    /// then the caller withdraws the wait itself.
    pub(crate) fn set(&self, id: u64) -> bool {
        debug_assert!(id != 0 && id & STOPPED == 0);
        self.0
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The run stops: the subscription to withdraw, if one was recorded and
    /// this is the first stop to come by (else 0).
    pub(crate) fn stop(&self) -> u64 {
        let prev = self.0.fetch_or(STOPPED, Ordering::AcqRel);
        if prev & STOPPED != 0 {
            0
        } else {
            prev
        }
    }

    /// Woken: the subscription was used (a stop's mark stays).
    pub(crate) fn woken(&self) {
        self.0.fetch_and(STOPPED, Ordering::AcqRel);
    }
}

/// The family of a source (see the module docs): nodes `0..len` are the
/// values, written together by one work item.
pub struct Source<'g, T, F> {
    core: Core,
    feed: Option<F>,
    /// The subscription while the family waits for its values.
    waiting: Waiting,
    cells: Cells,
    _brand: Brand<'g>,
    _t: PhantomData<fn() -> T>,
}

// SAFETY: the feed is `Sync`; the cells are written by the one work item
// that fills them, then read under the slot protocol (`T: Send + Sync`);
// the buffer is set before the run and taken after it.
unsafe impl<T: Send + Sync, F: Sync> Sync for Source<'_, T, F> {}

/// The wake-up a waiting source subscribes: pushes `item` (counted in its
/// run's `active` items) when the values are there.
struct Later {
    reg: *const Registry,
    item: crate::exec::Item,
}
// SAFETY: the registry outlives the run the item belongs to, which cannot
// end before the item has run or been withdrawn; the item is `Send`.
unsafe impl Send for Later {}

/// Where a source stands before it is read: a family of no values.
static UNREAD: FamilyInfo = FamilyInfo::new("<source>", "", 0, 0);

impl<'g, T, F> Source<'g, T, F> {
    fn set(
        &mut self,
        info: &'static FamilyInfo,
        feed: F,
        len: usize,
    ) -> Result<LazyVec<'g, T>, Error> {
        assert!(
            self.feed.is_none(),
            "taskgraph internal error: a source read twice"
        );
        let len = u32::try_from(len)
            .ok()
            .filter(|&n| n < u32::MAX - 2)
            .ok_or_else(|| Error::GraphTooLarge {
                message: format!(
                    "`{}` at {}:{} has {len} values, more than {}",
                    info.name,
                    info.file,
                    info.line,
                    u32::MAX - 3
                ),
            })?;
        self.core.info = info;
        self.core.len = len;
        self.core.at = Default::default();
        self.core.at.add(0, &[0]);
        self.feed = Some(feed);
        let mut v = LazyVec::new();
        v.push_run(self.core.id, 0, len);
        Ok(v)
    }

    /// Reads `values` as a vector of lazy values, which `tree_reduce`,
    /// gathering tasks and indexing read like any other: a `Vec<T>` (moved
    /// in), a `&[T]` or `&Vec<T>` (cloned), a spawned graph's
    /// [`Handle<Vec<T>>`](Handle) (its output moved in) or a reference to
    /// one (cloned). `info` names the vector in errors.
    ///
    /// A handle's outputs are read before they exist: only the tasks that
    /// read them wait for the spawned graph, and no thread waits with them.
    /// Their number must be known now: it is as soon as the spawned graph is
    /// built if it ends with a vector of lazy values (this waits for that),
    /// else once it has finished (this waits for that).
    ///
    /// Cost: one work item that moves or clones the values (about a
    /// nanosecond each), not a task per value. If the spawned graph fails
    /// or is cancelled, the graph fails with [`Error::InputFailed`].
    pub fn read<S>(&mut self, info: &'static FamilyInfo, values: S) -> Result<LazyVec<'g, T>, Error>
    where
        S: VectorSource<Item = T, Feed = F>,
        F: Feed<T>,
    {
        let feed = values.into_feed();
        let len = feed.count()?;
        self.set(info, feed, len)
    }

    /// Reads a spawned graph's output as one lazy value: a
    /// [`Handle<T>`](Handle) (moved in) or a reference to one (cloned).
    /// As [`Source::read`].
    pub fn read_one<S>(&mut self, info: &'static FamilyInfo, value: S) -> Result<Lazy<'g, T>, Error>
    where
        S: IntoLazy<Item = T, Feed = F>,
        F: Feed<T>,
    {
        let v = self.set(info, value.into_feed(), 1)?;
        Ok(v.get(0).expect("a source of one value"))
    }
}

impl<'g, T: Send + Sync, F: Feed<T>> Source<'g, T, F> {
    /// Moves the values into the cells; false if the run failed.
    fn fill(&self, feed: &F, cx: &Cx<'_, 'g>) -> bool {
        let slots = cx.slots::<T>(self.core.id, 0, self.core.len);
        let mut k = 0;
        // A panic here (a `Clone` of the values) fails the run, named after
        // the source.
        let r = cx.on_behalf_of(NodeId::new(self.core.id, 0), || {
            feed.fill(&mut |v| {
                if k < slots.len() {
                    // SAFETY: each cell is written once, here, before its
                    // consumers are told (when the family completes).
                    unsafe { slots.get(k).write(v) };
                }
                k += 1;
            })
        });
        let r = r.and_then(|()| {
            if k == slots.len() {
                Ok(())
            } else {
                Err(Error::InputFailed {
                    message: format!("it gave {k} values where {} were expected", slots.len()),
                })
            }
        });
        match r {
            Ok(()) => true,
            Err(e) => {
                cx.run.fail(e);
                false
            }
        }
    }
}

impl<'g, T: Send + Sync, F: Feed<T>> ErasedFamily<'g> for Source<'g, T, F> {
    fn core(&self) -> &Core {
        &self.core
    }
    fn for_each_gather(&self, _: &mut dyn FnMut(u32, Piece)) {}
    fn prepare(&self, cache: &Cache, _: *const AtomicU32) -> Result<*mut u8, Error> {
        // SAFETY: before the run, single-threaded.
        unsafe { self.cells.prepare::<T>(cache, self.core.len as usize) }
    }
    fn run(&self, _: u32, _: &Cx<'_, 'g>) -> Ran {
        unreachable!("taskgraph internal error: a source runs as one block")
    }
    fn run_block(&self, b: Block, cx: &Cx<'_, 'g>) -> Ran {
        let Some(feed) = &self.feed else {
            return Ran::Done;
        };
        if b.size == 1 {
            // Woken: the values are there.
            self.waiting.woken();
        } else if !feed.ready() {
            let run: &Run<'_, 'g> = cx.run;
            let later = Later {
                reg: run.reg,
                item: run.later_item(Job::Block(Block { size: 1, ..b })),
            };
            let wake: Wake = Box::new(move || {
                let later = later;
                // SAFETY: see `Later`.
                WorkerCtx::push_from_outside(unsafe { &*later.reg }, later.item);
            });
            match feed.subscribe(wake) {
                Some(id) => {
                    // The run stopped first: withdraw the wait ourselves.
                    if !self.waiting.set(id) && feed.unsubscribe(id) {
                        // SAFETY: the withdrawn wake-up's item was counted;
                        // this thread's own item keeps the run alive.
                        unsafe { Run::finish_item(run) };
                    }
                    return Ran::Pending;
                }
                // Finished meanwhile: the wake-up was dropped uncalled.
                // SAFETY: as above.
                None => unsafe { Run::finish_item(run) },
            }
        }
        if self.fill(feed, cx) {
            Ran::Done
        } else {
            Ran::Pending
        }
    }
    fn publish(&self, idx: u32, uses: u32, cx: &Cx<'_, 'g>) {
        // SAFETY: the family is complete (its values are written) and the
        // consumers are told only after this.
        unsafe { self.cells.publish::<T>(self.core.id, idx, uses, cx) }
    }
    fn publish_range(&self, lo: u32, hi: u32, uses: u32, cx: &Cx<'_, 'g>) {
        // SAFETY: as in `publish`.
        unsafe {
            self.cells
                .publish_range::<T>(self.core.id, lo, hi, uses, cx)
        }
    }
    fn teardown(&self, cx: &Cx<'_, 'g>, cache: &Cache, live: bool) -> usize {
        // SAFETY: the run is over; the cells hold `T`s.
        unsafe { self.cells.teardown::<T>(&self.core, cache, live, cx) }
    }
    fn abandon_wait(&self) -> bool {
        let id = self.waiting.stop();
        id != 0 && self.feed.as_ref().is_some_and(|f| f.unsubscribe(id))
    }
}

impl<'g, T, F> Source<'g, T, F> {
    /// A source of no values yet: family `id` of its graph.
    pub(crate) fn new(id: u32) -> Self {
        let mut core = Core::new(id, Kind::Source, &UNREAD);
        core.at.add(0, &[0]);
        Source {
            core,
            feed: None,
            waiting: Waiting::new(),
            cells: Cells::new(),
            _brand: PhantomData,
            _t: PhantomData,
        }
    }
}

/// What a graph can read as a vector of lazy values ([`Source::read`]): a
/// `Vec<T>`, a `&[T]`, a `&Vec<T>`, a spawned graph's `Handle<Vec<T>>` or a
/// reference to one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read as a vector of lazy values",
    note = "give a vector of lazy values, a `Vec<T>` or `&[T]`, or the `Handle` of a spawned graph whose output is a `Vec<T>`"
)]
pub trait VectorSource {
    /// The element type.
    type Item;
    /// Where the values come from.
    #[doc(hidden)]
    type Feed: Feed<Self::Item>;
    /// The values as a feed.
    #[doc(hidden)]
    fn into_feed(self) -> Self::Feed;
}

impl<T: Send + Sync> VectorSource for Vec<T> {
    type Item = T;
    type Feed = OwnedValues<T>;
    fn into_feed(self) -> OwnedValues<T> {
        OwnedValues(Mutex::new(Some(self)))
    }
}

impl<'a, T: Clone + Send + Sync> VectorSource for &'a [T] {
    type Item = T;
    type Feed = BorrowedValues<'a, T>;
    fn into_feed(self) -> BorrowedValues<'a, T> {
        BorrowedValues(self)
    }
}

impl<'a, T: Clone + Send + Sync> VectorSource for &'a Vec<T> {
    type Item = T;
    type Feed = BorrowedValues<'a, T>;
    fn into_feed(self) -> BorrowedValues<'a, T> {
        BorrowedValues(self.as_slice())
    }
}

/// Checks, at the user's expression, that `values` can be read as a vector
/// of lazy values ([`VectorSource`]) before [`Source::read`] reads it: when
/// it cannot, this is the one error, and the read (given an erroneous type)
/// adds none.
#[doc(hidden)]
#[inline(always)]
pub fn vector_source<S: VectorSource>(values: S) -> Checked<S::Item, S::Feed> {
    Checked(values.into_feed(), PhantomData)
}

/// What [`vector_source`] checked: the values as their feed.
#[doc(hidden)]
pub struct Checked<T, F>(F, PhantomData<fn() -> T>);

#[diagnostic::do_not_recommend]
impl<T, F: Feed<T>> VectorSource for Checked<T, F> {
    type Item = T;
    type Feed = F;
    fn into_feed(self) -> F {
        self.0
    }
}

/// What a graph can read as one lazy value ([`Source::read_one`]): a
/// spawned graph's `Handle<T>` or a reference to one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read as a lazy value",
    note = "give the `Handle` of a spawned graph, or a reference to one"
)]
pub trait IntoLazy {
    /// The value's type.
    type Item;
    /// Where the value comes from.
    #[doc(hidden)]
    type Feed: Feed<Self::Item>;
    /// The value as a feed.
    #[doc(hidden)]
    fn into_feed(self) -> Self::Feed;
}

#[cfg(all(test, loom))]
mod loom_models {
    //! A stop meeting a source's wait: the run's active count is the
    //! invariant (every counted item released exactly once, so the run
    //! ends, exactly once). The stopper's side is `Run::stop_with` and
    //! `Run::abandon_waits`, the source's `Source::run_block`, written out
    //! here as they are there.
    use super::Waiting;
    use crate::exec::finish::{Ended, Finish};
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    fn release(active: &AtomicUsize) {
        let before = active.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "an item released twice");
    }

    /// The stopper: marks the source and withdraws its wait if it finds one.
    fn stop(waiting: &Waiting, f: &Finish<u32>, active: &AtomicUsize) {
        let id = waiting.stop();
        if id != 0 && f.unsubscribe(id) {
            release(active);
        }
    }

    /// The source's item: subscribes (its wake-up releases the later item),
    /// withdraws the wait itself if the stop came first, then ends.
    fn source(waiting: &Waiting, f: &Finish<u32>, active: &Arc<AtomicUsize>) {
        let a = Arc::clone(active);
        match f.subscribe(Box::new(move || release(&a))) {
            Some(id) => {
                if !waiting.set(id) && f.unsubscribe(id) {
                    release(active);
                }
            }
            None => release(active),
        }
        release(active);
    }

    /// The source subscribes; a stopper marks it; the spawned graph
    /// finishes and wakes it. Each of the source's two items (its own and
    /// the later one) is released exactly once, whatever the order.
    #[test]
    fn a_stop_meets_a_wake_up() {
        loom::model(|| {
            let f: Arc<Finish<u32>> = Arc::new(Finish::new());
            let waiting = Arc::new(Waiting::new());
            let active = Arc::new(AtomicUsize::new(2));
            let stopper = {
                let (w, f, a) = (Arc::clone(&waiting), Arc::clone(&f), Arc::clone(&active));
                loom::thread::spawn(move || stop(&w, &f, &a))
            };
            let finisher = {
                let f = Arc::clone(&f);
                loom::thread::spawn(move || f.finish(Ended::Result(Ok(1))))
            };
            source(&waiting, &f, &active);
            stopper.join().unwrap();
            finisher.join().unwrap();
            assert_eq!(
                active.load(Ordering::SeqCst),
                0,
                "an item was never released"
            );
        });
    }

    /// The same with a spawned graph that never finishes (it may wait for
    /// the very run that reads it): once stopped, the run does not wait for
    /// it. Both items are released by the source and the stopper alone.
    #[test]
    fn a_stopped_run_does_not_wait_for_its_source() {
        loom::model(|| {
            let f: Arc<Finish<u32>> = Arc::new(Finish::new());
            let waiting = Arc::new(Waiting::new());
            let active = Arc::new(AtomicUsize::new(2));
            let stopper = {
                let (w, f, a) = (Arc::clone(&waiting), Arc::clone(&f), Arc::clone(&active));
                loom::thread::spawn(move || stop(&w, &f, &a))
            };
            source(&waiting, &f, &active);
            stopper.join().unwrap();
            assert_eq!(
                active.load(Ordering::SeqCst),
                0,
                "the stopped run waits for its source"
            );
        });
    }
}

/// A source's values come from this process (a running graph or a vector
/// it holds): a graph that reads one is never sent elsewhere in parts.
impl<T, F> crate::value::ValueOf for Source<'_, T, F> {
    type Value = ();
}
