//! Where the time of one run goes: a model run in ONNX Runtime with its profiler on, the kernel
//! calls summed per op type (and per node), grouped into [`Family`]s, with the GMAC/s that the
//! GEMM-like kernels reached.
//!
//! The op types are those of the graph ONNX Runtime actually ran, after its own fusions at the
//! session's optimisation level (at the default level, the one suites run at, a BERT export's
//! `MatMul` + `Add` + `Gelu` chain runs as `MatMul` + `BiasGelu`, its LayerNorms as
//! `SkipLayerNormalization`); at [`OptimizationLevel::Disable`] they are the file's own nodes.
//!
//! Timing with the profiler on is slower than without it (every kernel call is recorded), so a
//! profile says how a run divides, not how long it takes: latency comes from the timing loop.
//! Shares are of ONNX Runtime's `model_run` span; what the kernels do not cover is time between
//! kernels (the executor, allocation, the profiler itself).

mod family;
pub mod macs;
mod text;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use family::Family;
pub use text::render_text;

use crate::data::synthetic;
use crate::runtime::profile::{Trace, TraceError};
use crate::runtime::{OptimizationLevel, Session, SessionOptions, Tensor};
use crate::data::Lengths;

/// How to profile.
#[derive(Clone, Debug)]
pub struct Options {
    pub batch: usize,
    pub seq: usize,
    /// Intra-op threads (0: ONNX Runtime's choice).
    pub threads: usize,
    /// Profiled runs the figures are averaged over.
    pub runs: usize,
    /// Runs before those, left out of the figures (the first run allocates and pre-packs).
    pub warmup: usize,
    pub optimization_level: OptimizationLevel,
    /// Token ids are drawn below this; `None` reads it from the model's embedding table.
    pub vocab: Option<usize>,
    pub lengths: Lengths,
    pub seed: u64,
    /// Keep per-node figures ([`Profile::nodes`]).
    pub nodes: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: 1,
            seq: 128,
            threads: 0,
            runs: 20,
            warmup: 3,
            optimization_level: OptimizationLevel::default(),
            vocab: None,
            lengths: Lengths::Full,
            seed: 0,
            nodes: false,
        }
    }
}

/// Time per run by family and op type: what a suite records per case (`profile` in
/// `results.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Profiled runs the figures are averaged over (after the warm-up runs).
    pub runs: usize,
    /// Mean duration of one profiled run: ONNX Runtime's `model_run`, with the profiler on.
    pub run_ms: f64,
    /// Time in kernels per run; the rest of `run_ms` is spent between kernels.
    pub kernel_ms: f64,
    /// Families with any time, in [`Family::ALL`] order.
    pub families: Vec<FamilyTime>,
    /// Op types, slowest first.
    pub ops: Vec<Timing>,
}

/// Time of one family per run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyTime {
    pub family: Family,
    pub ms: f64,
    /// `ms / run_ms`, between 0 and 1.
    pub share: f64,
}

/// Time of one op type (or one node) per run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// The node's name in the optimised graph (per-node figures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub op_type: String,
    pub family: Family,
    /// Kernel calls per run.
    pub calls: f64,
    pub ms: f64,
    /// `ms / run_ms`, between 0 and 1.
    pub share: f64,
    /// Multiply-accumulates per run (GEMM-like and attention kernels; see [`macs`]).
    #[serde(default)]
    pub macs: Option<u64>,
    /// `macs` per second of those kernels' time, in billions.
    #[serde(default)]
    pub gmac_per_s: Option<f64>,
}

/// A profile of one model, as `squeezebench profile` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    pub model: String,
    pub batch: usize,
    pub seq: usize,
    pub threads: usize,
    pub warmup: usize,
    pub optimization_level: OptimizationLevel,
    #[serde(flatten)]
    pub summary: Summary,
    /// Per node, slowest first (with [`Options::nodes`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Timing>,
}

/// Why a model could not be profiled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// ONNX Runtime refused the model or failed running it (its message names the file).
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Model(#[from] crate::onnx::Error),
    #[error("profile of '{}': {message}", path.display())]
    Empty { path: std::path::PathBuf, message: String },
    #[error("cannot create a scratch folder for ONNX Runtime's profile: {0}")]
    Scratch(std::io::Error),
}

/// Runs `model` `warmup + runs` times on seeded token inputs with ONNX Runtime's profiler on and
/// sums its trace. The trace file is written to a temporary folder and removed.
pub fn run(model: &Path, o: &Options) -> Result<Profile, Error> {
    let scratch = tempfile::tempdir().map_err(Error::Scratch)?;
    let options = SessionOptions { intra_threads: o.threads, optimization_level: o.optimization_level, ..SessionOptions::default() };
    let mut session = Session::from_file_profiling(model, &options, &scratch.path().join("onnxruntime-profile"))?;
    let vocab = match o.vocab {
        Some(v) => v,
        None => crate::onnx::stats::vocab_size(&crate::onnx::Model::load(model)?, "input_ids").unwrap_or(100),
    };
    let inputs = synthetic::token_batch(session.inputs(), o.batch, o.seq, &o.lengths, vocab, o.seed);
    let refs: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let prepared = session.prepare(&refs)?;
    for _ in 0..o.warmup + o.runs {
        session.run_prepared_discard(&prepared)?;
    }
    let trace = crate::runtime::profile::read(&session.end_profiling()?)?;
    let (summary, nodes) = summarize(&trace, o.warmup, o.nodes).map_err(|message| Error::Empty { path: model.to_path_buf(), message })?;
    Ok(Profile {
        model: model.display().to_string(),
        batch: o.batch,
        seq: o.seq,
        threads: o.threads,
        warmup: o.warmup,
        optimization_level: o.optimization_level,
        summary,
        nodes,
    })
}

/// Sums of the kernel calls of one op type or node.
#[derive(Default)]
struct Sums {
    op_type: String,
    calls: u64,
    us: u64,
    macs: u64,
    /// Time of the calls whose MACs are known.
    macs_us: u64,
    counted: bool,
}

impl Sums {
    fn add(&mut self, k: &crate::runtime::profile::Kernel) {
        self.calls += 1;
        self.us += k.span.dur_us;
        if let Some(m) = macs::of(&k.op_type, &k.inputs, &k.outputs) {
            self.macs += m;
            self.macs_us += k.span.dur_us;
            self.counted = true;
        }
    }

    fn timing(&self, node: Option<String>, runs: usize, run_ms: f64) -> Timing {
        let per_run = |v: f64| v / runs as f64;
        let ms = per_run(self.us as f64) / 1e3;
        Timing {
            node,
            op_type: self.op_type.clone(),
            family: Family::of(&self.op_type),
            calls: per_run(self.calls as f64),
            ms,
            share: if run_ms > 0.0 { ms / run_ms } else { 0.0 },
            macs: self.counted.then(|| self.macs / runs as u64),
            gmac_per_s: (self.counted && self.macs_us > 0).then(|| self.macs as f64 / (self.macs_us as f64 * 1e-6) / 1e9),
        }
    }
}

/// The figures of the runs after the first `warmup`: each kernel call is counted in the run whose
/// span it starts in (calls outside every kept run, such as those of warm-up, are left out).
pub(crate) fn summarize(trace: &Trace, warmup: usize, per_node: bool) -> Result<(Summary, Vec<Timing>), String> {
    let runs = trace.runs.get(warmup..).unwrap_or_default();
    if runs.is_empty() {
        return Err(format!("ONNX Runtime's trace holds {} run(s), none after the {warmup} warm-up run(s)", trace.runs.len()));
    }
    let mut by_op: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut by_node: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut r = 0;
    for k in &trace.kernels {
        while r < runs.len() && runs[r].start_us + runs[r].dur_us < k.span.start_us {
            r += 1;
        }
        if r == runs.len() || !runs[r].holds(&k.span) {
            continue;
        }
        by_op.entry(&k.op_type).or_insert_with(|| Sums { op_type: k.op_type.clone(), ..Sums::default() }).add(k);
        if per_node {
            by_node.entry(&k.node).or_insert_with(|| Sums { op_type: k.op_type.clone(), ..Sums::default() }).add(k);
        }
    }
    let n = runs.len();
    let run_ms = runs.iter().map(|s| s.dur_us as f64).sum::<f64>() / n as f64 / 1e3;
    let mut ops: Vec<Timing> = by_op.values().map(|s| s.timing(None, n, run_ms)).collect();
    slowest_first(&mut ops);
    let mut nodes: Vec<Timing> = by_node.iter().map(|(name, s)| s.timing(Some(name.to_string()), n, run_ms)).collect();
    slowest_first(&mut nodes);
    let families = Family::ALL
        .iter()
        .filter_map(|&f| {
            let ms: f64 = ops.iter().filter(|o| o.family == f).map(|o| o.ms).sum();
            (ms > 0.0).then(|| FamilyTime { family: f, ms, share: if run_ms > 0.0 { ms / run_ms } else { 0.0 } })
        })
        .collect();
    let kernel_ms = ops.iter().map(|o| o.ms).sum();
    Ok((Summary { runs: n, run_ms, kernel_ms, families, ops }, nodes))
}

fn slowest_first(rows: &mut [Timing]) {
    rows.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.op_type.cmp(&b.op_type)).then_with(|| a.node.cmp(&b.node)));
}

impl Summary {
    /// MACs per run and GMAC/s over all GEMM-like and attention kernels with known MACs.
    pub(crate) fn gemm_rate(&self) -> Option<(u64, f64)> {
        let counted: Vec<&Timing> = self.ops.iter().filter(|o| o.macs.is_some()).collect();
        let macs: u64 = counted.iter().filter_map(|o| o.macs).sum();
        let seconds: f64 = counted.iter().filter_map(|o| Some(o.macs? as f64 / (o.gmac_per_s? * 1e9))).sum();
        (macs > 0 && seconds > 0.0).then(|| (macs, macs as f64 / seconds / 1e9))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::profile::{Kernel, Span, TypeShape};

    fn kernel(node: &str, op: &str, start: u64, dur: u64, shapes: Option<(&[i64], &[i64])>) -> Kernel {
        let (inputs, outputs) = match shapes {
            Some((a, o)) => (vec![TypeShape { dtype: "float".into(), shape: a.to_vec() }], vec![TypeShape { dtype: "float".into(), shape: o.to_vec() }]),
            None => (Vec::new(), Vec::new()),
        };
        Kernel { node: node.into(), op_type: op.into(), provider: "CPUExecutionProvider".into(), span: Span { start_us: start, dur_us: dur }, inputs, outputs }
    }

    /// Two runs of a two-node graph after one warm-up run: warm-up calls are left out, figures are
    /// per run, shares are of the run span.
    fn trace() -> Trace {
        let mm = Some((&[4i64, 100][..], &[4i64, 50][..])); // 4·50·100 = 20 000 MACs
        Trace {
            runs: vec![Span { start_us: 0, dur_us: 1000 }, Span { start_us: 2000, dur_us: 100 }, Span { start_us: 3000, dur_us: 100 }],
            kernels: vec![
                kernel("mm", "MatMul", 10, 900, mm),
                kernel("mm", "MatMul", 2010, 40, mm),
                kernel("t", "Transpose", 2060, 20, None),
                kernel("mm", "MatMul", 3010, 40, mm),
                kernel("t", "Transpose", 3060, 20, None),
            ],
        }
    }

    #[test]
    fn warm_up_runs_are_left_out_and_figures_are_per_run() {
        let (s, nodes) = summarize(&trace(), 1, true).unwrap();
        assert_eq!(s.runs, 2);
        assert!((s.run_ms - 0.1).abs() < 1e-12);
        assert!((s.kernel_ms - 0.06).abs() < 1e-12);
        let mm = &s.ops[0];
        assert_eq!((mm.op_type.as_str(), mm.family, mm.calls), ("MatMul", Family::Gemm, 1.0));
        assert!((mm.share - 0.4).abs() < 1e-9);
        assert_eq!(mm.macs, Some(20_000));
        // 40 000 MACs in 80 µs = 0.5 GMAC/s.
        assert!((mm.gmac_per_s.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(s.ops[1].macs, None);
        let fam: Vec<Family> = s.families.iter().map(|f| f.family).collect();
        assert_eq!(fam, vec![Family::Gemm, Family::Layout]);
        assert_eq!(nodes.iter().map(|n| n.node.as_deref().unwrap()).collect::<Vec<_>>(), vec!["mm", "t"]);
        assert_eq!(s.gemm_rate().map(|(m, _)| m), Some(20_000));
    }

    #[test]
    fn a_trace_without_runs_after_warm_up_is_an_error() {
        let e = summarize(&trace(), 3, false).unwrap_err();
        assert!(e.contains("3 run(s), none after the 3 warm-up"), "{e}");
    }
}
