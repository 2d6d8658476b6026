//! The framing of a job's standard input.
//!
//! A job's program reads, on its standard input, the job's own
//! [`input`](crate::Job::input) bytes followed by the output of each of its
//! dependencies, in the order of [`deps`](crate::Job::deps):
//!
//! ```text
//! b"TGJ\x01"                  4 bytes, the magic (version 1)
//! count: u32, little-endian   number of frames = 1 + number of dependencies
//! count times:
//!     len: u64, little-endian
//!     len bytes
//! ```
//!
//! Nothing follows the last frame. Frame 0 is the job's input (possibly
//! empty), frame `1 + i` the output of `deps[i]`.
//!
//! ```
//! use taskgraph_cluster::frame;
//!
//! let bytes = frame::encode(&[b"own input", b"output of deps[0]"]);
//! let frames = frame::decode(&bytes).unwrap();
//! assert_eq!(frames.input, b"own input");
//! assert_eq!(frames.deps, [b"output of deps[0]"]);
//! ```

use std::fmt;
use std::io::{self, Read};

/// The 4 bytes every framed input starts with: `TGJ` and the format version 1.
pub const MAGIC: [u8; 4] = *b"TGJ\x01";

/// A decoded job input: the job's own bytes and its dependencies' outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames<T> {
    /// The job's own [`input`](crate::Job::input) bytes (frame 0).
    pub input: T,
    /// The output of each dependency, in the order of the job's `deps`.
    pub deps: Vec<T>,
}

/// Why a byte string is not a framed job input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// It does not start with [`MAGIC`]: the program was not started as a job
    /// (or by a newer version of this crate).
    BadMagic,
    /// It ends in the middle of the header or of a frame.
    Truncated,
    /// Bytes follow the last frame.
    TrailingBytes,
    /// The count is 0: there is always at least the job's own input.
    NoFrames,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::BadMagic => "standard input is not a taskgraph job input (bad magic)",
            FrameError::Truncated => "taskgraph job input ends in the middle of a frame",
            FrameError::TrailingBytes => "taskgraph job input has bytes after its last frame",
            FrameError::NoFrames => "taskgraph job input has no frames",
        })
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Frames `parts` (the job's input first, then each dependency's output).
/// Costs one allocation of the total size plus 12 bytes per part.
pub fn encode(parts: &[&[u8]]) -> Vec<u8> {
    let len = 8 + parts.iter().map(|p| 8 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Splits a framed input into borrowed frames, without copying.
///
/// Fails if `bytes` is not exactly one framed input.
pub fn decode(bytes: &[u8]) -> Result<Frames<&[u8]>, FrameError> {
    let rest = bytes.strip_prefix(&MAGIC).ok_or(FrameError::BadMagic)?;
    let (count, mut rest) = split_int::<4>(rest)?;
    let count = u32::from_le_bytes(count) as usize;
    if count == 0 {
        return Err(FrameError::NoFrames);
    }
    let mut frames = Vec::with_capacity(count.min(rest.len() / 8 + 1));
    for _ in 0..count {
        let (len, after) = split_int::<8>(rest)?;
        let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| FrameError::Truncated)?;
        if after.len() < len {
            return Err(FrameError::Truncated);
        }
        let (frame, after) = after.split_at(len);
        frames.push(frame);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes);
    }
    let input = frames.remove(0);
    Ok(Frames {
        input,
        deps: frames,
    })
}

/// Reads the whole standard input and decodes it: what a job's program calls
/// first. Fails with [`io::ErrorKind::InvalidData`] if it is not a framed
/// input (for example when the program was started by hand).
pub fn read_stdin() -> io::Result<Frames<Vec<u8>>> {
    let mut bytes = Vec::new();
    io::stdin().lock().read_to_end(&mut bytes)?;
    let frames = decode(&bytes)?;
    Ok(Frames {
        input: frames.input.to_vec(),
        deps: frames.deps.iter().map(|d| d.to_vec()).collect(),
    })
}

fn split_int<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), FrameError> {
    if bytes.len() < N {
        return Err(FrameError::Truncated);
    }
    let (head, rest) = bytes.split_at(N);
    Ok((head.try_into().expect("split at N"), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let parts: [&[u8]; 3] = [b"", b"abc", &[0u8; 300]];
        let bytes = encode(&parts);
        assert_eq!(bytes.len(), 8 + 3 * 8 + 303);
        let frames = decode(&bytes).unwrap();
        assert_eq!(frames.input, b"");
        assert_eq!(frames.deps, [parts[1], parts[2]]);
    }

    #[test]
    fn rejects_malformed_input() {
        let good = encode(&[b"x", b"yz"]);
        assert_eq!(decode(b"hello"), Err(FrameError::BadMagic));
        assert_eq!(decode(&good[..good.len() - 1]), Err(FrameError::Truncated));
        assert_eq!(decode(&good[..6]), Err(FrameError::Truncated));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(decode(&long), Err(FrameError::TrailingBytes));
        assert_eq!(decode(&encode(&[])), Err(FrameError::NoFrames));
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(&huge), Err(FrameError::Truncated));
    }
}
