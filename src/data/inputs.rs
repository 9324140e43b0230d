//! The input sets two models are compared on (and a model is calibrated on): seeded synthetic token
//! batches, the cases of a JSON file in the fixtures' reference format
//! (`{"cases": [{"inputs": {"input_ids": {"shape": [1, 8], "data": [...]}, ...}}]}`), or the texts of
//! a file, tokenized. [`Inputs::sets`] turns any of them into input sets for a model's declared
//! inputs.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};

use super::{synthetic, text, tokenize, Error, TextFormat};
use crate::onnx::Model;
use crate::runtime::{DType, Tensor, TensorInfo};

/// Batch and sequence length of the default synthetic inputs (for dynamic dimensions).
pub const BATCH: usize = 2;
pub const SEQ: usize = 32;

/// One input set: a tensor per input name.
pub type Set = Vec<(String, Tensor)>;

/// What models are run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// This many seeded synthetic token batches of `batch × seq` tokens (seeds 0..samples).
    Synthetic { samples: usize, batch: usize, seq: usize },
    /// The cases of a JSON file (see the module docs).
    File(PathBuf),
    /// The texts of a file, tokenized.
    Text(TextData),
}

impl Inputs {
    /// `samples` synthetic batches of the default size ([`BATCH`] × [`SEQ`]).
    pub fn synthetic(samples: usize) -> Inputs {
        Inputs::Synthetic { samples, batch: BATCH, seq: SEQ }
    }

    /// The inputs in words, for summaries.
    pub fn describe(&self) -> String {
        match self {
            Inputs::Synthetic { samples, batch, seq } => format!("{samples} synthetic batches of {batch}x{seq} tokens"),
            Inputs::File(p) => p.display().to_string(),
            Inputs::Text(t) => format!("{} (tokenized by {})", t.path.display(), t.tokenizer.display()),
        }
    }

    /// Input sets for a model with the declared `inputs` (`model` gives the vocabulary and position
    /// table of synthetic ids).
    pub fn sets(&self, model: &Model, inputs: &[TensorInfo]) -> Result<Vec<Set>, Error> {
        match self {
            Inputs::Synthetic { samples, batch, seq } => {
                // Never past the position table.
                let seq = crate::onnx::stats::limits(model).max_positions.map_or(*seq, |m| (*seq).min(m));
                Ok((0..*samples as u64).map(|seed| synthetic::uniform_batch(model, inputs, seed, *batch, seq)).collect())
            }
            Inputs::File(path) => read_cases(path),
            Inputs::Text(t) => Ok(t.batches(inputs)?.into_iter().map(|(set, _)| set).collect()),
        }
    }
}

/// A text file (one example a line) and the tokenizer that turns it into model inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextData {
    pub path: PathBuf,
    pub tokenizer: PathBuf,
    pub format: TextFormat,
    pub options: TextOptions,
}

/// How a text file becomes inputs: which columns, how many examples, how they are batched. A
/// suite's classification dataset holds one too (`suite::validate::DatasetKind`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextOptions {
    pub text_column: usize,
    /// Column of an integer class label (needed for accuracy, ignored for calibration).
    pub label_column: Option<usize>,
    pub header: bool,
    /// Use only the first N examples.
    pub limit: Option<usize>,
    /// Examples per run (padded to the longest).
    pub batch: usize,
    /// Longest tokenized row. A suite's dataset has none (the case's `seq` limits its tokens), so
    /// it is not serialized: a suite's plan, and so its spec hash, stays as the suite wrote it.
    #[serde(skip)]
    pub max_len: usize,
}

impl TextOptions {
    /// The labelled examples of the text file `path` read as these options say; `None` when no
    /// label column is set (unlabelled texts, as for calibration).
    pub(crate) fn labelled(&self, path: &Path, format: TextFormat) -> Option<Result<Vec<text::Example>, Error>> {
        let label = self.label_column?;
        Some(text::classification(path, format, label, self.text_column, self.header, self.limit))
    }
}

impl Inputs {
    /// The inputs a file gives: the cases of a `.json` file (when no label column is asked for),
    /// otherwise its texts tokenized with `tokenizer`, read as `text` says. `what` names the file's
    /// role in errors (`--check`, `calibration`): a missing file, or text without a tokenizer.
    pub fn from_file(what: &str, path: &Path, tokenizer: Option<&Path>, text: TextOptions) -> Result<Inputs, Error> {
        if !path.exists() {
            return Err(Error::Missing { what: what.into(), path: path.into() });
        }
        crate::util::check_regular(path).map_err(|source| Error::Read { path: path.into(), source })?;
        if text.label_column.is_none() && path.extension().is_some_and(|e| e == "json") {
            return Ok(Inputs::File(path.into()));
        }
        let tokenizer = tokenizer.ok_or_else(|| Error::NeedsTokenizer { what: what.into(), path: path.into() })?;
        Ok(Inputs::Text(TextData { path: path.into(), tokenizer: tokenizer.into(), format: TextFormat::of_path(path), options: text }))
    }
}

impl TextData {
    /// Input sets of `batch` examples for a model with the declared `inputs`, with their labels when
    /// `label_column` is set (zeros otherwise).
    pub fn batches(&self, inputs: &[TensorInfo]) -> Result<Vec<(Set, Vec<usize>)>, Error> {
        let o = &self.options;
        let tokenizer = tokenize::load(&self.tokenizer, o.max_len)?;
        let (texts, labels): (Vec<String>, Vec<usize>) = match o.labelled(&self.path, self.format) {
            Some(examples) => examples?
                .into_iter()
                .map(|e| (e.text, e.label))
                .unzip(),
            None => {
                let t = text::texts(&self.path, self.format, o.text_column, o.header, o.limit)?;
                let n = t.len();
                (t, vec![0; n])
            }
        };
        let mut out = Vec::new();
        for (t, l) in texts.chunks(o.batch.max(1)).zip(labels.chunks(o.batch.max(1))) {
            let (set, _, _) = tokenize::encode(&tokenizer, &self.tokenizer, inputs, t)?;
            out.push((set, l.to_vec()));
        }
        Ok(out)
    }
}

/// `set` with integer inputs in the element type the model declares in `inputs` (int32 ids where
/// the model wants int32).
pub fn as_declared(inputs: &[TensorInfo], set: &[(String, Tensor)]) -> Set {
    set.iter()
        .map(|(n, t)| {
            let want = inputs.iter().find(|i| &i.name == n).map(|i| i.dtype.clone());
            let t = match (want, t) {
                (Some(DType::I32), Tensor::I64(x)) => Tensor::from(x.mapv(|v| v as i32)),
                _ => t.clone(),
            };
            (n.clone(), t)
        })
        .collect()
}

fn read_cases(path: &Path) -> Result<Vec<Set>, Error> {
    let bad = |reason: String| Error::Cases { path: path.into(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let cases = doc.get("cases").and_then(|c| c.as_array()).ok_or_else(|| bad("no \"cases\" array".into()))?;
    let mut out = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let inputs = case.get("inputs").and_then(|v| v.as_object()).ok_or_else(|| bad(format!("case {i} has no \"inputs\" object")))?;
        let mut set = Vec::new();
        for (name, v) in inputs {
            let field = |k: &str| v.get(k).and_then(|x| x.as_array()).ok_or_else(|| bad(format!("case {i}, input '{name}': no \"{k}\" array")));
            let ints = |k: &str| -> Result<Vec<i64>, Error> {
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
