//! Calibration for static quantization: the float model runs in ONNX Runtime over a data set, and
//! the value range of every activation that a quantized node reads is estimated from what flows
//! through it.
//!
//! # Streaming, constant memory
//!
//! Each activation has one [`Collector`]: a running min/max and, for `percentile` and `entropy`,
//! a fixed-bin [`Histogram`] over a symmetric range `[-R, R]` that doubles when a larger value
//! arrives (pairs of bins merge, which is exact), so memory does not grow with the number of
//! samples and one pass over the data suffices. A run's outputs are folded into the collectors and
//! dropped before the next run.
//!
//! # The calibration session
//!
//! The activations are made graph outputs of a copy of the model, written to a scratch folder
//! with its weights as external data; the float pages of the input model are then handed back to
//! the operating system, and ONNX Runtime loads the copy with weight pre-packing off, so the
//! process holds one copy of the weights while calibrating (not the model plus a packed copy).
//!
//! # Methods
//!
//! * `minmax`: the observed range.
//! * `percentile:P`: each tail clipped at `(100 − P) %` of the values (the `(100−P)`-th and `P`-th
//!   percentiles), read from the histogram with linear interpolation inside a bin.
//! * `entropy`: the symmetric clipping threshold `T` whose 128-level quantization of the histogram
//!   of `|x|` loses the least information (Kullback–Leibler divergence of the clipped distribution
//!   from its quantized version), then `[max(min, −T), min(max, T)]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::onnx::proto::ValueInfoProto;
use crate::onnx::{ExternalMode, Model, SaveOptions};
use crate::runtime::{Session, SessionOptions};

use super::params::MinMax;
use crate::data::{inputs::as_declared, Inputs};
use super::{Error, Result};

/// How a range is read from the calibration statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Method {
    #[default]
    MinMax,
    /// Keep this percentage of the values inside the range (e.g. 99.99).
    Percentile(f64),
    Entropy,
}

impl Method {
    pub fn name(&self) -> String {
        match self {
            Method::MinMax => "minmax".into(),
            Method::Percentile(p) => format!("percentile:{p}"),
            Method::Entropy => "entropy".into(),
        }
    }

    fn needs_histogram(&self) -> bool {
        !matches!(self, Method::MinMax)
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "entropy" => Ok(Method::Entropy),
            "percentile" => Ok(Method::Percentile(99.99)),
            _ => match s.strip_prefix("percentile:") {
                Some(p) => match p.parse::<f64>() {
                    Ok(v) if v > 50.0 && v <= 100.0 => Ok(Method::Percentile(v)),
                    _ => Err(format!("percentile '{p}' is not a number in (50, 100], e.g. percentile:99.99")),
                },
                None => Err(format!("'{s}' is not a calibration method (minmax, percentile:P such as percentile:99.99, entropy)")),
            },
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Bins of a [`Histogram`] (over `[-R, R]`; half of them on each side of 0).
pub const BINS: usize = 4096;
/// Quantization levels the entropy method compares against.
const ENTROPY_LEVELS: usize = 128;

/// Counts of values in `BINS` equal bins over `[-range, range]`; the range doubles (merging pairs of
/// bins) whenever a value falls outside it.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub range: f32,
    pub counts: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { range: 0.0, counts: vec![0; BINS] }
    }
}

impl Histogram {
    /// Adds finite `values`; `max_abs` is their largest `|x|` (NaN and infinities are skipped).
    pub fn update(&mut self, values: &[f32], max_abs: f32) {
        if !(max_abs.is_finite() && max_abs > 0.0) {
            // All zeros (or nothing finite): counted in the bin right above 0.
            let zeros = values.iter().filter(|v| **v == 0.0).count() as u64;
            self.counts[BINS / 2] += zeros;
            return;
        }
        if self.range == 0.0 {
            self.range = max_abs;
        }
        while max_abs > self.range {
            self.double();
        }
        let scale = BINS as f32 / (2.0 * self.range);
        let r = self.range;
        for &v in values {
            if v.is_finite() {
                let i = ((v + r) * scale) as usize;
                self.counts[i.min(BINS - 1)] += 1;
            }
        }
    }

    /// Doubles the range: bins `2k, 2k + 1` become bin `BINS/4 + k`.
    fn double(&mut self) {
        let mut merged = vec![0u64; BINS];
        for k in 0..BINS / 2 {
            merged[BINS / 4 + k] = self.counts[2 * k] + self.counts[2 * k + 1];
        }
        self.counts = merged;
        self.range *= 2.0;
    }

    fn width(&self) -> f64 {
        2.0 * f64::from(self.range) / BINS as f64
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value below which a share `q` (0..=1) of the counts lies, interpolated inside its bin.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.total();
        if total == 0 || self.range == 0.0 {
            return 0.0;
        }
        let target = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            let next = seen + c as f64;
            if next >= target && c > 0 {
                let inside = (target - seen) / c as f64;
                return -f64::from(self.range) + (i as f64 + inside) * self.width();
            }
            seen = next;
        }
        f64::from(self.range)
    }

    /// Counts of `|x|` in `BINS / 2` bins over `[0, range]`.
    pub(crate) fn magnitudes(&self) -> Vec<u64> {
        let half = BINS / 2;
        (0..half).map(|k| self.counts[half + k] + self.counts[half - 1 - k]).collect()
    }

    /// The entropy method's clipping threshold `T` (see the module docs).
    pub(crate) fn entropy_threshold(&self) -> f64 {
        let abs = self.magnitudes();
        let n = abs.len();
        let width = f64::from(self.range) / n as f64;
        let Some(last) = abs.iter().rposition(|&c| c > 0) else { return 0.0 };
        if last < ENTROPY_LEVELS {
            return (last + 1) as f64 * width;
        }
        let mut best = (f64::INFINITY, n);
        let mut p = vec![0f64; n];
        let mut q = vec![0f64; n];
        for i in ENTROPY_LEVELS..=n {
            // P: the first i bins, everything beyond folded into the last one.
            for (d, &c) in p[..i].iter_mut().zip(&abs[..i]) {
                *d = c as f64;
            }
            p[i - 1] += abs[i..].iter().sum::<u64>() as f64;
            // Q: the first i bins merged into LEVELS groups, each group's mass spread over the bins of
            // the group that held values.
            for j in 0..ENTROPY_LEVELS {
                let (lo, hi) = (j * i / ENTROPY_LEVELS, ((j + 1) * i / ENTROPY_LEVELS).max(j * i / ENTROPY_LEVELS + 1));
                let mass: f64 = abs[lo..hi].iter().map(|&c| c as f64).sum();
                let used = abs[lo..hi].iter().filter(|&&c| c > 0).count();
                for (k, d) in q[lo..hi].iter_mut().enumerate() {
                    *d = if abs[lo + k] > 0 { mass / used as f64 } else { 0.0 };
                }
            }
            let (sp, sq) = (p[..i].iter().sum::<f64>(), q[..i].iter().sum::<f64>());
            if sp == 0.0 || sq == 0.0 {
                continue;
            }
            let mut kl = 0.0;
            for k in 0..i {
                if p[k] > 0.0 {
                    let pk = p[k] / sp;
                    // Outliers folded into the last bin can meet an empty Q bin: a small floor
                    // keeps the divergence finite and penalises the mismatch.
                    let qk = (q[k] / sq).max(1e-12);
                    kl += pk * (pk / qk).ln();
                }
            }
            if kl < best.0 {
                best = (kl, i);
            }
        }
        best.1 as f64 * width
    }
}

/// The statistics of one activation.
#[derive(Clone, Debug, Default)]
pub struct Collector {
    pub minmax: MinMax,
    pub histogram: Option<Histogram>,
    /// The largest magnitude of each channel (the last dim) over every run.
    pub channel_max: Vec<f32>,
}

impl Collector {
    pub fn new(method: Method) -> Collector {
        Collector { minmax: MinMax::default(), histogram: method.needs_histogram().then(Histogram::default), channel_max: Vec::new() }
    }

    /// Also keeps the largest magnitude per channel, the last dim of `dims` (see [`Collector::outlier_ratio`]).
    pub fn update_channels(&mut self, values: &[f32], dims: &[usize]) {
        self.update(values);
        let c = dims.last().copied().unwrap_or(1).max(1);
        if self.channel_max.len() != c {
            self.channel_max = vec![0.0; c];
        }
        for row in values.chunks_exact(c) {
            for (m, v) in self.channel_max.iter_mut().zip(row) {
                *m = m.max(v.abs());
            }
        }
    }

    /// How far the loudest channel stands out: its largest magnitude over the median channel's.
    /// Near 1–5 when every channel spans about the same range; tens to hundreds when a few channels
    /// carry outliers, which a per-tensor scale measured on each input (dynamic quantization) cannot
    /// resolve together with the quiet channels.
    pub fn outlier_ratio(&self) -> f32 {
        let mut m: Vec<f32> = self.channel_max.iter().copied().filter(|v| v.is_finite()).collect();
        if m.is_empty() {
            return 1.0;
        }
        m.sort_by(f32::total_cmp);
        let median = m[m.len() / 2];
        let top = m[m.len() - 1];
        if median > 0.0 { top / median } else if top > 0.0 { f32::INFINITY } else { 1.0 }
    }

    pub fn update(&mut self, values: &[f32]) {
        let mut batch = MinMax::default();
        batch.update(values);
        let (lo, hi) = batch.range();
        self.minmax.min = self.minmax.min.min(lo);
        self.minmax.max = self.minmax.max.max(hi);
        if let Some(h) = &mut self.histogram {
            h.update(values, lo.abs().max(hi.abs()));
        }
    }

    /// The calibrated range under `method`.
    pub fn range(&self, method: Method) -> (f32, f32) {
        let (lo, hi) = self.minmax.range();
        match (method, &self.histogram) {
            (Method::Percentile(p), Some(h)) => {
                let tail = (100.0 - p) / 100.0;
                ((h.quantile(tail) as f32).max(lo), (h.quantile(1.0 - tail) as f32).min(hi))
            }
            (Method::Entropy, Some(h)) => {
                let t = h.entropy_threshold() as f32;
                (lo.max(-t), hi.min(t))
            }
            _ => (lo, hi),
        }
    }
}

/// Where calibration ran and what it saw.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    pub method: Method,
    /// `100 synthetic batches of 1x128 tokens`, or the file.
    pub data: String,
    pub runs: usize,
    pub activations: usize,
    pub seconds: f64,
    /// Each activation's [`Collector::outlier_ratio`], by name.
    #[serde(skip)]
    pub outlier_ratios: HashMap<String, f32>,
    /// `auto` mode: the activations given a calibrated range (the rest are quantized at run time).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_activations: Vec<String>,
}

/// Each activation's calibrated (min, max), by name.
pub type Ranges = HashMap<String, (f32, f32)>;

/// Ranges of `activations` of `model` (names of values the graph computes) over `data`, by `method`.
/// The model's float pages are released afterwards (they are read back when needed).
pub fn calibrate(model: &Model, activations: &[String], data: &Inputs, method: Method) -> Result<(Ranges, Calibration)> {
    let start = std::time::Instant::now();
    let mut collectors: HashMap<String, Collector> = activations.iter().map(|a| (a.clone(), Collector::new(method))).collect();
    let runs = observe(model, activations, data, &mut |name, values, dims| {
        if let Some(c) = collectors.get_mut(name) {
            c.update_channels(values, dims);
        }
    })?;
    let outlier_ratios = collectors.iter().map(|(name, c)| (name.clone(), c.outlier_ratio())).collect();
    let ranges = collectors
        .iter()
        .map(|(name, c)| {
            let (lo, hi) = c.range(method);
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(Error::Verify(format!("calibration: activation '{name}' took no finite value over the data")));
            }
            Ok((name.clone(), (lo, hi)))
        })
        .collect::<Result<HashMap<_, _>>>()?;
    let described = data.describe();
    Ok((ranges, Calibration { method, data: described, runs, activations: activations.len(), seconds: start.elapsed().as_secs_f64(), outlier_ratios, static_activations: Vec::new() }))
}

/// What [`observe`] hands each activation's value to: `(name, row-major values, dims)`.
pub(crate) type Visitor<'a> = dyn FnMut(&str, &[f32], &[usize]) + 'a;

/// Runs the float `model` over `data` with `activations` (values the graph computes) as extra
/// outputs, and hands each run's value of each of them to `visit` as `(name, row-major values,
/// dims)`; returns the number of runs. The model's float pages are released (see [`calibrate`]).
pub fn observe(model: &Model, activations: &[String], data: &Inputs, visit: &mut Visitor) -> Result<usize> {
    let scratch = tempfile::Builder::new().prefix("squeezebench-calibrate").tempdir().map_err(|e| Error::Verify(format!("scratch folder for calibration: {e}")))?;
    let path = augmented(model, activations, scratch.path())?;
    let options = SessionOptions { prepacking: false, ..SessionOptions::default() };
    let mut session = Session::from_file(&path, &options)?;
    let sets = data.sets(model, session.inputs())?;
    let wanted: std::collections::HashSet<&str> = activations.iter().map(String::as_str).collect();
    let runs = sets.len();
    for set in sets {
        let set = as_declared(session.inputs(), &set);
        for (name, value) in session.run_set(&set)? {
            if !wanted.contains(name.as_str()) {
                continue;
            }
            let Some(x) = value.as_f32() else {
                return Err(Error::Verify(format!("calibration: activation '{name}' is not float32")));
            };
            match x.as_slice() {
                Some(v) => visit(&name, v, x.shape()),
                None => visit(&name, &x.iter().copied().collect::<Vec<_>>(), x.shape()),
            }
        }
    }
    Ok(runs)
}

/// `model` with `activations` added as graph outputs, saved into `dir` with external weights; then
/// every float page of `model` is released.
fn augmented(model: &Model, activations: &[String], dir: &Path) -> Result<PathBuf> {
    let mut copy = model.clone();
    let g = copy.graph_mut();
    for a in activations {
        if !g.output.iter().any(|o| o.name.as_deref() == Some(a.as_str())) {
            // Name only: ONNX Runtime infers the added outputs' types and shapes itself.
            g.output.push(ValueInfoProto { name: Some(a.clone()), ..Default::default() });
        }
    }
    let path = dir.join("calibration.onnx");
    copy.save(&path, &SaveOptions { external: ExternalMode::External, force: true, ..SaveOptions::default() })?;
    drop(copy);
    for t in &model.graph().initializer {
        if let Ok(bytes) = model.tensor_bytes(t) {
            model.release_pages(&bytes);
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Why: doubling the range must keep every count and put values in the bins they belong to.
    #[test]
    fn histogram_grows_exactly() {
        let mut h = Histogram::default();
        h.update(&[0.5, -0.5, 1.0], 1.0);
        assert_eq!(h.total(), 3);
        h.update(&[3.0], 3.0);
        assert_eq!(h.range, 4.0);
        assert_eq!(h.total(), 4);
        // -0.5 lies in the bin covering [-0.5, -0.5 + width).
        let w = h.width();
        let i = ((-0.5 + 4.0) / w) as usize;
        assert_eq!(h.counts[i], 1);
        assert!((h.quantile(1.0) - 3.0).abs() <= w + 1e-9);
    }

    // Why: percentiles clip the tails and nothing else; a sample with one huge outlier keeps its bulk.
    #[test]
    fn percentile_clips_outliers() {
        let mut c = Collector::new(Method::Percentile(99.0));
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        v.push(100.0);
        c.update(&v);
        let (lo, hi) = c.range(Method::Percentile(99.0));
        assert!((0.0..0.02).contains(&lo), "{lo}");
        assert!(hi > 0.95 && hi < 1.1, "{hi}");
        assert_eq!(c.range(Method::MinMax), (0.0, 100.0));
    }

    // Why: entropy calibration cuts a long sparse tail but keeps a range without outliers whole.
    #[test]
    fn entropy_threshold_cuts_sparse_tails() {
        let mut c = Collector::new(Method::Entropy);
        // A Laplace-like bulk within ±4 and a few values near 60.
        let mut v: Vec<f32> = (0..20000).map(|i| { let u = (i as f32 + 0.5) / 20000.0; (if i % 2 == 0 { 1.0 } else { -1.0 }) * -(1.0 - u).ln() * 0.5 }).collect();
        v.extend([60.0, -58.0, 59.0]);
        c.update(&v);
        let (lo, hi) = c.range(Method::Entropy);
        assert!(hi < 30.0 && hi > 1.0 && lo > -30.0 && lo < -1.0, "({lo}, {hi})");
        let mut u = Collector::new(Method::Entropy);
        let flat: Vec<f32> = (0..4096).map(|i| i as f32 / 4096.0 * 2.0 - 1.0).collect();
        u.update(&flat);
        let (lo, hi) = u.range(Method::Entropy);
        assert!(hi > 0.9 && lo < -0.9, "uniform data keeps its range: ({lo}, {hi})");
    }

    #[test]
    fn outlier_ratio_is_the_loudest_channel_over_the_median_one() {
        let mut c = Collector::new(Method::MinMax);
        // Two rows of four channels; channel 3 carries an outlier in the second row only.
        c.update_channels(&[1.0, -2.0, 1.5, 0.5, -1.0, 1.0, 2.0, -40.0], &[2, 4]);
        assert_eq!(c.channel_max, [1.0, 2.0, 2.0, 40.0]);
        assert_eq!(c.outlier_ratio(), 20.0);
        assert!(c.outlier_ratio() >= super::super::OUTLIER_RATIO);
        assert_eq!(c.minmax.range(), (-40.0, 2.0));
        let mut even = Collector::new(Method::MinMax);
        even.update_channels(&[1.0, -1.2, 0.9, 1.1], &[1, 4]);
        assert!(even.outlier_ratio() < 1.5);
        assert_eq!(Collector::new(Method::MinMax).outlier_ratio(), 1.0, "nothing seen");
    }

    #[test]
    fn method_names_parse() {
        assert_eq!("percentile:99.9".parse::<Method>().unwrap(), Method::Percentile(99.9));
        assert_eq!("entropy".parse::<Method>().unwrap().name(), "entropy");
        assert!("percentile:20".parse::<Method>().unwrap_err().contains("(50, 100]"));
        assert!("kl".parse::<Method>().unwrap_err().contains("not a calibration method"));
    }
}
