//! Looking at a graph without running it: its tasks, its DOT, its SVG.
//!
//! [`Graph::view`](crate::Graph::view) instantiates a graph (its plain code runs, every node is
//! recorded, no task runs) and draws it with `taskgraph-viz`: one node per
//! task, or past [`DEFAULT_COLLAPSE`] tasks one node per call site, so a
//! graph of a million tasks stays a small picture. The compile-time
//! *template* (one node per call site, loops as clusters labelled with what
//! they iterate over, edges labelled with their index maps) needs no
//! instantiation at all.

pub(crate) mod draw;
pub(crate) mod instance;

use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::site::{Fused, Link, LoopSite, Site, Template};
pub use instance::{Instance, SiteTasks, Tasks};
pub use taskgraph_viz::{Drawing, RankDir};

use crate::error::Error;

/// Above this many tasks, the instance view draws one node per call site
/// instead of one per task (see [`Viewer::collapse_above`]).
pub const DEFAULT_COLLAPSE: u64 = 500;

/// What drawing a graph needs of it: every [`Graph`](crate::Graph) is one
/// (generated code and [`Viewer`] use it; call the methods of `Graph`).
#[doc(hidden)]
pub trait Describe {
    /// As [`Graph::instantiate`](crate::Graph::instantiate).
    fn describe(&self) -> Result<Instance, Error>;
    /// As [`Graph::template`](crate::Graph::template).
    fn described_template(&self) -> Option<&'static Template>;
}

/// Settings for looking at a graph: `g.view().left_right().to_dot()`.
///
/// ```
/// use taskdag::{delayed, graph, Graph};
///
/// #[delayed]
/// fn inc(x: u64) -> u64 { x + 1 }
/// #[delayed]
/// fn add(a: u64, b: u64) -> u64 { a + b }
///
/// let g = graph! {
///     let v: Vec<_> = (0..1000).map(|i| inc(i)).collect();
///     tree_reduce(v, add)
/// };
/// // 1,999 tasks: past `DEFAULT_COLLAPSE`, one node per call site ...
/// let small = g.view().left_right().to_dot()?;
/// // ... unless asked for every task, or collapsed from fewer tasks on.
/// let every = g.view().expand().to_dot()?;
/// let sites = g.view().collapse_above(10).to_svg()?;
/// let template = g.view().template().to_dot()?;
/// assert!(small.contains("rankdir=LR") && small.len() < every.len());
/// assert!(sites.as_str().starts_with("<svg") || sites.as_str().starts_with("<?xml"));
/// assert!(!template.is_empty());
/// # Ok::<(), taskdag::Error>(())
/// ```
pub struct Viewer<'a> {
    graph: &'a dyn Describe,
    rankdir: RankDir,
    collapse: u64,
    template: bool,
}

impl fmt::Debug for Viewer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Viewer")
            .field("rankdir", &self.rankdir)
            .field("collapse", &self.collapse)
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

impl<'a> Viewer<'a> {
    /// The default settings for `graph` (what [`Graph::view`](crate::Graph::view) returns).
    pub(crate) fn new(graph: &'a dyn Describe) -> Self {
        Viewer {
            graph,
            rankdir: RankDir::TopBottom,
            collapse: DEFAULT_COLLAPSE,
            template: false,
        }
    }

    /// Edges point in direction `rankdir` (default top to bottom).
    pub fn rankdir(mut self, rankdir: RankDir) -> Self {
        self.rankdir = rankdir;
        self
    }

    /// Edges point left to right (dask's `rankdir='LR'`).
    pub fn left_right(self) -> Self {
        self.rankdir(RankDir::LeftRight)
    }

    /// Draws one node per call site when the graph has more than `tasks`
    /// tasks (default [`DEFAULT_COLLAPSE`]).
    pub fn collapse_above(mut self, tasks: u64) -> Self {
        self.collapse = tasks;
        self
    }

    /// Always one node per task, however many.
    pub fn expand(self) -> Self {
        self.collapse_above(u64::MAX)
    }

    /// Always one node per call site, with its number of tasks.
    pub fn collapse(self) -> Self {
        self.collapse_above(0)
    }

    /// Draws the compile-time template instead of an instance.
    pub fn template(mut self) -> Self {
        self.template = true;
        self
    }

    /// The drawing, to render as you like with `taskgraph-viz`.
    ///
    /// # Errors
    /// As [`Graph::instantiate`](crate::Graph::instantiate) (never for the template).
    pub fn drawing(&self) -> Result<Drawing, Error> {
        if self.template {
            return Ok(match self.graph.described_template() {
                Some(t) => draw::template(t, self.rankdir),
                None => Drawing::new(self.rankdir),
            });
        }
        let inst = self.graph.describe()?;
        Ok(if inst.nodes() > self.collapse {
            draw::collapsed(&inst, self.rankdir)
        } else {
            draw::expanded(&inst, self.rankdir)
        })
    }

    /// The drawing in Graphviz's DOT language.
    ///
    /// # Errors
    /// As [`Viewer::drawing`].
    pub fn to_dot(&self) -> Result<String, Error> {
        Ok(taskgraph_viz::to_dot(&self.drawing()?))
    }

    /// The drawing as SVG, laid out in pure Rust.
    ///
    /// # Errors
    /// As [`Viewer::drawing`].
    pub fn to_svg(&self) -> Result<Svg, Error> {
        Ok(Svg(taskgraph_viz::to_svg(&self.drawing()?)))
    }

    /// Writes the drawing to `path`: SVG, or PNG (`.png`, with the `png`
    /// feature), or DOT (`.dot`), by the extension. Returns the SVG.
    ///
    /// # Errors
    /// As [`Graph::visualize`](crate::Graph::visualize).
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<Svg, ViewError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let d = self.drawing().map_err(ViewError::Graph)?;
        let svg = taskgraph_viz::to_svg(&d);
        let bytes = match ext.as_deref() {
            Some("svg") => svg.clone().into_bytes(),
            Some("dot") | Some("gv") => taskgraph_viz::to_dot(&d).into_bytes(),
            Some("png") => png(&d, path)?,
            _ => {
                return Err(ViewError::Format {
                    path: path.to_owned(),
                    reason: "write `.svg`, `.png` or `.dot`".to_owned(),
                })
            }
        };
        std::fs::write(path, bytes).map_err(|source| ViewError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Svg(svg))
    }
}

#[cfg(feature = "png")]
fn png(d: &Drawing, path: &Path) -> Result<Vec<u8>, ViewError> {
    taskgraph_viz::to_png(d, 2.0).map_err(|e| ViewError::Format {
        path: path.to_owned(),
        reason: format!("the SVG could not be rasterised: {e}"),
    })
}

#[cfg(not(feature = "png"))]
fn png(_: &Drawing, path: &Path) -> Result<Vec<u8>, ViewError> {
    Err(ViewError::Format {
        path: path.to_owned(),
        reason:
            "PNG needs the `png` feature of taskgraph (`features = [\"png\"]`); or write `.svg`"
                .to_owned(),
    })
}

/// An SVG document. In an evcxr notebook, a cell ending in one displays
/// the picture (evcxr's `evcxr_display` protocol).
///
/// ```
/// use taskdag::{delayed, graph, Graph};
///
/// #[delayed]
/// fn inc(x: u64) -> u64 { x + 1 }
///
/// let svg = graph! { inc(inc(1)) }.to_svg()?;
/// assert!(svg.as_str().contains("inc"));
/// assert!(svg.evcxr_content().starts_with("EVCXR_BEGIN_CONTENT image/svg+xml"));
/// # Ok::<(), taskdag::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Svg(pub String);

impl Svg {
    /// The document's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Prints the document in evcxr's display protocol; evcxr calls this on
    /// a cell's final value, and shows the picture.
    pub fn evcxr_display(&self) {
        print!("{}", self.evcxr_content());
    }

    /// What [`Svg::evcxr_display`] prints.
    pub fn evcxr_content(&self) -> String {
        format!(
            "EVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT\n",
            self.0
        )
    }
}

impl fmt::Display for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a graph could not be drawn to a file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ViewError {
    /// Instantiating the graph failed.
    Graph(Error),
    /// The file could not be written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file's extension names no format this build writes.
    Format {
        /// The file.
        path: PathBuf,
        /// What went wrong, and what to do instead.
        reason: String,
    },
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewError::Graph(e) => write!(f, "the graph could not be instantiated: {e}"),
            ViewError::Io { path, source } => {
                write!(f, "could not write `{}`: {source}", path.display())
            }
            ViewError::Format { path, reason } => {
                write!(f, "cannot draw `{}`: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for ViewError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ViewError::Graph(e) => Some(e),
            ViewError::Io { source, .. } => Some(source),
            ViewError::Format { .. } => None,
        }
    }
}

impl From<Error> for ViewError {
    fn from(e: Error) -> Self {
        ViewError::Graph(e)
    }
}
