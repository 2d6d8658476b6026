//! [`RemoteError`]: a task's `Err` that crossed from a worker.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The error a task returned on a worker of a cluster, as it comes back:
/// the `source` of [`Error::TaskFailed`](taskgraph_runtime::Error::TaskFailed)
/// for a graph run with [`Dask::compute`](crate::Dask::compute) or
/// [`Dask::spawn`](crate::Dask::spawn) downcasts to it.
///
/// It keeps what can cross between machines: the error's type name (the
/// `E` of the task's `Result<T, E>`, as [`std::any::type_name`] names it),
/// its `Display` text (its own `Display` is the same), its `Debug` text, and
/// its `source()` chain, each link a `RemoteError` again with its texts
/// (a link's type is not known: it is a `dyn Error`). The error's own value
/// does not cross (a `Box<dyn Error>` has no serde), so
/// `downcast_ref::<YourError>()` finds nothing; match on
/// [`type_name`](RemoteError::type_name) and the texts instead.
///
/// ```
/// use taskdag::cluster::RemoteError;
///
/// let e = RemoteError::of(&"12x".parse::<i64>().unwrap_err());
/// assert_eq!(e.to_string(), "invalid digit found in string");
/// assert_eq!(e.debug(), "ParseIntError { kind: InvalidDigit }");
/// assert_eq!(e.type_name(), None); // not known from a `&dyn Error`
/// assert!(std::error::Error::source(&e).is_none());
///
/// let e = RemoteError::of_type::<std::num::ParseIntError>(&"12x".parse::<i64>().unwrap_err());
/// assert_eq!(e.type_name(), Some("core::num::error::ParseIntError"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    type_name: Option<String>,
    message: String,
    debug: String,
    source: Option<Box<RemoteError>>,
}

impl RemoteError {
    /// The texts of `e` and of its source chain; no type name.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> RemoteError {
        RemoteError {
            type_name: None,
            message: e.to_string(),
            debug: format!("{e:?}"),
            source: e.source().map(|s| Box::new(RemoteError::of(s))),
        }
    }

    /// The texts of `e` and of its source chain, and the type name of `E`
    /// (the error's own type: `e` is usually an `E` behind a `dyn Error`).
    pub fn of_type<E: ?Sized>(e: &(dyn std::error::Error + 'static)) -> RemoteError {
        RemoteError::of(e).with_type_name(std::any::type_name::<E>())
    }

    /// The same error, its type named `name`.
    pub(crate) fn with_type_name(mut self, name: &str) -> RemoteError {
        self.type_name = Some(name.to_owned());
        self
    }

    /// The error's type, as [`std::any::type_name`] named it where the
    /// task ran (`alloc::string::String` for a `String` error): `None` for
    /// a link of its source chain, whose type is not known.
    pub fn type_name(&self) -> Option<&str> {
        self.type_name.as_deref()
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
