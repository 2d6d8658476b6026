//! A graph's outputs: what its final expression may be (a lazy value, a
//! vector of them, or a tuple of these) and how the values are taken out
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
    ($( ( $($n:ident),+ ) )*) => {$(
        impl<'g, $($n: Outputs<'g>),+> Outputs<'g> for ($($n,)+) {
            type Value = ($($n::Value,)+);
            #[allow(non_snake_case)]
            fn for_each(&self, f: &mut dyn FnMut(Piece)) {
                let ($($n,)+) = self;
                $( $n.for_each(f); )+
            }
            #[allow(non_snake_case)]
            fn take(self, cx: &Cx<'_, 'g>) -> Result<Self::Value, Error> {
                let ($($n,)+) = self;
                Ok(($($n.take(cx)?,)+))
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
