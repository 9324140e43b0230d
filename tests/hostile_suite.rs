//! Hostile suite files and data through the `run` CLI: each mistake is refused with the suite's
//! `file:line:column`, a message naming the field or file (and the data file's line), exit code 2,
//! no panic, and nothing written (no output folder, no results.json), with `--dry-run` and without.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_squeezebench"))
}

/// A tokenizer.json that parses: word level over a few words.
const TOKENIZER: &str = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
  "decoder": null, "model": {"type": "WordLevel", "vocab": {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3}, "unk_token": "[UNK]"}}"#;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = common::scratch(name);
        std::fs::write(dir.path().join("tokenizer.json"), TOKENIZER).unwrap();
        std::fs::write(dir.path().join("cls.tsv"), "1\tgood\n0\tbad\n").unwrap();
        Dir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.path().join(name), bytes).unwrap();
    }

    /// Writes `yaml` as `s.yaml`, runs it with `--dry-run` and for real, and checks both are
    /// refused the same way: exit 2, no panic, no output folder. Returns stderr, whose every
    /// `expect` must appear (`{file}` stands for the suite's path).
    fn refused(&self, yaml: impl AsRef<[u8]>, expect: &[&str]) -> String {
        let suite = self.path().join("s.yaml");
        std::fs::write(&suite, yaml).unwrap();
        let file = suite.display().to_string();
        let out_dir = self.path().join("out");
        let mut first = None;
        for dry in [true, false] {
            let mut c = bin();
            c.args(["run", &file, "--no-progress", "--cache-dir"]).arg(self.path().join("cache")).arg("--out").arg(&out_dir);
            if dry {
                c.arg("--dry-run");
            }
            let o: Output = c.output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(2), "dry-run {dry}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(o.stdout.is_empty(), "nothing listed or run: {}", String::from_utf8_lossy(&o.stdout));
            assert!(!out_dir.exists(), "nothing written (dry-run {dry})");
            for e in expect {
                let e = e.replace("{file}", &file).replace("{dir}", &self.path().display().to_string());
                assert!(stderr.contains(&e), "expected {e:?} in:\n{stderr}");
            }
            match &first {
                None => first = Some(stderr),
                Some(f) => assert_eq!(f, &stderr, "--dry-run and run refuse alike"),
            }
        }
        first.unwrap()
    }
}

fn tiny() -> PathBuf {
    common::fixtures().join("bert-tiny.onnx")
}

#[test]
fn unknown_keys_are_refused_at_their_place_with_a_hint() {
    let d = Dir::new("hs-keys");
    d.refused("modles:\n  m: {path: a.onnx}\n", &["{file}:1:1: unknown field `modles`", "hint: did you mean `models`?"]);
    d.refused(
        "models:\n  m:\n    path: a.onnx\n    tokeniser: t.json\n",
        &["{file}:4:5: unknown field `tokeniser`", "  |     tokeniser: t.json\n  |     ^", "did you mean `tokenizer`?"],
    );
    d.refused("models:\n  m: {path: a.onnx}\nworkloads: {batch: [1], sq: [8]}\n", &["{file}:3:25: unknown field `sq`", "did you mean `seq`?"]);
}

#[test]
fn wrong_types_are_refused_at_their_place() {
    let d = Dir::new("hs-types");
    d.refused("models:\n  m: {path: a.onnx}\nworkloads:\n  batch: [1, two]\n", &["{file}:4:14: invalid u64", "hint: expected a whole number"]);
    d.refused("models:\n  m: {path: a.onnx}\nrun: {warmup: -3}\n", &["{file}:3:15: invalid", "expected a whole number"]);
    d.refused("models:\n  m: {path: a.onnx}\nrun: {min_time_s: fast}\n", &["{file}:3:19: invalid floating point", "hint: expected a number"]);
    d.refused("models: [a.onnx, b.onnx]\n", &["{file}:1:9: expected mapping start", "hint: a map (`key: value` lines, or `{key: value}`) is needed here"]);
    d.refused("models:\n  m: {synth: {arch: gpt}}\n", &["{file}:2:21: unknown variant `gpt`", "valid here: bert, squeezebert"]);
    d.refused("- just\n- a list\n", &["{file}:1:1: expected mapping start"]);
        d.refused("models:\n  m: {path: a.onnx, accuracy: d}\n", &["{file}:2:31: expected sequence", "hint: a list"]);
}

#[test]
fn empty_and_non_utf8_suite_files_are_refused() {
    let d = Dir::new("hs-file");
    d.refused("", &["{file}:"]);
    d.refused("name: x\n", &["{file}:1:1: missing field `models`"]);
    d.refused("models: {}\n", &["{file}:0:0: the suite has no models"]);
    d.refused(b"models:\n  m: {path: caf\xe9.onnx}\n".as_slice(), &["{file}:2:16: not UTF-8 text (byte 0xe9)", "hint: save the file as UTF-8"]);
    // A YAML "billion laughs" (10^9 nodes from aliases of aliases) in a quantize step's options.
    // No key of a suite takes an arbitrary value (quantize options are typed), so the bomb is
    // refused at its first value, which has the wrong shape, before any alias is expanded.
    let mut bomb = String::from("models:\n  m: {path: x}\nvariants:\n  a: {steps: [{quantize: &a [x, x, x, x, x, x, x, x, x, x]}]}\n");
    for k in 1..9u8 {
        let (prev, cur) = ((b'a' + k - 1) as char, (b'a' + k) as char);
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("  {cur}: {{steps: [{{quantize: &{cur} [{refs}]}}]}}\n"));
    }
    let e = d.refused(bomb, &["{file}:4:29: expected mapping start", "hint: a map"]);
    assert!(e.lines().count() < 20, "{e}");
}

#[test]
fn duplicate_model_and_variant_names_are_refused() {
    let d = Dir::new("hs-dup");
    d.refused("models:\n  m: {path: a.onnx}\n  m: {path: b.onnx}\n", &["{file}:3:3: duplicate mapping key"]);
    d.refused(
        "models:\n  m: {path: a.onnx}\nvariants:\n  fp32: {reference: true}\n  fp32: {steps: [{rewrite: default}]}\n",
        &["{file}:5:3: duplicate mapping key"],
    );
}

#[test]
fn a_reference_variant_missing_or_doubled_is_refused() {
    let d = Dir::new("hs-ref");
    d.refused(
        "models:\n  m: {path: a.onnx}\nvariants:\n  a: {reference: true}\n  b: {reference: true}\n",
        &["{file}:5:6: more than one variant has `reference: true`", "hint: mark one variant as the reference"],
    );
    // Two variants with steps and no reference: fidelity has nothing to compare with.
    d.refused(
        "models:\n  m: {path: a.onnx}\nvariants:\n  opt: {steps: [{rewrite: default}]}\n  fused: {steps: [{rewrite: 'default,gelu-fusion'}]}\n",
        &["{file}:4:8: model 'm' has no reference variant to measure the fidelity of opt, fused against: no variant is marked `reference: true`",
          "hint: mark the variant to compare with"],
    );
    // A reference limited to another model.
    d.refused(
        "models:\n  m: {path: a.onnx}\n  n: {path: b.onnx}\nvariants:\n  fp32: {reference: true, models: [m]}\n  opt: {steps: [{rewrite: default}]}\n",
        &["{file}:6:8: model 'n' has no reference variant to measure the fidelity of opt against: the reference variant does not apply to it"],
    );
    // Without fidelity in the metrics, no reference is needed.
    let s = d.path().join("ok.yaml");
    std::fs::write(&s, format!("models:\n  m: {{path: {}}}\nvariants:\n  opt: {{steps: [{{rewrite: default}}]}}\nmetrics: [latency]\n", tiny().display())).unwrap();
    let o = bin().args(["run", s.to_str().unwrap(), "--dry-run"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn missing_files_are_refused_naming_the_field_and_the_file() {
    let d = Dir::new("hs-missing");
    let t = tiny().display().to_string();
    d.refused("models:\n  m:\n    path: nowhere.onnx\n", &["{file}:3:11: model 'm': file '{dir}/nowhere.onnx' does not exist"]);
    d.refused("models:\n  m: {path: .}\n", &["{file}:2:13: model 'm': '{dir}/.' is a folder, not a file"]);
    d.refused(
        "models:\n  m: {safetensors: {arch: bert, weights: w.safetensors, config: c.json}}\n",
        &["{file}:2:42: model 'm': file '{dir}/w.safetensors' does not exist", "{file}:2:65: model 'm': file '{dir}/c.json' does not exist"],
    );
    d.refused(
        format!("models:\n  m: {{path: {t}, tokenizer: tok.json, accuracy: [cls]}}\ndatasets:\n  cls: {{classification: {{path: cls.tsv, format: tsv}}}}\n"),
        &["model 'm': tokenizer file '{dir}/tok.json' does not exist"],
    );
    d.refused(
        format!("models:\n  m: {{path: {t}}}\ndatasets:\n  cls:\n    classification: {{path: gone.tsv, format: tsv}}\n"),
        &["{file}:5:28: dataset 'cls': file '{dir}/gone.tsv' does not exist"],
    );
}

/// A suite with bert-tiny (3 classes, 128 positions) scored on `data` as `format`.
fn with_data(kind: &str, format: &str, extra: &str) -> String {
    format!(
        "models:\n  m: {{path: {}, tokenizer: tokenizer.json, accuracy: [d]}}\ndatasets:\n  d:\n    {kind}: {{path: data.txt, format: {format}{extra}}}\n",
        tiny().display()
    )
}

#[test]
fn empty_datasets_are_refused() {
    let d = Dir::new("hs-empty");
    d.write("data.txt", "");
    d.refused(with_data("classification", "tsv", ""), &["{file}:5:28: dataset 'd': '{dir}/data.txt' has no examples (after the header and empty lines)"]);
    d.write("data.txt", "s1,s2,score\n\n   \n");
    d.refused(with_data("sentence_pairs", "csv", ", header: true"), &["dataset 'd': '{dir}/data.txt' has no examples"]);
    d.write("data.txt", "1\tgood\n");
    d.refused(with_data("classification", "tsv", ", limit: 0"), &["{file}:5:5: dataset 'd': limit must be at least 1"]);
}

#[test]
fn labels_out_of_range_are_refused_naming_the_line() {
    let d = Dir::new("hs-labels");
    // bert-tiny's logits are [batch, 3].
    d.write("data.txt", "1\tgood\n2\tbad\n7\tgood bad\n");
    d.refused(
        with_data("classification", "tsv", ""),
        &["{file}:2:", "model 'm': dataset 'd': '{dir}/data.txt' line 3: label 7 is out of range: the model has 3 class(es), 0..=2"],
    );
    // A synthesized model's classes come from its head.
    d.write("data.txt", "0 good\n2 bad\n");
    d.refused(
        "models:\n  s:\n    synth: {arch: bert, head: 'classification:2', set: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}}\n    tokenizer: tokenizer.json\n    accuracy: [d]\ndatasets:\n  d: {classification: {path: data.txt, format: space}}\n",
        &["{file}:5:16: model 's': dataset 'd': '{dir}/data.txt' line 2: label 2 is out of range: the model has 2 class(es), 0..=1"],
    );
    d.write("data.txt", "1\tgood\n-1\tbad\n");
    d.refused(with_data("classification", "tsv", ""), &["{file}:5:28: dataset 'd': '{dir}/data.txt' line 2: label '-1' is not a class number (0, 1, ...)"]);
}

#[test]
fn non_utf8_data_and_tokenizer_files_are_refused_at_the_byte() {
    let d = Dir::new("hs-utf8");
    d.write("data.txt", b"1\tgood\n0\tna\xefve\n".as_slice());
    d.refused(with_data("classification", "tsv", ""), &["dataset 'd': '{dir}/data.txt' line 2: column 5: not UTF-8 text (byte 0xef)"]);
    d.write("data.txt", "1\tgood\n");
    d.write("tokenizer.json", b"{\"version\": \"1.0\xff\"}".as_slice());
    d.refused(with_data("classification", "tsv", ""), &["model 'm': '{dir}/tokenizer.json' line 1: column 17: not UTF-8 text (byte 0xff)"]);
}

#[test]
fn a_tokenizer_that_does_not_parse_is_refused_with_its_line_and_column() {
    let d = Dir::new("hs-tok");
    d.write("data.txt", "1\tgood\n");
    d.write("tokenizer.json", "{\"version\": \"1.0\",\n  \"model\": {\"type\": \"WordLevel\", \"vocab\": [}\n");
    d.refused(
        with_data("classification", "tsv", ""),
        &["{file}:2:", "model 'm': tokenizer '{dir}/tokenizer.json': not a tokenizer.json: expected value at line 2 column 44"],
    );
    d.write("tokenizer.json", "[1, 2, 3]");
    d.refused(with_data("classification", "tsv", ""), &["model 'm': tokenizer '{dir}/tokenizer.json': not a tokenizer.json: invalid type: sequence"]);
}

#[test]
fn malformed_csv_and_tsv_rows_are_refused_naming_the_line() {
    let d = Dir::new("hs-rows");
    d.write("data.txt", "a,b,4.5\nc,d,3.0,extra\n");
    d.refused(with_data("sentence_pairs", "csv", ""), &["dataset 'd': '{dir}/data.txt' line 2: has 4 field(s), line 1 has 3"]);
    d.write("data.txt", "a,b,4.5\nc,d,high\n");
    d.refused(with_data("sentence_pairs", "csv", ""), &["dataset 'd': '{dir}/data.txt' line 2: score 'high' is not a number"]);
    d.write("data.txt", "a,b,4.5\n\"c, d,1.0\n");
    d.refused(with_data("sentence_pairs", "csv", ""), &["dataset 'd': '{dir}/data.txt' line 2: a quoted field is not closed on its line"]);
    d.write("data.txt", "1\tgood\n0\tbad\tworse\n");
    d.refused(with_data("classification", "tsv", ""), &["dataset 'd': '{dir}/data.txt' line 2: has 3 field(s), line 1 has 2"]);
    d.write("data.txt", "1\tgood\n0\tbad\n");
    d.refused(with_data("classification", "tsv", ", text_column: 4"), &["dataset 'd': '{dir}/data.txt' line 1: has 2 field(s), column 4 was asked for"]);
}

#[test]
fn bad_workloads_are_refused() {
    let d = Dir::new("hs-work");
    let t = tiny().display().to_string();
    d.refused(format!("models:\n  m: {{path: {t}}}\nworkloads:\n  batch: [1, 0]\n"), &["{file}:4:10: workloads: `batch` needs at least one value, each at least 1 (got [1, 0])"]);
    d.refused(format!("models:\n  m: {{path: {t}}}\nworkloads:\n  seq: []\n"), &["{file}:4:8: workloads: `seq` needs at least one value"]);
    // bert-tiny's position table has 128 rows.
    d.refused(
        format!("models:\n  m: {{path: {t}}}\nworkloads:\n  seq: [64, 256]\n"),
        &["{file}:4:8: workloads: seq 256 is longer than model 'm' reads (128 positions)", "hint: use seq values up to 128"],
    );
    // A synthesized model's from its config.
    d.refused(
        "models:\n  s: {synth: {arch: squeezebert, set: {max_position_embeddings: 32}}}\nworkloads: {seq: [16, 64]}\n",
        &["{file}:3:18: workloads: seq 64 is longer than model 's' reads (32 positions)"],
    );
}

#[test]
fn run_settings_thresholds_and_sizes_out_of_range_are_refused() {
    let d = Dir::new("hs-range");
    let head = format!("models:\n  m: {{path: {}}}\n", tiny().display());
    // Found by the suite fuzz target: an infinite max_time_s passed and became JSON null.
    d.refused(format!("{head}run: {{max_time_s: .inf}}\n"), &["{file}:3:6: run: max_time_s must be at least min_time_s, at most 604800 (a week)"]);
    d.refused(format!("{head}run: {{time_limit_s: 1e300}}\n"), &["{file}:3:6: run: time_limit_s must be above 0, at most 604800 (a week)"]);
    d.refused(format!("{head}run: {{target_cv: 0}}\n"), &["{file}:3:6: run: target_cv must be above 0"]);
    d.refused(format!("{head}thresholds: {{accuracy_drop: -1, fidelity_min_cosine: 2}}\n"), &[
        "{file}:3:13: thresholds: accuracy_drop must be a number, 0 or more (got -1)",
        "{file}:3:13: thresholds: fidelity_min_cosine must lie in [-1, 1] (got 2)",
    ]);
    d.refused(format!("{head}thresholds: {{size_increase: .nan}}\n"), &["thresholds: size_increase must be a number, 0 or more (got NaN)"]);
    let many: Vec<String> = (1..=101).map(|k| k.to_string()).collect();
    d.refused(
        format!("{head}workloads: {{batch: [{}], seq: [{}], threads: [1, 2]}}\n", many.join(", "), many[..50].join(", ")),
        &["{file}:3:12: the suite expands to 10100 cases (models × variants × batch × seq × threads), past the limit of 10000", "hint: split it into smaller suites"],
    );
    d.refused(format!("{head}workloads: {{batch: [100000], seq: [64]}}\n"), &["{file}:3:20: workloads: batch 100000 × seq 64 is 6400000 tokens per run, past the limit of 4194304"]);
    d.refused(format!("{head}workloads: {{threads: [100000]}}\n"), &["{file}:3:12: workloads: `threads` values must be at most 1024"]);
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let d = Dir::new("hs-all");
    d.write("data.txt", "1\tgood\nx\tbad\n");
    let e = d.refused(
        format!(
            "models:\n  m: {{path: {}, tokenizer: missing.json, accuracy: [d]}}\n  n: {{path: none.onnx}}\ndatasets:\n  d: {{classification: {{path: data.txt, format: tsv}}}}\nworkloads: {{seq: [512]}}\n",
            tiny().display()
        ),
        &[],
    );
    let lines: Vec<&str> = e.lines().filter(|l| l.contains("s.yaml:") && !l.contains(": warning:")).collect();
    assert_eq!(lines.len(), 4, "{e}");
    assert!(lines[0].contains(":2:") && lines[0].contains("tokenizer file"), "{e}");
    assert!(lines[1].contains(":3:") && lines[1].contains("none.onnx"), "{e}");
    assert!(lines[2].contains(":5:") && lines[2].contains("label 'x'"), "{e}");
    assert!(lines[3].contains(":6:") && lines[3].contains("seq 512"), "{e}");
}

/// A suite's `name:` names the default output folder `runs/<name>`; a name that is a path
/// (`../../escaped`, `/abs/victim`) is made one plain folder name, so nothing is written outside
/// `runs/` (the victim folder keeps its files), as baseline folders are named.
#[test]
fn a_suite_name_cannot_place_the_run_outside_the_runs_folder() {
    let d = Dir::new("hs-name");
    let cwd = d.path().join("a/b");
    let victim = d.path().join("victim");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("results.json"), "precious").unwrap();
    let cases = [("../../escaped", "_.._escaped"), (victim.to_str().unwrap(), &victim.display().to_string().replace('/', "_")[..]), ("..", "_")];
    for (name, folder) in cases {
        let yaml = format!(
            "name: \"{name}\"\nmodels:\n  m: {{path: {}}}\nworkloads: {{batch: [1], seq: [8], threads: [1]}}\nmetrics: [params]\n",
            tiny().display()
        );
        std::fs::write(cwd.join("s.yaml"), yaml).unwrap();
        let o = bin().args(["run", "s.yaml", "--no-progress", "--cache-dir", "cache"]).current_dir(&cwd).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{name}: {stderr}");
        let out = cwd.join("runs").join(folder);
        assert!(out.join("results.json").is_file() && out.join("report.md").is_file(), "{name}: written to {}", out.display());
        let mut entries: Vec<String> = std::fs::read_dir(&cwd).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        entries.sort();
        assert_eq!(entries, ["runs", "s.yaml"], "{name}: nothing else beside the suite");
    }
    assert!(!d.path().join("escaped").exists() && !d.path().join("a/escaped").exists());
    let victim_files: Vec<_> = std::fs::read_dir(&victim).unwrap().collect();
    assert_eq!(victim_files.len(), 1, "nothing written into the victim folder");
    assert_eq!(std::fs::read_to_string(victim.join("results.json")).unwrap(), "precious");
}

/// STS data whose scores are all equal, or a single pair, cannot be scored by Spearman (it is
/// undefined): refused as a mistake of the data before anything runs, not a worker that ends
/// without a result (recorded as a crash).
#[test]
fn sentence_pairs_with_constant_scores_are_refused() {
    let d = Dir::new("hs-sts");
    d.write("data.txt", "good,bad,3.0\nbad,good,3.0\ngood,good,3\n");
    d.refused(
        with_data("sentence_pairs", "csv", ""),
        &["{file}:5:28: dataset 'd': '{dir}/data.txt': every score is 3 (3 pair(s)): the Spearman correlation is undefined on constant scores"],
    );
    d.write("data.txt", "good,bad,1.5\n");
    d.refused(with_data("sentence_pairs", "csv", ""), &["dataset 'd': '{dir}/data.txt': every score is 1.5 (1 pair(s)): the Spearman"]);
    d.write("data.txt", "good,bad,1.5\nbad,good,1.5\ngood,good,5\n");
    d.refused(with_data("sentence_pairs", "csv", ", limit: 2"), &["every score is 1.5 (2 pair(s) within limit 2)"]);
}

/// A text longer than the model reads (200 words; bert-tiny has 128 positions) is cut to the
/// workload's `seq` as the tokenizer's truncation cuts it, and said so in results.json and
/// report.md and report.html, instead of failing the case inside ONNX Runtime; a line past the documented limit
/// (64 KiB) is refused naming its file and line, before anything runs.
#[test]
fn long_texts_are_truncated_to_seq_and_overlong_lines_refused() {
    let d = Dir::new("hs-long");
    common::write_text_data(d.path(), 20);
    let long = vec!["good"; 200].join(" ");
    let cls = std::fs::read_to_string(d.path().join("cls.tsv")).unwrap();
    d.write("long.tsv", format!("{cls}\n1\t{long}\n"));
    let suite = format!(
        "models:\n  m: {{path: {}, tokenizer: tokenizer.json, accuracy: [d]}}\ndatasets:\n  d: {{classification: {{path: long.tsv, format: tsv}}}}\n\
         workloads: {{batch: [1], seq: [16], threads: [1]}}\nmetrics: [params, accuracy]\n",
        tiny().display()
    );
    d.write("s.yaml", &suite);
    let o = bin().args(["run", "s.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"]).current_dir(d.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r = squeezebench::results::Results::load(&d.path().join("out/results.json")).unwrap();
    let a = &r.cases[0].accuracy[0];
    assert_eq!((a.examples, a.max_tokens, a.truncated), (21, Some(16), 1), "{a:?}");
    let md = std::fs::read_to_string(d.path().join("out/report.md")).unwrap();
    assert!(md.contains("- `m/original/b1-s16-t1` on d: 1 text(s) cut to 16 tokens"), "{md}");
    let html = std::fs::read_to_string(d.path().join("out/report.html")).unwrap();
    assert!(html.contains("<li><code>m/original/b1-s16-t1</code> on d: 1 text(s) cut to 16 tokens"), "the HTML report says it too");

    std::fs::remove_dir_all(d.path().join("out")).unwrap();
    d.write("long.tsv", format!("{cls}\n1\t{}\n", "word ".repeat(20_000)));
    d.refused(suite, &["dataset 'd': '{dir}/long.tsv' line 21: is 100002 bytes long, past the limit of 65536 bytes a line"]);
}

/// A cache folder that cannot be written (a read-only file system, or here a file where the
/// folder should be) is named in the error of what could not be cached, not just "Read-only file
/// system (os error 30)".
#[test]
fn an_unwritable_cache_folder_is_named() {
    let d = Dir::new("hs-cache");
    d.write("cache", "a file, not a folder");
    d.write(
        "s.yaml",
        "models:\n  s: {synth: {arch: bert, set: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}}}\n\
         workloads: {batch: [1], seq: [8], threads: [1]}\nmetrics: [params]\n",
    );
    let o = bin().args(["run", "s.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"]).current_dir(d.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    let r = squeezebench::results::Results::load(&d.path().join("out/results.json")).unwrap();
    let e = r.models[0].error.as_deref().unwrap_or_default();
    assert!(e.contains("cannot create the cache folder 'cache/models' (--cache-dir): "), "{e}");
}
