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
    /// Per block: whether `break` or `continue` may leave it early.
    pub jumps: Vec<bool>,
    /// How many `Value::Source`s the graph has (numbered `0..sources`).
    pub sources: usize,
    /// The sources written `&h` with `h` captured: the graph borrows `h`
    /// (a reference made before the graph's closure), as `&h` means.
    pub borrowed: Vec<(usize, Expr)>,
    /// Captured variables the graph's plain code reads as data (`x[i]`,
    /// `x.len()`, `for a in &x`): each is checked not to be a spawned
    /// graph's `Handle`, which is not its values.
    pub plain_reads: Vec<Ident>,
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
    /// An expression on lazy values (`x * 2`, `p.mean`, `format!("{a}")`):
    /// an anonymous task, named by its source text.
    pub expr: Option<ExprTask>,
    /// `f(..)?`: the task returns a `Result`; its `Ok` is the node's value
    /// and an `Err` fails the graph.
    pub fallible: bool,
}

/// The body of an anonymous task: `expr` with parameter `k` bound to
/// `names[k]` (the user's own names, so the expression reads them as
/// written).
pub(crate) struct ExprTask {
    pub expr: Expr,
    pub names: Vec<Ident>,
}

/// How one argument reaches the task.
pub(crate) struct Param {
    pub span: Span,
    pub kind: ParamKind,
    /// Written `&x`: the parameter must borrow.
    pub borrowed: bool,
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
    /// A `Vec` of vectors of lazy values (`rows.push(row)`), read by
    /// `rows[r]` (a vector of lazy values) and `rows[r][c]`.
    Rows,
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
    /// `if cond { then } else { els }` (an `else if` is an `If` alone in
    /// `els`). `cond` is plain.
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Option<Vec<Stmt>>,
    },
    /// `match expr { pat if guard => body, .. }` on a plain value.
    Match { expr: Expr, arms: Vec<Arm> },
    /// `while cond { body }` (or `while let`), `cond` plain.
    While {
        label: Option<Label>,
        cond: Expr,
        body: Vec<Stmt>,
        depth: usize,
    },
    /// `loop { body }`.
    Loop {
        label: Option<Label>,
        body: Vec<Stmt>,
        depth: usize,
    },
    /// `{ stmts }`.
    Block(Vec<Stmt>),
    /// `v = <vector of lazy values>;`
    AssignVec { name: Ident, value: Value },
    /// `v[index] = <lazy value>;` on a vector of lazy values: an in-place
    /// update, checked when the graph is built. `index` is kept as written
    /// (`i`, `i + 1`, `(r - 1) * w + c`), so that a later pass can read its
    /// affine form.
    SetIndex {
        name: Ident,
        /// `Some(r)` for `rows[r][index] = ..` on a vector of vectors.
        row: Option<Expr>,
        index: Expr,
        value: Value,
        span: Span,
    },
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

/// One arm of a `match` statement.
pub(crate) struct Arm {
    pub pat: Pat,
    pub guard: Option<Expr>,
    pub body: Vec<Stmt>,
}

/// A branch that ends in a lazy value (of an `if` or `match` expression).
pub(crate) struct Branch {
    pub stmts: Vec<Stmt>,
    pub tail: Value,
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
    /// A lazy variable returned again in the final expression (`(x, x)`):
    /// its output is a clone.
    Again(Box<Value>),
    /// A plain element of the final tuple (`(n, x)`), returned as it is.
    PlainOutput(Expr),
    /// `if cond { .. } else { .. }` whose branches end in lazy values.
    If {
        cond: Expr,
        then: Box<Branch>,
        els: Box<Branch>,
    },
    /// `match expr { pat => .. }` whose arms end in lazy values.
    Match {
        expr: Expr,
        arms: Vec<(Pat, Option<Expr>, Branch)>,
    },
    /// `v[index]` on a vector of lazy values (`index` plain), checked when
    /// the graph is built.
    Index {
        name: Ident,
        /// `Some(r)` for `rows[r][index]` on a vector of vectors.
        row: Option<Expr>,
        index: Expr,
        span: Span,
    },
    /// `rows[index]` on a vector of vectors of lazy values: that row, a
    /// vector of lazy values, checked when the graph is built.
    Row {
        name: Ident,
        index: Expr,
        span: Span,
    },
    /// `&v[range]` on a vector of lazy values: a vector of its elements.
    Slice {
        name: Ident,
        use_: UseId,
        range: Expr,
        span: Span,
    },
    /// Values from outside the graph read as a vector of lazy values: the
    /// plain first argument of `tree_reduce` (a `Vec<T>`, a slice, a spawned
    /// graph's `Handle`), source `index` of the graph.
    Source { expr: Expr, index: usize },
    /// Stands in for a value whose analysis failed (never expanded).
    Error,
}

pub(crate) enum Arg {
    Plain(Expr),
    Lazy(Value),
}

impl Stmt {
    /// The statement lists nested in this one: loop bodies, branches.
    pub fn children(&self) -> Vec<&Stmt> {
        match self {
            Stmt::For { body, .. }
            | Stmt::While { body, .. }
            | Stmt::Loop { body, .. }
            | Stmt::Block(body) => body.iter().collect(),
            Stmt::If { then, els, .. } => then.iter().chain(els.iter().flatten()).collect(),
            Stmt::Match { arms, .. } => arms.iter().flat_map(|a| a.body.iter()).collect(),
            _ => Vec::new(),
        }
    }

    /// The lazy values this statement itself computes.
    pub fn values(&self) -> Vec<&Value> {
        match self {
            Stmt::Let { value, .. }
            | Stmt::Assign { value, .. }
            | Stmt::AssignVec { value, .. }
            | Stmt::Push { value, .. }
            | Stmt::SetIndex { value, .. }
            | Stmt::Eval(value) => vec![value],
            _ => Vec::new(),
        }
    }

    /// The plain code of this statement itself (not of nested statements):
    /// conditions, loop iterators, plain statements.
    pub fn plain_tokens(&self) -> TokenStream {
        use quote::quote;
        match self {
            Stmt::Plain(ts) => ts.clone(),
            Stmt::VecLocal { pat, init, .. } => quote!(#pat #init),
            Stmt::For { pat, iter, .. } => quote!(#pat #iter),
            Stmt::SetIndex { row, index, .. } => quote!(#row #index),
            Stmt::If { cond, .. } | Stmt::While { cond, .. } => quote!(#cond),
            Stmt::Match { expr, arms } => {
                let pats = arms.iter().map(|a| &a.pat);
                let guards = arms.iter().filter_map(|a| a.guard.as_ref());
                quote!(#expr #(#pats)* #(#guards)*)
            }
            _ => TokenStream::new(),
        }
    }
}

impl Value {
    /// The statements, values and plain code directly inside this value.
    pub fn parts(&self) -> (Vec<&Stmt>, Vec<&Value>, TokenStream) {
        use quote::quote;
        match self {
            Value::Call { args, .. } => {
                let mut vs = Vec::new();
                let mut ts = TokenStream::new();
                for a in args {
                    match a {
                        Arg::Lazy(v) => vs.push(v),
                        Arg::Plain(e) => ts.extend(quote!(#e)),
                    }
                }
                (Vec::new(), vs, ts)
            }
            Value::Reduce { vec, .. } => (Vec::new(), vec![&**vec], TokenStream::new()),
            Value::Collect {
                recv, stmts, tail, ..
            } => (stmts.iter().collect(), vec![&**tail], quote!(#recv)),
            Value::Tuple(vs) => (Vec::new(), vs.iter().collect(), TokenStream::new()),
            Value::Again(v) => (Vec::new(), vec![&**v], TokenStream::new()),
            Value::PlainOutput(e) => (Vec::new(), Vec::new(), quote!(#e)),
            Value::If { cond, then, els } => (
                then.stmts.iter().chain(&els.stmts).collect(),
                vec![&then.tail, &els.tail],
                quote!(#cond),
            ),
            Value::Match { expr, arms } => {
                let pats = arms.iter().map(|a| &a.0);
                let guards = arms.iter().filter_map(|a| a.1.as_ref());
                (
                    arms.iter().flat_map(|a| a.2.stmts.iter()).collect(),
                    arms.iter().map(|a| &a.2.tail).collect(),
                    quote!(#expr #(#pats)* #(#guards)*),
                )
            }
            Value::Index { row, index, .. } => (Vec::new(), Vec::new(), quote!(#row #index)),
            Value::Row { index, .. } => (Vec::new(), Vec::new(), quote!(#index)),
            Value::Slice { range, .. } => (Vec::new(), Vec::new(), quote!(#range)),
            Value::Source { expr, .. } => (Vec::new(), Vec::new(), quote!(#expr)),
            Value::Var { .. } | Value::VecVar { .. } | Value::Error => {
                (Vec::new(), Vec::new(), TokenStream::new())
            }
        }
    }

    /// The lazy variable this value names directly, if any.
    pub fn var_name(&self) -> Option<&Ident> {
        match self {
            Value::Var { name, .. }
            | Value::VecVar { name, .. }
            | Value::Index { name, .. }
            | Value::Row { name, .. }
            | Value::Slice { name, .. } => Some(name),
            _ => None,
        }
    }
}
