//! Drawings and layout checks shared by the tests.

#![allow(dead_code)]

use taskgraph_viz::{Drawing, Layout, Node, RankDir, Rect, Shape, State, Style};

/// dask's tutorial graph: `inc`, `dec`, `add` in each of 8 iterations (one
/// cluster each), then a pairwise reduction tree of `add`.
pub fn tutorial(rankdir: RankDir) -> Drawing {
    let mut d = Drawing::new(rankdir);
    let mut level = Vec::new();
    for i in 0..8 {
        let k = d.add_cluster(format!("i = {i}"), None);
        let x = d.add_node(Node::new("inc").in_cluster(k).with_shape(Shape::Ellipse));
        let y = d.add_node(Node::new("dec").in_cluster(k).with_shape(Shape::Ellipse));
        let z = d.add_node(
            Node::new("add")
                .in_cluster(k)
                .with_shape(Shape::Ellipse)
                .with_style(Style::State(State::Done)),
        );
        d.add_edge(x, y);
        d.add_edge(x, z);
        d.add_edge(y, z);
        level.push(z);
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let z = d.add_node(Node::new("add").with_shape(Shape::Ellipse));
                for &p in pair {
                    d.add_edge(p, z);
                }
                z
            })
            .collect();
    }
    d
}

/// Two loops nested in an outer one: `outer` holds `a` and the clusters
/// `inner 0` and `inner 1`, each with two nodes; an edge leaves each.
pub fn nested(rankdir: RankDir) -> Drawing {
    let mut d = Drawing::new(rankdir);
    let outer = d.add_cluster("outer", None);
    let a = d.add_node(Node::new("a").in_cluster(outer));
    let mut last = Vec::new();
    for j in 0..2 {
        let inner = d.add_cluster(format!("inner {j}"), Some(outer));
        let b = d.add_node(Node::new("b").in_cluster(inner));
        let c = d.add_node(Node::new("c").in_cluster(inner).with_shape(Shape::Rounded));
        d.add_edge(a, b);
        d.add_edge(b, c);
        last.push(c);
    }
    let end = d.add_node(Node::new("end").with_shape(Shape::Diamond));
    for c in last {
        d.add_edge(c, end);
    }
    d
}

/// A small deterministic random number generator (64-bit LCG).
pub struct Lcg(pub u64);

impl Lcg {
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// `layers` layers of `width` nodes; each node after the first layer has
/// one to three inputs in the layer above (now and then two above), mostly
/// from nearby columns. With `clustered`, every ten columns form a cluster,
/// and every fifty an outer cluster around those.
pub fn layered(layers: usize, width: usize, seed: u64, clustered: bool) -> Drawing {
    let mut rng = Lcg(seed);
    let mut d = Drawing::new(RankDir::TopBottom);
    let groups = width.div_ceil(50);
    let mut outer = Vec::new();
    let mut inner = Vec::new();
    if clustered {
        for g in 0..groups {
            let o = d.add_cluster(format!("outer {g}"), None);
            outer.push(o);
        }
        for c in 0..width.div_ceil(10) {
            let k = d.add_cluster(format!("inner {c}"), Some(outer[c * 10 / 50]));
            inner.push(k);
        }
    }
    for l in 0..layers {
        for i in 0..width {
            let mut node = Node::new(format!("t{l}_{i}"));
            if clustered {
                node = node.in_cluster(inner[i / 10]);
            }
            let v = d.add_node(node);
            if l > 0 {
                for _ in 0..1 + rng.below(3) {
                    let back = if l > 1 && rng.below(8) == 0 { 2 } else { 1 };
                    // Mostly near the same column, sometimes anywhere.
                    let col = if rng.below(10) == 0 {
                        rng.below(width)
                    } else {
                        (i + rng.below(5)).saturating_sub(2).min(width - 1)
                    };
                    d.add_edge((l - back) * width + col, v);
                }
            }
        }
    }
    d
}

/// The clusters containing node `v`: its own and all its ancestors.
pub fn clusters_of(d: &Drawing, v: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut k = d.nodes[v].cluster;
    while let Some(c) = k {
        out.push(c);
        k = d.clusters[c].parent;
    }
    out
}

fn finite(r: &Rect) -> bool {
    r.x.is_finite() && r.y.is_finite() && r.width.is_finite() && r.height.is_finite()
}

/// Whether the interiors of `a` and `b` meet (touching sides do not count).
pub fn overlap(a: &Rect, b: &Rect) -> bool {
    const EPS: f64 = 1e-6;
    a.x + EPS < b.x + b.width
        && b.x + EPS < a.x + a.width
        && a.y + EPS < b.y + b.height
        && b.y + EPS < a.y + a.height
}

/// Whether `outer` contains `inner`.
pub fn contains(outer: &Rect, inner: &Rect) -> bool {
    const EPS: f64 = 1e-6;
    outer.x <= inner.x + EPS
        && outer.y <= inner.y + EPS
        && inner.x + inner.width <= outer.x + outer.width + EPS
        && inner.y + inner.height <= outer.y + outer.height + EPS
}

/// Checks everything [`taskgraph_viz::layout`] promises, and panics with
/// what broke.
pub fn check_layout(d: &Drawing, l: &Layout) {
    assert_eq!(l.nodes.len(), d.nodes.len());
    assert_eq!(l.edges.len(), d.edges.len());
    assert_eq!(l.clusters.len(), d.clusters.len());
    assert!(l.width.is_finite() && l.height.is_finite());
    let picture = Rect {
        x: 0.0,
        y: 0.0,
        width: l.width,
        height: l.height,
    };
    for (v, n) in l.nodes.iter().enumerate() {
        assert!(finite(&n.rect), "node {v} at {:?}", n.rect);
        assert!(n.rect.width > 0.0 && n.rect.height > 0.0);
        assert!(contains(&picture, &n.rect), "node {v} outside the picture");
    }
    for (e, g) in l.edges.iter().enumerate() {
        assert!(
            g.path.len() >= 4 && (g.path.len() - 1) % 3 == 0,
            "edge {e}: {} points",
            g.path.len()
        );
        for p in g.path.iter().chain([&g.head]).chain(g.label.iter()) {
            assert!(p.x.is_finite() && p.y.is_finite(), "edge {e} at {p:?}");
        }
        assert_eq!(g.label.is_some(), d.edges[e].label.is_some());
    }

    // Nodes of a rank do not overlap; ranks follow each other.
    let ranks = l.nodes.iter().map(|n| n.rank + 1).max().unwrap_or(0);
    let mut by_rank = vec![Vec::new(); ranks];
    for (v, n) in l.nodes.iter().enumerate() {
        by_rank[n.rank].push(v);
    }
    let along = |r: &Rect| match d.rankdir {
        RankDir::TopBottom => (r.x, r.x + r.width),
        RankDir::LeftRight => (r.y, r.y + r.height),
    };
    let across = |r: &Rect| match d.rankdir {
        RankDir::TopBottom => (r.y, r.y + r.height),
        RankDir::LeftRight => (r.x, r.x + r.width),
    };
    let mut previous_end = f64::NEG_INFINITY;
    for rank in &mut by_rank {
        rank.sort_by(|&a, &b| {
            along(&l.nodes[a].rect)
                .0
                .total_cmp(&along(&l.nodes[b].rect).0)
        });
        for pair in rank.windows(2) {
            let (a, b) = (along(&l.nodes[pair[0]].rect), along(&l.nodes[pair[1]].rect));
            assert!(
                a.1 <= b.0 + 1e-6,
                "nodes {} and {} overlap",
                pair[0],
                pair[1]
            );
        }
        if rank.is_empty() {
            continue;
        }
        let start = rank
            .iter()
            .map(|&v| across(&l.nodes[v].rect).0)
            .fold(f64::INFINITY, f64::min);
        let end = rank
            .iter()
            .map(|&v| across(&l.nodes[v].rect).1)
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(previous_end < start, "ranks overlap");
        previous_end = end;
    }

    // Clusters: drawn exactly when they hold a node; nested or disjoint.
    let mut holds = vec![false; d.clusters.len()];
    for v in 0..d.nodes.len() {
        for k in clusters_of(d, v) {
            holds[k] = true;
        }
    }
    let ancestors: Vec<Vec<usize>> = (0..d.clusters.len())
        .map(|k| {
            let mut out = Vec::new();
            let mut p = d.clusters[k].parent;
            while let Some(c) = p {
                out.push(c);
                p = d.clusters[c].parent;
            }
            out
        })
        .collect();
    for k in 0..d.clusters.len() {
        assert_eq!(l.clusters[k].is_some(), holds[k], "cluster {k}");
        let Some(a) = l.clusters[k] else { continue };
        assert!(finite(&a) && contains(&picture, &a), "cluster {k} at {a:?}");
        for j in k + 1..d.clusters.len() {
            let Some(b) = l.clusters[j] else { continue };
            if ancestors[k].contains(&j) {
                assert!(
                    contains(&b, &a),
                    "cluster {k} sticks out of its ancestor {j}"
                );
            } else if ancestors[j].contains(&k) {
                assert!(
                    contains(&a, &b),
                    "cluster {j} sticks out of its ancestor {k}"
                );
            } else {
                assert!(!overlap(&a, &b), "clusters {k} and {j} overlap");
            }
        }
    }
    // Nodes: inside their clusters, outside the others.
    for (v, n) in l.nodes.iter().enumerate() {
        let mine = clusters_of(d, v);
        for (k, rect) in l.clusters.iter().enumerate() {
            let Some(rect) = rect else { continue };
            if mine.contains(&k) {
                assert!(
                    contains(rect, &n.rect),
                    "node {v} sticks out of its cluster {k}"
                );
            } else {
                assert!(!overlap(rect, &n.rect), "node {v} is inside cluster {k}");
            }
        }
    }
}
