//! From a graph to a neutral [`Drawing`]: one node per task, one node per
//! call site (an instance collapsed into its families), or the compile-time
//! template.

use std::collections::HashMap;

use taskgraph_viz::{Drawing, Edge, Node, RankDir, Shape};

use crate::exec::Kind;
use crate::site::{LoopSite, Template};
use crate::view::instance::Instance;

/// `i=3`, `i#3` or `#3` for iteration 3 of loop `l`, as error messages
/// name it (see [`TaskInfo::name`](crate::TaskInfo::name)).
fn iteration(l: &LoopSite, k: u32) -> String {
    let mut s = String::new();
    // Writing to a `String` does not fail.
    let _ = crate::site::write_iteration(&mut s, l.pattern, l.iter, k);
    s
}

/// `for i in 0..n`, `(0..n).map(|i| ..)`.
fn loop_label(l: &LoopSite) -> String {
    match l.kind {
        "map" => format!("{}.map(|{}| ..)", l.iter, l.pattern),
        "while" => format!("while {}", l.iter),
        "loop" => "loop".to_owned(),
        _ => format!("for {} in {}", l.pattern, l.iter),
    }
}

/// A `tree_reduce`'s name in pictures: `tree_reduce(zs, add)`.
fn reduce_label(vec: &str, name: &str) -> String {
    format!("tree_reduce({vec}, {name})")
}

/// One node per task, each loop iteration a cluster (nested loops nested),
/// each `tree_reduce` a cluster of its nodes.
pub(crate) fn expanded(inst: &Instance, rankdir: RankDir) -> Drawing {
    let t = inst.template;
    let mut d = Drawing::new(rankdir);
    // (site-or-loop key, indices prefix) -> cluster.
    let mut clusters: HashMap<(u32, bool, Vec<u32>), usize> = HashMap::new();
    let mut cluster_of = |d: &mut Drawing, site: Option<usize>, at: &[u32]| -> Option<usize> {
        let (t, s) = (t?, site?);
        let loops = t.loops_of(s);
        let mut parent = None;
        for (depth, &l) in loops.iter().enumerate() {
            let Some(&k) = at.get(depth) else { break };
            let key = (l, false, at[..=depth].to_vec());
            let c = *clusters
                .entry(key)
                .or_insert_with(|| d.add_cluster(iteration(&t.loops[l as usize], k), parent));
            parent = Some(c);
        }
        if let Some(vec) = t.sites[s].reduce {
            let key = (s as u32, true, at[..loops.len().min(at.len())].to_vec());
            let name = t.sites[s].name;
            let c = *clusters
                .entry(key)
                .or_insert_with(|| d.add_cluster(reduce_label(vec, name), parent));
            parent = Some(c);
        }
        parent
    };
    let outputs = inst.output_nodes();
    for f in &inst.fams {
        let site = t.and_then(|t| t.site_of(f.info));
        for i in 0..f.len {
            let (label, tip, cluster) = f.at.with(i, |at| {
                let label = match f.kind {
                    Kind::Loop => format!("{} ×{}", f.info.name, f.iterations),
                    _ => f.info.task_name(at),
                };
                (
                    label,
                    f.info.task(at).to_string(),
                    cluster_of(&mut d, site, at),
                )
            });
            let out = outputs.binary_search(&d.nodes.len()).is_ok();
            let tip = if out {
                format!("{tip} (the graph's output)")
            } else {
                tip
            };
            let mut n = Node::new(label)
                .with_shape(if out { Shape::Box } else { Shape::Ellipse })
                .with_tooltip(tip);
            n.cluster = cluster;
            d.add_node(n);
        }
    }
    inst.for_each_edge(|p, c| {
        d.add_edge(p, c);
    });
    d
}

/// One node per call site with its number of tasks, each loop a cluster
/// with its number of iterations; edges labelled with the template's index
/// maps (or the number of edges between the two families).
pub(crate) fn collapsed(inst: &Instance, rankdir: RankDir) -> Drawing {
    let t = inst.template;
    let mut d = Drawing::new(rankdir);
    let base = inst.bases();
    // Nodes: one per non-empty call site (families of the same call site
    // merge).
    let mut node_of_fam: Vec<Option<usize>> = vec![None; inst.fams.len()];
    let mut node_of_site: HashMap<(u32, u32, &str), usize> = HashMap::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut node_site: Vec<Option<usize>> = Vec::new();
    let mut loop_cluster: HashMap<u32, usize> = HashMap::new();
    let mut loop_iterations: HashMap<u32, u64> = HashMap::new();
    for (k, f) in inst.fams.iter().enumerate() {
        if f.len == 0 || f.kind == Kind::Elements {
            continue;
        }
        let key = (f.info.line, f.info.column, f.info.name);
        let n = match node_of_site.get(&key) {
            Some(&n) => n,
            None => {
                let site = t.and_then(|t| t.site_of(f.info));
                let cluster = match (t, site) {
                    (Some(t), Some(s)) => {
                        let mut parent = None;
                        for &l in &t.loops_of(s) {
                            let c = *loop_cluster.entry(l).or_insert_with(|| {
                                d.add_cluster(loop_label(&t.loops[l as usize]), parent)
                            });
                            parent = Some(c);
                        }
                        parent
                    }
                    _ => None,
                };
                let label = match (t, site) {
                    (Some(t), Some(s)) => match t.sites[s].reduce {
                        Some(v) => reduce_label(v, f.info.name),
                        None => f.info.name.to_owned(),
                    },
                    _ => f.info.name.to_owned(),
                };
                let mut node = Node::new(label)
                    .with_shape(Shape::Ellipse)
                    .with_tooltip(format!(
                        "`{}` at {}:{}:{}",
                        f.info.name, f.info.file, f.info.line, f.info.column
                    ));
                node.cluster = cluster;
                counts.push(0);
                node_site.push(site);
                let n = d.add_node(node);
                node_of_site.insert(key, n);
                if let (Some(t), Some(s)) = (t, site) {
                    if let (Some(l), None) = (t.sites[s].parent, t.sites[s].reduce) {
                        *loop_iterations.entry(l).or_default() = u64::from(f.len);
                    }
                }
                n
            }
        };
        node_of_fam[k] = Some(n);
        counts[n] += match f.kind {
            Kind::Loop => u64::from(f.iterations),
            _ => u64::from(f.len),
        };
    }
    for (n, c) in counts.iter().enumerate() {
        let label = &mut d.nodes[n].label;
        *label = format!("{label}\n×{c}");
    }
    // A call site with a node of the output is drawn as a box.
    let fam_of = |g: usize| base.partition_point(|&b| b <= g) - 1;
    for g in inst.output_nodes() {
        if let Some(n) = node_of_fam[fam_of(g)] {
            let node = &mut d.nodes[n];
            if node.shape != Shape::Box {
                node.shape = Shape::Box;
                node.tooltip = node
                    .tooltip
                    .take()
                    .map(|t| format!("{t} (the graph's output)"));
            }
        }
    }
    for (&l, &c) in &loop_cluster {
        if let Some(n) = loop_iterations.get(&l) {
            let label = &mut d.clusters[c].label;
            let s = if *n == 1 { "" } else { "s" };
            *label = format!("{label}: {n} iteration{s}");
        }
    }
    // Edges: counted per pair of nodes.
    let mut edges: HashMap<(usize, usize), u64> = HashMap::new();
    let mut order: Vec<(usize, usize)> = Vec::new();
    inst.for_each_edge(|p, c| {
        let (Some(a), Some(b)) = (node_of_fam[fam_of(p)], node_of_fam[fam_of(c)]) else {
            return;
        };
        let e = edges.entry((a, b)).or_insert_with(|| {
            order.push((a, b));
            0
        });
        *e += 1;
    });
    for (a, b) in order {
        let n = edges[&(a, b)];
        let label =
            template_label(t, node_site[a], node_site[b]).unwrap_or_else(|| format!("×{n}"));
        d.edges.push(Edge::new(a, b).with_label(label));
    }
    d
}

/// The template's label of the edges from call site `a` to call site `b`.
fn template_label(t: Option<&Template>, a: Option<usize>, b: Option<usize>) -> Option<String> {
    let t = t?;
    let (sa, sb) = (a? as u32, b? as u32);
    let labels: Vec<&str> = t
        .edges
        .iter()
        .filter(|e| e.from == sa && e.to == sb)
        .map(|e| e.label)
        .collect();
    (!labels.is_empty()).then(|| labels.join(", "))
}

/// The compile-time template: one node per call site, one cluster per loop
/// labelled with what it iterates over, edges labelled with index maps.
pub(crate) fn template(t: &Template, rankdir: RankDir) -> Drawing {
    let mut d = Drawing::new(rankdir);
    let clusters: Vec<usize> = t
        .loops
        .iter()
        .map(|l| {
            let label = loop_label(l);
            d.clusters.push(taskgraph_viz::Cluster {
                label,
                parent: None,
            });
            d.clusters.len() - 1
        })
        .collect();
    for (k, l) in t.loops.iter().enumerate() {
        d.clusters[clusters[k]].parent = l.parent.map(|p| clusters[p as usize]);
    }
    for (k, s) in t.sites.iter().enumerate() {
        let label = match s.reduce {
            Some(v) => reduce_label(v, s.name),
            None => s.name.to_owned(),
        };
        // As in the instance view: the output's call sites are boxes.
        let out = t.outputs.contains(&(k as u32));
        let tip = format!("`{}` at {}:{}:{}", s.name, t.file, s.line, s.column);
        let mut n = Node::new(label)
            .with_shape(if out { Shape::Box } else { Shape::Ellipse })
            .with_tooltip(if out {
                format!("{tip} (the graph's output)")
            } else {
                tip
            });
        n.cluster = s.parent.map(|p| clusters[p as usize]);
        d.add_node(n);
    }
    // One edge per pair of call sites, labelled with all its reads
    // (`level[i], level[i + 1]`): parallel edges take the same route, so
    // their labels would be drawn over each other.
    let mut pairs: Vec<((u32, u32), Vec<&str>)> = Vec::new();
    for e in t.edges {
        let k = match pairs.iter().position(|(p, _)| *p == (e.from, e.to)) {
            Some(k) => k,
            None => {
                pairs.push(((e.from, e.to), Vec::new()));
                pairs.len() - 1
            }
        };
        if !e.label.is_empty() && !pairs[k].1.contains(&e.label) {
            pairs[k].1.push(e.label);
        }
    }
    for ((from, to), labels) in pairs {
        let mut edge = Edge::new(from as usize, to as usize);
        if !labels.is_empty() {
            edge = edge.with_label(labels.join(", "));
        }
        d.edges.push(edge);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_variables_name_iterations() {
        let l = |pattern, iter| LoopSite {
            pattern,
            iter,
            kind: "for",
            line: 1,
            column: 1,
            parent: None,
        };
        assert_eq!(iteration(&l("i", "0..n"), 3), "i=3");
        assert_eq!(iteration(&l("&z", "0..=n"), 3), "z=3");
        assert_eq!(iteration(&l("i", "1..n"), 3), "i#3");
        assert_eq!(iteration(&l("i", "(0..n).step_by(2)"), 3), "i#3");
        assert_eq!(iteration(&l("(a, b)", "0..n"), 3), "#3");
        assert_eq!(iteration(&l("_", "x < 3"), 3), "#3");
    }
}
