//! Step 1: break cycles and give every node a rank.
//!
//! A task graph has no cycles, but a drawing may: a depth-first search
//! reverses each back edge (the edge is still drawn pointing at its target).
//! Ranks are longest paths from the sources, then every source moves down to
//! just above its nearest successor, so that an input used late does not
//! sit at the top with a long edge.

use crate::model::Drawing;

/// The rank of every node, and which edges were turned around to make the
/// graph acyclic.
pub(super) struct Ranking {
    /// Rank of each node; 0 is the first row (or column).
    pub rank: Vec<usize>,
    /// For each edge: it points from a higher rank to a lower one.
    pub reversed: Vec<bool>,
}

/// Ranks `drawing`'s nodes. Self-loops play no part. Linear time.
pub(super) fn rank(drawing: &Drawing) -> Ranking {
    let n = drawing.nodes.len();
    let mut out_edges = vec![Vec::new(); n];
    for (e, edge) in drawing.edges.iter().enumerate() {
        if edge.from != edge.to {
            out_edges[edge.from].push(e);
        }
    }

    // Iterative depth-first search; an edge into a node still on the stack
    // closes a cycle and is reversed.
    const NEW: u8 = 0;
    const ON_STACK: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; n];
    let mut reversed = vec![false; drawing.edges.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if state[start] != NEW {
            continue;
        }
        state[start] = ON_STACK;
        stack.push((start, 0));
        while let Some(top) = stack.last_mut() {
            let (v, next) = *top;
            if let Some(&e) = out_edges[v].get(next) {
                top.1 += 1;
                let w = drawing.edges[e].to;
                match state[w] {
                    NEW => {
                        state[w] = ON_STACK;
                        stack.push((w, 0));
                    }
                    ON_STACK => reversed[e] = true,
                    _ => {}
                }
            } else {
                state[v] = DONE;
                stack.pop();
            }
        }
    }

    // Longest path from the sources, in topological order (Kahn).
    let mut succ = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for (e, edge) in drawing.edges.iter().enumerate() {
        if edge.from == edge.to {
            continue;
        }
        let (u, v) = if reversed[e] {
            (edge.to, edge.from)
        } else {
            (edge.from, edge.to)
        };
        succ[u].push(v);
        indegree[v] += 1;
    }
    let mut rank = vec![0usize; n];
    let mut remaining = indegree.clone();
    let mut queue: Vec<usize> = (0..n).filter(|&v| remaining[v] == 0).collect();
    let mut head = 0;
    while let Some(&u) = queue.get(head) {
        head += 1;
        for &v in &succ[u] {
            rank[v] = rank[v].max(rank[u] + 1);
            remaining[v] -= 1;
            if remaining[v] == 0 {
                queue.push(v);
            }
        }
    }
    debug_assert_eq!(queue.len(), n, "the reversed graph has a cycle");

    for v in 0..n {
        if indegree[v] == 0 {
            if let Some(nearest) = succ[v].iter().map(|&s| rank[s]).min() {
                rank[v] = nearest - 1;
            }
        }
    }
    Ranking { rank, reversed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Node;

    fn drawing(n: usize, edges: &[(usize, usize)]) -> Drawing {
        let mut d = Drawing::default();
        for i in 0..n {
            d.add_node(Node::new(i.to_string()));
        }
        for &(a, b) in edges {
            d.add_edge(a, b);
        }
        d
    }

    #[test]
    fn longest_path_with_late_sources_pulled_down() {
        // 0 -> 1 -> 2 -> 3, and 4 -> 3: 4 sits just above 3.
        let r = rank(&drawing(5, &[(0, 1), (1, 2), (2, 3), (4, 3)]));
        assert_eq!(r.rank, [0, 1, 2, 3, 2]);
        assert!(r.reversed.iter().all(|&x| !x));
    }

    #[test]
    fn cycles_are_broken_and_self_loops_ignored() {
        let r = rank(&drawing(3, &[(0, 1), (1, 2), (2, 0), (1, 1)]));
        assert_eq!(r.reversed, [false, false, true, false]);
        assert_eq!(r.rank, [0, 1, 2]);
    }
}
