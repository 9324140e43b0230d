//! Benchmark suites: the YAML spec ([`spec`]), its validation into a [`Plan`] ([`validate`]) and the
//! plan's expansion into cases ([`expand`]).
//!
//! Why serde-saphyr: it deserializes YAML straight into these types and reports the line and column
//! of the node at fault, including for unknown keys (`deny_unknown_fields`) and wrong types, and its
//! `Spanned<T>` keeps the place of values that validation checks later (a pass list, a dataset
//! name). Every error this module returns is `file:line:column: message`, with a hint when there is
//! one to give ("did you mean `min_time_s`?").

pub mod expand;
pub mod shards;
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
pub(crate) fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Plan, Error> {
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
///
/// Every problem is reported at once: the YAML parser stops at its first error, so each unknown
/// key or value it reports is mended in a copy of the text ([`mend`]: renamed to the name the hint
/// suggests, or a key without one left out) and the copy parsed again, until it parses or an error
/// cannot be mended; a copy that parses is validated too. Lines never move, so every problem keeps
/// its place in the file as written.
pub(crate) fn load_str(path: &Path, text: &str) -> Result<Plan, Error> {
    let invalid = |problems| Error::Invalid { path: path.into(), text: text.to_string(), problems };
    let mut problems: Vec<Problem> = Vec::new();
    let mut copy = text.to_string();
    loop {
        match serde_saphyr::from_str::<spec::Suite>(&copy) {
            Ok(suite) if problems.is_empty() => return validate::validate(path, text, suite).map_err(invalid),
            Ok(suite) => {
                if let Err(more) = validate::validate(path, text, suite) {
                    problems.extend(more);
                }
                break;
            }
            Err(e) => {
                let p = parse_problem(&e);
                // A problem the last mend made (a renamed key that now appears twice, a key left
                // out that was required) is not the user's: stop before it.
                let after_mend = !problems.is_empty();
                if after_mend && (p.message.starts_with("missing field") || p.message.contains("duplicate")) {
                    break;
                }
                let mended = (problems.len() < MAX_PARSE_PROBLEMS).then(|| mend(&copy, &p)).flatten();
                let stuck = problems.last().is_some_and(|q| (q.line, q.column) == (p.line, p.column));
                if !stuck {
                    problems.push(p);
                }
                match mended {
                    Some(t) if !stuck => copy = t,
                    _ => break,
                }
            }
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    Err(invalid(problems))
}

/// The most parse problems gathered from one file.
const MAX_PARSE_PROBLEMS: usize = 50;

/// `text` with the unknown key or value of `p` mended, or `None` when `p` is not of that kind or
/// its place does not hold the name: the name is replaced by the one the hint suggests (`did you
/// mean`); an unknown key with no suggestion is blanked with its value (the lines indented under
/// it too) when it starts its line; an unknown value with no suggestion becomes the first valid
/// one. Only the problem's line and the lines under a blanked key change, and no line is removed.
fn mend(text: &str, p: &Problem) -> Option<String> {
    let (given, key) = if let Some(rest) = p.message.strip_prefix("unknown field `") {
        (rest.split_once('`')?.0, true)
    } else if let Some(rest) = p.message.strip_prefix("unknown variant `") {
        (rest.split_once('`')?.0, false)
    } else {
        return None;
    };
    let suggested = p.hint.as_deref().and_then(|h| h.strip_prefix("did you mean `")).and_then(|h| h.split_once('`')).map(|(n, _)| n.to_string());
    let first_valid = || p.message.split_once("expected one of ").and_then(|(_, l)| l.split(',').next()).map(|n| n.trim().trim_matches('`').to_string());
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let row = usize::try_from(p.line).ok()?.checked_sub(1)?;
    let line = lines.get(row)?;
    let start = line.char_indices().nth(usize::try_from(p.column).ok()?.checked_sub(1)?).map(|(b, _)| b)?;
    let (quote, at) = match line[start..].chars().next()? {
        q @ ('"' | '\'') => (Some(q), start + 1),
        _ => (None, start),
    };
    if !line[at..].starts_with(given) || quote.is_some_and(|q| !line[at + given.len()..].starts_with(q)) {
        return None;
    }
    let replacement = match (suggested, key) {
        (Some(n), _) => n,
        (None, false) => first_valid()?,
        (None, true) if line[..start].trim().is_empty() || line[..start].trim() == "-" => {
            // Blank the key, its value and every deeper-indented line under it.
            let indent = line[..start].chars().count();
            // A list item's dash stays: the item keeps the keys on the lines under it.
            lines[row] = format!("{}{}", &line[..start], " ".repeat(line[start..].chars().count()));
            for next in lines.iter_mut().skip(row + 1) {
                let depth = next.chars().take_while(|c| *c == ' ').count();
                if !next.trim().is_empty() && depth <= indent {
                    break;
                }
                *next = " ".repeat(next.chars().count());
            }
            return Some(lines.join("\n"));
        }
        (None, true) => return None,
    };
    let mut fixed = String::with_capacity(line.len() + replacement.len());
    fixed.push_str(&line[..at]);
    fixed.push_str(&replacement);
    fixed.push_str(&line[at + given.len()..]);
    lines[row] = fixed;
    Some(lines.join("\n"))
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
