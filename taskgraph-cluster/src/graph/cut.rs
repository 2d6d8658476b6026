//! Cutting an instantiated graph into blocks, each one dask task.
//!
//! Every node gets a block, in topological order:
//!
//! 1. A node joins the block of an input made in the same loop iteration
//!    (the same loop indices): `inc(i)`, `dec(x)` and `add(x, y)` of
//!    iteration `i` go together, and so does everything in the body of a
//!    loop that reads only its own iteration.
//! 2. A `tree_reduce` node whose inputs are all in one block joins it: the
//!    subtree over a block's elements is reduced inside the block.
//! 3. Otherwise it starts (or joins) the block of its loop, its outer loop
//!    indices and its chunk of the innermost one ([`Sizing::chunks`]: a
//!    power of two of iterations, equal chunks or, by default for an
//!    outermost loop, guided ones that shrink towards the loop's end), for
//!    each iteration of the loops around it, shared by all the call sites
//!    of the loop's body
//!    (`dec(i)`, which reads nothing of its iteration, goes with `inc(i)`);
//!    the `tree_reduce` nodes left over go to a block each (with a set
//!    block size, to subtrees of `log2(size) + 1` levels); a node outside
//!    loops to the block of its call site.
//!
//! Blocks that would depend on each other both ways are merged (the
//! strongly connected components of the block graph), so the blocks form a
//! DAG; they are listed in a topological order. Each block knows the
//! values it needs from earlier blocks and the values it sends on (to later
//! blocks, or as the graph's output).

use std::collections::HashMap;

use taskgraph_runtime::part::{Instance, NodeId, NodeRange};

/// One block: a dask task.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// Its name on the dashboard: `inc_dec_add[0..32]`, grouped by the
    /// names before `[`.
    pub(crate) name: String,
    /// The nodes it runs.
    pub(crate) run: Vec<NodeRange>,
    /// The blocks it reads from (earlier in the list), and for each the
    /// values it needs: their position in that block's `collect`, and node.
    pub(crate) deps: Vec<(usize, Vec<(u32, NodeId)>)>,
    /// The nodes whose values it sends on, in the order it sends them.
    pub(crate) collect: Vec<NodeId>,
    /// How many threads it can keep busy: its node count over the longest
    /// chain of its nodes, rounded up.
    pub(crate) width: u32,
    /// Whether it runs what is left of a `tree_reduce` (its first family is
    /// one): its dask task waits in the scheduler's queue with the leaf
    /// blocks, by priority, while every worker is busy.
    pub(crate) tree: bool,
}

/// The graph's cut.
#[derive(Debug)]
pub(crate) struct Cut {
    pub(crate) blocks: Vec<Block>,
    /// For each distinct output node: the block that makes it and its
    /// position in that block's `collect`.
    pub(crate) outputs: Vec<(NodeId, usize, u32)>,
}

/// How blocks are sized.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizing {
    /// Iterations of a loop per block; 0: chosen per loop from the
    /// cluster's `threads` (see [`Sizing::chunks`]).
    pub(crate) block_size: u32,
    /// Threads of the cluster when the graph is cut.
    pub(crate) threads: u32,
}

/// How a loop's iterations are cut into chunks, one block each.
#[derive(Debug, Clone)]
enum Chunks {
    /// `size` iterations each.
    Even(u32),
    /// Guided: the first iteration of each chunk, increasing.
    Starts(Vec<u32>),
}

impl Chunks {
    /// The chunk of `iteration`.
    fn of(&self, iteration: u32) -> u64 {
        match self {
            Chunks::Even(size) => u64::from(iteration / size),
            Chunks::Starts(starts) => starts
                .partition_point(|&s| s <= iteration)
                .saturating_sub(1) as u64,
        }
    }
}

impl Sizing {
    /// The chunks of a loop of `extent` iterations, each a power of two
    /// of iterations starting at a multiple of its size, so that a
    /// `tree_reduce` over the loop's elements pairs within chunks.
    ///
    /// With a set block size, all chunks have it. Otherwise a loop inside
    /// another gets chunks of equal size, about
    /// [`BLOCKS_PER_THREAD`](super::BLOCKS_PER_THREAD) per thread of the
    /// cluster, and an outermost loop a *guided* cut (as OpenMP's `guided`
    /// schedule): each chunk about a `GUIDED_SHARE × threads`-th of the iterations
    /// still left, so the first ones are large and they shrink towards the
    /// loop's end, down to that equal size: the last round of blocks is
    /// short, so the threads run out of work together, and workers that
    /// join late find small blocks to take.
    fn chunks(self, extent: u32, outermost: bool) -> Chunks {
        if self.block_size > 0 {
            return Chunks::Even(self.block_size);
        }
        let threads = self.threads.max(1);
        let target = super::BLOCKS_PER_THREAD as u32 * threads;
        if !outermost {
            return Chunks::Even(extent.div_ceil(target).max(1).next_power_of_two());
        }
        let floor = |n: u32| 1u32 << n.max(1).ilog2();
        let smallest = floor(extent / target);
        let mut starts = Vec::new();
        let mut lo = 0u32;
        while lo < extent {
            let left = extent - lo;
            let mut size = floor((left / (GUIDED_SHARE * threads)).max(smallest));
            // Sizes never grow and are powers of two, so `lo` is a
            // multiple of the last one; this only halves the first.
            while !lo.is_multiple_of(size) {
                size /= 2;
            }
            starts.push(lo);
            lo = lo.saturating_add(size);
        }
        Chunks::Starts(starts)
    }
}

impl Sizing {
    /// The block of a left-over `tree_reduce` node at `level` (0: it
    /// combines two elements) and `position` in its level: the tree is cut
    /// into subtrees of `h` levels, so its top stays parallel and each
    /// subtree starts as soon as its own leaves are there. With
    /// `block_size` iterations per block, `h` is `log2(block_size) + 1`;
    /// with the size chosen per loop, [`TREE_LEVELS`].
    fn subtree(self, level: u32, position: u32) -> u64 {
        let h = if self.block_size == 0 {
            TREE_LEVELS
        } else {
            self.block_size.max(1).ilog2() + 1
        };
        let band = level / h;
        let top = band * h + h - 1;
        let ancestor = position.checked_shr(top - level).unwrap_or(0);
        (u64::from(band) << 32) | u64::from(ancestor)
    }
}

/// Levels of a left-over `tree_reduce` per block when block sizes are
/// chosen: 1, one combining task per block, so that each starts as soon as
/// its two inputs are there (a block of two levels waited for all four of
/// its inputs and then ran its three tasks one after another: the
/// tutorial's last leaf was followed by 300 ms of tree instead of 200).
/// The hop between such blocks costs little where the block runner runs
/// the next one ahead (`driver.py`, `look_ahead`).
const TREE_LEVELS: u32 = 1;

/// A guided cut's block is about a `GUIDED_SHARE × threads`-th of the
/// iterations still left: 4, so that the first blocks hold a quarter of a
/// thread's even share. With 2, a tutorial of 100 iterations on 4 threads
/// began with blocks of 8 iterations (1.2 s of work each), and workers that
/// joined after `spawn` found the first round still running, with a block
/// queued behind each worker's running ones.
const GUIDED_SHARE: u32 = 4;

#[derive(Hash, PartialEq, Eq)]
struct Key {
    fam: u32,
    outer: Vec<u32>,
    chunk: u64,
}

const LEFT_OVER: u64 = u64::MAX;

/// Cuts `inst` (see the module docs).
pub(crate) fn cut(inst: &Instance, sizing: Sizing) -> Cut {
    let nf = inst.families() as usize;
    let mut base = Vec::with_capacity(nf + 1);
    let mut total = 0usize;
    for f in 0..nf as u32 {
        base.push(total);
        total += inst.family_len(f) as usize;
    }
    base.push(total);
    let global = |n: NodeId| base[n.family() as usize] + n.index() as usize;
    let node_of = |g: usize| {
        let f = base.partition_point(|&b| b <= g) - 1;
        NodeId::new(f as u32, (g - base[f]) as u32)
    };

    // Producers of each node (CSR, duplicates kept) and consumers' counts.
    let mut edges: Vec<(u32, u32)> = Vec::new();
    inst.for_each_input(|p, c| edges.push((global(c) as u32, global(p) as u32)));
    edges.sort_unstable();
    edges.dedup();
    let mut start = vec![0u32; total + 1];
    for &(c, _) in &edges {
        start[c as usize + 1] += 1;
    }
    for i in 0..total {
        start[i + 1] += start[i];
    }
    let inputs = |g: usize| &edges[start[g] as usize..start[g + 1] as usize];
    let mut consumers: Vec<Vec<u32>> = vec![Vec::new(); total];
    let mut waiting = vec![0u32; total];
    for &(c, p) in &edges {
        consumers[p as usize].push(c);
        waiting[c as usize] += 1;
    }

    let indices: Vec<Vec<u32>> = (0..total).map(|g| inst.indices(node_of(g))).collect();
    let reduce = reduce_families(inst);
    // A `tree_reduce`'s nodes end with their level and position, not an
    // iteration of its loop: it shares no chunks.
    let loops: Vec<Option<u32>> = loop_of(inst)
        .into_iter()
        .zip(&reduce)
        .map(|(l, &r)| l.filter(|_| !r))
        .collect();
    // The innermost loop's extent per family, and per loop.
    let mut extent = vec![0u32; nf];
    for (g, at) in indices.iter().enumerate() {
        let f = node_of(g).family() as usize;
        if let Some(&last) = at.last() {
            extent[f] = extent[f].max(last + 1);
        }
    }
    let mut loop_extent: HashMap<u32, u32> = HashMap::new();
    for f in 0..nf {
        if let Some(l) = loops[f] {
            let e = loop_extent.entry(l).or_insert(0);
            *e = (*e).max(extent[f]);
        }
    }
    // One cut per loop, so its call sites' chunks line up: a family's
    // chunks are its loop's (or its own, for a family that is a loop of
    // its own call site alone).
    for f in 0..nf {
        if let Some(l) = loops[f] {
            extent[f] = loop_extent[&l];
        }
    }
    let depth: Vec<usize> = (0..nf)
        .map(|f| {
            indices
                .get(base[f])
                .filter(|_| base[f] < base[f + 1])
                .map_or(0, Vec::len)
        })
        .collect();
    let mut loop_chunks: HashMap<u32, Chunks> = HashMap::new();
    let chunks: Vec<Chunks> = (0..nf)
        .map(|f| {
            let make = || sizing.chunks(extent[f], depth[f] == 1);
            match loops[f] {
                Some(l) => loop_chunks.entry(l).or_insert_with(make).clone(),
                None => make(),
            }
        })
        .collect();

    // Kahn's order; each node's block as it comes.
    let mut block = vec![u32::MAX; total];
    let mut keys: HashMap<Key, u32> = HashMap::new();
    let mut nblocks = 0u32;
    let mut order: Vec<usize> = (0..total).filter(|&g| waiting[g] == 0).collect();
    order.reserve(total - order.len());
    let mut k = 0;
    while k < order.len() {
        let g = order[k];
        k += 1;
        for &c in &consumers[g] {
            waiting[c as usize] -= 1;
            if waiting[c as usize] == 0 {
                order.push(c as usize);
            }
        }
        let n = node_of(g);
        let f = n.family();
        let ins = inputs(g);
        let at = &indices[g];
        let same_iteration = ins
            .iter()
            .find(|&&(_, p)| indices[p as usize] == *at)
            .map(|&(_, p)| block[p as usize]);
        let one_block = match ins.split_first() {
            Some((&(_, p0), rest)) if reduce[f as usize] => {
                let b = block[p0 as usize];
                rest.iter()
                    .all(|&(_, p)| block[p as usize] == b)
                    .then_some(b)
            }
            _ => None,
        };
        block[g] = match same_iteration.or(one_block) {
            Some(b) => b,
            None => {
                let key = if reduce[f as usize] {
                    let split = at.len().saturating_sub(2);
                    Key {
                        fam: f,
                        outer: at[..split].to_vec(),
                        chunk: match at[split..] {
                            [level, position] => sizing.subtree(level, position),
                            _ => LEFT_OVER,
                        },
                    }
                } else {
                    match at.split_last() {
                        None => Key {
                            fam: f,
                            outer: Vec::new(),
                            chunk: 0,
                        },
                        // The call sites of one loop body share their
                        // chunks' blocks (`dec(i)`, with no input from its
                        // iteration, goes with `inc(i)`).
                        Some((&last, outer)) => Key {
                            fam: loops[f as usize].map_or(f, |l| nf as u32 + l),
                            outer: outer.to_vec(),
                            chunk: chunks[f as usize].of(last),
                        },
                    }
                };
                *keys.entry(key).or_insert_with(|| {
                    nblocks += 1;
                    nblocks - 1
                })
            }
        };
    }
    assert_eq!(
        order.len(),
        total,
        "taskgraph internal error: a graph with a cycle"
    );

    // Merge blocks that depend on each other both ways.
    let mut bedges: Vec<(u32, u32)> = edges
        .iter()
        .map(|&(c, p)| (block[p as usize], block[c as usize]))
        .filter(|(a, b)| a != b)
        .collect();
    bedges.sort_unstable();
    bedges.dedup();
    let (comp, ncomp) = components(nblocks as usize, &bedges);
    for b in block.iter_mut() {
        *b = comp[*b as usize];
    }

    // Number the merged blocks in a topological order, preferring the order
    // in which their first nodes came.
    let mut first = vec![u32::MAX; ncomp];
    let mut next = 0u32;
    for &g in &order {
        let b = block[g] as usize;
        if first[b] == u32::MAX {
            first[b] = next;
            next += 1;
        }
    }
    let rank = topo_rank(ncomp, &block, &edges, &first);
    for b in block.iter_mut() {
        *b = rank[*b as usize];
    }

    let mut blocks: Vec<Block> = (0..ncomp)
        .map(|_| Block {
            name: String::new(),
            run: Vec::new(),
            deps: Vec::new(),
            collect: Vec::new(),
            width: 1,
            tree: false,
        })
        .collect();
    // The longest chain of each block's nodes, in nodes.
    let mut depth = vec![0u32; total];
    let mut longest = vec![0u32; ncomp];
    let mut count = vec![0u32; ncomp];
    for &g in &order {
        let b = block[g];
        depth[g] = 1 + inputs(g)
            .iter()
            .filter(|&&(_, p)| block[p as usize] == b)
            .map(|&(_, p)| depth[p as usize])
            .max()
            .unwrap_or(0);
        longest[b as usize] = longest[b as usize].max(depth[g]);
        count[b as usize] += 1;
    }
    for (b, block) in blocks.iter_mut().enumerate() {
        block.width = count[b].div_ceil(longest[b].max(1)).max(1);
    }
    // Nodes, as ranges per family.
    for (g, &b) in block.iter().enumerate() {
        let n = node_of(g);
        let run = &mut blocks[b as usize].run;
        match run.last_mut() {
            Some(r) if r.family == n.family() && r.hi == n.index() => r.hi += 1,
            _ => run.push(NodeRange {
                family: n.family(),
                lo: n.index(),
                hi: n.index() + 1,
            }),
        }
    }
    // What crosses: collected by the producer's block, needed by the
    // consumer's.
    let mut sent = vec![u32::MAX; total];
    let mut needs: Vec<Vec<(u32, u32)>> = vec![Vec::new(); ncomp];
    let mut send = |g: usize, blocks: &mut Vec<Block>| {
        if sent[g] == u32::MAX {
            let c = &mut blocks[block[g] as usize].collect;
            sent[g] = c.len() as u32;
            c.push(node_of(g));
        }
        sent[g]
    };
    for &(c, p) in &edges {
        let (bp, bc) = (block[p as usize], block[c as usize]);
        if bp != bc {
            send(p as usize, &mut blocks);
            needs[bc as usize].push((bp, p));
        }
    }
    let mut outputs = Vec::new();
    let mut refs = inst.output_refs();
    refs.sort_unstable();
    refs.dedup();
    for n in refs {
        let g = global(n);
        let pos = send(g, &mut blocks);
        outputs.push((n, block[g] as usize, pos));
    }
    for (b, need) in needs.iter_mut().enumerate() {
        need.sort_unstable();
        need.dedup();
        let mut deps: Vec<(usize, Vec<(u32, NodeId)>)> = Vec::new();
        for &(bp, p) in need.iter() {
            let entry = (sent[p as usize], node_of(p as usize));
            match deps.last_mut() {
                Some((d, list)) if *d == bp as usize => list.push(entry),
                _ => deps.push((bp as usize, vec![entry])),
            }
        }
        debug_assert!(deps.iter().all(|(d, _)| *d < b));
        blocks[b].deps = deps;
    }
    name_blocks(inst, &mut blocks, &indices, &base, &reduce);
    Cut { blocks, outputs }
}

/// Which families are `tree_reduce`s, from the graph's template (matched by
/// call site).
/// Per family, the innermost loop of its call site in the graph's template
/// (`None` outside loops, or without a template).
fn loop_of(inst: &Instance) -> Vec<Option<u32>> {
    (0..inst.families())
        .map(|f| {
            let info = inst.family_info(f);
            let t = inst.template().filter(|t| t.file == info.file)?;
            t.sites
                .iter()
                .find(|s| s.name == info.name && s.line == info.line && s.column == info.column)?
                .parent
        })
        .collect()
}

fn reduce_families(inst: &Instance) -> Vec<bool> {
    (0..inst.families())
        .map(|f| {
            let info = inst.family_info(f);
            inst.template().is_some_and(|t| {
                t.file == info.file
                    && t.sites.iter().any(|s| {
                        s.reduce.is_some()
                            && s.name == info.name
                            && s.line == info.line
                            && s.column == info.column
                    })
            })
        })
        .collect()
}

/// The strongly connected components of a graph of `n` nodes with sorted
/// `edges` (Tarjan's algorithm, without recursion): each node's component
/// and the number of components.
fn components(n: usize, edges: &[(u32, u32)]) -> (Vec<u32>, usize) {
    let mut start = vec![0usize; n + 1];
    for &(a, _) in edges {
        start[a as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let succ = |v: usize| {
        edges[start[v]..start[v + 1]]
            .iter()
            .map(|&(_, b)| b as usize)
    };
    const NONE: usize = usize::MAX;
    let mut index = vec![NONE; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![u32::MAX; n];
    let mut ncomp = 0usize;
    let mut counter = 0usize;
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        // (node, position in its successors)
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            if let Some(w) = succ(v).nth(*k) {
                *k += 1;
                if index[w] == NONE {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(u, _)) = call.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                loop {
                    let w = stack.pop().expect("on the stack");
                    on_stack[w] = false;
                    comp[w] = ncomp as u32;
                    if w == v {
                        break;
                    }
                }
                ncomp += 1;
            }
        }
    }
    (comp, ncomp)
}

/// A topological numbering of the `n` blocks (ties broken by `hint`).
fn topo_rank(n: usize, block: &[u32], edges: &[(u32, u32)], hint: &[u32]) -> Vec<u32> {
    let mut bedges: Vec<(u32, u32)> = edges
        .iter()
        .map(|&(c, p)| (block[p as usize], block[c as usize]))
        .filter(|(a, b)| a != b)
        .collect();
    bedges.sort_unstable();
    bedges.dedup();
    let mut indeg = vec![0u32; n];
    let mut succ: Vec<Vec<u32>> = vec![Vec::new(); n];
    for &(a, b) in &bedges {
        succ[a as usize].push(b);
        indeg[b as usize] += 1;
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<(u32, u32)>> = (0..n as u32)
        .filter(|&b| indeg[b as usize] == 0)
        .map(|b| std::cmp::Reverse((hint[b as usize], b)))
        .collect();
    let mut rank = vec![u32::MAX; n];
    let mut next = 0;
    while let Some(std::cmp::Reverse((_, b))) = ready.pop() {
        rank[b as usize] = next;
        next += 1;
        for &s in &succ[b as usize] {
            indeg[s as usize] -= 1;
            if indeg[s as usize] == 0 {
                ready.push(std::cmp::Reverse((hint[s as usize], s)));
            }
        }
    }
    assert_eq!(
        next as usize, n,
        "taskgraph internal error: blocks in a cycle"
    );
    rank
}

/// Names each block after the functions it runs and the loop iterations
/// of its first family: `inc_dec_add[0..31]`, `blend[3,0..3,7]`, and
/// `add[tree]` for what is left of a `tree_reduce`.
fn name_blocks(
    inst: &Instance,
    blocks: &mut [Block],
    indices: &[Vec<u32>],
    base: &[usize],
    reduce: &[bool],
) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for b in blocks.iter_mut() {
        let mut names: Vec<String> = Vec::new();
        for r in &b.run {
            let name: String = inst
                .family_info(r.family)
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let name = name.trim_matches('_').to_owned();
            let name = if name.is_empty() {
                "task".to_owned()
            } else {
                name
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut label = names.iter().take(3).cloned().collect::<Vec<_>>().join("_");
        if names.len() > 3 {
            label.push_str("_etc");
        }
        let first = b.run[0];
        let lo = &indices[base[first.family as usize] + first.lo as usize];
        let hi = &indices[base[first.family as usize] + first.hi as usize - 1];
        let show = |at: &[u32]| at.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        b.tree = reduce[first.family as usize];
        let range = match (lo.is_empty(), lo == hi) {
            _ if reduce[first.family as usize] => "tree".to_owned(),
            (true, _) => String::new(),
            (false, true) => show(lo),
            (false, false) => format!("{}..{}", show(lo), show(hi)),
        };
        let mut name = format!("{label}[{range}]");
        let count = seen.entry(name.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            name = format!("{label}[{range}#{count}]");
        }
        b.name = name;
    }
}

#[cfg(test)]
mod tests {
    use super::{Chunks, Sizing};

    /// The chunks' sizes, from their starts.
    fn sizes(extent: u32, starts: &[u32]) -> Vec<u32> {
        starts
            .iter()
            .zip(starts.iter().skip(1).chain([&extent]))
            .map(|(lo, hi)| hi - lo)
            .collect()
    }

    #[test]
    fn an_outermost_loop_is_cut_guided() {
        let sizing = Sizing {
            block_size: 0,
            threads: 4,
        };
        let Chunks::Starts(starts) = sizing.chunks(100, true) else {
            panic!("an outermost loop of 100 iterations is cut guided")
        };
        let got = sizes(100, &starts);
        // About a sixteenth (GUIDED_SHARE = 4 x 4 threads) of what is left,
        // as a power of two, down to one iteration at the end.
        let mut want = vec![4; 10];
        want.extend([2; 15]);
        want.extend([1; 30]);
        assert_eq!(got, want);
        for (lo, size) in starts.iter().zip(&got) {
            assert!(
                size.is_power_of_two() && lo.is_multiple_of(*size),
                "{lo} {size}"
            );
        }
        // Each iteration's chunk is the one whose range holds it.
        let chunks = Chunks::Starts(starts.clone());
        for i in 0..100 {
            let k = chunks.of(i) as usize;
            assert!(
                starts[k] <= i && starts.get(k + 1).is_none_or(|&s| i < s),
                "{i}"
            );
        }
    }

    #[test]
    fn guided_chunks_cover_any_extent_aligned_and_never_grow() {
        for threads in [1, 2, 3, 4, 8, 64] {
            let sizing = Sizing {
                block_size: 0,
                threads,
            };
            for extent in (1..300).chain([1000, 4097, 1 << 20, u32::MAX / 2]) {
                let Chunks::Starts(starts) = sizing.chunks(extent, true) else {
                    panic!()
                };
                assert_eq!(starts[0], 0);
                let got = sizes(extent, &starts);
                let last = got.len() - 1;
                for (k, (&lo, &size)) in starts.iter().zip(&got).enumerate() {
                    // The last chunk may be cut short by the loop's end.
                    let full = if k == last {
                        size.next_power_of_two()
                    } else {
                        size
                    };
                    assert!(
                        full.is_power_of_two() && lo.is_multiple_of(full),
                        "{extent} {threads}: {got:?}"
                    );
                    assert!(k == 0 || size <= got[k - 1], "{extent} {threads}: {got:?}");
                }
                // Never smaller than the equal cut's size, rounded down.
                let smallest = 1 << (extent / (16 * threads)).max(1).ilog2();
                assert!(
                    got[..last].iter().all(|&s| s >= smallest),
                    "{extent}: {got:?}"
                );
                assert!(starts.len() as u64 <= u64::from(extent));
            }
        }
    }

    #[test]
    fn inner_loops_and_set_sizes_are_cut_evenly() {
        let chosen = Sizing {
            block_size: 0,
            threads: 4,
        };
        // 16 blocks per thread: 64 of a loop of 256 inside another.
        assert!(matches!(chosen.chunks(256, false), Chunks::Even(4)));
        let set = Sizing {
            block_size: 3,
            threads: 4,
        };
        assert!(matches!(set.chunks(100, true), Chunks::Even(3)));
        assert_eq!(Chunks::Even(3).of(7), 2);
    }
}
