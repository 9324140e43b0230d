//! Static quantization: every quantized product reads its activation through a `QuantizeLinear`
//! whose scale and zero point come from calibration (one per activation, shared by its readers).
//!
//! Two forms:
//! * **integer** (the default): `com.microsoft.MatMulIntegerToFloat(xq, Wq, x scale, W scale, x zero
//!   point, W zero point, bias)`. The bias `Add` after a MatMul and a Gemm's `C` ride in the node,
//!   so ONNX Runtime fuses the Gelu after it into `Gelu` rather than `BiasGelu`, and no float `Add`
//!   runs; the weight is a 2-D constant that ONNX Runtime packs once.
//! * **QDQ** (`--qdq`): the graph stays a float graph with explicit rounding points
//!   (`QuantizeLinear → DequantizeLinear` on the activation, `DequantizeLinear` on the int8 weight,
//!   per output column with `--per-channel`), portable to any runtime. ONNX Runtime's QDQ optimizer
//!   fuses `DQ(x), DQ(W) → MatMul` into `MatMulIntegerToFloat` when the session loads, but leaves the
//!   bias `Add` outside and a Gemm's weight `DequantizeLinear` running on every call. Each consumer
//!   gets its own `DequantizeLinear` nodes (the optimizer fuses a node group only when its DQ nodes
//!   feed it alone); the quantized data, scales and zero points are shared.
//!
//! Embedding lookups are quantized as in every mode (8-bit table, `DequantizeLinear` after the
//! `Gather`). Activations are asymmetric (zero point from the range) in `activation_type`.

use std::collections::{HashMap, HashSet};

use crate::onnx::builder;
use crate::onnx::graph::GraphView;
use crate::onnx::proto::TensorProto;
use crate::onnx::Model;
use crate::passes::Patch;

use super::dynamic::{dequantize_weight, lookup, ms_node, remove_replaced_weights, replace_inputs, weight_initializers, Names, QWeight};
use super::ops::{Kind, Plan, Target};
use super::params::params_for_range;
use super::{Error, Resolved, Result};

/// The static-mode patch for `plan`; `ranges` holds the calibrated range of every product's activation.
/// Products reading one of `dynamic` (auto mode: activations without outlier channels) are written
/// as dynamic ones, `com.microsoft.DynamicQuantizeMatMul` with the bias folded.
pub(super) fn build(model: &Model, plan: &Plan, opts: &Resolved, weights: &HashMap<String, QWeight>, ranges: &HashMap<String, (f32, f32)>, dynamic: &HashSet<String>) -> Result<Patch> {
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
        if dynamic.contains(&t.activation) {
            integer_product(&mut patch, &view, t, "DynamicQuantizeMatMul", &[&t.activation, &qw, &ws, &wz]);
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
        if !opts.qdq {
            integer_product(&mut patch, &view, t, "MatMulIntegerToFloat", &[&xq, &qw, &xs, &ws, &xz, &wz]);
            continue;
        }
        let x = names.fresh(&format!("{}_dequantized", t.activation));
        patch.add_nodes.push(builder::node("DequantizeLinear", &names.fresh(&format!("{}_DequantizeLinear", t.activation)), &[&xq, &xs, &xz], &[&x], &[]));
        let w = dequantize_weight(&mut patch, &mut names, &t.weight, (&qw, &ws, &wz), per_column, t.dims.len());
        replace_inputs(&mut patch, &view, t, &[(0, x), (1, w)]);
    }
    remove_replaced_weights(&mut patch, &view, plan);
    Ok(patch)
}

/// Replaces the nodes of `t` (the product and its folded bias `Add`) by one `com.microsoft` node
/// `op` that reads `inputs`, then the bias, and writes the target's output.
fn integer_product(patch: &mut Patch, view: &GraphView, t: &Target, op: &str, inputs: &[&str]) {
    patch.remove_nodes.extend(t.replaced_nodes().into_iter().map(crate::passes::NodeRef::Index));
    let base = view.node(t.node).name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| t.output.clone());
    let mut inputs = inputs.to_vec();
    if let Some(b) = &t.bias {
        inputs.push(&b.tensor);
    }
    patch.add_nodes.push(ms_node(op, &format!("{base}_quant"), &inputs, &[&t.output]));
}

fn scalar(name: &str, code: i32, raw: Vec<u8>) -> TensorProto {
    TensorProto { name: Some(name.into()), dims: vec![], data_type: Some(code), raw_data: Some(raw.into()), ..Default::default() }
}
