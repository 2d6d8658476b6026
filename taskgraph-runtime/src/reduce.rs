//! `tree_reduce(v, f)` inside `graph!`: the pairwise tree as nodes of a
//! family (node by node), or as one fused loop over the elements, both
//! numbered by `tree.rs`.

use crate::error::Error;
use crate::exec::Cx;
use crate::family::Family;
use crate::loops::Loop;
use crate::site::{FamilyInfo, LoopIndex};
use crate::tree::Levels;
use crate::value::{Lazy, LazyVec, NodeId};

/// The one check of an empty `tree_reduce`, and the one place that makes
/// its [`Error::EmptyReduce`]: every way of reducing calls it (node by node
/// and fused over a vector here, fused over a loop's iterations in the
/// code `graph!` writes). `len` is the number of values to reduce, `info`
/// the combining function's call site and `outer` the loop indices around
/// the `tree_reduce`.
///
/// # Errors
/// [`Error::EmptyReduce`] if `len` is zero.
#[inline]
pub fn nonempty(len: usize, info: &'static FamilyInfo, outer: &[u32]) -> Result<(), Error> {
    #[cold]
    #[inline(never)]
    fn empty(info: &'static FamilyInfo, outer: &[u32]) -> Error {
        Error::EmptyReduce {
            at: info.task(outer),
        }
    }
    if len == 0 {
        return Err(empty(info, outer));
    }
    Ok(())
}

/// The pairwise `while` tree written without a guard for an odd last
/// element (`next.push(f(level[i], level[i + 1]))` alone, over
/// `(0..level.len()).step_by(2)`): it pairs every round while the length is
/// even, and in the first round of odd length `l > 1` reads `level[l]` of a
/// vector of length `l`. `graph!` runs it as a `tree_reduce` after
/// [`WhileTree::unpaired`]. (A type, so that `graph!` does not read the
/// call as a task.)
#[derive(Debug)]
pub struct WhileTree;

impl WhileTree {
    /// The check of the leaves' number `len` before an unguarded tree:
    /// nothing for a power of two (or 0 or 1, where no round runs), else the
    /// error of that read, naming `vector` and the place `at` of
    /// `level[i + 1]` as the loop as written would.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] if `len` is more than 1 and not a power of
    /// two.
    #[inline]
    pub fn unpaired(len: usize, vector: &'static str, at: &'static str) -> Result<(), Error> {
        #[cold]
        #[inline(never)]
        fn odd(len: usize, vector: &'static str, at: &'static str) -> Error {
            let odd = len >> len.trailing_zeros();
            Error::IndexOutOfRange {
                vector,
                index: odd,
                len: odd,
                at,
            }
        }
        if len > 1 && !len.is_power_of_two() {
            return Err(odd(len, vector, at));
        }
        Ok(())
    }
}

/// `tree_reduce(v, f)` inside `graph!`: with fusion, one fused loop over the
/// elements (`lp`); otherwise `n - 1` nodes of `fam`, added level by level.
/// `at(level, position)` gives each combine's loop indices, `combine` is the
/// fused combine (the same call of `f` as `fam`'s task).
///
/// # Errors
/// [`Error::EmptyReduce`] if `v` is empty.
#[allow(clippy::type_complexity)]
pub fn tree_reduce<'g, 'k, T, L, C>(
    fusion: bool,
    fam: &mut Family<'g, (), (Lazy<'g, T>, Lazy<'g, T>), L, T>,
    lp: &mut Loop<'g, 'k, T>,
    v: LazyVec<'g, T>,
    at: impl Fn(u32, u32) -> L,
    combine: C,
) -> Result<Lazy<'g, T>, Error>
where
    T: Send + Sync + Clone,
    L: LoopIndex,
    C: Fn(T, T, u32, u32, &Cx<'_, 'g>) -> T + Sync + Send + 'k,
{
    // An empty or one-element `v` is `tree_reduce_nodes`' to check and
    // answer, fused or not.
    if fusion && v.len() > 1 {
        return lp.reduce_vec(v, combine);
    }
    nodes(fam, v, &at)
}

/// `tree_reduce(v, f)` inside a loop of `graph!`: always node by node.
///
/// # Errors
/// [`Error::EmptyReduce`] if `v` is empty.
#[inline]
pub fn tree_reduce_nodes<'g, T, L>(
    fam: &mut Family<'g, (), (Lazy<'g, T>, Lazy<'g, T>), L, T>,
    v: LazyVec<'g, T>,
    at: impl Fn(u32, u32) -> L,
) -> Result<Lazy<'g, T>, Error>
where
    T: Send + Sync,
    L: LoopIndex,
{
    nodes(fam, v, &at)
}

/// `tree_reduce_nodes`, generic over the values' and indices' types only,
/// not over `at` (each call site's own closure): call sites of the same
/// types share one copy. A call of `at` per node costs nothing next to
/// adding the node.
fn nodes<'g, T, L>(
    fam: &mut Family<'g, (), (Lazy<'g, T>, Lazy<'g, T>), L, T>,
    v: LazyVec<'g, T>,
    at: &dyn Fn(u32, u32) -> L,
) -> Result<Lazy<'g, T>, Error>
where
    T: Send + Sync,
    L: LoopIndex,
{
    {
        let at = at(0, 0);
        let outer = at.as_slice();
        nonempty(v.len(), fam.info(), &outer[..outer.len() - 2])?;
    }
    let n = v.len() as u32;
    if n == 1 {
        return Ok(v.get(0).expect("one element"));
    }
    let levels = Levels::new(n);
    let id = fam.id();
    // Inside a loop the family already holds the trees of the earlier
    // iterations: this tree's nodes follow them.
    let base = fam.len();
    let get = |l: usize, e: u32| -> Lazy<'g, T> {
        match levels.elem(l, e) {
            Err(i) => v.get(i as usize).expect("in range"),
            Ok(i) => Lazy::new(NodeId::new(id, base + i)),
        }
    };
    fam.reserve(n as usize - 1);
    // One run of loop indices per level (and per odd one out, at most as many).
    fam.reserve_indices(2 * levels.count, at(0, 0).as_slice().len());
    // Consecutive elements `e..` of level `l` that are consecutive nodes
    // of one family: the first and how many (at least one).
    let span = |l: usize, e: u32| -> (NodeId, u32) {
        if l == 0 {
            let i = e as usize;
            let pieces = v.pieces();
            let p = &pieces[pieces.partition_point(|p| p.offset <= i) - 1];
            let first = NodeId::new(p.fam, p.start + (i - p.offset) as u32);
            return (first, (p.offset + p.len as usize - i) as u32);
        }
        match levels.elem(l, e) {
            Ok(i) => (NodeId::new(id, base + i), levels.n[l - 1] / 2 - e),
            Err(i) => (v.get(i as usize).expect("in range").id, 1),
        }
    };
    for l in 1..levels.count {
        let half = levels.n[l - 1] / 2;
        let mut p = 0;
        while p < half {
            // A run of pairs of consecutive nodes is added at once (all of a
            // level but an odd one out carried up, or a piece's boundary).
            let (first, len) = span(l - 1, 2 * p);
            let k = (len / 2).min(half - p);
            if k > 1 && fam.push_pairs(at(l as u32 - 1, p), first, k) {
                p += k;
                continue;
            }
            let a = get(l - 1, 2 * p);
            let b = get(l - 1, 2 * p + 1);
            fam.push(at(l as u32 - 1, p), (), (a, b));
            p += 1;
        }
    }
    if let Some(e) = fam.failure() {
        return Err(e);
    }
    Ok(get(levels.count - 1, 0))
}
