//! Static quantization in QDQ form: every quantized product reads its activation through a
//! `QuantizeLinear → DequantizeLinear` pair whose scale and zero point come from calibration, and
//! its int8 weight through a `DequantizeLinear` (per output column with `--per-channel`).
//!
//! The graph stays a float graph with explicit rounding points, which is what ONNX Runtime's QDQ
//! optimizer expects: it fuses `DQ(x), DQ(W) → MatMul` into its integer kernels
//! (`MatMulIntegerToFloat`, `QGemm`) when the session loads, with the activation scale fixed instead
//! of measured at run time. Each consumer gets its own `DequantizeLinear` nodes (the optimizer
//! fuses a node group only when its DQ nodes feed it alone); the quantized data, scales and zero
//! points are shared.
//!
//! Embedding lookups are quantized as in every mode (8-bit table, `DequantizeLinear` after the
//! `Gather`). Activations are asymmetric (zero point from the range) in `activation_type`.

use std::collections::HashMap;

use crate::onnx::builder;
use crate::onnx::graph::GraphView;
use crate::onnx::proto::TensorProto;
use crate::onnx::Model;
use crate::passes::Patch;

use super::dynamic::{dequantize_weight, lookup, remove_replaced_weights, replace_inputs, weight_initializers, Names, QWeight};
use super::ops::{Kind, Plan};
use super::params::params_for_range;
use super::{Error, Resolved, Result};

/// The static-mode patch for `plan`; `ranges` holds the calibrated range of every product's activation.
pub(super) fn build(model: &Model, plan: &Plan, opts: &Resolved, weights: &HashMap<String, QWeight>, ranges: &HashMap<String, (f32, f32)>) -> Result<Patch> {
    let view = GraphView::new(model.graph());
    let mut names = Names::new(&view);
    let mut patch = Patch::new(format!("static quantization of {} nodes", plan.targets.len()));
    let mut written: HashMap<String, ((String, String, String), bool)> = HashMap::new();
    // QuantizeLinear output, scale and zero point per activation, shared by its readers.
    let mut quantized: HashMap<String, (String, String, String)> = HashMap::new();
    for t in &plan.targets {
        let ((qw, ws, wz), per_column) = match written.get(&t.weight) {
            Some(n) => n.clone(),
            None => {
                let q = &weights[&t.weight];
                let entry = (weight_initializers(&mut patch, &mut names, &t.weight, q, opts.weight_type), q.params.len() > 1);
                written.insert(t.weight.clone(), entry.clone());
                entry
            }
        };
        if t.kind == Kind::Lookup {
            lookup(&mut patch, &mut names, &view, t, (&qw, &ws, &wz), per_column);
            continue;
        }
        let (xq, xs, xz) = match quantized.get(&t.activation) {
            Some(n) => n.clone(),
            None => {
                let &(lo, hi) = ranges.get(&t.activation).ok_or_else(|| Error::Node { node: t.label.clone(), reason: format!("activation '{}' was not calibrated", t.activation) })?;
                let p = params_for_range(lo, hi, opts.activation_type, false, false)
                    .map_err(|reason| Error::Node { node: t.label.clone(), reason: format!("activation '{}': {reason}", t.activation) })?;
                let (s, z, q) = (
                    names.fresh(&format!("{}_scale", t.activation)),
                    names.fresh(&format!("{}_zero_point", t.activation)),
                    names.fresh(&format!("{}_quantized", t.activation)),
                );
                patch.add_initializers.push(scalar(&s, 1, p.scale.to_le_bytes().to_vec()));
                patch.add_initializers.push(scalar(&z, opts.activation_type.onnx_code(), vec![p.zero_point as u8]));
                patch.add_nodes.push(builder::node("QuantizeLinear", &names.fresh(&format!("{}_QuantizeLinear", t.activation)), &[&t.activation, &s, &z], &[&q], &[]));
                let n = (q, s, z);
                quantized.insert(t.activation.clone(), n.clone());
                n
            }
        };
        let x = names.fresh(&format!("{}_dequantized", t.activation));
        patch.add_nodes.push(builder::node("DequantizeLinear", &names.fresh(&format!("{}_DequantizeLinear", t.activation)), &[&xq, &xs, &xz], &[&x], &[]));
        let w = dequantize_weight(&mut patch, &mut names, &t.weight, (&qw, &ws, &wz), per_column, t.dims.len());
        replace_inputs(&mut patch, &view, t, &[(0, x), (1, w)]);
    }
    remove_replaced_weights(&mut patch, &view, plan);
    Ok(patch)
}

fn scalar(name: &str, code: i32, raw: Vec<u8>) -> TensorProto {
    TensorProto { name: Some(name.into()), dims: vec![], data_type: Some(code), raw_data: Some(raw.into()), ..Default::default() }
}
