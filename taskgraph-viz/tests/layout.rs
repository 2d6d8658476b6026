//! The layout keeps its promises: finite coordinates, no overlaps, boxes
//! around their own nodes only, edges pointing the right way; and it is fast
//! enough for graphs of thousands of nodes.

mod common;

use std::time::Instant;

use common::{check_layout, layered, nested, tutorial, Lcg};
use proptest::prelude::*;
use taskgraph_viz::{layout, Drawing, Edge, Node, RankDir, Shape};

#[test]
fn five_thousand_nodes() {
    let d = layered(50, 100, 7, false);
    assert_eq!(d.nodes.len(), 5_000);
    let start = Instant::now();
    let l = layout(&d);
    eprintln!(
        "5,000 nodes, {} edges: {:?}",
        d.edges.len(),
        start.elapsed()
    );
    check_layout(&d, &l);
    assert_eq!(l.nodes.iter().map(|n| n.rank).max(), Some(49));
}

#[test]
fn five_thousand_nodes_in_nested_clusters() {
    let d = layered(50, 100, 11, true);
    assert_eq!(d.nodes.len(), 5_000);
    assert_eq!(d.clusters.len(), 12);
    let start = Instant::now();
    let l = layout(&d);
    eprintln!(
        "5,000 nodes in clusters, {} edges: {:?}",
        d.edges.len(),
        start.elapsed()
    );
    check_layout(&d, &l);
}

#[test]
fn tutorial_graph_in_both_directions() {
    for rankdir in [RankDir::TopBottom, RankDir::LeftRight] {
        let d = tutorial(rankdir);
        let l = layout(&d);
        check_layout(&d, &l);
        // Four ranks of the tree below the three of an iteration.
        assert_eq!(l.nodes.iter().map(|n| n.rank).max(), Some(5));
        for (e, edge) in d.edges.iter().enumerate() {
            let (a, b) = (l.nodes[edge.from].rect, l.nodes[edge.to].rect);
            let head = l.edges[e].head;
            let start = l.edges[e].path[0];
            // Edges point down (right), from the source's side to the target's.
            match rankdir {
                RankDir::TopBottom => {
                    assert!(start.y > a.y + a.height / 2.0 && start.y <= a.y + a.height + 1e-6);
                    assert!(head.y < b.y + b.height / 2.0 && head.y >= b.y - 1e-6);
                }
                RankDir::LeftRight => {
                    assert!(start.x > a.x + a.width / 2.0 && start.x <= a.x + a.width + 1e-6);
                    assert!(head.x < b.x + b.width / 2.0 && head.x >= b.x - 1e-6);
                }
            }
        }
    }
}

#[test]
fn the_tree_is_centred_under_its_inputs() {
    let d = tutorial(RankDir::TopBottom);
    let l = layout(&d);
    let centre = |v: usize| l.nodes[v].rect.x + l.nodes[v].rect.width / 2.0;
    // Node 24 adds the `add`s of iterations 0 and 1 (nodes 2 and 5).
    let mid = (centre(2) + centre(5)) / 2.0;
    let apart = centre(5) - centre(2);
    assert!(apart > 0.0);
    assert!(
        (centre(24) - mid).abs() < 0.1 * apart,
        "{} vs {mid}",
        centre(24)
    );
}

#[test]
fn clusters_nested_two_deep() {
    for rankdir in [RankDir::TopBottom, RankDir::LeftRight] {
        let d = nested(rankdir);
        let l = layout(&d);
        check_layout(&d, &l);
        let [outer, inner0, inner1] = [0, 1, 2].map(|k| l.clusters[k].unwrap());
        assert!(common::contains(&outer, &inner0) && common::contains(&outer, &inner1));
        assert!(!common::overlap(&inner0, &inner1));
        // The outer label has its own room above (left of) the inner boxes.
        match rankdir {
            RankDir::TopBottom => assert!(inner0.y - outer.y >= 20.0),
            RankDir::LeftRight => assert!(inner0.y.min(inner1.y) - outer.y >= 20.0),
        }
    }
}

#[test]
fn cycles_self_loops_and_labels() {
    let mut d = Drawing::new(RankDir::TopBottom);
    for i in 0..4 {
        d.add_node(Node::new(format!("n{i}")));
    }
    d.edges = vec![
        Edge::new(0, 1),
        Edge::new(1, 2).with_label("x"),
        Edge::new(2, 0).with_label("back"),
        Edge::new(2, 2).with_label("again"),
        Edge::new(0, 3),
        Edge::new(0, 3),
    ];
    let l = layout(&d);
    check_layout(&d, &l);
    // The reversed edge still ends at its target, node 0.
    let n0 = l.nodes[0].rect;
    let head = l.edges[2].head;
    assert!((head.y - (n0.y + n0.height)).abs() < 1e-6);
    // The two parallel edges leave side by side.
    assert_ne!(l.edges[4].path[0], l.edges[5].path[0]);
}

#[test]
fn empty_and_degenerate_drawings() {
    let d = Drawing::default();
    let l = layout(&d);
    check_layout(&d, &l);
    assert!(l.width > 0.0 && l.height > 0.0);

    let mut d = Drawing::default();
    let empty = d.add_cluster("nothing here", None);
    let _inside_empty = d.add_cluster("nor here", Some(empty));
    let k = d.add_cluster("one", None);
    d.add_node(Node::new("").in_cluster(k).with_shape(Shape::Circle));
    let l = layout(&d);
    check_layout(&d, &l);
    assert_eq!(l.clusters[0], None);
}

#[test]
#[should_panic(expected = "invalid drawing: edge 0 refers to node 5, which does not exist")]
fn an_invalid_drawing_panics() {
    let mut d = Drawing::default();
    d.add_node(Node::new("a"));
    d.add_edge(0, 5);
    layout(&d);
}

/// A random drawing: up to `n` nodes, up to `clusters` clusters in a random tree (parents come
/// first), random edges including cycles and self-loops, random shapes and
/// labels.
fn random_drawing(seed: u64, n: usize, clusters: usize, rankdir: RankDir) -> Drawing {
    let mut rng = Lcg(seed);
    let mut d = Drawing::new(rankdir);
    for k in 0..rng.below(clusters + 1) {
        let parent = if k > 0 && rng.below(2) == 0 {
            Some(rng.below(k))
        } else {
            None
        };
        d.add_cluster(format!("cluster {k}"), parent);
    }
    let shapes = [
        Shape::Box,
        Shape::Rounded,
        Shape::Ellipse,
        Shape::Circle,
        Shape::Diamond,
    ];
    for i in 0..1 + rng.below(n) {
        let mut node =
            Node::new("x".repeat(rng.below(12)) + &i.to_string()).with_shape(shapes[rng.below(5)]);
        if !d.clusters.is_empty() && rng.below(3) > 0 {
            node = node.in_cluster(rng.below(d.clusters.len()));
        }
        d.add_node(node);
    }
    let m = d.nodes.len();
    for _ in 0..rng.below(2 * m + 1) {
        let (a, b) = (rng.below(m), rng.below(m));
        // Mostly forward edges, so that the graph is mostly a DAG.
        let (a, b) = if rng.below(6) > 0 {
            (a.min(b), a.max(b))
        } else {
            (a, b)
        };
        let mut edge = Edge::new(a, b);
        if rng.below(5) == 0 {
            edge = edge.with_label("label");
        }
        d.edges.push(edge);
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_drawings_keep_every_promise(seed: u64, n in 1usize..40, lr: bool) {
        let rankdir = if lr { RankDir::LeftRight } else { RankDir::TopBottom };
        let d = random_drawing(seed, n, 8, rankdir);
        let l = layout(&d);
        check_layout(&d, &l);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn larger_random_drawings_keep_every_promise(seed: u64, n in 1usize..400, lr: bool) {
        let rankdir = if lr { RankDir::LeftRight } else { RankDir::TopBottom };
        let d = random_drawing(seed, n, 40, rankdir);
        let l = layout(&d);
        check_layout(&d, &l);
    }
}
