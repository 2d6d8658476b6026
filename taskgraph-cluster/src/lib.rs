#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod dask;
mod driver;
mod error;
pub mod frame;
mod graph;
mod job;
pub mod python;
mod remote;
mod submission;

pub use crate::dask::{Dask, DaskBuilder, WorkerInfo};
pub use crate::error::ClusterError;
pub use crate::graph::{Crossing, GraphHandle, GraphReport, Inputs, Values};
pub use crate::job::{Job, JobGraph, ProgramRef};
pub use crate::remote::RemoteError;
pub use crate::submission::{JobRun, Progress, Report, Submission};

/// Items the code `graph!` generates uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::graph::CodecOf;
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Dask>();
        send_sync::<crate::Submission>();
        send_sync::<crate::ClusterError>();
    }
}
