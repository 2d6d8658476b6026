//! A graph's outputs: what its final expression may be (a lazy value, a
//! vector of them, or a tuple of these, with plain values among them) and how the values are taken out
//! once the run is over.

use crate::error::Error;
use crate::exec::Cx;
use crate::value::{Lazy, LazyVec, Piece};

/// What a graph's final expression may be: a lazy value, a vector of them,
/// or a tuple of these.
#[diagnostic::on_unimplemented(
    message = "the final expression of `graph!` must be a lazy value, a tuple of them, or a `Vec` of them",
    note = "end the graph with the result of a `#[delayed]` call, e.g. `add(x, y)` or `(x, y)`"
)]
pub trait Outputs<'g> {
    /// The computed value.
    type Value;
    /// Calls `f` with every piece of nodes referenced.
    #[doc(hidden)]
    fn for_each(&self, f: &mut dyn FnMut(Piece));
    /// The length of the output if it is one vector of lazy values (known
    /// before the graph runs).
    #[doc(hidden)]
    fn len_hint(&self) -> Option<usize> {
        None
    }
    /// Moves the computed values out after a successful run.
    #[doc(hidden)]
    fn take(self, cx: &Cx<'_, 'g>) -> Result<Self::Value, Error>;
}

impl<'g, T: Send + Sync> Outputs<'g> for Lazy<'g, T> {
    type Value = T;
    fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        f(Piece {
            fam: self.id.fam,
            start: self.id.idx,
            len: 1,
            offset: 0,
        })
    }
    fn take(self, cx: &Cx<'_, 'g>) -> Result<T, Error> {
        // SAFETY: the run has finished; each output reference holds one use.
        unsafe { cx.slot(self).take_last() }.ok_or(Error::DuplicateOutput)
    }
}

impl<'g, T: Send + Sync> Outputs<'g> for LazyVec<'g, T> {
    type Value = Vec<T>;
    fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        for p in self.pieces() {
            f(*p)
        }
    }
    fn len_hint(&self) -> Option<usize> {
        Some(self.len())
    }
    fn take(self, cx: &Cx<'_, 'g>) -> Result<Vec<T>, Error> {
        self.iter().map(|l| l.take(cx)).collect()
    }
}

macro_rules! output_tuples {
    (@rev $cx:ident [] [$($r:ident)*]) => {
        $( let $r = $r.take($cx)?; )*
    };
    (@rev $cx:ident [$h:ident $($t:ident)*] [$($r:ident)*]) => {
        output_tuples!(@rev $cx [$($t)*] [$h $($r)*]);
    };
    ($( ( $($n:ident),+ ) )*) => {$(
        impl<'g, $($n: Outputs<'g>),+> Outputs<'g> for ($($n,)+) {
            type Value = ($($n::Value,)+);
            #[allow(non_snake_case)]
            fn for_each(&self, f: &mut dyn FnMut(Piece)) {
                let ($($n,)+) = self;
                $( $n.for_each(f); )+
            }
            // Taken right to left: a value returned again ([`Again`]) comes
            // after its first occurrence, so its clones are made before the
            // first occurrence moves the value out.
            #[allow(non_snake_case)]
            fn take(self, cx: &Cx<'_, 'g>) -> Result<Self::Value, Error> {
                let ($($n,)+) = self;
                output_tuples!(@rev cx [$($n)+] []);
                Ok(($($n,)+))
            }
        }
    )*};
}
output_tuples! {
    (A) (A, B) (A, B, C) (A, B, C, D) (A, B, C, D, E) (A, B, C, D, E, F)
    (A, B, C, D, E, F, G) (A, B, C, D, E, F, G, H) (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J) (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
}

/// A lazy value (or vector of them) returned again in the same final
/// expression (`(x, x)`): its output is a clone, made before the first
/// occurrence moves the value out.
///
/// `V` is `L`'s value type, a parameter rather than `L::Value` so that the
/// type holds no `L: Outputs<'g>` bound: a graph's body holds it across an
/// await, and the compiler checks that future's `Send` with `'g` erased,
/// where such a bound cannot be proven.
#[doc(hidden)]
pub struct Again<'g, L, V> {
    l: L,
    // Chosen where the bound is checked (`again`), so that a value that is
    // not `Clone` is one error there, not a second one at the tuple.
    take: fn(L, &Cx<'_, 'g>) -> V,
}

/// Wraps the second and later occurrences of a value in the final
/// expression; its bound reports a value that is not `Clone` at that
/// occurrence.
#[doc(hidden)]
#[inline]
pub fn again<'g, L: TakeAgain<'g>>(l: L) -> Again<'g, L, L::Value>
where
    L::Elem: RepeatedOutput,
{
    Again {
        l,
        take: L::take_again,
    }
}

/// The value of a lazy value that a graph returns more than once: it must
/// be `Clone`. Bound on the value's own type, so that the error names it.
#[diagnostic::on_unimplemented(
    message = "a lazy value returned more than once from `graph!` must implement `Clone`",
    label = "this value is returned again here",
    note = "derive or implement `Clone`, wrap the value in `std::sync::Arc`, or return it once"
)]
pub trait RepeatedOutput: Clone {}

#[diagnostic::do_not_recommend]
impl<T: Clone> RepeatedOutput for T {}

/// An output that may be returned more than once, when its values
/// ([`Self::Elem`]) are [`RepeatedOutput`].
pub trait TakeAgain<'g>: Outputs<'g> {
    /// The type of each value (the vector's element for a vector).
    type Elem;
    /// Clones the value(s) out (or moves them if this is the last use).
    #[doc(hidden)]
    fn take_again(self, cx: &Cx<'_, 'g>) -> Self::Value
    where
        Self::Elem: Clone;
}

impl<'g, T: Send + Sync> TakeAgain<'g> for Lazy<'g, T> {
    type Elem = T;
    fn take_again(self, cx: &Cx<'_, 'g>) -> T
    where
        T: Clone,
    {
        // SAFETY: the run has finished; each output reference holds one use.
        unsafe { cx.slot(self).take_or_clone() }
    }
}

impl<'g, T: Send + Sync> TakeAgain<'g> for LazyVec<'g, T> {
    type Elem = T;
    fn take_again(self, cx: &Cx<'_, 'g>) -> Vec<T>
    where
        T: Clone,
    {
        self.iter().map(|l| l.take_again(cx)).collect()
    }
}

impl<'g, L: Outputs<'g, Value = V>, V> Outputs<'g> for Again<'g, L, V> {
    type Value = V;
    fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        self.l.for_each(f)
    }
    // A spawned graph's vector output is read by other graphs as soon as
    // its length is known, before the graph is done.
    fn len_hint(&self) -> Option<usize> {
        self.l.len_hint()
    }
    fn take(self, cx: &Cx<'_, 'g>) -> Result<V, Error> {
        Ok((self.take)(self.l, cx))
    }
}

/// Each lazy output of a graph (an element of its final tuple, or the
/// whole) is taken through [`CloneTag`] when its type is `Clone`, through
/// [`MoveTag`] when it is not. Two outputs may turn out, when the graph is
/// built, to be the same node (`(v[i], v[j])` with `i == j`, or `(l[0],
/// tree_reduce(l, f))` over one value): a `Clone` value is then cloned for
/// the other, as `(x, x)` is; a value that is not `Clone` is
/// [`Error::DuplicateOutput`].
///
/// The generated code asks `(&out).__tg_output_kind()`: this trait's
/// method is found first (taking `out` by reference), [`OutputByMove`]'s
/// (taking `&out` by reference) only where this impl does not apply.
#[doc(hidden)]
pub trait OutputByClone {
    /// The value can be cloned for another output.
    #[inline]
    fn __tg_output_kind(&self) -> CloneTag {
        CloneTag
    }
}

impl<T: Send + Sync + Clone> OutputByClone for Lazy<'_, T> {}
impl<T: Send + Sync + Clone> OutputByClone for LazyVec<'_, T> {}

/// The fallback of [`OutputByClone`]: any other output is moved out as it
/// is (and a type that is no output at all is reported by [`Outputs`]).
#[doc(hidden)]
pub trait OutputByMove {
    /// The value is moved out; it cannot be cloned.
    #[inline]
    fn __tg_output_kind(&self) -> MoveTag {
        MoveTag
    }
}

impl<L> OutputByMove for &L {}

/// See [`OutputByClone`].
#[doc(hidden)]
pub struct CloneTag;

impl CloneTag {
    /// The output, cloned if another output took the same node.
    #[inline]
    pub fn wrap<'g, L: TakeAgain<'g>>(self, l: L) -> Again<'g, L, L::Value>
    where
        L::Elem: RepeatedOutput,
    {
        again(l)
    }
}

/// See [`OutputByClone`].
#[doc(hidden)]
pub struct MoveTag;

impl MoveTag {
    /// The output as it is.
    #[inline]
    pub fn wrap<L>(self, l: L) -> L {
        l
    }
}

/// A plain value in the final tuple (`(n, v.len(), v)`): computed when the
/// graph is instantiated, returned as it is.
#[doc(hidden)]
pub struct PlainOutput<T>(pub T);

impl<'g, T> Outputs<'g> for PlainOutput<T> {
    type Value = T;
    fn for_each(&self, _: &mut dyn FnMut(Piece)) {}
    fn take(self, _: &Cx<'_, 'g>) -> Result<T, Error> {
        Ok(self.0)
    }
}
