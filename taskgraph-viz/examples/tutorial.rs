//! The graph of dask's `delayed` tutorial, as taskgraph builds it:
//!
//! ```text
//! for i in 0..8 { let x = inc(i); let y = dec(x); zs.push(add(x, y)); }
//! tree_reduce(zs, add)
//! ```
//!
//! drawn half way through a run. Writes `tutorial.svg` and `tutorial.dot`
//! next to this file: `cargo run --example tutorial`.

use std::path::Path;

use taskgraph_viz::{to_dot, to_svg, Drawing, Node, RankDir, Shape, State, Style};

fn main() -> std::io::Result<()> {
    let mut d = Drawing::new(RankDir::TopBottom);
    let state = |done: bool, running: bool| {
        Style::State(if done {
            State::Done
        } else if running {
            State::Running
        } else {
            State::Waiting
        })
    };
    let mut level = Vec::new();
    for i in 0..8 {
        let k = d.add_cluster(format!("i = {i}"), None);
        let node = |name: &str, style| {
            Node::new(name)
                .in_cluster(k)
                .with_shape(Shape::Ellipse)
                .with_style(style)
                .with_tooltip(format!("`{name}`, loop iteration [{i}]"))
        };
        let x = d.add_node(node("inc", state(i < 7, i == 7)));
        let y = d.add_node(node("dec", state(i < 6, i == 6)));
        let z = d.add_node(node("add", state(i < 5, i == 5)));
        d.add_edge(x, y);
        d.add_edge(x, z);
        d.add_edge(y, z);
        level.push(z);
    }
    let mut done = 2;
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            let style = if done > 0 {
                Style::State(State::Done)
            } else {
                Style::State(State::Waiting)
            };
            done -= 1;
            let z = d.add_node(
                Node::new("add")
                    .with_shape(Shape::Ellipse)
                    .with_style(style)
                    .with_tooltip("`add`, tree_reduce"),
            );
            for &p in pair {
                d.add_edge(p, z);
            }
            next.push(z);
        }
        level = next;
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::write(dir.join("tutorial.svg"), to_svg(&d))?;
    std::fs::write(dir.join("tutorial.dot"), to_dot(&d))?;
    Ok(())
}
