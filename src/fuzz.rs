//! A fuzzing harness that runs on the stable toolchain: fuzz targets (the ONNX loader with the
//! structural check, statistics, shape inference and the default passes behind it; the suite
//! parser with validation, expansion and the pre-run checks behind it), mutators mixing
//! structure-aware edits ([`crate::onnx::mutate`], [`mutate_yaml`]) with byte mutations, and a
//! campaign loop where a panic is a crash and so is an allocation the input does not justify.
//!
//! Without compiler coverage instrumentation on stable, the feedback is the *outcome signature* a
//! target returns (which error, which problems, how far it got): an input that reaches a new
//! signature joins the corpus. `cargo test` runs a short bounded campaign; the long run is
//! `cargo run --profile test --example fuzz` (see the README for the figures).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::onnx::{check, mutate, shapes, stats, Model};
use crate::passes;

/// A global allocator that counts live bytes and their peak, so a campaign can tell how much one
/// execution allocated. Install it in the fuzzing binary:
/// `#[global_allocator] static A: squeezebench::fuzz::CountingAlloc = squeezebench::fuzz::CountingAlloc;`
/// A single request past [`CountingAlloc::HARD_LIMIT`] is refused, which aborts the process with
/// a message instead of letting the machine swap.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

impl CountingAlloc {
    /// The largest single allocation allowed while fuzzing (1 GiB; the seeds are a few MB).
    pub const HARD_LIMIT: usize = 1 << 30;

    /// Resets the peak to the live figure and returns it.
    pub fn reset_peak() -> usize {
        let live = LIVE.load(Ordering::Relaxed);
        PEAK.store(live, Ordering::Relaxed);
        live
    }

    /// The highest live figure since the last reset.
    pub fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }

    /// Whether the binary installed this allocator.
    pub fn installed() -> bool {
        INSTALLED.load(Ordering::Relaxed)
    }

    fn grew(size: usize) {
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; only counts, or refuses (returns null) a request
// past the hard limit, which callers handle as allocation failure.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        if layout.size() > Self::HARD_LIMIT {
            use std::io::Write;
            let _ = std::io::stderr().write_all(b"fuzz: refused an allocation past CountingAlloc::HARD_LIMIT\n");
            return std::ptr::null_mut();
        }
        Self::grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > Self::HARD_LIMIT {
            use std::io::Write;
            let _ = std::io::stderr().write_all(b"fuzz: refused a reallocation past CountingAlloc::HARD_LIMIT\n");
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                Self::grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// A fuzz target: runs one input and returns its outcome signature. Panics are crashes.
pub struct Target {
    pub name: &'static str,
    pub run: Runner,
    /// A structure-aware mutator for this input format, if there is one.
    pub structured: Option<Mutator>,
}

/// Runs one input of a [`Target`] and returns its outcome signature.
pub(crate) type Runner = Box<dyn Fn(&[u8]) -> String + Send + Sync>;
/// A structure-aware mutator: a mutated copy of an input, or `None` when it cannot parse it.
pub(crate) type Mutator = fn(&[u8], &mut dyn RngCore) -> Option<Vec<u8>>;

/// Limits of a campaign.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// Stop after this many executions...
    pub execs: u64,
    /// ...or after this long, whichever comes first.
    pub time: Duration,
    pub seed: u64,
    /// Allocation allowed per execution beyond `alloc_factor` × the input size.
    pub alloc_slack: usize,
    pub alloc_factor: usize,
    /// Largest corpus kept (seeds included).
    pub max_corpus: usize,
}

impl Default for Campaign {
    fn default() -> Self {
        Campaign { execs: u64::MAX, time: Duration::from_secs(10), seed: 1, alloc_slack: 64 << 20, alloc_factor: 16, max_corpus: 2000 }
    }
}

/// A crash: the input and what happened.
#[derive(Clone, Debug)]
pub struct Crash {
    pub input: Vec<u8>,
    pub message: String,
}

/// What a campaign did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub execs: u64,
    pub crashes: Vec<Crash>,
    /// Distinct outcome signatures reached.
    pub signatures: usize,
    pub corpus: usize,
    pub elapsed: Duration,
}

/// Runs `target` on mutations of `seeds` until the campaign's limits; every panic and every
/// execution allocating more than the input justifies is a crash (the first 20 are kept).
/// `progress` is called about every ten seconds with the outcome so far.
pub fn run(target: &Target, seeds: Vec<Vec<u8>>, c: &Campaign, progress: &mut dyn FnMut(&Outcome)) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
    let mut corpus: Vec<Vec<u8>> = seeds;
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut seen = HashSet::new();
    let mut out = Outcome::default();
    let start = Instant::now();
    let mut last_report = start;
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        if let Some(l) = info.location() {
            PANIC_AT.with(|p| *p.borrow_mut() = format!("{}:{}", l.file(), l.line()));
        }
    }));
    let mut queue: Vec<Vec<u8>> = corpus.clone();
    while out.execs < c.execs && start.elapsed() < c.time {
        // Seeds run as they are first, then mutations of corpus entries.
        let input = match queue.pop() {
            Some(i) => i,
            None => mutate_input(target, &corpus, &mut rng),
        };
        let base = CountingAlloc::reset_peak();
        let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        let used = CountingAlloc::peak().saturating_sub(base);
        out.execs += 1;
        match result {
            Ok(sig) => {
                let budget = c.alloc_slack.saturating_add(c.alloc_factor.saturating_mul(input.len()));
                if CountingAlloc::installed() && used > budget {
                    push_crash(&mut out, &input, format!("allocated {used} bytes for a {}-byte input (budget {budget})", input.len()));
                } else if seen.insert(sig) && corpus.len() < c.max_corpus {
                    corpus.push(input);
                }
            }
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                let at = PANIC_AT.with(|p| p.borrow().clone());
                push_crash(&mut out, &input, format!("panic at {at}: {msg}"));
            }
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            out.signatures = seen.len();
            out.corpus = corpus.len();
            out.elapsed = start.elapsed();
            progress(&out);
        }
    }
    panic::set_hook(previous_hook);
    out.signatures = seen.len();
    out.corpus = corpus.len();
    out.elapsed = start.elapsed();
    out
}

thread_local! {
    /// Where the last panic on this thread happened (the hook records it, the campaign reports it).
    static PANIC_AT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn push_crash(out: &mut Outcome, input: &[u8], message: String) {
    if out.crashes.len() < 20 {
        out.crashes.push(Crash { input: input.to_vec(), message });
    } else if let Some(last) = out.crashes.last_mut() {
        last.message = format!("{} (and more crashes)", last.message.trim_end_matches(" (and more crashes)"));
    }
}

fn mutate_input(target: &Target, corpus: &[Vec<u8>], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let base = &corpus[rng.random_range(0..corpus.len())];
    let structured = target.structured.filter(|_| rng.random_bool(0.6)).and_then(|f| f(base, rng));
    let mut data = structured.unwrap_or_else(|| base.clone());
    if data == *base || rng.random_bool(0.2) {
        for _ in 0..rng.random_range(1..=4) {
            mutate_bytes(&mut data, corpus, rng);
        }
    }
    data
}

/// One byte-level mutation: bit flip, interesting byte, insert, delete, duplicate, varint,
/// splice with another corpus entry, or truncation.
pub(crate) fn mutate_bytes(data: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut dyn RngCore) {
    let len = data.len();
    let pos = |rng: &mut dyn RngCore, n: usize| if n == 0 { 0 } else { rng.random_range(0..n) };
    match rng.random_range(0..8) {
        0 if len > 0 => {
            let i = pos(rng, len);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = pos(rng, len);
            data[i] = [0, 1, 0x7f, 0x80, 0xff, 0x08, 0x12, 0x1a][rng.random_range(0..8)];
        }
        2 => {
            let i = pos(rng, len + 1);
            let n = rng.random_range(1..16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            data.splice(i..i, bytes);
        }
        3 if len > 0 => {
            let i = pos(rng, len);
            let n = rng.random_range(1..=(len - i).min(64));
            data.drain(i..i + n);
        }
        4 if len > 0 => {
            let i = pos(rng, len);
            let n = rng.random_range(1..=(len - i).min(64));
            let chunk = data[i..i + n].to_vec();
            let at = pos(rng, len + 1);
            data.splice(at..at, chunk);
        }
        5 => {
            // A varint with a hostile value (lengths, dims, enum codes).
            let v: u64 = [0, 1, 0x7f, 0x80, 0xffff_ffff, u64::MAX, 1 << 31, 1 << 40][rng.random_range(0..8)];
            let mut enc = Vec::new();
            let mut x = v;
            while x >= 0x80 {
                enc.push((x as u8) | 0x80);
                x >>= 7;
            }
            enc.push(x as u8);
            let i = pos(rng, len + 1);
            let end = (i + enc.len()).min(len);
            data.splice(i..end, enc);
        }
        6 if !corpus.is_empty() => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            if !other.is_empty() {
                let i = pos(rng, len + 1);
                let j = pos(rng, other.len());
                data.truncate(i);
                data.extend_from_slice(&other[j..]);
            }
        }
        _ => {
            let i = pos(rng, len + 1);
            data.truncate(i);
        }
    }
}

/// A folder for the ONNX target's external data: `data.bin` (64 KiB) inside, and `link.bin`, a
/// symbolic link to a file outside it.
pub fn onnx_sandbox(dir: &Path) -> std::io::Result<PathBuf> {
    let inner = dir.join("model");
    std::fs::create_dir_all(&inner)?;
    std::fs::write(inner.join("data.bin"), vec![0u8; 1 << 16])?;
    std::fs::write(dir.join("outside.bin"), vec![1u8; 1 << 16])?;
    #[cfg(unix)]
    {
        let link = inner.join("link.bin");
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(dir.join("outside.bin"), link)?;
        }
    }
    Ok(inner)
}

/// The ONNX target: load (external data resolved in `sandbox`), structural check, statistics and
/// shape inference; a sound model also goes through the default passes, after which it must still
/// be sound and must load back from its own encoding.
pub fn onnx_target(sandbox: PathBuf) -> Target {
    let run = move |data: &[u8]| -> String {
        let model = match Model::from_bytes(Bytes::copy_from_slice(data), "fuzz.onnx", &sandbox) {
            Ok(m) => m,
            Err(e) => return format!("load: {}", shape_of(&e.to_string())),
        };
        let problems = check::check(&model);
        let mut sig = String::from("loaded");
        for p in problems.iter().take(4) {
            sig.push_str(" | ");
            sig.push_str(&shape_of(&p.message));
        }
        match stats::inspect(&model, 2, 16) {
            Ok(report) => {
                let _ = stats::render_text(&report);
                sig.push_str(&format!(" | unresolved {}", report.compute.unresolved.len().min(3)));
            }
            Err(e) => sig.push_str(&format!(" | inspect: {}", shape_of(&e.to_string()))),
        }
        let bindings = shapes::Bindings { batch: Some(2), seq: Some(16), ..Default::default() };
        let _ = shapes::infer(&model, &bindings);
        if problems.is_empty() {
            let mut m = model.clone();
            let pipeline = passes::Pipeline::new(passes::parse_list("default").expect("the default list parses"));
            match pipeline.run(&mut m) {
                Ok(r) => {
                    sig.push_str(&format!(" | passes {}", r.steps.min(3)));
                    let after = check::check(&m);
                    assert!(after.is_empty(), "the default passes broke a sound model: {}", after[0]);
                    let bytes = Bytes::from(m.to_bytes());
                    if let Err(e) = Model::from_bytes(bytes, "fuzz-out.onnx", &sandbox) {
                        panic!("the rewritten model does not load back: {e}");
                    }
                }
                Err(e) => sig.push_str(&format!(" | passes: {}", shape_of(&e.to_string()))),
            }
        }
        sig
    };
    Target { name: "onnx", run: Box::new(run), structured: Some(mutate::mutate_model) }
}

/// A folder for the suite target's files: a word-level `tokenizer.json`, classification data
/// (`cls.tsv`, `sst.txt`), sentence pairs (`pairs.csv`) and a small `model.onnx` with a
/// 16-row position table and 3-class logits, so that seeds naming them reach the checks of
/// `bench::preflight` (a missing, unreadable or malformed file must be an error, not a panic).
pub fn suite_sandbox(dir: &Path) -> std::io::Result<PathBuf> {
    use crate::onnx::builder::{Axis, GraphBuilder};
    use crate::onnx::DataType;
    std::fs::create_dir_all(dir)?;
    let tokenizer = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
  "decoder": null, "model": {"type": "WordLevel", "vocab": {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3}, "unk_token": "[UNK]"}}"#;
    std::fs::write(dir.join("tokenizer.json"), tokenizer)?;
    std::fs::write(dir.join("cls.tsv"), "1\tgood\n0\tbad\n2\tgood bad\n")?;
    std::fs::write(dir.join("sst.txt"), "1 good\n0 bad\n")?;
    std::fs::write(dir.join("pairs.csv"), "good,bad,1.5\n\"bad, good\",good,4.0\n")?;
    let mut g = GraphBuilder::new("fuzz");
    g.input("input_ids", DataType::Int64, &[Axis::Named("batch"), Axis::Named("seq")]);
    let table = g.initializer("position_embeddings", DataType::Float, &[16, 3], vec![0; 16 * 3 * 4]);
    let h = g.node("Gather", &[&table, "input_ids"], &[]);
    let r = g.node("ReduceMean", &[&h], &[("axes", crate::onnx::builder::Attr::Ints(vec![1]))]);
    g.node_to("Identity", &[&r], &[], "logits");
    g.output("logits", DataType::Float, &[Axis::Named("batch"), Axis::Fixed(3)]);
    let m = g.finish(13, "fuzz", "");
    m.save(dir.join("model.onnx"), &crate::onnx::SaveOptions { force: true, ..Default::default() }).map_err(std::io::Error::other)?;
    Ok(dir.to_path_buf())
}

/// The suite target: parse and validate the input as a suite file in `sandbox` (so its relative
/// paths reach the sandbox's files); an invalid one must render its error (every problem at a
/// line of the file, or line 0); a valid one is expanded, rendered, hashed, must survive the JSON
/// the workers read it from, and goes through `bench::preflight` against the sandbox's files.
pub fn suite_target(sandbox: PathBuf) -> Target {
    let run = move |data: &[u8]| -> String {
        let path = sandbox.join("fuzz.yaml");
        // An upper bound of the lines a YAML parser may count (it also breaks at \r and NEL).
        let lines = data.iter().filter(|&&b| matches!(b, b'\n' | b'\r' | 0x85 | 0xa8 | 0xa9)).count() as u64 + 1;
        match crate::suite::load_bytes(&path, data) {
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains("fuzz.yaml:"), "an error without the file: {text}");
                for p in e.problems() {
                    assert!(p.line <= lines + 1, "problem at line {} of a {lines}-line file: {}", p.line, p.message);
                }
                let first = e.problems().first().map(|p| shape_of(&p.message)).unwrap_or_default();
                format!("invalid {} | {first}", e.problems().len().min(4))
            }
            Ok(plan) => {
                let cases = crate::suite::expand(&plan);
                assert!(cases.len() <= crate::suite::validate::MAX_CASES, "{} cases", cases.len());
                let _ = crate::suite::expand::render(&plan, &cases);
                let _ = plan.hash();
                let json = serde_json::to_string(&plan).expect("a plan serializes");
                let back: crate::suite::Plan = serde_json::from_str(&json).unwrap_or_else(|e| panic!("the plan does not read back from its JSON: {e}"));
                assert_eq!(back.hash(), plan.hash(), "the plan changes through JSON");
                let problems = crate::bench::preflight::problems(&plan);
                let first = problems.first().map(|p| shape_of(&p.message)).unwrap_or_default();
                format!("valid {} {} | preflight {} {first}", plan.models.len().min(3), cases.len().min(5), problems.len().min(3))
            }
        }
    };
    Target { name: "suite", run: Box::new(run), structured: Some(mutate_yaml) }
}

/// Words a suite file uses (keys and values) and hostile scalars, for [`mutate_yaml`].
const YAML_WORDS: &[&str] = &[
    "models", "path", "synth", "safetensors", "tokenizer", "accuracy", "arch", "set", "head", "seed", "weights",
    "config", "variants", "reference", "steps", "rewrite", "quantize", "workloads", "batch", "seq", "threads",
    "inputs", "datasets", "synthetic", "classification", "sentence_pairs", "lengths", "full", "fixed", "uniform",
    "normal", "min", "max", "mean", "std", "batches", "format", "label_column", "text_column", "header", "limit",
    "columns", "metrics", "latency", "memory", "params", "fidelity", "run", "warmup", "min_iterations",
    "min_time_s", "target_cv", "max_time_s", "time_limit_s", "thresholds", "fidelity_min_cosine",
    "latency_p50_increase", "bert", "squeezebert", "tsv", "csv", "space", "default", "classification:3",
    "num_hidden_layers", "hidden_size", "max_position_embeddings", "vocab_size", "num_labels", "true", "false",
    "null", "~", "0", "-1", "1", "3", "17", "512", "4294967297", "18446744073709551616", "1e308", "-0.0", ".nan",
    ".inf", "0x10", "''", "\"\"", "[]", "{}", "[1, 2]", "{a: 1}", "&a", "*a", "!!str", "!!binary", "? ", "- ",
    ": ", "#", "model.onnx", "tokenizer.json", "cls.tsv", "sst.txt", "pairs.csv", "../fuzz.yaml", "/dev/zero",
    "pypi:x==1/y", "default,conv-matmul", "\t", "\u{feff}", "---", "...",
];

/// A line-level mutation of YAML text: drop, duplicate, swap or re-indent a line, put a suite
/// word or hostile scalar in place of a word or after a colon, or splice in a line of another
/// seed's shape. None when the input is not text.
pub fn mutate_yaml(data: &[u8], rng: &mut dyn RngCore) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    let i = rng.random_range(0..n);
    let word = YAML_WORDS[rng.random_range(0..YAML_WORDS.len())];
    match rng.random_range(0..7) {
        0 if n > 1 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(rng.random_range(0..=n), l);
        }
        2 => {
            let j = rng.random_range(0..n);
            lines.swap(i, j);
        }
        3 => {
            let l = &mut lines[i];
            if rng.random_bool(0.5) {
                l.insert_str(0, ["  ", " ", "\t", "    "][rng.random_range(0..4)]);
            } else {
                *l = l.trim_start_matches(' ').to_string();
            }
        }
        4 => {
            // Replace the value after the first ": " (or append one).
            let l = &mut lines[i];
            match l.find(": ") {
                Some(k) => l.replace_range(k + 2.., word),
                None => l.push_str(&format!(": {word}")),
            }
        }
        5 => {
            // Replace one word (a run of key characters) with another.
            let l = &lines[i];
            let starts: Vec<usize> = l.char_indices().filter(|(k, c)| c.is_alphanumeric() && (*k == 0 || !l[..*k].ends_with(|p: char| p.is_alphanumeric() || p == '_'))).map(|(k, _)| k).collect();
            if let Some(&s) = starts.get(rng.random_range(0..starts.len().max(1))) {
                let e = l[s..].find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-')).map_or(l.len(), |e| s + e);
                lines[i].replace_range(s..e, word);
            }
        }
        _ => {
            let indent = " ".repeat(2 * rng.random_range(0..4));
            lines.insert(rng.random_range(0..=n), format!("{indent}{word}: {}", YAML_WORDS[rng.random_range(0..YAML_WORDS.len())]));
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Some(out.into_bytes())
}

/// The results reader and everything that reads a results file: the gate (the run against itself
/// and against a copy 2× slower, under the thresholds it carries), the Markdown, CSV and HTML
/// reports, and (for each input that reaches a new outcome of those, so the campaign stays fast)
/// the charts. A `results.json` may come from anywhere (`gate --baseline` in CI).
pub fn results_target() -> Target {
    let seen = std::sync::Mutex::new(HashSet::<String>::new());
    let run = move |data: &[u8]| -> String {
        let Ok(text) = std::str::from_utf8(data) else { return "not utf-8".into() };
        let r = match crate::results::Results::from_json(text) {
            Err(e) => return format!("refused | {}", shape_of(&e.to_string())),
            Ok(r) => r,
        };
        let _ = crate::report::markdown::render(&r);
        let _ = crate::report::csv::render(&r);
        let _ = crate::report::html::render(&r, &[]);
        let opts = crate::gate::Options { allow_env_change: true, ..Default::default() };
        let mut slow = r.clone();
        slow.cases.iter_mut().filter_map(|c| c.latency.as_mut()).for_each(twice_as_slow);
        let gate = |b: &crate::results::Results, c: &crate::results::Results| match crate::gate::compare(b, c, &r.thresholds, &opts) {
            Ok(rep) => {
                let _ = rep.render_markdown();
                format!("{} {}", rep.checks.len().min(6), rep.failed())
            }
            Err(e) => shape_of(&e.to_string()),
        };
        let p50 = r.cases.iter().filter_map(|c| c.latency.as_ref()).map(|l| l.p50_ms).fold(f64::INFINITY, f64::min);
        let class = if p50.is_nan() { "nan" } else if p50 <= 0.0 { "non-positive" } else if p50.is_finite() { "positive" } else { "none" };
        let sig = format!("ok {} p50 {class} | gate {} | {}", r.cases.len().min(4), gate(&r, &r), gate(&r, &slow));
        if seen.lock().map(|mut s| s.insert(sig.clone())).unwrap_or(false) {
            let charts = crate::report::charts::render_all(&r).map(|c| c.len().min(6).to_string()).unwrap_or_else(|e| shape_of(&e));
            return format!("{sig} | charts {charts}");
        }
        sig
    };
    Target { name: "results", run: Box::new(run), structured: Some(mutate_json) }
}

/// A thresholds file (`gate --thresholds`, YAML or JSON) and the gate under it: `baseline` (all
/// cases ok, at least two with latency) against a copy with its first timed case 2× slower and
/// the last one's latency missing, which must fail under any valid thresholds.
pub fn thresholds_target(baseline: crate::results::Results) -> Target {
    let mut current = baseline.clone();
    let timed: Vec<usize> = (0..current.cases.len()).filter(|&i| current.cases[i].latency.is_some()).collect();
    assert!(timed.len() >= 2, "the thresholds target needs a baseline with two timed cases");
    if let Some(l) = current.cases[timed[0]].latency.as_mut() {
        twice_as_slow(l);
    }
    current.cases[timed[timed.len() - 1]].latency = None;
    let run = move |data: &[u8]| -> String {
        let Ok(text) = std::str::from_utf8(data) else { return "not utf-8".into() };
        let t = match serde_saphyr::from_str::<crate::results::Thresholds>(text) {
            Err(e) => return format!("parse | {}", shape_of(&e.without_snippet().to_string())),
            Ok(t) => t,
        };
        let problems = t.problems();
        if !problems.is_empty() {
            return format!("refused {} | {}", problems.len().min(3), shape_of(&problems[0]));
        }
        match crate::gate::compare(&baseline, &current, &t, &crate::gate::Options::default()) {
            Ok(rep) => {
                let verdicts: HashSet<&str> = rep.checks.iter().map(|c| c.verdict.word()).collect();
                let mut v: Vec<&str> = verdicts.into_iter().collect();
                v.sort();
                assert!(rep.failed(), "a case without latency must fail the gate");
                format!("judged {} {v:?}", rep.checks.len())
            }
            Err(e) => panic!("valid thresholds refused: {e}"),
        }
    };
    Target { name: "thresholds", run: Box::new(run), structured: Some(mutate_yaml) }
}

/// The latency figures the gate reads, doubled.
fn twice_as_slow(l: &mut crate::results::Latency) {
    for v in [&mut l.p50_ms, &mut l.p99_ms] {
        *v *= 2.0;
    }
    for ci in [&mut l.p50_ci_ms, &mut l.p99_ci_ms] {
        ci.iter_mut().for_each(|v| *v *= 2.0);
    }
}

/// Values put in place of a JSON leaf: the edges of every type a results file holds.
const JSON_VALUES: &[&str] = &[
    "0", "-0", "-1", "1e308", "-1e308", "5e-324", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
    "0.5", "null", "true", "\"\"", "\"x\"", "[]", "{}", "[0]", "\"ok\"", "\"crashed\"", "\"<b>&amp;</b>|`\"",
];

/// A JSON-aware mutation: a random leaf (number, string, bool, null) replaced by an edge value,
/// a key removed, or an array element duplicated or removed. None when the input is not JSON.
pub(crate) fn mutate_json(data: &[u8], rng: &mut dyn RngCore) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let mut slots = 0usize;
    count_json(&v, &mut slots);
    let target = rng.random_range(0..slots.max(1));
    let replacement: serde_json::Value = serde_json::from_str(JSON_VALUES[rng.random_range(0..JSON_VALUES.len())]).ok()?;
    let op = rng.random_range(0..4);
    edit_json(&mut v, &mut { target }, op, &replacement);
    serde_json::to_vec_pretty(&v).ok()
}

fn count_json(v: &serde_json::Value, n: &mut usize) {
    *n += 1;
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| count_json(x, n)),
        serde_json::Value::Object(o) => o.values().for_each(|x| count_json(x, n)),
        _ => {}
    }
}

/// Applies `op` at the `at`-th value in document order (0: replace it, 1: remove it from its
/// parent, 2: duplicate it in its parent array, 3: replace it when it is a leaf only).
fn edit_json(v: &mut serde_json::Value, at: &mut usize, op: u32, with: &serde_json::Value) -> bool {
    if *at == 0 {
        if op != 3 || !(v.is_array() || v.is_object()) {
            *v = with.clone();
        }
        return true;
    }
    *at -= 1;
    match v {
        serde_json::Value::Array(a) => {
            for i in 0..a.len() {
                if *at == 0 && op == 1 {
                    a.remove(i);
                    return true;
                }
                if *at == 0 && op == 2 {
                    let x = a[i].clone();
                    a.insert(i, x);
                    return true;
                }
                if edit_json(&mut a[i], at, op, with) {
                    return true;
                }
            }
            false
        }
        serde_json::Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if *at == 0 && op == 1 {
                    o.remove(&k);
                    return true;
                }
                if edit_json(o.get_mut(&k).expect("listed key"), at, op, with) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// A message with names (quoted) and numbers removed: the kind of outcome, not its details.
fn shape_of(msg: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for ch in msg.chars() {
        match ch {
            '\'' => quoted = !quoted,
            _ if quoted => {}
            c if c.is_ascii_digit() => {}
            c => out.push(c),
        }
        if out.len() >= 80 {
            break;
        }
    }
    out
}
