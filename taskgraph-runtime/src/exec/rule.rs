//! The producer side of edges: which consumers read a range of producer
//! nodes (`topology.rs` builds them, the run follows them).

/// How the consumers of a rule's producer nodes are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RuleKind {
    /// Producer `lo + k * step` is read by consumer `c0 + k`.
    Strided,
    /// Producer `lo` is read by the `step` consumers `c0..c0 + step`.
    Broadcast,
    /// Every producer in `lo..hi` is read by each of the `step` consumers
    /// `c0..c0 + step` (a gather, or consecutive gathers of the same
    /// producers).
    Gather,
}

/// The producer side of edges: which consumers read producer nodes `lo..hi`
/// of one family.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    pub(crate) p_fam: u32,
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) c_fam: u32,
    pub(crate) c0: u32,
    pub(crate) step: u32,
    /// Whether the consumers are told of this edge: they wait for it (else
    /// it is implied by another of their inputs, and only counts as a use),
    /// and are not the graph's output (`FINAL`).
    pub(crate) notify: bool,
    /// Whether the consumers count their inputs (else each has one input,
    /// and this edge alone makes it ready: `Meta::single`).
    pub(crate) counted: bool,
    /// The global number of the consumer family's first node (its
    /// `Meta::base`; 0 for the graph's output).
    pub(crate) c_base: u32,
    /// `log2(step)` when a strided rule's step is a power of two, else
    /// `u32::MAX` (then matching divides).
    pub(crate) shift: u32,
    /// `step - 1` for a strided rule whose step is a power of two, else 0:
    /// a producer `p` in `lo..hi` is covered when `(p - lo) & mask == 0`
    /// (exact for every rule but a strided one of another step).
    pub(crate) mask: u32,
    /// For a gather read by several consumers: its counter in
    /// `Topology::groups` (the producers of `lo..hi` still to come), else
    /// `NO_GROUP`.
    pub(crate) group: u32,
    pub(crate) kind: RuleKind,
    /// For a gather whose producers' readers release their uses together
    /// (`Topology::reader_group`): `CARRIES` for the one rule of its range
    /// that gives each producer the group's one use, `SILENT` for the
    /// others (no use), else `UNGROUPED` (one use per consumer).
    pub(crate) grouped: u8,
}

/// A rule without a group counter.
pub(crate) const NO_GROUP: u32 = u32::MAX;

/// `Rule::grouped`: one use per consumer.
pub(crate) const UNGROUPED: u8 = 0;
/// `Rule::grouped`: the group's one use of each producer.
pub(crate) const CARRIES: u8 = 1;
/// `Rule::grouped`: no use (another rule of the range carries it).
pub(crate) const SILENT: u8 = 2;

impl Rule {
    pub(crate) fn new(
        p_fam: u32,
        lo: u32,
        hi: u32,
        c_fam: u32,
        c0: u32,
        step: u32,
        kind: RuleKind,
    ) -> Self {
        let shift = if kind == RuleKind::Strided && step.is_power_of_two() {
            step.trailing_zeros()
        } else {
            u32::MAX
        };
        let mask = match shift {
            u32::MAX => 0,
            _ => step - 1,
        };
        Rule {
            p_fam,
            lo,
            hi,
            c_fam,
            c0,
            step,
            notify: c_fam != super::FINAL,
            counted: true,
            c_base: 0,
            shift,
            mask,
            group: NO_GROUP,
            kind,
            grouped: UNGROUPED,
        }
    }

    #[inline(always)]
    pub(crate) fn covers(&self, p: u32) -> bool {
        if p < self.lo || p >= self.hi {
            return false;
        }
        if self.kind != RuleKind::Strided {
            return true;
        }
        let d = p - self.lo;
        if self.shift != u32::MAX {
            d & (self.step - 1) == 0
        } else {
            d.is_multiple_of(self.step)
        }
    }

    /// Whether the consumers of a covered producer are told (they wait
    /// for this edge, and are not the graph's output).
    #[inline(always)]
    pub(crate) fn tells(&self) -> bool {
        self.notify
    }

    /// Whether the rule covers producer `p`, for a rule whose `mask` is
    /// exact (not a strided rule whose step is not a power of two).
    #[inline(always)]
    pub(crate) fn covers_masked(&self, p: u32) -> bool {
        let d = p.wrapping_sub(self.lo);
        d < self.hi - self.lo && d & self.mask == 0
    }

    /// Whether `covers_masked` is exact for this rule.
    pub(crate) fn masked(&self) -> bool {
        self.kind != RuleKind::Strided || self.shift != u32::MAX
    }

    /// How many uses a covered producer gets from this rule: one per
    /// consumer, or one for all the readers of its range (`grouped`).
    #[inline(always)]
    pub(crate) fn uses(&self) -> u32 {
        if self.kind == RuleKind::Strided {
            1
        } else if self.grouped == UNGROUPED {
            self.step
        } else {
            u32::from(self.grouped == CARRIES)
        }
    }

    /// The consumer of producer `p` under a strided rule.
    #[inline(always)]
    pub(crate) fn strided_consumer(&self, p: u32) -> u32 {
        let d = p - self.lo;
        self.c0
            + if self.shift != u32::MAX {
                d >> self.shift
            } else {
                d / self.step
            }
    }
}
