//! Step 4: the coordinate of every item along its rank (x when edges point
//! down).
//!
//! Every token of a rank becomes a *slot*: an item, or the left or right side
//! of a cluster in that rank. The coordinates minimise
//! `sum over segments of weight * (x[u] - x[v])^2` (weights 1, 2 and 8 for
//! segments with two, one and no node, as in Graphviz, so long edges stay
//! straight) subject to a least separation between consecutive slots of a
//! rank. A cluster's side is one coordinate for all the ranks of the cluster,
//! so each box is a rectangle, and nothing outside a cluster can enter its
//! box since the side separates them in every rank.
//!
//! The start is a packing: every slot as far left as the slots left of it
//! allow, then as far right as the slots right of it allow. Then rounds of
//! three moves, each of which keeps every separation:
//!
//! 1. each rank, in turn down and up, goes to its best coordinates with the
//!    other ranks and the cluster sides held still: weighted isotonic
//!    regression by pooling adjacent violators, where the sides are fixed;
//! 2. each cluster, outermost first, moves as a whole towards the nodes its
//!    edges lead out to, as far as its neighbours in every rank allow;
//! 3. each side, innermost first, moves to where the slot next to it inside
//!    wants to be, as far as its neighbours allow: boxes grow and shrink.
//!
//! A last sweep down settles each item for its segments on its busier side
//! only, so that a node sits in the middle of its inputs (or outputs, if it
//! has more of those) where there is room: a reduction tree stands straight
//! rather than leaning towards its root.
//!
//! Brandes and Köpf's alignment of blocks, the usual choice, was tried
//! first: on graphs with many crossings its blocks cascade and the picture
//! gets twenty times wider than it needs to be; this method stays within a
//! small factor of the widest rank.

use super::order::{Clusters, Layered, Token};

/// Rounds of moves; each costs time linear in the number of slots.
const ROUNDS: usize = 24;

/// What a slot stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// A node.
    Node,
    /// A dummy, part of a long edge.
    Dummy,
    /// The left side of a cluster's box.
    Open(usize),
    /// The right side of a cluster's box.
    Close(usize),
}

/// Sizes and gaps along the rank, in pixels.
pub(super) struct Spacing {
    /// Extent of each item left of its coordinate.
    pub left: Vec<f64>,
    /// Extent of each item right of its coordinate.
    pub right: Vec<f64>,
    /// Gap between two nodes.
    pub node_gap: f64,
    /// Gap between two dummies (the mean of the two between a dummy and a
    /// node).
    pub dummy_gap: f64,
    /// Gap between a box and what is outside it.
    pub cluster_gap: f64,
    /// Room inside a box on its left side.
    pub pad_open: f64,
    /// Room inside a box on its right side.
    pub pad_close: f64,
    /// Least width of each cluster's box (to fit its label).
    pub min_width: Vec<f64>,
}

/// Coordinates along the rank of every item, and of both sides of every
/// cluster that is drawn (NaN for the others).
pub(super) struct Positions {
    /// Coordinate of each item's centre.
    pub item: Vec<f64>,
    /// Left side of each cluster's box.
    pub open: Vec<f64>,
    /// Right side of each cluster's box.
    pub close: Vec<f64>,
}

/// Places every slot; the smallest coordinate of anything drawn is 0.
pub(super) fn position(
    g: &Layered,
    clusters: &Clusters,
    tokens: &[Vec<Token>],
    spacing: &Spacing,
) -> Positions {
    let p = Problem::new(g, clusters, tokens, spacing);
    let mut x = p.pack();
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            for r in 0..p.ranks.len() {
                p.settle_rank(r, &mut x, false);
            }
        } else {
            for r in (0..p.ranks.len()).rev() {
                p.settle_rank(r, &mut x, false);
            }
        }
        p.shift_clusters(&mut x);
        p.fit_sides(&mut x);
    }
    // Last, one sweep down in which every item only looks at its busier
    // side: a node goes to the middle of its inputs, or of its outputs if it
    // has more of those, where there is room; so trees stand straight.
    for r in 0..p.ranks.len() {
        p.settle_rank(r, &mut x, true);
    }

    let lo = (0..p.len())
        .map(|s| x[s] - p.left[s])
        .fold(f64::INFINITY, f64::min);
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let mut out = Positions {
        item: x[..g.len()].iter().map(|v| v - lo).collect(),
        open: vec![f64::NAN; clusters.len()],
        close: vec![f64::NAN; clusters.len()],
    };
    for (k, span) in clusters.span.iter().enumerate() {
        if let Some((first, _)) = *span {
            out.open[k] = x[p.side(k, first, false)] - lo;
            out.close[k] = x[p.side(k, first, true)] - lo;
        }
    }
    out
}

/// The slots of every rank, what separates them and what pulls them.
struct Problem<'a> {
    clusters: &'a Clusters,
    spacing: &'a Spacing,
    /// Slots of each rank in order; items keep their numbers, cluster sides
    /// come after them.
    ranks: Vec<Vec<usize>>,
    slot: Vec<Slot>,
    /// Index of each slot in its rank.
    index: Vec<usize>,
    left: Vec<f64>,
    right: Vec<f64>,
    /// Neighbours of each item in the ranks above and below, with the
    /// weights of the segments to them.
    pulls: Vec<Vec<(usize, f64)>>,
    /// Rank of each item.
    rank: &'a [usize],
    /// First side slot of each cluster: sides of rank `lo + i` are
    /// `first + 2i` (left) and `first + 2i + 1` (right).
    first_side: Vec<usize>,
    /// Drawn clusters, outermost first.
    outer_first: Vec<usize>,
    /// Segments leaving each cluster: (item inside, item outside, weight).
    exits: Vec<Vec<(usize, usize, f64)>>,
}

impl<'a> Problem<'a> {
    fn new(
        g: &'a Layered,
        clusters: &'a Clusters,
        tokens: &[Vec<Token>],
        spacing: &'a Spacing,
    ) -> Self {
        let n = g.len();
        let mut slot: Vec<Slot> = (0..n)
            .map(|v| if v < g.nodes { Slot::Node } else { Slot::Dummy })
            .collect();
        let mut left = spacing.left.clone();
        let mut right = spacing.right.clone();
        let mut first_side = vec![usize::MAX; clusters.len()];
        for (k, span) in clusters.span.iter().enumerate() {
            let Some((lo, hi)) = *span else { continue };
            first_side[k] = slot.len();
            for _ in lo..=hi {
                slot.extend([Slot::Open(k), Slot::Close(k)]);
                left.extend([0.0, spacing.pad_close]);
                right.extend([spacing.pad_open, 0.0]);
            }
        }

        let weight = |a: usize, b: usize| match (a < g.nodes, b < g.nodes) {
            (true, true) => 1.0,
            (false, false) => 8.0,
            _ => 2.0,
        };
        let mut pulls: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
        let mut exits = vec![Vec::new(); clusters.len()];
        for u in 0..n {
            for &v in &g.down[u] {
                let w = weight(u, v);
                pulls[u].push((v, w));
                pulls[v].push((u, w));
                let home = clusters.common_ancestor(g.cluster[u], g.cluster[v]);
                for (inside, outside) in [(u, v), (v, u)] {
                    let mut k = g.cluster[inside];
                    while k != home {
                        let Some(c) = k else { break };
                        exits[c].push((inside, outside, w));
                        k = clusters.parent[c];
                    }
                }
            }
        }

        let mut outer_first: Vec<usize> = (0..clusters.len())
            .filter(|&k| clusters.span[k].is_some())
            .collect();
        outer_first.sort_by_key(|&k| clusters.depth[k]);
        let mut p = Problem {
            clusters,
            spacing,
            ranks: Vec::with_capacity(tokens.len()),
            index: vec![0; slot.len()],
            slot,
            left,
            right,
            pulls,
            rank: &g.rank,
            first_side,
            outer_first,
            exits,
        };
        for (r, rank) in tokens.iter().enumerate() {
            let slots: Vec<usize> = rank
                .iter()
                .map(|t| match *t {
                    Token::Item(v) => v,
                    Token::Open(k) => p.side(k, r, false),
                    Token::Close(k) => p.side(k, r, true),
                })
                .collect();
            for (i, &s) in slots.iter().enumerate() {
                p.index[s] = i;
            }
            p.ranks.push(slots);
        }
        p
    }

    fn len(&self) -> usize {
        self.slot.len()
    }

    /// The slot of cluster `k`'s left or right side in rank `r`.
    fn side(&self, k: usize, r: usize, right: bool) -> usize {
        let (lo, _) = self.clusters.span[k].unwrap_or((r, r));
        self.first_side[k] + 2 * (r - lo) + usize::from(right)
    }

    fn is_side(&self, s: usize) -> bool {
        matches!(self.slot[s], Slot::Open(_) | Slot::Close(_))
    }

    /// The least distance between the coordinates of `a` and of `b` when `a`
    /// is just left of `b` in a rank.
    fn separation(&self, a: usize, b: usize) -> f64 {
        let sp = self.spacing;
        let gap = match (self.slot[a], self.slot[b]) {
            (Slot::Open(_), _) | (_, Slot::Close(_)) => 0.0,
            (Slot::Close(_), _) | (_, Slot::Open(_)) => sp.cluster_gap,
            (Slot::Node, Slot::Node) => sp.node_gap,
            (Slot::Dummy, Slot::Dummy) => sp.dummy_gap,
            _ => (sp.node_gap + sp.dummy_gap) / 2.0,
        };
        self.right[a] + gap + self.left[b]
    }

    /// Where item `s` would go if nothing were in the way: the weighted mean
    /// of its neighbours, with the sum of the weights; `None` for a side or
    /// an item without neighbours.
    fn wish(&self, s: usize, x: &[f64]) -> Option<(f64, f64)> {
        self.wish_from(s, x, false)
    }

    /// [`Problem::wish`]; with `one_side`, from the neighbours on the side
    /// (rank above or below) that has more of them, above on a tie.
    fn wish_from(&self, s: usize, x: &[f64], one_side: bool) -> Option<(f64, f64)> {
        let pulls = self.pulls.get(s)?;
        let rank = self.rank[s];
        let above = pulls.iter().filter(|&&(v, _)| self.rank[v] < rank).count();
        let keep_above = 2 * above >= pulls.len();
        let (w, wx) = pulls
            .iter()
            .filter(|&&(v, _)| !one_side || (self.rank[v] < rank) == keep_above)
            .fold((0.0, 0.0), |(w, wx), &(v, k)| (w + k, wx + k * x[v]));
        (w > 0.0).then(|| (wx / w, w))
    }

    /// The first layout: left-packed, then pulled right where there is room
    /// (each side of a cluster is one coordinate).
    fn pack(&self) -> Vec<f64> {
        let n = self.len();
        let root = |s: usize| match self.slot[s] {
            Slot::Open(k) | Slot::Close(k) => {
                let first = self.clusters.span[k].map_or(0, |(lo, _)| lo);
                self.side(k, first, matches!(self.slot[s], Slot::Close(_)))
            }
            _ => s,
        };
        let mut edges = Vec::with_capacity(n);
        for rank in &self.ranks {
            for pair in rank.windows(2) {
                edges.push((
                    root(pair[0]),
                    root(pair[1]),
                    self.separation(pair[0], pair[1]),
                ));
            }
        }
        for (k, span) in self.clusters.span.iter().enumerate() {
            if let Some((lo, _)) = *span {
                edges.push((
                    self.side(k, lo, false),
                    self.side(k, lo, true),
                    self.spacing.min_width[k],
                ));
            }
        }
        let at = pack(n, &edges);
        (0..n).map(|s| at[root(s)]).collect()
    }

    /// Move 1: rank `r` to its best coordinates, sides fixed; with
    /// `one_side`, to the best ones for each item's segments on its busier
    /// side.
    ///
    /// With `y[i] = x[i] - (separations before i)`, the separations become
    /// `y` non-decreasing, and the best `y` is the weighted isotonic
    /// regression of the wishes: pool adjacent violators, where a pool with
    /// a side in it stays where the side is. Pools never join two sides,
    /// since the current coordinates already fit between them.
    fn settle_rank(&self, r: usize, x: &mut [f64], one_side: bool) {
        struct Pool {
            weight: f64,
            sum: f64,
            fixed: Option<f64>,
            end: usize,
        }
        impl Pool {
            fn value(&self) -> f64 {
                self.fixed.unwrap_or(self.sum / self.weight)
            }
        }
        let slots = &self.ranks[r];
        let mut before = Vec::with_capacity(slots.len());
        let mut pools: Vec<Pool> = Vec::with_capacity(slots.len());
        let mut offset = 0.0;
        for (i, &s) in slots.iter().enumerate() {
            if i > 0 {
                offset += self.separation(slots[i - 1], s);
            }
            before.push(offset);
            let pool = if self.is_side(s) {
                Pool {
                    weight: 1.0,
                    sum: 0.0,
                    fixed: Some(x[s] - offset),
                    end: i,
                }
            } else {
                // An item without neighbours stays put, lightly.
                let (target, weight) = self.wish_from(s, x, one_side).unwrap_or((x[s], 1e-3));
                Pool {
                    weight,
                    sum: weight * (target - offset),
                    fixed: None,
                    end: i,
                }
            };
            pools.push(pool);
            while pools.len() > 1
                && pools[pools.len() - 2].value() > pools[pools.len() - 1].value() + 1e-9
            {
                let top = pools.pop().expect("two pools");
                let below = pools.last_mut().expect("two pools");
                below.weight += top.weight;
                below.sum += top.sum;
                below.fixed = below.fixed.or(top.fixed);
                below.end = top.end;
            }
        }
        let mut start = 0;
        for pool in &pools {
            let y = pool.value();
            for i in start..=pool.end {
                if !self.is_side(slots[i]) {
                    x[slots[i]] = y + before[i];
                }
            }
            start = pool.end + 1;
        }
    }

    /// The range of shifts `[least, most]` that keeps cluster `k`'s sides
    /// clear of their outside neighbours in every rank.
    fn room(&self, k: usize, x: &[f64]) -> (f64, f64) {
        let (lo, hi) = self.clusters.span[k].unwrap_or((0, 0));
        let mut least = f64::NEG_INFINITY;
        let mut most = f64::INFINITY;
        for r in lo..=hi {
            let (open, close) = (self.side(k, r, false), self.side(k, r, true));
            let rank = &self.ranks[r];
            if let Some(&prev) = self.index[open].checked_sub(1).and_then(|i| rank.get(i)) {
                least = least.max(x[prev] + self.separation(prev, open) - x[open]);
            }
            if let Some(&next) = rank.get(self.index[close] + 1) {
                most = most.min(x[next] - self.separation(close, next) - x[close]);
            }
        }
        (least, most)
    }

    /// Move 2: every cluster towards the far ends of its leaving segments.
    fn shift_clusters(&self, x: &mut [f64]) {
        for &k in &self.outer_first {
            let (w, wd) = self.exits[k]
                .iter()
                .fold((0.0, 0.0), |(w, wd), &(i, o, k)| {
                    (w + k, wd + k * (x[o] - x[i]))
                });
            if w == 0.0 {
                continue;
            }
            let (least, most) = self.room(k, x);
            if least > most {
                continue;
            }
            let shift = (wd / w).max(least).min(most);
            if shift == 0.0 {
                continue;
            }
            let (lo, hi) = self.clusters.span[k].unwrap_or((0, 0));
            for r in lo..=hi {
                let (a, b) = (
                    self.index[self.side(k, r, false)],
                    self.index[self.side(k, r, true)],
                );
                for &s in &self.ranks[r][a..=b] {
                    x[s] += shift;
                }
            }
        }
    }

    /// Move 3: every side to where the slots next to it inside want to be,
    /// within what its neighbours on both sides allow.
    fn fit_sides(&self, x: &mut [f64]) {
        for &k in self.outer_first.iter().rev() {
            let (lo, hi) = self.clusters.span[k].unwrap_or((0, 0));
            let wish = |s: usize, x: &[f64]| self.wish(s, x).map_or(x[s], |(t, _)| t);
            for right in [false, true] {
                let mut least = f64::NEG_INFINITY;
                let mut most = f64::INFINITY;
                let mut target = if right {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                };
                for r in lo..=hi {
                    let s = self.side(k, r, right);
                    let rank = &self.ranks[r];
                    let prev = self.index[s].checked_sub(1).and_then(|i| rank.get(i));
                    let next = rank.get(self.index[s] + 1);
                    if let Some(&p) = prev {
                        least = least.max(x[p] + self.separation(p, s));
                    }
                    if let Some(&q) = next {
                        most = most.min(x[q] - self.separation(s, q));
                    }
                    // The inside neighbour: after a left side, before a right one.
                    let inside = if right { prev } else { next };
                    if let Some(&i) = inside {
                        target = if right {
                            target.max(wish(i, x) + self.separation(i, s))
                        } else {
                            target.min(wish(i, x) - self.separation(s, i))
                        };
                    }
                }
                let width = self.spacing.min_width[k];
                if right {
                    least = least.max(x[self.side(k, lo, false)] + width);
                } else {
                    most = most.min(x[self.side(k, lo, true)] - width);
                }
                if least > most || !target.is_finite() {
                    continue;
                }
                let at = target.max(least).min(most);
                for r in lo..=hi {
                    x[self.side(k, r, right)] = at;
                }
            }
        }
    }
}

/// Longest paths over `edges` (slot a at least w left of slot b), then each
/// slot moves right as far as the slots after it allow. A slot in a cycle
/// (never, for orders from this crate) is placed as if the closing edge did
/// not exist.
fn pack(n: usize, edges: &[(usize, usize, f64)]) -> Vec<f64> {
    let mut start = vec![0usize; n + 1];
    for &(a, _, _) in edges {
        start[a + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut succ = vec![(0usize, 0.0f64); edges.len()];
    let mut indegree = vec![0usize; n];
    for &(a, b, w) in edges {
        succ[fill[a]] = (b, w);
        fill[a] += 1;
        indegree[b] += 1;
    }
    let mut topo: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    let mut head = 0;
    while let Some(&v) = topo.get(head) {
        head += 1;
        for &(w, _) in &succ[start[v]..start[v + 1]] {
            indegree[w] -= 1;
            if indegree[w] == 0 {
                topo.push(w);
            }
        }
    }
    if topo.len() < n {
        let mut seen = vec![false; n];
        for &v in &topo {
            seen[v] = true;
        }
        topo.extend((0..n).filter(|&v| !seen[v]));
    }
    let mut x = vec![0.0f64; n];
    for &v in &topo {
        for &(w, gap) in &succ[start[v]..start[v + 1]] {
            x[w] = x[w].max(x[v] + gap);
        }
    }
    for &v in topo.iter().rev() {
        let limit = succ[start[v]..start[v + 1]]
            .iter()
            .map(|&(w, gap)| x[w] - gap)
            .fold(f64::INFINITY, f64::min);
        if limit.is_finite() {
            x[v] = x[v].max(limit);
        }
    }
    x
}
