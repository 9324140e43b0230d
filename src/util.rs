//! General helpers that know nothing of models, suites or results: atomic file writes, SHA-256
//! hashing, and human-readable numbers and text (the formats the reports and the gate share: ms,
//! signed differences, cosines, Markdown table cells, bounded quotes). They sit below every other
//! module, so a report or a results file is written the same way as a model, and each module wraps
//! [`Error`] in its own error type.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Errors writing or reading a file, naming it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} '{}': {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("refusing to write '{}': {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Error {
        Error::Io { action, path: path.to_path_buf(), source }
    }
}

/// Writes through `fill` into a temporary file beside `path`, syncs it and renames it into place,
/// so a reader or a crash never sees half a file. An existing `path` is refused unless `force`.
/// Returns the number of bytes written. On any error the temporary file is removed.
pub fn write_atomic<E: From<Error>>(path: &Path, force: bool, fill: impl FnOnce(&mut dyn Write) -> Result<(), E>) -> Result<u64, E> {
    if path.exists() && !force {
        return Err(Error::Refused { path: path.into(), reason: "the file exists (pass --force to replace it)".into() }.into());
    }
    if path.file_name().is_none() {
        return Err(Error::Refused { path: path.into(), reason: "no file name".into() }.into());
    }
    let tmp = temp_path(path);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| Error::io("write", &tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io("write", &tmp, e))?;
        let len = file.metadata().map_err(|e| Error::io("write", &tmp, e))?.len();
        fs::rename(&tmp, path).map_err(|e| Error::io("rename into", path, e))?;
        Ok(len)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The temporary file [`write_atomic`] fills beside `path` (`.NAME.tmpPID`) before renaming it
/// into place, for a signal handler to remove.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    dir.join(format!(".{name}.tmp{}", std::process::id()))
}

/// [`write_atomic`] of bytes already in memory, replacing `path`.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<u64, Error> {
    write_atomic(path, true, |w| w.write_all(bytes).map_err(|e| Error::io("write", path, e)))
}

/// What `path` is when it exists but is not a regular file (following symbolic links): "a
/// folder", "a FIFO (named pipe)", "a character device" (`/dev/zero`), "a block device", "a
/// socket". `None` for a regular file or a path that does not exist.
pub(crate) fn irregular_kind(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = fs::metadata(path).ok()?.file_type();
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    })
}

/// Checks, before anything opens `path`, that it is a regular file: reading a FIFO blocks until a
/// writer comes, reading `/dev/zero` never ends. The error (kind `InvalidInput`) says what it is,
/// for the caller to wrap with the path.
pub(crate) fn check_regular(path: &Path) -> std::io::Result<()> {
    match irregular_kind(path) {
        Some(kind) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("it is {kind}, not a regular file"))),
        None => Ok(()),
    }
}

/// `MemAvailable` of `/proc/meminfo` in bytes: what the kernel estimates can be allocated without
/// swapping. `None` where there is no such file (not Linux) or line.
pub(crate) fn mem_available() -> Option<u64> {
    mem_available_in(&fs::read_to_string("/proc/meminfo").ok()?)
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available_in(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of `parts`, each followed by a zero byte (so `["ab", "c"]` and
/// `["a", "bc"]` differ), cut to the first `bytes` bytes of the digest.
pub(crate) fn sha256_parts_hex(parts: &[&str], bytes: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    hex(&digest[..bytes.min(digest.len())])
}

/// Lower-case hex SHA-256 of a file, streamed in 1 MiB blocks.
pub fn file_sha256(path: &Path) -> Result<String, Error> {
    let mut f = File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// An integer with thousands separators: `109482240` → `109,482,240`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes in binary units with one decimal.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Milliseconds with about four significant digits: `41.20`, `3.112`, `0.2874`, `123.4`.
pub fn ms(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// A signed difference with a real minus sign: `+0.12`, `−1.40`.
pub fn signed(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("−{s}")
    } else {
        format!("+{s}")
    }
}

/// A cosine with enough digits to tell 0.9999 from 1: five decimals, or as many nines as it has.
pub fn cosine(c: f64) -> String {
    if (0.99999..1.0).contains(&c) {
        let nines = (-(1.0 - c).log10()).floor() as usize;
        format!("{:.*}", (nines + 1).min(9), c)
    } else {
        format!("{c:.5}")
    }
}

/// Text safe inside a Markdown table cell: pipes escaped, line breaks flattened, and `&`, `<`, `>`
/// as entities, so text holding HTML is shown, not rendered (GitHub renders inline HTML).
pub(crate) fn markdown_cell(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Characters of a line or value quoted in an error message: enough to recognise it, while a
/// 50 MB line still gives a message of one screen line.
pub const QUOTE_CHARS: usize = 80;

/// At most [`QUOTE_CHARS`] characters of `line` around its 1-based character `column`, with `…`
/// where the line goes on, and the 1-based column of that character in the excerpt (for a caret
/// under it). Every error message that quotes input text goes through this or [`clip`].
pub fn excerpt(line: &str, column: usize) -> (String, usize) {
    window(line, column, QUOTE_CHARS)
}

fn window(line: &str, column: usize, width: usize) -> (String, usize) {
    let total = line.chars().count();
    let col = column.saturating_sub(1).min(total);
    if total <= width {
        return (line.to_string(), col + 1);
    }
    let start = col.saturating_sub(width / 2).min(total - width);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(line.chars().skip(start).take(width));
    if start + width < total {
        out.push('…');
    }
    (out, col - start + 1 + usize::from(start > 0))
}

/// `text` cut to its first [`QUOTE_CHARS`] characters, `…` marking the cut.
pub fn clip(text: &str) -> String {
    clip_to(text, QUOTE_CHARS)
}

/// `text` cut to its first `max` characters, `…` marking the cut (for a whole message that may
/// quote input, e.g. a parser's).
pub(crate) fn clip_to(text: &str, max: usize) -> String {
    window(text, 1, max).0
}

/// The first line of `text`, trimmed and cut to `max` characters with `…` ending a cut (an error
/// in a table cell; the full text goes elsewhere).
pub(crate) fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        clip_to(line, max.saturating_sub(1))
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Why: a 50 MB YAML line or dataset label was echoed whole (100 MB of stderr).
    #[test]
    fn quotes_are_bounded_windows_around_the_column() {
        let long = format!("{}X{}", "a".repeat(1000), "b".repeat(1000));
        let (e, col) = excerpt(&long, 1001);
        assert_eq!(e.chars().count(), QUOTE_CHARS + 2, "{e}");
        assert!(e.starts_with('…') && e.ends_with('…'), "{e}");
        assert_eq!(e.chars().nth(col - 1), Some('X'), "the column points at the same character");
        assert_eq!(excerpt("short", 3), ("short".to_string(), 3));
        assert_eq!(clip(&long).chars().count(), QUOTE_CHARS + 1);
        let (e, col) = excerpt(&long, 2001);
        assert!(!e.ends_with('…') && e.chars().nth(col - 1) == Some('b'), "{e} {col}");
        assert_eq!(excerpt("", 5), (String::new(), 1));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(group(109482240), "109,482,240");
        assert_eq!(group(999), "999");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(438 * 1024 * 1024), "438.0 MiB");
    }

    #[test]
    fn mem_available_is_read_from_meminfo() {
        let text = "MemTotal:       24683584 kB\nMemFree:         1000 kB\nMemAvailable:   23643500 kB\n";
        assert_eq!(mem_available_in(text), Some(23643500 * 1024));
        assert_eq!(mem_available_in("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available_in("MemAvailable: lots\n"), None);
        assert!(mem_available().is_some(), "this test runs on Linux");
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(sha256_parts_hex(&["ab", "c"], 12), sha256_parts_hex(&["a", "bc"], 12));
        assert_eq!(sha256_parts_hex(&["x"], 12).len(), 24);
    }

    #[test]
    fn an_atomic_write_leaves_no_half_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        assert_eq!(replace_file(&path, b"hello").unwrap(), 5);
        assert_eq!(file_sha256(&path).unwrap(), sha256_hex(b"hello"));
        // Refused without force; a failing fill leaves the old file and no temporary one.
        let e = write_atomic(&path, false, |_| Ok::<(), Error>(())).unwrap_err();
        assert!(e.to_string().contains("the file exists"), "{e}");
        let r: Result<u64, Error> = write_atomic(&path, true, |w| {
            w.write_all(b"half").unwrap();
            Err(Error::Refused { path: path.clone(), reason: "stop".into() })
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
