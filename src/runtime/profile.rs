//! ONNX Runtime's profiler trace, read into owned records.
//!
//! A session created with [`Session::from_file_profiling`](super::Session::from_file_profiling)
//! records a Chrome-trace JSON array: `Session` events for loading, initialisation and every
//! `model_run`, and one `Node` event `<node name>_kernel_time` per kernel call, whose `args` carry
//! the op type (of the graph *after* ONNX Runtime's own fusions), the execution provider, and the
//! element type and shape of every input and output of that call. Times are microseconds since
//! the session's profiler started. This module keeps what a per-operator profile needs from that
//! format, so the rest of the crate never depends on its spelling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The trace of one profiled session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// Every `model_run`, in the order they started.
    pub runs: Vec<Span>,
    /// Every kernel call, in the order they started.
    pub kernels: Vec<Kernel>,
}

/// A span of time, in microseconds since the profiler started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start_us: u64,
    pub dur_us: u64,
}

impl Span {
    /// Whether `other` starts inside this span.
    pub fn holds(&self, other: &Span) -> bool {
        other.start_us >= self.start_us && other.start_us <= self.start_us + self.dur_us
    }
}

/// One kernel call.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// The node's name in the optimised graph (ONNX Runtime names fused nodes itself).
    pub node: String,
    /// The op type that ran (`MatMul`, `FusedMatMul`, `DynamicQuantizeMatMul`, ...).
    pub op_type: String,
    /// The execution provider (`CPUExecutionProvider`).
    pub provider: String,
    pub span: Span,
    pub inputs: Vec<TypeShape>,
    pub outputs: Vec<TypeShape>,
}

/// Element type and shape of one input or output of a kernel call (`float` `[1, 128, 768]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeShape {
    pub dtype: String,
    pub shape: Vec<i64>,
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
#[error("ONNX Runtime profile '{}': {message}", path.display())]
pub struct TraceError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    cat: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    ts: u64,
    #[serde(default)]
    dur: u64,
    #[serde(default)]
    args: RawArgs,
}

#[derive(Default, Deserialize)]
struct RawArgs {
    #[serde(default)]
    op_name: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    input_type_shape: Vec<BTreeMap<String, Vec<i64>>>,
    #[serde(default)]
    output_type_shape: Vec<BTreeMap<String, Vec<i64>>>,
}

const KERNEL_SUFFIX: &str = "_kernel_time";

/// Reads the trace file ONNX Runtime wrote.
pub fn read(path: &Path) -> Result<Trace, TraceError> {
    let fail = |message: String| TraceError { path: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let events: Vec<RawEvent> =
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| fail(format!("not a trace ONNX Runtime writes: {e}")))?;
    Ok(parse(events))
}

/// Parses a trace from its JSON text (what [`read`] does after opening the file).
#[cfg(test)]
pub(crate) fn parse_str(json: &str) -> Result<Trace, serde_json::Error> {
    serde_json::from_str::<Vec<RawEvent>>(json).map(parse)
}

fn parse(events: Vec<RawEvent>) -> Trace {
    let mut trace = Trace::default();
    for e in events {
        let span = Span { start_us: e.ts, dur_us: e.dur };
        match e.cat.as_str() {
            "Session" if e.name == "model_run" => trace.runs.push(span),
            "Node" => {
                let (Some(node), Some(op_type)) = (e.name.strip_suffix(KERNEL_SUFFIX), e.args.op_name) else {
                    // Fence events (`_fence_before`/`_fence_after`, off by default) carry no kernel time.
                    continue;
                };
                trace.kernels.push(Kernel {
                    node: node.to_string(),
                    op_type,
                    provider: e.args.provider.unwrap_or_default(),
                    span,
                    inputs: type_shapes(e.args.input_type_shape),
                    outputs: type_shapes(e.args.output_type_shape),
                });
            }
            _ => {}
        }
    }
    trace.runs.sort_by_key(|s| s.start_us);
    trace.kernels.sort_by_key(|k| k.span.start_us);
    trace
}

/// Each entry is a one-key object `{"float": [1, 128, 768]}`.
fn type_shapes(raw: Vec<BTreeMap<String, Vec<i64>>>) -> Vec<TypeShape> {
    raw.into_iter()
        .map(|m| m.into_iter().next().map(|(dtype, shape)| TypeShape { dtype, shape }).unwrap_or(TypeShape { dtype: String::new(), shape: Vec::new() }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a trace as ONNX Runtime 1.31 writes it (trimmed to the fields read here, plus
    /// one unknown field and one fence event that must be skipped).
    const SAMPLE: &str = r#"[
{"cat" : "Session","pid" :1,"tid" :1,"dur" :100,"ts" :6,"ph" : "X","name" :"session_initialization","args" : {}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :72,"ts" :300,"ph" : "X","name" :"/l0/MatMul_kernel_time","args" : {"op_name" : "MatMul","provider" : "CPUExecutionProvider","input_type_shape" : [{"float":[1,8,4]},{"float":[4,6]}],"output_type_shape" : [{"float":[1,8,6]}],"mem_in_use_delta" : "256"}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :0,"ts" :299,"ph" : "X","name" :"/l0/MatMul_fence_before","args" : {"op_name" : "MatMul"}},
{"cat" : "Session","pid" :1,"tid" :1,"dur" :90,"ts" :290,"ph" : "X","name" :"model_run","args" : {}}
]"#;

    #[test]
    fn reads_runs_kernels_and_shapes_and_skips_fences() {
        let t = parse_str(SAMPLE).unwrap();
        assert_eq!(t.runs, vec![Span { start_us: 290, dur_us: 90 }]);
        assert_eq!(t.kernels.len(), 1);
        let k = &t.kernels[0];
        assert_eq!((k.node.as_str(), k.op_type.as_str(), k.provider.as_str()), ("/l0/MatMul", "MatMul", "CPUExecutionProvider"));
        assert_eq!(k.inputs[0], TypeShape { dtype: "float".into(), shape: vec![1, 8, 4] });
        assert_eq!(k.outputs[0].shape, vec![1, 8, 6]);
        assert!(t.runs[0].holds(&k.span));
    }

    #[test]
    fn a_file_that_is_not_a_trace_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, "{\"not\": \"an array\"}").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("not a trace"), "{e}");
    }
}
