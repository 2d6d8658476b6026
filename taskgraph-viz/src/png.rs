//! PNG output (feature `png`): the SVG rasterised by resvg.

use std::error::Error;
use std::fmt;
use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

use crate::model::Drawing;
use crate::svg::to_svg;

/// Why [`to_png`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PngError {
    /// At this scale the picture has no pixel, or more than fit in memory
    /// (`width` and `height` in pixels, rounded up).
    Size {
        /// Width in pixels.
        width: f64,
        /// Height in pixels.
        height: f64,
    },
    /// resvg could not read the SVG, which is a bug in this crate.
    Svg(String),
    /// The PNG encoder failed.
    Encode(String),
}

/// Draws `drawing` as [`to_svg`] does and rasterises it to a PNG image,
/// `scale` pixels per SVG pixel (2.0 for a sharp picture on a high-density
/// screen). Text is set in a system font: the first call loads the list of
/// installed fonts (tens of milliseconds), and on a machine without fonts
/// the labels are missing. Rasterising costs time proportional to the
/// number of pixels.
///
/// # Errors
///
/// [`PngError::Size`] if `scale` is not positive and finite, or the picture
/// would be empty or too large for one pixmap; the other variants if resvg
/// fails.
///
/// # Panics
///
/// If [`Drawing::validate`] fails.
pub fn to_png(drawing: &Drawing, scale: f32) -> Result<Vec<u8>, PngError> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    let svg = to_svg(drawing);
    let fonts = FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        // `sans-serif` is Arial unless told otherwise: use the first of the
        // usual sans-serif families that is installed.
        let installed = |name: &str| {
            db.faces()
                .any(|f| f.families.iter().any(|(n, _)| n == name))
        };
        let family = [
            "Helvetica",
            "Arial",
            "Liberation Sans",
            "DejaVu Sans",
            "Noto Sans",
            "Roboto",
        ]
        .into_iter()
        .find(|&name| installed(name));
        if let Some(family) = family {
            db.set_sans_serif_family(family);
        }
        Arc::new(db)
    });
    let options = usvg::Options {
        font_family: "sans-serif".to_owned(),
        fontdb: Arc::clone(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(&svg, &options).map_err(|e| PngError::Svg(e.to_string()))?;
    let size = tree.size();
    let (width, height) = (
        (f64::from(size.width()) * f64::from(scale)).ceil(),
        (f64::from(size.height()) * f64::from(scale)).ceil(),
    );
    let too_big = PngError::Size { width, height };
    if !(scale.is_finite() && scale > 0.0)
        || width < 1.0
        || height < 1.0
        || width > f64::from(u32::MAX)
        || height > f64::from(u32::MAX)
    {
        return Err(too_big);
    }
    let mut pixmap = tiny_skia::Pixmap::new(width as u32, height as u32).ok_or(too_big)?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| PngError::Encode(e.to_string()))
}

impl fmt::Display for PngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PngError::Size { width, height } => {
                write!(
                    f,
                    "a picture of {width} x {height} pixels cannot be rasterised"
                )
            }
            PngError::Svg(e) => write!(f, "resvg could not read the SVG: {e}"),
            PngError::Encode(e) => write!(f, "the PNG encoder failed: {e}"),
        }
    }
}

impl Error for PngError {}
