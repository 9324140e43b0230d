//! `sdpa-guard`: removes the NaN guard that PyTorch's scaled-dot-product-attention export writes
//! after every attention softmax, `Where(IsNaN(p), 0, p)` with `p = Softmax(scores + bias)` and
//! `bias = Where(mask, 0, -inf)`. The guard exists for one case only: a query row whose keys are
//! *all* masked, where every score is `-inf` and the softmax is `0/0`. The pass writes the mask bias
//! with the lowest finite float instead of `-inf` and drops the guard. For every row with at least
//! one visible key the result is bit-identical (`exp(lowest - max)` is exactly 0, as `exp(-inf)`);
//! a sequence whose attention mask is all zeros gets a uniform attention row where the export had
//! zeros (its outputs carry no meaning either way). On BERT-base at batch 1 × seq 128 the guard's
//! IsNaN and Where are a tenth of an int8 run in ONNX Runtime.
//!
//! Only this exact shape is rewritten: the Where's condition is `IsNaN` of its third input, its
//! second input a constant zero, that input a `Softmax` of an `Add` one of whose operands is a
//! `Where` choosing between a constant 0 and a constant `-inf`. Any other guard is left alone.

use crate::onnx::builder;
use crate::onnx::graph::{node_label, GraphView, NodeId};
use crate::onnx::proto::{NodeProto, TensorProto};
use crate::onnx::Model;

use super::{can_redirect, constant_scalar, op_is, NodeRef, Pass, Patch, Result};

pub(crate) struct SdpaGuard;

/// The producer of `value` when it is the default-domain `op`.
fn made_by(view: &GraphView, value: &str, op: &str) -> Option<NodeId> {
    view.producer(value).filter(|&id| op_is(view, id, op))
}

/// The mask-bias `Where(mask, 0, c)` reached from the softmax input `x`, with its `c` input and
/// whether `c` is still `-inf` (else it is already the lowest finite float, rewritten for another
/// softmax that shares the bias).
fn mask_bias<'g>(model: &Model, view: &GraphView<'g>, x: &str) -> Option<(NodeId, &'g str, bool)> {
    let add = view.node(made_by(view, x, "Add")?);
    add.input.iter().find_map(|operand| {
        let id = made_by(view, operand, "Where")?;
        let w = view.node(id);
        let (zero, c) = (w.input.get(1)?, w.input.get(2)?);
        if constant_scalar(model, view, zero) != Some(0.0) {
            return None;
        }
        match constant_scalar(model, view, c)? {
            v if v == f64::NEG_INFINITY => Some((id, c.as_str(), true)),
            v if v == f64::from(f32::MIN) || v == f64::MIN => Some((id, c.as_str(), false)),
            _ => None,
        }
    })
}

impl Pass for SdpaGuard {
    fn name(&self) -> &'static str {
        "sdpa-guard"
    }

    fn describe(&self) -> &'static str {
        "drop the Where(IsNaN(softmax), 0, softmax) guard of PyTorch's SDPA export, writing the mask bias with the lowest finite float instead of -inf (identical unless a sequence's mask is all zeros)"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        let view = GraphView::new(model.graph());
        super::first_at(model.graph().node.len(), |id| Ok(guard_at(model, &view, id)))
    }

    /// Every guard in one look: each removes its own Where (and IsNaN), so they are independent.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        let view = GraphView::new(model.graph());
        super::batch_at(model.graph(), |id| Ok(guard_at(model, &view, id)))
    }
}

/// The patch removing the guard whose `Where` is node `id`, if it is one.
fn guard_at(model: &Model, view: &GraphView, id: NodeId) -> Option<Patch> {
    let node = view.node(id);
    if !op_is(view, id, "Where") || node.input.len() != 3 || node.output.len() != 1 {
        return None;
    }
    let (cond, zero, p) = (&node.input[0], &node.input[1], &node.input[2]);
    let isnan = made_by(view, cond, "IsNaN")?;
    let softmax = made_by(view, p, "Softmax")?;
    if view.node(isnan).input.first() != Some(p) || constant_scalar(model, view, zero) != Some(0.0) {
        return None;
    }
    let x = view.node(softmax).input.first()?;
    let (bias, inf, still_infinite) = mask_bias(model, view, x)?;
    let out = &node.output[0];
    if can_redirect(view, out, p).is_some() {
        return None;
    }
    let mut patch = Patch::new(format!("{} (NaN guard of {}) removed", node_label(node, id), node_label(view.node(softmax), softmax)));
    patch.remove_nodes.push(NodeRef::Index(id));
    if view.consumers(cond) == [id] {
        patch.remove_nodes.push(NodeRef::Index(isnan));
    }
    patch.redirect.push((out.clone(), p.clone()));
    if still_infinite {
        // The bias reads the lowest finite value: a new constant of the same shape and type.
        let t = finite_lowest(model, view, inf)?;
        let name = super::conv_matmul::fresh(view, &mut Default::default(), &format!("{inf}_finite"));
        patch.add_nodes.push(builder::tensor_constant_node(&name, &name, t));
        let mut moved: NodeProto = view.node(bias).clone();
        moved.input[2] = name;
        patch.remove_nodes.push(NodeRef::Index(bias));
        patch.add_nodes.push(moved);
    }
    Some(patch)
}

/// `-inf` of `value`'s float type and shape as that type's lowest finite value (float32 and
/// float64; other types are left alone).
fn finite_lowest(model: &Model, view: &GraphView, value: &str) -> Option<TensorProto> {
    let v = super::constant_value(model, view, value)?;
    let dims: Vec<i64> = v.dims.iter().map(|&d| d as i64).collect();
    let (data_type, raw): (i32, Vec<u8>) = match v.dtype {
        crate::onnx::dtype::DataType::Float => (1, f32::MIN.to_le_bytes().to_vec()),
        crate::onnx::dtype::DataType::Double => (11, f64::MIN.to_le_bytes().to_vec()),
        _ => return None,
    };
    Some(TensorProto { dims, data_type: Some(data_type), raw_data: Some(raw.into()), ..Default::default() })
}
