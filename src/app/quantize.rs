//! `quantize`: quantize, save, then check the result against the float model (or search for the
//! nodes to keep in float until an accuracy goal holds).

use std::path::PathBuf;

use super::{External, Outcome, Result};
use crate::data::{Inputs, TextOptions};
use crate::measure::compare;
use crate::onnx::{check, Model, SaveOptions};
use crate::quant::{self, ConvStrategy, DynamicForm, QType, QuantizeOptions};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModeArg {
    Auto,
    Dynamic,
    Static,
    WeightOnly,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FormArg {
    DynamicQuantizeMatmul,
    MatmulIntegerToFloat,
    MatmulInteger,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ConvArg {
    Native,
    Split,
    BatchedRight,
    Keep,
}

/// The most calibration or check batches a flag may ask for.
const MAX_SAMPLES: usize = 100_000;
/// The highest column number of a text file a flag may name.
const MAX_COLUMN: usize = 10_000;

/// Flags of `quantize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The float .onnx file (never modified).
    pub model: PathBuf,
    /// Where to write the quantized model.
    #[arg(short, long)]
    pub output: PathBuf,
    /// auto (calibrate on --calibration, synthetic by default; activations with outlier channels
    /// get a calibrated range and per-channel weights, the rest are quantized at run time), dynamic,
    /// static (every activation's range calibrated ahead of time) or weight-only.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
    /// One scale per output channel of each weight.
    #[arg(long)]
    pub per_channel: bool,
    /// Weight type (default from the CPU: s8).
    #[arg(long, value_name = "s8|u8")]
    pub weight_type: Option<QType>,
    /// Activation type (dynamic: u8 only).
    #[arg(long, value_name = "u8|s8")]
    pub activation_type: Option<QType>,
    /// Force 7-bit weights (default: on only for x86 CPUs without VNNI).
    #[arg(long, conflicts_with = "no_reduce_range")]
    pub reduce_range: bool,
    /// Force full-range weights.
    #[arg(long)]
    pub no_reduce_range: bool,
    /// Operator types to quantize, comma-separated (default MatMul,Gemm,Conv,Gather).
    #[arg(long, value_delimiter = ',', value_name = "OP,...")]
    pub op_types: Option<Vec<String>>,
    /// Node names to leave in float (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "NODE")]
    pub exclude: Vec<String>,
    /// Operators of a dynamic MatMul.
    #[arg(long, value_enum, default_value_t = FormArg::DynamicQuantizeMatmul)]
    pub form: FormArg,
    /// Static: write portable QuantizeLinear/DequantizeLinear pairs around float MatMuls instead of
    /// ONNX Runtime's MatMulIntegerToFloat with the bias folded (slower in ONNX Runtime: the bias
    /// Add stays outside the integer kernel).
    #[arg(long)]
    pub qdq: bool,
    /// Pointwise Convs (SqueezeBERT): native (the encoder rewritten token-major with the
    /// squeezebert-native pass, one MatMul per group with Q/K/V merged; the default), split
    /// (channels-last MatMul per group, Transposes around each), batched-right, or keep (float Conv).
    #[arg(long, value_enum, default_value_t = ConvArg::Native)]
    pub conv: ConvArg,
    /// Threads quantizing weights (0: all cores; at most 1024).
    #[arg(long, default_value_t = 2, value_parser = super::whole(0..=1024))]
    pub threads: usize,
    /// Auto and static: calibration data: `synthetic` (seeded token batches, default), a .json file of
    /// cases (the fixtures' reference format), or a text file (.tsv, .csv, or `label text`
    /// lines) tokenized with --tokenizer.
    #[arg(long, value_name = "DATA")]
    pub calibration: Option<quant::CalibrationData>,
    /// Auto and static: how activation ranges are chosen: minmax, percentile:P (e.g. percentile:99.99), entropy.
    #[arg(long, default_value = "minmax", value_name = "METHOD")]
    pub method: quant::calibrate::Method,
    /// Auto and static: calibration runs (synthetic batches, or texts read from the file), 1 to 100000.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = super::whole(1..=MAX_SAMPLES))]
    pub samples: usize,
    /// Move activation outliers into the weights before quantizing (SmoothQuant-style per-channel
    /// scales folded into the producing Mul, no new op), calibrated on --calibration (synthetic by
    /// default): `--smooth` alone chooses alpha per MatMul by measured error, `--smooth 0.5` fixes
    /// it, `--smooth off` turns it off.
    #[arg(long, value_name = "ALPHA", num_args = 0..=1, default_missing_value = "auto")]
    pub smooth: Option<quant::Smooth>,
    /// Tokens per synthetic calibration batch; the longest tokenized text (1 to 65536).
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = super::whole(1..=65536))]
    pub seq: usize,
    /// tokenizer.json for text --calibration and --eval files.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Column of the text in .tsv/.csv files (0-based).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = super::whole(0..=MAX_COLUMN))]
    pub text_column: usize,
    /// Column of the class label in --eval .tsv/.csv files (0-based).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = super::whole(0..=MAX_COLUMN))]
    pub label_column: usize,
    /// Text files start with a header line.
    #[arg(long)]
    pub header: bool,
    /// Keep the most harmful nodes in float until every output's cosine (and the top-1
    /// agreement of logits) on the check data is at least X (0 to 1).
    #[arg(long, value_name = "X", conflicts_with = "max_accuracy_drop", value_parser = super::number(0.0..=1.0))]
    pub target_fidelity: Option<f64>,
    /// Keep the most harmful nodes in float until the accuracy on --eval is at most X points
    /// below the float model's (0 to 100).
    #[arg(long, value_name = "X", requires = "eval", value_parser = super::number(0.0..=100.0))]
    pub max_accuracy_drop: Option<f64>,
    /// Labelled text data for --max-accuracy-drop (needs --tokenizer).
    #[arg(long, value_name = "DATA")]
    pub eval: Option<PathBuf>,
    /// Seconds the accuracy search may take before it stops with the best model so far (at most
    /// 604800, a week).
    #[arg(long, value_name = "S", default_value_t = 600.0, value_parser = super::number(0.0..=604_800.0))]
    pub time_budget: f64,
    /// Seeded synthetic token batches the check runs on (0: no check; at most 100000).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = super::whole(0..=MAX_SAMPLES))]
    pub verify: usize,
    /// Check on the cases of this JSON file instead (fixtures' reference format), or on the
    /// texts of a .tsv/.csv/text file (--text-column, --header) tokenized with --tokenizer.
    #[arg(long, value_name = "DATA")]
    pub check: Option<PathBuf>,
    /// Fail (exit 1) when 1 − cosine of an output, or 1 − top-1 agreement of logits, exceeds this
    /// (0 to 2).
    #[arg(long, value_name = "X", value_parser = super::number(0.0..=2.0))]
    pub max_drop: Option<f64>,
    /// Print the report as JSON (stdout) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Weight storage of the output (as for rewrite).
    #[arg(long, value_enum, default_value_t = External::Auto)]
    pub external: External,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

impl Args {
    /// The quantizer's options from the flags.
    fn options(&self) -> QuantizeOptions {
        QuantizeOptions {
            mode: match self.mode {
                ModeArg::Auto => quant::Mode::Auto,
                ModeArg::Dynamic => quant::Mode::Dynamic,
                ModeArg::Static => quant::Mode::Static,
                ModeArg::WeightOnly => quant::Mode::WeightOnly,
            },
            per_channel: self.per_channel,
            weight_type: self.weight_type,
            activation_type: self.activation_type,
            reduce_range: if self.reduce_range { Some(true) } else if self.no_reduce_range { Some(false) } else { None },
            op_types: self.op_types.clone().unwrap_or_else(|| QuantizeOptions::default().op_types),
            exclude: self.exclude.clone(),
            form: match self.form {
                FormArg::DynamicQuantizeMatmul => DynamicForm::DynamicQuantizeMatMul,
                FormArg::MatmulIntegerToFloat => DynamicForm::MatMulIntegerToFloat,
                FormArg::MatmulInteger => DynamicForm::MatMulInteger,
            },
            qdq: self.qdq,
            conv: match self.conv {
                ConvArg::Native => ConvStrategy::Native,
                ConvArg::Split => ConvStrategy::Split,
                ConvArg::BatchedRight => ConvStrategy::BatchedRight,
                ConvArg::Keep => ConvStrategy::Keep,
            },
            threads: self.threads,
            calibration: self.calibration.clone(),
            // For static calibration on text; --eval and --check read it too (in any mode).
            tokenizer: self.tokenizer.clone().filter(|_| matches!(self.mode, ModeArg::Static | ModeArg::Auto) || self.smooth.is_some_and(|s| s != quant::Smooth::Off)),
            text_column: self.text_column,
            header: self.header,
            method: self.method,
            samples: self.samples,
            seq: self.seq,
            smooth: self.smooth.unwrap_or_default(),
        }
    }

    /// The goal of the accuracy-aware search, if one is asked for (the flags' parsers checked
    /// their ranges).
    fn goal(&self) -> Option<quant::fallback::Goal> {
        match (self.target_fidelity, self.max_accuracy_drop) {
            (Some(x), _) => Some(quant::fallback::Goal::Fidelity(x)),
            (_, Some(x)) => Some(quant::fallback::Goal::AccuracyDrop(x)),
            _ => None,
        }
    }
}

/// `quantize`.
pub fn quantize(a: Args) -> Result<Outcome> {
    let options = a.options();
    let goal = a.goal();
    let Args { model, output, tokenizer, text_column, label_column, header, seq, eval, time_budget, verify: samples, check: check_data, max_drop, json, external, force, .. } = a;
    // A text file for --eval (labelled) or --check, tokenized with --tokenizer.
    let text = |label_column| TextOptions { text_column, label_column, header, limit: None, batch: 32, max_len: seq };
    let eval_data = eval.as_ref().map(|p| Inputs::from_file("--eval", p, tokenizer.as_deref(), text(Some(label_column)))).transpose()?;
    if output.is_dir() || output.as_os_str().to_string_lossy().ends_with('/') {
        return Err(format!("-o '{}' names a folder: give the path of the output file, e.g. '{}'", output.display(), output.join("model-int8.onnx").display()).into());
    }
    if !force && output.exists() {
        return Err(format!("refusing to write '{}': the file exists (pass --force to replace it)", output.display()).into());
    }
    let m = Model::load_mapped(&model)?;
    check::ensure_sound(&m)?;
    let size_before = m.file_size() + m.external_bytes()?;
    let data = match (eval_data, check_data) {
        (Some(e), _) => Some(e),
        (None, Some(p)) => Some(Inputs::from_file("--check", &p, tokenizer.as_deref(), text(None))?),
        (None, None) if samples > 0 => Some(Inputs::synthetic(samples)),
        (None, None) => None,
    };
    let prepared = quant::prepare(m, &options)?;
    let (q, report, searched) = match goal {
        None => {
            let (q, report) = prepared.finish()?;
            (q, report, None)
        }
        Some(goal) => {
            let data = data.as_ref().ok_or("--target-fidelity needs check data: --verify N (N > 0) or --check DATA")?;
            let reference = compare::Reference::new(&model, data)?;
            let scratch = tempfile::Builder::new().prefix("squeezebench-search").tempdir()?;
            let budget = std::time::Duration::from_secs_f64(time_budget);
            let (q, report, fidelity, outcome) = quant::fallback::search(&prepared, &reference, goal, budget, scratch.path())?;
            drop(prepared);
            (q, report, Some((fidelity, outcome)))
        }
    };
    if report.quantized.is_empty() && searched.is_none() {
        let why: Vec<String> = report.skipped.iter().take(3).map(|k| format!("{} ({}): {}", k.node, k.op_type, k.reason)).collect();
        return Err(format!(
            "nothing to quantize in '{}': no node of the op types {} has a float weight to quantize (an int8 model already?){}; nothing written",
            model.display(),
            options.op_types.join(", "),
            if why.is_empty() { String::new() } else { format!(" — {}", why.join("; ")) }
        )
        .into());
    }
    let summary = q.save(&output, &SaveOptions { external: external.into(), force, ..Default::default() })?;
    drop(q);
    let size_after = summary.bytes + summary.external.as_ref().map_or(0, |e| e.1);
    let (fidelity, outcome) = match searched {
        Some((f, o)) => (Some(f), Some(o)),
        None => match data.map(|d| compare::compare(&model, &output, &d)).transpose() {
            Ok(f) => (f, None),
            Err(e) => {
                // The check could not run (ONNX Runtime refuses the float model, bad --check
                // data): an unchecked output would block the rerun; remove it.
                let _ = std::fs::remove_file(&summary.path);
                if let Some((data_file, _)) = &summary.external {
                    let _ = std::fs::remove_file(data_file);
                }
                return Err(e.into());
            }
        },
    };
    if json {
        let doc = serde_json::json!({
            "report": report,
            "size_before": size_before,
            "size_after": size_after,
            "fidelity": fidelity,
            "search": outcome,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", report.render_text());
        println!(
            "size       {} -> {} ({:.1}%)  wrote {}",
            crate::util::human_bytes(size_before),
            crate::util::human_bytes(size_after),
            100.0 * size_after as f64 / size_before.max(1) as f64,
            summary.path.display()
        );
        if let Some(o) = &outcome {
            print!("{}", o.render_text());
        }
        if let Some(f) = &fidelity {
            print!("{}", f.render_text());
        }
    }
    if let Some(o) = outcome.as_ref().filter(|o| !o.met) {
        eprintln!(
            "accuracy goal not met: {} (best score {:.6} with {} node(s) in float; '{}' is kept for inspection)",
            o.goal.describe(),
            o.score,
            o.kept_float.len(),
            output.display()
        );
        return Ok(Outcome::CheckFailed);
    }
    if let (Some(bound), Some(f)) = (max_drop, &fidelity) {
        if f.worst_drop() > bound {
            eprintln!(
                "fidelity check failed: drop {:.4} exceeds --max-drop {bound} ('{}' is kept for inspection)",
                f.worst_drop(),
                output.display()
            );
            return Ok(Outcome::CheckFailed);
        }
    }
    Ok(Outcome::Ok)
}
