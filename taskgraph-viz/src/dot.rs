//! Graphviz DOT output.

use std::fmt::Write;

use crate::model::{Drawing, Node, RankDir, Shape, Style};
use crate::palette;
use crate::text::{push_dot, FONT_FAMILY};

/// Writes `drawing` in the DOT language of Graphviz.
///
/// Nodes are `n0`, `n1`, ... in the order of [`Drawing::nodes`], cluster `k`
/// is `subgraph cluster_k` nested inside its parent's subgraph, and every
/// label and tooltip is a double-quoted string with `"` and `\` escaped and
/// line feeds written as `\n`. The output is deterministic, so it can be
/// compared with a snapshot. Costs time linear in the size of the drawing.
///
/// # Panics
///
/// If [`Drawing::validate`] fails.
pub fn to_dot(drawing: &Drawing) -> String {
    drawing.assert_valid();
    let mut out = String::new();
    let rankdir = match drawing.rankdir {
        RankDir::TopBottom => "TB",
        RankDir::LeftRight => "LR",
    };
    let font = quoted(FONT_FAMILY);
    let _ = writeln!(out, "digraph {{");
    let _ = writeln!(
        out,
        "    graph [rankdir={rankdir}, fontname={font}, fontsize=12];"
    );
    let _ = writeln!(
        out,
        "    node [fontname={font}, fontsize=14, color=\"{}\", fontcolor=\"{}\"];",
        palette::INK,
        palette::TEXT
    );
    let _ = writeln!(
        out,
        "    edge [color=\"{}\", fontname={font}, fontsize=12];",
        palette::INK
    );

    // Which nodes and clusters sit directly in each cluster; the last entry
    // is the top level.
    let top = drawing.clusters.len();
    let mut nodes_in = vec![Vec::new(); top + 1];
    for (i, node) in drawing.nodes.iter().enumerate() {
        nodes_in[node.cluster.unwrap_or(top)].push(i);
    }
    let mut clusters_in = vec![Vec::new(); top + 1];
    for (k, cluster) in drawing.clusters.iter().enumerate() {
        clusters_in[cluster.parent.unwrap_or(top)].push(k);
    }

    // Depth-first over the clusters without recursion: (cluster, depth);
    // `None` closes the subgraph opened last.
    let mut stack: Vec<Option<(usize, usize)>> = Vec::new();
    write_members(&mut out, drawing, &nodes_in[top], 1);
    stack.extend(clusters_in[top].iter().rev().map(|&k| Some((k, 1))));
    let mut indent = 1;
    while let Some(entry) = stack.pop() {
        let Some((k, depth)) = entry else {
            indent -= 1;
            let _ = writeln!(out, "{}}}", pad(indent));
            continue;
        };
        let cluster = &drawing.clusters[k];
        let _ = writeln!(out, "{}subgraph cluster_{k} {{", pad(indent));
        indent += 1;
        let _ = writeln!(
            out,
            "{}label={}; labeljust=l; style=\"rounded,filled\"; fillcolor=\"{}\"; color=\"{}\"; fontcolor=\"{}\";",
            pad(indent),
            quoted(&cluster.label),
            palette::cluster_fill(depth - 1),
            palette::CLUSTER_LINE,
            palette::CLUSTER_TEXT,
        );
        write_members(&mut out, drawing, &nodes_in[k], indent);
        stack.push(None);
        stack.extend(clusters_in[k].iter().rev().map(|&c| Some((c, depth + 1))));
    }

    for edge in &drawing.edges {
        let _ = write!(out, "    n{} -> n{}", edge.from, edge.to);
        if let Some(label) = &edge.label {
            let _ = write!(out, " [label={}]", quoted(label));
        }
        out.push_str(";\n");
    }
    out.push_str("}\n");
    out
}

/// One line per node in `nodes`, at `indent` levels.
fn write_members(out: &mut String, drawing: &Drawing, nodes: &[usize], indent: usize) {
    for &i in nodes {
        let _ = writeln!(
            out,
            "{}n{i} [{}];",
            pad(indent),
            attributes(&drawing.nodes[i])
        );
    }
}

/// The attribute list of a node, without brackets.
fn attributes(node: &Node) -> String {
    let (shape, rounded) = match node.shape {
        Shape::Box => ("box", false),
        Shape::Rounded => ("box", true),
        Shape::Ellipse => ("ellipse", false),
        Shape::Circle => ("circle", false),
        Shape::Diamond => ("diamond", false),
    };
    let style = if rounded {
        "\"rounded,filled\""
    } else {
        "filled"
    };
    let mut out = format!(
        "label={}, shape={shape}, style={style}, fillcolor=\"{}\"",
        quoted(&node.label),
        palette::fill(node.style)
    );
    if let Style::State(state) = node.style {
        let _ = write!(
            out,
            ", color=\"{}\", class=\"state-{}\"",
            palette::stroke(node.style),
            state.name()
        );
    }
    if let Some(tooltip) = &node.tooltip {
        let _ = write!(out, ", tooltip={}", quoted(tooltip));
    }
    out
}

/// `text` as a DOT double-quoted string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    push_dot(&mut out, text);
    out.push('"');
    out
}

/// Four spaces per level.
fn pad(indent: usize) -> String {
    "    ".repeat(indent)
}
