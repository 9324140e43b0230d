//! Load → save of one model: wall time per phase and peak resident memory, and a byte-for-byte
//! comparison of the output with the input.
//!
//! Usage: `cargo bench --bench load_save -- MODEL.onnx [RUNS]` (default 5 runs; the median is
//! reported). The acceptance target for a 438 MB BERT-base export is under 1 s for load + save,
//! with peak RSS under 1.5× the file size. Peak RSS is VmHWM from /proc/self/status, reset between
//! runs through /proc/self/clear_refs, so each run is measured on its own.

use std::path::PathBuf;
use std::time::Instant;

use squeezebench::onnx::{Model, SaveOptions};

fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some(model) = args.first().map(PathBuf::from) else {
        eprintln!("usage: cargo bench --bench load_save -- MODEL.onnx [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let original = std::fs::read(&model).expect("read the model");
    let size = original.len() as f64;
    drop(original);
    let dir = tempfile::tempdir_in(model.parent().unwrap_or(std::path::Path::new("."))).expect("temp dir");
    let out = dir.path().join("roundtrip.onnx");

    let mut rows = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_file(&out);
        reset_peak();
        let base = status_kib("VmRSS:").unwrap_or(0);
        let t0 = Instant::now();
        let m = Model::load(&model).expect("load");
        let t1 = Instant::now();
        m.save(&out, &SaveOptions::default()).expect("save");
        let t2 = Instant::now();
        drop(m);
        let peak = status_kib("VmHWM:").unwrap_or(0);
        rows.push(((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), (peak.saturating_sub(base) * 1024) as f64));
    }
    let identical = std::fs::read(&out).expect("read output") == std::fs::read(&model).expect("read input");
    rows.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
    let (load, save, peak) = rows[rows.len() / 2];
    let max_peak = rows.iter().map(|r| r.2).fold(0.0, f64::max);
    println!("model            {} ({:.1} MB)", model.display(), size / 1e6);
    println!("runs             {runs} (median by total time)");
    println!("load             {:.3} s", load);
    println!("save             {:.3} s (written to a temp file, fsynced, renamed)", save);
    println!("load + save      {:.3} s", load + save);
    println!("peak RSS         {:.1} MB = {:.2}x the file (max over runs {:.2}x)", peak / 1e6, peak / size, max_peak / size);
    println!("byte-identical   {identical}");
    if !identical {
        std::process::exit(1);
    }
}
