//! A graph instantiated without running: its plain code ran, every node was
//! recorded (every loop node by node), and no task ran.

use std::fmt;

use crate::exec::{AtRuns, ErasedFamily, InRun, Kind};
use crate::observe::same_site;
use crate::outputs::Outputs;
use crate::site::FamilyInfo;
use crate::site::Template;
use crate::value::{NodeId, Piece};

/// A graph's nodes and edges, as [`Graph::instantiate`] records them without
/// running a task. Nodes are stored as their families store them (runs of
/// consecutive nodes), so a graph of a million tasks takes a few kilobytes
/// here once instantiated.
///
/// [`Graph::instantiate`]: crate::Graph::instantiate
pub struct Instance {
    pub(crate) fams: Vec<FamDesc>,
    pub(crate) outputs: Vec<Piece>,
    pub(crate) template: Option<&'static Template>,
}

/// One family of an instance.
pub(crate) struct FamDesc {
    pub(crate) info: &'static FamilyInfo,
    pub(crate) kind: Kind,
    pub(crate) len: u32,
    /// Every lazy input's runs.
    pub(crate) runs: Vec<InRun>,
    /// `(node, piece)`: node gathers the piece.
    pub(crate) gathers: Vec<(u32, Piece)>,
    pub(crate) at: AtRuns,
    /// For a loop node: its iterations.
    pub(crate) iterations: u32,
}

impl Instance {
    pub(crate) fn new<'g, O: Outputs<'g>>(
        fams: &[&dyn ErasedFamily<'g>],
        outs: &O,
        template: Option<&'static Template>,
    ) -> Self {
        let fams = fams
            .iter()
            .map(|f| {
                let c = f.core();
                let mut gathers = Vec::new();
                f.for_each_gather(&mut |n, p| gathers.push((n, p)));
                FamDesc {
                    info: c.info,
                    kind: c.kind,
                    len: c.len,
                    runs: c
                        .runs
                        .iter()
                        .flat_map(|r| r.runs().iter().copied())
                        .collect(),
                    gathers,
                    at: c.at.clone(),
                    iterations: c.iterations,
                }
            })
            .collect();
        let mut outputs = Vec::new();
        outs.for_each(&mut |p| outputs.push(p));
        Instance {
            fams,
            outputs,
            template,
        }
    }

    /// How many tasks the graph runs, per call site.
    pub fn tasks(&self) -> Tasks {
        let mut sites: Vec<SiteTasks> = Vec::new();
        for f in &self.fams {
            let n = match f.kind {
                Kind::Tasks => u64::from(f.len),
                Kind::Loop if f.len > 0 => u64::from(f.iterations),
                // A loop that did not run fused, and a loop's outputs.
                Kind::Loop | Kind::Elements | Kind::Source => continue,
            };
            match sites.iter_mut().find(|s| same_site(s.site, f.info)) {
                Some(s) => s.tasks += n,
                None => sites.push(SiteTasks {
                    site: f.info,
                    tasks: n,
                }),
            }
        }
        Tasks {
            total: sites.iter().map(|s| s.tasks).sum(),
            sites,
        }
    }

    /// Calls `f(producer, consumer)` with the global numbers of every edge.
    pub(crate) fn for_each_edge(&self, mut f: impl FnMut(usize, usize)) {
        let base = self.bases();
        for (c, fam) in self.fams.iter().enumerate() {
            for r in &fam.runs {
                for k in 0..r.n {
                    let p = base[r.p_fam as usize] + (r.p0 + k * r.stride) as usize;
                    f(p, base[c] + (r.c0 + k) as usize);
                }
            }
            for (n, p) in &fam.gathers {
                for j in p.start..p.start + p.len {
                    f(base[p.fam as usize] + j as usize, base[c] + *n as usize);
                }
            }
        }
    }

    /// The global number of each family's first node.
    pub(crate) fn bases(&self) -> Vec<usize> {
        let mut b = Vec::with_capacity(self.fams.len() + 1);
        let mut n = 0;
        for f in &self.fams {
            b.push(n);
            n += f.len as usize;
        }
        b.push(n);
        b
    }

    /// The global numbers of the output nodes, sorted.
    pub(crate) fn output_nodes(&self) -> Vec<usize> {
        let base = self.bases();
        let mut out: Vec<usize> = self
            .outputs
            .iter()
            .flat_map(|p| (p.start..p.start + p.len).map(move |j| (p.fam, j)))
            .map(|(f, j)| base[f as usize] + j as usize)
            .collect();
        out.sort_unstable();
        out
    }

    /// The number of nodes.
    pub fn nodes(&self) -> u64 {
        self.fams.iter().map(|f| u64::from(f.len)).sum()
    }

    /// The number of families (call sites, and a fused loop's bookkeeping),
    /// numbered from 0 in the order the graph makes them.
    pub fn families(&self) -> u32 {
        self.fams.len() as u32
    }

    /// The call site of family `family`.
    ///
    /// # Panics
    /// If there is no such family.
    pub fn family_info(&self, family: u32) -> &'static FamilyInfo {
        self.fams[family as usize].info
    }

    /// The number of nodes of family `family`.
    ///
    /// # Panics
    /// If there is no such family.
    pub fn family_len(&self, family: u32) -> u32 {
        self.fams[family as usize].len
    }

    /// Whether family `family`'s nodes are tasks (rather than a fused
    /// loop's bookkeeping, which is empty in an instance).
    ///
    /// # Panics
    /// If there is no such family.
    pub fn is_task_family(&self, family: u32) -> bool {
        self.fams[family as usize].kind == Kind::Tasks
    }

    /// Whether family `family` reads values from outside the graph (a
    /// spawned graph's [`Handle`](crate::Handle) or a vector given to
    /// `tree_reduce`) rather than computing them.
    ///
    /// # Panics
    /// If there is no such family.
    pub fn is_source_family(&self, family: u32) -> bool {
        self.fams[family as usize].kind == Kind::Source
    }

    /// The loop iteration numbers of node `node`, outermost first (a
    /// `tree_reduce` node ends with its level and position).
    ///
    /// # Panics
    /// If there is no such family.
    pub fn indices(&self, node: NodeId) -> Vec<u32> {
        self.fams[node.fam as usize].at.get(node.idx)
    }

    /// A hash of the graph's edges and of the nodes its output names, as
    /// its families store them (runs of consecutive nodes): the cost of
    /// the runs, not of the edges. The same graph built by the same
    /// executable has the same fingerprint; another graph almost surely
    /// another.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for fam in &self.fams {
            fam.len.hash(&mut h);
            fam.runs.len().hash(&mut h);
            for r in &fam.runs {
                (r.c0, r.n, r.p_fam, r.p0, r.stride).hash(&mut h);
            }
            fam.gathers.len().hash(&mut h);
            for (n, p) in &fam.gathers {
                (*n, p.fam, p.start, p.len).hash(&mut h);
            }
        }
        self.outputs.len().hash(&mut h);
        for p in &self.outputs {
            (p.fam, p.start, p.len).hash(&mut h);
        }
        h.finish()
    }

    /// Calls `f(producer, consumer)` for every edge, a gathered vector's
    /// elements one by one; an edge appears as often as the consumer reads
    /// the value.
    pub fn for_each_input(&self, mut f: impl FnMut(NodeId, NodeId)) {
        for (c, fam) in self.fams.iter().enumerate() {
            for r in &fam.runs {
                for k in 0..r.n {
                    f(
                        NodeId::new(r.p_fam, r.p0 + k * r.stride),
                        NodeId::new(c as u32, r.c0 + k),
                    );
                }
            }
            for (n, p) in &fam.gathers {
                for j in p.start..p.start + p.len {
                    f(NodeId::new(p.fam, j), NodeId::new(c as u32, *n));
                }
            }
        }
    }

    /// The nodes the graph's final expression names, in its order (a node
    /// named twice appears twice).
    pub fn output_refs(&self) -> Vec<NodeId> {
        self.outputs
            .iter()
            .flat_map(|p| (p.start..p.start + p.len).map(move |j| NodeId::new(p.fam, j)))
            .collect()
    }

    /// The graph's compile-time template, if `graph!` wrote one.
    pub fn template(&self) -> Option<&'static Template> {
        self.template
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("families", &self.fams.len())
            .field("nodes", &self.nodes())
            .finish()
    }
}

/// How many tasks a graph runs, per call site ([`Graph::tasks`]).
///
/// Displays as a table: the total, then one line per call site.
///
/// [`Graph::tasks`]: crate::Graph::tasks
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tasks {
    /// All tasks.
    pub total: u64,
    /// Per call site, in the order they appear in the graph.
    pub sites: Vec<SiteTasks>,
}

/// The tasks of one call site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteTasks {
    /// The call site.
    pub site: &'static FamilyInfo,
    /// How many tasks it runs.
    pub tasks: u64,
}

impl Tasks {
    /// The tasks of the call sites of function `name` (as written).
    pub fn of(&self, name: &str) -> u64 {
        self.sites
            .iter()
            .filter(|s| s.site.name == name)
            .map(|s| s.tasks)
            .sum()
    }
}

impl fmt::Display for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} tasks", self.total)?;
        let w = self
            .sites
            .iter()
            .map(|s| s.site.name.len())
            .max()
            .unwrap_or(0);
        let n = self
            .sites
            .iter()
            .map(|s| s.tasks.to_string().len())
            .max()
            .unwrap_or(0);
        for s in &self.sites {
            writeln!(
                f,
                "  {:<w$}  {:>n$}  {}:{}:{}",
                s.site.name, s.tasks, s.site.file, s.site.line, s.site.column
            )?;
        }
        Ok(())
    }
}
