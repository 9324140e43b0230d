//! `low-rank`: replaces a MatMul's constant float32 weight `W` (k×n, an initializer read as the
//! second input) by the two factors of its truncated SVD, `W ≈ A·B` with `A` k×r and `B` r×n, so
//! `MatMul(x, W)` becomes `MatMul(MatMul(x, A), B)`. Lossy by design; applied only where it reduces
//! parameters (`r·(k+n) < k·n`). Each patch label gives the params before/after and the relative
//! Frobenius error `‖W − AB‖/‖W‖`.
//!
//! Options (`low-rank:rank=256,match=intermediate`): `rank=R` or `energy=F` (the smallest r with
//! `Σ_{i<r} s_i² ≥ F·Σ s_i²`), `match=S` (only MatMuls whose node or weight name contains S),
//! `min-params=N` (only weights of at least N elements).
//!
//! The SVD is computed in f64 from the eigendecomposition of the smaller Gram matrix (`WᵀW` or
//! `WWᵀ`, min(k,n)² entries, built with ndarray's matrix product; nalgebra's symmetric eigensolver).
//! Its eigenvalues are the s_i², its eigenvectors V (or U), and the factors are the projections
//! `A = W·V_r, B = V_rᵀ` (or `A = U_r, B = U_rᵀ·W`), i.e. `A·B` is the rank-r truncated SVD. The
//! Gram matrix squares the condition number, which in f64 leaves singular values above ~1e-7·s_max
//! accurate: far below what a truncation keeps.

use ndarray::Array2;

use crate::onnx::graph::GraphView;
use crate::onnx::proto::{NodeProto, TensorProto};
use crate::onnx::{builder, tensor, Model};

use super::{NodeRef, Pass, Patch, Result};

/// Suffix of the factor initializers this pass adds (they are never factored again).
const SUFFIXES: [&str; 2] = ["_lr_a", "_lr_b"];

/// How many singular values to keep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Keep {
    Rank(usize),
    /// Kept fraction of Σ s_i², in (0, 1].
    Energy(f64),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LowRank {
    /// `None` until configured: `low-rank` alone is an error.
    pub keep: Option<Keep>,
    /// Only MatMuls whose node name or weight name contains this.
    pub name_filter: Option<String>,
    /// Only weights with at least this many elements.
    pub min_params: u64,
}

impl LowRank {
    /// Parses `key=value` options (see the module doc).
    fn from_options(options: &[(&str, &str)]) -> std::result::Result<LowRank, String> {
        let mut p = LowRank::default();
        for &(k, v) in options {
            match k {
                "rank" => {
                    let r: usize = v.parse().map_err(|_| format!("rank={v}: expected a positive integer"))?;
                    if r == 0 {
                        return Err("rank=0: expected a positive integer".into());
                    }
                    p.keep = Some(Keep::Rank(r));
                }
                "energy" => {
                    let f: f64 = v.parse().map_err(|_| format!("energy={v}: expected a fraction in (0, 1]"))?;
                    if !(f > 0.0 && f <= 1.0) {
                        return Err(format!("energy={v}: expected a fraction in (0, 1]"));
                    }
                    p.keep = Some(Keep::Energy(f));
                }
                "match" => p.name_filter = Some(v.to_string()),
                "min-params" => p.min_params = v.parse().map_err(|_| format!("min-params={v}: expected an integer"))?,
                _ => return Err(format!("unknown option '{k}' (valid: rank, energy, match, min-params)")),
            }
        }
        if p.keep.is_none() {
            return Err("needs rank=R or energy=F (e.g. low-rank:rank=256,match=intermediate)".into());
        }
        Ok(p)
    }
}

impl Pass for LowRank {
    fn name(&self) -> &'static str {
        "low-rank"
    }

    fn describe(&self) -> &'static str {
        "LOSSY: factor MatMul weights by truncated SVD where it saves parameters (options: rank=R|energy=F, match=S, min-params=N)"
    }

    fn configure(&mut self, options: &[(&str, &str)]) -> std::result::Result<(), String> {
        *self = LowRank::from_options(options)?;
        Ok(())
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        let Some(keep) = self.keep else { return Ok(None) };
        let view = GraphView::new(model.graph());
        super::first_at(model.graph().node.len(), |i| self.factor_at(model, &view, i, keep))
    }

    /// Every MatMul in one look (one SVD each): each factors its own weight.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        let Some(keep) = self.keep else { return Ok(Vec::new()) };
        let view = GraphView::new(model.graph());
        super::batch_at(model.graph(), |i| self.factor_at(model, &view, i, keep))
    }
}

impl LowRank {
    /// The factoring of MatMul `i`'s weight, when it is one this pass factors.
    fn factor_at(&self, model: &Model, view: &GraphView, i: usize, keep: Keep) -> Result<Option<Patch>> {
        let g = model.graph();
        let node = &g.node[i];
        if node.op_type.as_deref() != Some("MatMul") || node.input.len() != 2 || node.output.len() != 1 {
            return Ok(None);
        }
        let (x, w_name) = (&node.input[0], &node.input[1]);
        let Some(w) = view.initializer(w_name) else { return Ok(None) };
        if view.is_input(w_name) || SUFFIXES.iter().any(|s| w_name.ends_with(s)) || w.data_type != Some(1) || w.dims.len() != 2 {
            return Ok(None);
        }
        let node_name = node.name.clone().unwrap_or_default();
        if let Some(f) = &self.name_filter {
            if !node_name.contains(f.as_str()) && !w_name.contains(f.as_str()) {
                return Ok(None);
            }
        }
        let (k, n) = (w.dims[0] as usize, w.dims[1] as usize);
        if ((k * n) as u64) < self.min_params || k < 2 || n < 2 {
            return Ok(None);
        }
        // The weight must be this MatMul's alone (and not a graph output) to be removed.
        let readers = view.consumers(w_name).len();
        if readers != 1 || g.output.iter().any(|o| o.name.as_deref() == Some(w_name.as_str())) {
            return Ok(None);
        }
        let max_r = (k * n - 1) / (k + n); // the largest r with r·(k+n) < k·n
        if max_r == 0 {
            return Ok(None);
        }
        if let Keep::Rank(r) = keep {
            if r > max_r {
                return Ok(None);
            }
        }
        let bytes = model.tensor_bytes(w)?;
        let values: Vec<f64> = tensor::f32_values(&bytes).into_iter().map(f64::from).collect();
        let wm = Array2::from_shape_vec((k, n), values).expect("dims match the bytes");
        let svd = truncated(&wm, keep);
        let r = svd.rank;
        if r > max_r {
            return Ok(None);
        }
        let a_name = unique(view, &format!("{w_name}_lr_a"));
        let b_name = unique(view, &format!("{w_name}_lr_b"));
        let mid = unique(view, &format!("{}_lr", node.output[0]));
        let mut patch = Patch::new(format!(
            "factor '{w_name}' [{k},{n}] at rank {r} of {}: params {} -> {}, relative Frobenius error {:.4}",
            k.min(n),
            k * n,
            r * (k + n),
            svd.rel_error
        ));
        patch.remove_nodes.push(NodeRef::Index(i));
        patch.remove_initializers.push(w_name.clone());
        patch.add_initializers.push(f32_init(&a_name, &svd.a));
        patch.add_initializers.push(f32_init(&b_name, &svd.b));
        patch.add_nodes.push(matmul(&format!("{node_name}_lr_a"), x, &a_name, &mid));
        patch.add_nodes.push(matmul(&format!("{node_name}_lr_b"), &mid, &b_name, &node.output[0]));
        Ok(Some(patch))
    }
}

fn matmul(name: &str, a: &str, b: &str, out: &str) -> NodeProto {
    builder::node("MatMul", name, &[a, b], &[out], &[])
}

fn f32_init(name: &str, m: &Array2<f64>) -> TensorProto {
    let raw: Vec<u8> = m.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect();
    TensorProto { name: Some(name.into()), dims: vec![m.nrows() as i64, m.ncols() as i64], data_type: Some(1), raw_data: Some(raw.into()), ..Default::default() }
}

/// `base`, or `base_2`, `base_3`, ... : the first name not defined in the graph.
fn unique(view: &GraphView, base: &str) -> String {
    let mut name = base.to_string();
    let mut k = 2;
    while view.is_defined(&name) {
        name = format!("{base}_{k}");
        k += 1;
    }
    name
}

/// A truncated SVD `W ≈ A·B`.
pub struct Truncated {
    pub rank: usize,
    /// k×r
    pub a: Array2<f64>,
    /// r×n
    pub b: Array2<f64>,
    /// Singular values, descending (all min(k,n) of them).
    pub singular_values: Vec<f64>,
    /// ‖W − A·B‖_F / ‖W‖_F (0 for a zero W).
    pub rel_error: f64,
}

/// The smallest r with `Σ_{i<r} s_i² ≥ fraction·Σ s_i²` (at least 1), for descending `s`.
pub(crate) fn rank_for_energy(s: &[f64], fraction: f64) -> usize {
    let total: f64 = s.iter().map(|v| v * v).sum();
    let mut acc = 0.0;
    for (i, v) in s.iter().enumerate() {
        acc += v * v;
        // A relative slack so that energy=1.0 is met despite rounding.
        if acc >= fraction * total * (1.0 - 1e-12) {
            return i + 1;
        }
    }
    s.len().max(1)
}

/// The truncated SVD of `w` keeping `keep` (a rank above min(k,n) is clamped).
pub fn truncated(w: &Array2<f64>, keep: Keep) -> Truncated {
    let (k, n) = w.dim();
    let tall = k >= n; // factor through V (n×n Gram) when n is the smaller side
    let gram = if tall { w.t().dot(w) } else { w.dot(&w.t()) };
    let m = gram.nrows();
    let eig = nalgebra::SymmetricEigen::new(nalgebra::DMatrix::from_fn(m, m, |i, j| gram[[i, j]]));
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let s: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i].max(0.0).sqrt()).collect();
    let r = match keep {
        Keep::Rank(r) => r.min(m),
        Keep::Energy(f) => rank_for_energy(&s, f),
    };
    let basis = Array2::from_shape_fn((m, r), |(i, j)| eig.eigenvectors[(i, order[j])]);
    let (a, b) = if tall { (w.dot(&basis), basis.t().to_owned()) } else { (basis.clone(), basis.t().dot(w)) };
    let total: f64 = s.iter().map(|v| v * v).sum();
    let kept: f64 = s[..r].iter().map(|v| v * v).sum();
    let rel_error = if total > 0.0 { ((total - kept).max(0.0) / total).sqrt() } else { 0.0 };
    Truncated { rank: r, a, b, singular_values: s, rel_error }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::graph::tests::value;
    use crate::onnx::proto::GraphProto;
    use crate::passes::tests::{model, ops};
    use crate::passes::{by_name, parse_list, Pipeline};

    fn weight(name: &str, k: usize, n: usize, f: impl Fn(usize, usize) -> f32) -> TensorProto {
        let raw: Vec<u8> = (0..k * n).flat_map(|i| f(i / n, i % n).to_le_bytes()).collect();
        TensorProto { name: Some(name.into()), dims: vec![k as i64, n as i64], data_type: Some(1), raw_data: Some(raw.into()), ..Default::default() }
    }

    fn graph(w: TensorProto) -> GraphProto {
        let wn = w.name.clone().unwrap();
        GraphProto {
            node: vec![matmul("mm", "x", &wn, "y")],
            initializer: vec![w],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        }
    }

    fn run_spec(m: &mut Model, spec: &str) -> crate::passes::Report {
        let mut p = Pipeline::new(parse_list(spec).unwrap_or_else(|e| panic!("{e}")));
        p.check_each_step = true;
        p.run(m).unwrap_or_else(|e| panic!("{e}"))
    }

    fn dense(m: &Model, name: &str) -> Array2<f64> {
        let t = m.graph().initializer.iter().find(|t| t.name.as_deref() == Some(name)).unwrap();
        let b = m.tensor_bytes(t).unwrap();
        let v: Vec<f64> = b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect();
        Array2::from_shape_vec((t.dims[0] as usize, t.dims[1] as usize), v).unwrap()
    }

    // Why: a rank-2 weight factored at rank 2 is exact: A·B equals W (so outputs are equal), the
    // MatMul becomes two, and the pass reaches a fixed point (factors are not factored again).
    #[test]
    fn rank_two_weight_at_rank_two_is_exact() {
        for (k, n) in [(12, 10), (6, 16)] {
            let f = |i: usize, j: usize| (i as f32 + 1.0) * (j as f32 * 0.5 - 1.0) + ((i * 3) % 5) as f32 * ((j % 4) as f32 - 1.5);
            let want = Array2::from_shape_fn((k, n), |(i, j)| f(i, j) as f64);
            let mut m = model(graph(weight("w", k, n, f)));
            let r = run_spec(&mut m, "low-rank:rank=2");
            assert_eq!(r.steps, 1, "{:?}", r.log);
            assert!(r.log[0].contains("params") && r.log[0].contains("rank 2"), "{:?}", r.log);
            assert_eq!(ops(&m), vec!["MatMul", "MatMul"]);
            let ab = dense(&m, "w_lr_a").dot(&dense(&m, "w_lr_b"));
            let err = (&ab - &want).iter().map(|v| v * v).sum::<f64>().sqrt() / want.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(err < 1e-5, "{k}x{n}: relative error {err}");
            assert_eq!(m.graph().node[1].output, vec!["y"]);
        }
    }

    // Why: factoring must reduce parameters; at r·(k+n) ≥ k·n the weight stays as it is.
    #[test]
    fn leaves_weights_alone_when_factoring_does_not_save_parameters() {
        // 4×4: rank 2 gives 2·8 = 16 = 16 parameters, no saving.
        let mut m = model(graph(weight("w", 4, 4, |i, j| (i * 4 + j) as f32)));
        assert_eq!(run_spec(&mut m, "low-rank:rank=2").steps, 0);
        // energy=1.0 on a full-rank 4×4: rank 4, no saving.
        let mut m = model(graph(weight("w", 4, 4, |i, j| if i == j { 1.0 } else { 0.0 })));
        assert_eq!(run_spec(&mut m, "low-rank:energy=1.0").steps, 0);
        // The filters: a name that does not match, a size below min-params.
        let mut m = model(graph(weight("w", 12, 10, |i, j| (i + j) as f32)));
        assert_eq!(run_spec(&mut m, "low-rank:rank=1,match=intermediate").steps, 0);
        assert_eq!(run_spec(&mut m, "low-rank:rank=1,min-params=121").steps, 0);
        assert_eq!(run_spec(&mut m, "low-rank:rank=1,min-params=120,match=mm").steps, 1);
    }

    // Why: energy selection must pick the smallest rank whose kept energy reaches the fraction.
    #[test]
    fn energy_picks_the_rank_on_a_known_spectrum() {
        // s² = 16, 9, 4, 1 (total 30): 16/30 = .53, 25/30 = .83, 29/30 = .967, 1.
        let s = [4.0, 3.0, 2.0, 1.0];
        assert_eq!(rank_for_energy(&s, 0.5), 1);
        assert_eq!(rank_for_energy(&s, 0.8), 2);
        assert_eq!(rank_for_energy(&s, 0.9), 3);
        assert_eq!(rank_for_energy(&s, 0.967), 4);
        assert_eq!(rank_for_energy(&s, 1.0), 4);
        // The same spectrum as a 8×6 weight: diag(4,3,2,1,0,0), energy 0.8 -> rank 2, error √(5/30).
        let w = Array2::from_shape_fn((8, 6), |(i, j)| if i == j && i < 4 { s[i] } else { 0.0 });
        let t = truncated(&w, Keep::Energy(0.8));
        assert_eq!(t.rank, 2);
        assert!((t.rel_error - (5.0f64 / 30.0).sqrt()).abs() < 1e-9, "{}", t.rel_error);
        assert!((t.singular_values[0] - 4.0).abs() < 1e-9 && t.singular_values[4].abs() < 1e-6);
    }

    // Why: options are user input: unknown ones and a missing rank/energy must be clear errors,
    // and options must not leak into the comma-separated list of passes.
    #[test]
    fn options_are_parsed_and_checked() {
        let list = parse_list("dead-code,low-rank:energy=0.9,match=intermediate,identity").unwrap();
        assert_eq!(list.iter().map(|p| p.name()).collect::<Vec<_>>(), vec!["dead-code", "low-rank", "identity"]);
        let e = parse_list("low-rank:rank=4,bogus=1").err().unwrap().to_string();
        assert!(e.contains("low-rank") && e.contains("unknown option 'bogus'"), "{e}");
        let e = parse_list("low-rank").err().unwrap().to_string();
        assert!(e.contains("needs rank=R or energy=F"), "{e}");
        let e = parse_list("low-rank:energy=1.5").err().unwrap().to_string();
        assert!(e.contains("energy=1.5"), "{e}");
        let e = parse_list("dead-code:x=1").err().unwrap().to_string();
        assert!(e.contains("dead-code") && e.contains("takes no options"), "{e}");
        assert!(by_name("low-rank:rank=3").is_ok());
    }
}
