//! Accuracy and fidelity arithmetic on model outputs: arg-max predictions, masked mean pooling,
//! cosine similarity, and the running comparison of two models' outputs.

use ndarray::{ArrayView2, ArrayViewD, Axis};

/// Index of the largest value of each row of a `[rows, classes]` matrix. The one arg-max of the
/// crate: on a tie the first maximum wins, and NaN never does (a row of NaN gives 0).
pub fn argmax_rows(logits: ArrayView2<'_, f32>) -> Vec<usize> {
    logits
        .axis_iter(Axis(0))
        .map(|row| row.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0)
        .collect()
}

/// Mean of each row's token vectors where `mask` is 1, L2-normalised: `hidden` `[batch, seq,
/// dim]`, `mask` `[batch, seq]` → one unit vector per row (sentence-transformers' mean pooling).
pub fn masked_mean_unit(hidden: ArrayViewD<'_, f32>, mask: ArrayView2<'_, i64>) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(hidden.shape()[0]);
    for (i, tokens) in hidden.axis_iter(Axis(0)).enumerate() {
        let dim = tokens.shape()[1];
        let mut sum = vec![0f32; dim];
        let mut count = 0f32;
        for (t, row) in tokens.axis_iter(Axis(0)).enumerate() {
            let m = mask[[i, t]] as f32;
            if m == 0.0 {
                continue;
            }
            count += m;
            sum.iter_mut().zip(row.iter()).for_each(|(a, v)| *a += m * v);
        }
        sum.iter_mut().for_each(|a| *a /= count.max(1e-9));
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        out.push(sum.iter().map(|v| v / norm).collect());
    }
    out
}

/// Dot product in f64 (the cosine of two unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum()
}

/// How far one output of a model is from the same output of a reference model, over every value
/// compared. One type for `results.json` (each case's fidelity per output) and for the rewrite
/// check (`rewrite --report`, [`super::compare::output_fidelity`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputFidelity {
    pub output: String,
    pub cosine: f64,
    pub max_abs_error: f64,
    /// Largest `|x − y| / max(|x|, |y|, 1e-6)` over the elements (the tests' 1e-4 criterion).
    /// Absent from results written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rel_error: Option<f64>,
    /// Largest `|x|` of the reference's output (to read `max_abs_error` against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs_output: Option<f64>,
}

/// Running comparison of one output of two models over several batches: cosine over all values
/// (flattened), max absolute and relative error, and top-1 agreement of the rows over the last axis
/// (by [`argmax_rows`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Agreement {
    dot: f64,
    xx: f64,
    yy: f64,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    /// Largest `|x|` of the reference.
    pub max_abs_x: f64,
    pub rows: usize,
    pub rows_agreeing: usize,
}

impl Agreement {
    /// Adds one batch of the same output from the reference (`x`) and the variant (`y`).
    pub fn add(&mut self, x: ArrayViewD<'_, f32>, y: ArrayViewD<'_, f32>) {
        for (&p, &q) in x.iter().zip(y.iter()) {
            let (p, q) = (f64::from(p), f64::from(q));
            self.dot += p * q;
            self.xx += p * p;
            self.yy += q * q;
            self.max_abs_error = self.max_abs_error.max((p - q).abs());
            self.max_rel_error = self.max_rel_error.max((p - q).abs() / p.abs().max(q.abs()).max(1e-6));
            self.max_abs_x = self.max_abs_x.max(p.abs());
        }
        if let (Some(&last), true) = (x.shape().last(), x.ndim() >= 1) {
            let rows = x.len() / last.max(1);
            let xs = x.to_shape((rows, last)).expect("contiguous rows");
            let ys = y.to_shape((rows, last)).expect("contiguous rows");
            let (a, b) = (argmax_rows(xs.view()), argmax_rows(ys.view()));
            self.rows += rows;
            self.rows_agreeing += a.iter().zip(&b).filter(|(p, q)| p == q).count();
        }
    }

    /// Cosine similarity of everything added (1 when both are all zeros).
    pub fn cosine(&self) -> f64 {
        if self.xx > 0.0 && self.yy > 0.0 {
            self.dot / (self.xx.sqrt() * self.yy.sqrt())
        } else {
            f64::from(u8::from(self.xx == self.yy))
        }
    }

    pub(crate) fn top1(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.rows_agreeing as f64 / self.rows as f64)
    }

    /// The comparison so far, as the fidelity of `output`.
    pub fn fidelity(&self, output: &str) -> OutputFidelity {
        OutputFidelity {
            output: output.into(),
            cosine: self.cosine(),
            max_abs_error: self.max_abs_error,
            max_rel_error: Some(self.max_rel_error),
            max_abs_output: Some(self.max_abs_x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD, IxDyn};

    #[test]
    fn pooling_ignores_masked_tokens() {
        let hidden = ArrayD::from_shape_vec(IxDyn(&[1, 3, 2]), vec![3.0, 0.0, 1.0, 4.0, 100.0, 100.0]).unwrap();
        let mask = array![[1i64, 1, 0]];
        let v = masked_mean_unit(hidden.view(), mask.view());
        // mean of (3,0) and (1,4) = (2,2) → unit (0.7071, 0.7071)
        assert!((v[0][0] - 0.70710677).abs() < 1e-6 && (v[0][1] - 0.70710677).abs() < 1e-6);
    }

    #[test]
    fn agreement_of_two_outputs() {
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, 2.0, 0.0, 5.0, 1.0, 1.0]).unwrap();
        let y = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, 2.5, 0.0, 1.0, 5.0, 1.0]).unwrap();
        let mut a = Agreement::default();
        a.add(x.view(), x.view());
        assert!((a.cosine() - 1.0).abs() < 1e-12);
        assert_eq!(a.top1(), Some(1.0));
        a.add(x.view(), y.view());
        assert_eq!(a.max_abs_error, 4.0);
        assert_eq!((a.rows, a.rows_agreeing), (4, 3));
        assert!(a.cosine() < 1.0);
        assert_eq!(argmax_rows(array![[0.0f32, 3.0, 3.0]].view()), [1], "first maximum wins");
    }
}
