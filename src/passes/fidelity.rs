//! How far a rewritten model's outputs are from the original's, for lossy passes (`low-rank`):
//! both models run in ONNX Runtime on the same seeded synthetic token inputs, and each float
//! output is compared by cosine similarity (over all cases, flattened) and max absolute error.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};

use crate::measure::accuracy::Agreement;
use crate::onnx::Model;
use crate::runtime::{DType, Dim, Session, SessionOptions, Tensor};

/// Batch and sequence length of the synthetic inputs (for dynamic dimensions).
pub const BATCH: usize = 2;
pub const SEQ: usize = 32;

pub use crate::measure::accuracy::OutputFidelity;

/// Seeded token inputs for every input of `session`: ids uniform below the vocabulary (the rows of
/// the embedding table `model` gathers them from; 100 when not found), an all-ones attention mask,
/// zeros for anything else. Dynamic dimensions are [`BATCH`] then [`SEQ`].
pub fn token_inputs(model: &Model, session: &Session, seed: u64) -> Vec<(String, Tensor)> {
    token_inputs_sized(model, session, seed, BATCH, SEQ)
}

/// [`token_inputs`] with dynamic dimensions `batch` then `seq`.
pub fn token_inputs_sized(model: &Model, session: &Session, seed: u64, batch: usize, seq: usize) -> Vec<(String, Tensor)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for info in session.inputs() {
        let mut dynamic = 0;
        let shape: Vec<usize> = info
            .shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => *n as usize,
                _ => {
                    dynamic += 1;
                    if dynamic == 1 { batch } else { seq }
                }
            })
            .collect();
        let vocab = crate::onnx::stats::vocab_size(model, &info.name).unwrap_or(100) as i64;
        let n: usize = shape.iter().product();
        let values: Vec<i64> = if info.name.contains("mask") {
            vec![1; n]
        } else if info.name.contains("input_ids") {
            (0..n).map(|_| rng.random_range(0..vocab)).collect()
        } else {
            vec![0; n]
        };
        let a = ArrayD::from_shape_vec(IxDyn(&shape), values).expect("shape");
        let t = match info.dtype {
            DType::I32 => Tensor::from(a.mapv(|v| v as i32)),
            _ => Tensor::from(a),
        };
        out.push((info.name.clone(), t));
    }
    out
}

/// Runs `original` and `rewritten` on `cases` seeded input sets and compares their float outputs.
pub fn compare(original: &Path, rewritten: &Path, cases: u64) -> Result<Vec<OutputFidelity>, Box<dyn std::error::Error>> {
    compare_sized(original, rewritten, cases, BATCH, SEQ, &SessionOptions::default())
}

/// [`compare`] with dynamic dimensions `batch` × `seq`. The inputs follow the rewritten model's
/// declared dims, so a rewrite with fixed input shapes is compared at those shapes.
pub fn compare_sized(
    original: &Path,
    rewritten: &Path,
    cases: u64,
    batch: usize,
    seq: usize,
    opts: &SessionOptions,
) -> Result<Vec<OutputFidelity>, Box<dyn std::error::Error>> {
    let model = Model::load(original)?;
    let mut a = Session::from_file(original, opts)?;
    let mut b = Session::from_file(rewritten, opts)?;
    let mut acc: Vec<(String, Agreement)> = Vec::new();
    for seed in 0..cases {
        let inputs = token_inputs_sized(&model, &b, seed, batch, seq);
        let refs: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let xs = a.run(&refs)?;
        let ys = b.run(&refs)?;
        for ((name, x), (_, y)) in xs.iter().zip(&ys) {
            let (Some(x), Some(y)) = (x.as_f32(), y.as_f32()) else { continue };
            if x.shape() != y.shape() {
                return Err(format!("output '{name}': shape {:?} vs {:?}", x.shape(), y.shape()).into());
            }
            let k = match acc.iter().position(|e| &e.0 == name) {
                Some(k) => k,
                None => {
                    acc.push((name.clone(), Agreement::default()));
                    acc.len() - 1
                }
            };
            acc[k].1.add(x.view(), y.view());
        }
    }
    Ok(acc.iter().map(|(name, a)| a.fidelity(name)).collect())
}

/// One line per output: `fidelity  last_hidden_state  cosine 0.999812  max abs error 1.2e-3`.
pub fn render_text(f: &[OutputFidelity], cases: u64) -> String {
    f.iter()
        .map(|o| {
            format!(
                "fidelity  {:<20} cosine {:.6}  max abs error {:.3e}  ({cases} seeded inputs of {BATCH}x{SEQ} tokens vs the input model)\n",
                o.output, o.cosine, o.max_abs_error
            )
        })
        .collect()
}
