//! [`RemoteError`]: a task's `Err` that crossed from a worker.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The error a task returned on a worker of a cluster, as it comes back:
/// the `source` of [`Error::TaskFailed`](taskgraph_runtime::Error::TaskFailed)
/// for a graph run with [`Dask::compute`](crate::Dask::compute) or
/// [`Dask::spawn`](crate::Dask::spawn) downcasts to it.
///
/// It keeps what can cross between machines: the error's `Display` text
/// (its own `Display` is the same), its `Debug` text (which names the type
/// for a derived `Debug`), and its `source()` chain, each link a
/// `RemoteError` again. The error's own value and type do not cross (a
/// `Box<dyn Error>` has no serde), so `downcast_ref::<YourError>()` finds
/// nothing; match on the texts instead.
///
/// ```
/// use taskdag::cluster::RemoteError;
///
/// let e = RemoteError::of(&"12x".parse::<i64>().unwrap_err());
/// assert_eq!(e.to_string(), "invalid digit found in string");
/// assert_eq!(e.debug(), "ParseIntError { kind: InvalidDigit }");
/// assert!(std::error::Error::source(&e).is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    message: String,
    debug: String,
    source: Option<Box<RemoteError>>,
}

impl RemoteError {
    /// The texts of `e` and of its source chain.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> RemoteError {
        RemoteError {
            message: e.to_string(),
            debug: format!("{e:?}"),
            source: e.source().map(|s| Box::new(RemoteError::of(s))),
        }
    }

    /// The error's `Display` text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error's `Debug` text: for a derived `Debug`, its type's name and
    /// fields.
    pub fn debug(&self) -> &str {
        &self.debug
    }

    /// The `Display` texts of the error and of each of its sources, in
    /// order.
    pub fn chain(&self) -> Vec<&str> {
        let mut texts = vec![self.message.as_str()];
        let mut next = self.source.as_deref();
        while let Some(e) = next {
            texts.push(&e.message);
            next = e.source.as_deref();
        }
        texts
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
