//! Text to model inputs with a Hugging Face `tokenizer.json` (the `tokenizers` crate, pure Rust).
//! Batches are padded to their longest row (not to a fixed length): pads are masked out of
//! attention and of pooling, so the outputs are the same at a fraction of the cost. Truncation is
//! the tokenizer's own; when it has none, rows are cut at `max_len`.

use std::path::Path;

use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::synthetic::int_tensor;
use super::Error;
use crate::runtime::TensorInfo;

/// Loads `path` with batch-longest padding and truncation to at most `max_len` tokens.
pub fn load(path: &Path, max_len: usize) -> Result<Tokenizer, Error> {
    let err = |reason: String| Error::Tokenizer { path: path.into(), reason };
    if !path.is_file() {
        return Err(err("file does not exist".into()));
    }
    let text = super::text::read_utf8(path)?;
    // serde_json's message says where: "expected value at line 1 column 1".
    let mut t: Tokenizer = text.parse().map_err(|e: tokenizers::Error| err(format!("not a tokenizer.json: {e}")))?;
    let padding = t.get_padding().cloned().unwrap_or_default();
    t.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..padding }));
    let trunc = t.get_truncation().cloned().unwrap_or_default();
    let max_length = if t.get_truncation().is_some() { trunc.max_length.min(max_len) } else { max_len };
    t.with_truncation(Some(TruncationParams { max_length, ..trunc })).map_err(|e| err(e.to_string()))?;
    Ok(t)
}

/// Model inputs for `texts` (one sentence per row), plus the attention mask as `[rows, len]`.
pub fn encode(tokenizer: &Tokenizer, path: &Path, inputs: &[TensorInfo], texts: &[String]) -> Result<(super::Set, ndarray::Array2<i64>), Error> {
    let enc = tokenizer
        .encode_batch(texts.to_vec(), true)
        .map_err(|e| Error::Tokenizer { path: path.into(), reason: e.to_string() })?;
    let (b, s) = (enc.len(), enc.first().map_or(0, |e| e.get_ids().len()));
    let collect = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<i64>| -> Vec<i64> { enc.iter().flat_map(f).collect() };
    let ids = collect(&|e| e.get_ids().iter().map(|&v| i64::from(v)).collect());
    let mask = collect(&|e| e.get_attention_mask().iter().map(|&v| i64::from(v)).collect());
    let types = collect(&|e| e.get_type_ids().iter().map(|&v| i64::from(v)).collect());
    let tensors = inputs
        .iter()
        .map(|info| {
            let v = if info.name.contains("input_ids") {
                ids.clone()
            } else if info.name.contains("mask") {
                mask.clone()
            } else {
                types.clone()
            };
            (info.name.clone(), int_tensor(&info.dtype, &[b, s], v))
        })
        .collect();
    let mask = ndarray::Array2::from_shape_vec((b, s), mask).expect("rows of equal length");
    Ok((tensors, mask))
}
