//! Step 5: edges as curves through their chains.

use super::order::Layered;
use super::{EdgeGeometry, Point, ARROW_LENGTH, LABEL_GAP, LOOP_SIZE, PORT_GAP};
use crate::model::{Drawing, Shape};

/// How far from its centre, across ranks, the outline of a node is at
/// `offset` along the rank; `along` and `across` are half extents.
pub(super) fn outline(shape: Shape, along: f64, across: f64, offset: f64) -> f64 {
    let t = (offset / along).clamp(-1.0, 1.0);
    match shape {
        Shape::Box | Shape::Rounded => across,
        Shape::Ellipse | Shape::Circle => across * (1.0 - t * t).max(0.0).sqrt(),
        Shape::Diamond => across * (1.0 - t.abs()),
    }
}

/// What routing needs from the rest of the layout.
pub(super) struct Routing<'a> {
    /// Added to every coordinate along the rank (the margin).
    pub offset: f64,
    /// (along, across) extents of a node.
    pub extent: &'a dyn Fn(usize) -> (f64, f64),
    /// (along, across) extents of an edge label.
    pub label_size: &'a dyn Fn(&str) -> (f64, f64),
    /// Where each rank starts across.
    pub top: &'a [f64],
    /// How thick each rank is.
    pub thick: &'a [f64],
    /// (along, across) to (x, y).
    pub flip: &'a dyn Fn(f64, f64) -> Point,
}

/// Draws every edge through its chain: from the source's outline, straight
/// through the rank of each dummy, with an S-curve between ranks, to the
/// target's outline. Several edges at one side of a node leave (or arrive)
/// side by side, in the order of where they go (or come from).
pub(super) fn route(
    drawing: &Drawing,
    g: &Layered,
    reversed: &[bool],
    x: &[f64],
    ctx: &Routing,
) -> Vec<EdgeGeometry> {
    let n = g.nodes;
    let shape = |v: usize| drawing.nodes[v].shape;
    // Port offsets: for each edge, along-offset at its top and bottom end.
    let mut ports = vec![(0.0, 0.0); drawing.edges.len()];
    let mut leaving: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    let mut arriving: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    for (e, chain) in g.chains.iter().enumerate() {
        if let Some(chain) = chain {
            let (a, b) = (chain[0], chain[chain.len() - 1]);
            leaving[a].push((x[chain[1]], e));
            arriving[b].push((x[chain[chain.len() - 2]], e));
        }
    }
    let spread =
        |v: usize, list: &mut Vec<(f64, usize)>, ports: &mut Vec<(f64, f64)>, top: bool| {
            let k = list.len();
            if k < 2 {
                return;
            }
            list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let half = (ctx.extent)(v).0 / 2.0;
            let room = match shape(v) {
                Shape::Box | Shape::Rounded => 0.7 * half,
                _ => 0.45 * half,
            };
            let gap = PORT_GAP.min(2.0 * room / (k - 1) as f64);
            for (i, &(_, e)) in list.iter().enumerate() {
                let o = (i as f64 - (k - 1) as f64 / 2.0) * gap;
                if top {
                    ports[e].0 = o;
                } else {
                    ports[e].1 = o;
                }
            }
        };
    for v in 0..n {
        spread(v, &mut leaving[v], &mut ports, true);
        spread(v, &mut arriving[v], &mut ports, false);
    }

    let centre = |r: usize| ctx.top[r] + ctx.thick[r] / 2.0;
    let at = |v: usize| ctx.offset + x[v];
    drawing
        .edges
        .iter()
        .enumerate()
        .map(|(e, edge)| {
            let label_size = edge.label.as_deref().map(ctx.label_size);
            let Some(chain) = &g.chains[e] else {
                return self_loop(
                    edge.from,
                    shape(edge.from),
                    at(edge.from),
                    centre(g.rank[edge.from]),
                    ctx,
                    label_size,
                );
            };
            let (a, b) = (chain[0], chain[chain.len() - 1]);
            let (ea, eb) = ((ctx.extent)(a), (ctx.extent)(b));
            let (pa, pb) = ports[e];
            // Stations: (along, across) where the edge enters and leaves
            // each rank it crosses.
            let start = (
                at(a) + pa,
                centre(g.rank[a]) + outline(shape(a), ea.0 / 2.0, ea.1 / 2.0, pa),
            );
            let end = (
                at(b) + pb,
                centre(g.rank[b]) - outline(shape(b), eb.0 / 2.0, eb.1 / 2.0, pb),
            );
            let mut pts: Vec<(f64, f64)> = vec![start];
            let link = |pts: &mut Vec<(f64, f64)>, to: (f64, f64)| {
                let from = *pts.last().unwrap_or(&to);
                let mid = (to.1 - from.1) / 2.0;
                pts.extend([(from.0, from.1 + mid), (to.0, to.1 - mid), to]);
            };
            for &d in &chain[1..chain.len() - 1] {
                let r = g.rank[d];
                let (enter, leave) = ((at(d), ctx.top[r]), (at(d), ctx.top[r] + ctx.thick[r]));
                link(&mut pts, enter);
                if leave != enter {
                    let third = (leave.1 - enter.1) / 3.0;
                    pts.extend([
                        (enter.0, enter.1 + third),
                        (enter.0, leave.1 - third),
                        leave,
                    ]);
                }
            }
            link(&mut pts, end);
            if reversed[e] {
                pts.reverse();
            }
            let label = label_size.map(|(w, _)| {
                if chain.len() > 2 {
                    let d = chain[chain.len() / 2];
                    (at(d) + LABEL_GAP + w / 2.0, centre(g.rank[d]))
                } else {
                    (
                        (start.0 + end.0) / 2.0 + LABEL_GAP + w / 2.0,
                        (start.1 + end.1) / 2.0,
                    )
                }
            });
            finish(pts, label, ctx)
        })
        .collect()
}

/// A loop from a node back to itself, right of it along the rank.
fn self_loop(
    v: usize,
    shape: Shape,
    along: f64,
    across: f64,
    ctx: &Routing,
    label: Option<(f64, f64)>,
) -> EdgeGeometry {
    let (a, b) = (ctx.extent)(v);
    let (ha, hb) = (a / 2.0, b / 2.0);
    let side = |t: f64| along + outline(shape, hb, ha, t);
    let out = ha + LOOP_SIZE;
    let pts = vec![
        (side(-hb / 2.0), across - hb / 2.0),
        (along + out, across - hb * 1.2),
        (along + out, across + hb * 1.2),
        (side(hb / 2.0), across + hb / 2.0),
    ];
    let label = label.map(|(w, _)| (along + out + LABEL_GAP + w / 2.0, across));
    finish(pts, label, ctx)
}

/// Shortens the last curve by an arrowhead and turns the points into (x, y).
fn finish(mut pts: Vec<(f64, f64)>, label: Option<(f64, f64)>, ctx: &Routing) -> EdgeGeometry {
    let tip = pts[pts.len() - 1];
    let before = pts[pts.len() - 2];
    let (mut dx, mut dy) = (tip.0 - before.0, tip.1 - before.1);
    let len = dx.hypot(dy);
    if len < 1e-9 {
        (dx, dy) = (0.0, 1.0);
    } else {
        (dx, dy) = (dx / len, dy / len);
    }
    let n = pts.len();
    pts[n - 1] = (tip.0 - dx * ARROW_LENGTH, tip.1 - dy * ARROW_LENGTH);
    EdgeGeometry {
        path: pts.into_iter().map(|(a, b)| (ctx.flip)(a, b)).collect(),
        head: (ctx.flip)(tip.0, tip.1),
        label: label.map(|(a, b)| (ctx.flip)(a, b)),
    }
}
