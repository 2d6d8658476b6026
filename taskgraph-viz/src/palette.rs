//! The colours shared by the DOT and the SVG output.

use crate::model::{Rgb, State, Style};

/// Outline of plain nodes and colour of edges.
pub(crate) const INK: Rgb = Rgb::new(0x49, 0x50, 0x57);
/// Text of labels.
pub(crate) const TEXT: Rgb = Rgb::new(0x21, 0x25, 0x29);
/// Text of cluster labels.
pub(crate) const CLUSTER_TEXT: Rgb = Rgb::new(0x49, 0x50, 0x57);
/// Outline of clusters.
pub(crate) const CLUSTER_LINE: Rgb = Rgb::new(0xad, 0xb5, 0xbd);

/// The fill of a node drawn with `style`.
pub(crate) fn fill(style: Style) -> Rgb {
    match style {
        Style::Plain => Rgb::new(0xff, 0xff, 0xff),
        Style::Fill(c) => c,
        Style::State(State::Waiting) => Rgb::new(0xf1, 0xf3, 0xf5),
        Style::State(State::Ready) => Rgb::new(0xd0, 0xeb, 0xff),
        Style::State(State::Running) => Rgb::new(0xff, 0xec, 0x99),
        Style::State(State::Done) => Rgb::new(0xb2, 0xf2, 0xbb),
        Style::State(State::Failed) => Rgb::new(0xff, 0xc9, 0xc9),
    }
}

/// The outline of a node drawn with `style`.
pub(crate) fn stroke(style: Style) -> Rgb {
    match style {
        Style::Plain | Style::Fill(_) => INK,
        Style::State(State::Waiting) => Rgb::new(0x86, 0x8e, 0x96),
        Style::State(State::Ready) => Rgb::new(0x22, 0x8b, 0xe6),
        Style::State(State::Running) => Rgb::new(0xf0, 0x8c, 0x00),
        Style::State(State::Done) => Rgb::new(0x2f, 0x9e, 0x44),
        Style::State(State::Failed) => Rgb::new(0xe0, 0x31, 0x31),
    }
}

/// The fill of a cluster nested `depth` levels deep (0 at the top level):
/// alternating greys, so that nested boxes stand apart.
pub(crate) fn cluster_fill(depth: usize) -> Rgb {
    if depth.is_multiple_of(2) {
        Rgb::new(0xf8, 0xf9, 0xfa)
    } else {
        Rgb::new(0xe9, 0xec, 0xef)
    }
}
