//! Smoothing (SmoothQuant-style): activation outliers moved into the weights before quantizing.
//!
//! A MatMul `y = x · W` equals `(x / s) · (diag(s) W)` for any positive per-input-channel `s`. With
//! `s_j = max|x_j|^α / max|W_j|^(1−α)` the few channels of `x` that carry outliers shrink, so one
//! per-tensor activation scale (what ONNX Runtime's dynamic kernels and a static QDQ pair use)
//! resolves the rest, and the weight rows grow in exchange (weights quantize per tensor or per
//! column, and have no such outliers).
//!
//! No operator is added: `1 / s` is folded into the constant of the `Mul` that produces `x` (the
//! last `Mul` of an erf GELU, `x · 0.5 · (1 + erf(x/√2))`, feeding a BERT FFN down-projection: the
//! scalar becomes a per-channel vector). A site is used only when every reader of `x` is a planned
//! MatMul with a 2-D weight (all get the same `s`), so the float model computes the same function
//! (to rounding). Other activations are left alone (a LayerNorm output also feeds the residual
//! `Add`, which would need a new `Mul`).
//!
//! `α` is either given, or chosen per site from `{none, 0.2, …, 0.8}` by the output error of the
//! quantized product on rows of `x` sampled during calibration (`‖Q(x/s)·Q(sW) − x·W‖²`, with the
//! activation quantized per tensor to u8 and the weight as the options say).

use std::collections::HashMap;

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::Inputs;
use crate::onnx::graph::{GraphView, NodeId};
use crate::onnx::proto::TensorProto;
use crate::onnx::{tensor, Model};
use crate::passes::constant_value;

use super::ops::{float_initializer, Kind, Plan};
use super::params::{quantize_matrix, QType, Scheme};
use super::{calibrate, Error, Resolved, Result};

/// Candidate α of the automatic choice (`None` in a site's report: no smoothing won).
const ALPHAS: [f64; 7] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// Rows of each activation kept (reservoir sample) for the error of each candidate.
const SAMPLE_ROWS: usize = 256;

/// `--smooth`: off, α chosen by measured error (`auto`), or a fixed α in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Smooth {
    #[default]
    Off,
    Auto,
    Alpha(f64),
}

impl Smooth {
    pub fn name(&self) -> String {
        match self {
            Smooth::Off => "off".into(),
            Smooth::Auto => "auto".into(),
            Smooth::Alpha(a) => format!("{a}"),
        }
    }
}

impl std::str::FromStr for Smooth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" | "none" | "false" => Ok(Smooth::Off),
            "auto" | "on" | "true" => Ok(Smooth::Auto),
            _ => match s.parse::<f64>() {
                Ok(a) if (0.0..=1.0).contains(&a) => Ok(Smooth::Alpha(a)),
                _ => Err(format!("smoothing '{s}' is not off, auto or an alpha in [0, 1] (e.g. 0.5)")),
            },
        }
    }
}

impl std::fmt::Display for Smooth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Smooth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Smooth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(b) => Ok(if b { Smooth::Auto } else { Smooth::Off }),
            Raw::Number(a) => format!("{a}").parse().map_err(serde::de::Error::custom),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// One smoothed activation.
#[derive(Clone, Debug, Serialize)]
pub struct SmoothedSite {
    pub activation: String,
    /// The MatMuls reading it.
    pub matmuls: Vec<String>,
    /// α used (`None`: left unsmoothed because no candidate lowered the error).
    pub alpha: Option<f64>,
    /// Largest `|x|` over the calibration data, before and after (the per-tensor range).
    pub activation_max: (f64, f64),
    /// Relative squared error of the quantized product on the sampled rows, before and after.
    pub error: (f64, f64),
}

/// What smoothing did.
#[derive(Clone, Debug, Serialize)]
pub struct SmoothReport {
    pub smooth: Smooth,
    pub data: String,
    pub sites: Vec<SmoothedSite>,
    pub seconds: f64,
}

/// `(node name, node, weight initializer)` of a MatMul reading a site's activation.
type Reader = (String, NodeId, String);

/// An activation read only by planned 2-D MatMuls, produced by a `Mul` with a constant operand.
struct Site {
    activation: String,
    matmuls: Vec<Reader>,
    /// The `Mul` whose constant absorbs `1 / s`, and the index of that constant input.
    mul: NodeId,
    slot: usize,
    /// The constant, broadcast to one value per channel later.
    constant: Vec<f32>,
}

/// Statistics of one activation over the calibration data.
struct Stats {
    absmax: Vec<f32>,
    rows: Vec<Vec<f32>>,
    seen: u64,
}

/// Smooths `model` in place as `options.smooth` says, calibrated on `options`' calibration data,
/// for the MatMuls `options` would quantize; unused weights and constants are dropped. The model
/// computes the same function in float (to rounding); quantize it afterwards with smoothing off.
pub fn smooth_model(model: &mut Model, options: &super::QuantizeOptions) -> Result<SmoothReport> {
    let opts = options.resolve(&super::Defaults::detect())?;
    let plan = super::ops::plan(model, &opts);
    let report = smooth(model, &plan, &opts, options.smooth, &options.calibration_data()?)?;
    crate::passes::Pipeline::new(vec![crate::passes::by_name("dead-code")?]).run(model)?;
    Ok(report)
}

/// Smooths `model` in place (see the module docs); returns what was done.
fn smooth(model: &mut Model, plan: &Plan, opts: &Resolved, smooth: Smooth, data: &Inputs) -> Result<SmoothReport> {
    let start = std::time::Instant::now();
    let sites = find_sites(model, plan);
    let activations: Vec<String> = sites.iter().map(|s| s.activation.clone()).collect();
    let mut stats: HashMap<String, Stats> = HashMap::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    if !sites.is_empty() {
        calibrate::observe(model, &activations, data, &mut |name, values, dims| {
            let k = dims.last().copied().unwrap_or(0);
            if k == 0 {
                return;
            }
            let st = stats.entry(name.to_string()).or_insert_with(|| Stats { absmax: vec![0.0; k], rows: Vec::new(), seen: 0 });
            if st.absmax.len() != k {
                return;
            }
            for row in values.chunks_exact(k) {
                for (m, v) in st.absmax.iter_mut().zip(row) {
                    *m = m.max(v.abs());
                }
                st.seen += 1;
                if st.rows.len() < SAMPLE_ROWS {
                    st.rows.push(row.to_vec());
                } else {
                    let i = rng.random_range(0..st.seen) as usize;
                    if i < SAMPLE_ROWS {
                        st.rows[i] = row.to_vec();
                    }
                }
            }
        })?;
    }
    let scheme = Scheme { qtype: opts.weight_type, symmetric: opts.symmetric_weights, reduce_range: opts.reduce_range, per_column: opts.per_channel };
    let mut report = Vec::new();
    for site in &sites {
        let Some(st) = stats.get(&site.activation) else { continue };
        let weights = site
            .matmuls
            .iter()
            .map(|(_, _, w)| read_weight(model, w, st.absmax.len()))
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|reason| Error::Node { node: site.matmuls[0].0.clone(), reason })?;
        let choice = choose(st, &weights, smooth, scheme);
        let ratio = |a: &[f32]| a.iter().fold(0f64, |m, v| m.max(f64::from(*v)));
        let after: Vec<f32> = match &choice.scales {
            Some(s) => st.absmax.iter().zip(s).map(|(m, s)| m / s).collect(),
            None => st.absmax.clone(),
        };
        if let Some(s) = &choice.scales {
            apply(model, site, s, &weights)?;
        }
        report.push(SmoothedSite {
            activation: site.activation.clone(),
            matmuls: site.matmuls.iter().map(|m| m.0.clone()).collect(),
            alpha: choice.alpha,
            activation_max: (ratio(&st.absmax), ratio(&after)),
            error: (choice.error_before, choice.error_after),
        });
    }
    Ok(SmoothReport { smooth, data: data.describe(), sites: report, seconds: start.elapsed().as_secs_f64() })
}

/// The sites of `model`: activations read only by planned 2-D MatMuls, produced by a foldable `Mul`.
fn find_sites(model: &Model, plan: &Plan) -> Vec<Site> {
    let view = GraphView::new(model.graph());
    let mut by_activation: Vec<(String, Vec<Reader>)> = Vec::new();
    for t in plan.targets.iter().filter(|t| t.kind == Kind::Product && t.op_type == "MatMul" && t.dims.len() == 2 && !t.transposed) {
        match by_activation.iter_mut().find(|(a, _)| *a == t.activation) {
            Some((_, m)) => m.push((t.name.clone(), t.node, t.weight.clone())),
            None => by_activation.push((t.activation.clone(), vec![(t.name.clone(), t.node, t.weight.clone())])),
        }
    }
    let outputs: Vec<&str> = model.graph().output.iter().filter_map(|o| o.name.as_deref()).collect();
    let mut sites = Vec::new();
    for (activation, matmuls) in by_activation {
        let readers = view.consumers(&activation);
        if outputs.contains(&activation.as_str()) || readers.len() != matmuls.len() || !readers.iter().all(|r| matmuls.iter().any(|m| m.1 == *r)) {
            continue;
        }
        let k = view.initializer(&matmuls[0].2).map(|w| w.dims[0]).unwrap_or(0);
        if let Some((mul, slot, constant)) = foldable_mul(model, &view, &activation, k, &outputs) {
            sites.push(Site { activation, matmuls, mul, slot, constant });
        }
    }
    sites
}

/// The `Mul` producing `value` (or, when it multiplies two activations, the `Mul` by a constant
/// that produces one of them and is read by nothing else) and its constant input, scalar or `[k]`.
fn foldable_mul(model: &Model, view: &GraphView, value: &str, k: i64, outputs: &[&str]) -> Option<(NodeId, usize, Vec<f32>)> {
    let is_mul = |id: NodeId| {
        let n = view.node(id);
        n.is_op("Mul") && n.input.len() == 2
    };
    let constant_of = |id: NodeId| -> Option<(usize, Vec<f32>)> {
        let n = view.node(id);
        (0..2).find_map(|i| {
            let v = constant_value(model, view, &n.input[i])?;
            let crate::onnx::eval::Data::F32(x) = v.data else { return None };
            let per_channel = v.dims.last().is_some_and(|&d| d as i64 == k) && v.dims.iter().rev().skip(1).all(|&d| d == 1);
            (x.len() == 1 || per_channel).then_some((i, x))
        })
    };
    let id = view.producer(value).filter(|&id| is_mul(id))?;
    if let Some((slot, c)) = constant_of(id) {
        return Some((id, slot, c));
    }
    view.node(id).input.iter().find_map(|input| {
        let p = view.producer(input).filter(|&p| is_mul(p))?;
        if view.consumers(input).len() != 1 || outputs.contains(&input.as_str()) {
            return None;
        }
        let (slot, c) = constant_of(p)?;
        Some((p, slot, c))
    })
}

/// A 2-D float weight `[k, n]` as values and columns.
fn read_weight(model: &Model, name: &str, k: usize) -> std::result::Result<(Vec<f32>, usize), String> {
    let view = GraphView::new(model.graph());
    let t = float_initializer(&view, name)?;
    if t.dims.len() != 2 || t.dims[0] as usize != k {
        return Err(format!("weight '{name}' is {:?}, not [{k}, n]", t.dims));
    }
    let bytes = model.tensor_bytes(t).map_err(|e| e.to_string())?;
    Ok((tensor::f32_values(&bytes), t.dims[1] as usize))
}

struct Choice {
    alpha: Option<f64>,
    scales: Option<Vec<f32>>,
    error_before: f64,
    error_after: f64,
}

/// `s_j = max|x_j|^α / max|W_j|^(1−α)` (1 where either maximum is 0), clamped to `[1e-4, 1e4]`.
fn scales(absmax: &[f32], weights: &[(Vec<f32>, usize)], alpha: f64) -> Vec<f32> {
    let k = absmax.len();
    let mut wmax = vec![0f32; k];
    for (w, n) in weights {
        for (j, row) in w.chunks_exact(*n).enumerate().take(k) {
            wmax[j] = row.iter().fold(wmax[j], |m, v| m.max(v.abs()));
        }
    }
    absmax
        .iter()
        .zip(&wmax)
        .map(|(&a, &w)| if a > 0.0 && w > 0.0 { (f64::from(a).powf(alpha) / f64::from(w).powf(1.0 - alpha)).clamp(1e-4, 1e4) as f32 } else { 1.0 })
        .collect()
}

/// The α (and scales) to use: the given one, or the candidate with the least error.
fn choose(st: &Stats, weights: &[(Vec<f32>, usize)], smooth: Smooth, scheme: Scheme) -> Choice {
    let k = st.absmax.len();
    let x = Array2::from_shape_vec((st.rows.len(), k), st.rows.concat()).expect("rows of k values");
    let reference: Vec<Array2<f32>> = weights.iter().map(|(w, n)| x.dot(&ArrayView2::from_shape((k, *n), w).expect("k × n"))).collect();
    let error = |s: Option<&[f32]>| -> f64 { product_error(&x, weights, &reference, s, scheme) };
    let before = error(None);
    let candidates: Vec<f64> = match smooth {
        Smooth::Alpha(a) => vec![a],
        _ => ALPHAS.to_vec(),
    };
    let mut best = Choice { alpha: None, scales: None, error_before: before, error_after: before };
    for a in candidates {
        let s = scales(&st.absmax, weights, a);
        let e = error(Some(&s));
        if matches!(smooth, Smooth::Alpha(_)) || e < best.error_after {
            best = Choice { alpha: Some(a), scales: Some(s), error_before: before, error_after: e };
        }
    }
    best
}

/// Relative squared error `Σ‖Q(x/s)·Q(sW) − x·W‖² / Σ‖x·W‖²` over the sampled rows.
fn product_error(x: &Array2<f32>, weights: &[(Vec<f32>, usize)], reference: &[Array2<f32>], s: Option<&[f32]>, scheme: Scheme) -> f64 {
    let k = x.ncols();
    let mut xs = x.clone();
    if let Some(s) = s {
        for mut row in xs.rows_mut() {
            row.iter_mut().zip(s).for_each(|(v, s)| *v /= s);
        }
    }
    let act = Scheme { qtype: QType::U8, symmetric: false, reduce_range: false, per_column: false };
    let xq = Array2::from_shape_vec(xs.dim(), fake_quant(xs.as_slice().expect("standard layout"), xs.nrows(), k, act)).expect("same shape");
    let (mut num, mut den) = (0f64, 0f64);
    for ((w, n), r) in weights.iter().zip(reference) {
        let mut ws = w.clone();
        if let Some(s) = s {
            for (row, s) in ws.chunks_exact_mut(*n).zip(s) {
                row.iter_mut().for_each(|v| *v *= s);
            }
        }
        let wq = fake_quant(&ws, k, *n, scheme);
        let y = xq.dot(&ArrayView2::from_shape((k, *n), &wq).expect("k × n"));
        num += y.iter().zip(r).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>();
        den += r.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>();
    }
    if den > 0.0 { num / den } else { 0.0 }
}

/// `values` quantized as `scheme` says and dequantized (rows × cols, row-major).
fn fake_quant(values: &[f32], rows: usize, cols: usize, scheme: Scheme) -> Vec<f32> {
    match quantize_matrix(values, rows, cols, false, scheme) {
        Ok((q, params)) => q
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let p = params[if params.len() > 1 { i % cols } else { 0 }];
                let v = match scheme.qtype {
                    QType::S8 => i32::from(b as i8),
                    QType::U8 => i32::from(b),
                };
                (v - p.zero_point) as f32 * p.scale
            })
            .collect(),
        Err(_) => values.to_vec(),
    }
}

/// Folds `s` into the site: each weight's rows times `s` (a new initializer), the `Mul`'s constant
/// divided by `s` (a new `[k]` initializer).
fn apply(model: &mut Model, site: &Site, s: &[f32], weights: &[(Vec<f32>, usize)]) -> Result<()> {
    let k = s.len();
    let mut taken: std::collections::HashSet<String> = model.graph().initializer.iter().filter_map(|t| t.name.clone()).collect();
    for n in &model.graph().node {
        taken.extend(n.output.iter().cloned());
    }
    let mut fresh = |base: String| {
        let mut name = base.clone();
        let mut i = 0;
        while taken.contains(&name) {
            i += 1;
            name = format!("{base}_{i}");
        }
        taken.insert(name.clone());
        name
    };
    let float = |name: &str, dims: Vec<i64>, values: &[f32]| TensorProto {
        name: Some(name.into()),
        dims,
        data_type: Some(1),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()),
        ..Default::default()
    };
    let mut added = Vec::new();
    let mut rewire: Vec<(NodeId, usize, String)> = Vec::new();
    for ((_, node, weight), (w, n)) in site.matmuls.iter().zip(weights) {
        let mut ws = w.clone();
        for (row, s) in ws.chunks_exact_mut(*n).zip(s) {
            row.iter_mut().for_each(|v| *v *= s);
        }
        let name = fresh(format!("{weight}_smoothed"));
        added.push(float(&name, vec![k as i64, *n as i64], &ws));
        rewire.push((*node, 1, name));
    }
    let c: Vec<f32> = (0..k).map(|j| site.constant[if site.constant.len() == 1 { 0 } else { j }] / s[j]).collect();
    let name = fresh(format!("{}_smooth_scale", site.activation));
    added.push(float(&name, vec![k as i64], &c));
    rewire.push((site.mul, site.slot, name));
    let g = model.graph_mut();
    g.initializer.extend(added);
    for (node, slot, name) in rewire {
        g.node[node].input[slot] = name;
    }
    Ok(())
}
