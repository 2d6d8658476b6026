//! PNG output (feature `png`).

#![cfg(feature = "png")]

mod common;

use taskgraph_viz::{layout, to_png, Drawing, PngError, RankDir};

/// Width and height from a PNG's header.
fn dimensions(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn the_tutorial_graph_rasterises_at_twice_the_size() {
    let d = common::tutorial(RankDir::TopBottom);
    let l = layout(&d);
    let png = to_png(&d, 2.0).unwrap();
    assert_eq!(
        dimensions(&png),
        ((2.0 * l.width) as u32, (2.0 * l.height) as u32)
    );
}

#[test]
fn a_scale_of_zero_is_an_error() {
    let d = Drawing::default();
    assert!(matches!(to_png(&d, 0.0), Err(PngError::Size { .. })));
    assert!(matches!(to_png(&d, f32::NAN), Err(PngError::Size { .. })));
    assert!(to_png(&d, 1.0).is_ok());
}
