//! The layered layout: rank -> order -> position -> route.
//!
//! Internally the layout works in two axes: *along* a rank (x when edges
//! point down, y when they point right) and *across* ranks. Only
//! [`layout`]'s last step turns them into x and y.

mod order;
mod position;
mod rank;
mod route;

use crate::model::{Drawing, RankDir, Shape};
use crate::text::{self, FONT_SIZE, LINE_HEIGHT, SMALL_FONT_SIZE};
use order::{Clusters, Layered};
use position::Spacing;
use route::Routing;

/// A point in pixels; x grows to the right, y grows down.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// Distance from the left edge.
    pub x: f64,
    /// Distance from the top edge.
    pub y: f64,
}

/// An axis-aligned rectangle in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rect {
    /// Left side.
    pub x: f64,
    /// Top side.
    pub y: f64,
    /// Width, never negative.
    pub width: f64,
    /// Height, never negative.
    pub height: f64,
}

/// Where everything of a [`Drawing`] goes, as computed by [`layout`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    /// Width of the whole picture, margins included.
    pub width: f64,
    /// Height of the whole picture, margins included.
    pub height: f64,
    /// One entry per node of the drawing, in the same order.
    pub nodes: Vec<NodeGeometry>,
    /// One entry per edge of the drawing, in the same order.
    pub edges: Vec<EdgeGeometry>,
    /// The box of each cluster of the drawing, in the same order; `None` for
    /// a cluster without nodes (in it or in its descendants), which is not
    /// drawn. A cluster's label sits at the top left inside its box.
    pub clusters: Vec<Option<Rect>>,
}

/// Where a node goes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeGeometry {
    /// The bounding box of the node's shape.
    pub rect: Rect,
    /// The node's rank: its row (top to bottom) or column (left to right).
    /// Every edge goes from a lower rank to a higher one, except those
    /// reversed to break a cycle and self-loops.
    pub rank: usize,
}

/// How an edge is drawn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdgeGeometry {
    /// A path of cubic Bézier curves: the start point on the source's
    /// outline, then three points (two control points and an end point) per
    /// curve. It ends at the base of the arrowhead.
    pub path: Vec<Point>,
    /// The tip of the arrowhead, on the target's outline.
    pub head: Point,
    /// Centre of the edge's label, if it has one.
    pub label: Option<Point>,
}

/// Margin around the picture.
const MARGIN: f64 = 12.0;
/// Room inside a box between its side and its content.
const CLUSTER_PAD: f64 = 10.0;
/// Gap between a box and its neighbours outside it.
const CLUSTER_GAP: f64 = 14.0;
/// Room at the top of a box for its label.
const CLUSTER_HEAD: f64 = SMALL_FONT_SIZE * LINE_HEIGHT + 10.0;
/// Length of an arrowhead.
pub(crate) const ARROW_LENGTH: f64 = 9.0;
/// Gap between an edge and its label.
const LABEL_GAP: f64 = 4.0;
/// Width of a self-loop beyond its node.
const LOOP_SIZE: f64 = 22.0;
/// Distance between two edges leaving or entering a node side by side.
const PORT_GAP: f64 = 9.0;

/// Lays out `drawing`: ranks by longest path, a few barycentre sweeps to
/// reduce crossings with every cluster kept together, coordinates that keep
/// edges short and straight (rank by rank least squares, clusters moved as
/// wholes), edges as smooth curves through one point per rank. Label sizes
/// are estimated from their characters. Near-linear time: 5,000 nodes take
/// a few tens of milliseconds in a release build.
///
/// Guarantees, relied on by the tests: all coordinates are finite; no two
/// nodes overlap; every node is inside the boxes of its cluster and of its
/// ancestors and outside every other box; boxes of clusters are either
/// nested or disjoint.
///
/// # Panics
///
/// If [`Drawing::validate`] fails.
pub fn layout(drawing: &Drawing) -> Layout {
    drawing.assert_valid();
    let across_is_y = drawing.rankdir == RankDir::TopBottom;
    let sizes: Vec<(f64, f64)> = drawing
        .nodes
        .iter()
        .map(|v| node_size(&v.label, v.shape))
        .collect();
    // (along, across) extents of a node.
    let extent = |v: usize| {
        let (w, h) = sizes[v];
        if across_is_y {
            (w, h)
        } else {
            (h, w)
        }
    };
    let label_size = |label: &str| {
        let (w, h) = text::block_size(label, SMALL_FONT_SIZE);
        if across_is_y {
            (w, h)
        } else {
            (h, w)
        }
    };

    let ranking = rank::rank(drawing);
    let mut clusters = Clusters::new(drawing);
    let g = Layered::new(drawing, &ranking, &clusters);
    clusters.set_spans(&g);
    let tokens = order::order(&g, &clusters);

    // Extents along the rank: half a node each side, a self-loop on the
    // right, a long edge's label right of its middle dummy.
    let mut left = vec![0.0; g.len()];
    let mut right = vec![0.0; g.len()];
    for v in 0..g.nodes {
        let half = extent(v).0 / 2.0;
        left[v] = half;
        right[v] = half;
    }
    for (e, edge) in drawing.edges.iter().enumerate() {
        match (&g.chains[e], &edge.label) {
            (None, label) => {
                let label = label
                    .as_deref()
                    .map_or(0.0, |l| LABEL_GAP + label_size(l).0);
                right[edge.from] = extent(edge.from).0 / 2.0 + LOOP_SIZE + label;
            }
            (Some(chain), Some(label)) if chain.len() > 2 => {
                right[chain[chain.len() / 2]] = LABEL_GAP + label_size(label).0;
            }
            _ => {}
        }
    }
    let head_along = if across_is_y {
        0.0
    } else {
        CLUSTER_HEAD - CLUSTER_PAD
    };
    let spacing = Spacing {
        left,
        right,
        node_gap: if across_is_y { 24.0 } else { 14.0 },
        dummy_gap: 10.0,
        cluster_gap: CLUSTER_GAP,
        pad_open: CLUSTER_PAD + head_along,
        pad_close: CLUSTER_PAD,
        min_width: drawing
            .clusters
            .iter()
            .map(|k| {
                if across_is_y {
                    text::line_width(&k.label, SMALL_FONT_SIZE) + 2.0 * CLUSTER_PAD
                } else {
                    0.0
                }
            })
            .collect(),
    };
    let along = position::position(&g, &clusters, &tokens, &spacing);

    let Across {
        top,
        thick,
        heads,
        feet,
    } = across(drawing, &g, &clusters, &extent, &label_size, across_is_y);
    let head_across = if across_is_y {
        CLUSTER_HEAD
    } else {
        CLUSTER_PAD
    };
    let c = clusters.len();
    let centre = |r: usize| top[r] + thick[r] / 2.0;

    // Everything in (along, across) coordinates, turned into (x, y) last.
    let flip = |along: f64, across: f64| {
        if across_is_y {
            Point {
                x: along,
                y: across,
            }
        } else {
            Point {
                x: across,
                y: along,
            }
        }
    };
    let offset = MARGIN;
    let nodes: Vec<NodeGeometry> = (0..g.nodes)
        .map(|v| {
            let (a, b) = extent(v);
            let p = flip(
                offset + along.item[v] - a / 2.0,
                centre(g.rank[v]) - b / 2.0,
            );
            let (width, height) = sizes[v];
            NodeGeometry {
                rect: Rect {
                    x: p.x,
                    y: p.y,
                    width,
                    height,
                },
                rank: g.rank[v],
            }
        })
        .collect();
    let cluster_rects: Vec<Option<Rect>> = (0..c)
        .map(|k| {
            let (lo, hi) = clusters.span[k]?;
            let a0 = offset + along.open[k];
            let a1 = offset + along.close[k];
            let b0 = top[lo] - heads[k] as f64 * head_across;
            let b1 = top[hi] + thick[hi] + feet[k] as f64 * CLUSTER_PAD;
            let p = flip(a0, b0);
            let q = flip(a1, b1);
            Some(Rect {
                x: p.x,
                y: p.y,
                width: q.x - p.x,
                height: q.y - p.y,
            })
        })
        .collect();

    let edges = route::route(
        drawing,
        &g,
        &ranking.reversed,
        &along.item,
        &Routing {
            offset,
            extent: &extent,
            label_size: &label_size,
            top: &top,
            thick: &thick,
            flip: &flip,
        },
    );

    let mut width: f64 = 0.0;
    let mut height: f64 = 0.0;
    let mut grow = |p: Point| {
        width = width.max(p.x);
        height = height.max(p.y);
    };
    for n in &nodes {
        grow(Point {
            x: n.rect.x + n.rect.width,
            y: n.rect.y + n.rect.height,
        });
    }
    for r in cluster_rects.iter().flatten() {
        grow(Point {
            x: r.x + r.width,
            y: r.y + r.height,
        });
    }
    for (e, geometry) in edges.iter().enumerate() {
        geometry.path.iter().for_each(|&p| grow(p));
        if let (Some(at), Some(label)) = (geometry.label, &drawing.edges[e].label) {
            let (w, h) = text::block_size(label, SMALL_FONT_SIZE);
            grow(Point {
                x: at.x + w / 2.0,
                y: at.y + h / 2.0,
            });
        }
    }
    Layout {
        width: (width + MARGIN).ceil(),
        height: (height + MARGIN).ceil(),
        nodes,
        edges,
        clusters: cluster_rects,
    }
}

/// Where the ranks go across.
struct Across {
    /// Where each rank starts.
    top: Vec<f64>,
    /// How thick each rank is.
    thick: Vec<f64>,
    /// For each cluster, the number of boxes that start at its first rank
    /// and are nested in it, itself included: its top is that many heads
    /// above its first rank.
    heads: Vec<usize>,
    /// Likewise for boxes ending at its last rank.
    feet: Vec<usize>,
}

/// Places the ranks across: each rank is as thick as its thickest node (or
/// edge label beside a dummy); between two ranks go the feet of the boxes
/// ending above, a gap (wider for an edge label), and the heads of the
/// boxes starting below, one per level of nesting.
fn across(
    drawing: &Drawing,
    g: &Layered,
    clusters: &Clusters,
    extent: &dyn Fn(usize) -> (f64, f64),
    label_size: &dyn Fn(&str) -> (f64, f64),
    across_is_y: bool,
) -> Across {
    let head_across = if across_is_y {
        CLUSTER_HEAD
    } else {
        CLUSTER_PAD
    };
    let c = clusters.len();
    let mut by_depth: Vec<usize> = (0..c).filter(|&k| clusters.span[k].is_some()).collect();
    by_depth.sort_by_key(|&k| std::cmp::Reverse(clusters.depth[k]));
    // Number of boxes starting (ending) at a cluster's first (last) rank,
    // nested in it, itself included.
    let mut heads = vec![1usize; c];
    let mut feet = vec![1usize; c];
    for &k in &by_depth {
        if let (Some(p), Some((lo, hi))) = (clusters.parent[k], clusters.span[k]) {
            let (plo, phi) = clusters.span[p].unwrap_or((lo, hi));
            if plo == lo {
                heads[p] = heads[p].max(heads[k] + 1);
            }
            if phi == hi {
                feet[p] = feet[p].max(feet[k] + 1);
            }
        }
    }
    let ranks = g.ranks;
    let mut thick = vec![0.0f64; ranks];
    for v in 0..g.nodes {
        thick[g.rank[v]] = thick[g.rank[v]].max(extent(v).1);
    }
    let mut above = vec![0.0f64; ranks];
    let mut below = vec![0.0f64; ranks];
    for &k in &by_depth {
        if let Some((lo, hi)) = clusters.span[k] {
            above[lo] = above[lo].max(heads[k] as f64 * head_across);
            below[hi] = below[hi].max(feet[k] as f64 * CLUSTER_PAD);
        }
    }
    // Room for edge labels: beside a dummy, within its rank; between two
    // ranks, within the gap.
    let mut gap: Vec<f64> = vec![if across_is_y { 44.0 } else { 56.0 }; ranks];
    for (e, edge) in drawing.edges.iter().enumerate() {
        if let (Some(chain), Some(label)) = (&g.chains[e], &edge.label) {
            let across = label_size(label).1;
            if chain.len() > 2 {
                let r = g.rank[chain[chain.len() / 2]];
                thick[r] = thick[r].max(across);
            } else {
                let r = g.rank[chain[0]];
                gap[r] = gap[r].max(across + 4.0 * LABEL_GAP);
            }
        }
    }
    let mut top = vec![0.0f64; ranks];
    let mut at = MARGIN;
    for r in 0..ranks {
        at += above[r];
        top[r] = at;
        at += thick[r] + below[r] + gap[r];
    }
    Across {
        top,
        thick,
        heads,
        feet,
    }
}

/// Width and height of a node with `label` drawn as `shape`.
pub(crate) fn node_size(label: &str, shape: Shape) -> (f64, f64) {
    let (w, h) = text::block_size(label, FONT_SIZE);
    match shape {
        Shape::Box | Shape::Rounded => ((w + 24.0).max(48.0), h + 14.0),
        Shape::Ellipse => ((w * 1.2 + 28.0).max(56.0), h * 1.4 + 12.0),
        Shape::Circle => {
            let d = (w.hypot(h) + 12.0).max(36.0);
            (d, d)
        }
        Shape::Diamond => ((w * 1.6 + 28.0).max(56.0), h * 1.8 + 14.0),
    }
}
