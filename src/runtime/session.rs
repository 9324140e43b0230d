//! Sessions: loading a model file with options, describing its inputs/outputs, running it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ort::session::builder::{AutoDevicePolicy, GraphOptimizationLevel};
use ort::session::{SessionInputValue, SessionOutputs};
use ort::value::{DynValue, TensorRef};

use super::tensor::{with_array, Tensor, TensorInfo};
use super::{library, Error, Result};

/// ONNX Runtime graph optimisation level.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OptimizationLevel {
    /// No graph rewrites: runs the graph as written.
    Disable,
    /// Constant folding and redundant-node elimination (`ORT_ENABLE_BASIC`).
    Basic,
    /// Plus operator fusions such as attention, GELU and layer norm (`ORT_ENABLE_EXTENDED`).
    Extended,
    /// Everything, including layout optimisations (`ORT_ENABLE_ALL`, ONNX Runtime's default).
    #[default]
    All,
}

/// How a [`Session`] is configured. `Default` matches ONNX Runtime's own defaults on the CPU execution provider.
///
/// Threads are per session (no global thread pool), so two sessions compared in one benchmark are set up alike.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SessionOptions {
    /// Threads used inside an operator; 0 lets ONNX Runtime choose (one per physical core).
    pub intra_threads: usize,
    /// Threads running independent operators concurrently (only with `parallel_execution`); 0 = ONNX Runtime's
    /// choice.
    pub inter_threads: usize,
    pub optimization_level: OptimizationLevel,
    /// CPU memory arena (default on). `ort`'s CPU execution provider turns it *off* unless told otherwise, so it
    /// is always set explicitly from this field.
    pub arena: bool,
    /// Run independent branches of the graph concurrently (`ORT_PARALLEL`); default off (`ORT_SEQUENTIAL`).
    pub parallel_execution: bool,
    /// Memory pattern planning, reused across runs with the same input shapes (default on).
    pub memory_pattern: bool,
    /// If set, ONNX Runtime writes the optimised graph here when the session is created (to inspect fusions).
    pub optimized_model_path: Option<PathBuf>,
    /// Pre-pack constant weights into the kernels' layouts (default on). Off keeps a session's memory
    /// at one copy of the weights (calibration sessions, which run a float model a few times).
    pub prepacking: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            intra_threads: 0,
            inter_threads: 0,
            optimization_level: OptimizationLevel::All,
            arena: true,
            parallel_execution: false,
            memory_pattern: true,
            optimized_model_path: None,
            prepacking: true,
        }
    }
}

/// A loaded model, ready to run on the CPU.
///
/// Running needs `&mut self`: ONNX Runtime's `Run` is not safe to call concurrently on one session (which is why
/// `ort` requires exclusive access too). Use one session per thread.
pub struct Session {
    inner: ort::session::Session,
    path: PathBuf,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    id: u64,
}

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Loads the ONNX model at `path` (loading ONNX Runtime first if needed).
    ///
    /// The model is loaded from the file, not from bytes in memory, so ONNX Runtime resolves external data
    /// (`*.onnx.data` files) relative to the model's folder.
    pub fn from_file(path: impl AsRef<Path>, options: &SessionOptions) -> Result<Session> {
        Session::open(path.as_ref(), options, None)
    }

    /// Loads the model like [`from_file`](Self::from_file) with ONNX Runtime's profiler on: every
    /// run (and the session's creation) is recorded, and [`end_profiling`](Self::end_profiling)
    /// writes the trace to a file whose name starts with `prefix` (ONNX Runtime appends the date
    /// and `.json`); [`super::profile::read`] parses it.
    pub fn from_file_profiling(path: impl AsRef<Path>, options: &SessionOptions, prefix: &Path) -> Result<Session> {
        Session::open(path.as_ref(), options, Some(prefix))
    }

    /// Stops the profiler of a session made by [`from_file_profiling`](Self::from_file_profiling)
    /// and returns the trace file it wrote.
    pub fn end_profiling(&mut self) -> Result<PathBuf> {
        let name = self.inner.end_profiling().map_err(|e| run_error(&self.path, e))?;
        if name.is_empty() {
            return Err(Error::Run {
                model: self.path.clone(),
                message: "ONNX Runtime wrote no profile: the session was not created with profiling on".into(),
            });
        }
        Ok(PathBuf::from(name))
    }

    fn open(path: &Path, options: &SessionOptions, profile: Option<&Path>) -> Result<Session> {
        if !path.exists() {
            return Err(Error::ModelNotFound {
                path: path.to_path_buf(),
            });
        }
        crate::util::check_regular(path).map_err(|e| Error::ModelLoad { path: path.to_path_buf(), message: e.to_string() })?;
        let environment = library::environment()?;
        let inner = build(environment, path, options, profile).map_err(|e| Error::ModelLoad {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let inputs = inner
            .inputs()
            .iter()
            .map(|o| TensorInfo::from_ort(o.name(), o.dtype()))
            .collect();
        let outputs = inner
            .outputs()
            .iter()
            .map(|o| TensorInfo::from_ort(o.name(), o.dtype()))
            .collect();
        Ok(Session {
            inner,
            path: path.to_path_buf(),
            inputs,
            outputs,
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The model file this session was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's inputs, in the model's order. Initializers that may be overridden are not included.
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// The model's outputs, in the model's order.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// Runs the model once. Every model input must be given exactly once, by name, with the model's element type
    /// and rank. Returns all outputs in the model's order, copied into owned tensors.
    ///
    /// Contiguous inputs are handed to ONNX Runtime without copying.
    pub fn run(&mut self, inputs: &[(&str, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        self.check_inputs(inputs)?;
        let values = inputs
            .iter()
            .map(|(name, tensor)| Ok((Cow::Borrowed(*name), self.borrowed_value(name, tensor)?)))
            .collect::<Result<Vec<_>>>()?;
        let outputs = self
            .inner
            .run(values)
            .map_err(|e| run_error(&self.path, e))?;
        collect_outputs(&self.path, &outputs)
    }

    /// [`run`](Self::run) on an input set as data sources make it (owned names).
    pub fn run_set(&mut self, set: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        let refs: Vec<(&str, Tensor)> = set.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        self.run(&refs)
    }

    /// Validates and converts `inputs` once, for repeated runs with [`run_prepared`](Self::run_prepared) or
    /// [`run_prepared_discard`](Self::run_prepared_discard). The tensors are copied into buffers owned by the
    /// returned value; the same checks as [`run`](Self::run) apply.
    pub fn prepare(&self, inputs: &[(&str, Tensor)]) -> Result<PreparedInputs> {
        self.check_inputs(inputs)?;
        // Stored in the model's input order so a run can pass them positionally, with no per-run name lookup.
        let values = self
            .inputs
            .iter()
            .map(|info| {
                let (name, tensor) = inputs
                    .iter()
                    .find(|(n, _)| *n == info.name)
                    .expect("checked by check_inputs");
                owned_value(tensor)
                    .map(SessionInputValue::from)
                    .map_err(|e| input_error(&self.path, name, e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PreparedInputs {
            session_id: self.id,
            values,
        })
    }

    /// Runs with prepared inputs and returns the outputs like [`run`](Self::run).
    pub fn run_prepared(&mut self, prepared: &PreparedInputs) -> Result<Vec<(String, Tensor)>> {
        self.check_prepared(prepared)?;
        let outputs = self
            .inner
            .run(prepared.values.as_slice())
            .map_err(|e| run_error(&self.path, e))?;
        collect_outputs(&self.path, &outputs)
    }

    /// Runs with prepared inputs and drops the outputs without copying them: the call for latency loops, where
    /// only the time of inference itself should be measured.
    pub fn run_prepared_discard(&mut self, prepared: &PreparedInputs) -> Result<()> {
        self.check_prepared(prepared)?;
        self.inner
            .run(prepared.values.as_slice())
            .map_err(|e| run_error(&self.path, e))?;
        Ok(())
    }

    fn check_prepared(&self, prepared: &PreparedInputs) -> Result<()> {
        if prepared.session_id == self.id {
            Ok(())
        } else {
            Err(Error::ForeignPreparedInputs {
                model: self.path.clone(),
            })
        }
    }

    /// Every given name is a model input, given once, of the right element type and rank; every model input given.
    /// ONNX Runtime would reject most of these too, but its messages name neither the model nor, always, the input.
    fn check_inputs(&self, inputs: &[(&str, Tensor)]) -> Result<()> {
        let mut seen = HashSet::with_capacity(inputs.len());
        for (name, tensor) in inputs {
            let Some(info) = self.inputs.iter().find(|i| i.name == *name) else {
                return Err(Error::UnknownInput {
                    model: self.path.clone(),
                    name: name.to_string(),
                    expected: self.inputs.iter().map(|i| i.name.clone()).collect(),
                });
            };
            if !seen.insert(*name) {
                return Err(Error::DuplicateInput {
                    model: self.path.clone(),
                    name: name.to_string(),
                });
            }
            let rank_ok = tensor.shape().len() == info.shape.len();
            if tensor.dtype() != info.dtype || !rank_ok {
                return Err(Error::InputMismatch {
                    model: self.path.clone(),
                    name: name.to_string(),
                    expected: info.describe(),
                    actual: format!("{}{:?}", tensor.dtype(), tensor.shape()),
                });
            }
        }
        if let Some(missing) = self.inputs.iter().find(|i| !seen.contains(i.name.as_str())) {
            return Err(Error::MissingInput {
                model: self.path.clone(),
                name: missing.name.clone(),
            });
        }
        Ok(())
    }

    /// A view of `tensor` for one run; copies only when the array is not in standard (C-contiguous) layout.
    fn borrowed_value<'t>(&self, name: &str, tensor: &'t Tensor) -> Result<SessionInputValue<'t>> {
        fn view<T>(a: &ndarray::ArrayD<T>) -> ort::Result<SessionInputValue<'_>>
        where
            T: ort::value::PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static,
        {
            if a.is_standard_layout() {
                Ok(TensorRef::from_array_view(a.view())?.into())
            } else {
                Ok(ort::value::Tensor::from_array(a.as_standard_layout().into_owned())?.into())
            }
        }
        with_array!(tensor, a => view(a)).map_err(|e| input_error(&self.path, name, e))
    }
}

/// Inputs converted once by [`Session::prepare`] for repeated runs of the session that prepared them.
pub struct PreparedInputs {
    session_id: u64,
    /// Owned ONNX Runtime values in the model's input order.
    values: Vec<SessionInputValue<'static>>,
}

impl std::fmt::Debug for PreparedInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedInputs")
            .field("inputs", &self.values.len())
            .finish_non_exhaustive()
    }
}

/// Builds an `ort` session. Kept in a function returning `ort::Result` because the builder's own error type
/// (`ort::Error<SessionBuilder>`) carries the builder and is neither `Send` nor `Sync`; `?` converts it to a plain
/// `ort::Error`, which the caller turns into our [`Error`].
fn build(
    environment: &ort::environment::Environment,
    path: &Path,
    o: &SessionOptions,
    profile: Option<&Path>,
) -> ort::Result<ort::session::Session> {
    let level = match o.optimization_level {
        OptimizationLevel::Disable => GraphOptimizationLevel::Disable,
        OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
        OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
        OptimizationLevel::All => GraphOptimizationLevel::All,
    };
    let mut builder = ort::session::Session::builder(environment)?
        // `ort` asks ONNX Runtime for automatic device selection with a "max efficiency" (NPU first) policy by
        // default; a benchmark must not pick its device by heuristics, so pin the CPU.
        .with_auto_device(AutoDevicePolicy::PreferCPU)?
        // Set the arena explicitly: `ep::CPU::default()` would disable it.
        .with_execution_providers([ort::ep::CPU::default()
            .with_arena_allocator(o.arena)
            .build()])?
        .with_optimization_level(level)?
        .with_parallel_execution(o.parallel_execution)?
        .with_memory_pattern(o.memory_pattern)?;
    if o.intra_threads > 0 {
        builder = builder.with_intra_threads(o.intra_threads)?;
    }
    if o.inter_threads > 0 {
        builder = builder.with_inter_threads(o.inter_threads)?;
    }
    if let Some(out) = &o.optimized_model_path {
        builder = builder.with_optimized_model_path(out)?;
    }
    if !o.prepacking {
        builder = builder.with_prepacking(false)?;
    }
    if let Some(prefix) = profile {
        builder = builder.with_profiling(prefix)?;
    }
    // From the file (not `commit_from_memory`), so external data next to the model is found.
    builder.commit_from_file(path)
}

/// An owned ONNX Runtime value holding a standard-layout copy of `tensor`.
fn owned_value(tensor: &Tensor) -> ort::Result<DynValue> {
    fn owned<T>(a: &ndarray::ArrayD<T>) -> ort::Result<DynValue>
    where
        T: ort::value::PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static,
    {
        Ok(ort::value::Tensor::from_array(a.as_standard_layout().into_owned())?.into_dyn())
    }
    with_array!(tensor, a => owned(a))
}

fn collect_outputs(model: &Path, outputs: &SessionOutputs<'_>) -> Result<Vec<(String, Tensor)>> {
    outputs
        .iter()
        .map(|(name, value)| {
            let tensor = Tensor::from_ort(&value).map_err(|dtype| Error::UnsupportedOutput {
                model: model.to_path_buf(),
                name: name.to_string(),
                dtype,
            })?;
            Ok((name.to_string(), tensor))
        })
        .collect()
}

fn run_error(model: &Path, e: ort::Error) -> Error {
    Error::Run {
        model: model.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    }
}

fn input_error(model: &Path, name: &str, e: ort::Error) -> Error {
    Error::InputMismatch {
        model: model.to_path_buf(),
        name: name.to_string(),
        expected: "a tensor ONNX Runtime accepts".to_string(),
        actual: e.to_string(),
    }
}
