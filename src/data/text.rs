//! Labelled text files: classification (a label and a text per line) and sentence pairs with a
//! score (STS-B). Formats: `csv` (RFC 4180 quoting: commas inside double quotes, `""` for a quote),
//! `tsv` (tab-separated, no quoting), `space` (the label, one space, then the rest of the line is
//! the text: SST-2's layout). Empty lines are skipped; a bad line (not UTF-8, an unclosed quote, a
//! field count unlike the first line's, a label or score that is not a number) is an error naming
//! file and line, and so is a file without examples.

use std::path::Path;

use super::Error;

/// How the fields of a line are separated: tabs, commas (with quoting) or, for `space`, a label, a
/// space, then the text (the SST-2 layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextFormat {
    Tsv,
    Csv,
    Space,
}

impl TextFormat {
    /// The format a file name suggests: `.tsv`, `.csv`, otherwise `space` (label, a space, the text).
    pub(crate) fn of_path(path: &Path) -> TextFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("tsv") => TextFormat::Tsv,
            Some("csv") => TextFormat::Csv,
            _ => TextFormat::Space,
        }
    }
}

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

/// Reads `path` as UTF-8 text; other bytes are an error at their line and column.
pub(crate) fn read_utf8(path: &Path) -> Result<String, Error> {
    crate::util::check_regular(path).map_err(|source| Error::Read { path: path.into(), source })?;
    let bytes = std::fs::read(path).map_err(|source| Error::Read { path: path.into(), source })?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, column, byte) = utf8_error_place(e.as_bytes(), &e.utf8_error());
        Error::Line { path: path.into(), line: line as usize, reason: format!("column {column}: not UTF-8 text (byte 0x{byte:02x})") }
    })
}

/// The longest line a data file may hold: far beyond any sentence or paragraph (texts are cut to
/// the workload's `seq` tokens anyway), short enough that tokenizing it costs little memory.
pub const MAX_LINE_BYTES: usize = 65_536;

/// The (1-based line number, fields) of each data line of `path`. Every line must have as many
/// fields as the first (a stray separator shifts the columns: better an error than a wrong text);
/// a CSV line must close its quotes (quoted fields spanning lines are not supported); the file
/// must have at least one example; no line may be longer than [`MAX_LINE_BYTES`].
fn rows(path: &Path, format: TextFormat, header: bool, limit: Option<usize>) -> Result<Vec<(usize, Vec<String>)>, Error> {
    let text = read_utf8(path)?;
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    let mut width = None;
    for (i, l) in text.lines().enumerate().skip(usize::from(header)) {
        if rows.len() >= limit.unwrap_or(usize::MAX) {
            break;
        }
        let l = l.trim_end_matches('\r');
        if l.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Line { path: path.into(), line: i + 1, reason };
        if l.len() > MAX_LINE_BYTES {
            return Err(bad(format!("is {} bytes long, past the limit of {MAX_LINE_BYTES} bytes a line (one example per line)", l.len())));
        }
        if format == TextFormat::Csv && l.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
            return Err(bad("a quoted field is not closed on its line (an odd number of '\"')".into()));
        }
        let f = fields(l, format);
        match width {
            None => width = Some((f.len(), i + 1)),
            Some((w, first)) if w != f.len() && format != TextFormat::Space => {
                return Err(bad(format!("has {} field(s), line {first} has {w}", f.len())));
            }
            Some(_) => {}
        }
        rows.push((i + 1, f));
    }
    if rows.is_empty() {
        return Err(Error::Empty { path: path.into() });
    }
    Ok(rows)
}

fn field<'a>(path: &Path, line: usize, f: &'a [String], k: usize) -> Result<&'a str, Error> {
    f.get(k).map(String::as_str).ok_or_else(|| Error::Line {
        path: path.into(),
        line,
        reason: format!("has {} field(s), column {k} was asked for", f.len()),
    })
}

/// One labelled text and the line it is on.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub line: usize,
    pub text: String,
    pub label: usize,
}

/// Labelled examples. Labels must be integers 0, 1, ...
pub fn classification(
    path: &Path,
    format: TextFormat,
    label_column: usize,
    text_column: usize,
    header: bool,
    limit: Option<usize>,
) -> Result<Vec<Example>, Error> {
    let (label_column, text_column) = if format == TextFormat::Space { (0, 1) } else { (label_column, text_column) };
    rows(path, format, header, limit)?
        .into_iter()
        .map(|(line, f)| {
            let label = field(path, line, &f, label_column)?;
            let label = label.trim().parse::<usize>().map_err(|_| Error::Line {
                path: path.into(),
                line,
                reason: format!("label '{}' is not a class number (0, 1, ...)", crate::util::clip(label)),
            })?;
            Ok(Example { line, text: field(path, line, &f, text_column)?.to_string(), label })
        })
        .collect()
}

/// The texts of column `column` (unlabelled: calibration data). For `space` the text is everything
/// after the first space when the line has one (the SST-2 layout), else the whole line.
pub fn texts(path: &Path, format: TextFormat, column: usize, header: bool, limit: Option<usize>) -> Result<Vec<String>, Error> {
    rows(path, format, header, limit)?
        .into_iter()
        .map(|(line, f)| match format {
            TextFormat::Space => Ok(f.last().cloned().unwrap_or_default()),
            _ => field(path, line, &f, column).map(str::to_string),
        })
        .collect()
}

/// Checks that every label is a class of a model with `classes` outputs; the first that is not is
/// an error at its line.
pub(crate) fn check_labels(path: &Path, examples: &[Example], classes: usize) -> Result<(), Error> {
    match examples.iter().find(|e| e.label >= classes) {
        Some(e) => Err(Error::Line {
            path: path.into(),
            line: e.line,
            reason: format!("label {} is out of range: the model has {classes} class(es), 0..={}", e.label, classes.saturating_sub(1)),
        }),
        None => Ok(()),
    }
}

/// (first, second, score) sentence pairs. Scores must be finite numbers, and not all equal: the
/// Spearman correlation they are scored by is undefined on constant scores (one pair included).
pub fn sentence_pairs(
    path: &Path,
    format: TextFormat,
    columns: [usize; 3],
    header: bool,
    limit: Option<usize>,
) -> Result<Vec<(String, String, f64)>, Error> {
    let pairs = pair_rows(path, format, columns, header, limit)?;
    if let Some(first) = pairs.first().map(|p| p.2).filter(|&s| pairs.iter().all(|p| p.2 == s)) {
        let n = pairs.len();
        let reason = format!(
            "every score is {first} ({n} pair(s){}): the Spearman correlation is undefined on constant scores; give at least two pairs with different scores",
            limit.map(|l| format!(" within limit {l}")).unwrap_or_default()
        );
        return Err(Error::Unscorable { path: path.into(), reason });
    }
    Ok(pairs)
}

fn pair_rows(path: &Path, format: TextFormat, columns: [usize; 3], header: bool, limit: Option<usize>) -> Result<Vec<(String, String, f64)>, Error> {
    rows(path, format, header, limit)?
        .into_iter()
        .map(|(line, f)| {
            let score = field(path, line, &f, columns[2])?;
            let score = score.trim().parse::<f64>().ok().filter(|s| s.is_finite()).ok_or_else(|| Error::Line {
                path: path.into(),
                line,
                reason: format!("score '{}' is not a number", crate::util::clip(score)),
            })?;
            Ok((field(path, line, &f, columns[0])?.to_string(), field(path, line, &f, columns[1])?.to_string(), score))
        })
        .collect()
}

/// The 1-based line and column (in characters) of the first invalid byte of `bytes`, and the byte.
pub(crate) fn utf8_error_place(bytes: &[u8], e: &std::str::Utf8Error) -> (u64, u64, u8) {
    let good = &bytes[..e.valid_up_to()];
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = good.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let column = std::str::from_utf8(&good[line_start..]).map_or(0, |t| t.chars().count()) as u64 + 1;
    (line, column, bytes.get(e.valid_up_to()).copied().unwrap_or(0))
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

    // Why: a 100 MB label was printed whole; an error quotes a bounded window (lines are now
    // capped at 64 KiB, a label within that still makes a 60 KB message without the window).
    #[test]
    fn a_huge_bad_label_is_quoted_in_a_bounded_window() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.tsv");
        std::fs::write(&p, format!("{}\tsome text\n", "x".repeat(60_000))).unwrap();
        let e = classification(&p, TextFormat::Tsv, 0, 1, false, None).unwrap_err().to_string();
        assert!(e.len() < 400 && e.contains("label 'xxxx") && e.contains("…'"), "{} bytes: {}", e.len(), crate::util::clip(&e));
    }

    #[test]
    fn files_with_bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.txt");
        std::fs::write(&p, "1 great\n\n0 bad\nx what\n").unwrap();
        let e = classification(&p, TextFormat::Space, 0, 1, false, None).unwrap_err().to_string();
        assert!(e.contains("d.txt' line 4: label 'x'"), "{e}");
        let two = classification(&p, TextFormat::Space, 0, 1, false, Some(2)).unwrap();
        assert_eq!(two, [Example { line: 1, text: "great".into(), label: 1 }, Example { line: 3, text: "bad".into(), label: 0 }]);
        let e = check_labels(&p, &two, 1).unwrap_err().to_string();
        assert!(e.contains("d.txt' line 1: label 1 is out of range: the model has 1 class(es), 0..=0"), "{e}");
        std::fs::write(&p, "s1,s2,score\na,b,4.5\nc,d\n").unwrap();
        let e = sentence_pairs(&p, TextFormat::Csv, [0, 1, 2], true, None).unwrap_err().to_string();
        assert!(e.contains("line 3: has 2 field(s), line 2 has 3"), "{e}");
        std::fs::write(&p, "a,b,4.5\n\"c,d,1\n").unwrap();
        let e = sentence_pairs(&p, TextFormat::Csv, [0, 1, 2], false, None).unwrap_err().to_string();
        assert!(e.contains("line 2: a quoted field is not closed"), "{e}");
        std::fs::write(&p, "a,b,nan\n").unwrap();
        let e = sentence_pairs(&p, TextFormat::Csv, [0, 1, 2], false, None).unwrap_err().to_string();
        assert!(e.contains("line 1: score 'nan' is not a number"), "{e}");
        std::fs::write(&p, "header\n\n  \n").unwrap();
        let e = sentence_pairs(&p, TextFormat::Csv, [0, 1, 2], true, None).unwrap_err().to_string();
        assert!(e.ends_with("d.txt' has no examples (after the header and empty lines)"), "{e}");
        std::fs::write(&p, b"1 ok\n0 caf\xe9 bad\n").unwrap();
        let e = classification(&p, TextFormat::Space, 0, 1, false, None).unwrap_err().to_string();
        assert!(e.contains("d.txt' line 2: column 6: not UTF-8 text (byte 0xe9)"), "{e}");
    }
}
