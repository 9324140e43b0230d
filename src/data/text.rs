//! Labelled text files: classification (a label and a text per line) and sentence pairs with a
//! score (STS-B). Formats: `csv` (RFC 4180 quoting: commas inside double quotes, `""` for a quote),
//! `tsv` (tab-separated, no quoting), `space` (the label, one space, then the rest of the line is
//! the text: SST-2's layout). Empty lines are skipped; a bad line is an error naming file and line.

use std::path::Path;

use super::Error;
use crate::suite::spec::TextFormat;

/// Fields of one line in `format` (`space` splits once).
pub fn fields(line: &str, format: TextFormat) -> Vec<String> {
    match format {
        TextFormat::Tsv => line.split('\t').map(str::to_string).collect(),
        TextFormat::Space => match line.split_once(' ') {
            Some((a, b)) => vec![a.to_string(), b.to_string()],
            None => vec![line.to_string()],
        },
        TextFormat::Csv => {
            let mut out = vec![String::new()];
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(ch) = chars.next() {
                match (ch, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        chars.next();
                        out.last_mut().expect("one field").push('"');
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => out.push(String::new()),
                    _ => out.last_mut().expect("one field").push(ch),
                }
            }
            out
        }
    }
}

/// The (1-based line number, fields) of each data line of `path`.
fn rows(path: &Path, format: TextFormat, header: bool, limit: Option<usize>) -> Result<Vec<(usize, Vec<String>)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.into(), source })?;
    let rows = text
        .lines()
        .enumerate()
        .skip(usize::from(header))
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, fields(l.trim_end_matches('\r'), format)))
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(rows)
}

fn field<'a>(path: &Path, line: usize, f: &'a [String], k: usize) -> Result<&'a str, Error> {
    f.get(k).map(String::as_str).ok_or_else(|| Error::Line {
        path: path.into(),
        line,
        reason: format!("has {} field(s), column {k} was asked for", f.len()),
    })
}

/// (text, label) examples. Labels must be integers 0, 1, ...
pub fn classification(
    path: &Path,
    format: TextFormat,
    label_column: usize,
    text_column: usize,
    header: bool,
    limit: Option<usize>,
) -> Result<Vec<(String, usize)>, Error> {
    let (label_column, text_column) = if format == TextFormat::Space { (0, 1) } else { (label_column, text_column) };
    rows(path, format, header, limit)?
        .into_iter()
        .map(|(line, f)| {
            let label = field(path, line, &f, label_column)?;
            let label = label.trim().parse::<usize>().map_err(|_| Error::Line {
                path: path.into(),
                line,
                reason: format!("label '{label}' is not a class number (0, 1, ...)"),
            })?;
            Ok((field(path, line, &f, text_column)?.to_string(), label))
        })
        .collect()
}

/// (first, second, score) sentence pairs.
pub fn sentence_pairs(
    path: &Path,
    format: TextFormat,
    columns: [usize; 3],
    header: bool,
    limit: Option<usize>,
) -> Result<Vec<(String, String, f64)>, Error> {
    rows(path, format, header, limit)?
        .into_iter()
        .map(|(line, f)| {
            let score = field(path, line, &f, columns[2])?;
            let score = score.trim().parse::<f64>().map_err(|_| Error::Line {
                path: path.into(),
                line,
                reason: format!("score '{score}' is not a number"),
            })?;
            Ok((field(path, line, &f, columns[0])?.to_string(), field(path, line, &f, columns[1])?.to_string(), score))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_tsv_and_space_layouts() {
        assert_eq!(fields(r#""a, ""b""",c,4.5"#, TextFormat::Csv), [r#"a, "b""#, "c", "4.5"]);
        assert_eq!(fields("1\tgood film\t", TextFormat::Tsv), ["1", "good film", ""]);
        assert_eq!(fields("0 one long string , of cliches .", TextFormat::Space), ["0", "one long string , of cliches ."]);
    }

    #[test]
    fn files_with_bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.txt");
        std::fs::write(&p, "1 great\n\n0 bad\nx what\n").unwrap();
        let e = classification(&p, TextFormat::Space, 0, 1, false, None).unwrap_err().to_string();
        assert!(e.contains("d.txt' line 4: label 'x'"), "{e}");
        assert_eq!(classification(&p, TextFormat::Space, 0, 1, false, Some(2)).unwrap(), [("great".into(), 1), ("bad".into(), 0)]);
        std::fs::write(&p, "s1,s2,score\na,b,4.5\nc,d\n").unwrap();
        let e = sentence_pairs(&p, TextFormat::Csv, [0, 1, 2], true, None).unwrap_err().to_string();
        assert!(e.contains("line 3: has 2 field(s), column 2"), "{e}");
    }
}
