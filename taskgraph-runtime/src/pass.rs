//! How a task receives its inputs: moved, cloned or borrowed, by one rule for
//! both kinds of work.
//!
//! A `#[delayed]` parameter written `T` is [`ByValue`]; `&T` is [`ByRef`].
//! The macro decides per argument, at compile time, whether the task is the
//! value's only consumer (`once`: moved, no count) or one of several
//! (`shared`: moved by the last consumer, cloned by the others, the count
//! kept in the value's state). Inside a fused iteration the values are
//! locals and the same decision is static: the last use moves (`take`),
//! earlier ones clone or lend (`share`).

use crate::exec::{Cx, RunList};
use crate::sync::Ordering;
use crate::value::{Lazy, LazyVec, Piece};

/// One lazy argument of a node: a lazy value, or a vector of them (a gather).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a lazy value",
    note = "a task's lazy arguments are results of `#[delayed]` calls or vectors of them"
)]
pub trait Input<'g>: Stores + Send + Sized {
    /// What a by-value parameter receives.
    type Value;
    /// Whether this is one lazy value (one edge, recorded in runs).
    #[doc(hidden)]
    const SINGLE: bool;
    /// Records the input of node `node`.
    #[doc(hidden)]
    fn record(self, node: u32, runs: &mut RunList) -> Self::Stored;
    /// Rebuilds the input of node `node` when it runs.
    #[doc(hidden)]
    fn rebuild(stored: Self::Stored, runs: &RunList, node: u32) -> Self;
    /// The pieces a gather reads.
    #[doc(hidden)]
    fn gathers(stored: &Self::Stored, f: &mut dyn FnMut(Piece));
    /// Moves the value(s) out; used where the macro proved a single consumer.
    #[doc(hidden)]
    fn take_once(self, cx: &Cx<'_, 'g>) -> Self::Value;
}

/// The value of an input that several tasks consume by value: cloned for
/// all but the last, so it must be `Clone`. Bound on the value's own type,
/// so that the error names it.
#[diagnostic::on_unimplemented(
    message = "a lazy value that goes by value to several tasks must implement `Clone`",
    label = "this value goes by value to more than one task",
    note = "give the parameters type `&T` to share one value, derive or implement `Clone`, or wrap the value in `std::sync::Arc`"
)]
pub trait SharedInput: Clone {}

#[diagnostic::do_not_recommend]
impl<T: Clone> SharedInput for T {}

/// An input that several tasks may consume by value: moved out for the
/// last, cloned for the others, when its values ([`Self::Elem`]) are
/// [`SharedInput`].
pub trait TakeShared<'g>: Input<'g> {
    /// The type of each value (the vector's element for a gather).
    type Elem;
    /// Moves the value out for the last consumer, clones it for the others.
    #[doc(hidden)]
    fn take_shared(self, cx: &Cx<'_, 'g>) -> Self::Value
    where
        Self::Elem: Clone;
}

/// What a node's record keeps of its inputs: nothing for a lazy value (its
/// producer is in the family's input runs), the vector for a gather; for a
/// tuple of inputs, the tuple of theirs.
///
/// A trait of its own, beside [`Input`] and [`InputSet`], implemented for
/// a lazy value of any lifetime, so that a family's `Send` and `Sync` hold
/// without naming the graph's lifetime: the compiler checks a future that
/// holds a family across an await (a graph's body) with that lifetime
/// erased, and a bound such as `Input<'g>` cannot be proven then.
#[doc(hidden)]
pub trait Stores {
    /// The stored part.
    #[doc(hidden)]
    type Stored: Send;
}

impl<T: Send + Sync> Stores for Lazy<'_, T> {
    type Stored = ();
}

impl<'x, T: Send + Sync> Stores for LazyVec<'x, T> {
    type Stored = LazyVec<'x, T>;
}

impl<'g, T: Send + Sync> Input<'g> for Lazy<'g, T> {
    type Value = T;
    const SINGLE: bool = true;
    #[inline(always)]
    fn record(self, node: u32, runs: &mut RunList) {
        runs.add(node, self.id)
    }
    #[inline(always)]
    fn rebuild((): (), runs: &RunList, node: u32) -> Self {
        Lazy::new(runs.get(node))
    }
    fn gathers(_: &(), _: &mut dyn FnMut(Piece)) {}
    #[inline]
    fn take_once(self, cx: &Cx<'_, 'g>) -> T {
        // SAFETY: the node holds the only use of its input (macro-proven).
        unsafe { cx.slot(self).take_once() }
    }
}

impl<'g, T: Send + Sync> TakeShared<'g> for Lazy<'g, T> {
    type Elem = T;
    #[inline]
    fn take_shared(self, cx: &Cx<'_, 'g>) -> T
    where
        T: Clone,
    {
        // SAFETY: the consumer holds one use of each input until released.
        unsafe { cx.slot(self).take_or_clone() }
    }
}

impl<'g, T: Send + Sync> Input<'g> for LazyVec<'g, T> {
    type Value = Vec<T>;
    const SINGLE: bool = false;
    fn record(self, _: u32, _: &mut RunList) -> Self {
        self
    }
    fn rebuild(stored: Self, _: &RunList, _: u32) -> Self {
        stored
    }
    fn gathers(stored: &Self, f: &mut dyn FnMut(Piece)) {
        for p in stored.pieces() {
            f(*p)
        }
    }
    fn take_once(self, cx: &Cx<'_, 'g>) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        for p in self.pieces() {
            let s = cx.slots::<T>(p.fam, p.start, p.len);
            // SAFETY: the gather is the only consumer of each element
            // (macro-proven: every element was pushed fresh, the vector
            // has one consumer).
            out.extend((0..s.len()).map(|k| unsafe { s.get(k).take_once() }));
        }
        out
    }
}

impl<'g, T: Send + Sync> TakeShared<'g> for LazyVec<'g, T> {
    type Elem = T;
    fn take_shared(self, cx: &Cx<'_, 'g>) -> Vec<T>
    where
        T: Clone,
    {
        let mut out = Vec::with_capacity(self.len());
        for p in self.pieces() {
            take_piece_shared(p, cx, &mut out);
        }
        out
    }
}

/// Appends the values of gathered piece `p` to `out`, for a consumer that
/// shares them with others: each moved out where the consumer holds its
/// last use, else cloned. Where the piece's readers release their uses
/// together (`Cx::reader_group`), the consumer holds no use of its own:
/// it clones the values and counts itself out of the group, and the last
/// reader (the group's count at one: every other has finished reading)
/// holds the group's use of each value, as a consumer its own.
#[inline]
fn take_piece_shared<T: Clone>(p: &Piece, cx: &Cx<'_, '_>, out: &mut Vec<T>) {
    let s = cx.slots::<T>(p.fam, p.start, p.len);
    match cx.reader_group(p) {
        // `extend` from a range keeps the length in a register.
        // SAFETY: the consumer holds one use per element until released.
        None => out.extend((0..s.len()).map(|k| unsafe { s.get(k).take_or_clone() })),
        Some(g) => {
            // Acquire: every other reader's reads (and count) came before.
            if g.load(Ordering::Acquire) == 1 {
                g.store(0, Ordering::Relaxed);
                // SAFETY: the last reader holds the group's use of each
                // value, its own now.
                out.extend((0..s.len()).map(|k| unsafe { s.get(k).take_or_clone() }));
                return;
            }
            // SAFETY: the group's use of each value is held until its
            // readers, this one among them, have all counted out below.
            out.extend((0..s.len()).map(|k| unsafe { s.get(k).get() }.clone()));
            // AcqRel: Release orders the reads above before the last
            // reader's releases; Acquire, for that last one, everyone's.
            if g.fetch_sub(1, Ordering::AcqRel) == 1 {
                // SAFETY: the last reader releases the group's use of
                // each value once; the clones no longer borrow them.
                (0..s.len()).for_each(|k| unsafe { s.get(k).release() });
            }
        }
    }
}

/// The inputs of one node: a tuple of [`Input`]s.
pub trait InputSet<'g>: Stores + Send + Sized {
    /// How many inputs (one run list each).
    #[doc(hidden)]
    const LEN: usize;
    /// How many single lazy values (edges recorded in runs).
    #[doc(hidden)]
    const SINGLES: u32;
    /// Whether any input is a gather.
    #[doc(hidden)]
    const GATHERS: bool;
    /// Records node `node`'s inputs.
    #[doc(hidden)]
    fn record(self, node: u32, runs: &mut [RunList]) -> Self::Stored;
    /// Rebuilds node `node`'s inputs.
    #[doc(hidden)]
    fn rebuild(stored: Self::Stored, runs: &[RunList], node: u32) -> Self;
    /// The pieces the gathers of a node read.
    #[doc(hidden)]
    fn gathers(stored: &Self::Stored, f: &mut dyn FnMut(Piece));
}

macro_rules! input_sets {
    ($( ( $($n:ident $k:tt),* ) )*) => {$(
        impl<$($n: Stores),*> Stores for ($($n,)*) {
            type Stored = ($($n::Stored,)*);
        }
        impl<'g, $($n: Input<'g>),*> InputSet<'g> for ($($n,)*) {
            const LEN: usize = 0 $(+ { let _ = $k; 1 })*;
            const SINGLES: u32 = 0 $(+ $n::SINGLE as u32)*;
            const GATHERS: bool = false $(|| !$n::SINGLE)*;
            #[allow(unused_variables, non_snake_case, clippy::unused_unit)]
            #[inline(always)]
            fn record(self, node: u32, runs: &mut [RunList]) -> Self::Stored {
                let ($($n,)*) = self;
                ($($n.record(node, &mut runs[$k]),)*)
            }
            #[allow(unused_variables, non_snake_case, clippy::unused_unit)]
            #[inline(always)]
            fn rebuild(stored: Self::Stored, runs: &[RunList], node: u32) -> Self {
                let ($($n,)*) = stored;
                ($(<$n as Input<'g>>::rebuild($n, &runs[$k], node),)*)
            }
            #[allow(unused_variables, non_snake_case)]
            fn gathers(stored: &Self::Stored, f: &mut dyn FnMut(Piece)) {
                let ($($n,)*) = stored;
                $( <$n as Input<'g>>::gathers($n, f); )*
            }
        }
    )*};
}
input_sets! {
    ()
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11)
}

/// Parameter passing mode of a `#[delayed]` parameter written `T` (by value).
#[derive(Clone, Copy, Debug)]
pub struct ByValue;

/// Parameter passing mode of a `#[delayed]` parameter written `&T` (borrowed).
#[derive(Clone, Copy, Debug)]
pub struct ByRef;

/// Parameter passing mode of a `#[delayed]` parameter written `&[T]`: as
/// [`ByRef`], except that a vector of lazy values gathered for it is lent
/// where its values lie (one run of cells of one call site) instead of
/// being copied into a `Vec`.
#[derive(Clone, Copy, Debug)]
pub struct BySlice;

/// A parameter that borrows its argument: what `f(&x)` in `graph!` needs.
#[diagnostic::on_unimplemented(
    message = "this parameter takes its argument by value, so the argument is written without `&`",
    label = "write the lazy value itself here",
    note = "a `#[delayed]` parameter `T` receives the value (moved, or cloned if other tasks read it too); `&T` borrows it"
)]
pub trait BorrowsArgument {}
impl BorrowsArgument for ByRef {}
impl BorrowsArgument for BySlice {}

/// Checks that an argument written `&x` goes to a parameter that borrows.
#[inline(always)]
pub fn expect_borrow<M: BorrowsArgument>(_: &M) {}

/// The result of a task that `?` unwraps.
#[diagnostic::on_unimplemented(
    message = "`?` needs a task that returns `Result`, but this one returns `{Self}`",
    label = "this task returns `{Self}`",
    note = "remove the `?`, or make the `#[delayed]` function return `Result<T, E>`"
)]
pub trait Fallible {
    /// The value of a success.
    type Ok;
    /// The error of a failure.
    type Err;
    /// The task's result.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> Fallible for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline(always)]
    fn into_result(self) -> Result<T, E> {
        self
    }
}

impl ByValue {
    /// Receives an input consumed by this task alone.
    #[inline(always)]
    pub fn once<'g, I: Input<'g>>(self, input: I, cx: &Cx<'_, 'g>) -> Owned<I::Value> {
        Owned(input.take_once(cx))
    }
    /// Checks, before [`ByValue::shared`] receives `input`, that its value
    /// can be cloned: reported here, at the argument, naming the value's
    /// type.
    #[inline(always)]
    pub fn shared_input<'g, I: TakeShared<'g>>(self, _: &I)
    where
        I::Elem: SharedInput,
    {
    }
    /// Receives an input that other tasks consume too: moved if last, else cloned.
    #[inline(always)]
    pub fn shared<'g, I: TakeShared<'g>>(self, input: I, cx: &Cx<'_, 'g>) -> Owned<I::Value>
    where
        I::Elem: Clone,
    {
        Owned(input.take_shared(cx))
    }
    /// Receives a clone of an input whose later consumers run after this
    /// task (macro-proven): no count is touched.
    #[inline(always)]
    pub fn peek<'g, T: Send + Sync + Clone>(self, input: Lazy<'g, T>, cx: &Cx<'_, 'g>) -> Owned<T> {
        // SAFETY: the last consumer, which takes the value, runs after this
        // task (it depends on it), so the value is present.
        Owned(unsafe { cx.slot(input).get() }.clone())
    }
    /// Receives an input as the last of consumers that run one after the
    /// other (macro-proven): moved.
    #[inline(always)]
    pub fn last<'g, T: Send + Sync>(self, input: Lazy<'g, T>, cx: &Cx<'_, 'g>) -> Owned<T> {
        // SAFETY: every other consumer of the value has run (this task
        // depends on each), none releases it, and this is the last.
        Owned(unsafe { cx.slot(input).take_static() })
    }
    /// A fused iteration hands over a value it owns (its last use).
    #[inline(always)]
    pub fn take<T>(self, v: T) -> Owned<T> {
        Owned(v)
    }
    /// A fused iteration hands over a copy of a value it uses again later.
    #[inline(always)]
    pub fn share<T: Clone>(self, v: &T) -> Owned<T> {
        Owned(v.clone())
    }
    /// A fused iteration reads a value produced outside its loop, which the
    /// loop holds until it ends: a clone.
    #[inline(always)]
    pub fn outer<'g, T: Clone + Send + Sync>(self, v: Lazy<'g, T>, cx: &Cx<'_, 'g>) -> Owned<T> {
        // SAFETY: the loop node holds a use of `v` until it completes, and
        // its iterations run before that.
        Owned(unsafe { cx.slot(v).get() }.clone())
    }
}

impl ByRef {
    /// Borrows an input; the borrow is released when the task returns.
    #[inline(always)]
    pub fn once<'c, 'g, B: Borrow<'c, 'g>>(self, input: B, cx: &'c Cx<'_, 'g>) -> B::Guard {
        input.borrow(cx)
    }
    /// A borrowed input need not be cloned: nothing to check.
    #[inline(always)]
    pub fn shared_input<I>(self, _: &I) {}
    /// Borrows an input that other tasks read too (a vector of them is
    /// gathered by cloning, so needs `Clone`).
    #[inline(always)]
    pub fn shared<'c, 'g, B: SharedBorrow<'c, 'g>>(
        self,
        input: B,
        cx: &'c Cx<'_, 'g>,
    ) -> B::SharedGuard {
        input.borrow_shared(cx)
    }
    /// Borrows an input whose later consumers run after this task.
    #[inline(always)]
    pub fn peek<'c, 'g, T: Send + Sync>(
        self,
        input: Lazy<'g, T>,
        cx: &'c Cx<'_, 'g>,
    ) -> Lent<'c, T> {
        // SAFETY: as in `ByValue::peek`.
        Lent(unsafe { cx.slot(input).get() })
    }
    /// Borrows an input as the last of its consumers: it is dropped after
    /// the call.
    #[inline(always)]
    pub fn last<'g, T: Send + Sync>(self, input: Lazy<'g, T>, cx: &Cx<'_, 'g>) -> Gathered<T> {
        // SAFETY: as in `ByValue::last`.
        Gathered(unsafe { cx.slot(input).take_static() })
    }
    /// A fused iteration lends a value it owns (its last use); dropped after the call.
    #[inline(always)]
    pub fn take<T>(self, v: T) -> Gathered<T> {
        Gathered(v)
    }
    /// A fused iteration lends a value it uses again later.
    #[inline(always)]
    pub fn share<T>(self, v: &T) -> Lent<'_, T> {
        Lent(v)
    }
    /// A fused iteration borrows a value produced outside its loop.
    #[inline(always)]
    pub fn outer<'c, 'g, T: Send + Sync>(self, v: Lazy<'g, T>, cx: &'c Cx<'_, 'g>) -> Lent<'c, T> {
        // SAFETY: the loop node holds a use of `v` until it completes, and
        // its iterations run before that.
        Lent(unsafe { cx.slot(v).get() })
    }
}

impl BySlice {
    /// [`ByRef::once`]; a gathered vector is lent ([`Lending`]).
    #[inline(always)]
    pub fn once<'c, 'g, B: LendSlice<'c, 'g>>(self, input: B, cx: &'c Cx<'_, 'g>) -> B::Guard {
        input.lend(cx)
    }
    /// [`ByRef::shared_input`].
    #[inline(always)]
    pub fn shared_input<I>(self, _: &I) {}
    /// [`ByRef::shared`]; a gathered vector is lent ([`Lending`]).
    #[inline(always)]
    pub fn shared<'c, 'g, B: LendSliceShared<'c, 'g>>(
        self,
        input: B,
        cx: &'c Cx<'_, 'g>,
    ) -> B::SharedGuard {
        input.lend_shared(cx)
    }
    /// [`ByRef::peek`].
    #[inline(always)]
    pub fn peek<'c, 'g, T: Send + Sync>(
        self,
        input: Lazy<'g, T>,
        cx: &'c Cx<'_, 'g>,
    ) -> Lent<'c, T> {
        ByRef.peek(input, cx)
    }
    /// [`ByRef::last`].
    #[inline(always)]
    pub fn last<'g, T: Send + Sync>(self, input: Lazy<'g, T>, cx: &Cx<'_, 'g>) -> Gathered<T> {
        ByRef.last(input, cx)
    }
    /// [`ByRef::take`].
    #[inline(always)]
    pub fn take<T>(self, v: T) -> Gathered<T> {
        Gathered(v)
    }
    /// [`ByRef::share`].
    #[inline(always)]
    pub fn share<T>(self, v: &T) -> Lent<'_, T> {
        Lent(v)
    }
    /// [`ByRef::outer`].
    #[inline(always)]
    pub fn outer<'c, 'g, T: Send + Sync>(self, v: Lazy<'g, T>, cx: &'c Cx<'_, 'g>) -> Lent<'c, T> {
        ByRef.outer(v, cx)
    }
}

/// An argument of a `&[T]` parameter that is the task's only use of it:
/// borrowed as [`Borrow`] does, a gathered vector lent ([`Lending`]).
pub trait LendSlice<'c, 'g>: Input<'g> {
    /// What the parameter borrows through.
    type Guard;
    /// Lends the argument.
    #[doc(hidden)]
    fn lend(self, cx: &'c Cx<'_, 'g>) -> Self::Guard;
}

/// An argument of a `&[T]` parameter that other tasks read too: borrowed
/// as [`SharedBorrow`] does, a gathered vector lent ([`Lending`]).
#[diagnostic::on_unimplemented(
    message = "a vector of lazy values that several tasks read must hold `Clone` values to be gathered",
    label = "this vector is gathered for more than one task",
    note = "give the elements a `Clone` type, wrap them in `std::sync::Arc`, or gather the vector once"
)]
pub trait LendSliceShared<'c, 'g>: Input<'g> {
    /// What the parameter borrows through.
    type SharedGuard;
    /// Lends the argument.
    #[doc(hidden)]
    fn lend_shared(self, cx: &'c Cx<'_, 'g>) -> Self::SharedGuard;
}

impl<'c, 'g, T: Send + Sync + 'c> LendSlice<'c, 'g> for Lazy<'g, T> {
    type Guard = Borrowed<'c, T>;
    #[inline]
    fn lend(self, cx: &'c Cx<'_, 'g>) -> Borrowed<'c, T> {
        self.borrow(cx)
    }
}

impl<'c, 'g, T: Send + Sync + 'c> LendSliceShared<'c, 'g> for Lazy<'g, T> {
    type SharedGuard = Borrowed<'c, T>;
    #[inline]
    fn lend_shared(self, cx: &'c Cx<'_, 'g>) -> Borrowed<'c, T> {
        self.borrow(cx)
    }
}

impl<'c, 'g, T: Send + Sync + 'c> LendSlice<'c, 'g> for LazyVec<'g, T> {
    type Guard = Lending<'c, T>;
    #[inline]
    fn lend(self, cx: &'c Cx<'_, 'g>) -> Lending<'c, T> {
        match self.pieces() {
            [p] => Lending {
                cells: Some((cx.slots::<T>(p.fam, p.start, p.len), ONCE)),
                owned: Vec::new(),
            },
            _ => Lending {
                cells: None,
                owned: {
                    let mut out = scratch::take(self.len());
                    for p in self.pieces() {
                        let s = cx.slots::<T>(p.fam, p.start, p.len);
                        for k in 0..s.len() {
                            // SAFETY: the task is each value's only use
                            // (macro-proven, as in `take_once`).
                            out.push(unsafe { s.get(k).take_once() });
                        }
                    }
                    out
                },
            },
        }
    }
}

#[diagnostic::do_not_recommend]
impl<'c, 'g, T: Send + Sync + Clone + 'c> LendSliceShared<'c, 'g> for LazyVec<'g, T> {
    type SharedGuard = Lending<'c, T>;
    #[inline]
    fn lend_shared(self, cx: &'c Cx<'_, 'g>) -> Lending<'c, T> {
        match self.pieces() {
            [p] => Lending {
                cells: Some((
                    cx.slots::<T>(p.fam, p.start, p.len),
                    cx.reader_group(p).map_or(SHARED, |g| g as *const _),
                )),
                owned: Vec::new(),
            },
            // Values of several call sites do not lie together: gathered,
            // into this thread's reused buffer.
            pieces => Lending {
                cells: None,
                owned: gather_shared(pieces, self.len(), cx),
            },
        }
    }
}

/// The values of `pieces` (`len` in all) for a task that shares them with
/// others, gathered into this thread's reused buffer. Out of line: the
/// lent run of cells stays a short path.
#[inline(never)]
fn gather_shared<T: Clone>(pieces: &[Piece], len: usize, cx: &Cx<'_, '_>) -> Vec<T> {
    let mut out = scratch::take(len);
    for p in pieces {
        if p.len >= crate::exec::GROUP_READ_MIN {
            take_piece_shared(p, cx, &mut out);
            continue;
        }
        let s = cx.slots::<T>(p.fam, p.start, p.len);
        for k in 0..s.len() {
            // SAFETY: the consumer holds one use per element until
            // released (as in `take_shared`; a piece this short is never
            // read in a group).
            out.push(unsafe { s.get(k).take_or_clone() });
        }
    }
    out
}

/// The values of a vector of lazy values gathered for a `&[T]` parameter:
/// where they lie in one run of cells, lent there (the guard holds one use
/// of each, released when it is dropped: the last use drops the value, and
/// a task that was the values' only use drops them); else gathered into a
/// `Vec` it owns.
pub struct Lending<'c, T> {
    /// The cells lent, and how the task holds them: `ONCE`, the task is
    /// their only use; `SHARED`, it holds one use of each; else its group
    /// of readers does (`Cx::reader_group`), and this is the group's
    /// reader counter, which each read counts itself out of once. One
    /// word: the guard is no larger than with a flag.
    cells: Option<(crate::exec::Slots<'c, T>, *const crate::sync::AtomicU32)>,
    owned: Vec<T>,
}

/// `Lending::cells`: the task holds one use of each cell.
const SHARED: *const crate::sync::AtomicU32 = std::ptr::null();
/// `Lending::cells`: the task is the cells' only use (no counter is at
/// this address: an `AtomicU32` is aligned to 4).
const ONCE: *const crate::sync::AtomicU32 = std::ptr::without_provenance(1);

impl<T> Lending<'_, T> {
    /// The values, for a `&[T]` parameter.
    #[inline(always)]
    pub fn arg(&self) -> &[T] {
        match &self.cells {
            // SAFETY: the guard holds a use of every value of the run of
            // cells until it is dropped, and the slice borrows the guard.
            Some((c, _)) => unsafe { c.values() },
            None => &self.owned,
        }
    }
}

impl<T> Drop for Lending<'_, T> {
    #[inline]
    fn drop(&mut self) {
        match self.cells {
            None => scratch::give_back(&mut self.owned),
            // `c` is a copy: the loops keep its bounds in registers across
            // their atomic operations (through `&self` each iteration
            // reloaded them, ~3 instructions an edge).
            Some((c, ONCE)) => {
                for k in 0..c.len() {
                    // SAFETY: the task was the value's only use
                    // (macro-proven), held until now; the state is cleared
                    // before the drop, so a panicking `Drop` leaves the rest
                    // to the run's teardown.
                    drop(unsafe { c.get(k).take_once() });
                }
            }
            Some((c, group)) => {
                // Read in a group: one count for the whole range, and the
                // last reader of the group releases the group's use of
                // each value. AcqRel: Release orders this task's reads
                // before those releases; Acquire, for the last reader,
                // every other reader's.
                if group != SHARED {
                    // SAFETY: a reader counter of the run's topology
                    // (`Cx::reader_group`), alive while its cells are.
                    if unsafe { &*group }.fetch_sub(1, Ordering::AcqRel) != 1 {
                        return;
                    }
                }
                for k in 0..c.len() {
                    // SAFETY: the guard held one use of each value (or its
                    // group did, and this is the group's last reader),
                    // released once, here.
                    unsafe { c.get(k).release() };
                }
            }
        }
    }
}

/// One buffer per thread for the values that a `&[T]` parameter gathers
/// from several call sites ([`Lending`]): a task gathering a few scattered
/// values (an FFT butterfly's three) reuses the buffer the thread's last
/// such task gave back, instead of allocating and freeing one each.
mod scratch {
    use std::alloc::Layout;
    use std::cell::Cell;
    use std::mem::{align_of, size_of, ManuallyDrop};

    /// Longer gathers allocate their own buffer.
    const MAX: usize = 64;

    /// The buffer kept: its address (null when none), size and alignment.
    struct Kept {
        ptr: Cell<*mut u8>,
        bytes: Cell<usize>,
        align: Cell<usize>,
    }

    impl Drop for Kept {
        fn drop(&mut self) {
            let ptr = self.ptr.get();
            if !ptr.is_null() {
                // SAFETY: `give_back` kept an allocation of exactly this
                // size and alignment, owned by nobody else (the slot).
                unsafe {
                    let layout =
                        Layout::from_size_align_unchecked(self.bytes.get(), self.align.get());
                    std::alloc::dealloc(ptr, layout);
                }
            }
        }
    }

    thread_local! {
        static KEPT: Kept = const {
            Kept {
                ptr: Cell::new(std::ptr::null_mut()),
                bytes: Cell::new(0),
                align: Cell::new(1),
            }
        };
    }

    /// The capacity asked for `n` values: a few sizes, so that buffers match.
    #[inline(always)]
    fn capacity(n: usize) -> usize {
        if n <= 4 {
            4
        } else {
            n.next_power_of_two()
        }
    }

    /// An empty `Vec` with room for `n` values: the thread's kept buffer if
    /// it has the size and alignment that room takes.
    #[inline]
    pub(super) fn take<T>(n: usize) -> Vec<T> {
        if size_of::<T>() == 0 || n > MAX {
            return Vec::with_capacity(n);
        }
        let cap = capacity(n);
        let bytes = cap * size_of::<T>();
        let kept = KEPT.try_with(|k| {
            let ptr = k.ptr.get();
            if ptr.is_null() || k.bytes.get() != bytes || k.align.get() != align_of::<T>() {
                return None;
            }
            k.ptr.set(std::ptr::null_mut());
            // SAFETY: `ptr` was allocated by the global allocator for a
            // `Vec` whose capacity times its element size is `bytes`, with
            // `T`'s alignment (checked above): a `Vec<T>` of capacity `cap`
            // has that layout. Emptying the slot made it ours alone; the
            // `Vec` starts empty, so no value is read from it.
            Some(unsafe { Vec::from_raw_parts(ptr.cast::<T>(), 0, cap) })
        });
        match kept {
            Ok(Some(v)) => v,
            _ => Vec::with_capacity(cap),
        }
    }

    /// Drops `v`'s values and keeps its buffer for the thread's next
    /// [`take`] if the thread keeps none yet; else frees it. Out of line:
    /// [`Lending`](super::Lending)'s drop stays a tight loop over its cells.
    #[inline(never)]
    pub(super) fn give_back<T>(v: &mut Vec<T>) {
        let mut v = std::mem::take(v);
        v.clear();
        if size_of::<T>() == 0 || v.capacity() == 0 || v.capacity() > MAX {
            return;
        }
        let mut v = ManuallyDrop::new(v);
        let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
        let kept = KEPT.try_with(|k| {
            if !k.ptr.get().is_null() {
                return false;
            }
            k.ptr.set(ptr.cast());
            k.bytes.set(cap * size_of::<T>());
            k.align.set(align_of::<T>());
            true
        });
        if kept != Ok(true) {
            // SAFETY: `ptr` and `cap` are the `Vec`'s own, not kept: it is
            // rebuilt once, empty, to be freed.
            drop(unsafe { Vec::from_raw_parts(ptr, 0, cap) });
        }
    }
}

/// A borrow handed to a `&T` parameter.
pub struct Lent<'a, T>(&'a T);

impl<T> Lent<'_, T> {
    /// The borrowed value.
    #[inline(always)]
    pub fn arg(&self) -> &T {
        self.0
    }
}

/// An input that a `&T` parameter can borrow.
pub trait Borrow<'c, 'g>: Input<'g> {
    /// Holds the borrow for the duration of the call.
    type Guard;
    /// Starts the borrow.
    #[doc(hidden)]
    fn borrow(self, cx: &'c Cx<'_, 'g>) -> Self::Guard;
}

/// An input that a `&T` parameter can borrow while other tasks read it too.
#[diagnostic::on_unimplemented(
    message = "a vector of lazy values that several tasks read must hold `Clone` values to be gathered",
    label = "this vector is gathered for more than one task",
    note = "give the elements a `Clone` type, wrap them in `std::sync::Arc`, or gather the vector once"
)]
pub trait SharedBorrow<'c, 'g>: Input<'g> {
    /// Holds the borrow for the duration of the call.
    type SharedGuard;
    /// Starts the borrow.
    #[doc(hidden)]
    fn borrow_shared(self, cx: &'c Cx<'_, 'g>) -> Self::SharedGuard;
}

impl<'c, 'g, T: Send + Sync + 'c> Borrow<'c, 'g> for Lazy<'g, T> {
    type Guard = Borrowed<'c, T>;
    #[inline]
    fn borrow(self, cx: &'c Cx<'_, 'g>) -> Borrowed<'c, T> {
        Borrowed {
            slot: cx.slot(self),
        }
    }
}

impl<'c, 'g, T: Send + Sync + 'c> SharedBorrow<'c, 'g> for Lazy<'g, T> {
    type SharedGuard = Borrowed<'c, T>;
    #[inline]
    fn borrow_shared(self, cx: &'c Cx<'_, 'g>) -> Borrowed<'c, T> {
        self.borrow(cx)
    }
}

impl<'c, 'g, T: Send + Sync + 'c> Borrow<'c, 'g> for LazyVec<'g, T> {
    type Guard = Gathered<Vec<T>>;
    fn borrow(self, cx: &'c Cx<'_, 'g>) -> Gathered<Vec<T>> {
        Gathered(self.take_once(cx))
    }
}

#[diagnostic::do_not_recommend]
impl<'c, 'g, T: Send + Sync + Clone + 'c> SharedBorrow<'c, 'g> for LazyVec<'g, T> {
    type SharedGuard = Gathered<Vec<T>>;
    fn borrow_shared(self, cx: &'c Cx<'_, 'g>) -> Gathered<Vec<T>> {
        Gathered(self.take_shared(cx))
    }
}

/// A value handed to a task by value; `.arg()` gives it to the call.
pub struct Owned<V>(V);

impl<V> Owned<V> {
    /// The value, for a by-value parameter.
    #[inline(always)]
    pub fn arg(self) -> V {
        self.0
    }
}

/// A gathered vector, or an owned value, lent to a `&T` parameter.
pub struct Gathered<V>(V);

impl<V> Gathered<V> {
    /// A borrow of the value.
    #[inline(always)]
    pub fn arg(&self) -> &V {
        &self.0
    }
}

/// A borrowed input; released (and dropped if last) when the guard goes.
pub struct Borrowed<'c, T> {
    slot: crate::value::slot::Slot<'c, T>,
}

impl<T> Borrowed<'_, T> {
    /// The borrowed value, for a `&T` parameter.
    #[inline(always)]
    pub fn arg(&self) -> &T {
        // SAFETY: the guard holds one use until it is dropped.
        unsafe { self.slot.get() }
    }
}

impl<T> Drop for Borrowed<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard held one use; references from `arg` borrow the
        // guard, so none outlives this drop.
        unsafe { self.slot.release() }
    }
}

// Marker traits that exist only to word compile errors in taskgraph's terms:
// `#[delayed]` checks its signature's types against them. With
// `#[diagnostic::do_not_recommend]` on the blanket impls, rustc reports the
// marker trait (and its message) instead of the bounds it stands for.

/// The output type of a `#[delayed]` function: it is moved to the thread of
/// the task that consumes it and may be borrowed by several tasks at once.
#[diagnostic::on_unimplemented(
    message = "the output of a `#[delayed]` function must be `Send + Sync`, and `{Self}` is not",
    label = "this type cannot cross threads",
    note = "a task's output is moved to the thread of the task that consumes it, and borrowed by several tasks at once",
    note = "use `Arc` instead of `Rc`, and `Mutex` or `RwLock` instead of `Cell` or `RefCell`"
)]
pub trait TaskOutput: Send + Sync {}
#[diagnostic::do_not_recommend]
impl<T: Send + Sync + ?Sized> TaskOutput for T {}

/// The type of a by-value parameter of a `#[delayed]` function: its argument
/// is moved to the pool thread that runs the task.
#[diagnostic::on_unimplemented(
    message = "a parameter of a `#[delayed]` function must be `Send`, and `{Self}` is not",
    label = "this type cannot cross threads",
    note = "a task's arguments are moved to the pool thread that runs it",
    note = "use `Arc` instead of `Rc`"
)]
pub trait TaskParam: Send {}
#[diagnostic::do_not_recommend]
impl<T: Send + ?Sized> TaskParam for T {}

/// The referent of a `&T` parameter of a `#[delayed]` function: tasks on
/// several threads may borrow it at once.
#[diagnostic::on_unimplemented(
    message = "a `&T` parameter of a `#[delayed]` function needs `T: Sync`, and `{Self}` is not `Sync`",
    label = "this type cannot be shared between threads",
    note = "tasks on several threads may borrow the same value at once",
    note = "use `Arc` instead of `Rc`, and `Mutex` or `RwLock` instead of `Cell` or `RefCell`"
)]
pub trait TaskRefParam: Sync {}
#[diagnostic::do_not_recommend]
impl<T: Sync + ?Sized> TaskRefParam for T {}

/// Implemented by the companion `#[delayed]` adds beside each function. A
/// task call of any other function resolves to a stand-in that lacks it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[delayed]` function",
    label = "called as a task here",
    note = "inside `graph!`, a call of a function whose name starts in lower case is a task: mark the function `#[delayed]`, or compute its value before `graph!`"
)]
pub trait Delayed {}

/// Checked by `graph!` for every function it calls as a task.
pub const fn delayed<T: Delayed + ?Sized>() {}

/// Implemented by the companion of a `#[delayed]` function of two
/// parameters: the functions `tree_reduce` can combine values with.
#[diagnostic::on_unimplemented(
    message = "`tree_reduce` needs a plain `#[delayed]` function of two arguments of the element type, and `{Self}` is not one",
    label = "this function does not take two arguments, or is `async`",
    note = "write `tree_reduce(values, f)` with `#[delayed] fn f(a: T, b: T) -> T` (or `&T` parameters), `T` the element type; an `async fn` cannot combine values"
)]
pub trait ReduceFunction {}

/// Checked by `graph!` for the function of every `tree_reduce`.
pub const fn reduce_function<T: ReduceFunction + ?Sized>() {}

/// The parameter modes of a stand-in for a function that is not `#[delayed]`:
/// that error is already reported, and these keep others from following it.
#[derive(Clone, Copy, Debug)]
pub struct NotDelayed;

impl NotDelayed {
    /// Accepts any input.
    pub fn once<I, C>(self, _: I, _: C) -> Unreachable {
        Unreachable
    }
    /// Accepts any input.
    pub fn shared<I, C>(self, _: I, _: C) -> Unreachable {
        Unreachable
    }
    /// Accepts any input.
    pub fn shared_input<I>(self, _: &I) {}
    /// Accepts any value.
    pub fn take<T>(self, _: T) -> Unreachable {
        Unreachable
    }
    /// Accepts any value.
    pub fn share<T>(self, _: &T) -> Unreachable {
        Unreachable
    }
    /// Accepts any input.
    pub fn outer<I, C>(self, _: I, _: C) -> Unreachable {
        Unreachable
    }
    /// Accepts any input.
    pub fn peek<I, C>(self, _: I, _: C) -> Unreachable {
        Unreachable
    }
    /// Accepts any input.
    pub fn last<I, C>(self, _: I, _: C) -> Unreachable {
        Unreachable
    }
}

/// An argument of any type, in code that cannot compile anyway.
#[derive(Debug)]
pub struct Unreachable;

impl Unreachable {
    /// Never returns.
    pub fn arg<T>(&self) -> T {
        unreachable!("a graph calling a function that is not `#[delayed]` does not compile")
    }
}

/// Checked by `#[delayed]` on its return type.
pub const fn task_output<T: TaskOutput + ?Sized>() {}
/// Checked by `#[delayed]` on each by-value parameter type.
pub const fn task_param<T: TaskParam + ?Sized>() {}
/// Checked by `#[delayed]` on the referent of each `&T` parameter type.
pub const fn task_ref_param<T: TaskRefParam + ?Sized>() {}

/// Moves a lazy value out for its only consumer (a fused chain's first
/// value).
#[inline]
pub fn take<'g, T: Send + Sync>(l: Lazy<'g, T>, cx: &Cx<'_, 'g>) -> T {
    l.take_once(cx)
}

// ---------------------------------------------------------------------------
// Inputs of async tasks.

/// A borrow handed to a `&T` parameter of an async task: the future it
/// goes into outlives the call that builds it, so the borrow is held by a
/// guard the future owns (not by a borrow of the work item's `Cx`), and
/// released when the future is dropped. The runtime drops every future
/// before its run ends (`exec/future.rs`), so the value outlives the guard.
pub struct Held<T> {
    value: *const T,
    /// The use to release, for a counted borrow.
    slot: Option<crate::value::slot::Slot<'static, T>>,
}

// SAFETY: a shared borrow of a `T: Sync` value, and the release of one use
// (which may drop the `T: Send` value on the thread that drops the guard).
unsafe impl<T: Send + Sync> Send for Held<T> {}
// SAFETY: as above; `arg` only reads.
unsafe impl<T: Send + Sync> Sync for Held<T> {}

impl<T> Held<T> {
    /// The borrowed value, for a `&T` parameter. The reference is not tied
    /// to the guard, so that the future built with it can own the guard
    /// too; it is valid as long as the guard is (the generated code keeps
    /// both in the task's future, the guard dropped after the call's own
    /// future).
    #[inline(always)]
    pub fn arg<'h>(&self) -> &'h T {
        // SAFETY: the guard holds its use until it is dropped, and the
        // future holding the reference drops before it (see above).
        unsafe { &*self.value }
    }
}

impl<T> Drop for Held<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(s) = &self.slot {
            // SAFETY: the guard held one use, released once, here.
            unsafe { s.release() }
        }
    }
}

/// A guard a task's `&T` parameter borrows through, turned into one an
/// async task's future can own ([`Held`], or the owned value itself).
pub trait Hold {
    /// The guard the future owns.
    type Held: Send;
    /// Turns the guard.
    fn hold(self) -> Self::Held;
}

impl<T: Send + Sync> Hold for Borrowed<'_, T> {
    type Held = Held<T>;
    #[inline]
    fn hold(self) -> Held<T> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the use the guard held moves to the `Held`; the slot's
        // value and state live as long as the run (see `Held`).
        let slot: crate::value::slot::Slot<'static, T> =
            unsafe { std::mem::transmute_copy(&this.slot) };
        Held {
            // SAFETY: the guard holds a use: the value is there.
            value: unsafe { this.slot.get() },
            slot: Some(slot),
        }
    }
}

impl<T: Send + Sync> Hold for Lent<'_, T> {
    type Held = Held<T>;
    #[inline]
    fn hold(self) -> Held<T> {
        Held {
            value: self.0,
            slot: None,
        }
    }
}

/// [`Lending`] held by an async task's future (see [`Held`]).
pub struct HeldSlice<T>(Lending<'static, T>);

// SAFETY: shared borrows of `T: Sync` values, and the release of one use of
// each (which may drop a `T: Send` value on the thread that drops it).
unsafe impl<T: Send + Sync> Send for HeldSlice<T> {}
// SAFETY: as above; `arg` only reads.
unsafe impl<T: Send + Sync> Sync for HeldSlice<T> {}

impl<T> HeldSlice<T> {
    /// The values, for a `&[T]` parameter; valid as long as the guard is
    /// (as [`Held::arg`]).
    #[inline(always)]
    pub fn arg<'h>(&self) -> &'h [T] {
        let v = self.0.arg();
        // SAFETY: the guard holds its uses (or owns the values, whose `Vec`
        // does not move with it) until it is dropped, and the future holding
        // the reference drops before it (see `Held`).
        unsafe { std::slice::from_raw_parts(v.as_ptr(), v.len()) }
    }
}

impl<T: Send + Sync> Hold for Lending<'_, T> {
    type Held = HeldSlice<T>;
    #[inline]
    fn hold(self) -> HeldSlice<T> {
        // SAFETY: the uses the guard holds move to the `HeldSlice`; the
        // cells and their states live as long as the run (see `Held`).
        HeldSlice(unsafe { std::mem::transmute::<Lending<'_, T>, Lending<'static, T>>(self) })
    }
}

impl<V: Send> Hold for Gathered<V> {
    type Held = Gathered<V>;
    #[inline(always)]
    fn hold(self) -> Gathered<V> {
        self
    }
}

impl Hold for Unreachable {
    type Held = Unreachable;
    fn hold(self) -> Unreachable {
        self
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Readers of a gather that release their uses together (`Lending::group`,
    //! `take_piece_shared`): the group holds one use of each value, each
    //! reader reads and then counts itself out of the reader counter with
    //! `AcqRel`, and the last one releases the group's use of each value
    //! (as `Slot::release`: `Release`, and an `Acquire` fence before the
    //! drop). Another consumer holds a use of its own beside the group.
    //! The values are loom `UnsafeCell`s, so loom checks that every read
    //! happens before the drop (it fails with a `Relaxed` reader counter),
    //! and each value is dropped exactly once.
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};
    use loom::sync::Arc;

    struct Gather {
        /// Two values (`None` once dropped) and their states (uses).
        values: [UnsafeCell<Option<u32>>; 2],
        states: [AtomicU32; 2],
        /// The group's readers still to finish.
        readers: AtomicU32,
        drops: AtomicUsize,
    }
    // SAFETY (model): the cells are accessed under the protocol under test,
    // which loom checks.
    unsafe impl Sync for Gather {}
    // SAFETY (model): as above.
    unsafe impl Send for Gather {}

    impl Gather {
        /// `readers` grouped readers, and one more use of value 0.
        fn new(readers: u32) -> Arc<Self> {
            Arc::new(Gather {
                values: [UnsafeCell::new(Some(10)), UnsafeCell::new(Some(20))],
                states: [AtomicU32::new(2), AtomicU32::new(1)],
                readers: AtomicU32::new(readers),
                drops: AtomicUsize::new(0),
            })
        }
        fn read(&self, k: usize) -> u32 {
            // SAFETY (model): loom checks the read against the drop.
            self.values[k]
                .with(|v| unsafe { *v })
                .expect("read after drop")
        }
        /// As `Slot::release`.
        fn release(&self, k: usize) {
            if self.states[k].fetch_sub(1, Ordering::Release) == 1 {
                fence(Ordering::Acquire);
                // SAFETY (model): the last use.
                self.values[k].with_mut(|v| unsafe { *v = None });
                self.drops.fetch_add(1, Ordering::Relaxed);
            }
        }
        /// A lending reader (`Lending`'s drop, with a group).
        fn lend(&self) -> u32 {
            let sum = self.read(0) + self.read(1);
            if self.readers.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.release(0);
                self.release(1);
            }
            sum
        }
        /// A by-value reader (`take_piece_shared`): the last one (the
        /// counter at one) holds the group's uses as its own.
        fn take(&self) -> u32 {
            if self.readers.load(Ordering::Acquire) == 1 {
                self.readers.store(0, Ordering::Relaxed);
                // As `take_or_clone`: moved out where the use is the last.
                let mut sum = 0;
                for k in 0..2 {
                    if self.states[k].load(Ordering::Acquire) == 1 {
                        self.states[k].store(0, Ordering::Relaxed);
                        // SAFETY (model): the only use left.
                        sum += self.values[k].with_mut(|v| unsafe { (*v).take() }).unwrap();
                        self.drops.fetch_add(1, Ordering::Relaxed);
                    } else {
                        sum += self.read(k);
                        self.release(k);
                    }
                }
                return sum;
            }
            let sum = self.read(0) + self.read(1);
            if self.readers.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.release(0);
                self.release(1);
            }
            sum
        }
        /// The other consumer of value 0, with a use of its own.
        fn solo(&self) -> u32 {
            let v = self.read(0);
            self.release(0);
            v
        }
    }

    fn check(g: &Gather) {
        assert_eq!(g.drops.load(Ordering::Relaxed), 2);
        for s in &g.states {
            assert_eq!(s.load(Ordering::Relaxed), 0);
        }
    }

    /// Two lending readers of a group and a consumer of its own.
    #[test]
    fn grouped_lending_readers_release_each_value_once() {
        loom::model(|| {
            let g = Gather::new(2);
            let (g1, g2) = (Arc::clone(&g), Arc::clone(&g));
            let a = loom::thread::spawn(move || g1.lend());
            let b = loom::thread::spawn(move || g2.solo());
            assert_eq!(g.lend(), 30);
            assert_eq!((a.join().unwrap(), b.join().unwrap()), (30, 10));
            check(&g);
        });
    }

    /// A by-value reader and a lending reader of a group, and a consumer
    /// of its own: the values are moved or cloned, never read after drop.
    #[test]
    fn grouped_taking_and_lending_readers_release_each_value_once() {
        loom::model(|| {
            let g = Gather::new(2);
            let (g1, g2) = (Arc::clone(&g), Arc::clone(&g));
            let a = loom::thread::spawn(move || g1.take());
            let b = loom::thread::spawn(move || g2.solo());
            assert_eq!(g.lend(), 30);
            assert_eq!((a.join().unwrap(), b.join().unwrap()), (30, 10));
            check(&g);
        });
    }
}
