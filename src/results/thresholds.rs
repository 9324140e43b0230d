//! Regression thresholds for the CI gate, as a suite declares them (`thresholds:` in the YAML) and as
//! `results.json` carries them, so `squeezebench gate` can judge two result files without the suite.
//!
//! Every field has a default (`Thresholds::default()`); a suite overrides only what it names.
//! Relative thresholds are fractions (0.10 = 10 %); accuracy thresholds are absolute points on the
//! 0–100 scale results use for accuracy metrics.

/// Limits beyond which a change between a baseline and a current run is a regression.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Largest allowed relative increase of the median latency (p50). A change is a regression only
    /// when the 95 % interval of the ratio current / baseline lies wholly above 1 + this (see
    /// `gate`).
    pub latency_p50_increase: f64,
    /// Largest allowed relative increase of the 99th percentile latency (judged like p50, on the
    /// p99 intervals).
    pub latency_p99_increase: f64,
    /// Largest allowed relative drop of throughput (sequences per second).
    pub throughput_drop: f64,
    /// Largest allowed drop of the primary accuracy metric, in points (0–100 scale).
    pub accuracy_drop: f64,
    /// Smallest allowed cosine similarity to the reference variant's outputs.
    pub fidelity_min_cosine: f64,
    /// Largest allowed relative increase of the model's size on disk.
    pub size_increase: f64,
    /// Largest allowed relative increase of peak resident memory (session creation or run phase).
    pub memory_increase: f64,
    /// A check whose intervals are too wide to see its threshold ("cannot judge") fails the gate,
    /// as `gate --strict` does. Left out of results.json when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            latency_p50_increase: 0.10,
            latency_p99_increase: 0.25,
            throughput_drop: 0.10,
            accuracy_drop: 1.0,
            fidelity_min_cosine: 0.99,
            size_increase: 0.01,
            memory_increase: 0.10,
            strict: false,
        }
    }
}

impl Thresholds {
    /// What is wrong with the values, one line per field (empty when all are usable): each must
    /// be a finite number, 0 or more (a NaN compares false with everything, so it would pass any
    /// change), and `fidelity_min_cosine` a cosine in [-1, 1]. Checked wherever thresholds are
    /// read: a suite, a thresholds file, a results file.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, x) in [
            ("latency_p50_increase", self.latency_p50_increase),
            ("latency_p99_increase", self.latency_p99_increase),
            ("throughput_drop", self.throughput_drop),
            ("accuracy_drop", self.accuracy_drop),
            ("size_increase", self.size_increase),
            ("memory_increase", self.memory_increase),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                out.push(format!("thresholds: {key} must be a number, 0 or more (got {x})"));
            }
        }
        if !(-1.0..=1.0).contains(&self.fidelity_min_cosine) {
            out.push(format!("thresholds: fidelity_min_cosine must lie in [-1, 1] (got {})", self.fidelity_min_cosine));
        }
        out
    }
}

/// Reads a thresholds file (YAML, or JSON, which is YAML): the keys of a suite's `thresholds:`,
/// unknown keys and wrong types refused with the file, line and column.
pub fn load(path: &std::path::Path) -> Result<Thresholds, super::Error> {
    let fail = |source: std::io::Error| super::Error::ThresholdsRead { path: path.into(), source };
    let bad = |reason: String| super::Error::Thresholds { path: path.into(), reason };
    crate::util::check_regular(path).map_err(fail)?;
    let text = std::fs::read_to_string(path).map_err(fail)?;
    let t = serde_saphyr::from_str::<Thresholds>(&text).map_err(|e| bad(e.to_string()))?;
    match t.problems().as_slice() {
        [] => Ok(t),
        problems => Err(bad(problems.join("; "))),
    }
}
