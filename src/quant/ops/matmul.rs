//! `MatMul(x, W)` with a constant float32 weight on the right (`[K, N]`, or `[..., K, N]` batched).

use crate::onnx::graph::{node_label, GraphView, NodeId};

use super::{Kind, float_initializer, following_bias, Bias, OpQuantizer, Target};

pub struct MatMul;

impl OpQuantizer for MatMul {
    fn op_type(&self) -> &'static str {
        "MatMul"
    }

    fn target(&self, view: &GraphView, id: NodeId, fold_bias: bool) -> Result<Target, String> {
        let node = view.node(id);
        if node.input.len() != 2 || node.output.len() != 1 {
            return Err("unexpected number of inputs or outputs".into());
        }
        let (x, w) = (&node.input[0], &node.input[1]);
        if float_initializer(view, x).is_ok() {
            return Err(match float_initializer(view, w) {
                Ok(_) => "both operands are constant (fold them instead)".into(),
                Err(_) => format!("the constant operand '{x}' is on the left; the integer kernels need the weight on the right"),
            });
        }
        let t = float_initializer(view, w).map_err(|e| match e.contains("computed at run time") {
            true => "both operands are activations (attention scores); left in float".into(),
            false => e,
        })?;
        if t.dims.len() < 2 || t.dims.iter().any(|&d| d <= 0) {
            return Err(format!("weight '{w}' dims {:?} are not [..., K, N]", t.dims));
        }
        let n = *t.dims.last().expect("two dims or more");
        let bias = if fold_bias { following_bias(view, &node.output[0], n) } else { None };
        let output = bias.as_ref().map_or(node.output[0].clone(), |(_, add)| view.node(*add).output[0].clone());
        Ok(Target {
            name: String::new(),
            kind: Kind::Product,
            node: id,
            label: node_label(node, id),
            op_type: "MatMul".into(),
            activation: x.clone(),
            weight: t.name.clone().unwrap_or_default(),
            transposed: false,
            dims: t.dims.clone(),
            bias: bias.map(|(tensor, add)| Bias { tensor, add_node: Some(add) }),
            output,
        })
    }
}
