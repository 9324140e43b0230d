//! A short, bounded fuzzing campaign per target (seconds, so CI runs it): seeds from the
//! fixtures and the onnx wheel's test models (ONNX target), from suites/ and fuzz/seeds/suite/
//! (suite target), structure-aware and byte mutations, a fixed RNG seed so a failure reproduces. Panics and allocations the input does not justify are crashes.
//! The long run is `cargo run --profile test --example fuzz` (README, "Fuzzing").

mod common;
mod results_sample;

use std::fs;
use std::time::Duration;

use squeezebench::fuzz::{self, Campaign, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn onnx_seeds() -> Vec<Vec<u8>> {
    let mut paths = vec![common::fixtures().join("bert-tiny.onnx"), common::fixtures().join("squeezebert-tiny.onnx")];
    paths.extend(common::files_with_suffix(common::onnx_test_data(), ".onnx"));
    paths.iter().map(|p| fs::read(p).unwrap()).collect()
}

#[test]
fn onnx_loader_check_inspect_and_passes_survive_a_bounded_campaign() {
    let dir = common::scratch("fuzz-onnx");
    let sandbox = fuzz::onnx_sandbox(dir.path()).unwrap();
    let target = fuzz::onnx_target(sandbox);
    let campaign = Campaign { time: Duration::from_secs(8), seed: 7, ..Default::default() };
    let out = fuzz::run(&target, onnx_seeds(), &campaign, &mut |_| {});
    assert!(CountingAlloc::installed());
    let report: Vec<String> = out.crashes.iter().map(|c| format!("{} ({} bytes)", c.message, c.input.len())).collect();
    assert!(out.crashes.is_empty(), "{} crashes in {} executions:\n{}", out.crashes.len(), out.execs, report.join("\n"));
    assert!(out.execs > 500, "only {} executions", out.execs);
    eprintln!("onnx: {} executions, {} signatures, corpus {}, {:?}", out.execs, out.signatures, out.corpus, out.elapsed);
}

/// The suite files of suites/ and fuzz/seeds/suite/.
fn suite_seeds() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = common::files_with_suffix(&root.join("suites"), ".yaml");
    paths.extend(common::files_with_suffix(&root.join("fuzz/seeds/suite"), ".yaml"));
    assert!(paths.len() >= 6, "{paths:?}");
    paths.iter().map(|p| fs::read(p).unwrap()).collect()
}

#[test]
fn suite_parser_validation_and_preflight_survive_a_bounded_campaign() {
    let dir = common::scratch("fuzz-suite");
    let target = fuzz::suite_target(fuzz::suite_sandbox(dir.path()).unwrap());
    let campaign = Campaign { time: Duration::from_secs(4), seed: 7, alloc_slack: 16 << 20, ..Default::default() };
    let out = fuzz::run(&target, suite_seeds(), &campaign, &mut |_| {});
    let report: Vec<String> = out.crashes.iter().map(|c| format!("{} ({:?})", c.message, String::from_utf8_lossy(&c.input))).collect();
    assert!(out.crashes.is_empty(), "{} crashes in {} executions:\n{}", out.crashes.len(), out.execs, report.join("\n"));
    assert!(out.execs > 500, "only {} executions", out.execs);
    assert!(out.signatures > 20, "the mutations reach {} outcomes only", out.signatures);
    eprintln!("suite: {} executions, {} signatures, corpus {}, {:?}", out.execs, out.signatures, out.corpus, out.elapsed);
}

/// results.json as `gate` and `report` read it: the hand-built sample (with fewer samples, so an
/// execution is fast), mutated leaf by leaf.
#[test]
fn results_reader_gate_and_report_survive_a_bounded_campaign() {
    let seeds = vec![results_sample::with_samples(20).to_json().into_bytes()];
    let campaign = Campaign { time: Duration::from_secs(4), seed: 7, ..Default::default() };
    let out = fuzz::run(&fuzz::results_target(), seeds, &campaign, &mut |_| {});
    let report: Vec<String> = out.crashes.iter().map(|c| format!("{} ({} bytes)", c.message, c.input.len())).collect();
    assert!(out.crashes.is_empty(), "{} crashes in {} executions:\n{}", out.crashes.len(), out.execs, report.join("\n"));
    assert!(out.execs > 200 && out.signatures > 10, "{} executions, {} signatures", out.execs, out.signatures);
    eprintln!("results: {} executions, {} signatures, corpus {}, {:?}", out.execs, out.signatures, out.corpus, out.elapsed);
}

/// Thresholds files as `gate --thresholds` reads them, judged on the sample results.
#[test]
fn thresholds_and_the_gate_survive_a_bounded_campaign() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds: Vec<Vec<u8>> = common::files_with_suffix(&root.join("fuzz/seeds/thresholds"), ".yaml").iter().map(|p| fs::read(p).unwrap()).collect();
    assert!(seeds.len() >= 2);
    let campaign = Campaign { time: Duration::from_secs(3), seed: 7, ..Default::default() };
    let out = fuzz::run(&fuzz::thresholds_target(results_sample::baseline()), seeds, &campaign, &mut |_| {});
    let report: Vec<String> = out.crashes.iter().map(|c| format!("{} ({:?})", c.message, String::from_utf8_lossy(&c.input))).collect();
    assert!(out.crashes.is_empty(), "{} crashes in {} executions:\n{}", out.crashes.len(), out.execs, report.join("\n"));
    assert!(out.execs > 500 && out.signatures > 10, "{} executions, {} signatures", out.execs, out.signatures);
    eprintln!("thresholds: {} executions, {} signatures, corpus {}, {:?}", out.execs, out.signatures, out.corpus, out.elapsed);
}
