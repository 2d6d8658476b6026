//! Looking at a graph without running it: its tasks, its DOT, its SVG.
//!
//! [`View`] instantiates a graph (its plain code runs, every node is
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
use crate::runtime::Graph;

/// Above this many tasks, the instance view draws one node per call site
/// instead of one per task (see [`Viewer::collapse_above`]).
pub const DEFAULT_COLLAPSE: u64 = 500;

/// A graph that can be looked at without running it, as dask's
/// `z.visualize()` then `z.compute()`: every `graph!` whose plain code only
/// copies or borrows what it captures (a `graph!` that moves a captured
/// value into a task can be instantiated only once: pass `&x` or
/// `x.clone()` to look at it).
///
/// Looking at the graph runs its plain code once more (the loops, the
/// captured computations) and no task; computing it afterwards works as
/// if it had not been looked at.
///
/// ```
/// use taskdag::{delayed, graph, Runtime, View};
///
/// #[delayed]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
/// #[delayed]
/// fn add(x: i64, y: i64) -> i64 {
///     x + y
/// }
///
/// let g = graph! {
///     let xs: Vec<_> = (0..4).map(|i| inc(i)).collect();
///     tree_reduce(xs, add)
/// };
/// assert_eq!(g.tasks()?.total, 7);
/// assert!(g.to_dot()?.contains("inc[i=3]"));
/// assert!(g.template_dot().contains("(0..4).map(|i| ..)"));
/// assert_eq!(Runtime::new(2)?.compute(g)?, 10);
/// # Ok::<(), taskdag::Error>(())
/// ```
pub trait View: Graph {
    /// Instantiates the graph without running a task: its plain code runs
    /// (every loop recorded node by node), and the nodes and edges are
    /// kept. Cost: as the instantiation of a compute without fusion, a
    /// record per node, freed before this returns.
    ///
    /// # Errors
    /// What instantiating the graph returns (e.g. [`Error::EmptyReduce`]).
    fn instantiate(&self) -> Result<Instance, Error>;

    /// The graph's compile-time template, written by `graph!`.
    fn template(&self) -> Option<&'static Template>;

    /// A viewer with settings (direction, collapsing, template).
    fn view(&self) -> Viewer<'_, Self>
    where
        Self: Sized,
    {
        Viewer {
            graph: self,
            rankdir: RankDir::TopBottom,
            collapse: DEFAULT_COLLAPSE,
            template: false,
        }
    }

    /// How many tasks the graph runs, per call site.
    ///
    /// # Errors
    /// As [`View::instantiate`].
    fn tasks(&self) -> Result<Tasks, Error> {
        Ok(self.instantiate()?.tasks())
    }

    /// The graph in Graphviz's DOT language, top to bottom: one node per
    /// task, labelled like `inc[i=3]`, or one per call site past
    /// [`DEFAULT_COLLAPSE`] tasks.
    ///
    /// # Errors
    /// As [`View::instantiate`].
    fn to_dot(&self) -> Result<String, Error>
    where
        Self: Sized,
    {
        self.view().to_dot()
    }

    /// The compile-time template in DOT: one node per call site, loops as
    /// clusters labelled with what they iterate over, edges labelled with
    /// index maps (`x[i]`, `zs[all i]`).
    fn template_dot(&self) -> String
    where
        Self: Sized,
    {
        self.view()
            .template()
            .to_dot()
            .expect("a template needs no instantiation")
    }

    /// Draws the graph as SVG (no Graphviz needed) and writes it to `path`;
    /// a path ending in `.png` writes PNG (with the `png` feature), `.dot`
    /// writes DOT. Returns the SVG, which displays itself in an evcxr
    /// notebook.
    ///
    /// # Errors
    /// [`ViewError::Graph`] if the graph cannot be instantiated,
    /// [`ViewError::Io`] if the file cannot be written,
    /// [`ViewError::Format`] for another extension (or `.png` without the
    /// `png` feature).
    fn visualize(&self, path: impl AsRef<Path>) -> Result<Svg, ViewError>
    where
        Self: Sized,
    {
        self.view().visualize(path)
    }

    /// The graph as SVG; in an evcxr notebook, it displays itself.
    ///
    /// # Errors
    /// As [`View::instantiate`].
    fn to_svg(&self) -> Result<Svg, Error>
    where
        Self: Sized,
    {
        self.view().to_svg()
    }
}

/// Settings for looking at a graph: `g.view().left_right().to_dot()`.
///
/// ```
/// use taskdag::{delayed, graph, View};
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
#[derive(Debug)]
pub struct Viewer<'a, G> {
    graph: &'a G,
    rankdir: RankDir,
    collapse: u64,
    template: bool,
}

impl<G: View> Viewer<'_, G> {
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
    /// As [`View::instantiate`] (never for the template).
    pub fn drawing(&self) -> Result<Drawing, Error> {
        if self.template {
            return Ok(match self.graph.template() {
                Some(t) => draw::template(t, self.rankdir),
                None => Drawing::new(self.rankdir),
            });
        }
        let inst = self.graph.instantiate()?;
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
    /// As [`View::visualize`].
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
/// use taskdag::{delayed, graph, View};
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
