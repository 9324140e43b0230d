//! Synthesizing BERT and SqueezeBERT ONNX graphs (opset 17) from a Hugging Face-style config, with
//! seeded random weights or weights imported from a safetensors checkpoint.
//!
//! The architecture lives in [`bert`] and [`squeezebert`]; protobuf construction goes through
//! [`crate::onnx::builder`]. Inputs are `input_ids`, `attention_mask` and `token_type_ids` (int64,
//! `[batch, sequence]`); outputs are `last_hidden_state` plus either `pooler_output` (no head) or
//! `logits` (classification head), as the Hugging Face models return them.

pub mod bert;
pub mod config;
pub mod squeezebert;
pub mod weights;

use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use config::{Arch, Config, ConfigError, UnknownArch};
pub use weights::Weights;

use crate::onnx::builder::{Attr, Axis, GraphBuilder};
use crate::onnx::{DataType, Model};

/// The opset the synthesized graphs import.
pub(crate) const OPSET: i64 = 17;

/// Errors of configuring and synthesizing a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {0}")]
    Config(String),
    #[error("cannot read '{}': {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("weights '{}': {reason}", path.display())]
    Weights { path: PathBuf, reason: String },
    #[error("weights '{}': tensor '{tensor}' (expected shape {expected:?}): {reason}", path.display())]
    Tensor { path: PathBuf, tensor: String, expected: Vec<usize>, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e.0)
    }
}

/// Refuses a model whose float32 weights (`parameters` × 4 bytes; the graph holds them once, and
/// saving streams them) exceed the memory available now (`available`, from `MemAvailable`):
/// better an error naming the size than the out-of-memory killer halfway through.
fn fits_in_memory(parameters: u128, available: Option<u64>) -> Result<(), String> {
    let need = parameters.saturating_mul(4);
    match available {
        Some(a) if need > u128::from(a) => Err(format!(
            "the config describes about {parameters} parameters: {} of float32 weights, more than the {} of memory available now (MemAvailable); use a smaller config",
            crate::util::human_bytes(u64::try_from(need).unwrap_or(u64::MAX)),
            crate::util::human_bytes(a)
        )),
        _ => Ok(()),
    }
}

/// What sits on top of the encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// The bare model: outputs `last_hidden_state` and `pooler_output`.
    None,
    /// Pooler then a linear classifier: outputs `last_hidden_state` and `logits`. `None` takes the
    /// label count from the config (`num_labels`).
    Classification(Option<usize>),
}

impl FromStr for Head {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "none" => Ok(Head::None),
            None if s == "classification" => Ok(Head::Classification(None)),
            Some(("classification", n)) => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Head::Classification(Some(n))),
                _ => Err(format!("'{n}' is not a positive number of labels")),
            },
            _ => Err(format!("unknown head '{s}' (expected none, classification or classification:N)")),
        }
    }
}

/// Everything one synthesis needs.
#[derive(Clone, Debug)]
pub struct Options {
    pub config: Config,
    pub head: Head,
    /// Seed of the random weights (ignored with `weights`).
    pub seed: u64,
    /// A safetensors checkpoint to take the weights from.
    pub weights: Option<PathBuf>,
}

/// Reads the config for `arch`: defaults, then `config` (or `config.json` beside `weights` when
/// `config` is None and that file exists), then the `key=value` overrides.
pub fn load_config(arch: Arch, config: Option<&Path>, weights: Option<&Path>, sets: &[String]) -> Result<Config> {
    let mut c = Config::defaults(arch);
    let beside = weights.and_then(|w| w.parent()).map(|d| d.join("config.json")).filter(|p| p.is_file());
    if let Some(path) = config.map(Path::to_path_buf).or(beside) {
        crate::util::check_regular(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Config(format!("'{}' is not JSON: {e}", path.display())))?;
        c.apply_json(&json).map_err(|e| Error::Config(format!("'{}': {e}", path.display())))?;
    }
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| Error::Config(format!("--set '{s}' is not key=value")))?;
        c.set(k.trim(), v.trim())?;
    }
    c.validate()?;
    Ok(c)
}

/// Builds the model in memory.
pub fn synthesize(opts: &Options) -> Result<Model> {
    let c = &opts.config;
    c.validate()?;
    fits_in_memory(c.parameter_bound(), crate::util::mem_available()).map_err(Error::Config)?;
    let num_labels = match opts.head {
        Head::None => None,
        Head::Classification(n) => Some(n.unwrap_or(c.num_labels)),
    };
    let mut w = match &opts.weights {
        Some(path) => Weights::from_safetensors(path, c.arch)?,
        None => Weights::random(opts.seed, c.initializer_range as f32),
    };
    let mut b = GraphBuilder::new(&format!("{}_synth", c.arch.name()));
    let batch_seq = [Axis::Named("batch"), Axis::Named("sequence")];
    for name in ["input_ids", "attention_mask", "token_type_ids"] {
        b.input(name, DataType::Int64, &batch_seq);
    }
    let hidden = match c.arch {
        Arch::Bert => bert::encoder(&mut b, &mut w, c)?,
        Arch::SqueezeBert => squeezebert::encoder(&mut b, &mut w, c)?,
    };
    let h = c.hidden_size as i64;
    b.node_to("Identity", &[&hidden], &[], "last_hidden_state");
    b.output("last_hidden_state", DataType::Float, &[Axis::Named("batch"), Axis::Named("sequence"), Axis::Fixed(h)]);

    // Pooler: dense + tanh on the first token.
    let zero = b.scalar_i64(0);
    let first = b.node("Gather", &[&hidden, &zero], &[("axis", Attr::Int(1))]);
    let pooler = linear(&mut b, &mut w, "pooler.dense", &first, c.hidden_size, c.hidden_size)?;
    match num_labels {
        None => {
            b.node_to("Tanh", &[&pooler], &[], "pooler_output");
            b.output("pooler_output", DataType::Float, &[Axis::Named("batch"), Axis::Fixed(h)]);
        }
        Some(n) => {
            let pooled = b.node("Tanh", &[&pooler], &[]);
            let logits = dense(&mut b, &mut w, "classifier", &pooled, (c.hidden_size, n), false)?;
            b.node_to("Identity", &[&logits], &[], "logits");
            b.output("logits", DataType::Float, &[Axis::Named("batch"), Axis::Fixed(n as i64)]);
        }
    }
    let doc = format!(
        "squeezebench synth --arch {}: {}",
        c.arch.name(),
        match &opts.weights {
            Some(p) => format!("weights from {}", p.file_name().unwrap_or_default().to_string_lossy()),
            None => format!("random weights, seed {}", opts.seed),
        }
    );
    Ok(b.finish(OPSET, "squeezebench", &doc))
}

/// `x @ W + b` with a Hugging Face `nn.Linear` named `name` (within the model prefix).
pub(crate) fn linear(b: &mut GraphBuilder, w: &mut Weights, name: &str, x: &str, cin: usize, cout: usize) -> Result<String> {
    dense(b, w, name, x, (cin, cout), true)
}

/// `x @ W + b`; `prefixed`: the layer belongs to the base model (false for the classifier of
/// *ForSequenceClassification, which sits outside the `bert.` / `transformer.` prefix).
fn dense(b: &mut GraphBuilder, w: &mut Weights, name: &str, x: &str, (cin, cout): (usize, usize), prefixed: bool) -> Result<String> {
    let (weight, bias) = w.linear(b, name, cin, cout, prefixed)?;
    let y = b.node("MatMul", &[x, &weight], &[]);
    Ok(b.node("Add", &[&y, &bias], &[]))
}

/// Embeddings shared by both architectures: word + position (0..sequence) + token type, then
/// LayerNorm over the hidden axis. Returns `[batch, sequence, hidden]`.
pub(crate) fn embeddings(b: &mut GraphBuilder, w: &mut Weights, c: &Config) -> Result<String> {
    let h = c.hidden_size;
    let words = w.embedding(b, "embeddings.word_embeddings", c.vocab_size, h)?;
    let positions = w.embedding(b, "embeddings.position_embeddings", c.max_position_embeddings, h)?;
    let types = w.embedding(b, "embeddings.token_type_embeddings", c.type_vocab_size, h)?;
    let e_words = b.node("Gather", &[&words, "input_ids"], &[]);
    let e_types = b.node("Gather", &[&types, "token_type_ids"], &[]);
    let shape = b.node("Shape", &["input_ids"], &[("start", Attr::Int(1)), ("end", Attr::Int(2))]);
    let axes0 = b.const_i64(&[0]);
    let seq = b.node("Squeeze", &[&shape, &axes0], &[]);
    let zero = b.scalar_i64(0);
    let one = b.scalar_i64(1);
    let ids = b.node("Range", &[&zero, &seq, &one], &[]);
    let e_pos = b.node("Gather", &[&positions, &ids], &[]);
    let sum = b.node("Add", &[&e_words, &e_types], &[]);
    let sum = b.node("Add", &[&sum, &e_pos], &[]);
    layer_norm(b, w, "embeddings.LayerNorm", &sum, h, c.layer_norm_eps)
}

/// LayerNormalization over the last axis with the HF LayerNorm `name`.
pub(crate) fn layer_norm(b: &mut GraphBuilder, w: &mut Weights, name: &str, x: &str, h: usize, eps: f64) -> Result<String> {
    let (scale, bias) = w.layer_norm(b, name, h)?;
    Ok(b.node("LayerNormalization", &[x, &scale, &bias], &[("axis", Attr::Int(-1)), ("epsilon", Attr::Float(eps as f32))]))
}

/// The additive attention mask `(1 - mask) * min_f32`, shaped `[batch, 1, 1, sequence]`.
pub(crate) fn attention_bias(b: &mut GraphBuilder) -> String {
    let m = b.node("Cast", &["attention_mask"], &[("to", Attr::Int(DataType::Float.code() as i64))]);
    let axes = b.const_i64(&[1, 2]);
    let m = b.node("Unsqueeze", &[&m, &axes], &[]);
    let one = b.scalar_f32(1.0);
    let inv = b.node("Sub", &[&one, &m], &[]);
    let neg = b.scalar_f32(f32::MIN);
    b.node("Mul", &[&inv, &neg], &[])
}

/// Erf GELU: `x * 0.5 * (1 + erf(x / sqrt 2))`.
pub(crate) fn gelu(b: &mut GraphBuilder, x: &str) -> String {
    let sqrt2 = b.scalar_f32(std::f32::consts::SQRT_2);
    let one = b.scalar_f32(1.0);
    let half = b.scalar_f32(0.5);
    let t = b.node("Div", &[x, &sqrt2], &[]);
    let t = b.node("Erf", &[&t], &[]);
    let t = b.node("Add", &[&t, &one], &[]);
    let t = b.node("Mul", &[x, &t], &[]);
    b.node("Mul", &[&t, &half], &[])
}

/// Masked scaled-dot-product attention on `q [b, heads, s, d]`, `kt [b, heads, d, s]`,
/// `v [b, heads, s, d]`; returns the context `[b, heads, s, d]`.
pub(crate) fn attention(b: &mut GraphBuilder, q: &str, kt: &str, v: &str, mask: &str, head_dim: usize) -> String {
    let scores = b.node("MatMul", &[q, kt], &[]);
    let scale = b.scalar_f32(1.0 / (head_dim as f32).sqrt());
    let scores = b.node("Mul", &[&scores, &scale], &[]);
    let scores = b.node("Add", &[&scores, mask], &[]);
    let probs = b.node("Softmax", &[&scores], &[("axis", Attr::Int(-1))]);
    b.node("MatMul", &[&probs, v], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why: `synth` accepted configs up to 16 GiB of weights whatever the free memory.
    #[test]
    fn weights_past_the_available_memory_are_refused_naming_both_sizes() {
        let gib = 1u64 << 30;
        let e = fits_in_memory(2 * u128::from(gib), Some(4 * gib)).unwrap_err();
        assert!(e.contains("2147483648 parameters: 8.0 GiB of float32 weights, more than the 4.0 GiB of memory available"), "{e}");
        assert!(fits_in_memory(u128::from(gib / 4), Some(4 * gib)).is_ok());
        assert!(fits_in_memory(u128::MAX, None).is_ok(), "unknown memory: the parameter limit alone applies");
    }
}
