//! Weight-only int8: every target's weight is stored in 8 bits with its scale and zero point and
//! turned back into float by a `DequantizeLinear` (per tensor, or per output column with
//! `axis = -1`), which ONNX Runtime constant-folds when the session loads. The file shrinks about
//! 4× on the quantized weights; compute stays float, so accuracy loss is the rounding of weights only.
//!
//! Gemm weights stored transposed (`transB = 1`) are written `[K, N]` like every quantized weight,
//! and the Gemm's `transB` is cleared.

use std::collections::HashMap;

use crate::onnx::graph::GraphView;
use crate::onnx::Model;
use crate::passes::Patch;

use super::dynamic::{dequantize_weight, lookup, remove_replaced_weights, replace_inputs, weight_initializers, Names, QWeight};
use super::ops::{Kind, Plan};
use super::{Resolved, Result};

pub(super) fn build(model: &Model, plan: &Plan, opts: &Resolved, weights: &HashMap<String, QWeight>) -> Result<Patch> {
    let view = GraphView::new(model.graph());
    let mut names = Names::new(&view);
    let mut patch = Patch::new(format!("weight-only quantization of {} nodes", plan.targets.len()));
    let mut dequantized: HashMap<String, String> = HashMap::new();
    let mut tables: HashMap<String, ((String, String, String), bool)> = HashMap::new();
    for t in &plan.targets {
        if t.kind == Kind::Lookup {
            // Gathered rows are dequantized after the lookup: the table stays 8-bit in memory too.
            let (n, per_column) = match tables.get(&t.weight) {
                Some(x) => x.clone(),
                None => {
                    let q = &weights[&t.weight];
                    let per_column = q.params.len() > 1;
                    let n = weight_initializers(&mut patch, &mut names, &t.weight, q, opts.weight_type);
                    tables.insert(t.weight.clone(), (n.clone(), per_column));
                    (n, per_column)
                }
            };
            lookup(&mut patch, &mut names, &view, t, (&n.0, &n.1, &n.2), per_column);
            continue;
        }
        let w = match dequantized.get(&t.weight) {
            Some(w) => w.clone(),
            None => {
                let q = &weights[&t.weight];
                let per_channel = q.params.len() > 1;
                let (qw, ws, wz) = weight_initializers(&mut patch, &mut names, &t.weight, q, opts.weight_type);
                let out = dequantize_weight(&mut patch, &mut names, &t.weight, (&qw, &ws, &wz), per_channel, t.dims.len());
                dequantized.insert(t.weight.clone(), out.clone());
                out
            }
        };
        replace_inputs(&mut patch, &view, t, &[(1, w)]);
    }
    remove_replaced_weights(&mut patch, &view, plan);
    Ok(patch)
}
