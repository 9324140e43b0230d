//! ONNX models: protobuf types, load/save with external data, a graph view, structural checks,
//! shape inference and statistics. The only module that touches the protobuf types directly
//! (besides `passes`, whose job is rewriting graphs); everything else goes through [`Model`], the
//! views built on it and [`builder`].

pub mod builder;
pub mod check;
pub mod dtype;
pub mod eval;
pub mod graph;
pub mod io;
/// Fuzzing only (cargo feature `fuzz`).
#[cfg(feature = "fuzz")]
pub mod mutate;
pub mod ops;
pub mod proto;
pub mod shapes;
pub mod stats;
pub mod tensor;

use std::path::{Path, PathBuf};

pub use dtype::DataType;
pub use io::{ExternalMode, Model, SaveOptions, SaveSummary};

/// Errors of loading, checking and saving models. Each names the file, and where it applies the
/// tensor or node, and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} '{}': {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("'{}' is not a valid ONNX model: {source} (is it an .onnx file, and complete?)", path.display())]
    Decode { path: PathBuf, source: prost::DecodeError },
    #[error("'{}': tensor '{tensor}': {reason}", path.display())]
    Tensor { path: PathBuf, tensor: String, reason: String },
    #[error("'{}': {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("refusing to write '{}': {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
    #[error(transparent)]
    File(#[from] crate::util::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Error {
        Error::Io { action, path: path.to_path_buf(), source }
    }
}
