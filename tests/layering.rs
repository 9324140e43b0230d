//! The layering check: every `crate::…` path in `src/` is read (in `use` lines and inline paths, with
//! `{…}` groups expanded), and a module may only name modules below it in [`LAYERS`]. An import from
//! a lower layer to a higher one, or between two modules of one layer, fails the test with the file,
//! the line and the two modules; since every arrow must point down, there can be no import loop
//! between modules either. It also checks which external crates each module may use (`ort` only in
//! `runtime/`, `plotters` only in `report/`, `prost` only in `onnx/`) and the size limits of
//! `main.rs` and of every function in `src/`.
//!
//! Why a test and not a tool: it runs with `cargo test` on every change, needs nothing installed, and
//! its rules sit next to the layer list docs/architecture.md describes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules from the lowest layer to the highest. A module may import only modules that come
/// before it. `main.rs` is above all of them and `lib.rs` only declares them.
const LAYERS: &[&str] = &[
    "util", "onnx", "runtime", "data", "measure", "profile", "results", "gate", "synth", "passes", "quant", "suite", "bench",
    "report", "fuzz", "app",
];

/// External crates only one module may use.
const CRATE_OWNERS: &[(&str, &str)] = &[("ort", "runtime"), ("plotters", "report"), ("prost", "onnx")];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/onnx/io.rs` → `onnx`, `src/fuzz.rs` →
/// `fuzz`), or `None` for `lib.rs` and `main.rs`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "lib.rs" | "main.rs" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The code of a line without its `//` comment (string literals are not parsed: a `//` inside one
/// only hides the rest of that line, which is harmless here).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// Every module named right after `crate::` in `text` (a `crate::{a, b::c}` group names `a` and `b`),
/// with the 1-based line of each.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    // Join the lines so that a `use crate::{…}` group over several lines is read whole, keeping a
    // map from byte offsets back to lines.
    let mut joined = String::new();
    let mut starts = Vec::new();
    for line in text.lines() {
        starts.push(joined.len());
        joined.push_str(code(line));
        joined.push('\n');
    }
    let line_at = |offset: usize| starts.partition_point(|&s| s <= offset);
    let mut from = 0;
    while let Some(i) = joined[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        // `squeezebench::crate::` does not occur; `$crate::` (macros) is skipped.
        if at > 0 && joined.as_bytes()[at - 1] == b'$' {
            continue;
        }
        let rest = &joined[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut names = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => names.push(std::mem::take(&mut item)),
                    _ if depth == 1 => item.push(c),
                    _ => {}
                }
                if depth == 0 {
                    names.push(std::mem::take(&mut item));
                    break;
                }
            }
            for n in names {
                let n = ident(n.trim());
                if !n.is_empty() {
                    out.push((line_at(at), n));
                }
            }
        } else {
            let n = ident(rest);
            if !n.is_empty() {
                out.push((line_at(at), n));
            }
        }
    }
    out
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    let mut arrows = BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let Some(own) = rank(&module) else {
            wrong.push(format!("{}: module '{module}' is not in LAYERS (tests/layering.rs)", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, to) in crate_paths(&text) {
            if to == module {
                continue;
            }
            match rank(&to) {
                Some(r) if r < own => {
                    arrows.insert((module.clone(), to));
                }
                Some(_) => wrong.push(format!(
                    "{}:{line}: '{module}' imports '{to}', which is not below it (layers, lowest first: {})",
                    file.strip_prefix(&src).unwrap().display(),
                    LAYERS.join(" < ")
                )),
                None => {} // a crate-level item (none today) or a macro path
            }
        }
        for (krate, owner) in CRATE_OWNERS {
            if module == *owner {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let c = code(line);
                let uses = c.contains(&format!("use {krate}::")) || c.contains(&format!(" {krate}::")) || c.contains(&format!("({krate}::"));
                if uses {
                    wrong.push(format!("{}:{}: only '{owner}' may use the '{krate}' crate", file.strip_prefix(&src).unwrap().display(), n + 1));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layering violations:\n{}", wrong.join("\n"));
    // The arrows that exist, for the test log (`cargo test --test layering -- --nocapture`).
    for (from, to) in &arrows {
        println!("{from} -> {to}");
    }
}

#[test]
fn the_reader_finds_grouped_and_inline_paths() {
    let text = "use crate::{\n    onnx::Model,\n    runtime::{Session, Tensor},\n};\nlet x = crate::data::text::fields(l); // crate::gate\n/// [`crate::report`]\n";
    let found: Vec<(usize, String)> = crate_paths(text);
    // Comments (doc comments included) are not imports.
    assert_eq!(found, [(1, "onnx".to_string()), (1, "runtime".to_string()), (5, "data".to_string())]);
}

/// Functions longer than this many lines are split by job (see docs/architecture.md).
const MAX_FUNCTION_LINES: usize = 150;
/// Lines `main.rs` may have: it parses arguments and calls one library function per verb.
const MAX_MAIN_LINES: usize = 300;

/// Each function of `text` (rustfmt layout: the body ends at the first `}` line indented like the
/// `fn` line) as (name, first line, lines).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let c = code(line);
        let Some(at) = c.find("fn ") else { continue };
        let before = c[..at].trim();
        let is_item = before.is_empty() || before.split_whitespace().all(|w| ["pub", "pub(crate)", "pub(super)", "const", "async", "unsafe", "extern"].contains(&w));
        if !is_item {
            continue;
        }
        let name: String = c[at + 3..].chars().take_while(|ch| ch.is_alphanumeric() || *ch == '_').collect();
        let indent = &line[..line.len() - line.trim_start().len()];
        // A declaration without a body (trait methods) ends with `;` before any `{`.
        let Some(open) = lines[i..].iter().position(|l| code(l).contains('{') || code(l).trim_end().ends_with(';')) else { continue };
        if !code(lines[i + open]).contains('{') {
            continue;
        }
        if code(lines[i + open]).trim_end().ends_with('}') {
            continue; // a one-line body
        }
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + open..].iter().position(|l| l.trim_end() == close) {
            out.push((name, i + 1, open + end + 1));
        }
    }
    out
}

#[test]
fn functions_and_main_stay_short() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (name, line, n) in functions(&text) {
            if n > MAX_FUNCTION_LINES {
                long.push(format!("{}:{line}: fn {name} has {n} lines (at most {MAX_FUNCTION_LINES})", file.strip_prefix(&src).unwrap().display()));
            }
        }
    }
    assert!(long.is_empty(), "functions to split by job:\n{}", long.join("\n"));
    let main = std::fs::read_to_string(src.join("main.rs")).unwrap().lines().count();
    assert!(main <= MAX_MAIN_LINES, "src/main.rs has {main} lines (at most {MAX_MAIN_LINES}): move policy into the library");
}

#[test]
fn function_lengths_are_read_from_the_layout() {
    let text = "pub fn a(x: u8) -> u8 {\n    x\n}\n\nimpl T {\n    fn b(\n        &self,\n    ) {\n        if c {\n        }\n    }\n    fn d(&self);\n}\n";
    assert_eq!(functions(text), [("a".to_string(), 1, 3), ("b".to_string(), 6, 6)]);
}
