//! Steps 2 and 3: split long edges into chains of dummy items, one per rank,
//! then order every rank to reduce crossings, keeping clusters together.
//!
//! An *item* is a node or a dummy. A dummy belongs to the innermost cluster
//! that holds both ends of its edge, so an edge leaves a cluster's box as
//! soon as it can.
//!
//! The order of a rank is a sequence of [`Token`]s: items, and the left
//! (`Open`) and right (`Close`) sides of every cluster that spans the rank,
//! even one with no item in it, so that nothing else can sit inside its box.
//! Two rules keep boxes disjoint:
//!
//! - a cluster's items are contiguous in every rank (sorting is recursive:
//!   first inside each cluster, then the clusters among their siblings);
//! - siblings come in one order, the same in every rank. Within a rank the
//!   clusters bid for places with the barycentre of their items, but the
//!   bids are handed out in that order. After each sweep the order follows
//!   the bids, so clusters can still swap.
//!
//! Sweeps alternate down and up (a rank's key is the barycentre of its
//! neighbours in the rank before it); the order with the fewest crossings
//! wins.

use std::collections::HashMap;

use super::rank::Ranking;
use crate::model::Drawing;

/// One entry of a rank's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token {
    /// An item.
    Item(usize),
    /// The left side of a cluster's box.
    Open(usize),
    /// The right side of a cluster's box.
    Close(usize),
}

/// The drawing as a proper layered graph: every edge joins adjacent ranks.
pub(super) struct Layered {
    /// Number of nodes: items below it are nodes, the others dummies.
    pub nodes: usize,
    /// Rank of each item; nodes first (item `i` is node `i`), then dummies.
    pub rank: Vec<usize>,
    /// Innermost cluster of each item.
    pub cluster: Vec<Option<usize>>,
    /// Neighbours of each item in the next rank, one entry per edge.
    pub down: Vec<Vec<usize>>,
    /// Neighbours of each item in the previous rank, one entry per edge.
    pub up: Vec<Vec<usize>>,
    /// For each edge, its items from the top rank down; `None` for a
    /// self-loop.
    pub chains: Vec<Option<Vec<usize>>>,
    /// Number of ranks.
    pub ranks: usize,
}

/// The cluster tree, and the ranks each cluster spans.
pub(super) struct Clusters {
    /// Parent of each cluster.
    pub parent: Vec<Option<usize>>,
    /// Nesting depth; 0 for a top-level cluster.
    pub depth: Vec<usize>,
    /// First and last rank holding one of the cluster's items, or those of
    /// its descendants; `None` for a cluster with no item at all, which is
    /// not drawn.
    pub span: Vec<Option<(usize, usize)>>,
    /// Children of each cluster; the extra last entry lists the top level.
    pub children: Vec<Vec<usize>>,
}

impl Layered {
    /// Builds the layered graph of `drawing` ranked by `ranking`.
    pub fn new(drawing: &Drawing, ranking: &Ranking, clusters: &Clusters) -> Self {
        let n = drawing.nodes.len();
        let mut g = Layered {
            nodes: n,
            rank: ranking.rank.clone(),
            cluster: drawing.nodes.iter().map(|v| v.cluster).collect(),
            down: vec![Vec::new(); n],
            up: vec![Vec::new(); n],
            chains: Vec::with_capacity(drawing.edges.len()),
            ranks: ranking.rank.iter().max().map_or(0, |r| r + 1),
        };
        for (e, edge) in drawing.edges.iter().enumerate() {
            if edge.from == edge.to {
                g.chains.push(None);
                continue;
            }
            let (top, bottom) = if ranking.reversed[e] {
                (edge.to, edge.from)
            } else {
                (edge.from, edge.to)
            };
            let home = clusters.common_ancestor(g.cluster[top], g.cluster[bottom]);
            let mut chain = vec![top];
            for r in g.rank[top] + 1..g.rank[bottom] {
                g.rank.push(r);
                g.cluster.push(home);
                g.down.push(Vec::new());
                g.up.push(Vec::new());
                chain.push(g.rank.len() - 1);
            }
            chain.push(bottom);
            for pair in chain.windows(2) {
                g.down[pair[0]].push(pair[1]);
                g.up[pair[1]].push(pair[0]);
            }
            g.chains.push(Some(chain));
        }
        g
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.rank.len()
    }
}

impl Clusters {
    /// The cluster tree of a valid drawing, without spans.
    pub fn new(drawing: &Drawing) -> Self {
        let c = drawing.clusters.len();
        let parent: Vec<Option<usize>> = drawing.clusters.iter().map(|k| k.parent).collect();
        let mut depth = vec![usize::MAX; c];
        let mut path = Vec::new();
        for start in 0..c {
            let mut k = Some(start);
            while let Some(i) = k.filter(|&i| depth[i] == usize::MAX) {
                path.push(i);
                k = parent[i];
            }
            let mut d = k.map_or(0, |i| depth[i] + 1);
            while let Some(i) = path.pop() {
                depth[i] = d;
                d += 1;
            }
        }
        let mut children = vec![Vec::new(); c + 1];
        for (k, p) in parent.iter().enumerate() {
            children[p.unwrap_or(c)].push(k);
        }
        Clusters {
            parent,
            depth,
            span: vec![None; c],
            children,
        }
    }

    /// Number of clusters.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// The innermost cluster containing both `a` and `b`.
    pub fn common_ancestor(&self, mut a: Option<usize>, mut b: Option<usize>) -> Option<usize> {
        let depth = |k: Option<usize>| k.map_or(0, |k| self.depth[k] + 1);
        while depth(a) > depth(b) {
            a = a.and_then(|k| self.parent[k]);
        }
        while depth(b) > depth(a) {
            b = b.and_then(|k| self.parent[k]);
        }
        while a != b {
            a = a.and_then(|k| self.parent[k]);
            b = b.and_then(|k| self.parent[k]);
        }
        a
    }

    /// Sets the spans from the items of `g`.
    pub fn set_spans(&mut self, g: &Layered) {
        for item in 0..g.len() {
            let r = g.rank[item];
            let mut k = g.cluster[item];
            while let Some(i) = k {
                match &mut self.span[i] {
                    Some((lo, hi)) if (*lo..=*hi).contains(&r) => break,
                    Some((lo, hi)) => {
                        *lo = (*lo).min(r);
                        *hi = (*hi).max(r);
                    }
                    span @ None => *span = Some((r, r)),
                }
                k = self.parent[i];
            }
        }
    }
}

/// Orders every rank of `g` (see the module documentation). Costs a few
/// sweeps of `O(items log items)` each.
pub(super) fn order(g: &Layered, clusters: &Clusters) -> Vec<Vec<Token>> {
    const MAX_SWEEPS: usize = 16;
    const PATIENCE: usize = 4;

    let mut s = Sorter::new(g, clusters);
    s.sort_all(|_, _, pos| pos);
    let mut best = s.tokens.clone();
    let mut best_crossings = s.crossings();
    let mut stale = 0;
    for sweep in 0..MAX_SWEEPS {
        if best_crossings == 0 || stale == PATIENCE {
            break;
        }
        let down = sweep % 2 == 0;
        s.sweep(down);
        let c = s.crossings();
        if c < best_crossings {
            best_crossings = c;
            best.clone_from(&s.tokens);
            stale = 0;
        } else {
            stale += 1;
        }
    }
    best
}

/// The state of the ordering: each rank's tokens and items, and the order of
/// sibling clusters.
struct Sorter<'a> {
    g: &'a Layered,
    clusters: &'a Clusters,
    tokens: Vec<Vec<Token>>,
    /// Items of each rank, in order.
    items: Vec<Vec<usize>>,
    /// Position of each item in its rank.
    pos: Vec<usize>,
    /// Clusters spanning each rank.
    spanning: Vec<Vec<usize>>,
    /// Place of each cluster among its siblings.
    place: Vec<usize>,
    /// Bids of each cluster during the current sweep: sum and count.
    bids: Vec<(f64, usize)>,
    /// Mean bid of each cluster in the last sweep: where a cluster bids in
    /// a rank in which it has no item.
    anchor: Vec<f64>,
}

/// The items and child clusters of one rank, by cluster (the number of
/// clusters stands for the top level).
struct Level {
    items: HashMap<usize, Vec<(f64, usize)>>,
    kids: HashMap<usize, Vec<usize>>,
}

impl<'a> Sorter<'a> {
    /// The first order: ranks filled in depth-first order from the nodes, in
    /// the order of the drawing.
    fn new(g: &'a Layered, clusters: &'a Clusters) -> Self {
        let mut items = vec![Vec::new(); g.ranks];
        let mut seen = vec![false; g.len()];
        let mut stack = Vec::new();
        let roots = (0..g.len()).filter(|&i| g.up[i].is_empty());
        for root in roots.chain(0..g.len()) {
            if seen[root] {
                continue;
            }
            seen[root] = true;
            stack.push(root);
            while let Some(v) = stack.pop() {
                items[g.rank[v]].push(v);
                for &w in g.down[v].iter().rev() {
                    if !seen[w] {
                        seen[w] = true;
                        stack.push(w);
                    }
                }
            }
        }
        let mut pos = vec![0; g.len()];
        for rank in &items {
            for (p, &v) in rank.iter().enumerate() {
                pos[v] = p;
            }
        }
        let mut spanning = vec![Vec::new(); g.ranks];
        for (k, span) in clusters.span.iter().enumerate() {
            if let Some((lo, hi)) = *span {
                for list in &mut spanning[lo..=hi] {
                    list.push(k);
                }
            }
        }
        let mut s = Sorter {
            g,
            clusters,
            tokens: vec![Vec::new(); g.ranks],
            items,
            pos,
            spanning,
            place: vec![0; clusters.len()],
            bids: vec![(0.0, 0); clusters.len()],
            anchor: vec![0.0; clusters.len()],
        };
        for v in 0..g.len() {
            let mut k = g.cluster[v];
            while let Some(i) = k {
                s.bids[i].0 += s.pos[v] as f64;
                s.bids[i].1 += 1;
                k = clusters.parent[i];
            }
        }
        s.settle_places();
        s
    }

    /// Sorts every rank by `key(self, item, current position)`.
    fn sort_all(&mut self, key: impl Fn(&Self, usize, f64) -> f64) {
        for r in 0..self.g.ranks {
            self.sort_rank(r, &key);
        }
    }

    /// One sweep down (keys from the rank above) or up (from the rank below).
    fn sweep(&mut self, down: bool) {
        let key = |s: &Self, v: usize, pos: f64| {
            let nbrs = if down { &s.g.up[v] } else { &s.g.down[v] };
            if nbrs.is_empty() {
                pos
            } else {
                nbrs.iter().map(|&w| s.pos[w] as f64).sum::<f64>() / nbrs.len() as f64
            }
        };
        if down {
            for r in 0..self.g.ranks {
                self.sort_rank(r, &key);
            }
        } else {
            for r in (0..self.g.ranks).rev() {
                self.sort_rank(r, &key);
            }
        }
        self.settle_places();
    }

    /// Turns the bids of the last sweep into the places of siblings.
    fn settle_places(&mut self) {
        for (k, &(sum, count)) in self.bids.iter().enumerate() {
            if count > 0 {
                self.anchor[k] = sum / count as f64;
            }
        }
        for siblings in &self.clusters.children {
            let mut sorted = siblings.clone();
            let key = &self.anchor;
            sorted.sort_by(|&a, &b| {
                key[a]
                    .total_cmp(&key[b])
                    .then(self.place[a].cmp(&self.place[b]))
            });
            for (p, &k) in sorted.iter().enumerate() {
                self.place[k] = p;
            }
        }
        self.bids.fill((0.0, 0));
    }

    /// Sorts rank `r` by `key` (see the module documentation).
    fn sort_rank(&mut self, r: usize, key: &impl Fn(&Self, usize, f64) -> f64) {
        let top = self.clusters.len();
        // Scratch, indexed by cluster (`top` for the top level): the rank's
        // items directly in each cluster, and its child clusters spanning r.
        let mut level = Level {
            items: HashMap::new(),
            kids: HashMap::new(),
        };
        for &v in &self.items[r] {
            let k = self.g.cluster[v].unwrap_or(top);
            let item_key = key(self, v, self.pos[v] as f64);
            level.items.entry(k).or_default().push((item_key, v));
        }
        for &k in &self.spanning[r] {
            let p = self.clusters.parent[k].unwrap_or(top);
            level.kids.entry(p).or_default().push(k);
        }
        let mut tokens = Vec::with_capacity(self.items[r].len() + 2 * self.spanning[r].len());
        self.sort_level(top, &level, &mut tokens);
        let items = &mut self.items[r];
        items.clear();
        for t in &tokens {
            if let Token::Item(v) = *t {
                self.pos[v] = items.len();
                items.push(v);
            }
        }
        self.tokens[r] = tokens;
    }

    /// Appends the sorted tokens inside cluster `k` (`len()` for the top
    /// level) to `out`; returns the sum and count of the keys of its items.
    fn sort_level(&mut self, k: usize, level: &Level, out: &mut Vec<Token>) -> (f64, usize) {
        enum Entry {
            Item(usize),
            Cluster(Vec<Token>),
        }
        let mut entries: Vec<(f64, Entry)> = Vec::new();
        let mut sum = 0.0;
        let mut count = 0;
        if let Some(items) = level.items.get(&k) {
            for &(key, v) in items {
                entries.push((key, Entry::Item(v)));
                sum += key;
                count += 1;
            }
        }
        if let Some(kids) = level.kids.get(&k) {
            let mut kids = kids.clone();
            kids.sort_by_key(|&c| self.place[c]);
            let mut bids = Vec::with_capacity(kids.len());
            let mut subs = Vec::with_capacity(kids.len());
            for &c in &kids {
                let mut sub = vec![Token::Open(c)];
                let (s, n) = self.sort_level(c, level, &mut sub);
                sub.push(Token::Close(c));
                sum += s;
                count += n;
                let bid = if n > 0 {
                    self.bids[c].0 += s / n as f64;
                    self.bids[c].1 += 1;
                    s / n as f64
                } else {
                    // Nothing of it in this rank: bid where it was.
                    self.anchor[c]
                };
                bids.push(bid);
                subs.push(sub);
            }
            // The bids, handed out in the siblings' order.
            bids.sort_by(f64::total_cmp);
            for (bid, sub) in bids.into_iter().zip(subs) {
                entries.push((bid, Entry::Cluster(sub)));
            }
        }
        entries.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, entry) in entries {
            match entry {
                Entry::Item(v) => out.push(Token::Item(v)),
                Entry::Cluster(sub) => out.extend(sub),
            }
        }
        (sum, count)
    }

    /// Total number of crossings between adjacent ranks (Fenwick tree over
    /// the lower rank), `O(edges log items)`.
    fn crossings(&self) -> u64 {
        let mut total = 0u64;
        let mut targets = Vec::new();
        for r in 0..self.g.ranks.saturating_sub(1) {
            let width = self.items[r + 1].len();
            let mut tree = vec![0u32; width + 1];
            let mut seen = 0u64;
            for &v in &self.items[r] {
                targets.clear();
                targets.extend(self.g.down[v].iter().map(|&w| self.pos[w]));
                targets.sort_unstable();
                for &p in &targets {
                    // Edges seen so far ending right of p cross this one.
                    let mut at_most = 0u64;
                    let mut i = p + 1;
                    while i > 0 {
                        at_most += u64::from(tree[i]);
                        i -= i & i.wrapping_neg();
                    }
                    total += seen - at_most;
                    let mut i = p + 1;
                    while i <= width {
                        tree[i] += 1;
                        i += i & i.wrapping_neg();
                    }
                    seen += 1;
                }
            }
        }
        total
    }
}
