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
    if !path.exists() {
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

/// How many of `texts` the truncation cut: those whose encoding reached the limit and that are
/// longer without it (encoded again, only those).
fn truncated(tokenizer: &Tokenizer, texts: &[String], enc: &[tokenizers::Encoding]) -> usize {
    let Some(limit) = tokenizer.get_truncation().map(|t| t.max_length) else { return 0 };
    let full = || {
        let mut t = tokenizer.clone();
        t.with_truncation(None).ok()?;
        t.with_padding(None);
        Some(t)
    };
    let at_limit: Vec<&String> = texts.iter().zip(enc).filter(|(_, e)| e.get_attention_mask().iter().sum::<u32>() as usize >= limit).map(|(t, _)| t).collect();
    if at_limit.is_empty() {
        return 0;
    }
    let Some(full) = full() else { return 0 };
    at_limit.into_iter().filter(|t| full.encode(t.as_str(), true).is_ok_and(|e| e.get_ids().len() > limit)).count()
}

/// Model inputs for `texts` (one sentence per row), the attention mask as `[rows, len]`, and how
/// many rows the truncation cut.
pub fn encode(tokenizer: &Tokenizer, path: &Path, inputs: &[TensorInfo], texts: &[String]) -> Result<(super::Set, ndarray::Array2<i64>, usize), Error> {
    let enc = tokenizer
        .encode_batch(texts.to_vec(), true)
        .map_err(|e| Error::Tokenizer { path: path.into(), reason: e.to_string() })?;
    let cut = truncated(tokenizer, texts, &enc);
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
    Ok((tensors, mask, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why: texts longer than the model reads must be cut to `max_len` tokens, and counted.
    #[test]
    fn long_texts_are_cut_to_max_len_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        let json = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
  "decoder": null, "model": {"type": "WordLevel", "vocab": {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3}, "unk_token": "[UNK]"}}"#;
        std::fs::write(&path, json).unwrap();
        let t = load(&path, 16).unwrap();
        let info = TensorInfo { name: "input_ids".into(), dtype: crate::runtime::DType::I64, shape: Vec::new() };
        let texts = vec![vec!["good"; 200].join(" "), "bad good".to_string()];
        let (set, mask, cut) = encode(&t, &path, &[info], &texts).unwrap();
        assert_eq!(mask.dim(), (2, 16));
        assert_eq!(set.len(), 1);
        assert_eq!(cut, 1);
    }
}
