//! The one comparison of two models' outputs, used by `run` (each case's fidelity to its reference
//! variant), `quantize --check/--eval` and the accuracy-aware search (float vs quantized) and
//! `rewrite --report` (input vs rewritten model).
//!
//! [`Comparison`] takes the outputs of a reference and a candidate on the same input sets, output by
//! output, into one [`Agreement`] each: cosine over all values, max absolute and relative error and
//! top-1 agreement with [`argmax_rows`]'s tie rule (the first maximum). [`Reference`] runs a
//! reference model once on [`Inputs`] and compares candidates against its outputs.

use std::path::Path;

use serde::Serialize;

use super::accuracy::{argmax_rows, Agreement, OutputFidelity};
use crate::data::{self, inputs::as_declared, Inputs, Set};
use crate::onnx::Model;
use crate::runtime::{Session, SessionOptions, Tensor};

/// Errors comparing two models, each naming the model, the data or the output at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
    #[error(transparent)]
    Data(#[from] data::Error),
    #[error(transparent)]
    Onnx(#[from] crate::onnx::Error),
    #[error("output '{output}': shape {candidate:?} in the compared model, {reference:?} in the reference")]
    Shape { output: String, reference: Vec<usize>, candidate: Vec<usize> },
    #[error("{0}")]
    Labels(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every float output of two models compared over several input sets, in the order the outputs
/// first appear.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    outputs: Vec<(String, Agreement)>,
}

impl Comparison {
    /// Adds the outputs of the reference (`xs`) and of the candidate (`ys`) on one input set. Outputs
    /// that are not float32 are skipped; an output whose shapes differ is an error.
    pub fn add(&mut self, xs: &[(String, Tensor)], ys: &[(String, Tensor)]) -> Result<()> {
        for ((name, x), (_, y)) in xs.iter().zip(ys) {
            let (Some(x), Some(y)) = (x.as_f32(), y.as_f32()) else { continue };
            if x.shape() != y.shape() {
                return Err(Error::Shape { output: name.clone(), reference: x.shape().to_vec(), candidate: y.shape().to_vec() });
            }
            let k = match self.outputs.iter().position(|(n, _)| n == name) {
                Some(k) => k,
                None => {
                    self.outputs.push((name.clone(), Agreement::default()));
                    self.outputs.len() - 1
                }
            };
            self.outputs[k].1.add(x.view(), y.view());
        }
        Ok(())
    }

    /// Each output's agreement, by name.
    pub fn outputs(&self) -> &[(String, Agreement)] {
        &self.outputs
    }

    /// The fidelity of each output.
    pub fn fidelity(&self) -> Vec<OutputFidelity> {
        self.outputs.iter().map(|(n, a)| a.fidelity(n)).collect()
    }

    /// The smallest cosine over the outputs (1 with none).
    pub fn min_cosine(&self) -> f64 {
        self.outputs.iter().map(|(_, a)| a.cosine()).fold(1.0, f64::min)
    }

    /// The largest absolute error over the outputs.
    pub fn max_abs_error(&self) -> f64 {
        self.outputs.iter().map(|(_, a)| a.max_abs_error).fold(0.0, f64::max)
    }

    /// Top-1 agreement of the output named `logits`, if there is one.
    pub(crate) fn logits_top1(&self) -> Option<f64> {
        self.outputs.iter().find(|(n, _)| n == "logits").and_then(|(_, a)| a.top1())
    }
}

/// Runs `reference` and `candidate` on the same input sets and compares their outputs.
pub(crate) fn compare_sessions(reference: &mut Session, candidate: &mut Session, sets: impl IntoIterator<Item = Set>) -> Result<Comparison> {
    let mut c = Comparison::default();
    for set in sets {
        let xs = reference.run_set(&set)?;
        let ys = candidate.run_set(&set)?;
        c.add(&xs, &ys)?;
    }
    Ok(c)
}

/// How one output compares (the per-output lines of [`Fidelity`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputCheck {
    pub output: String,
    pub cosine: f64,
    pub max_abs_error: f64,
    /// Share of rows with the same arg-max (outputs named `*logits*` only).
    pub top1_agreement: Option<f64>,
}

/// The result of [`compare`] and [`Reference::compare`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fidelity {
    /// `3 synthetic batches of 2x32 tokens` or the file name.
    pub data: String,
    pub cases: usize,
    pub outputs: Vec<OutputCheck>,
    /// Accuracy of the reference and of the checked model on labelled data (share of rows, 0..=1).
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

    /// Accuracy lost against the reference, in points (percent), where measured.
    pub(crate) fn accuracy_drop_points(&self) -> Option<f64> {
        Some(100.0 * (self.reference_accuracy? - self.accuracy?))
    }
}

/// Runs `reference` and `candidate` on `data` and compares their float outputs. The inputs follow
/// the candidate's declared dims, so a rewrite with fixed input shapes is compared at those shapes.
pub fn compare(reference: &Path, candidate: &Path, data: &Inputs) -> Result<Fidelity> {
    let mut session = Session::from_file(candidate, &SessionOptions::default())?;
    let r = Reference::build(reference, data, Some(session.inputs()), &SessionOptions::default())?;
    r.compare_session(candidate, &mut session)
}

/// The per-output fidelity of `candidate` to `reference` on `samples` synthetic batches of the
/// default size (`rewrite --report`).
pub fn output_fidelity(reference: &Path, candidate: &Path, samples: usize) -> Result<Vec<OutputFidelity>> {
    output_fidelity_with(reference, candidate, &Inputs::synthetic(samples), &SessionOptions::default())
}

/// [`output_fidelity`] on any inputs, both models in sessions with `options`.
pub fn output_fidelity_with(reference: &Path, candidate: &Path, data: &Inputs, options: &SessionOptions) -> Result<Vec<OutputFidelity>> {
    let mut session = Session::from_file(candidate, options)?;
    let r = Reference::build(reference, data, Some(session.inputs()), options)?;
    Ok(r.comparison(&mut session)?.0.fidelity())
}

/// One line per output: `fidelity  last_hidden_state  cosine 0.999812  max abs error 1.2e-3`.
pub(crate) fn render_output_fidelity(f: &[OutputFidelity], samples: usize) -> String {
    let (batch, seq) = (data::inputs::BATCH, data::inputs::SEQ);
    f.iter()
        .map(|o| {
            format!(
                "fidelity  {:<20} cosine {:.6}  max abs error {:.3e}  ({samples} seeded inputs of {batch}x{seq} tokens vs the input model)\n",
                o.output, o.cosine, o.max_abs_error
            )
        })
        .collect()
}

/// A reference model's outputs on a data set, computed once, to compare candidates against (the
/// accuracy-aware search compares many).
pub struct Reference {
    data: String,
    sets: Vec<Set>,
    outputs: Vec<Set>,
    /// Class labels of each set's rows (labelled text data only).
    labels: Option<Vec<Vec<usize>>>,
    /// Accuracy of the reference's `logits` against `labels`.
    pub accuracy: Option<f64>,
}

impl Reference {
    /// Runs `reference` on `data` made for its own declared inputs.
    pub fn new(reference: &Path, data: &Inputs) -> Result<Reference> {
        Reference::build(reference, data, None, &SessionOptions::default())
    }

    /// Runs `reference` on `data` made for the declared inputs `shapes_of` (the reference's own
    /// when `None`).
    fn build(reference: &Path, data: &Inputs, shapes_of: Option<&[crate::runtime::TensorInfo]>, options: &SessionOptions) -> Result<Reference> {
        let model = Model::load_mapped(reference)?; // only dims are read (vocabulary, positions)
        let mut session = Session::from_file(reference, options)?;
        let infos = shapes_of.unwrap_or(session.inputs()).to_vec();
        let (sets, labels) = match data {
            Inputs::Text(t) if t.options.label_column.is_some() => {
                let (sets, labels): (Vec<_>, Vec<_>) = t.batches(&infos)?.into_iter().unzip();
                (sets, Some(labels))
            }
            _ => (data.sets(&model, &infos)?, None),
        };
        drop(model);
        let sets: Vec<_> = sets.iter().map(|s| as_declared(session.inputs(), s)).collect();
        let outputs = sets.iter().map(|s| session.run_set(s)).collect::<Result<Vec<_>, _>>()?;
        let accuracy = labels.as_ref().map(|l| accuracy(reference, &outputs, l)).transpose()?;
        Ok(Reference { data: data.describe(), sets, outputs, labels, accuracy })
    }

    /// Runs `candidate` on the reference's inputs and compares its float outputs.
    pub fn compare(&self, candidate: &Path) -> Result<Fidelity> {
        let mut session = Session::from_file(candidate, &SessionOptions::default())?;
        self.compare_session(candidate, &mut session)
    }

    fn compare_session(&self, candidate: &Path, session: &mut Session) -> Result<Fidelity> {
        let (c, outputs) = self.comparison(session)?;
        let accuracy = self.labels.as_ref().map(|l| accuracy(candidate, &outputs, l)).transpose()?;
        Ok(Fidelity {
            data: self.data.clone(),
            cases: self.sets.len(),
            outputs: c
                .outputs()
                .iter()
                .map(|(name, a)| OutputCheck {
                    output: name.clone(),
                    cosine: a.cosine(),
                    max_abs_error: a.max_abs_error,
                    top1_agreement: a.top1().filter(|_| name.contains("logits")),
                })
                .collect(),
            reference_accuracy: self.accuracy,
            accuracy,
        })
    }

    /// The comparison of `session`'s outputs with the reference's, and those outputs where labels
    /// need them.
    fn comparison(&self, session: &mut Session) -> Result<(Comparison, Vec<Set>)> {
        let mut c = Comparison::default();
        let mut outputs = Vec::new();
        for (set, xs) in self.sets.iter().zip(&self.outputs) {
            let ys = session.run_set(set)?;
            c.add(xs, &ys)?;
            if self.labels.is_some() {
                outputs.push(ys);
            }
        }
        Ok((c, outputs))
    }
}

/// Share of rows whose `logits` arg-max is the label.
fn accuracy(model: &Path, outputs: &[Set], labels: &[Vec<usize>]) -> Result<f64> {
    let (mut right, mut rows) = (0usize, 0usize);
    for (out, labels) in outputs.iter().zip(labels) {
        let logits = out.iter().find(|(n, _)| n == "logits").and_then(|(_, t)| t.as_f32()).ok_or_else(|| {
            Error::Labels(format!("'{}' has no float output named 'logits' to score labelled data with", model.display()))
        })?;
        let width = logits.shape().last().copied().unwrap_or(0);
        if logits.ndim() != 2 || logits.shape()[0] != labels.len() {
            return Err(Error::Labels(format!("'{}': logits of shape {:?} for {} labelled rows", model.display(), logits.shape(), labels.len())));
        }
        if let Some(&label) = labels.iter().find(|&&l| l >= width) {
            return Err(Error::Labels(format!("label {label} is past the {width} classes of '{}'", model.display())));
        }
        let view = logits.view().into_dimensionality::<ndarray::Ix2>().expect("2-D");
        right += argmax_rows(view).iter().zip(labels).filter(|(p, l)| p == l).count();
        rows += labels.len();
    }
    Ok(right as f64 / rows.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
    }

    #[test]
    fn outputs_are_compared_by_name_and_shape() {
        let xs = vec![("logits".to_string(), t(&[2, 2], vec![1.0, 0.0, 0.0, 1.0])), ("ids".to_string(), Tensor::from(ndarray::arr1(&[1i64]).into_dyn()))];
        let ys = vec![("logits".to_string(), t(&[2, 2], vec![1.0, 0.0, 1.0, 0.0])), ("ids".to_string(), Tensor::from(ndarray::arr1(&[2i64]).into_dyn()))];
        let mut c = Comparison::default();
        c.add(&xs, &ys).unwrap();
        assert_eq!(c.outputs().len(), 1, "integer outputs are not compared");
        assert_eq!(c.logits_top1(), Some(0.5));
        assert_eq!(c.max_abs_error(), 1.0);
        let bad = vec![("logits".to_string(), t(&[1, 4], vec![0.0; 4]))];
        let e = c.add(&xs, &bad).unwrap_err().to_string();
        assert_eq!(e, "output 'logits': shape [1, 4] in the compared model, [2, 2] in the reference");
    }
}
