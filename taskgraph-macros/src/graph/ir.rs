//! The graph's intermediate form: the user's statements with every task call
//! replaced by a reference to its family (call site), and every use of a lazy
//! variable numbered so the expansion knows which inputs are used once.

// Built once per macro call and walked once: variant sizes do not matter.
#![allow(clippy::large_enum_variant)]

use proc_macro2::{Span, TokenStream};
use syn::{Expr, Ident, Label, Pat, Path, Type};

pub(crate) type FamId = usize;
pub(crate) type VarId = usize;
pub(crate) type UseId = usize;

/// A whole `graph!`.
pub(crate) struct Graph {
    pub stmts: Vec<Stmt>,
    pub tail: Value,
    pub families: Vec<Family>,
    pub vars: Vec<Var>,
    pub uses: Vec<Use>,
    /// How many `Value::Source`s the graph has (numbered `0..sources`).
    pub sources: usize,
}

/// One call site: every node it makes at run time shares this code.
pub(crate) struct Family {
    /// The function as written, generics included: what the node calls.
    pub callee: Path,
    /// The same path without generic arguments: names the companion item.
    pub companion: Path,
    /// The callee as text, for error reports.
    pub name: String,
    /// The call expression (or the `tree_reduce` call).
    pub span: Span,
    /// Enclosing loops (`for` and `.map` closures).
    pub depth: usize,
    /// The block (loop body) of the call.
    pub block: usize,
    /// One entry per argument of the call, in order.
    pub params: Vec<Param>,
    /// The combining function of a `tree_reduce`.
    pub reduce: bool,
}

/// How one argument reaches the task.
pub(crate) struct Param {
    pub span: Span,
    pub kind: ParamKind,
}

pub(crate) enum ParamKind {
    /// Evaluated when the graph is instantiated, stored with the node.
    Plain { slot: usize },
    /// A lazy value: read from its producer's slot when the node runs.
    Lazy { slot: usize, once: Once },
}

/// Whether a lazy argument is the only consumer of its value.
#[derive(Clone, Copy)]
pub(crate) enum Once {
    /// Always (a nested call's output).
    Yes,
    /// Depends on how often the variable is used: decided after analysis.
    Use(UseId),
    /// Several consumers may read it (e.g. the operands of `tree_reduce`).
    No,
    /// A gathered vector: moved if the vector is used once and each of its
    /// elements has no other consumer.
    Vec(UseId),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum VarKind {
    /// The output of one node.
    Lazy,
    /// A `Vec` of lazy values.
    LazyVec,
    /// `Vec::new()` not yet known to hold lazy values.
    VecCandidate,
}

pub(crate) struct Var {
    pub kind: VarKind,
    /// Loop depth of the `let`.
    pub depth: usize,
    /// The block (loop body) of the `let`.
    pub block: usize,
    /// The call whose value the `let` binds, if it binds a call.
    pub producer: Option<FamId>,
    /// How many times it is read as a lazy value.
    pub refs: u32,
    /// Aliased (`let y = x;`, `y = x;`): one node under two names.
    pub aliased: bool,
    /// How many times it is reassigned (`x = f(x)`).
    pub assigned: u32,
    /// Uses that are the single occurrence of `x` in `x = f(.., x, ..)`.
    pub self_updates: Vec<UseId>,
    /// Every use, in source order.
    pub use_ids: Vec<UseId>,
    /// For a vector: the lazy variables pushed onto it.
    pub pushed: Vec<VarId>,
    /// For a vector: it holds elements from elsewhere (another vector, a
    /// loop over one), which may have other consumers.
    pub borrowed_elems: bool,
}

impl Var {
    /// Whether the value `use_` reads has no other consumer.
    ///
    /// A variable never reassigned: it is read once, in the loop it was
    /// defined in. A chain (`let mut s = a(); for .. { s = step(s); } f(s)`):
    /// each reassignment reads `s` once, and at most one other read follows
    /// them all, in the defining loop — then every node of the chain has
    /// exactly one consumer.
    /// Whether a vector used at `use_` goes to its one consumer with elements
    /// that nothing else reads: then the elements move.
    pub fn vec_used_once(&self, use_: UseId, uses: &[Use], vars: &[Var]) -> bool {
        !self.borrowed_elems
            && !self.aliased
            && self.refs == 1
            && uses[use_].depth == self.depth
            && self
                .pushed
                .iter()
                .all(|&p| vars[p].refs == 1 && !vars[p].aliased && vars[p].assigned == 0)
    }

    pub fn used_once(&self, use_: UseId, uses: &[Use]) -> bool {
        if self.aliased {
            return false;
        }
        if self.assigned == 0 {
            return self.refs == 1 && uses[use_].depth == self.depth;
        }
        if self.assigned as usize != self.self_updates.len() {
            return false;
        }
        let last_update = self.self_updates.iter().copied().max().unwrap_or(0);
        let mut others = self
            .use_ids
            .iter()
            .filter(|u| !self.self_updates.contains(u));
        match (others.next(), others.next()) {
            (None, _) => true,
            (Some(&o), None) => o > last_update && uses[o].depth == self.depth,
            _ => false,
        }
    }
}

pub(crate) struct Use {
    pub var: VarId,
    pub depth: usize,
    /// The block (loop body) the use is in.
    pub block: usize,
    /// In the final expression: the last thing instantiation does.
    pub tail: bool,
    /// The call (and argument position) the use is a lazy argument of.
    pub consumer: Option<(FamId, usize)>,
}

pub(crate) enum Stmt {
    /// Plain Rust, emitted as written.
    Plain(TokenStream),
    /// `let v = Vec::new();` (or another plain `let` of a vector candidate).
    VecLocal {
        attrs: TokenStream,
        pat: Pat,
        ty: Option<Type>,
        init: Expr,
        var: VarId,
    },
    /// `let x = <lazy value>;`
    Let {
        mutability: Option<syn::Token![mut]>,
        name: Ident,
        ty: Option<Type>,
        value: Value,
        vec: bool,
    },
    /// `x = <lazy value>;`
    Assign { name: Ident, value: Value },
    /// `v.push(<lazy value>);`
    Push {
        vec: Ident,
        var: VarId,
        method: Ident,
        value: Value,
    },
    /// `<lazy value>;` — a node whose output nobody reads.
    Eval(Value),
    /// `for pat in iter { body }`
    For {
        label: Option<Label>,
        pat: Pat,
        iter: Expr,
        body: Vec<Stmt>,
        depth: usize,
        reserve: Reserve,
    },
}

/// What a loop reserves room for from its iterator's size hint.
#[derive(Default)]
pub(crate) struct Reserve {
    pub families: Vec<FamId>,
    pub vecs: Vec<Ident>,
}

pub(crate) enum Value {
    /// A call of a `#[delayed]` function.
    Call { fam: FamId, args: Vec<Arg> },
    /// A lazy variable.
    Var { name: Ident, use_: UseId },
    /// A vector of lazy values, moved if this is its only use, else cloned.
    VecVar { name: Ident, use_: UseId },
    /// `tree_reduce(v, f)`.
    Reduce { fam: FamId, vec: Box<Value> },
    /// `iter.map(|pat| { stmts; tail }).collect()`.
    Collect {
        recv: Expr,
        pat: Pat,
        stmts: Vec<Stmt>,
        tail: Box<Value>,
        depth: usize,
        reserve: Reserve,
        span: Span,
    },
    /// `(a, b, ...)` in the final expression.
    Tuple(Vec<Value>),
    /// Values from outside the graph read as a vector of lazy values: the
    /// plain first argument of `tree_reduce` (a `Vec<T>`, a slice, a spawned
    /// graph's `Handle`).
    Source { expr: Expr, index: usize },
    /// Stands in for a value whose analysis failed (never expanded).
    Error,
}

pub(crate) enum Arg {
    Plain(Expr),
    Lazy(Value),
}
