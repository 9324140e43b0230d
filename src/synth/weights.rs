//! Where a synthesized model's weights come from: a seeded generator (normal(0, initializer_range)
//! for matrices and embeddings, zero biases, unit LayerNorm scales, as Hugging Face initializes),
//! or a Hugging Face safetensors checkpoint read by the usual tensor names.
//!
//! Tensors are named after their Hugging Face parameter, without the base-model prefix. Linear
//! weights are stored transposed (`[in, out]`) so that graphs use plain `MatMul`.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use safetensors::{tensor::Metadata, Dtype, SafeTensors};

use super::config::Arch;
use super::{Error, Result};
use crate::onnx::builder::GraphBuilder;
use crate::onnx::DataType;

/// A source of weights, consumed in graph-building order.
pub enum Weights {
    Random { rng: ChaCha8Rng, normal: Normal<f32> },
    Checkpoint(Checkpoint),
}

/// A safetensors file held in memory with its parsed header.
pub struct Checkpoint {
    path: PathBuf,
    buffer: Vec<u8>,
    header_len: usize,
    metadata: Metadata,
    /// The base-model prefix (`bert.`, `transformer.`) when the checkpoint uses one.
    prefix: &'static str,
}

impl Weights {
    /// Seeded random weights: the same seed gives the same bytes.
    pub fn random(seed: u64, std: f32) -> Weights {
        let normal = Normal::new(0.0, std.max(0.0)).expect("a non-negative std is valid");
        Weights::Random { rng: ChaCha8Rng::seed_from_u64(seed), normal }
    }

    /// Opens a safetensors checkpoint of `arch`.
    pub(crate) fn from_safetensors(path: &Path, arch: Arch) -> Result<Weights> {
        crate::util::check_regular(path).map_err(|source| Error::Io { path: path.into(), source })?;
        let buffer = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
        let (header_len, metadata) = SafeTensors::read_metadata(&buffer)
            .map_err(|e| Error::Weights { path: path.into(), reason: format!("not a safetensors file: {e}") })?;
        let prefix = if metadata.tensors().keys().any(|k| k.starts_with(arch.prefix())) { arch.prefix() } else { "" };
        Ok(Weights::Checkpoint(Checkpoint { path: path.into(), buffer, header_len, metadata, prefix }))
    }

    /// A `nn.Linear(cin, cout)` as (`[cin, cout]` weight, `[cout]` bias) initializers. `prefixed`:
    /// the tensor belongs to the base model (else it is a head tensor such as `classifier`).
    pub fn linear(&mut self, b: &mut GraphBuilder, name: &str, cin: usize, cout: usize, prefixed: bool) -> Result<(String, String)> {
        let w_name = format!("{name}.weight");
        let b_name = format!("{name}.bias");
        let (w, bias) = match self {
            Weights::Random { rng, normal } => (sample(rng, normal, cin * cout), zeros(cout)),
            Weights::Checkpoint(c) => {
                let w = c.f32_bytes(&w_name, prefixed, &[cout, cin])?;
                (transpose_f32(&w, cout, cin), c.f32_bytes(&b_name, prefixed, &[cout])?)
            }
        };
        let w = b.initializer(&w_name, DataType::Float, &[cin as i64, cout as i64], w);
        let bias = b.initializer(&b_name, DataType::Float, &[cout as i64], bias);
        Ok((w, bias))
    }

    /// A kernel-1 `nn.Conv1d(cin, cout, groups)` as (`[cout, cin / groups, 1]` weight, `[cout]` bias).
    pub(crate) fn conv1x1(&mut self, b: &mut GraphBuilder, name: &str, cin: usize, cout: usize, groups: usize) -> Result<(String, String)> {
        let w_name = format!("{name}.weight");
        let b_name = format!("{name}.bias");
        let per_group = cin / groups;
        let (w, bias) = match self {
            Weights::Random { rng, normal } => (sample(rng, normal, cout * per_group), zeros(cout)),
            Weights::Checkpoint(c) => (c.f32_bytes(&w_name, true, &[cout, per_group, 1])?, c.f32_bytes(&b_name, true, &[cout])?),
        };
        let w = b.initializer(&w_name, DataType::Float, &[cout as i64, per_group as i64, 1], w);
        let bias = b.initializer(&b_name, DataType::Float, &[cout as i64], bias);
        Ok((w, bias))
    }

    /// A `nn.LayerNorm(h)` as (scale, bias).
    pub(crate) fn layer_norm(&mut self, b: &mut GraphBuilder, name: &str, h: usize) -> Result<(String, String)> {
        let w_name = format!("{name}.weight");
        let b_name = format!("{name}.bias");
        let (w, bias) = match self {
            Weights::Random { .. } => (1f32.to_le_bytes().repeat(h), zeros(h)),
            Weights::Checkpoint(c) => (c.f32_bytes(&w_name, true, &[h])?, c.f32_bytes(&b_name, true, &[h])?),
        };
        let w = b.initializer(&w_name, DataType::Float, &[h as i64], w);
        let bias = b.initializer(&b_name, DataType::Float, &[h as i64], bias);
        Ok((w, bias))
    }

    /// A `nn.Embedding(rows, h)` table.
    pub fn embedding(&mut self, b: &mut GraphBuilder, name: &str, rows: usize, h: usize) -> Result<String> {
        let w_name = format!("{name}.weight");
        let w = match self {
            Weights::Random { rng, normal } => sample(rng, normal, rows * h),
            Weights::Checkpoint(c) => c.f32_bytes(&w_name, true, &[rows, h])?,
        };
        Ok(b.initializer(&w_name, DataType::Float, &[rows as i64, h as i64], w))
    }
}

impl Checkpoint {
    /// The little-endian float32 bytes of `name` (with the base-model prefix when `prefixed` and
    /// the checkpoint has one), checked against `shape`.
    fn f32_bytes(&self, name: &str, prefixed: bool, shape: &[usize]) -> Result<Vec<u8>> {
        let full = if prefixed { format!("{}{name}", self.prefix) } else { name.to_string() };
        let fail = |reason: String| Error::Tensor { path: self.path.clone(), tensor: full.clone(), expected: shape.to_vec(), reason };
        let info = self.metadata.info(&full).ok_or_else(|| fail("not in the checkpoint".into()))?;
        if info.shape != shape {
            return Err(fail(format!("the checkpoint has shape {:?}", info.shape)));
        }
        let data = &self.buffer[self.header_len + 8..][info.data_offsets.0..info.data_offsets.1];
        match info.dtype {
            Dtype::F32 => Ok(data.to_vec()),
            Dtype::F16 => Ok(data.chunks_exact(2).flat_map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])).to_le_bytes()).collect()),
            Dtype::BF16 => Ok(data.chunks_exact(2).flat_map(|c| [0, 0, c[0], c[1]]).collect()),
            d => Err(fail(format!("dtype {d:?} is not supported (F32, F16, BF16)"))),
        }
    }
}

fn sample(rng: &mut ChaCha8Rng, normal: &Normal<f32>, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * 4];
    for chunk in out.chunks_exact_mut(4) {
        chunk.copy_from_slice(&normal.sample(rng).to_le_bytes());
    }
    out
}

fn zeros(n: usize) -> Vec<u8> {
    vec![0u8; n * 4]
}

/// Transposes a row-major `[rows, cols]` float32 matrix held as bytes.
fn transpose_f32(src: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    for r in 0..rows {
        for c in 0..cols {
            let s = (r * cols + c) * 4;
            let d = (c * rows + r) * 4;
            out[d..d + 4].copy_from_slice(&src[s..s + 4]);
        }
    }
    out
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f * 2^-24.
            let v = f as f32 * f32::powi(2.0, -24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_and_half_conversion() {
        let m: Vec<u8> = [1f32, 2., 3., 4., 5., 6.].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = transpose_f32(&m, 2, 3);
        let vals: Vec<f32> = t.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(vals, [1., 4., 2., 5., 3., 6.]);
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), f32::powi(2.0, -24));
    }
}
