//! `Gemm(A, B, C)` with a constant float32 `B` (`transB` 0 or 1), `alpha = 1`, `transA = 0`, and
//! `C` absent or a constant `[N]` vector with `beta = 1`: HF exports use it for the pooler and the
//! classifier.

use crate::onnx::graph::{attr, node_label, GraphView, NodeId};

use super::{Kind, float_initializer, Bias, OpQuantizer, Target};

pub struct Gemm;

impl OpQuantizer for Gemm {
    fn op_type(&self) -> &'static str {
        "Gemm"
    }

    fn target(&self, view: &GraphView, id: NodeId, _fold_bias: bool) -> Result<Target, String> {
        let node = view.node(id);
        if !(2..=3).contains(&node.input.len()) || node.output.len() != 1 {
            return Err("unexpected number of inputs or outputs".into());
        }
        let float = |name: &str, default: f32| attr(node, name).and_then(|a| a.f).unwrap_or(default);
        let int = |name: &str| attr(node, name).and_then(|a| a.i).unwrap_or(0);
        if float("alpha", 1.0) != 1.0 || int("transA") != 0 {
            return Err("alpha ≠ 1 or transA set".into());
        }
        let transposed = int("transB") != 0;
        let w = &node.input[1];
        let t = float_initializer(view, w)?;
        if t.dims.len() != 2 || t.dims.iter().any(|&d| d <= 0) {
            return Err(format!("weight '{w}' dims {:?} are not 2-D", t.dims));
        }
        let (k, n) = if transposed { (t.dims[1], t.dims[0]) } else { (t.dims[0], t.dims[1]) };
        let bias = match node.input.get(2).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                let ct = float_initializer(view, c)?;
                if float("beta", 1.0) != 1.0 || !(ct.dims == [n] || ct.dims == [1, n]) {
                    return Err(format!("C '{c}' is not a [{n}] bias with beta = 1"));
                }
                if ct.dims != [n] {
                    return Err(format!("C '{c}' has dims {:?}; only a 1-D [{n}] bias is folded", ct.dims));
                }
                Some(Bias { tensor: ct.name.clone().unwrap_or_default(), add_node: None })
            }
        };
        Ok(Target {
            name: String::new(),
            kind: Kind::Product,
            node: id,
            label: node_label(node, id),
            op_type: "Gemm".into(),
            activation: node.input[0].clone(),
            weight: t.name.clone().unwrap_or_default(),
            transposed,
            dims: vec![k, n],
            bias,
            output: node.output[0].clone(),
        })
    }
}
