//! Built-in verification: a reference (float) and a quantized model file run in ONNX Runtime on the
//! same inputs, and each float output is compared: cosine similarity (over all samples, flattened),
//! max absolute error, and for outputs whose name contains `logits` the share of rows whose
//! arg-max agrees (top-1 agreement).
//!
//! Inputs are seeded synthetic token batches (`passes::fidelity::token_inputs`: ids uniform over
//! the vocabulary, full attention mask, 2 × 32 tokens each), or the cases of a JSON file in the
//! fixtures' reference format: `{"cases": [{"inputs": {"input_ids": {"shape": [1, 8], "data": [...]}, ...}}]}`.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Axis, IxDyn};
use serde::Serialize;

use crate::onnx::Model;
use crate::passes::fidelity;
use crate::data::{text, tokenize};
use crate::runtime::{DType, Session, SessionOptions, Tensor};
use crate::suite::spec::TextFormat;

use super::{Error, Result};

/// What the models are run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckData {
    /// This many seeded synthetic token batches of `batch × seq` tokens (seeds 0..samples).
    Synthetic { samples: usize, batch: usize, seq: usize },
    /// The cases of a JSON file (see the module docs).
    File(PathBuf),
    /// The texts of a file, tokenized.
    Text(TextData),
}

impl CheckData {
    /// `samples` synthetic batches of the default size ([`fidelity::BATCH`] × [`fidelity::SEQ`]).
    pub fn synthetic(samples: usize) -> CheckData {
        CheckData::Synthetic { samples, batch: fidelity::BATCH, seq: fidelity::SEQ }
    }
}

/// A text file (one example a line) and the tokenizer that turns it into model inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextData {
    pub path: PathBuf,
    pub tokenizer: PathBuf,
    pub format: TextFormat,
    pub text_column: usize,
    /// Column of an integer class label (needed for accuracy, ignored for calibration).
    pub label_column: Option<usize>,
    pub header: bool,
    /// Use only the first N examples.
    pub limit: Option<usize>,
    /// Examples per run (padded to the longest).
    pub batch: usize,
    /// Longest tokenized row.
    pub max_len: usize,
}

impl TextData {
    /// The format a file name suggests: `.tsv`, `.csv`, otherwise `space` (label, a space, the text).
    pub fn format_of(path: &Path) -> TextFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("tsv") => TextFormat::Tsv,
            Some("csv") => TextFormat::Csv,
            _ => TextFormat::Space,
        }
    }

    /// Input sets of `batch` examples for `session`, with their labels when `label_column` is set.
    pub fn batches(&self, session: &Session) -> Result<Vec<(Vec<(String, Tensor)>, Vec<usize>)>> {
        let data_err = |e: crate::data::Error| Error::Verify(e.to_string());
        let tokenizer = tokenize::load(&self.tokenizer, self.max_len).map_err(data_err)?;
        let (texts, labels): (Vec<String>, Vec<usize>) = match self.label_column {
            Some(label) => text::classification(&self.path, self.format, label, self.text_column, self.header, self.limit)
                .map_err(data_err)?
                .into_iter()
                .map(|e| (e.text, e.label))
                .unzip(),
            None => {
                let t = text::texts(&self.path, self.format, self.text_column, self.header, self.limit).map_err(data_err)?;
                let n = t.len();
                (t, vec![0; n])
            }
        };
        let mut out = Vec::new();
        for (t, l) in texts.chunks(self.batch.max(1)).zip(labels.chunks(self.batch.max(1))) {
            let (inputs, _) = tokenize::encode(&tokenizer, &self.tokenizer, session.inputs(), t).map_err(data_err)?;
            out.push((inputs, l.to_vec()));
        }
        Ok(out)
    }
}

/// `data` in words, for summaries.
pub fn describe(data: &CheckData) -> String {
    match data {
        CheckData::Synthetic { samples, batch, seq } => format!("{samples} synthetic batches of {batch}x{seq} tokens"),
        CheckData::File(p) => p.display().to_string(),
        CheckData::Text(t) => format!("{} (tokenized by {})", t.path.display(), t.tokenizer.display()),
    }
}

/// How one output compares.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputCheck {
    pub output: String,
    pub cosine: f64,
    pub max_abs_error: f64,
    /// Share of rows with the same arg-max (outputs named `*logits*` only).
    pub top1_agreement: Option<f64>,
}

/// The result of [`compare`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fidelity {
    /// `3 synthetic batches of 2x32 tokens` or the file name.
    pub data: String,
    pub cases: usize,
    pub outputs: Vec<OutputCheck>,
    /// Accuracy of the float and of the checked model on labelled data (share of rows, 0..=1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
}

impl Fidelity {
    /// The largest drop over all outputs: `1 − cosine`, and `1 − top-1 agreement` where measured.
    pub fn worst_drop(&self) -> f64 {
        self.outputs
            .iter()
            .map(|o| (1.0 - o.cosine).max(o.top1_agreement.map_or(0.0, |a| 1.0 - a)))
            .fold(0.0, f64::max)
    }

    /// The smallest cosine over all outputs.
    pub fn min_cosine(&self) -> f64 {
        self.outputs.iter().map(|o| o.cosine).fold(1.0, f64::min)
    }

    pub fn render_text(&self) -> String {
        let mut s = format!("check      {} ({} cases) vs the float model\n", self.data, self.cases);
        for o in &self.outputs {
            s.push_str(&format!("  {:<22} cosine {:.6}  max abs error {:.3e}", o.output, o.cosine, o.max_abs_error));
            if let Some(a) = o.top1_agreement {
                s.push_str(&format!("  top-1 agreement {:.2}%", 100.0 * a));
            }
            s.push('\n');
        }
        if let (Some(r), Some(a)) = (self.reference_accuracy, self.accuracy) {
            s.push_str(&format!("  accuracy               {:.2}% (float {:.2}%, drop {:.2} points)\n", 100.0 * a, 100.0 * r, 100.0 * (r - a)));
        }
        s
    }

    /// Accuracy lost against the float model, in points (percent), where measured.
    pub fn accuracy_drop_points(&self) -> Option<f64> {
        Some(100.0 * (self.reference_accuracy? - self.accuracy?))
    }
}

/// Input sets for `session` (the reference model's session; `model` is the reference model).
pub fn inputs(model: &Model, session: &Session, data: &CheckData) -> Result<Vec<Vec<(String, Tensor)>>> {
    match data {
        CheckData::Synthetic { samples, batch, seq } => {
            // Never past the position table.
            let seq = crate::onnx::stats::limits(model).max_positions.map_or(*seq, |m| (*seq).min(m));
            Ok((0..*samples as u64).map(|seed| fidelity::token_inputs_sized(model, session, seed, *batch, seq)).collect())
        }
        CheckData::File(path) => read_cases(path),
        CheckData::Text(t) => Ok(t.batches(session)?.into_iter().map(|(inputs, _)| inputs).collect()),
    }
}

/// `set` with integer inputs in the element type `session` declares (int32 ids where the model
/// wants int32).
pub fn as_declared(session: &Session, set: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    set.iter()
        .map(|(n, t)| {
            let want = session.inputs().iter().find(|i| &i.name == n).map(|i| i.dtype.clone());
            let t = match (want, t) {
                (Some(DType::I32), Tensor::I64(x)) => Tensor::from(x.mapv(|v| v as i32)),
                _ => t.clone(),
            };
            (n.clone(), t)
        })
        .collect()
}

fn read_cases(path: &Path) -> Result<Vec<Vec<(String, Tensor)>>> {
    let bad = |why: String| Error::Verify(format!("check data '{}': {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let cases = doc.get("cases").and_then(|c| c.as_array()).ok_or_else(|| bad("no \"cases\" array".into()))?;
    let mut out = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let inputs = case.get("inputs").and_then(|v| v.as_object()).ok_or_else(|| bad(format!("case {i} has no \"inputs\" object")))?;
        let mut set = Vec::new();
        for (name, v) in inputs {
            let field = |k: &str| v.get(k).and_then(|x| x.as_array()).ok_or_else(|| bad(format!("case {i}, input '{name}': no \"{k}\" array")));
            let ints = |k: &str| -> Result<Vec<i64>> {
                field(k)?.iter().map(|x| x.as_i64().ok_or_else(|| bad(format!("case {i}, input '{name}': \"{k}\" holds a non-integer")))).collect()
            };
            let shape: Vec<usize> = ints("shape")?.into_iter().map(|d| d.max(0) as usize).collect();
            let data = ints("data")?;
            let a = ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| bad(format!("case {i}, input '{name}': {e}")))?;
            set.push((name.clone(), Tensor::from(a)));
        }
        out.push(set);
    }
    if out.is_empty() {
        return Err(bad("no cases".into()));
    }
    Ok(out)
}

/// Runs `reference` and `candidate` on `data` and compares their float outputs.
pub fn compare(reference: &Path, candidate: &Path, data: &CheckData) -> Result<Fidelity> {
    Reference::new(reference, data)?.compare(candidate)
}

/// The float model's outputs on a data set, computed once, to compare candidates against (the
/// accuracy-aware search compares many).
pub struct Reference {
    data: String,
    sets: Vec<Vec<(String, Tensor)>>,
    outputs: Vec<Vec<(String, Tensor)>>,
    /// Class labels of each set's rows (labelled text data only).
    labels: Option<Vec<Vec<usize>>>,
    /// Accuracy of the reference's `logits` against `labels`.
    pub accuracy: Option<f64>,
}

impl Reference {
    pub fn new(reference: &Path, data: &CheckData) -> Result<Reference> {
        let model = Model::load_mapped(reference)?; // only dims are read (vocabulary, positions)
        let mut session = Session::from_file(reference, &SessionOptions::default())?;
        let (sets, labels) = match data {
            CheckData::Text(t) if t.label_column.is_some() => {
                let (sets, labels): (Vec<_>, Vec<_>) = t.batches(&session)?.into_iter().unzip();
                (sets, Some(labels))
            }
            _ => (inputs(&model, &session, data)?, None),
        };
        drop(model);
        let sets: Vec<_> = sets.iter().map(|s| as_declared(&session, s)).collect();
        let outputs = sets.iter().map(|s| run(&mut session, s)).collect::<Result<Vec<_>>>()?;
        let accuracy = labels.as_ref().map(|l| accuracy(reference, &outputs, l)).transpose()?;
        Ok(Reference { data: describe(data), sets, outputs, labels, accuracy })
    }

    /// Runs `candidate` on the reference's inputs and compares its float outputs.
    pub fn compare(&self, candidate: &Path) -> Result<Fidelity> {
        let mut session = Session::from_file(candidate, &SessionOptions::default())?;
        let mut acc: Vec<Acc> = Vec::new();
        let mut outputs = Vec::new();
        for (set, xs) in self.sets.iter().zip(&self.outputs) {
            let ys = run(&mut session, set)?;
            for ((name, x), (_, y)) in xs.iter().zip(&ys) {
                let (Some(x), Some(y)) = (x.as_f32(), y.as_f32()) else { continue };
                if x.shape() != y.shape() {
                    return Err(Error::Verify(format!("output '{name}': shape {:?} in the float model, {:?} in the quantized one", x.shape(), y.shape())));
                }
                let k = acc.iter().position(|e| &e.name == name).unwrap_or_else(|| {
                    acc.push(Acc { name: name.clone(), ..Default::default() });
                    acc.len() - 1
                });
                acc[k].add(x, y, name.contains("logits"));
            }
            if self.labels.is_some() {
                outputs.push(ys);
            }
        }
        let accuracy = self.labels.as_ref().map(|l| accuracy(candidate, &outputs, l)).transpose()?;
        Ok(Fidelity {
            data: self.data.clone(),
            cases: self.sets.len(),
            outputs: acc.into_iter().map(Acc::finish).collect(),
            reference_accuracy: self.accuracy,
            accuracy,
        })
    }
}

/// Runs `session` on one input set.
pub(super) fn run(session: &mut Session, set: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
    let refs: Vec<(&str, Tensor)> = set.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    Ok(session.run(&refs)?)
}

/// Share of rows whose `logits` arg-max is the label.
fn accuracy(model: &Path, outputs: &[Vec<(String, Tensor)>], labels: &[Vec<usize>]) -> Result<f64> {
    let (mut right, mut rows) = (0usize, 0usize);
    for (out, labels) in outputs.iter().zip(labels) {
        let logits = out.iter().find(|(n, _)| n == "logits").and_then(|(_, t)| t.as_f32()).ok_or_else(|| {
            Error::Verify(format!("'{}' has no float output named 'logits' to score labelled data with", model.display()))
        })?;
        let width = logits.shape().last().copied().unwrap_or(0);
        if logits.ndim() != 2 || logits.shape()[0] != labels.len() {
            return Err(Error::Verify(format!("'{}': logits of shape {:?} for {} labelled rows", model.display(), logits.shape(), labels.len())));
        }
        for (row, &label) in logits.rows().into_iter().zip(labels) {
            if label >= width {
                return Err(Error::Verify(format!("label {label} is past the {width} classes of '{}'", model.display())));
            }
            let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
            right += usize::from(best == Some(label));
            rows += 1;
        }
    }
    Ok(right as f64 / rows.max(1) as f64)
}

#[derive(Default)]
struct Acc {
    name: String,
    dot: f64,
    xx: f64,
    yy: f64,
    max_abs: f64,
    rows: usize,
    agree: usize,
    top1: bool,
}

impl Acc {
    fn add(&mut self, x: &ArrayD<f32>, y: &ArrayD<f32>, top1: bool) {
        for (&p, &q) in x.iter().zip(y.iter()) {
            let (p, q) = (f64::from(p), f64::from(q));
            self.dot += p * q;
            self.xx += p * p;
            self.yy += q * q;
            self.max_abs = self.max_abs.max((p - q).abs());
        }
        if top1 && x.ndim() >= 1 {
            self.top1 = true;
            let last = Axis(x.ndim() - 1);
            let argmax = |r: ndarray::ArrayViewD<f32>| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
            let flat_x = x.view().into_shape_with_order((x.len() / x.len_of(last).max(1), x.len_of(last))).ok();
            let flat_y = y.view().into_shape_with_order((y.len() / y.len_of(last).max(1), y.len_of(last))).ok();
            if let (Some(fx), Some(fy)) = (flat_x, flat_y) {
                for (rx, ry) in fx.outer_iter().zip(fy.outer_iter()) {
                    self.rows += 1;
                    self.agree += usize::from(argmax(rx.into_dyn()) == argmax(ry.into_dyn()));
                }
            }
        }
    }

    fn finish(self) -> OutputCheck {
        let cosine = if self.xx > 0.0 && self.yy > 0.0 { self.dot / (self.xx.sqrt() * self.yy.sqrt()) } else { f64::from(u8::from(self.xx == self.yy)) };
        OutputCheck {
            output: self.name,
            cosine,
            max_abs_error: self.max_abs,
            top1_agreement: (self.top1 && self.rows > 0).then(|| self.agree as f64 / self.rows as f64),
        }
    }
}
