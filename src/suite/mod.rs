//! Benchmark suites: the YAML spec ([`spec`]), its validation into a [`Plan`] ([`validate`]) and the
//! plan's expansion into cases ([`expand`]).
//!
//! Why serde-saphyr: it deserializes YAML straight into these types and reports the line and column
//! of the node at fault, including for unknown keys (`deny_unknown_fields`) and wrong types, and its
//! `Spanned<T>` keeps the place of values that validation checks later (a pass list, a dataset
//! name). Every error this module returns is `file:line:column: message`, with a hint when there is
//! one to give ("did you mean `min_time_s`?").

pub mod expand;
pub mod spec;
pub mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use expand::{expand, Case};
pub use crate::results::Thresholds;
pub use validate::{Places, Plan, PlanDataset, PlanModel, PlanVariant, Source, StepPlan};

/// One problem in a suite file, at a place in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// 1-based line and column; 0 when the problem has no single place (e.g. a missing section).
    pub line: u64,
    pub column: u64,
    pub message: String,
    pub hint: Option<String>,
}

/// Errors of loading a suite.
#[derive(Debug)]
pub enum Error {
    /// The file cannot be read.
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not a valid suite; every problem found, in file order.
    Invalid { path: PathBuf, text: String, problems: Vec<Problem> },
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, source } => write!(f, "cannot read suite '{}': {source}", path.display()),
            Error::Invalid { path, text, problems } => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{}:{}:{}: {}", path.display(), p.line, p.column, crate::util::clip_to(&p.message, 500))?;
                    if let Some(line) = (p.line > 0).then(|| text.lines().nth(p.line as usize - 1)).flatten() {
                        let (line, column) = crate::util::excerpt(line, p.column as usize);
                        let pad = " ".repeat(column - 1);
                        write!(f, "\n  | {line}\n  | {pad}^")?;
                    }
                    if let Some(h) = &p.hint {
                        write!(f, "\n  hint: {h}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl Error {
    /// The problems of an invalid suite (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems, .. } => problems,
            Error::Read { .. } => &[],
        }
    }
}

/// Reads, parses and validates the suite at `path`. Paths inside it are relative to its folder.
pub fn load(path: &Path) -> Result<Plan, Error> {
    crate::util::check_regular(path).map_err(|source| Error::Read { path: path.into(), source })?;
    let bytes = std::fs::read(path).map_err(|source| Error::Read { path: path.into(), source })?;
    load_bytes(path, &bytes)
}

/// Like [`load`], for a suite whose bytes are already read: text that is not UTF-8 is a problem
/// at the line and column of the first bad byte.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Plan, Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => load_str(path, text),
        Err(e) => {
            let (line, column, byte) = crate::data::text::utf8_error_place(bytes, &e);
            Err(Error::Invalid {
                path: path.into(),
                text: String::from_utf8_lossy(bytes).into_owned(),
                problems: vec![Problem { line, column, message: format!("not UTF-8 text (byte 0x{byte:02x})"), hint: Some("save the file as UTF-8".into()) }],
            })
        }
    }
}

/// Like [`load`], for a suite whose text is already read (`path` names it in errors and anchors
/// relative paths).
pub fn load_str(path: &Path, text: &str) -> Result<Plan, Error> {
    let invalid = |problems| Error::Invalid { path: path.into(), text: text.to_string(), problems };
    let suite: spec::Suite = serde_saphyr::from_str(text).map_err(|e| invalid(vec![parse_problem(&e)]))?;
    validate::validate(path, text, suite).map_err(invalid)
}

/// A parse error as a [`Problem`]: serde-saphyr's message without its own location prefix, plus a
/// hint for unknown keys and values.
fn parse_problem(e: &serde_saphyr::Error) -> Problem {
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error:").unwrap_or(first).trim();
    // "line 4 column 3: unknown field ..." → "unknown field ..."
    let message = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((_, rest)) => rest.to_string(),
        None => first.to_string(),
    };
    // Some messages repeat the place at their end: "invalid u64 at line 5, column 14".
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => message[..i].to_string(),
        _ => message,
    };
    let hint = hint_for(&message);
    Problem { line, column, message, hint }
}

/// "did you mean" for serde's `unknown field `x`, expected one of a, b` and `unknown variant`
/// messages; the list of valid names when nothing is close; a word on types otherwise.
fn hint_for(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("unknown variant `")) {
        let (given, rest) = rest.split_once('`')?;
        let list = rest.split_once("expected one of ").map(|(_, l)| l).or_else(|| rest.split_once("expected ").map(|(_, l)| l))?;
        let names: Vec<&str> = list.split(',').map(|n| n.trim().trim_matches('`')).filter(|n| !n.is_empty()).collect();
        return Some(match closest(given, &names) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("valid here: {}", names.join(", ")),
        });
    }
    if message.starts_with("invalid u64") || message.starts_with("invalid usize") || message.starts_with("invalid i64") {
        return Some("expected a whole number".into());
    }
    if message.starts_with("budget breached") {
        return Some("the file expands past the YAML parser's limits (aliases of aliases?)".into());
    }
    if message.starts_with("expected mapping") {
        return Some("a map (`key: value` lines, or `{key: value}`) is needed here".into());
    }
    if message.starts_with("expected sequence") {
        return Some("a list (`[a, b]`, or `- a` lines) is needed here".into());
    }
    if message.starts_with("invalid f64") || message.starts_with("invalid floating point") {
        return Some("expected a number".into());
    }
    None
}

/// The name in `names` closest to `given` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(given: &str, names: &[&'a str]) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).max(2);
    names.iter().map(|n| (edit_distance(given, n), *n)).filter(|(d, _)| *d <= limit).min().map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_catch_typos_only() {
        assert_eq!(closest("min_tme_s", &["warmup", "min_time_s", "max_time_s"]), Some("min_time_s"));
        assert_eq!(closest("mdoels", &["models", "variants"]), Some("models"));
        assert_eq!(closest("zzzzzz", &["models", "variants"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    // Why: a 50 MB YAML line gave 100 MB of stderr (the line, then as many spaces before the
    // caret); the message quotes a window around the column.
    #[test]
    fn a_huge_line_gives_a_bounded_message() {
        let text = format!("name: x\nmodels: [{}]\nbogus: 1\n", "\"m\", ".repeat(2_000_000));
        let e = load_str(Path::new("big.yaml"), &text).unwrap_err().to_string();
        assert!(e.len() < 2000, "{} bytes: {}", e.len(), crate::util::clip(&e));
        let text = format!("name: {}\n", "y".repeat(5_000_000)) + "models: 3\n";
        let e = load_str(Path::new("big.yaml"), &text).unwrap_err().to_string();
        assert!(e.len() < 2000, "{} bytes: {}", e.len(), crate::util::clip(&e));
        let text = format!("name: x\nmodels: {}\n", "z".repeat(5_000_000));
        let e = load_str(Path::new("big.yaml"), &text).unwrap_err().to_string();
        assert!(e.len() < 2000 && e.contains("big.yaml:2:"), "{} bytes: {}", e.len(), crate::util::clip(&e));
    }
}
