//! SVG output.

use std::fmt::{self, Display, Write};

use crate::layout::{layout, Layout, Point, Rect, ARROW_LENGTH};
use crate::model::{Drawing, RankDir, Shape, Style};
use crate::palette;
use crate::text::{self, push_xml, FONT_FAMILY, FONT_SIZE, LINE_HEIGHT, SMALL_FONT_SIZE};

/// Lays out `drawing` with [`layout`](crate::layout()) and draws it as a
/// standalone SVG document. Same cost as `layout`, plus linear time.
///
/// The document has four groups, drawn in this order: `<g class="clusters">`
/// with one `<g class="cluster" id="clusterK">` per drawn cluster (its box;
/// parents before children), `<g class="edges">` with one `<g class="edge"
/// id="edgeK">` per edge (a `<path>` for the line, one for the arrowhead, a
/// `<text>` for the label), `<g class="cluster-labels">` with one `<text
/// id="clusterK-label">` per drawn cluster (above the edges that enter the
/// box), and `<g class="nodes">` with one `<g class="node" id="nodeK">` per
/// node (its `<title>` tooltip, its shape, its `<text>`).
/// A node with a [`Style::State`] also has the class `state-<name>`. Colours
/// are presentation attributes, so any CSS rule overrides them. All text is
/// escaped.
///
/// # Panics
///
/// If [`Drawing::validate`] fails.
pub fn to_svg(drawing: &Drawing) -> String {
    render_svg(drawing, &layout(drawing))
}

/// Draws `drawing` where `layout` puts it. A page showing a running graph
/// can lay it out once and redraw it with new [`Node::style`]s, and nothing
/// moves. Linear time.
///
/// # Panics
///
/// If [`Drawing::validate`] fails, or `layout` does not have as many nodes,
/// edges and clusters as `drawing`.
///
/// [`Node::style`]: crate::Node::style
pub fn render_svg(drawing: &Drawing, layout: &Layout) -> String {
    drawing.assert_valid();
    assert!(
        layout.nodes.len() == drawing.nodes.len()
            && layout.edges.len() == drawing.edges.len()
            && layout.clusters.len() == drawing.clusters.len(),
        "the layout is not one of this drawing"
    );
    let mut out =
        String::with_capacity(256 + 400 * drawing.nodes.len() + 300 * drawing.edges.len());
    let (w, h) = (Num(layout.width), Num(layout.height));
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"{FONT_FAMILY}\">"
    );
    let _ = writeln!(out, "<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>");

    out.push_str("<g class=\"clusters\">\n");
    let depth: Vec<usize> = (0..drawing.clusters.len())
        .map(|mut k| {
            let mut d = 0;
            while let Some(p) = drawing.clusters[k].parent {
                d += 1;
                k = p;
            }
            d
        })
        .collect();
    let mut by_depth: Vec<usize> = (0..drawing.clusters.len()).collect();
    by_depth.sort_by_key(|&k| depth[k]);
    for &k in &by_depth {
        if let Some(rect) = layout.clusters[k] {
            cluster_box(&mut out, k, rect, depth[k]);
        }
    }
    out.push_str("</g>\n<g class=\"edges\">\n");
    for (e, geometry) in layout.edges.iter().enumerate() {
        let _ = write!(out, "<g class=\"edge\" id=\"edge{e}\"><path d=\"");
        path_data(&mut out, &geometry.path);
        let _ = write!(
            out,
            "\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.2\"/>",
            palette::INK
        );
        arrowhead(&mut out, geometry.path.last().copied(), geometry.head);
        if let (Some(at), Some(label)) = (geometry.label, &drawing.edges[e].label) {
            let _ = write!(
                out,
                "<text font-size=\"{}\" fill=\"{}\" text-anchor=\"middle\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">",
                Num(SMALL_FONT_SIZE),
                palette::TEXT
            );
            lines(&mut out, label, at, SMALL_FONT_SIZE);
            out.push_str("</text>");
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n<g class=\"cluster-labels\">\n");
    for &k in &by_depth {
        if let Some(rect) = layout.clusters[k] {
            cluster_label(&mut out, drawing, k, rect, depth[k]);
        }
    }
    out.push_str("</g>\n<g class=\"nodes\">\n");
    for (i, node) in drawing.nodes.iter().enumerate() {
        let r = layout.nodes[i].rect;
        out.push_str("<g class=\"node");
        if let Style::State(state) = node.style {
            let _ = write!(out, " state-{}", state.name());
        }
        let _ = write!(out, "\" id=\"node{i}\">");
        if let Some(tooltip) = &node.tooltip {
            out.push_str("<title>");
            push_xml(&mut out, tooltip);
            out.push_str("</title>");
        }
        let paint = format!(
            "fill=\"{}\" stroke=\"{}\" stroke-width=\"1.2\"",
            palette::fill(node.style),
            palette::stroke(node.style)
        );
        let (cx, cy) = (r.x + r.width / 2.0, r.y + r.height / 2.0);
        let _ = match node.shape {
            Shape::Box | Shape::Rounded => {
                let rx = if node.shape == Shape::Rounded {
                    " rx=\"7\""
                } else {
                    ""
                };
                write!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"{rx} {paint}/>",
                    Num(r.x),
                    Num(r.y),
                    Num(r.width),
                    Num(r.height)
                )
            }
            Shape::Ellipse => write!(
                out,
                "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" {paint}/>",
                Num(cx),
                Num(cy),
                Num(r.width / 2.0),
                Num(r.height / 2.0)
            ),
            Shape::Circle => write!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" {paint}/>",
                Num(cx),
                Num(cy),
                Num(r.width / 2.0)
            ),
            Shape::Diamond => write!(
                out,
                "<polygon points=\"{},{} {},{} {},{} {},{}\" {paint}/>",
                Num(cx),
                Num(r.y),
                Num(r.x + r.width),
                Num(cy),
                Num(cx),
                Num(r.y + r.height),
                Num(r.x),
                Num(cy)
            ),
        };
        let _ = write!(
            out,
            "<text font-size=\"{}\" fill=\"{}\" text-anchor=\"middle\">",
            Num(FONT_SIZE),
            palette::TEXT
        );
        lines(&mut out, &node.label, Point { x: cx, y: cy }, FONT_SIZE);
        out.push_str("</text></g>\n");
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// A cluster's box and its label at the top left, cut short with `…` if
/// the box is narrower than the label (only when edges point right: boxes
/// are made wide enough for their labels otherwise).
fn cluster_box(out: &mut String, k: usize, rect: Rect, depth: usize) {
    let _ = writeln!(
        out,
        "<g class=\"cluster\" id=\"cluster{k}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\" fill=\"{}\" stroke=\"{}\"/></g>",
        Num(rect.x),
        Num(rect.y),
        Num(rect.width),
        Num(rect.height),
        palette::cluster_fill(depth),
        palette::CLUSTER_LINE
    );
}

/// A cluster's label at the top left of its box, with a halo of the box's
/// colour where edges pass under it; cut short with `…` if the box is
/// narrower than the label (only when edges point right: boxes are made wide
/// enough for their labels otherwise).
fn cluster_label(out: &mut String, drawing: &Drawing, k: usize, rect: Rect, depth: usize) {
    let mut label = drawing.clusters[k].label.replace('\n', " ");
    if drawing.rankdir == RankDir::LeftRight {
        label = text::ellipsize(&label, SMALL_FONT_SIZE, rect.width - 16.0);
    }
    let _ = write!(
        out,
        "<text class=\"cluster-label\" id=\"cluster{k}-label\" x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"4\" paint-order=\"stroke\">",
        Num(rect.x + 8.0),
        Num(rect.y + 5.0 + SMALL_FONT_SIZE * 0.9),
        Num(SMALL_FONT_SIZE),
        palette::CLUSTER_TEXT,
        palette::cluster_fill(depth)
    );
    push_xml(out, &label);
    out.push_str("</text>\n");
}

/// The lines of `label` as `<tspan>`s centred on `at`.
fn lines(out: &mut String, label: &str, at: Point, size: f64) {
    let count = label.split('\n').count();
    let step = size * LINE_HEIGHT;
    // 0.35 em below the middle of a line is about where its baseline goes.
    let first = at.y - (count - 1) as f64 * step / 2.0 + 0.35 * size;
    for (i, line) in label.split('\n').enumerate() {
        let _ = write!(
            out,
            "<tspan x=\"{}\" y=\"{}\">",
            Num(at.x),
            Num(first + i as f64 * step)
        );
        push_xml(out, line);
        out.push_str("</tspan>");
    }
}

/// `M x y C ...` for a start point and groups of three.
fn path_data(out: &mut String, path: &[Point]) {
    let Some(first) = path.first() else { return };
    let _ = write!(out, "M{},{}", Num(first.x), Num(first.y));
    for (i, p) in path[1..].iter().enumerate() {
        let sep = if i % 3 == 0 { " C" } else { " " };
        let _ = write!(out, "{sep}{},{}", Num(p.x), Num(p.y));
    }
}

/// A filled triangle from `base` (end of the line) to `tip`.
fn arrowhead(out: &mut String, base: Option<Point>, tip: Point) {
    let base = base.unwrap_or(tip);
    let (dx, dy) = (tip.x - base.x, tip.y - base.y);
    let len = dx.hypot(dy);
    let (ux, uy) = if len > 1e-9 {
        (dx / len, dy / len)
    } else {
        (0.0, 1.0)
    };
    let half = ARROW_LENGTH * 0.4;
    let _ = write!(
        out,
        "<path d=\"M{},{} L{},{} L{},{} Z\" fill=\"{}\"/>",
        Num(tip.x),
        Num(tip.y),
        Num(base.x - uy * half),
        Num(base.y + ux * half),
        Num(base.x + uy * half),
        Num(base.y - ux * half),
        palette::INK
    );
}

/// A coordinate with at most one decimal, without a trailing `.0`
/// (written through integers, which is several times faster than through
/// `f64`'s formatting).
struct Num(f64);

impl Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        if tenths < 0 {
            f.write_str("-")?;
        }
        let tenths = tenths.unsigned_abs();
        write!(f, "{}", tenths / 10)?;
        match tenths % 10 {
            0 => Ok(()),
            d => write!(f, ".{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Num;

    #[test]
    fn numbers_have_at_most_one_decimal() {
        let shown: Vec<String> = [0.0, -0.04, 1.0, 12.25, -1.25, 3.96, 1234.5]
            .iter()
            .map(|&v| Num(v).to_string())
            .collect();
        assert_eq!(shown, ["0", "0", "1", "12.3", "-1.3", "4", "1234.5"]);
    }
}
