//! The long fuzzing run (the bounded one is `tests/fuzz.rs`):
//!
//! `cargo run --profile test --example fuzz -- onnx|suite|results|thresholds [--execs N] [--seconds S] [--seed K]`
//!
//! The test profile keeps overflow checks and debug assertions on, so arithmetic overflow is a
//! crash too. Seeds: for `onnx`, the committed fixtures plus the onnx wheel's test models when the
//! test suite has fetched them (target/tmp/onnx-*-test-data); for `suite`, suites/*.yaml and
//! fuzz/seeds/suite/*.yaml; for `results`, the hand-built results document of the tests
//! (tests/results_sample, 20 samples per case); for `thresholds`, fuzz/seeds/thresholds/*.yaml
//! (judged on that results document). Crashing inputs are written to
//! target/fuzz-crashes/; the exit code is 1 when there is any.

use std::path::{Path, PathBuf};
use std::time::Duration;

use squeezebench::fuzz::{self, Campaign, CountingAlloc};

#[path = "../tests/results_sample/mod.rs"]
mod results_sample;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn files(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, suffix, out);
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<u64>().ok());
    let target_name = args.first().map(String::as_str).unwrap_or("onnx");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let campaign = Campaign {
        execs: flag("--execs").unwrap_or(1_000_000),
        time: Duration::from_secs(flag("--seconds").unwrap_or(24 * 3600)),
        seed: flag("--seed").unwrap_or(1),
        ..Default::default()
    };
    let scratch = std::env::temp_dir().join(format!("squeezebench-fuzz-{}", std::process::id()));
    let (target, seeds) = match target_name {
        "onnx" => {
            let sandbox = fuzz::onnx_sandbox(&scratch).expect("create the sandbox folder");
            let mut paths = vec![root.join("fixtures/bert-tiny.onnx"), root.join("fixtures/squeezebert-tiny.onnx")];
            if let Ok(entries) = std::fs::read_dir(root.join("target/tmp")) {
                for e in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("onnx-")) {
                    files(&e.path(), ".onnx", &mut paths);
                }
            }
            let seeds: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
            (fuzz::onnx_target(sandbox), seeds)
        }
        "suite" => {
            let sandbox = fuzz::suite_sandbox(&scratch).expect("create the sandbox folder");
            let mut paths = Vec::new();
            files(&root.join("suites"), ".yaml", &mut paths);
            files(&root.join("fuzz/seeds/suite"), ".yaml", &mut paths);
            let seeds: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
            (fuzz::suite_target(sandbox), seeds)
        }
        "results" => {
            (fuzz::results_target(), vec![results_sample::with_samples(20).to_json().into_bytes()])
        }
        "thresholds" => {
            let mut paths = Vec::new();
            files(&root.join("fuzz/seeds/thresholds"), ".yaml", &mut paths);
            let seeds: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
            (fuzz::thresholds_target(results_sample::baseline()), seeds)
        }
        other => {
            eprintln!("unknown target '{other}' (known: onnx, suite, results, thresholds)");
            std::process::exit(2);
        }
    };
    eprintln!("fuzz {}: {} seeds, campaign {:?}", target.name, seeds.len(), campaign);
    let out = fuzz::run(&target, seeds, &campaign, &mut |o| {
        eprintln!("  {} execs, {} crashes, {} signatures, corpus {}, {:.0?}", o.execs, o.crashes.len(), o.signatures, o.corpus, o.elapsed);
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let crash_dir = root.join("target/fuzz-crashes");
    for (i, c) in out.crashes.iter().enumerate() {
        let _ = std::fs::create_dir_all(&crash_dir);
        let path = crash_dir.join(format!("{}-{i}.bin", target.name));
        let _ = std::fs::write(&path, &c.input);
        eprintln!("crash {i}: {} -> {}", c.message, path.display());
    }
    println!(
        "fuzz {}: {} executions in {:.1?} ({:.0}/s), {} crashes, {} signatures, corpus {}",
        target.name,
        out.execs,
        out.elapsed,
        out.execs as f64 / out.elapsed.as_secs_f64(),
        out.crashes.len(),
        out.signatures,
        out.corpus
    );
    std::process::exit(if out.crashes.is_empty() { 0 } else { 1 });
}
