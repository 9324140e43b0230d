//! ONNX Runtime: loading the library, building sessions, reading their metadata and running them.
//!
//! This is the only module of the crate that imports the `ort` crate. Everything else talks to ONNX Runtime through
//! the small, owned types defined here ([`Session`], [`SessionOptions`], [`Tensor`], [`TensorInfo`], [`Error`]), so
//! that an `ort` upgrade (it is still a release candidate) touches one module, and so that `ort`'s error and value
//! types, some of which are neither `Send` nor `'static`, never leak into the rest of the program.
//!
//! # How the library is found
//!
//! `ort` is used with its `load-dynamic` feature: ONNX Runtime is not linked at build time but `dlopen`ed on first
//! use, from a path this module resolves (see [`init`]):
//!
//! 1. the `ORT_DYLIB_PATH` environment variable at run time, if set (it is then the only candidate, so a typo is
//!    reported instead of being silently replaced by another library);
//! 2. the path baked in at build time by `build.rs`, which provisions `libonnxruntime.so.1.31.1` from the official
//!    `onnxruntime` wheel on PyPI into `<target dir>/onnxruntime/1.31.1/` (see `build.rs` for why the wheel);
//! 3. a `libonnxruntime.so*` next to the running executable (for copies of the binary shipped with the library).
//!
//! The library is loaded with [`ort::init_from`] and that exact path. We deliberately never rely on `ort`'s own
//! lookup (the `ORT_DYLIB_PATH` variable read lazily inside `ort`): that route panics when the library is missing or
//! too old, whereas `init_from` returns an error that we turn into an [`Error`] naming what was tried and how to fix
//! it. Loading and creating the ONNX Runtime environment happens once per process.
//!
//! # Running
//!
//! [`Session::run`] takes named [`Tensor`]s and returns owned output tensors. For latency loops,
//! [`Session::prepare`] converts and validates the inputs once, and [`Session::run_prepared`] /
//! [`Session::run_prepared_discard`] then run with no per-call input conversion.
//!
//! ```no_run
//! use squeezebench::runtime::{Session, SessionOptions, Tensor};
//! # fn main() -> squeezebench::runtime::Result<()> {
//! let opts = SessionOptions { intra_threads: 1, ..SessionOptions::default() };
//! let mut session = Session::from_file("fixtures/bert-tiny.onnx", &opts)?;
//! let ids = ndarray::ArrayD::<i64>::zeros(ndarray::IxDyn(&[1, 8]));
//! let mask = ndarray::ArrayD::<i64>::ones(ndarray::IxDyn(&[1, 8]));
//! let outputs = session.run(&[
//!     ("input_ids", Tensor::from(ids.clone())),
//!     ("attention_mask", Tensor::from(mask)),
//!     ("token_type_ids", Tensor::from(ids)),
//! ])?;
//! let logits = outputs[0].1.as_f32().expect("float32 logits");
//! # let _ = logits;
//! # Ok(())
//! # }
//! ```

mod library;
pub mod profile;
mod session;
mod tensor;

use std::path::PathBuf;

pub use library::{init, version, LibrarySource, RuntimeInfo, EXPECTED_VERSION};
pub use session::{OptimizationLevel, PreparedInputs, Session, SessionOptions};
pub use tensor::{DType, Dim, Tensor, TensorInfo};

/// Errors of the runtime layer. None of them is a panic: a missing library, a missing or malformed model, or a bad
/// input all come back as one of these, naming the library path or model file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No ONNX Runtime library could be found.
    #[error(
        "ONNX Runtime library not found (tried: {}). Fix: set ORT_DYLIB_PATH to a libonnxruntime.so {}.x \
         (e.g. from `pip install onnxruntime=={}`: site-packages/onnxruntime/capi/libonnxruntime.so.{}), \
         or rebuild squeezebench with access to PyPI so build.rs can provision it",
        tried.join("; "), library::expected_major_minor(), EXPECTED_VERSION, EXPECTED_VERSION
    )]
    LibraryNotFound {
        /// Each candidate that was considered, with why it was rejected.
        tried: Vec<String>,
    },
    /// The library exists but could not be loaded (wrong architecture, too old, not ONNX Runtime, ...).
    #[error("cannot load ONNX Runtime from '{}': {message}", path.display())]
    LibraryLoad { path: PathBuf, message: String },
    /// The ONNX Runtime environment could not be created.
    #[error("cannot create the ONNX Runtime environment: {0}")]
    Environment(String),
    /// The model file does not exist.
    #[error("model file '{}' does not exist", path.display())]
    ModelNotFound { path: PathBuf },
    /// ONNX Runtime rejected the model (not ONNX, truncated, unsupported operator, bad options, ...).
    #[error("ONNX Runtime cannot load model '{}': {message}", path.display())]
    ModelLoad { path: PathBuf, message: String },
    /// An input name the model does not have.
    #[error("model '{}': unknown input '{name}' (the model's inputs are: {})", model.display(), expected.join(", "))]
    UnknownInput {
        model: PathBuf,
        name: String,
        expected: Vec<String>,
    },
    /// A model input that was not supplied.
    #[error("model '{}': input '{name}' is missing", model.display())]
    MissingInput { model: PathBuf, name: String },
    /// The same input supplied twice.
    #[error("model '{}': input '{name}' is given more than once", model.display())]
    DuplicateInput { model: PathBuf, name: String },
    /// An input of the wrong element type or rank.
    #[error("model '{}': input '{name}' must be {expected}, got {actual}", model.display())]
    InputMismatch {
        model: PathBuf,
        name: String,
        expected: String,
        actual: String,
    },
    /// An output whose type [`Tensor`] cannot hold (e.g. float16, string, a sequence).
    #[error("model '{}': output '{name}' has type {dtype}, which squeezebench cannot read", model.display())]
    UnsupportedOutput {
        model: PathBuf,
        name: String,
        dtype: String,
    },
    /// [`PreparedInputs`] used with a session other than the one that prepared them.
    #[error("model '{}': these prepared inputs were made by another session", model.display())]
    ForeignPreparedInputs { model: PathBuf },
    /// ONNX Runtime failed while running the model (e.g. a shape it cannot handle).
    #[error("model '{}': inference failed: {message}", model.display())]
    Run { model: PathBuf, message: String },
}

/// Result of the runtime layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
