//! The values that cross blocks: serde (postcard) for every family's value
//! type, as `graph!` lists them.
//!
//! A value's bytes carry no header of their own: they only travel inside a
//! versioned envelope (a block's outputs; see `format.rs`), whose format
//! version covers them. A graph's inputs travel the same way, in its
//! header.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use taskgraph_runtime::__private::CodecProbe;
use taskgraph_runtime::part::Codec;
use taskgraph_runtime::{Error, Graph};

/// A task's value in a graph sent to a cluster: it may travel between
/// machines, so it must be `Serialize + DeserializeOwned`.
///
/// Implemented for every such type; a graph whose task values are not all
/// of them fails at [`Dask::spawn`](crate::Dask::spawn) with an error that
/// names the graph's value types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a task's value in a graph sent to a cluster, so it must implement `serde::Serialize` and `serde::Deserialize`",
    label = "`{Self}` cannot travel between machines",
    note = "values cross from one block of the graph to another, on another machine, as bytes: derive them, `#[derive(serde::Serialize, serde::Deserialize)]`",
    note = "or compute this graph on a local `taskdag::Runtime`, which needs neither"
)]
pub trait Crossing: Serialize + DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> Crossing for T {}

/// The inputs of a graph sent to a cluster (the `I` of
/// [`Dask::compute(inputs, build)`](crate::Dask::compute)): they are
/// serialised by the client and travel with the graph, so they must be
/// `Serialize + DeserializeOwned`.
///
/// Implemented for every such type; a graph whose inputs are not is a
/// compile error at [`Dask::spawn`](crate::Dask::spawn) that names the type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the input of a graph sent to a cluster, so it must implement `serde::Serialize` and `serde::Deserialize`",
    label = "`{Self}` cannot travel with the graph",
    note = "the inputs are serialised here and read back on every worker that runs a block of the graph: derive them, `#[derive(serde::Serialize, serde::Deserialize)]`",
    note = "or compute this graph on a local `taskdag::Runtime`, which needs neither"
)]
pub trait Inputs: Serialize + DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> Inputs for T {}

/// Inputs `I` read back from their bytes.
pub(crate) fn read_inputs<I: Inputs>(bytes: &[u8]) -> Result<I, Error> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(Error::cluster(format!(
            "the inputs of type {} are followed by {} more bytes: corrupt",
            std::any::type_name::<I>(),
            rest.len()
        ))),
        Err(e) => Err(Error::cluster(format!(
            "the inputs of type {} do not read back from their own bytes: {e} (a \
             `Serialize` and `Deserialize` that do not agree?)",
            std::any::type_name::<I>()
        ))),
    }
}

/// The value types of a graph's families, as nested pairs `(T0, (T1, ..
/// ()))`, all [`Crossing`]: what a graph sent to a cluster has.
pub trait Values {
    /// Family `f`'s value type.
    #[doc(hidden)]
    fn type_name(f: u32) -> Option<&'static str>;
    /// # Safety
    /// As [`Codec::encode`], for family `f` of these values.
    #[doc(hidden)]
    unsafe fn encode(f: u32, cells: *const u8, idx: u32, out: &mut Vec<u8>) -> Result<(), String>;
    /// # Safety
    /// As [`Codec::decode`], for family `f` of these values.
    #[doc(hidden)]
    unsafe fn decode(f: u32, cells: *mut u8, idx: u32, bytes: &[u8]) -> Result<(), String>;
}

impl Values for () {
    fn type_name(_: u32) -> Option<&'static str> {
        None
    }
    unsafe fn encode(f: u32, _: *const u8, _: u32, _: &mut Vec<u8>) -> Result<(), String> {
        Err(format!("the graph has no family {f}"))
    }
    unsafe fn decode(f: u32, _: *mut u8, _: u32, _: &[u8]) -> Result<(), String> {
        Err(format!("the graph has no family {f}"))
    }
}

impl<H: Crossing, R: Values> Values for (H, R) {
    fn type_name(f: u32) -> Option<&'static str> {
        match f {
            0 => Some(std::any::type_name::<H>()),
            _ => R::type_name(f - 1),
        }
    }

    unsafe fn encode(f: u32, cells: *const u8, idx: u32, out: &mut Vec<u8>) -> Result<(), String> {
        if f > 0 {
            // SAFETY: forwarded contract, for the rest of the families.
            return unsafe { R::encode(f - 1, cells, idx, out) };
        }
        // SAFETY: family 0 of these values holds `H`s in `cells`, and node
        // `idx`'s holds a value nobody changes meanwhile (the contract).
        let value = unsafe { &*(cells as *const H).add(idx as usize) };
        postcard::to_io(value, out)
            .map(|_| ())
            .map_err(|e| format!("a value of type {}: {e}", std::any::type_name::<H>()))
    }

    unsafe fn decode(f: u32, cells: *mut u8, idx: u32, bytes: &[u8]) -> Result<(), String> {
        if f > 0 {
            // SAFETY: forwarded contract, for the rest of the families.
            return unsafe { R::decode(f - 1, cells, idx, bytes) };
        }
        let value: H = match postcard::take_from_bytes(bytes) {
            Ok((value, [])) => value,
            Ok((_, rest)) => {
                return Err(format!(
                    "a value of type {} is followed by {} more bytes: corrupt",
                    std::any::type_name::<H>(),
                    rest.len()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "a value of type {} could not be read: {e}",
                    std::any::type_name::<H>()
                ))
            }
        };
        // SAFETY: family 0's cells hold `H`s, and node `idx`'s is empty and
        // ours alone (the contract).
        unsafe { (cells as *mut H).add(idx as usize).write(value) };
        Ok(())
    }
}

/// The cluster's answer to the probe `graph!` writes: where the graph's
/// value types `V` are all [`Crossing`], their codec (a method found before
/// the runtime's `NoCodec`, which answers for every other graph).
#[doc(hidden)]
pub trait CodecOf {
    /// The codec of the graph's values.
    fn __tg_codec(&self) -> Result<&'static dyn Codec, &'static str>;
}

impl<V: Values + 'static> CodecOf for &CodecProbe<V> {
    fn __tg_codec(&self) -> Result<&'static dyn Codec, &'static str> {
        Ok(&ValuesCodec::<V>(PhantomData))
    }
}

/// The codec of `graph`'s values, or the error [`Dask::spawn`] and
/// [`Dask::compute`] return when some cannot travel between machines.
///
/// [`Dask::spawn`]: crate::Dask::spawn
/// [`Dask::compute`]: crate::Dask::compute
pub(crate) fn codec_of<G: Graph + ?Sized>(graph: &G) -> Result<&'static dyn Codec, Error> {
    graph.__codec().map_err(|types| {
        Error::cluster(format!(
            "a task value of this graph cannot travel between machines: every task's value \
             must implement `serde::Serialize` and `serde::Deserialize` (derive them), and \
             one of these does not: {}; or compute this graph on a local `taskdag::Runtime`, \
             which needs neither",
            value_types(types).join(", ")
        ))
    })
}

/// `(A, (B, (C, ())))` → `[A, B, C]` (the unit types of loops left out,
/// each type once).
fn value_types(pairs: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut rest = pairs.trim();
    while let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        let mut depth = 0i32;
        let mut split = None;
        for (i, c) in inner.char_indices() {
            match c {
                '(' | '<' | '[' => depth += 1,
                ')' | '>' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    split = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(i) = split else { break };
        let head = inner[..i].trim();
        if head != "()" && !out.contains(&head) {
            out.push(head);
        }
        rest = inner[i + 1..].trim();
    }
    out
}

/// The [`Codec`] of values `V`.
pub(crate) struct ValuesCodec<V>(pub(crate) PhantomData<fn() -> V>);

// SAFETY: `Values` reads and writes, for family `f`, values of exactly the
// type its `type_name(f)` names (the pair at depth `f`).
unsafe impl<V: Values> Codec for ValuesCodec<V> {
    fn type_name(&self, family: u32) -> Option<&'static str> {
        V::type_name(family)
    }

    unsafe fn encode(
        &self,
        family: u32,
        cells: *const u8,
        index: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        // SAFETY: forwarded contract.
        unsafe { V::encode(family, cells, index, out) }
    }

    unsafe fn decode(
        &self,
        family: u32,
        cells: *mut u8,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), String> {
        // SAFETY: forwarded contract.
        unsafe { V::decode(family, cells, index, bytes) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_types_are_listed_once_without_loops() {
        assert_eq!(
            super::value_types("(i64, ((), (alloc::vec::Vec<(u8, u16)>, (i64, (my::Foo, ())))))"),
            ["i64", "alloc::vec::Vec<(u8, u16)>", "my::Foo"]
        );
        assert!(super::value_types("()").is_empty());
    }
}
