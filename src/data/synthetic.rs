//! Seeded synthetic token inputs: ids uniform over `[1, vocab)` for the first `len` positions of
//! each row (pad id 0 after), attention mask 1 there and 0 after, token types 0. Each row's `len`
//! is drawn from a [`Lengths`] distribution and clamped to `[1, seq]`.

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use crate::runtime::{DType, Tensor, TensorInfo};

/// Distribution of the real (unpadded) length of a synthetic row.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Lengths {
    /// Every row fills the sequence.
    #[default]
    Full,
    /// Every row has this many tokens.
    Fixed(usize),
    /// Uniform over `[min, max]`.
    Uniform { min: usize, max: usize },
    /// Normal, rounded and clamped to `[1, seq]`.
    Normal { mean: f64, std: f64 },
}

/// The token length of each of `batch` rows.
pub(crate) fn row_lengths(lengths: &Lengths, batch: usize, seq: usize, rng: &mut impl Rng) -> Vec<usize> {
    (0..batch)
        .map(|_| {
            let n = match lengths {
                Lengths::Full => seq,
                Lengths::Fixed(n) => *n,
                Lengths::Uniform { min, max } => rng.random_range(*min..=*max),
                Lengths::Normal { mean, std } => {
                    let d = Normal::new(*mean, *std).unwrap_or_else(|_| Normal::new(*mean, 0.0).expect("std 0"));
                    d.sample(rng).round().max(1.0) as usize
                }
            };
            n.clamp(1, seq)
        })
        .collect()
}

/// One batch of inputs for a model with `inputs`, `batch` × `seq`, seeded by `seed`.
pub fn token_batch(inputs: &[TensorInfo], batch: usize, seq: usize, lengths: &Lengths, vocab: usize, seed: u64) -> Vec<(String, Tensor)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let lens = row_lengths(lengths, batch, seq, &mut rng);
    let vocab = vocab.max(2) as i64;
    let mut ids = Vec::with_capacity(batch * seq);
    let mut mask = Vec::with_capacity(batch * seq);
    for &len in &lens {
        for t in 0..seq {
            ids.push(if t < len { rng.random_range(1..vocab) } else { 0 });
            mask.push(i64::from(t < len));
        }
    }
    inputs
        .iter()
        .map(|info| {
            let values = if info.name.contains("input_ids") {
                ids.clone()
            } else if info.name.contains("mask") {
                mask.clone()
            } else {
                vec![0; batch * seq]
            };
            (info.name.clone(), int_tensor(&info.dtype, &[batch, seq], values))
        })
        .collect()
}

/// Seeded token inputs for a model with the declared `inputs`, every position a token: ids uniform
/// below the vocabulary (the rows of the embedding table `model` gathers them from; 100 when not
/// found), an all-ones attention mask, zeros for anything else. Fixed dimensions are kept; dynamic
/// ones are `batch` then `seq`, so a model with fixed input shapes gets inputs of those shapes.
pub(crate) fn uniform_batch(model: &crate::onnx::Model, inputs: &[TensorInfo], seed: u64, batch: usize, seq: usize) -> Vec<(String, Tensor)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for info in inputs {
        let mut dynamic = 0;
        let shape: Vec<usize> = info
            .shape
            .iter()
            .map(|d| match d {
                crate::runtime::Dim::Fixed(n) => *n as usize,
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
        out.push((info.name.clone(), int_tensor(&info.dtype, &shape, values)));
    }
    out
}

/// An int64 (or int32, if the model wants it) tensor.
pub(crate) fn int_tensor(dtype: &DType, shape: &[usize], values: Vec<i64>) -> Tensor {
    let a = ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape matches values");
    match dtype {
        DType::I32 => Tensor::from(a.mapv(|v| v as i32)),
        _ => Tensor::from(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_the_distribution_and_stay_in_range() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert_eq!(row_lengths(&Lengths::Full, 3, 16, &mut rng), [16, 16, 16]);
        assert_eq!(row_lengths(&Lengths::Fixed(40), 2, 16, &mut rng), [16, 16], "clamped to seq");
        let u = row_lengths(&Lengths::Uniform { min: 4, max: 8 }, 500, 16, &mut rng);
        assert!(u.iter().all(|l| (4..=8).contains(l)) && u.contains(&4) && u.contains(&8));
        let n = row_lengths(&Lengths::Normal { mean: 10.0, std: 2.0 }, 2000, 128, &mut rng);
        let mean = n.iter().sum::<usize>() as f64 / n.len() as f64;
        assert!((mean - 10.0).abs() < 0.3, "{mean}");
    }

    #[test]
    fn batches_are_seeded_and_padded() {
        use crate::runtime::Dim;
        let info = |name: &str| TensorInfo { name: name.into(), dtype: DType::I64, shape: vec![Dim::Symbolic("b".into()), Dim::Symbolic("s".into())] };
        let inputs = [info("input_ids"), info("attention_mask"), info("token_type_ids")];
        let a = token_batch(&inputs, 2, 8, &Lengths::Fixed(5), 50, 7);
        assert_eq!(a, token_batch(&inputs, 2, 8, &Lengths::Fixed(5), 50, 7));
        let ids = a[0].1.as_i64().unwrap();
        let mask = a[1].1.as_i64().unwrap();
        assert_eq!(ids.shape(), [2, 8]);
        assert!(ids.iter().zip(mask.iter()).all(|(i, m)| (*m == 1) == (*i != 0) && *i < 50));
        assert_eq!(mask.sum(), 10);
        assert_eq!(a[2].1.as_i64().unwrap().sum(), 0);
    }
}
