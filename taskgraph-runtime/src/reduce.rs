//! `tree_reduce`: a pairwise reduction tree over a vector of lazy values.

use crate::error::Error;
use crate::family::{Family, LoopIndex};
use crate::slot::Lazy;

/// Adds the nodes of a left-to-right pairwise tree that reduces `v` with the
/// family's binary function, and returns the root.
///
/// Level 0 combines `v[0]` with `v[1]`, `v[2]` with `v[3]`, and so on; an odd
/// last element moves up unchanged. The left operand is always the earlier
/// one, so a non-commutative function (string concatenation) gives the same
/// result as a sequential left fold. `at(level, position)` gives each node's
/// loop indices. One element is returned as it is; `n` elements make `n - 1`
/// nodes and allocate nothing beyond the family's own storage.
///
/// # Errors
/// [`Error::EmptyReduce`] if `v` is empty.
pub fn tree_reduce<'g, T, L>(
    fam: &mut Family<'g, (), (Lazy<'g, T>, Lazy<'g, T>), L, T>,
    mut v: Vec<Lazy<'g, T>>,
    at: impl Fn(u32, u32) -> L,
) -> Result<Lazy<'g, T>, Error>
where
    T: Send + Sync,
    L: LoopIndex,
{
    if v.is_empty() {
        return Err(Error::EmptyReduce {
            at: fam.info.task(&[]),
        });
    }
    fam.reserve(v.len() - 1);
    let mut level = 0;
    while v.len() > 1 {
        let n = v.len();
        let mut w = 0;
        let mut i = 0;
        while i + 1 < n {
            v[w] = fam.push(at(level, w as u32), (), (v[i], v[i + 1]));
            w += 1;
            i += 2;
        }
        if i < n {
            v[w] = v[i];
            w += 1;
        }
        v.truncate(w);
        level += 1;
    }
    Ok(v[0])
}
