#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Why the layout is written here rather than taken from a crate:
//
// `layout-rs` (0.1.x, the most complete pure-Rust Graphviz-like renderer)
// parses DOT and draws it with a layered layout, but it flattens subgraphs:
// it draws no clusters, and boxes around loop iterations and nested loops are
// what keeps a task graph readable past a few hundred nodes. Other crates
// only write DOT (`dot`, `dot-writer`, `petgraph::dot`) or port dagre in part
// and undocumented (`dagre_rust`). A layered layout with clusters is about a
// thousand lines here (`layout/`, one file per stage), needs no dependency,
// and keeps the promises the tests check: boxes nested or disjoint, every
// node inside its own boxes and outside all others, nothing overlapping.
//
// PNG output (feature `png`) uses `resvg`: pure Rust, maintained by the
// linebender organisation, widely used, MIT or Apache-2.0. It is optional
// because it brings a text shaper and font loading.

mod dot;
mod layout;
mod model;
mod palette;
#[cfg(feature = "png")]
mod png;
mod svg;
mod text;

pub use dot::to_dot;
pub use layout::{layout, EdgeGeometry, Layout, NodeGeometry, Point, Rect};
pub use model::{Cluster, Drawing, DrawingError, Edge, Node, RankDir, Rgb, Shape, State, Style};
#[cfg(feature = "png")]
pub use png::{to_png, PngError};
pub use svg::{render_svg, to_svg};
