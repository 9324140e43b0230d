//! Every input the models are run on: seeded synthetic token batches ([`synthetic`]), labelled text
//! files and sentence pairs ([`text`]), their tokenization through the `tokenizers` crate
//! ([`tokenize`]), and [`Inputs`], the one type for what two models are compared (or a model is
//! calibrated) on: synthetic batches, JSON cases or tokenized text ([`inputs`]).

pub mod inputs;
pub mod synthetic;
pub mod text;
pub mod tokenize;

pub use inputs::{Inputs, Set, TextData, TextOptions};
pub use synthetic::Lengths;
pub use text::TextFormat;

/// Errors reading data, each naming the file (and line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read '{}': {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("'{}' line {line}: {reason}", path.display())]
    Line { path: std::path::PathBuf, line: usize, reason: String },
    #[error("'{}' has no examples (after the header and empty lines)", path.display())]
    Empty { path: std::path::PathBuf },
    #[error("'{}': {reason}", path.display())]
    Unscorable { path: std::path::PathBuf, reason: String },
    #[error("tokenizer '{}': {reason}", path.display())]
    Tokenizer { path: std::path::PathBuf, reason: String },
    #[error("check data '{}': {reason}", path.display())]
    Cases { path: std::path::PathBuf, reason: String },
    #[error("{what} data '{}' does not exist", path.display())]
    Missing { what: String, path: std::path::PathBuf },
    #[error("{what} data '{}' is text: give the model's tokenizer.json with --tokenizer", path.display())]
    NeedsTokenizer { what: String, path: std::path::PathBuf },
}
