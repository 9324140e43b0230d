//! Inputs for the models: seeded synthetic token batches with a length distribution
//! ([`synthetic`]), labelled text files ([`text`]) and their tokenization through the `tokenizers`
//! crate ([`tokenize`]).

pub mod synthetic;
pub mod text;
pub mod tokenize;

/// Errors reading data, each naming the file (and line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read '{}': {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("'{}' line {line}: {reason}", path.display())]
    Line { path: std::path::PathBuf, line: usize, reason: String },
    #[error("'{}' has no examples (after the header and empty lines)", path.display())]
    Empty { path: std::path::PathBuf },
    #[error("tokenizer '{}': {reason}", path.display())]
    Tokenizer { path: std::path::PathBuf, reason: String },
}
