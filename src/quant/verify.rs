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
use crate::runtime::{DType, Session, SessionOptions, Tensor};

use super::{Error, Result};

/// What the models are run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckData {
    /// This many seeded synthetic token batches (seeds 0..samples).
    Synthetic { samples: usize },
    /// The cases of a JSON file (see the module docs).
    File(PathBuf),
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
        s
    }
}

/// Input sets for `session` (the reference model's session; `model` is the reference model).
pub fn inputs(model: &Model, session: &Session, data: &CheckData) -> Result<Vec<Vec<(String, Tensor)>>> {
    match data {
        CheckData::Synthetic { samples } => Ok((0..*samples as u64).map(|seed| fidelity::token_inputs(model, session, seed)).collect()),
        CheckData::File(path) => read_cases(path),
    }
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
    let opts = SessionOptions::default();
    let model = Model::load(reference)?;
    let mut a = Session::from_file(reference, &opts)?;
    let mut b = Session::from_file(candidate, &opts)?;
    let sets = inputs(&model, &a, data)?;
    // Inputs as the session declares them (int32 ids where the model wants int32).
    let mut acc: Vec<Acc> = Vec::new();
    for set in &sets {
        let refs: Vec<(&str, Tensor)> = set
            .iter()
            .map(|(n, t)| {
                let want = a.inputs().iter().find(|i| &i.name == n).map(|i| i.dtype.clone());
                let t = match (want, t) {
                    (Some(DType::I32), Tensor::I64(x)) => Tensor::from(x.mapv(|v| v as i32)),
                    _ => t.clone(),
                };
                (n.as_str(), t)
            })
            .collect();
        let xs = a.run(&refs)?;
        let ys = b.run(&refs)?;
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
    }
    let data = match data {
        CheckData::Synthetic { samples } => format!("{samples} synthetic batches of {}x{} tokens", fidelity::BATCH, fidelity::SEQ),
        CheckData::File(p) => p.display().to_string(),
    };
    Ok(Fidelity { data, cases: sets.len(), outputs: acc.into_iter().map(Acc::finish).collect() })
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
