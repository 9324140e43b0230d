//! The user docs stay true to the binary: `docs/cli.md` is generated from every verb's `--help`
//! (regenerate with `UPDATE_DOCS=1 cargo test --test docs`), every verb, flag and exit code is in
//! it, the README stays a short guide whose links resolve and whose figures cite a dated record
//! under `benchmarks/`, and the README's quickstart runs as written on the tiny fixtures.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_squeezebench")
}

fn stdout(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(out.status.success(), "squeezebench {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The verbs `squeezebench --help` lists (clap's own `help` aside), in its order.
fn verbs() -> Vec<String> {
    let help = stdout(&["--help"]);
    let section = help.split("Commands:").nth(1).expect("a Commands: section");
    section
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .map(str::to_string)
        .collect()
}

/// The exit codes of the binary, as `src/main.rs` documents them.
const EXIT_CODES: &[(&str, &str)] = &[
    ("0", "success: the verb did what it was asked, every case of a run finished ok, the gate passed"),
    ("1", "a check failed: structural problems (`inspect`), a regression (`gate`, `run --baseline`), a fidelity or accuracy bound of `quantize` not met"),
    ("2", "an error: bad input, a missing or unreadable file, an invalid suite, a runtime failure; nothing half-written is left"),
    ("3", "`run`: at least one case failed, crashed or timed out (recorded in results.json; the others ran)"),
    ("130", "`run`: interrupted (Ctrl-C); the finished cases are kept, `interrupted: true`"),
];

fn render_cli_reference() -> String {
    let mut s = String::from(
        "# CLI reference\n\n\
         Generated from `squeezebench VERB --help` by `tests/docs.rs` (`UPDATE_DOCS=1 cargo test --test docs`\n\
         rewrites it; the test fails when it is out of date). Topic guides: [quantization](quantization.md),\n\
         [rewrite passes](passes.md), [models](models.md), [suites and run](suite.md), [reports](report.md),\n\
         [gate](gate.md).\n\n## Exit codes\n\n| code | meaning |\n|---|---|\n",
    );
    for (code, meaning) in EXIT_CODES {
        s.push_str(&format!("| `{code}` | {meaning} |\n"));
    }
    s.push_str("\n## Verbs\n\n");
    let verbs = verbs();
    for v in &verbs {
        s.push_str(&format!("- [`squeezebench {v}`](#squeezebench-{v})\n"));
    }
    for v in &verbs {
        let help = stdout(&[v.as_str(), "--help"]);
        s.push_str(&format!("\n## `squeezebench {v}`\n\n```text\n{}\n```\n", help.trim_end()));
    }
    s
}

#[test]
fn the_cli_reference_is_generated_from_the_current_help() {
    let path = root().join("docs/cli.md");
    let want = render_cli_reference();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        fs::write(&path, &want).unwrap();
        return;
    }
    let have = fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let first = have.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(have.lines().count().min(want.lines().count()));
        panic!(
            "docs/cli.md is out of date (first difference at line {}: have {:?}, want {:?}); run UPDATE_DOCS=1 cargo test --test docs",
            first + 1,
            have.lines().nth(first),
            want.lines().nth(first)
        );
    }
}

/// `--flag` names in a help text's option lines.
fn flags(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in help.lines().map(str::trim_start).filter(|l| l.starts_with('-')) {
        for word in line.split([' ', ',', '=', '<', '[']) {
            if word.starts_with("--") && word.len() > 2 && !out.iter().any(|f| f == word) {
                out.push(word.to_string());
            }
        }
    }
    out
}

#[test]
fn every_verb_flag_and_exit_code_is_in_the_docs() {
    let cli = fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let verbs = verbs();
    assert!(verbs.len() >= 8, "verbs: {verbs:?}");
    for v in &verbs {
        assert!(cli.contains(&format!("## `squeezebench {v}`")), "docs/cli.md has no section for {v}");
        let help = stdout(&[v.as_str(), "--help"]);
        let section = cli.split(&format!("## `squeezebench {v}`")).nth(1).unwrap();
        let section = section.split("\n## ").next().unwrap();
        for f in flags(&help) {
            assert!(section.contains(&f), "docs/cli.md, section {v}: flag {f} is missing");
        }
    }
    for (code, _) in EXIT_CODES {
        assert!(cli.contains(&format!("| `{code}` |")), "exit code {code} is not documented");
    }
    let main = fs::read_to_string(root().join("src/main.rs")).unwrap();
    for code in ["0 success", "1 a check failed", "2 an error", "3 a suite case failed", "130 a suite run was interrupted"] {
        assert!(main.contains(code), "src/main.rs no longer documents exit code '{code}': update EXIT_CODES here");
    }
}

/// Relative link targets `](target)` in a Markdown text, without anchors.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|t| t.split('#').next().unwrap_or("").to_string())
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
        .collect()
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("CONTRIBUTING.md"), root().join("CHANGELOG.md")];
    files.extend(common::files_with_suffix(&root().join("docs"), ".md"));
    files.extend(common::files_with_suffix(&root().join("benchmarks"), ".md"));
    files
}

#[test]
fn links_in_the_docs_resolve() {
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for target in links(&text) {
            let path = file.parent().unwrap().join(&target);
            assert!(path.exists(), "{}: link to '{target}' does not resolve", file.display());
        }
    }
}

#[test]
fn the_readme_is_a_short_guide_whose_figures_cite_records() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let words = readme.split_whitespace().count();
    assert!(words <= 2000, "README.md has {words} words; the limit is 2000 (move reference material to docs/)");
    let figures = readme.split("\n## Figures").nth(1).expect("a Figures section").split("\n## ").next().unwrap();
    let rows: Vec<&str> = figures.lines().filter(|l| l.starts_with('|') && !l.starts_with("|---") && l.chars().any(|c| c.is_ascii_digit())).collect();
    assert!(rows.len() >= 3, "the Figures section has {} rows", rows.len());
    for row in rows {
        assert!(row.contains("](benchmarks/20"), "README figure without a dated record: {row}");
    }
    for verb in verbs() {
        assert!(readme.contains(&format!("`{verb}`")), "README's verb table does not name {verb}");
    }
}

/// The fenced blocks of `lang` between the README's quickstart markers.
fn quickstart_blocks(lang: &str) -> Vec<String> {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("<!-- quickstart:start -->").expect("quickstart start marker");
    let end = readme.find("<!-- quickstart:end -->").expect("quickstart end marker");
    let part = &readme[start..end];
    let fence = format!("```{lang}\n");
    part.split(fence.as_str()).skip(1).map(|b| b.split("```").next().unwrap().to_string()).collect()
}

fn run_line(dir: &Path, line: &str) -> Output {
    let words: Vec<&str> = line.split_whitespace().collect();
    Command::new(bin()).args(&words[1..]).current_dir(dir).output().unwrap()
}

/// The quickstart, as a newcomer types it, on the tiny BERT fixture standing in for the export
/// (with a word-level tokenizer over the SST-2 sentences, since the fixture has random weights):
/// every `squeezebench` line runs, the suite block is the suite, and the outputs it names appear.
#[test]
fn the_readme_quickstart_runs_on_the_tiny_fixture() {
    let dir = common::scratch("quickstart");
    let dir = dir.path();
    let export = dir.join("bert-sst2");
    fs::create_dir_all(&export).unwrap();
    fs::copy(common::fixtures().join("bert-tiny.onnx"), export.join("model.onnx")).unwrap();
    let sst2 = fs::read_to_string(common::fixtures().join("sst2-dev.txt")).unwrap();
    let texts: Vec<String> = sst2.lines().map(|l| l.split_once(' ').map_or(l, |(_, t)| t).to_string()).collect();
    fs::write(export.join("tokenizer.json"), common::word_tokenizer(&texts, 1000)).unwrap();
    fs::create_dir_all(dir.join("fixtures")).unwrap();
    fs::copy(common::fixtures().join("sst2-dev.txt"), dir.join("fixtures/sst2-dev.txt")).unwrap();

    let suites = quickstart_blocks("yaml");
    assert_eq!(suites.len(), 1, "the quickstart shows one suite file");
    let suite_name = suites[0].lines().next().and_then(|l| l.strip_prefix("# ")).expect("the suite block starts with '# FILE.yaml'");
    fs::write(dir.join(suite_name.trim()), &suites[0]).unwrap();

    let mut ran = Vec::new();
    for block in quickstart_blocks("sh") {
        for line in block.lines().map(|l| l.split(" #").next().unwrap().trim()).filter(|l| l.starts_with("squeezebench ")) {
            let out = run_line(dir, line);
            let code = out.status.code();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            // A gate on a shared machine may find the second run slower; what matters here is
            // that the command is right (exit 2 would be a usage or input error).
            let allowed: &[i32] = if line.contains("--baseline") { &[0, 1] } else { &[0] };
            assert!(code.is_some_and(|c| allowed.contains(&c)), "quickstart line `{line}` exited {code:?}:\n{text}");
            ran.push(line.to_string());
        }
    }
    assert!(ran.iter().any(|l| l.starts_with("squeezebench inspect")), "{ran:?}");
    assert!(ran.iter().any(|l| l.starts_with("squeezebench quantize")), "{ran:?}");
    assert!(ran.iter().any(|l| l.starts_with("squeezebench run")), "{ran:?}");
    assert!(ran.iter().any(|l| l.contains("--baseline")), "{ran:?}");
    assert!(export.join("model-int8.onnx").exists());
    let results = common::files_with_suffix(&dir.join("runs"), "results.json");
    assert!(!results.is_empty(), "no results.json under runs/");
    let report = fs::read_to_string(results[0].with_file_name("report.md")).unwrap();
    assert!(report.contains("int8") && report.contains("fp32"), "{report}");
}

/// A struct field: name, type, doc comment.
type Field = (String, String, String);

/// The fields of every struct in `src/results/` (record.rs, shard.rs, env.rs, thresholds.rs) with their doc
/// comments, as Markdown tables: the field reference of docs/results-schema.md is generated from
/// the types themselves.
fn render_field_reference() -> String {
    let mut out = String::from("<!-- fields:start (generated from src/results/ by tests/docs.rs; UPDATE_DOCS=1 cargo test --test docs) -->\n");
    // Files, and the structs of them that results.json holds (None: every struct of the file).
    let sources: [(&str, Option<&[&str]>); 6] = [
        ("src/results/record.rs", None),
        ("src/results/shard.rs", None),
        ("src/results/env.rs", None),
        ("src/results/thresholds.rs", None),
        ("src/measure/accuracy.rs", Some(&["OutputFidelity"])),
        ("src/profile/mod.rs", Some(&["Summary", "FamilyTime", "Timing"])),
    ];
    for (file, only) in sources {
        let text = fs::read_to_string(root().join(file)).unwrap();
        let mut doc: Vec<String> = Vec::new();
        let mut current: Option<(String, Vec<Field>)> = None;
        for line in text.lines() {
            let t = line.trim();
            if let Some(d) = t.strip_prefix("///") {
                doc.push(d.trim().to_string());
                continue;
            }
            if t.starts_with("#[") {
                continue;
            }
            if let Some(rest) = t.strip_prefix("pub struct ").filter(|r| r.ends_with('{')) {
                let name = rest.trim_end_matches('{').trim().to_string();
                if only.is_none_or(|o| o.contains(&name.as_str())) {
                    current = Some((name, Vec::new()));
                }
            } else if t == "}" {
                if let Some((name, fields)) = current.take().filter(|(_, f)| !f.is_empty()) {
                    out.push_str(&format!("\n#### `{name}` ({file})\n\n| field | type | meaning |\n|---|---|---|\n"));
                    for (f, ty, d) in fields {
                        out.push_str(&format!("| `{f}` | `{}` | {} |\n", ty.replace('|', "\\|"), d.replace('|', "\\|")));
                    }
                }
            } else if let (Some((_, fields)), Some(rest)) = (current.as_mut(), t.strip_prefix("pub ")) {
                if let Some((f, ty)) = rest.split_once(':') {
                    fields.push((f.trim().to_string(), ty.trim().trim_end_matches(',').to_string(), doc.join(" ")));
                }
            }
            doc.clear();
        }
    }
    out.push_str("<!-- fields:end -->\n");
    out
}

#[path = "results_sample/mod.rs"]
mod results_sample;

/// Every field name `results.json` has (walking a full sample document; keys of free-form maps,
/// such as parameters by dtype or metrics by name, are values, not fields).
fn field_names(v: &serde_json::Value, parent: &str, out: &mut std::collections::BTreeSet<String>) {
    const MAPS: &[&str] = &["parameters_by_dtype", "parameters_by_op", "weight_bytes_by_dtype", "metrics", "ops", "families", "environment_extra"];
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if MAPS.contains(&parent) {
                    field_names(x, "", out);
                } else {
                    out.insert(k.clone());
                    field_names(x, k, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| field_names(x, parent, out)),
        _ => {}
    }
}

/// docs/results-schema.md carries the field reference generated from the types (current), and
/// names every field a full sample document has, so a field added without a word fails here.
#[test]
fn the_results_schema_page_is_generated_from_the_types() {
    let path = root().join("docs/results-schema.md");
    let doc = fs::read_to_string(&path).unwrap();
    let want = render_field_reference();
    let (start, end) = (doc.find("<!-- fields:start"), doc.find("<!-- fields:end -->"));
    let have = match (start, end) {
        (Some(a), Some(b)) => &doc[a..b + "<!-- fields:end -->\n".len()],
        _ => "",
    };
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = if have.is_empty() { format!("{doc}\n## Every field\n\n{want}") } else { doc.replace(have, &want) };
        fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(have, want, "docs/results-schema.md's field reference is out of date: run UPDATE_DOCS=1 cargo test --test docs");
    let json: serde_json::Value = serde_json::from_str(&results_sample::results().to_json()).unwrap();
    let mut fields = std::collections::BTreeSet::new();
    field_names(&json, "", &mut fields);
    let missing: Vec<&String> = fields.iter().filter(|f| !doc.contains(&format!("`{f}`"))).collect();
    assert!(missing.is_empty(), "docs/results-schema.md does not name: {missing:?}");
}
