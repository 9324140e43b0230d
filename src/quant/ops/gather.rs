//! `Gather(table, indices)` on axis 0 with a constant 2-D float32 table: word, position and token
//! type embeddings. The table is stored in 8 bits; the quantized form gathers the 8-bit rows and
//! dequantizes only those (`DequantizeLinear(Gather(q, indices), scale, zero point)`, per column of
//! the hidden size with `--per-channel`), so the float table is never rebuilt.

use crate::onnx::graph::{attr_i, node_label, GraphView, NodeId};

use super::{float_initializer, Kind, OpQuantizer, Target};

pub struct Gather;

impl OpQuantizer for Gather {
    fn op_type(&self) -> &'static str {
        "Gather"
    }

    fn candidate(&self, view: &GraphView, id: NodeId) -> bool {
        view.node(id).input.first().is_some_and(|t| float_initializer(view, t).is_ok())
    }

    fn target(&self, view: &GraphView, id: NodeId, _fold_bias: bool) -> Result<Target, String> {
        let node = view.node(id);
        if node.input.len() != 2 || node.output.len() != 1 {
            return Err("unexpected number of inputs or outputs".into());
        }
        if attr_i(node, "axis").unwrap_or(0) != 0 {
            return Err("axis is not 0".into());
        }
        let t = float_initializer(view, &node.input[0]).map_err(|e| match e.contains("computed at run time") {
            true => "gathers from a value computed at run time (shape plumbing), not a table".into(),
            false => e,
        })?;
        if t.dims.len() != 2 || t.dims.iter().any(|&d| d <= 0) {
            return Err(format!("table dims {:?} are not [rows, hidden]", t.dims));
        }
        Ok(Target {
            name: String::new(),
            kind: Kind::Lookup,
            node: id,
            label: node_label(node, id),
            op_type: "Gather".into(),
            activation: node.input[1].clone(),
            weight: t.name.clone().unwrap_or_default(),
            transposed: false,
            dims: t.dims.clone(),
            bias: None,
            output: node.output[0].clone(),
        })
    }
}
