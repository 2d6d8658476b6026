//! The input: a drawing is nodes, edges between them, and nested clusters.
//!
//! Everything refers to everything else by index into the vectors of
//! [`Drawing`], so a drawing is plain data that any graph type can produce.

use std::error::Error;
use std::fmt;

/// What to draw: nodes, directed edges between them, and clusters (labelled
/// boxes around groups of nodes, such as the iterations of a loop).
///
/// Nodes, edges and clusters are numbered by their index in their vector;
/// edges and nodes refer to nodes and clusters by those numbers.
/// [`Drawing::validate`] checks the references; the renderers panic on a
/// reference that does not hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drawing {
    /// The direction in which edges point: ranks of nodes are rows
    /// ([`RankDir::TopBottom`]) or columns ([`RankDir::LeftRight`]).
    pub rankdir: RankDir,
    /// The nodes; a node's number is its index here.
    pub nodes: Vec<Node>,
    /// The directed edges.
    pub edges: Vec<Edge>,
    /// The clusters; a cluster's number is its index here.
    pub clusters: Vec<Cluster>,
}

/// One node: a labelled shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// The text inside the shape; `\n` starts a new line. Any characters are
    /// allowed: the renderers escape them.
    pub label: String,
    /// The innermost cluster that contains this node, if any (an index into
    /// [`Drawing::clusters`]).
    pub cluster: Option<usize>,
    /// The outline.
    pub shape: Shape,
    /// The fill colour.
    pub style: Style,
    /// Text shown when the pointer rests on the node (SVG `<title>`, DOT
    /// `tooltip`).
    pub tooltip: Option<String>,
}

/// A directed edge from one node to another (or to itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edge {
    /// The source node (an index into [`Drawing::nodes`]).
    pub from: usize,
    /// The target node, where the arrowhead is.
    pub to: usize,
    /// Text drawn beside the edge.
    pub label: Option<String>,
}

/// A labelled box drawn around its nodes and its child clusters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    /// The text at the top left corner of the box.
    pub label: String,
    /// The enclosing cluster, if any (an index into [`Drawing::clusters`]).
    /// A nested loop is a cluster whose parent is the outer loop's cluster.
    pub parent: Option<usize>,
}

/// Which way edges point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RankDir {
    /// Edges point down; DOT `rankdir=TB`.
    #[default]
    TopBottom,
    /// Edges point right; DOT `rankdir=LR`.
    LeftRight,
}

/// The outline of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Shape {
    /// A rectangle.
    #[default]
    Box,
    /// A rectangle with rounded corners.
    Rounded,
    /// An ellipse around the label.
    Ellipse,
    /// A circle around the label.
    Circle,
    /// A diamond around the label.
    Diamond,
}

/// How a node is filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Style {
    /// White.
    #[default]
    Plain,
    /// A colour of the caller's choice.
    Fill(Rgb),
    /// The colour of a run state, the same in every drawing (see [`State`]).
    State(State),
}

/// Where a task is in its run; [`Style::State`] fills a node with the state's
/// colour, and the SVG also names the state in the node's CSS class
/// (`state-running`), so a page can restyle or update it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Some input is not computed yet: grey.
    Waiting,
    /// Every input is computed, the task is not started: blue.
    Ready,
    /// The task is running: yellow.
    Running,
    /// The task finished: green.
    Done,
    /// The task panicked or returned an error: red.
    Failed,
}

/// A colour as red, green and blue bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

/// A reference in a [`Drawing`] that does not hold, as found by
/// [`Drawing::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrawingError {
    /// `edges[edge]` names `node`, which is not in `nodes`.
    EdgeEndpoint {
        /// The edge's index.
        edge: usize,
        /// The missing node.
        node: usize,
    },
    /// `nodes[node].cluster` names `cluster`, which is not in `clusters`.
    NodeCluster {
        /// The node's index.
        node: usize,
        /// The missing cluster.
        cluster: usize,
    },
    /// `clusters[cluster].parent` names `parent`, which is not in `clusters`.
    ClusterParent {
        /// The cluster's index.
        cluster: usize,
        /// The missing parent.
        parent: usize,
    },
    /// Following `parent` from `clusters[cluster]` comes back to it.
    ClusterCycle {
        /// A cluster on the cycle.
        cluster: usize,
    },
}

impl Drawing {
    /// An empty drawing whose edges point in direction `rankdir`.
    pub fn new(rankdir: RankDir) -> Self {
        Drawing {
            rankdir,
            ..Drawing::default()
        }
    }

    /// Adds a node and returns its number.
    pub fn add_node(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Adds an edge without a label from node `from` to node `to` and returns
    /// its number. The numbers are checked when the drawing is rendered.
    pub fn add_edge(&mut self, from: usize, to: usize) -> usize {
        self.edges.push(Edge::new(from, to));
        self.edges.len() - 1
    }

    /// Adds a cluster inside `parent` (or at the top level) and returns its
    /// number.
    pub fn add_cluster(&mut self, label: impl Into<String>, parent: Option<usize>) -> usize {
        self.clusters.push(Cluster {
            label: label.into(),
            parent,
        });
        self.clusters.len() - 1
    }

    /// Checks that every edge names two nodes, every node's cluster exists,
    /// and every cluster's chain of parents exists and ends. Costs time
    /// linear in the size of the drawing.
    ///
    /// # Errors
    ///
    /// The first reference that does not hold, in the order edges, nodes,
    /// clusters.
    pub fn validate(&self) -> Result<(), DrawingError> {
        let n = self.nodes.len();
        for (edge, e) in self.edges.iter().enumerate() {
            for node in [e.from, e.to] {
                if node >= n {
                    return Err(DrawingError::EdgeEndpoint { edge, node });
                }
            }
        }
        let c = self.clusters.len();
        for (node, v) in self.nodes.iter().enumerate() {
            if let Some(cluster) = v.cluster.filter(|&k| k >= c) {
                return Err(DrawingError::NodeCluster { node, cluster });
            }
        }
        for (cluster, k) in self.clusters.iter().enumerate() {
            if let Some(parent) = k.parent.filter(|&p| p >= c) {
                return Err(DrawingError::ClusterParent { cluster, parent });
            }
        }
        // Colour each chain of parents: 0 unseen, 1 on the walk from the
        // current cluster, 2 known to reach the top level.
        let mut mark = vec![0u8; c];
        for start in 0..c {
            let mut k = Some(start);
            while let Some(i) = k.filter(|&i| mark[i] == 0) {
                mark[i] = 1;
                k = self.clusters[i].parent;
            }
            if let Some(i) = k.filter(|&i| mark[i] == 1) {
                return Err(DrawingError::ClusterCycle { cluster: i });
            }
            let mut k = Some(start);
            while let Some(i) = k.filter(|&i| mark[i] == 1) {
                mark[i] = 2;
                k = self.clusters[i].parent;
            }
        }
        Ok(())
    }

    /// Panics with the message of [`Drawing::validate`]'s error.
    pub(crate) fn assert_valid(&self) {
        if let Err(e) = self.validate() {
            panic!("invalid drawing: {e}");
        }
    }
}

impl Node {
    /// A plain box labelled `label`, outside any cluster.
    pub fn new(label: impl Into<String>) -> Self {
        Node {
            label: label.into(),
            ..Node::default()
        }
    }

    /// This node, inside cluster number `cluster`.
    pub fn in_cluster(mut self, cluster: usize) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// This node, with outline `shape`.
    pub fn with_shape(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    /// This node, filled according to `style`.
    pub fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    /// This node, showing `tooltip` under the pointer.
    pub fn with_tooltip(mut self, tooltip: impl Into<String>) -> Self {
        self.tooltip = Some(tooltip.into());
        self
    }
}

impl Edge {
    /// An edge without a label from node `from` to node `to`.
    pub fn new(from: usize, to: usize) -> Self {
        Edge {
            from,
            to,
            label: None,
        }
    }

    /// This edge, with `label` drawn beside it.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

impl State {
    /// The name used in CSS classes (`state-` + name): `waiting`, `ready`,
    /// `running`, `done`, `failed`.
    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Ready => "ready",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

impl Rgb {
    /// The colour with these red, green and blue bytes.
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Rgb { r, g, b }
    }
}

impl fmt::Display for Rgb {
    /// `#rrggbb`, as both DOT and SVG read it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

impl fmt::Display for DrawingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DrawingError::EdgeEndpoint { edge, node } => {
                write!(f, "edge {edge} refers to node {node}, which does not exist")
            }
            DrawingError::NodeCluster { node, cluster } => {
                write!(
                    f,
                    "node {node} is in cluster {cluster}, which does not exist"
                )
            }
            DrawingError::ClusterParent { cluster, parent } => write!(
                f,
                "cluster {cluster} is inside cluster {parent}, which does not exist"
            ),
            DrawingError::ClusterCycle { cluster } => {
                write!(f, "cluster {cluster} is inside itself")
            }
        }
    }
}

impl Error for DrawingError {}
