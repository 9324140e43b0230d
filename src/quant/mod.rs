//! 8-bit quantization of BERT-family ONNX models: dynamic (weights int8 ahead of time, activations
//! quantized at run time by ONNX Runtime's integer kernels), static (activation ranges calibrated
//! ahead of time, written as QuantizeLinear/DequantizeLinear pairs: `calibrate.rs`,
//! `static_qdq.rs`) and weight-only (int8 weights, `DequantizeLinear` at load, for size); and an
//! accuracy-aware fallback that keeps the most harmful nodes in float (`fallback.rs`).
//!
//! # Using it from code
//!
//! ```no_run
//! use squeezebench::onnx::{Model, SaveOptions};
//! use squeezebench::quant::{self, QuantizeOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = Model::load_mapped("fixtures/bert-tiny.onnx")?;
//! let (int8, report) = quant::quantize(model, &QuantizeOptions::default())?;
//! int8.save("/tmp/bert-tiny-int8.onnx", &SaveOptions { force: true, ..Default::default() })?;
//! let check = squeezebench::measure::compare::compare(
//!     "fixtures/bert-tiny.onnx".as_ref(),
//!     "/tmp/bert-tiny-int8.onnx".as_ref(),
//!     &squeezebench::data::Inputs::synthetic(3),
//! )?;
//! println!("{}", report.render_text());
//! # let _ = check; Ok(()) }
//! ```
//!
//! [`QuantizeOptions`] deserializes from the CLI's flag names (kebab- or snake-case, unknown fields
//! refused), so benchmark suites can spell a variant as `{mode: dynamic, per-channel: true}`.
//! [`quantize`] works on a model in memory and returns the rewritten model and a serializable
//! [`QuantReport`]; [`prepare`] does the expensive part once (rewrite, plan, calibration, 8-bit
//! weights) and [`Prepared::emit`] writes models from it with any nodes kept in float;
//! [`crate::measure::compare::compare`] runs a reference and a quantized model *file* through ONNX
//! Runtime (it needs files because sessions load from files, external data included).
//!
//! # Design
//!
//! * `params.rs` is the pure scale / zero-point arithmetic (unit-tested on its own).
//! * `ops/` holds one quantizer per op family behind a registry ([`ops::registry`]): each looks at
//!   one node and returns a [`ops::Target`] (which input is the activation, which initializer is the
//!   weight, whether a following bias `Add` can be folded) or why it is left in float. No shared
//!   mutable state: the mode (`dynamic.rs`, `weight_only.rs`) turns targets into [`Patch`]es
//!   (`crate::passes`), which are applied in one go.
//! * Weights are quantized on `threads` threads, and the float pages of a weight are handed back
//!   to the operating system as soon as its int8 copy exists (when the model was loaded with
//!   [`Model::load_mapped`]): peak memory stays near the int8 model plus the float tensors that stay
//!   float (embeddings), not the float model plus the int8 one.
//! * SqueezeBERT's grouped pointwise `Conv` is first rewritten by the `conv-matmul` pass in its
//!   channels-last form (weight on the right of per-group MatMuls), so the Conv never becomes the slow
//!   `ConvInteger` and the integer MatMul kernels get a constant right operand they can pack.

pub mod calibrate;
pub mod fallback;
pub mod ops;
pub mod params;
pub mod smooth;

mod dynamic;
mod static_qdq;
mod weight_only;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::{Inputs, TextOptions};
use crate::onnx::{self, Model};
use crate::passes::{self, conv_matmul, Pass, Patch};
pub use params::QType;
pub use smooth::Smooth;

/// Errors of quantization; each names the node, tensor or option involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid quantization options: {0}")]
    Options(String),
    #[error("node {node}: {reason}")]
    Node { node: String, reason: String },
    #[error("quantized graph cannot be built: {0}")]
    Apply(String),
    #[error(transparent)]
    Onnx(#[from] onnx::Error),
    #[error(transparent)]
    Passes(#[from] passes::Error),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
    #[error(transparent)]
    Compare(#[from] crate::measure::compare::Error),
    #[error(transparent)]
    Data(#[from] crate::data::Error),
    #[error("{0}")]
    Verify(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What is quantized and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The default: calibrate, then quantize each activation with outlier channels (its loudest
    /// channel [`OUTLIER_RATIO`] times its median channel or more) statically, with its calibrated
    /// range and per-channel weights, and every other activation dynamically, as [`Mode::Dynamic`].
    /// Models without outliers come out as dynamic ones.
    #[default]
    Auto,
    /// Int8 weights, activations quantized at run time (ONNX Runtime's integer MatMul kernels).
    Dynamic,
    /// Int8 weights and activations with scales fixed by calibration, in QDQ form
    /// (`QuantizeLinear`/`DequantizeLinear` pairs that ONNX Runtime fuses into its integer kernels).
    Static,
    /// Int8 weights dequantized when the model loads: a smaller file, float compute.
    #[serde(alias = "weight_only")]
    WeightOnly,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Dynamic => "dynamic",
            Mode::Static => "static",
            Mode::WeightOnly => "weight-only",
        }
    }
}

/// How far an activation's loudest channel must stand out ([`calibrate::Collector::outlier_ratio`])
/// for [`Mode::Auto`] to give it a calibrated range. Measured (benchmarks/2026-12-03-int8-default.md):
/// randomly initialized BERT-base and SqueezeBERT-base stay under 5; all-MiniLM-L6-v2's GELU and
/// LayerNorm outputs reach 9 to 21.
pub const OUTLIER_RATIO: f32 = 8.0;

/// The operators a dynamic MatMul is written with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DynamicForm {
    /// `com.microsoft.DynamicQuantizeMatMul(x, Wq, scale, zero point, bias)`: one node, bias folded.
    #[default]
    #[serde(rename = "dynamic-quantize-matmul", alias = "dynamic_quantize_matmul")]
    DynamicQuantizeMatMul,
    /// `DynamicQuantizeLinear` (shared by MatMuls reading the same activation) and
    /// `com.microsoft.MatMulIntegerToFloat` with the bias folded.
    #[serde(rename = "matmul-integer-to-float", alias = "matmul_integer_to_float")]
    MatMulIntegerToFloat,
    /// Standard ONNX only: `DynamicQuantizeLinear`, `MatMulInteger`, `Cast`, `Mul` (portable to
    /// other runtimes; ONNX Runtime fuses it back into the forms above).
    #[serde(rename = "matmul-integer", alias = "matmul_integer")]
    MatMulInteger,
}

impl DynamicForm {
    pub fn name(self) -> &'static str {
        match self {
            DynamicForm::DynamicQuantizeMatMul => "dynamic-quantize-matmul",
            DynamicForm::MatMulIntegerToFloat => "matmul-integer-to-float",
            DynamicForm::MatMulInteger => "matmul-integer",
        }
    }
}

/// How pointwise `Conv`s (SqueezeBERT) are handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvStrategy {
    /// `squeezebert-native`: the channels-first encoder runs token-major, each grouped projection
    /// as one MatMul per group with its weight on the right (projections of one input merged), no
    /// Transpose around projections or LayerNorms; Convs it cannot rewrite fall back to `split`.
    #[default]
    Native,
    /// `conv-matmul` with `form=split`: channels-last, one MatMul per group, weight on the right.
    Split,
    /// `conv-matmul` with `form=batched-right`: one batched MatMul over the groups.
    #[serde(alias = "batched_right")]
    BatchedRight,
    /// Leave Conv nodes alone (in float).
    Keep,
}

/// Options of [`quantize`]; field names are the CLI's flags. `None` fields are chosen from the CPU
/// (see [`Defaults`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct QuantizeOptions {
    pub mode: Mode,
    /// One scale per output channel of each weight instead of one per tensor.
    #[serde(alias = "per_channel")]
    pub per_channel: bool,
    /// Weight type; default s8.
    #[serde(alias = "weight_type")]
    pub weight_type: Option<QType>,
    /// Activation type; dynamic quantization in ONNX Runtime is u8 only.
    #[serde(alias = "activation_type")]
    pub activation_type: Option<QType>,
    /// 7-bit weights; default on for CPUs without VNNI.
    #[serde(alias = "reduce_range")]
    pub reduce_range: Option<bool>,
    /// Operator types to quantize (MatMul, Gemm, Conv).
    #[serde(alias = "op_types")]
    pub op_types: Vec<String>,
    /// Node names left in float.
    pub exclude: Vec<String>,
    /// Operators a dynamic MatMul is written with.
    pub form: DynamicForm,
    /// Static mode: write portable `QuantizeLinear`/`DequantizeLinear` pairs around float products
    /// instead of `QuantizeLinear` and ONNX Runtime's `MatMulIntegerToFloat` with the bias folded.
    pub qdq: bool,
    /// How pointwise Convs are handled.
    pub conv: ConvStrategy,
    /// Threads quantizing weights (0: all cores).
    pub threads: usize,
    /// Static mode: the calibration data, `synthetic` (seeded token batches, the default) or a
    /// file: `.json` cases (the fixtures' reference format) or a text file (`.tsv`, `.csv`, or
    /// `label text` lines) tokenized with `tokenizer`.
    pub calibration: Option<CalibrationData>,
    /// tokenizer.json for a text calibration file.
    pub tokenizer: Option<PathBuf>,
    /// Column of the text in a `.tsv`/`.csv` calibration file (0-based).
    #[serde(alias = "text_column")]
    pub text_column: usize,
    /// The calibration file's first line is a header.
    pub header: bool,
    /// How activation ranges are read from the calibration statistics.
    pub method: calibrate::Method,
    /// Calibration runs (synthetic batches, or texts of the file).
    pub samples: usize,
    /// Tokens per synthetic calibration batch (at most the model's position table), and the longest
    /// tokenized text.
    pub seq: usize,
    /// Smoothing before quantizing (`smooth.rs`): off, `auto` (α chosen per MatMul by measured
    /// error) or a fixed α; calibrated on `calibration` (synthetic by default) in every mode.
    pub smooth: Smooth,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            mode: Mode::Auto,
            per_channel: false,
            weight_type: None,
            activation_type: None,
            reduce_range: None,
            op_types: ops::DEFAULT_OP_TYPES.iter().map(|s| s.to_string()).collect(),
            exclude: Vec::new(),
            form: DynamicForm::default(),
            qdq: false,
            conv: ConvStrategy::default(),
            threads: 2,
            calibration: None,
            tokenizer: None,
            text_column: 1,
            header: false,
            method: calibrate::Method::MinMax,
            samples: 32,
            seq: 128,
            smooth: Smooth::Off,
        }
    }
}

/// Settings chosen from the CPU when the options leave them open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Defaults {
    /// What was detected (`AVX-512 VNNI`, `AVX-VNNI`, `no VNNI`, `not x86-64`).
    pub cpu: String,
    pub weight_type: QType,
    pub activation_type: QType,
    pub reduce_range: bool,
}

impl Defaults {
    /// VNNI present → u8 activations, s8 weights, full range; x86 without VNNI → the same with 7-bit
    /// weights (`vpmaddubsw` saturates 16-bit sums of two full-range u8×s8 products); other CPUs → full range.
    pub fn detect() -> Defaults {
        let (cpu, reduce_range) = cpu_features();
        Defaults { cpu, weight_type: QType::S8, activation_type: QType::U8, reduce_range }
    }
}

#[cfg(target_arch = "x86_64")]
fn cpu_features() -> (String, bool) {
    if std::arch::is_x86_feature_detected!("avx512vnni") {
        ("AVX-512 VNNI".into(), false)
    } else if std::arch::is_x86_feature_detected!("avxvnni") {
        ("AVX-VNNI".into(), false)
    } else {
        ("x86-64 without VNNI".into(), true)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_features() -> (String, bool) {
    (format!("{} (not x86-64)", std::env::consts::ARCH), false)
}

/// The options with every open choice made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resolved {
    pub mode: Mode,
    pub per_channel: bool,
    pub weight_type: QType,
    pub activation_type: QType,
    pub reduce_range: bool,
    /// Int8 weights are symmetric (zero point 0); u8 weights are asymmetric.
    pub symmetric_weights: bool,
    pub op_types: Vec<String>,
    pub exclude: Vec<String>,
    pub form: DynamicForm,
    /// Static mode in portable QDQ form (`--qdq`).
    pub qdq: bool,
    pub conv: ConvStrategy,
    pub threads: usize,
    pub cpu: String,
    /// Static mode: how activation ranges were chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<calibrate::Method>,
}

/// Where static mode's calibration data comes from: `synthetic` (seeded token batches) or a file.
/// Spelled as a path on the command line and in suites; the word `synthetic` is the first variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "PathBuf", into = "PathBuf")]
pub enum CalibrationData {
    Synthetic,
    File(PathBuf),
}

impl CalibrationData {
    const SYNTHETIC: &'static str = "synthetic";

    /// The calibration file, if the data is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            CalibrationData::Synthetic => None,
            CalibrationData::File(p) => Some(p),
        }
    }
}

impl From<PathBuf> for CalibrationData {
    fn from(p: PathBuf) -> CalibrationData {
        if p.as_os_str() == CalibrationData::SYNTHETIC { CalibrationData::Synthetic } else { CalibrationData::File(p) }
    }
}

impl From<CalibrationData> for PathBuf {
    fn from(c: CalibrationData) -> PathBuf {
        match c {
            CalibrationData::Synthetic => PathBuf::from(CalibrationData::SYNTHETIC),
            CalibrationData::File(p) => p,
        }
    }
}

impl std::str::FromStr for CalibrationData {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<CalibrationData, Self::Err> {
        Ok(PathBuf::from(s).into())
    }
}

impl QuantizeOptions {
    /// Fills open choices from `defaults` and refuses combinations that cannot run.
    pub fn resolve(&self, defaults: &Defaults) -> Result<Resolved> {
        let weight_type = self.weight_type.unwrap_or(defaults.weight_type);
        let activation_type = self.activation_type.unwrap_or(defaults.activation_type);
        if matches!(self.mode, Mode::Dynamic | Mode::Auto) && activation_type != QType::U8 {
            return Err(Error::Options(format!(
                "{} quantization in ONNX Runtime quantizes activations to u8 only (DynamicQuantizeLinear); drop --activation-type s8{}",
                self.mode.name(),
                if self.mode == Mode::Auto { " or pass --mode static" } else { "" }
            )));
        }
        for op in &self.op_types {
            if !ops::SUPPORTED_OP_TYPES.contains(&op.as_str()) {
                return Err(Error::Options(format!("op type '{op}' cannot be quantized (supported: {})", ops::SUPPORTED_OP_TYPES.join(", "))));
            }
        }
        if self.form != DynamicForm::default() && self.mode != Mode::Dynamic {
            return Err(Error::Options(format!("--form {} writes dynamic MatMuls; add --mode dynamic ({} mode writes its own operators)", self.form.name(), self.mode.name())));
        }
        if self.qdq && self.mode != Mode::Static {
            return Err(Error::Options(format!("--qdq is a form of static quantization; {} mode does not write QuantizeLinear/DequantizeLinear pairs", self.mode.name())));
        }
        if matches!(self.mode, Mode::Static | Mode::Auto) && self.samples == 0 {
            return Err(Error::Options("static quantization needs at least one calibration sample (--samples)".into()));
        }
        if !self.calibrates() && (self.calibration.is_some() || self.tokenizer.is_some()) {
            return Err(Error::Options(format!("calibration data is for --mode static or --smooth; {} mode does not calibrate", self.mode.name())));
        }
        if self.smooth != Smooth::Off && self.samples == 0 {
            return Err(Error::Options("smoothing needs at least one calibration sample (--samples)".into()));
        }
        let threads = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Resolved {
            mode: self.mode,
            per_channel: self.per_channel,
            weight_type,
            activation_type,
            reduce_range: self.reduce_range.unwrap_or(defaults.reduce_range),
            symmetric_weights: weight_type == QType::S8,
            op_types: self.op_types.clone(),
            exclude: self.exclude.clone(),
            form: self.form,
            qdq: self.qdq && self.mode == Mode::Static,
            conv: self.conv,
            threads,
            cpu: defaults.cpu.clone(),
            method: matches!(self.mode, Mode::Static | Mode::Auto).then_some(self.method),
        })
    }

    /// Whether the options run the float model over calibration data (static mode, smoothing).
    pub fn calibrates(&self) -> bool {
        matches!(self.mode, Mode::Static | Mode::Auto) || self.smooth != Smooth::Off
    }

    /// Whether calibration reads a text file (which needs a tokenizer).
    pub(crate) fn calibrates_on_text(&self) -> bool {
        self.calibrates()
            && matches!(&self.calibration, Some(CalibrationData::File(p)) if p.extension().is_none_or(|e| e != "json"))
    }

    /// The calibration data of static mode, checked: a text file needs a tokenizer.
    pub fn calibration_data(&self) -> Result<Inputs> {
        let Some(CalibrationData::File(path)) = &self.calibration else {
            return Ok(Inputs::Synthetic { samples: self.samples, batch: 1, seq: self.seq });
        };
        let text = TextOptions { text_column: self.text_column, label_column: None, header: self.header, limit: Some(self.samples), batch: 1, max_len: self.seq };
        Inputs::from_file("calibration", path, self.tokenizer.as_deref(), text).map_err(|e| Error::Options(e.to_string()))
    }
}

/// A node left in float, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub node: String,
    pub op_type: String,
    pub reason: String,
}

/// What [`quantize`] did.
#[derive(Clone, Debug, Serialize)]
pub struct QuantReport {
    pub options: Resolved,
    /// Rewrites made before quantizing (`conv-matmul: 72 Conv`).
    pub preprocessing: Vec<String>,
    /// Op type of the float model → number of nodes quantized.
    pub quantized: BTreeMap<String, usize>,
    /// Op type → nodes of that type left in float (candidates skipped, and every other op type).
    pub float_ops: BTreeMap<String, usize>,
    /// Candidates (nodes of the requested op types) left in float, with the reason.
    pub skipped: Vec<Skipped>,
    /// Op histogram of the output model.
    pub ops_after: BTreeMap<String, usize>,
    /// Bytes of initializer data before and after.
    pub weight_bytes_before: u64,
    pub weight_bytes_after: u64,
    /// Static mode: the calibration run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<calibrate::Calibration>,
    /// `--smooth`: the activations smoothed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<smooth::SmoothReport>,
    /// Wall time of quantization in memory (no loading or saving), calibration included.
    pub seconds: f64,
}

impl QuantReport {
    /// The summary `quantize` prints.
    pub fn render_text(&self) -> String {
        let o = &self.options;
        let mut s = String::new();
        s.push_str(&format!(
            "mode       {}{}   weights {}{}{}   activations {}\n",
            o.mode.name(),
            if o.mode == Mode::Dynamic { format!(" ({})", o.form.name()) } else { String::new() },
            o.weight_type.name(),
            if o.per_channel { " per-channel" } else if o.mode == Mode::Auto { " per-channel where static, else per-tensor" } else { " per-tensor" },
            if o.reduce_range { ", reduce-range (7-bit)" } else { "" },
            match o.mode {
                Mode::Dynamic => format!("{} (range per run)", o.activation_type.name()),
                Mode::Auto => format!("{} (calibrated where channels have outliers, else per run)", o.activation_type.name()),
                Mode::Static => format!("{} (calibrated)", o.activation_type.name()),
                Mode::WeightOnly => "float".into(),
            },
        ));
        s.push_str(&format!("cpu        {} (defaults: s8 weights, u8 activations{})\n", o.cpu, if o.reduce_range { ", reduce-range" } else { "" }));
        for p in &self.preprocessing {
            s.push_str(&format!("rewrite    {p}\n"));
        }
        if let Some(c) = &self.calibration {
            s.push_str(&format!("calibrate  {} over {} ({} runs, {} activations, {:.2} s)\n", c.method, c.data, c.runs, c.activations, c.seconds));
            if o.mode == Mode::Auto {
                s.push_str(&format!(
                    "outliers   {} of {} activations have a channel {OUTLIER_RATIO}x their median channel or more: static (calibrated range, per-channel weights); the rest dynamic\n",
                    c.static_activations.len(),
                    c.activations
                ));
            }
            if o.activation_type == QType::S8 && cfg!(target_arch = "x86_64") {
                s.push_str("note       s8 activations: ONNX Runtime on x86-64 fuses QDQ MatMuls with u8 activations only; these run dequantized in float\n");
            }
        }
        if let Some(r) = &self.smoothing {
            let used: Vec<String> = r.sites.iter().filter_map(|x| x.alpha.map(|a| format!("{a}"))).collect();
            s.push_str(&format!("smooth     {} over {}: {} of {} activations smoothed (alpha {}), {:.2} s\n", r.smooth, r.data, used.len(), r.sites.len(), if used.is_empty() { "-".into() } else { used.join(", ") }, r.seconds));
        }
        let hist = |m: &BTreeMap<String, usize>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
        s.push_str(&format!("quantized  {}\n", if self.quantized.is_empty() { "nothing".into() } else { hist(&self.quantized) }));
        let candidates: BTreeMap<String, usize> = self.skipped.iter().fold(BTreeMap::new(), |mut m, k| {
            *m.entry(k.op_type.clone()).or_default() += 1;
            m
        });
        s.push_str(&format!("float      {}\n", if candidates.is_empty() { "no candidate left in float".into() } else { hist(&candidates) }));
        for k in self.skipped.iter().take(12) {
            s.push_str(&format!("             {} ({}): {}\n", k.node, k.op_type, k.reason));
        }
        if self.skipped.len() > 12 {
            s.push_str(&format!("             ... {} more\n", self.skipped.len() - 12));
        }
        s.push_str(&format!(
            "weights    {} -> {} ({:.1}%)   in {:.2} s\n",
            crate::util::human_bytes(self.weight_bytes_before),
            crate::util::human_bytes(self.weight_bytes_after),
            100.0 * self.weight_bytes_after as f64 / self.weight_bytes_before.max(1) as f64,
            self.seconds
        ));
        s
    }
}

/// Quantizes `model` as `options` say. The model is consumed (its float weights are released as
/// they are replaced); the result is a new model and a report. Static mode calibrates on
/// [`QuantizeOptions::calibration_data`] first.
pub fn quantize(model: Model, options: &QuantizeOptions) -> Result<(Model, QuantReport)> {
    prepare(model, options)?.finish()
}

/// A model ready to be quantized: rewritten for quantization, planned, calibrated, its weights in
/// 8 bits. [`Prepared::emit`] writes quantized models from it with any set of nodes kept in float,
/// without redoing that work (the accuracy-aware search emits many).
pub struct Prepared {
    model: Model,
    plan: ops::Plan,
    shared: Shared,
}

/// What every model emitted from a preparation shares.
struct Shared {
    opts: Resolved,
    weights: HashMap<String, dynamic::QWeight>,
    ranges: HashMap<String, (f32, f32)>,
    /// Auto mode: the activations quantized at run time (no outlier channels).
    dynamic_activations: HashSet<String>,
    calibration: Option<calibrate::Calibration>,
    smoothing: Option<smooth::SmoothReport>,
    preprocessing: Vec<String>,
    histogram_before: BTreeMap<String, usize>,
    weight_bytes_before: u64,
    seconds: f64,
}

/// Rewrites, plans, calibrates (static mode) and quantizes the weights of `model`.
pub fn prepare(mut model: Model, options: &QuantizeOptions) -> Result<Prepared> {
    let start = Instant::now();
    let opts = options.resolve(&Defaults::detect())?;
    let calibration_data = matches!(opts.mode, Mode::Static | Mode::Auto).then(|| options.calibration_data()).transpose()?;
    let weight_bytes_before = model.weight_bytes();
    // Pointwise Convs become MatMuls first. Exporters read shared biases through Identity nodes,
    // which conv-matmul needs to see through: `identity` runs before it. (The op quantizers look
    // through Identity themselves, so models without Conv skip the passes.)
    let mut list: Vec<Box<dyn Pass>> = Vec::new();
    let has_conv = model.graph().node.iter().any(|n| n.op_type.as_deref() == Some("Conv"));
    if has_conv && opts.op_types.iter().any(|o| o == "Conv") && opts.conv != ConvStrategy::Keep {
        let form = match opts.conv {
            ConvStrategy::BatchedRight => conv_matmul::Form::BatchedRight,
            _ => conv_matmul::Form::Split,
        };
        list.push(passes::by_name("identity")?);
        if opts.conv == ConvStrategy::Native {
            for name in ["squeezebert-native", "transpose", "dead-code"] {
                list.push(passes::by_name(name)?);
            }
        }
        list.push(Box::new(conv_matmul::ConvMatMul { form }));
    }
    // PyTorch's SDPA export guards every attention softmax against NaN (IsNaN + Where), a tenth of
    // an int8 BERT-base run; `sdpa-guard` drops it (identical outputs unless a mask is all zeros).
    if model.graph().node.iter().any(|n| n.op_type.as_deref() == Some("IsNaN")) {
        list.push(passes::by_name("sdpa-guard")?);
        list.push(passes::by_name("dead-code")?);
    }
    let report = passes::Pipeline::new(list).run(&mut model)?;
    let preprocessing: Vec<String> = report
        .passes
        .iter()
        .filter(|p| p.patches > 0)
        .map(|p| {
            let what = match p.pass.as_str() {
                "conv-matmul" => " (pointwise Conv -> MatMul, weight on the right)",
                "squeezebert-native" => " (encoder token-major: grouped Convs -> MatMul per group, Transposes moved until they cancel)",
                "sdpa-guard" => " (attention softmax NaN guard removed, mask bias finite)",
                _ => "",
            };
            format!("{}: {} patches{what}", p.pass, p.patches)
        })
        .collect();
    let smoothing = match options.smooth {
        Smooth::Off => None,
        _ => Some(smooth::smooth_model(&mut model, options)?),
    };
    let histogram_before = onnx::stats::op_histogram(model.graph());
    let plan = ops::plan(&model, &opts);
    let mut dynamic_activations = HashSet::new();
    let (ranges, calibration) = match &calibration_data {
        Some(data) => {
            if model.opset("").unwrap_or(0) < 13 {
                return Err(Error::Options(format!(
                    "static quantization writes QuantizeLinear/DequantizeLinear of opset 13; the model imports opset {} (re-export it at 13 or later)",
                    model.opset("").unwrap_or(0)
                )));
            }
            let mut activations: Vec<String> = Vec::new();
            for t in plan.targets.iter().filter(|t| t.kind == ops::Kind::Product) {
                if !activations.contains(&t.activation) {
                    activations.push(t.activation.clone());
                }
            }
            let (r, mut c) = calibrate::calibrate(&model, &activations, data, opts.method.unwrap_or_default())?;
            if opts.mode == Mode::Auto {
                c.static_activations = activations.iter().filter(|a| c.outlier_ratios.get(*a).is_some_and(|&x| x >= OUTLIER_RATIO)).cloned().collect();
                dynamic_activations = activations.iter().filter(|a| !c.static_activations.contains(a)).cloned().collect();
            }
            (r, Some(c))
        }
        None => (HashMap::new(), None),
    };
    // Auto mode: the statically quantized products get per-channel weights (measured: per-tensor
    // weights lose most of what the calibrated range wins on all-MiniLM-L6-v2).
    let per_channel: HashSet<&str> = calibration.iter().flat_map(|c| c.static_activations.iter().map(String::as_str)).collect();
    let weights = dynamic::quantize_weights(&model, &plan, &opts, &per_channel)?;
    let shared = Shared { opts, weights, ranges, dynamic_activations, calibration, smoothing, preprocessing, histogram_before, weight_bytes_before, seconds: start.elapsed().as_secs_f64() };
    Ok(Prepared { model, plan, shared })
}

impl Prepared {
    /// Names of the nodes that will be quantized (what `keep_float` of [`Prepared::emit`] picks from).
    pub fn targets(&self) -> Vec<String> {
        self.plan.targets.iter().map(|t| t.name.clone()).collect()
    }

    /// The resolved options.
    pub fn options(&self) -> &Resolved {
        &self.shared.opts
    }

    /// A quantized copy with the nodes in `keep_float` left in float.
    pub fn emit(&self, keep_float: &HashSet<String>) -> Result<(Model, QuantReport)> {
        let start = Instant::now();
        let plan = self.plan.without(keep_float, "kept in float by the accuracy search");
        let mut model = self.model.clone();
        let report = self.shared.apply(&mut model, plan, start)?;
        Ok((model, report))
    }

    /// The quantized model with every planned node quantized (consumes the preparation).
    pub fn finish(self) -> Result<(Model, QuantReport)> {
        let start = Instant::now();
        let Prepared { mut model, plan, shared } = self;
        let report = shared.apply(&mut model, plan, start)?;
        Ok((model, report))
    }
}

impl Shared {
    fn apply(&self, model: &mut Model, plan: ops::Plan, start: Instant) -> Result<QuantReport> {
        let opts = &self.opts;
        let patch: Patch = match opts.mode {
            Mode::Dynamic => dynamic::build(model, &plan, opts, &self.weights)?,
            Mode::Static | Mode::Auto => static_qdq::build(model, &plan, opts, &self.weights, &self.ranges, &self.dynamic_activations)?,
            Mode::WeightOnly => weight_only::build(model, &plan, opts, &self.weights)?,
        };
        let mut quantized: BTreeMap<String, usize> = BTreeMap::new();
        for t in &plan.targets {
            *quantized.entry(t.op_type.clone()).or_default() += 1;
        }
        patch.apply(model).map_err(Error::Apply)?;
        dynamic::ensure_opsets(model, opts);
        let ops_after = onnx::stats::op_histogram(model.graph());
        let mut float_ops = self.histogram_before.clone();
        for (op, n) in &quantized {
            if let Some(v) = float_ops.get_mut(op) {
                *v = v.saturating_sub(*n);
            }
        }
        float_ops.retain(|_, v| *v > 0);
        Ok(QuantReport {
            options: opts.clone(),
            preprocessing: self.preprocessing.clone(),
            quantized,
            float_ops,
            skipped: plan.skipped,
            ops_after,
            weight_bytes_before: self.weight_bytes_before,
            weight_bytes_after: model.weight_bytes(),
            calibration: self.calibration.clone(),
            smoothing: self.smoothing.clone(),
            seconds: self.seconds + start.elapsed().as_secs_f64(),
        })
    }
}

