//! The topology of a sealed graph: consumer-side runs of edges
//! (`RunList`), turned into producer-side rules (`rule.rs`) per family,
//! the per-node counters and states, and the per-family data the executor
//! reads on every node (`Meta`). Built once per compute from the runtime's
//! cache, reused by the next.

use super::cache::Cache;
use super::part::{NodeRange, OUT_OF_PART};
use super::rule::{Rule, RuleKind, CARRIES, SILENT};
use super::{ErasedFamily, Kind, FINAL};
use crate::error::Error;
use crate::sync::{with_mut, AtomicU32, Ordering};
use crate::value::slot::NOT_RUN;
use crate::value::{NodeId, Piece};

/// A run of consecutive consumer nodes `c0..c0 + n` whose input reads
/// producer node `p0 + k * stride` of family `p_fam` for consumer `c0 + k`
/// (`stride` 0: all read the same node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InRun {
    pub(crate) c0: u32,
    pub(crate) n: u32,
    pub(crate) p_fam: u32,
    pub(crate) p0: u32,
    pub(crate) stride: u32,
}

/// One input of every node of a family, as runs: values made in loop order
/// and read in loop order take one run, whatever the number of nodes.
#[derive(Debug, Default)]
pub struct RunList {
    pub(crate) runs: Vec<InRun>,
    /// The run the last lookup found: nodes mostly run in order, so the
    /// next lookup usually finds its run there or just after. A hint only
    /// (any value is correct), shared by the threads without ordering.
    pub(crate) hint: AtomicU32,
}

impl RunList {
    /// Records that node `c` (the next one: nodes are added in order) reads `p`.
    #[inline]
    pub(crate) fn add(&mut self, c: u32, p: NodeId) {
        if let Some(r) = self.runs.last_mut() {
            if r.p_fam == p.fam && r.c0 + r.n == c {
                if r.n == 1 && p.idx >= r.p0 {
                    r.stride = p.idx - r.p0;
                    r.n = 2;
                    return;
                }
                let next = r.stride.checked_mul(r.n).and_then(|d| d.checked_add(r.p0));
                if next == Some(p.idx) {
                    r.n += 1;
                    return;
                }
            }
        }
        self.runs.push(InRun {
            c0: c,
            n: 1,
            p_fam: p.fam,
            p0: p.idx,
            stride: 0,
        });
    }

    /// Records that nodes `c0..c0 + n` (the next ones) read `p0`, `p0 +
    /// stride`, ...: the same runs as `n` calls of [`add`](Self::add), with
    /// the first two added as `add` does and the rest counted at once.
    pub(crate) fn add_run(&mut self, c0: u32, n: u32, p0: NodeId, stride: u32) {
        let at = |j: u32| NodeId::new(p0.fam, p0.idx + j * stride);
        let mut j = 0;
        while j < n.min(2) {
            self.add(c0 + j, at(j));
            j += 1;
        }
        if let (2, Some(r)) = (j, self.runs.last_mut()) {
            // The last run ends with the two nodes just added, at this
            // stride: `add` would extend it by each node that follows.
            let last = (r.n - 1)
                .checked_mul(stride)
                .and_then(|d| d.checked_add(r.p0));
            if r.p_fam == p0.fam
                && r.n >= 2
                && r.c0 + r.n == c0 + 2
                && r.stride == stride
                && last == Some(at(1).idx)
            {
                r.n += n - 2;
                return;
            }
        }
        while j < n {
            self.add(c0 + j, at(j));
            j += 1;
        }
    }

    /// The producer node `c` reads.
    #[inline]
    pub(crate) fn get(&self, c: u32) -> NodeId {
        let r = match self.runs.len() {
            1 => &self.runs[0],
            n => {
                use Ordering::Relaxed;
                let h = self.hint.load(Relaxed) as usize;
                let within = |k: usize| {
                    k < n && self.runs[k].c0 <= c && c - self.runs[k].c0 < self.runs[k].n
                };
                let k = if within(h) {
                    h
                } else if within(h + 1) {
                    self.hint.store((h + 1) as u32, Relaxed);
                    h + 1
                } else {
                    let k = self.runs.partition_point(|r| r.c0 <= c) - 1;
                    self.hint.store(k as u32, Relaxed);
                    k
                };
                &self.runs[k]
            }
        };
        NodeId::new(r.p_fam, r.p0 + (c - r.c0) * r.stride)
    }

    pub(crate) fn runs(&self) -> &[InRun] {
        &self.runs
    }
}

/// What the executor reads about a family on every node: kept in one
/// array, so running a node makes no virtual call beyond the task itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    /// Global number of the family's first node.
    pub(crate) base: u32,
    pub(crate) len: u32,
    /// The family's rules: `rules[rules_lo..rules_hi]`.
    pub(crate) rules_lo: u32,
    pub(crate) rules_hi: u32,
    /// Its rules' span classes: `segs[2 * segs_lo..2 * segs_hi]`.
    pub(crate) segs_lo: u32,
    pub(crate) segs_hi: u32,
    pub(crate) kind: Kind,
    /// Every node has exactly one input: it is ready as soon as that input
    /// is, with no counter.
    pub(crate) single: bool,
    /// A task family with at most `SCAN_RULES` rules, none of them strided
    /// by a step that is not a power of two, outside a part run: completing
    /// one of its nodes scans them (`Run::complete`).
    pub(crate) plain: bool,
    /// For a plain family: nodes `alt_lo..alt_lo + alt_len` whose rules
    /// depend only on their parity, none where `alt_len` is 0. Where every
    /// rule covers every node (values read in loop order, or whole), all of
    /// them, with the same rules either way; otherwise, where each rule
    /// covers every node or every other node of its range, the longest run
    /// of nodes inside or outside each rule's range as a whole (a pairwise
    /// tree's producers, read by even and odd consumers in turn; a step's
    /// values but the last step's, read by the next step). `alt_uses[k]`:
    /// the uses of the value of a node with `idx & 1 == k`; `alt_tell[k]`:
    /// the rules (bit `j`: the family's rule `j`) whose consumers it tells.
    /// Its nodes then find neither uses nor consumers by testing rules.
    pub(crate) alt_lo: u32,
    pub(crate) alt_len: u32,
    pub(crate) alt_uses: [u32; 2],
    pub(crate) alt_tell: [u8; 2],
    /// For a task family with more rules than a scan takes (outside a part
    /// run): its intervals are `Topology::ivals` pairs `ivals_lo..ivals_hi`
    /// (see there); equal when it has none (its rules are searched).
    pub(crate) ivals_lo: u32,
    pub(crate) ivals_hi: u32,
    /// The family's output cells (set when the run is prepared).
    pub(crate) values: *mut u8,
}

impl Meta {
    /// A family's entry before its rules, span classes, uniform counts and
    /// interval index are found (`Topology::build` fills them in).
    fn unset(base: u32, len: u32, kind: Kind, single: bool) -> Meta {
        Meta {
            base,
            len,
            rules_lo: 0,
            rules_hi: 0,
            segs_lo: 0,
            segs_hi: 0,
            kind,
            single,
            plain: false,
            alt_lo: 0,
            alt_len: 0,
            alt_uses: [0; 2],
            alt_tell: [0; 2],
            ivals_lo: 0,
            ivals_hi: 0,
            values: std::ptr::null_mut(),
        }
    }
}

/// Dependency counters, value states and rules, flat over all nodes.
///
/// Node `(f, i)` has the global number `base[f] + i`. Every buffer comes from
/// the runtime's cache and goes back to it, so repeated computes reuse the
/// same pages.
pub(crate) struct Topology {
    pub(crate) meta: Vec<Meta>,
    /// Per node: the inputs it still waits for.
    pub(crate) pending: Vec<AtomicU32>,
    /// Per node: its value's state (`../value/slot.rs`).
    pub(crate) states: Vec<AtomicU32>,
    /// Per family, sorted by span class (`hi - lo` in `[2^c, 2^(c+1))`),
    /// then by `lo`.
    pub(crate) rules: Vec<Rule>,
    /// Per rule: the largest `hi` of this and the earlier rules of its
    /// family and class; then, from `segs_at`, pairs `[first, end)` of rule
    /// positions, one per family and class.
    pub(crate) reach: Vec<u32>,
    pub(crate) segs_at: usize,
    /// Per class segment: where its last search ended (a hint: nodes of a
    /// family mostly complete in order).
    pub(crate) hints: Vec<AtomicU32>,
    /// Per gather rule read by several consumers (`Rule::group`): its
    /// producers still to come. The consumers are told once, when the last
    /// one is done, instead of once per producer each.
    pub(crate) groups: Vec<AtomicU32>,
    /// The interval index of families with many rules (`Meta::ivals_lo`):
    /// pairs `(first node, start in ilist)`, one per interval of nodes
    /// covered by the same rules, in node order, each family's followed by
    /// a pair `(u32::MAX, end in ilist)`. Completing a node finds its
    /// interval (where the family's last search ended, or just after it,
    /// or searched for) and tests only the rules listed there (at most
    /// `INDEXED_RULES`), instead of searching every span class.
    pub(crate) ivals: Vec<u32>,
    /// The rules (positions in `rules`) of each interval.
    pub(crate) ilist: Vec<u32>,
    /// Where the interval index's hints start in `hints`: one per family.
    pub(crate) ival_hints: usize,
    /// Whether a family reads values from outside the run (`source.rs`).
    pub(crate) sources: bool,
    /// The gathered ranges whose readers release their uses together
    /// (`reader_group`): entries of 4 words `[p_fam, lo, hi, counter]`
    /// (`counter`: its position in `groups`), in the rules' order (by
    /// producer family, span class, first producer). Empty when none.
    pub(crate) readers: Vec<u32>,
}

/// A range of at least this many values that tasks gather, each reading it
/// whole, and more than once in all: its readers release their uses
/// together (one count a read, `Topology::reader_group`), not one a value
/// each. Below, finding the group costs more than the releases it saves.
pub(crate) const GROUP_READ_MIN: u32 = 8;

/// The span class of a range of `len` nodes (as `span_class`).
#[inline(always)]
fn class_of(len: u32) -> u32 {
    32 - len.max(1).leading_zeros()
}

/// Finds the gathered ranges whose every reading rule is a task family's
/// gather (read through `pass.rs`, which counts group reads) of at least
/// `GROUP_READ_MIN` values, read more than once in all: each gets a reader
/// counter in `groups` (its reads) and an entry in `readers`; its first
/// rule gives each producer the group's one use (`CARRIES`), the others
/// none (`SILENT`). A fused loop's gathers and the graph's output read
/// values otherwise: a range they read is not grouped. `rules` are sorted:
/// rules of one range lie together.
#[cold]
fn group_readers(
    rules: &mut [Rule],
    meta: &[Meta],
    groups: &mut Vec<AtomicU32>,
    readers: &mut Vec<u32>,
) {
    let mut k = 0;
    while k < rules.len() {
        let (f, lo) = (rules[k].p_fam, rules[k].lo);
        let end = k + rules[k..]
            .iter()
            .take_while(|x| (x.p_fam, x.lo) == (f, lo))
            .count();
        // Many rules from one producer are not compared pair by pair.
        if end - k <= 32 {
            for i in k..end {
                let hi = rules[i].hi;
                let range = |x: &Rule| x.kind == RuleKind::Gather && x.hi == hi;
                if !range(&rules[i]) || hi - lo < GROUP_READ_MIN || rules[k..i].iter().any(range) {
                    continue;
                }
                let same = || rules[i..end].iter().filter(|x| range(x));
                let tasks =
                    |x: &Rule| x.c_fam != FINAL && meta[x.c_fam as usize].kind == Kind::Tasks;
                let reads: u32 = same().map(|x| x.step).sum();
                if reads < 2 || !same().all(tasks) {
                    continue;
                }
                readers.extend([f, lo, hi, groups.len() as u32]);
                groups.push(AtomicU32::new(reads));
                let mut first = true;
                for x in rules[i..end].iter_mut().filter(|x| range(x)) {
                    x.grouped = if first { CARRIES } else { SILENT };
                    first = false;
                }
            }
        }
        k = end;
    }
}

/// The span class of a rule: rules of one class overlap a node only if
/// their `lo` is within twice the class's span before it, so a search by
/// `lo` stops after a few rules even when other classes hold long rules.
#[inline]
pub(crate) fn span_class(r: &Rule) -> u32 {
    32 - (r.hi - r.lo).max(1).leading_zeros()
}

/// A gather of at most this many values that one consumer reads alone may
/// be recorded as one strided edge per value (`slide_gathers`).
const SLIDE_LEN: u32 = 16;

/// How many strided rules `slide_gathers` keeps open to extend: one per
/// position in the gathers it merges.
const OPEN_SLIDES: usize = 8;

/// Rewrites the gather rules `rules[first..]` of one consumer family (in
/// consumer order) as strided rules where that makes fewer rules.
///
/// A short gather read by one consumer (`v[i - 1..=i + 1]` for each `i`, or
/// an FFT butterfly's `v[i - s]`, `v[i]`, `v[i + s]`) is one rule per
/// consumer, so a family of such tasks has as many rules as nodes: sorting
/// them dominated building the graph, and searching them completing a node.
/// Its values read one by one, position `j` of consecutive consumers
/// reading consecutive producers is one strided rule (producer `lo + k`,
/// consumer `c0 + k`): a few rules a step instead of one a task. A
/// producer's uses and the consumers it tells are the same either way.
fn slide_gathers(rules: &mut Vec<Rule>, first: usize, scratch: &mut Vec<Rule>) {
    let tail = &rules[first..];
    let slides = |r: &Rule| r.kind == RuleKind::Gather && r.step == 1 && r.hi - r.lo <= SLIDE_LEN;
    if tail.len() < 2 * OPEN_SLIDES || !tail.iter().all(slides) {
        return;
    }
    scratch.clear();
    // Open rules (positions in `scratch`), the last one extended first, and
    // the value each reads next: producer family, producer (`u32::MAX`, no
    // rule: a gather's producers end at or below it) and consumer. Kept
    // apart from the rules, a try is a comparison of three words.
    let mut open = [0usize; OPEN_SLIDES];
    let mut want = [(0u32, u32::MAX, 0u32); OPEN_SLIDES];
    let mut used = [0u32; OPEN_SLIDES];
    let (mut last, mut clock) = (0, 0u32);
    for g in tail {
        for x in g.lo..g.hi {
            clock = clock.wrapping_add(1);
            let hit = (1..=OPEN_SLIDES)
                .map(|d| (last + d) % OPEN_SLIDES)
                .find(|&k| want[k] == (g.p_fam, x, g.c0));
            let k = match hit {
                Some(k) => {
                    scratch[open[k]].hi += 1;
                    k
                }
                None => {
                    if scratch.len() >= tail.len() {
                        // No fewer rules this way: keep the gathers.
                        return;
                    }
                    let k = (0..OPEN_SLIDES).min_by_key(|&k| used[k]).unwrap_or(0);
                    open[k] = scratch.len();
                    scratch.push(Rule::new(
                        g.p_fam,
                        x,
                        x + 1,
                        g.c_fam,
                        g.c0,
                        1,
                        RuleKind::Strided,
                    ));
                    k
                }
            };
            (want[k], used[k], last) = ((g.p_fam, x + 1, g.c0 + 1), clock, k);
        }
    }
    rules.truncate(first);
    rules.append(scratch);
}

/// Sorts `rules` by producer family, span class and first producer. A long
/// list in order or nearly so is sorted by insertion (`insertion_sort`: a
/// stencil's slid rules, each step's pair swapped, cost a comparison and
/// a move or two a rule). One further out of order is sorted as keys and
/// positions (16 bytes each, the key computed once) and then moved into
/// order, instead of moving 52-byte rules around while sorting: rules that
/// come out of order (short gathers made strided rules, `slide_gathers`)
/// cost a third as much to sort. The buffer the
/// rules leave goes back to the cache for the next compute.
fn sort_rules(rules: &mut Vec<Rule>, cache: &Cache) {
    let key = sort_key;
    if rules.len() <= KEYED_SORT {
        rules.sort_unstable_by_key(key);
        return;
    }
    // A list in order or nearly (`slide_gathers`' rules of a stencil) is
    // sorted in place; one further out of order goes on to the keys.
    if insertion_sort(rules, key, SORT_REACH) {
        return;
    }
    let mut keys: Vec<(u64, u32, u32)> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (a, b) = key(r);
            (a, b, i as u32)
        })
        .collect();
    keys.sort_unstable();
    let mut sorted = cache.take_rules();
    sorted.reserve(rules.len());
    sorted.extend(keys.iter().map(|&(_, _, i)| rules[i as usize]));
    cache.give_rules(std::mem::replace(rules, sorted));
}

/// The order of rules (`sort_rules`): producer family, span class, first
/// producer.
fn sort_key(r: &Rule) -> (u64, u32) {
    (u64::from(r.p_fam) << 6 | u64::from(span_class(r)), r.lo)
}

/// Sorts `rules` by `key` by insertion, stably, unless a rule would move
/// back more than `reach` places; then returns `false`, the rules in some
/// order. A list already in order costs one comparison a rule, and one
/// whose rules are each a few places out of order (`slide_gathers`' rules
/// of a stencil's step: the rule of `v[i - 1]` made after that of
/// `v[i + 1]`) a move or two more. A list of interleaved sorted runs (each
/// step's rules of two span classes) gives up after a few steps.
fn insertion_sort<K: Ord>(rules: &mut [Rule], key: impl Fn(&Rule) -> K, reach: usize) -> bool {
    for i in 1..rules.len() {
        let r = rules[i];
        let k = key(&r);
        let mut j = i;
        while j > 0 && key(&rules[j - 1]) > k {
            if i - j == reach {
                rules[j] = r;
                return false;
            }
            rules[j] = rules[j - 1];
            j -= 1;
        }
        rules[j] = r;
    }
    true
}

/// How far back `sort_rules` lets an insertion sort move a rule before it
/// sorts by keys instead.
const SORT_REACH: usize = 8;

/// Lists of rules longer than this are sorted by keys (`sort_rules`).
const KEYED_SORT: usize = 64;

/// Rules of one family beyond this many are searched, not scanned.
pub(crate) const SCAN_RULES: usize = 8;

/// A family none of whose nodes is covered by more rules than this gets
/// an interval index (`Topology::ivals`); one with more is searched.
pub(crate) const INDEXED_RULES: usize = 8;

/// A family gets an interval index only with at least this many nodes a
/// rule.
const NODES_PER_RULE: usize = 8;

/// Appends the interval index of one family (`Meta::ivals_lo`,
/// `Topology::ivals`) whose rules are `own`, the positions `m.rules_lo..`
/// in the sorted rules, by span class in `classes` (pairs `[first, end)`
/// of positions, each sorted by `lo`). Swept over the rules' bounds in node
/// order (the next start is the least of each class's next rule, the next
/// end the least of the open rules', so nothing is sorted), each interval
/// between two bounds lists the rules open there (which cover some of its
/// nodes: a strided rule every `step`-th one). Nothing is appended if some
/// node has more than `INDEXED_RULES` rules, or if the index would take
/// more than `max_words` (its family is searched as before).
fn index_family(
    m: &mut Meta,
    own: &[Rule],
    classes: &[u32],
    ivals: &mut Vec<u32>,
    ilist: &mut Vec<u32>,
    max_words: usize,
) {
    let (len, first) = (m.len, m.rules_lo);
    // Each class's next rule to open, and where it ends (positions in `own`).
    let mut next = [(0usize, 0usize); 34];
    let n_classes = classes.len() / 2;
    if n_classes > next.len() {
        return;
    }
    for (c, pair) in next.iter_mut().zip(classes.chunks_exact(2)) {
        *c = ((pair[0] - first) as usize, (pair[1] - first) as usize);
    }
    let next = &mut next[..n_classes];
    let (pairs, listed) = (ivals.len(), ilist.len());
    // The open rules (positions in the rules) and their clipped ends.
    let mut open = [0u32; INDEXED_RULES];
    let mut ends = [0u32; INDEXED_RULES];
    let mut n_open = 0;
    // The interval being swept starts at `start`; whether the one before
    // it listed no rule (two such in a row are one).
    let (mut start, mut empty_before) = (0, false);
    loop {
        // The next bound: the least start to come or end of an open rule.
        // A rule with no node of the family is skipped.
        let mut at = u32::MAX;
        for (k, end) in next.iter_mut() {
            while *k < *end && own[*k].lo >= own[*k].hi.min(len) {
                *k += 1;
            }
            if *k < *end {
                at = at.min(own[*k].lo);
            }
        }
        at = ends[..n_open].iter().fold(at, |a, &e| a.min(e));
        if at == u32::MAX {
            break;
        }
        if at > start {
            if n_open > 0 || !empty_before {
                ivals.extend([start, ilist.len() as u32]);
                ilist.extend_from_slice(&open[..n_open]);
            }
            empty_before = n_open == 0;
            start = at;
        }
        // Rules that end here are closed before those that start here open.
        let mut j = 0;
        while j < n_open {
            if ends[j] == at {
                open.copy_within(j + 1..n_open, j);
                ends.copy_within(j + 1..n_open, j);
                n_open -= 1;
            } else {
                j += 1;
            }
        }
        for (k, end) in next.iter_mut() {
            while *k < *end && own[*k].lo == at {
                let r = &own[*k];
                if r.lo < r.hi.min(len) {
                    if n_open == INDEXED_RULES {
                        ivals.truncate(pairs);
                        ilist.truncate(listed);
                        return;
                    }
                    (open[n_open], ends[n_open]) = (first + *k as u32, r.hi.min(len));
                    n_open += 1;
                }
                *k += 1;
            }
        }
    }
    if start < len && !empty_before {
        ivals.extend([start, ilist.len() as u32]);
    }
    if ivals.len() - pairs + ilist.len() - listed + 2 > max_words {
        ivals.truncate(pairs);
        ilist.truncate(listed);
        return;
    }
    m.ivals_lo = (pairs / 2) as u32;
    m.ivals_hi = (ivals.len() / 2) as u32;
    ivals.extend([u32::MAX, ilist.len() as u32]);
}

/// The fewest nodes `Meta::alt_len` is kept for, unless every rule covers
/// every node.
const ALT_MIN: u32 = 16;

/// `Meta::alt_lo`, `alt_len`, `alt_uses` and `alt_tell` of a plain family of
/// `len` nodes with rules `own` (at most `SCAN_RULES`, each exact with
/// `covers_masked`): all of its nodes if every rule covers every one;
/// otherwise, if every mask is 0 or 1 (a rule covers every node of its
/// range, or every other), the longest run of nodes between two
/// consecutive bounds of the rules (each rule covers all of it or none of
/// it) if it holds at least `ALT_MIN` nodes; else none. In it, a node's
/// rules depend only on its parity: found once for the first node of each.
fn alternating(own: &[Rule], len: u32) -> (u32, u32, [u32; 2], [u8; 2]) {
    debug_assert!(own.len() <= SCAN_RULES);
    let (lo, hi) = if own.iter().all(|r| r.lo == 0 && r.hi >= len && r.mask == 0) {
        (0, len)
    } else if own.iter().any(|r| r.mask > 1) {
        return (0, 0, [0; 2], [0; 2]);
    } else {
        let mut bounds: Vec<u32> = own
            .iter()
            .flat_map(|r| [r.lo.min(len), r.hi.min(len)])
            .chain([0, len])
            .collect();
        bounds.sort_unstable();
        let run = bounds
            .windows(2)
            .map(|w| (w[0], w[1]))
            .max_by_key(|&(a, b)| b - a);
        match run {
            Some((a, b)) if b - a >= ALT_MIN => (a, b),
            _ => return (0, 0, [0; 2], [0; 2]),
        }
    };
    let (mut uses, mut tell) = ([0; 2], [0; 2]);
    for p in lo..hi.min(lo + 2) {
        let k = (p & 1) as usize;
        for (j, r) in own.iter().enumerate() {
            if r.covers_masked(p) {
                uses[k] += r.uses();
                tell[k] |= u8::from(r.tells()) << j;
            }
        }
    }
    if hi - lo == 1 {
        // One node: the other parity never asks.
        let k = (lo & 1) as usize;
        (uses[1 - k], tell[1 - k]) = (uses[k], tell[k]);
    }
    (lo, hi - lo, uses, tell)
}

impl Topology {
    /// Builds the topology of `fams` (numbered in order) and the graph's
    /// output references `finals`. With `strict` (a part run, `../part.rs`)
    /// every edge is waited for, none implied by another, and every node
    /// counts its inputs.
    pub(crate) fn build(
        fams: &[&dyn ErasedFamily<'_>],
        finals: &[Piece],
        cache: &Cache,
        strict: bool,
    ) -> Result<Self, Error> {
        let mut meta = Vec::with_capacity(fams.len());
        let mut total: u64 = 0;
        for f in fams {
            let c = f.core();
            meta.push(Meta::unset(
                total as u32,
                c.len,
                c.kind,
                c.singles == 1 && !strict,
            ));
            total += u64::from(c.len);
        }
        if total >= u64::from(u32::MAX - 2) {
            return Err(Error::GraphTooLarge {
                message: format!(
                    "it has {total} nodes, and a graph holds at most {}",
                    u32::MAX - 3
                ),
            });
        }
        let n = total as usize;
        let mut pending = cache.take_atomics(n)?;
        let mut states = cache.take_atomics(n)?;
        states.resize_with(n, || AtomicU32::new(NOT_RUN));
        let mut rules = cache.take_rules();
        let mut scratch = Vec::new();
        let mut long = false;
        for (c_fam, f) in fams.iter().enumerate() {
            let core = f.core();
            if core.kind == Kind::Elements {
                meta[c_fam].single = false;
            }
            let (singles, implied) = match strict {
                false => (core.singles, core.implied),
                true => (core.singles + core.implied.count_ones(), 0),
            };
            pending.extend((0..core.len).map(|_| AtomicU32::new(singles)));
            for (j, list) in core.runs.iter().enumerate() {
                for r in list.runs() {
                    let (hi, kind, step) = if r.stride == 0 {
                        (r.p0 + 1, RuleKind::Broadcast, r.n)
                    } else {
                        (r.p0 + (r.n - 1) * r.stride + 1, RuleKind::Strided, r.stride)
                    };
                    let mut rule = Rule::new(r.p_fam, r.p0, hi, c_fam as u32, r.c0, step, kind);
                    rule.notify &= implied & (1 << j) == 0;
                    rules.push(rule);
                }
            }
            let b = meta[c_fam].base as usize;
            let mut gathers = false;
            let first_gather = rules.len();
            f.for_each_gather(&mut |c, p| {
                gathers = true;
                with_mut(&mut pending[b + c as usize], |x| *x += p.len);
                // Consecutive consumers gathering the same producers share
                // one rule (`all_to_all`: a step's every task reads the
                // whole step before).
                if let Some(r) = rules.last_mut() {
                    if r.kind == RuleKind::Gather
                        && r.c_fam == c_fam as u32
                        && r.c0 + r.step == c
                        && (r.p_fam, r.lo, r.hi) == (p.fam, p.start, p.start + p.len)
                    {
                        r.step += 1;
                        return;
                    }
                }
                rules.push(Rule::new(
                    p.fam,
                    p.start,
                    p.start + p.len,
                    c_fam as u32,
                    c,
                    1,
                    RuleKind::Gather,
                ));
            });
            if gathers {
                meta[c_fam].single = false;
                slide_gathers(&mut rules, first_gather, &mut scratch);
                // A long range read whole by several tasks: its readers
                // may be grouped (`group_readers`).
                long = long
                    || rules[first_gather..].iter().any(|r| {
                        r.kind == RuleKind::Gather && r.step > 1 && r.hi - r.lo >= GROUP_READ_MIN
                    });
            }
        }
        for p in finals {
            rules.push(Rule::new(
                p.fam,
                p.start,
                p.start + p.len,
                FINAL,
                0,
                1,
                RuleKind::Gather,
            ));
        }
        for r in rules.iter_mut().filter(|r| r.c_fam != FINAL) {
            let m = &meta[r.c_fam as usize];
            (r.counted, r.c_base) = (!m.single, m.base);
        }
        sort_rules(&mut rules, cache);
        // Reader counters first, then the producers' group counters.
        let mut groups = cache.take_atomics(0)?;
        let mut readers = Vec::new();
        if long && !strict {
            readers = cache.take_words(0)?;
            group_readers(&mut rules, &meta, &mut groups, &mut readers);
        }
        let mut ivals = cache.take_words(0)?;
        let mut ilist = cache.take_words(0)?;
        // One buffer for both: at most 33 classes per family.
        let mut reach = cache.take_words(rules.len() + 66 * meta.len())?;
        reach.resize(rules.len(), 0);
        let segs_at = rules.len();
        let mut k = 0;
        for (f, m) in meta.iter_mut().enumerate() {
            while k < rules.len() && (rules[k].p_fam as usize) < f {
                k += 1;
            }
            m.rules_lo = k as u32;
            m.segs_lo = ((reach.len() - segs_at) / 2) as u32;
            while k < rules.len() && rules[k].p_fam as usize == f {
                let (start, class) = (k, span_class(&rules[k]));
                let mut max = 0;
                while k < rules.len()
                    && rules[k].p_fam as usize == f
                    && span_class(&rules[k]) == class
                {
                    max = max.max(rules[k].hi);
                    reach[k] = max;
                    k += 1;
                }
                reach.push(start as u32);
                reach.push(k as u32);
            }
            m.rules_hi = k as u32;
            let own = &rules[m.rules_lo as usize..k];
            m.plain = !strict
                && m.kind == Kind::Tasks
                && own.len() <= SCAN_RULES
                && own.iter().all(Rule::masked);
            if m.plain {
                let (lo, len, uses, tell) = alternating(own, m.len);
                (m.alt_lo, m.alt_len, m.alt_uses, m.alt_tell) = (lo, len, uses, tell);
            }
            m.segs_hi = ((reach.len() - segs_at) / 2) as u32;
            let segs = (m.segs_hi - m.segs_lo) as usize;
            // Only where intervals hold several nodes each (there are at
            // most twice as many as rules): with fewer, nodes complete out
            // of their intervals' order (a stencil of width 4 runs step
            // after step along a chain), and finding each one's interval
            // cost more than the search it saves.
            if !strict
                && m.kind == Kind::Tasks
                && own.len() > SCAN_RULES
                && own.len() * NODES_PER_RULE <= m.len as usize
            {
                let classes = &reach[segs_at + 2 * m.segs_lo as usize..][..2 * segs];
                // At most a word a node (many rules open at once over
                // short intervals would take more): else searched.
                let max_words = m.len as usize;
                index_family(m, own, classes, &mut ivals, &mut ilist, max_words);
            }
        }
        // A part run tells consumers node by node (a producer may be in
        // another part, its value injected: `Run::inject`).
        if !strict {
            for r in &mut rules {
                if r.kind == RuleKind::Gather && r.step > 1 && r.c_fam != FINAL && r.hi > r.lo {
                    r.group = groups.len() as u32;
                    groups.push(AtomicU32::new(r.hi - r.lo));
                }
            }
        }
        let sources = fams.iter().any(|f| f.core().kind == Kind::Source);
        Ok(Topology {
            pending,
            states,
            rules,
            // Per class; per family for the interval index; per family for
            // the grouped readers of its ranges.
            hints: {
                let n = (reach.len() - segs_at) / 2 + 2 * meta.len();
                let mut h = cache.take_atomics(n)?;
                h.resize_with(n, || AtomicU32::new(0));
                h
            },
            ival_hints: (reach.len() - segs_at) / 2,
            ivals,
            ilist,
            meta,
            groups,
            reach,
            segs_at,
            sources,
            readers,
        })
    }

    /// Leaves only the nodes of `run` able to become ready (a part run,
    /// `../part.rs`): every other node's counter starts out of reach.
    pub(crate) fn restrict(&mut self, run: &[NodeRange]) -> Result<(), String> {
        for p in &mut self.pending {
            with_mut(p, |p| *p = p.wrapping_add(OUT_OF_PART));
        }
        for r in run {
            let m = self.meta.get(r.family as usize).ok_or_else(|| {
                format!("the part names family {}, which does not exist", r.family)
            })?;
            if r.lo > r.hi || r.hi > m.len {
                return Err(format!(
                    "the part names nodes {}..{} of family {}, which has {}",
                    r.lo, r.hi, r.family, m.len
                ));
            }
            for g in m.base + r.lo..m.base + r.hi {
                let twice = with_mut(&mut self.pending[g as usize], |p| {
                    let twice = *p < OUT_OF_PART;
                    if !twice {
                        *p = p.wrapping_sub(OUT_OF_PART);
                    }
                    twice
                });
                if twice {
                    return Err(format!(
                        "the part names a node of family {} twice",
                        r.family
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether node `n` runs in this run (always, unless a part run leaves
    /// it out). Exact only before the run's first notification.
    pub(crate) fn in_part(&self, n: NodeId) -> bool {
        self.pending_now(n) < OUT_OF_PART
    }

    /// Gives the buffers back to the cache.
    pub(crate) fn recycle(self, cache: &Cache) {
        cache.give_atomics(self.pending);
        cache.give_atomics(self.states);
        cache.give_words(self.reach);
        cache.give_atomics(self.hints);
        cache.give_atomics(self.groups);
        cache.give_words(self.ivals);
        cache.give_words(self.ilist);
        cache.give_rules(self.rules);
        cache.give_words(self.readers);
    }

    /// The address of family `f`'s node states (valid while the topology
    /// is, wherever it moves: the buffer is not reallocated).
    pub(crate) fn states_of(&self, f: u32) -> *const AtomicU32 {
        self.states[self.meta[f as usize].base as usize..].as_ptr()
    }

    #[inline(always)]
    pub(crate) fn global(&self, n: NodeId) -> usize {
        (self.meta[n.fam as usize].base + n.idx) as usize
    }

    #[inline(always)]
    pub(crate) fn pending(&self, n: NodeId) -> &AtomicU32 {
        &self.pending[self.global(n)]
    }

    /// The number of nodes.
    pub(crate) fn states_len(&self) -> usize {
        self.states.len()
    }

    /// Node `n`'s value state, read after the run.
    pub(crate) fn state_now(&self, n: NodeId) -> u32 {
        self.states[self.global(n)].load(Ordering::Acquire)
    }

    pub(crate) fn pending_now(&self, n: NodeId) -> u32 {
        self.pending(n).load(Ordering::Relaxed)
    }

    /// Calls `f` with every rule that covers producer node `p`.
    #[inline]
    pub(crate) fn for_each_rule<'t>(&'t self, p: NodeId, mut f: impl FnMut(&'t Rule)) {
        let m = &self.meta[p.fam as usize];
        let (a, b) = (m.rules_lo as usize, m.rules_hi as usize);
        let rules = &self.rules[a..b];
        if rules.len() <= SCAN_RULES {
            for r in rules {
                if r.covers(p.idx) {
                    f(r)
                }
            }
            return;
        }
        let segs = &self.reach[self.segs_at..];
        let first = m.segs_lo as usize;
        for (j, s) in segs[2 * first..2 * m.segs_hi as usize]
            .chunks_exact(2)
            .enumerate()
        {
            let (lo, hi) = (s[0] as usize, s[1] as usize);
            let (rules, reach) = (&self.rules[lo..hi], &self.reach[lo..hi]);
            // The partition point of `lo <= idx`: where the last search
            // ended, or just after it, or searched for.
            let hint = &self.hints[first + j];
            let h = hint.load(Ordering::Relaxed) as usize;
            let at = |k: usize| {
                k <= rules.len()
                    && (k == 0 || rules[k - 1].lo <= p.idx)
                    && (k == rules.len() || rules[k].lo > p.idx)
            };
            let mut k = if at(h) {
                h
            } else if at(h + 1) {
                hint.store((h + 1) as u32, Ordering::Relaxed);
                h + 1
            } else {
                let k = rules.partition_point(|r| r.lo <= p.idx);
                hint.store(k as u32, Ordering::Relaxed);
                k
            };
            while k > 0 && reach[k - 1] > p.idx {
                k -= 1;
                if rules[k].covers(p.idx) {
                    f(&rules[k])
                }
            }
        }
    }

    /// The rules (positions in `rules`) that may cover node `idx` of family
    /// `f`, which has an interval index (`Meta::ivals_lo`): those listed for
    /// its interval. Each still has to be tested (`Rule::covers`).
    #[inline]
    pub(crate) fn indexed_rules(&self, f: u32, idx: u32) -> &[u32] {
        let m = &self.meta[f as usize];
        // The family's pairs and its closing one.
        let iv = &self.ivals[2 * m.ivals_lo as usize..2 * m.ivals_hi as usize + 2];
        let n = (m.ivals_hi - m.ivals_lo) as usize;
        let at = |k: usize| k < n && iv[2 * k] <= idx && idx < iv[2 * k + 2];
        let hint = &self.hints[self.ival_hints + f as usize];
        let h = hint.load(Ordering::Relaxed) as usize;
        let k = if at(h) {
            h
        } else if at(h + 1) {
            hint.store((h + 1) as u32, Ordering::Relaxed);
            h + 1
        } else {
            // The last interval starting at or before `idx` (the first
            // starts at node 0).
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if iv[2 * mid] <= idx {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let k = lo.saturating_sub(1);
            hint.store(k as u32, Ordering::Relaxed);
            k
        };
        &self.ilist[iv[2 * k + 1] as usize..iv[2 * k + 3] as usize]
    }

    /// The reader counter (in `groups`) of gathered range `piece`, if its
    /// readers release their uses together (`group_readers`): each read
    /// counts itself out once, and the last releases the group's one use
    /// of each value. Inline, only the length is tested: a short range is
    /// never grouped.
    #[inline(always)]
    pub(crate) fn reader_group(&self, piece: &Piece) -> Option<&AtomicU32> {
        if piece.len < GROUP_READ_MIN {
            return None;
        }
        self.long_reader_group(piece)
    }

    /// [`Topology::reader_group`] for a long range: the entry the producer
    /// family's last search found (the readers of a range read it one
    /// after another), else searched by family, span class and first
    /// producer.
    #[inline(never)]
    fn long_reader_group(&self, p: &Piece) -> Option<&AtomicU32> {
        let (e, _) = self.readers.as_chunks::<4>();
        if e.is_empty() {
            return None;
        }
        let want = [p.fam, p.start, p.start + p.len];
        let found = |x: &[u32; 4]| Some(&self.groups[x[3] as usize]);
        let hint = self
            .hints
            .get(self.ival_hints + self.meta.len() + p.fam as usize)?;
        let h = hint.load(Ordering::Relaxed) as usize;
        if let Some(x) = e.get(h).filter(|x| x[..3] == want) {
            return found(x);
        }
        let key = |x: &[u32; 4]| (x[0], class_of(x[2] - x[1]), x[1]);
        let at = (p.fam, class_of(p.len), p.start);
        let mut k = e.partition_point(|x| key(x) < at);
        while k < e.len() && key(&e[k]) == at {
            if e[k][2] == want[2] {
                hint.store(k as u32, Ordering::Relaxed);
                return found(&e[k]);
            }
            k += 1;
        }
        None
    }

    /// How many consumers (and output references) read node `p`'s value.
    #[inline]
    pub(crate) fn uses(&self, p: NodeId) -> u32 {
        let mut n = 0;
        self.for_each_rule(p, |r| n += r.uses());
        n
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! The group counter of a gather read by several consumers
    //! (`Topology::groups`, `Run::tell_range`): each producer writes its
    //! value and counts itself out of the group with `AcqRel`; the one that
    //! takes it to zero tells every consumer with the gather's whole count
    //! (`AcqRel` on the consumer's counter, as `Run::ready_range`); the
    //! thread that takes a consumer's counter to zero runs it. loom checks
    //! that a consumer's reads of every producer's value happen after the
    //! writes (its cells are loom's `UnsafeCell`s), through the two counters
    //! (it fails with a `Relaxed` group counter).
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
    use loom::sync::Arc;

    struct Graph {
        /// Producers 0 and 1 form the gather read by consumers 0 and 1;
        /// producer 2 is another input of consumer 0.
        values: [UnsafeCell<u32>; 3],
        group: AtomicU32,
        pending: [AtomicU32; 2],
        /// What each consumer read, and how many times consumers ran.
        read: [AtomicU32; 2],
        runs: AtomicUsize,
    }
    // SAFETY (model): the cells are accessed under the protocol under test,
    // which loom checks.
    unsafe impl Sync for Graph {}
    // SAFETY (model): as above.
    unsafe impl Send for Graph {}

    impl Graph {
        fn run_consumer(&self, c: usize) {
            let inputs: &[usize] = if c == 0 { &[0, 1, 2] } else { &[0, 1] };
            // SAFETY (model): loom checks that every write happened before.
            let sum: u32 = inputs
                .iter()
                .map(|&p| self.values[p].with(|v| unsafe { *v }))
                .sum();
            self.read[c].store(sum, Ordering::Relaxed);
            self.runs.fetch_add(1, Ordering::Relaxed);
        }

        fn tell(&self, c: usize, count: u32) {
            if self.pending[c].fetch_sub(count, Ordering::AcqRel) == count {
                self.run_consumer(c);
            }
        }

        fn produce(&self, p: usize) {
            // SAFETY (model): each producer writes only its own cell, once.
            self.values[p].with_mut(|v| unsafe { *v = 10 + p as u32 });
            if p == 2 {
                return self.tell(0, 1);
            }
            if self.group.fetch_sub(1, Ordering::AcqRel) == 1 {
                // The whole range (two producers) at once, to each consumer.
                self.tell(0, 2);
                self.tell(1, 2);
            }
        }
    }

    /// Three producers finish on three threads: each consumer runs once,
    /// after every value it reads was written.
    #[test]
    fn a_group_tells_its_consumers_once_after_every_producer() {
        loom::model(|| {
            let g = Arc::new(Graph {
                values: [UnsafeCell::new(0), UnsafeCell::new(0), UnsafeCell::new(0)],
                group: AtomicU32::new(2),
                pending: [AtomicU32::new(3), AtomicU32::new(2)],
                read: [AtomicU32::new(0), AtomicU32::new(0)],
                runs: AtomicUsize::new(0),
            });
            let threads: Vec<_> = (0..2)
                .map(|p| {
                    let g = Arc::clone(&g);
                    loom::thread::spawn(move || g.produce(p))
                })
                .collect();
            g.produce(2);
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(g.runs.load(Ordering::Relaxed), 2);
            assert_eq!(g.read[0].load(Ordering::Relaxed), 10 + 11 + 12);
            assert_eq!(g.read[1].load(Ordering::Relaxed), 10 + 11);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{
        index_family, insertion_sort, slide_gathers, sort_key, sort_rules, span_class, Meta, Rule,
        RuleKind, Topology, INDEXED_RULES, OPEN_SLIDES, SORT_REACH,
    };
    use crate::exec::cache::Cache;
    use crate::exec::Kind;
    use crate::sync::AtomicU32;

    /// The gather rules of consumers `0..n` of family 1, consumer `c`
    /// reading the producers (of family 0) `reads(c)`, as `Topology::build`
    /// makes them: one per piece, consecutive equal ranges merged.
    fn gathers(n: u32, reads: impl Fn(u32) -> Vec<(u32, u32)>) -> Vec<Rule> {
        let mut rules: Vec<Rule> = Vec::new();
        for c in 0..n {
            for (lo, hi) in reads(c) {
                if let Some(r) = rules.last_mut() {
                    if r.kind == RuleKind::Gather && r.c0 + r.step == c && (r.lo, r.hi) == (lo, hi)
                    {
                        r.step += 1;
                        continue;
                    }
                }
                rules.push(Rule::new(0, lo, hi, 1, c, 1, RuleKind::Gather));
            }
        }
        rules
    }

    /// Every edge the rules describe, `(producer, consumer)`, sorted.
    fn edges(rules: &[Rule]) -> Vec<(u32, u32)> {
        let mut e = Vec::new();
        for r in rules {
            for p in r.lo..r.hi {
                if !r.covers(p) {
                    continue;
                }
                match r.kind {
                    RuleKind::Strided => e.push((p, r.strided_consumer(p))),
                    _ => e.extend((r.c0..r.c0 + r.step).map(|c| (p, c))),
                }
            }
        }
        e.sort_unstable();
        e
    }

    /// Slides `rules` (after `keep` rules of another kind) and checks that
    /// the edges are the same; returns how many rules it made.
    fn slid(mut rules: Vec<Rule>) -> usize {
        let keep = Rule::new(0, 0, 5, 2, 0, 1, RuleKind::Strided);
        rules.insert(0, keep);
        let before = edges(&rules);
        slide_gathers(&mut rules, 1, &mut Vec::new());
        assert_eq!(edges(&rules), before);
        assert_eq!((rules[0].lo, rules[0].hi, rules[0].c_fam), (0, 5, 2));
        rules.len() - 1
    }

    /// Inside the run `alternating` finds, every node's uses and told rules
    /// are those a scan of the rules finds; outside it nothing is claimed.
    /// Rules of a pairwise tree's producers (even and odd consumers, the
    /// root read by the output) and others.
    #[test]
    fn alternating_nodes_have_the_rules_a_scan_finds() {
        use super::alternating;
        let strided =
            |lo: u32, hi: u32, step: u32| Rule::new(0, lo, hi, 1, 0, step, RuleKind::Strided);
        let cases: Vec<(u32, Vec<Rule>)> = vec![
            (64, vec![strided(0, 63, 2), strided(1, 64, 2)]),
            (
                63,
                vec![strided(0, 61, 2), strided(1, 62, 2), strided(62, 63, 1)],
            ),
            (
                100,
                vec![strided(3, 90, 2), strided(10, 100, 1), strided(4, 80, 2)],
            ),
            (
                40,
                vec![
                    strided(0, 40, 1),
                    Rule::new(0, 5, 30, 1, 0, 3, RuleKind::Gather),
                ],
            ),
            (10, vec![strided(0, 9, 2), strided(1, 10, 2)]),
            (64, vec![strided(0, 64, 4)]),
        ];
        let mut found = 0;
        for (len, rules) in &cases {
            let (lo, n, uses, tell) = alternating(rules, *len);
            if n == 0 {
                continue;
            }
            found += 1;
            assert!(n >= super::ALT_MIN && lo + n <= *len);
            for p in lo..lo + n {
                let (mut u, mut t) = (0, 0);
                for (j, r) in rules.iter().enumerate() {
                    if r.covers(p) {
                        u += r.uses();
                        t |= u8::from(r.tells()) << j;
                    }
                }
                let k = (p & 1) as usize;
                assert_eq!((uses[k], tell[k]), (u, t), "{len} {p}");
            }
        }
        // Every rule covering every node: all of them, however few.
        let all = [
            strided(0, 5, 1),
            Rule::new(0, 0, 5, 1, 0, 2, RuleKind::Broadcast),
        ];
        let (lo, n, uses, tell) = alternating(&all, 5);
        assert_eq!(
            (lo, n, uses[0], uses[1], tell[0], tell[1]),
            (0, 5, uses[0], uses[0], 3, 3)
        );
        // The short family and the step of 4 have none.
        assert_eq!(found, 4);
    }

    /// `add_run` records the runs that as many calls of `add` would, after
    /// any earlier runs (one node, a run at another stride or of another
    /// family, a run it continues), for runs of 0 to 5 nodes.
    #[test]
    fn a_run_added_at_once_is_the_runs_of_its_nodes_added_one_by_one() {
        use super::RunList;
        use crate::value::NodeId;
        let before: [&[(u32, u32)]; 6] = [
            &[],
            &[(0, 7)],
            &[(0, 3), (0, 5)],
            &[(0, 1), (0, 2), (0, 3)],
            &[(1, 10), (1, 12)],
            &[(0, 8), (0, 11)],
        ];
        for prior in before {
            for n in 0..6 {
                for (fam, p0) in [(0, 9), (0, 10), (1, 14), (0, 0)] {
                    for stride in [0, 1, 2, 3] {
                        let mut one = RunList::default();
                        let mut all = RunList::default();
                        for (c, &(f, p)) in prior.iter().enumerate() {
                            one.add(c as u32, NodeId::new(f, p));
                            all.add(c as u32, NodeId::new(f, p));
                        }
                        let c0 = prior.len() as u32;
                        for j in 0..n {
                            one.add(c0 + j, NodeId::new(fam, p0 + j * stride));
                        }
                        all.add_run(c0, n, NodeId::new(fam, p0), stride);
                        assert_eq!(all.runs, one.runs, "{prior:?} {n} {fam} {p0} {stride}");
                    }
                }
            }
        }
    }

    #[test]
    fn short_sliding_gathers_become_one_strided_rule_per_position() {
        let w = 64;
        // A 1-D stencil, clipped at both ends: three positions.
        let stencil = gathers(w, |c| vec![(c.saturating_sub(1), (c + 2).min(w))]);
        assert_eq!(stencil.len(), 64);
        assert_eq!(slid(stencil), 3);
        // An FFT butterfly of stride 4: `c - 4`, `c`, `c + 4` where in range.
        let fft = gathers(w, |c| {
            let mut v = Vec::new();
            if c >= 4 {
                v.push((c - 4, c - 3));
            }
            v.push((c, c + 1));
            if c + 4 < w {
                v.push((c + 4, c + 5));
            }
            v
        });
        assert_eq!(fft.len(), 184);
        assert_eq!(slid(fft), 3);
        // Each consumer reading its own producer, in steps of a family
        // reading itself (`v[i]` of the step before): one rule.
        let own = gathers(w, |c| vec![(c + 64, c + 65)]);
        assert_eq!(slid(own), 1);
    }

    #[test]
    #[cfg_attr(miri, ignore = "no unsafe code; thousands of edges compared")]
    fn gathers_that_do_not_slide_are_kept() {
        // Every consumer reads the same range: one gather rule, kept.
        let all = gathers(64, |_| vec![(0, 64)]);
        assert_eq!(all.len(), 1);
        assert_eq!(slid(all), 1);
        // Scattered ranges (a multiplicative hash): sliding would not make
        // fewer rules, so the gathers stay.
        let scattered = gathers(64, |c| {
            let lo = c.wrapping_mul(2_654_435_761) % 1000;
            vec![(lo, lo + 3)]
        });
        let n = scattered.len();
        assert_eq!(slid(scattered), n);
        // Longer ranges than a slide takes, and too few rules to bother.
        assert_eq!(slid(gathers(64, |c| vec![(c, c + 40)])), 64);
        let few = 2 * OPEN_SLIDES as u32 - 1;
        assert_eq!(slid(gathers(few, |c| vec![(c, c + 2)])), few as usize);
        // Two consumers reading the same value twice keep both edges.
        let twice = gathers(40, |c| vec![(c, c + 1), (c, c + 1)]);
        assert_eq!(slid(twice), 2);
    }

    /// The rules' order, as what `sort_rules` sorts by and what it keeps.
    fn order(rules: &[Rule]) -> Vec<(u32, u32, u32, u32, RuleKind)> {
        rules
            .iter()
            .map(|r| (r.p_fam, r.lo, r.hi, r.c0, r.kind))
            .collect()
    }

    #[test]
    fn slid_stencil_rules_are_sorted_by_insertion_within_its_reach() {
        // Task Bench's stencil_1d, width 4, 100 steps: consumer `c` (point
        // `c % 4` of step `c / 4`) reads points `p - 1 ..= p + 1` of the
        // step before, clipped.
        let w = 4;
        let mut rules = gathers(100 * w, |c| {
            let (t, p) = (c / w, c % w);
            match t {
                0 => vec![],
                _ => vec![(
                    (t - 1) * w + p.saturating_sub(1),
                    (t - 1) * w + (p + 2).min(w),
                )],
            }
        });
        slide_gathers(&mut rules, 0, &mut Vec::new());
        // One rule for `v[i]` through all steps (first, the longest), two
        // a step for `v[i + 1]` and `v[i - 1]`, in that order: out of order.
        assert_eq!(rules.len(), 3 + 2 * 98);
        assert_eq!((rules[0].lo, rules[0].hi), (0, 99 * w));
        assert!(!rules.is_sorted_by_key(sort_key));
        let mut want = rules.clone();
        want.sort_by_key(sort_key);
        assert!(insertion_sort(&mut rules, sort_key, SORT_REACH));
        assert_eq!(order(&rules), order(&want));
        assert!(rules.is_sorted_by_key(sort_key));
    }

    #[test]
    fn insertion_sort_gives_up_past_its_reach_and_the_keys_sort() {
        // 100 rules in reverse order: the last moves back 99 places.
        let rules: Vec<Rule> = (0..100u32)
            .rev()
            .map(|i| Rule::new(0, 2 * i, 2 * i + 1, 1, i, 1, RuleKind::Gather))
            .collect();
        let mut want = rules.clone();
        want.sort_by_key(sort_key);
        // Given up: the same rules, in some order.
        let mut tried = rules.clone();
        assert!(!insertion_sort(&mut tried, sort_key, SORT_REACH));
        let mut got: Vec<(u32, u32)> = tried.iter().map(|r| (r.lo, r.c0)).collect();
        got.sort_unstable();
        let all: Vec<(u32, u32)> = want.iter().map(|r| (r.lo, r.c0)).collect();
        assert_eq!(got, all);
        // Allowed to move a rule 99 places: sorted.
        let mut all = rules.clone();
        assert!(insertion_sort(&mut all, sort_key, 99));
        assert_eq!(order(&all), order(&want));
        // `sort_rules` sorts it either way.
        let (cache, mut sorted) = (Cache::new(1 << 20), tried);
        sort_rules(&mut sorted, &cache);
        assert_eq!(order(&sorted), order(&want));
    }

    /// A topology of one task family of `len` nodes with `rules` (sorted
    /// here), indexed as `Topology::build` indexes it with at most
    /// `max_words` (`Topology::build` allows a word a node); `None` when
    /// `index_family` left it unindexed.
    fn indexed(len: u32, mut rules: Vec<Rule>, max_words: usize) -> Option<Topology> {
        rules.sort_by_key(sort_key);
        let mut m = Meta {
            rules_hi: rules.len() as u32,
            ..Meta::unset(0, len, Kind::Tasks, false)
        };
        // Its span classes, as `Topology::build` finds them.
        let mut classes = Vec::new();
        for k in 0..rules.len() {
            if k == 0 || span_class(&rules[k]) != span_class(&rules[k - 1]) {
                classes.extend([k as u32, k as u32]);
            }
            *classes.last_mut().expect("a class") += 1;
        }
        // Another family's index before it, as in a graph of several.
        let (mut ivals, mut ilist) = (vec![0, 0, u32::MAX, 1], vec![7]);
        index_family(&mut m, &rules, &classes, &mut ivals, &mut ilist, max_words);
        if m.ivals_hi == m.ivals_lo {
            assert_eq!((ivals.len(), ilist.len()), (4, 1), "nothing appended");
            return None;
        }
        Some(Topology {
            meta: vec![m],
            pending: Vec::new(),
            states: Vec::new(),
            rules,
            reach: Vec::new(),
            segs_at: 0,
            hints: vec![AtomicU32::new(0)],
            groups: Vec::new(),
            ivals,
            ilist,
            ival_hints: 0,
            sources: false,
            readers: Vec::new(),
        })
    }

    /// Checks that the rules the index lists for each node, tested, are
    /// those covering it, visiting the nodes in order, backwards and
    /// scattered (the hint is right, one short, or wrong).
    fn check_index(t: &Topology) {
        let len = t.meta[0].len;
        let scattered = (0..len).map(|i| (i.wrapping_mul(2_654_435_761)) % len);
        for idx in (0..len).chain((0..len).rev()).chain(scattered) {
            let got: Vec<u32> = t
                .indexed_rules(0, idx)
                .iter()
                .copied()
                .filter(|&k| t.rules[k as usize].covers(idx))
                .collect();
            let want: Vec<u32> = (0..t.rules.len() as u32)
                .filter(|&k| t.rules[k as usize].covers(idx))
                .collect();
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, want, "node {idx}");
            assert!(t.indexed_rules(0, idx).len() <= INDEXED_RULES);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "no unsafe code; thousands of lookups")]
    fn the_interval_index_lists_every_rule_covering_a_node() {
        // `sum(&cur[..])` a step: one gather rule for each step's 64
        // nodes, read by the next step's 64 (the last step by nobody).
        let all: Vec<Rule> = (0..20)
            .map(|t| {
                Rule::new(
                    0,
                    64 * t,
                    64 * (t + 1),
                    0,
                    64 * (t + 1),
                    64,
                    RuleKind::Gather,
                )
            })
            .collect();
        let t = indexed(21 * 64, all, usize::MAX).expect("indexed");
        // 20 intervals read by one rule and the last step's, read by none.
        assert_eq!(t.meta[0].ivals_hi - t.meta[0].ivals_lo, 21);
        check_index(&t);
        // Task Bench's stencil at width 4, slid: `v[i]` through all steps,
        // `v[i + 1]` and `v[i - 1]` one rule a step each; strided rules of
        // step 2 and 3 over part of it; nodes before and after every rule.
        let w = 4;
        let mut rules = vec![Rule::new(0, 5, 99 * w, 0, w, 1, RuleKind::Strided)];
        for t in 1..99 {
            rules.push(Rule::new(
                0,
                t * w + 1,
                t * w + w,
                0,
                t * w + w,
                1,
                RuleKind::Strided,
            ));
            rules.push(Rule::new(
                0,
                t * w,
                t * w + w - 1,
                0,
                t * w + w + 1,
                1,
                RuleKind::Strided,
            ));
        }
        rules.push(Rule::new(0, 10, 200, 1, 0, 2, RuleKind::Strided));
        rules.push(Rule::new(0, 31, 150, 1, 0, 3, RuleKind::Strided));
        rules.push(Rule::new(0, 60, 61, 1, 0, 5, RuleKind::Broadcast));
        // An empty rule, one past the family's end and one across it.
        rules.push(Rule::new(0, 50, 50, 1, 0, 1, RuleKind::Gather));
        rules.push(Rule::new(0, 500, 600, 1, 0, 1, RuleKind::Gather));
        rules.push(Rule::new(0, 400, 420, 1, 0, 1, RuleKind::Gather));
        let t = indexed(100 * w + 7, rules, usize::MAX).expect("indexed");
        check_index(&t);
    }

    #[test]
    #[cfg_attr(miri, ignore = "no unsafe code; thousands of lookups")]
    fn too_many_rules_at_a_node_or_too_large_an_index_leave_a_family_unindexed() {
        // Nine gathers reading the same value, and more rules elsewhere.
        let mut rules: Vec<Rule> = (0..=INDEXED_RULES as u32)
            .map(|c| Rule::new(0, 3, 4, 1, c, 1, RuleKind::Gather))
            .collect();
        rules.extend((0..10).map(|i| Rule::new(0, 10 + i, 11 + i, 1, 20 + i, 1, RuleKind::Gather)));
        assert!(indexed(30, rules.clone(), usize::MAX).is_none());
        // Eight are indexed.
        rules.remove(0);
        check_index(&indexed(30, rules, usize::MAX).expect("indexed"));
        // Eight at once everywhere, each node its own interval: more than
        // a word a node, but indexed without the limit.
        let sliding: Vec<Rule> = (0..100)
            .map(|k| Rule::new(0, k, k + INDEXED_RULES as u32, 1, k, 1, RuleKind::Gather))
            .collect();
        assert!(indexed(107, sliding.clone(), 107).is_none());
        check_index(&indexed(107, sliding, usize::MAX).expect("indexed"));
        // Two at once over intervals of four nodes fit.
        let pairs: Vec<Rule> = (0..40)
            .map(|k| Rule::new(0, 4 * k, 4 * k + 8, 1, k, 1, RuleKind::Gather))
            .collect();
        check_index(&indexed(168, pairs, 168).expect("indexed"));
    }
}
