//! Control flow on plain values: `if`, `match`, `while`, `loop`, blocks,
//! `break` and `continue`.
//!
//! The graph's shape may depend on plain values only, so every condition,
//! scrutinee and loop bound is checked as plain code (a lazy value there is
//! an error at its token); the branches and bodies are graph code of their
//! own, run when the graph is instantiated. A branch or body is a block of
//! its own (its values are not known to be consumed in order with the
//! enclosing block's), and a loop body is one loop level deeper, like a
//! `for` body.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::Expr;

use super::super::check::{error, Ctx};
use super::super::ir::*;
use super::Analyzer;

/// What entering a nested block saved, restored when leaving it.
pub(super) struct Saved {
    block: usize,
    looping: bool,
}

impl Analyzer {
    /// Enters a nested block of graph code: a scope and a block number of
    /// its own, and for a loop body one loop level more.
    pub(super) fn enter(&mut self, looping: bool) -> Saved {
        let saved = Saved {
            block: self.block,
            looping,
        };
        self.block = self.blocks;
        self.blocks += 1;
        self.jumps.push(false);
        self.open.push(self.block);
        self.scopes.push(Vec::new());
        if looping {
            self.depth += 1;
            self.loops += 1;
            self.frames.push(Reserve::default());
        }
        saved
    }

    /// Leaves a nested block; for a loop body, returns what the loop
    /// reserves room for.
    pub(super) fn leave(&mut self, s: Saved) -> Reserve {
        self.scopes.pop();
        self.open.pop();
        self.block = s.block;
        if s.looping {
            self.depth -= 1;
            self.loops -= 1;
            self.frames.pop().unwrap_or_default()
        } else {
            Reserve::default()
        }
    }

    /// `break` or `continue` in graph code: every open block may end early,
    /// so values made in them are not known to reach all their consumers.
    pub(super) fn jump(&mut self) {
        for &b in &self.open {
            self.jumps[b] = true;
        }
    }

    /// A nested block's statements, with an optional final expression.
    fn nested<'s>(
        &mut self,
        stmts: &'s [syn::Stmt],
        looping: bool,
        bind: Option<&syn::Pat>,
        want_tail: bool,
    ) -> (Vec<Stmt>, Option<&'s Expr>) {
        let saved = self.enter(looping);
        if let Some(p) = bind {
            self.bind_plain_pat(p);
        }
        let r = self.block(stmts, want_tail);
        let _ = self.leave(saved);
        r
    }

    /// The pattern a condition binds (`if let` / `while let`).
    fn cond_pat(cond: &Expr) -> Option<&syn::Pat> {
        match cond {
            Expr::Let(l) => Some(&l.pat),
            _ => None,
        }
    }

    fn check_cond(&mut self, cond: &Expr, kw: &'static str) {
        self.check_plain_in(cond, Some(Ctx::Cond(kw)));
    }

    /// `if` as a statement.
    pub(super) fn if_stmt(&mut self, i: &syn::ExprIf, out: &mut Vec<Stmt>) {
        let kw = if matches!(*i.cond, Expr::Let(_)) {
            "if let"
        } else {
            "if"
        };
        self.check_cond(&i.cond, kw);
        let (then, _) = self.nested(&i.then_branch.stmts, false, Self::cond_pat(&i.cond), false);
        let els = i.else_branch.as_ref().map(|(_, e)| match &**e {
            Expr::If(inner) => {
                let mut v = Vec::new();
                self.if_stmt(inner, &mut v);
                v
            }
            Expr::Block(b) => self.nested(&b.block.stmts, false, None, false).0,
            other => {
                let s = syn::Stmt::Expr(other.clone(), None);
                self.nested(std::slice::from_ref(&s), false, None, false).0
            }
        });
        out.push(Stmt::If {
            cond: (*i.cond).clone(),
            then,
            els,
        });
    }

    /// `match` as a statement.
    pub(super) fn match_stmt(&mut self, m: &syn::ExprMatch, out: &mut Vec<Stmt>) {
        self.check_cond(&m.expr, "match");
        let mut arms = Vec::new();
        for arm in &m.arms {
            let saved = self.enter(false);
            self.bind_plain_pat(&arm.pat);
            if let Some((_, g)) = &arm.guard {
                self.check_plain_in(g, Some(Ctx::Cond("match")));
            }
            let body = match &*arm.body {
                Expr::Block(b) if b.label.is_none() => self.block(&b.block.stmts, false).0,
                e => {
                    let s = syn::Stmt::Expr(e.clone(), Some(Default::default()));
                    self.block(std::slice::from_ref(&s), false).0
                }
            };
            let _ = self.leave(saved);
            arms.push(Arm {
                pat: arm.pat.clone(),
                guard: arm.guard.as_ref().map(|(_, g)| (**g).clone()),
                body,
            });
        }
        out.push(Stmt::Match {
            expr: (*m.expr).clone(),
            arms,
        });
    }

    /// `while cond { .. }` and `while let`.
    pub(super) fn while_stmt(&mut self, w: &syn::ExprWhile, out: &mut Vec<Stmt>) {
        let kw = if matches!(*w.cond, Expr::Let(_)) {
            "while let"
        } else {
            "while"
        };
        self.check_cond(&w.cond, kw);
        let (body, _) = self.nested(&w.body.stmts, true, Self::cond_pat(&w.cond), false);
        out.push(Stmt::While {
            label: w.label.clone(),
            cond: (*w.cond).clone(),
            body,
            depth: self.depth + 1,
        });
    }

    /// `loop { .. }`.
    pub(super) fn loop_stmt(&mut self, l: &syn::ExprLoop, out: &mut Vec<Stmt>) {
        let (body, _) = self.nested(&l.body.stmts, true, None, false);
        out.push(Stmt::Loop {
            label: l.label.clone(),
            body,
            depth: self.depth + 1,
        });
    }

    /// `{ .. }` as a statement.
    pub(super) fn block_stmt(&mut self, b: &syn::ExprBlock, out: &mut Vec<Stmt>) {
        let (body, _) = self.nested(&b.block.stmts, false, None, false);
        out.push(Stmt::Block(body));
    }

    /// The lazy value a branch ends with.
    fn branch(&mut self, stmts: &[syn::Stmt], bind: Option<&syn::Pat>, at: Span) -> Branch {
        let saved = self.enter(false);
        if let Some(p) = bind {
            self.bind_plain_pat(p);
        }
        let (stmts, tail) = self.block(stmts, true);
        let tail = self.branch_tail(tail, at);
        let _ = self.leave(saved);
        Branch { stmts, tail }
    }

    fn branch_tail(&mut self, tail: Option<&Expr>, at: Span) -> Value {
        let Some(t) = tail else {
            self.errors.push(error(
                at,
                "this branch gives no value, but another branch gives a lazy value",
                "end every branch with a lazy value (a `#[delayed]` call or a lazy variable)",
            ));
            return Value::Error;
        };
        match self.value(t, true) {
            Some(v) => v,
            None => {
                if self.check_plain_in(t, None) == 0 {
                    self.errors.push(error(
                        t.span(),
                        "this branch gives a plain value, but another branch gives a lazy value",
                        "end every branch with a lazy value (a `#[delayed]` call or a lazy variable)",
                    ));
                }
                Value::Error
            }
        }
    }

    /// `if cond { a } else { b }` whose branches end in lazy values.
    pub(super) fn if_value(&mut self, i: &syn::ExprIf) -> Value {
        let kw = if matches!(*i.cond, Expr::Let(_)) {
            "if let"
        } else {
            "if"
        };
        self.check_cond(&i.cond, kw);
        let then = self.branch(
            &i.then_branch.stmts,
            Self::cond_pat(&i.cond),
            i.then_branch.brace_token.span.close(),
        );
        let els = match i.else_branch.as_ref().map(|(_, e)| &**e) {
            Some(Expr::If(inner)) => Branch {
                stmts: Vec::new(),
                tail: self.if_value(inner),
            },
            Some(Expr::Block(b)) => {
                self.branch(&b.block.stmts, None, b.block.brace_token.span.close())
            }
            Some(other) => {
                let tail = self.branch_tail(Some(other), other.span());
                Branch {
                    stmts: Vec::new(),
                    tail,
                }
            }
            None => {
                self.errors.push(error(
                    i.if_token.span,
                    "an `if` that gives a lazy value needs an `else` branch",
                    "add `else { .. }` ending with a lazy value of the same type",
                ));
                return Value::Error;
            }
        };
        Value::If {
            cond: (*i.cond).clone(),
            then: Box::new(then),
            els: Box::new(els),
        }
    }

    /// `match x { .. }` whose arms end in lazy values.
    pub(super) fn match_value(&mut self, m: &syn::ExprMatch) -> Value {
        self.check_cond(&m.expr, "match");
        let mut arms = Vec::new();
        for arm in &m.arms {
            let guard = arm.guard.as_ref().map(|(_, g)| (**g).clone());
            let branch = match &*arm.body {
                Expr::Block(b) if b.label.is_none() => {
                    if let Some(g) = &guard {
                        self.check_guard(&arm.pat, g);
                    }
                    self.branch(
                        &b.block.stmts,
                        Some(&arm.pat),
                        b.block.brace_token.span.close(),
                    )
                }
                e => {
                    let saved = self.enter(false);
                    self.bind_plain_pat(&arm.pat);
                    if let Some(g) = &guard {
                        self.check_plain_in(g, Some(Ctx::Cond("match")));
                    }
                    let tail = self.branch_tail(Some(e), e.span());
                    let _ = self.leave(saved);
                    Branch {
                        stmts: Vec::new(),
                        tail,
                    }
                }
            };
            arms.push((arm.pat.clone(), guard, branch));
        }
        Value::Match {
            expr: (*m.expr).clone(),
            arms,
        }
    }

    fn check_guard(&mut self, pat: &syn::Pat, g: &Expr) {
        let saved = self.enter(false);
        self.bind_plain_pat(pat);
        self.check_plain_in(g, Some(Ctx::Cond("match")));
        let _ = self.leave(saved);
    }

    /// Whether an `if` or `match` gives a lazy value (any branch ends in one).
    pub(super) fn branches_look_lazy(&self, e: &Expr) -> bool {
        match e {
            Expr::If(i) => {
                self.block_looks_lazy(&i.then_branch)
                    || i.else_branch
                        .as_ref()
                        .is_some_and(|(_, e)| self.branches_look_lazy(e) || self.looks_lazy(e))
            }
            Expr::Match(m) => m.arms.iter().any(|a| self.looks_lazy(&a.body)),
            Expr::Block(b) => self.block_looks_lazy(&b.block),
            _ => false,
        }
    }

    fn block_looks_lazy(&self, b: &syn::Block) -> bool {
        let e = Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block: b.clone(),
        });
        self.body_looks_lazy(&e)
    }
}
