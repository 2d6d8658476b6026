//! SVG output: well-formed XML (read back with roxmltree), one group per
//! node, edge and cluster, escaped text, and snapshots of its structure.

mod common;

use std::fmt::Write;

use common::{nested, tutorial};
use roxmltree::Document;
use taskgraph_viz::{
    layout, render_svg, to_svg, Drawing, Edge, Node, RankDir, Shape, State, Style,
};

/// The groups with `class` starting with `prefix`.
fn groups<'a>(doc: &'a Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("g")
                && n.attribute("class")
                    .is_some_and(|c| c.split(' ').next() == Some(class))
        })
        .collect()
}

/// The text of a `<text>`, its lines joined by `\n`.
fn text_of(node: roxmltree::Node) -> String {
    node.children()
        .filter(|t| t.has_tag_name("tspan") || t.is_text())
        .map(|t| t.text().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line per element name with its count, then one per group class.
fn structure(svg: &str) -> String {
    let doc = Document::parse(svg).expect("well-formed SVG");
    let root = doc.root_element();
    let mut out = format!(
        "svg width={} height={} viewBox={}\n",
        root.attribute("width").unwrap(),
        root.attribute("height").unwrap(),
        root.attribute("viewBox").unwrap()
    );
    let mut counts = std::collections::BTreeMap::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        *counts.entry(n.tag_name().name().to_owned()).or_insert(0) += 1;
        if n.has_tag_name("g") {
            *counts
                .entry(format!("g.{}", n.attribute("class").unwrap_or("")))
                .or_insert(0) += 1;
        }
    }
    for (name, count) in counts {
        let _ = writeln!(out, "{name}: {count}");
    }
    out
}

#[test]
fn tiny_graph_snapshot() {
    let mut d = Drawing::new(RankDir::TopBottom);
    let k = d.add_cluster("loop", None);
    let a = d.add_node(Node::new("load").with_tooltip("`load` at src/main.rs:3:13"));
    let b = d.add_node(
        Node::new("work")
            .in_cluster(k)
            .with_style(Style::State(State::Running)),
    );
    d.edges.push(Edge::new(a, b).with_label("x"));
    insta::assert_snapshot!(to_svg(&d));
}

#[test]
fn tiny_graph_left_to_right_snapshot() {
    let mut d = Drawing::new(RankDir::LeftRight);
    let a = d.add_node(Node::new("a").with_shape(Shape::Circle));
    let b = d.add_node(Node::new("b").with_shape(Shape::Diamond));
    d.add_edge(a, b);
    insta::assert_snapshot!(to_svg(&d));
}

#[test]
fn tutorial_graph_structure() {
    for (rankdir, name) in [(RankDir::TopBottom, "tb"), (RankDir::LeftRight, "lr")] {
        let d = tutorial(rankdir);
        let svg = to_svg(&d);
        let doc = Document::parse(&svg).unwrap();
        assert_eq!(groups(&doc, "node").len(), 31);
        assert_eq!(groups(&doc, "edge").len(), 38);
        assert_eq!(groups(&doc, "cluster").len(), 8);
        // A line and an arrowhead per edge.
        assert_eq!(
            doc.descendants().filter(|n| n.has_tag_name("path")).count(),
            76
        );
        insta::assert_snapshot!(format!("tutorial_structure_{name}"), structure(&svg));
    }
}

#[test]
fn nested_clusters_are_drawn_parents_first() {
    let svg = to_svg(&nested(RankDir::TopBottom));
    let doc = Document::parse(&svg).unwrap();
    let ids: Vec<&str> = groups(&doc, "cluster")
        .iter()
        .map(|g| g.attribute("id").unwrap())
        .collect();
    assert_eq!(ids, ["cluster0", "cluster1", "cluster2"]);
    insta::assert_snapshot!(structure(&svg));
}

#[test]
fn text_is_escaped() {
    let tricky = "a<b & \"c\" 'd' </text> ]]> &amp;";
    let mut d = Drawing::new(RankDir::TopBottom);
    let k = d.add_cluster(tricky, None);
    let a = d.add_node(Node::new(tricky).in_cluster(k).with_tooltip(tricky));
    let b = d.add_node(Node::new(format!("{tricky}\nsecond line")));
    d.edges.push(Edge::new(a, b).with_label(tricky));
    for rankdir in [RankDir::TopBottom, RankDir::LeftRight] {
        d.rankdir = rankdir;
        let svg = to_svg(&d);
        let doc = Document::parse(&svg).expect("well-formed SVG");
        let nodes = groups(&doc, "node");
        let title = nodes[0]
            .children()
            .find(|n| n.has_tag_name("title"))
            .unwrap();
        assert_eq!(title.text(), Some(tricky));
        let label =
            |g: roxmltree::Node| text_of(g.children().find(|n| n.has_tag_name("text")).unwrap());
        assert_eq!(label(nodes[0]), tricky);
        assert_eq!(label(nodes[1]), format!("{tricky}\nsecond line"));
        assert_eq!(label(groups(&doc, "edge")[0]), tricky);
        if rankdir == RankDir::TopBottom {
            // Boxes are wide enough for their labels, which are never cut.
            let cluster = doc
                .descendants()
                .find(|n| n.attribute("id") == Some("cluster0-label"))
                .unwrap();
            assert_eq!(text_of(cluster), tricky);
        }
    }
}

#[test]
fn control_characters_do_not_break_the_xml() {
    let mut d = Drawing::default();
    d.add_node(Node::new("nul\u{0} bell\u{7} tab\t").with_tooltip("esc\u{1b}"));
    let svg = to_svg(&d);
    let doc = Document::parse(&svg).expect("well-formed SVG");
    assert!(doc
        .descendants()
        .any(|n| n.text() == Some("nul\u{FFFD} bell\u{FFFD} tab\t")));
}

#[test]
fn states_are_classes_and_colours() {
    let mut d = Drawing::default();
    for state in [
        State::Waiting,
        State::Ready,
        State::Running,
        State::Done,
        State::Failed,
    ] {
        d.add_node(Node::new(state.name()).with_style(Style::State(state)));
    }
    d.add_node(
        Node::new("custom").with_style(Style::Fill(taskgraph_viz::Rgb::new(0x12, 0xab, 0xef))),
    );
    let svg = to_svg(&d);
    let doc = Document::parse(&svg).unwrap();
    let nodes = groups(&doc, "node");
    let classes: Vec<&str> = nodes
        .iter()
        .map(|g| g.attribute("class").unwrap())
        .collect();
    assert_eq!(
        classes,
        [
            "node state-waiting",
            "node state-ready",
            "node state-running",
            "node state-done",
            "node state-failed",
            "node"
        ]
    );
    let fills: std::collections::HashSet<&str> = nodes
        .iter()
        .map(|g| {
            g.children()
                .find(|n| n.has_tag_name("rect"))
                .unwrap()
                .attribute("fill")
                .unwrap()
        })
        .collect();
    assert_eq!(fills.len(), 6);
    assert!(fills.contains("#12abef"));
}

#[test]
fn a_new_state_redraws_without_moving_anything() {
    let mut d = tutorial(RankDir::TopBottom);
    let before = layout(&d);
    for node in &mut d.nodes {
        node.style = Style::State(State::Running);
    }
    assert_eq!(render_svg(&d, &before), to_svg(&d));
    assert_eq!(layout(&d), before);
}

#[test]
#[should_panic(expected = "the layout is not one of this drawing")]
fn a_layout_of_another_drawing_panics() {
    let l = layout(&tutorial(RankDir::TopBottom));
    render_svg(&nested(RankDir::TopBottom), &l);
}
