//! The cluster's byte format: how a graph's header, a block's
//! specification and a block's outputs travel between the client and the
//! workers.
//!
//! Every such byte string is an *envelope*: a fixed header, then the value
//! in [postcard](https://docs.rs/postcard)'s wire format:
//!
//! ```text
//! b"TGCB"                     4 bytes, the magic tag
//! format: u16, little-endian  FORMAT_VERSION of the writer
//! n: u8, then n bytes         the writer's taskgraph-cluster version (UTF-8)
//! the value, postcard         nothing may follow it
//! ```
//!
//! The header's layout never changes, so any version can read any other's
//! header and refuse what it cannot read with an error that names both
//! versions, instead of mis-decoding it. [`FORMAT_VERSION`] changes whenever
//! what follows the header does: the shape of `Header`, of `Spec` or of the
//! outputs list, or postcard's wire format (a new major version).
//!
//! The values of tasks inside (one byte string per value, see `codec.rs`)
//! are *not* versioned on their own: they only ever travel inside an
//! envelope (a block's outputs list, or a graph's inputs inside its
//! header), whose version covers them. Their encoding is postcard
//! too, and their type is checked by the graph's shape fingerprint.
//!
//! A block normally runs the very executable that sent it (the program is
//! sent to the workers by its hash), so a mismatch is rare; the check
//! guards against everything else (a stale cached program, a hand-made
//! job), and against corrupt or truncated bytes: decoding them is an error,
//! never a panic or a wrong value.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The 4 bytes every envelope starts with.
pub(crate) const MAGIC: [u8; 4] = *b"TGCB";

/// The version of the byte format that follows the header; see the
/// [module docs](self) for when it changes.
pub(crate) const FORMAT_VERSION: u16 = 4;

/// This crate's version, written into every header for error messages.
const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The header of an envelope written by this version.
fn header(out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let version = &CRATE_VERSION.as_bytes()[..CRATE_VERSION.len().min(255)];
    out.push(version.len() as u8);
    out.extend_from_slice(version);
}

/// `value` in an envelope.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    header(&mut out);
    postcard::to_io(value, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The value in the envelope `bytes`; `what` names it in errors ("a
/// block's specification").
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
    let this = if super::in_block() {
        "this worker"
    } else {
        "this client"
    };
    decode_as(bytes, what, this)
}

fn decode_as<T: DeserializeOwned>(bytes: &[u8], what: &str, this: &str) -> Result<T, String> {
    let corrupt = |why: &str| format!("{what} is corrupt or truncated: {why}");
    let Some(rest) = bytes.strip_prefix(&MAGIC) else {
        return Err(corrupt(
            "it does not start with taskgraph-cluster's tag `TGCB` (it was not written by \
             taskgraph-cluster, or by a version from before its byte format was versioned)",
        ));
    };
    let (Some(format), Some(&n)) = (rest.get(..2), rest.get(2)) else {
        return Err(corrupt("its header ends early"));
    };
    let format = u16::from_le_bytes([format[0], format[1]]);
    let Some(writer) = rest.get(3..3 + n as usize) else {
        return Err(corrupt("its header ends early"));
    };
    let body = &rest[3 + n as usize..];
    if format != FORMAT_VERSION {
        let writer = String::from_utf8_lossy(writer);
        return Err(format!(
            "{what} was written by taskgraph-cluster {writer} with byte format {format}, but \
             {this} runs taskgraph-cluster {CRATE_VERSION} with byte format {FORMAT_VERSION}: \
             build the client program and the program the workers run from the same \
             taskgraph-cluster version"
        ));
    }
    match postcard::take_from_bytes(body) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(corrupt(&format!("{} bytes follow its value", rest.len()))),
        Err(e) => Err(corrupt(&e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphId, Header, Shape, Spec};

    fn header() -> Header {
        Header {
            id: GraphId {
                site: "src/main.rs:12:5".to_owned(),
                number: 3,
                graph_type: "taskdag::GraphFn<..>".to_owned(),
                input_type: "(i64, alloc::string::String)".to_owned(),
            },
            program: "ab".repeat(32),
            entry: -4096,
            build: 1 << 40,
            inputs: vec![0, 1, 2, 255],
            shape: Shape {
                families: vec![
                    ("inc".to_owned(), "src/main.rs:14:9".to_owned(), 32, true),
                    ("ü".to_owned(), String::new(), 0, false),
                ],
                edges: 0xdead_beef_0123_4567,
            },
        }
    }

    fn spec() -> Spec {
        Spec {
            name: "inc_dec_add[0..32]".to_owned(),
            run: vec![(0, 0, 32), (1, 5, 7)],
            collect: vec![(1, 6), (2, 0)],
            takes: vec![vec![(0, (1, 2))], vec![]],
        }
    }

    #[test]
    fn everything_that_crosses_round_trips() {
        let bytes = encode(&spec()).unwrap();
        assert!(bytes.starts_with(&MAGIC));
        let back: Spec = decode_as(&bytes, "a spec", "this client").unwrap();
        assert_eq!(format!("{back:?}"), format!("{:?}", spec()));
        let bytes = encode(&header()).unwrap();
        let back: Header = decode_as(&bytes, "a header", "this client").unwrap();
        assert_eq!(format!("{back:?}"), format!("{:?}", header()));

        let outputs: Vec<Vec<u8>> = vec![vec![], vec![0; 300], (0..=255).collect()];
        let bytes = encode(&outputs).unwrap();
        let back: Vec<Vec<u8>> = decode_as(&bytes, "outputs", "this client").unwrap();
        assert_eq!(back, outputs);
    }

    #[test]
    fn another_format_version_is_refused_with_both_versions() {
        let mut bytes = encode(&spec()).unwrap();
        let other = FORMAT_VERSION + 1;
        bytes[4..6].copy_from_slice(&other.to_le_bytes());
        // The writer's crate version, as another release would write it.
        let mut forged = bytes[..6].to_vec();
        forged.push(5);
        forged.extend_from_slice(b"9.9.9");
        forged.extend_from_slice(&bytes[7 + bytes[6] as usize..]);
        let e = decode_as::<Spec>(&forged, "a block's specification", "this worker").unwrap_err();
        assert_eq!(
            e,
            format!(
                "a block's specification was written by taskgraph-cluster 9.9.9 with byte \
                 format {other}, but this worker runs taskgraph-cluster {CRATE_VERSION} with \
                 byte format {FORMAT_VERSION}: build the client program and the program the \
                 workers run from the same taskgraph-cluster version"
            )
        );
    }

    #[test]
    fn truncated_or_corrupt_bytes_are_errors() {
        let bytes = encode(&spec()).unwrap();
        // Every truncation: an error, never a panic or a value.
        for len in 0..bytes.len() {
            let e = decode_as::<Spec>(&bytes[..len], "a spec", "this client").unwrap_err();
            assert!(e.starts_with("a spec is corrupt or truncated: "), "{e}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        let e = decode_as::<Spec>(&extra, "a spec", "this client").unwrap_err();
        assert!(e.ends_with("1 bytes follow its value"), "{e}");
        let e = decode_as::<Spec>(b"\x00\x01garbage", "a spec", "this client").unwrap_err();
        assert!(
            e.contains("does not start with taskgraph-cluster's tag"),
            "{e}"
        );
        // Any single flipped byte in the body: an error or (where the byte
        // is a free value, like a character) a value, never a panic.
        let start = 7 + bytes[6] as usize;
        for i in start..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0xff;
            let _ = decode_as::<Spec>(&bad, "a spec", "this client");
        }
        // A length prefix far beyond the bytes: an error, not a huge
        // allocation.
        let mut huge = bytes[..start].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode_as::<Vec<Vec<u8>>>(&huge, "outputs", "this client").is_err());
    }
}
