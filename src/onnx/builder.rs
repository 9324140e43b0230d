//! Building graphs from scratch: typed inputs and outputs, initializers from raw little-endian
//! bytes, nodes with auto-named single outputs, and small constants kept as `Constant` nodes (so
//! they do not count as parameters). Code outside `onnx/` describes architectures through this API
//! and never sees the protobuf types.

use bytes::Bytes;

use super::dtype::DataType;
use super::io::Model;
use super::proto::{
    attribute_proto::AttributeType, tensor_shape_proto::Dimension, type_proto, AttributeProto, Dim, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// One axis of a graph input or output.
#[derive(Clone, Copy, Debug)]
pub enum Axis<'a> {
    Fixed(i64),
    Named(&'a str),
}

/// A node attribute value.
#[derive(Clone, Debug)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Str(String),
}

/// Accumulates one graph; [`GraphBuilder::finish`] wraps it in a model.
#[derive(Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    counter: usize,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        GraphBuilder { graph: GraphProto { name: Some(name.into()), ..Default::default() }, counter: 0 }
    }

    /// Declares a graph input.
    pub fn input(&mut self, name: &str, dtype: DataType, shape: &[Axis]) {
        self.graph.input.push(value_info(name, dtype, shape));
    }

    /// Declares a graph output (some node must produce `name`).
    pub fn output(&mut self, name: &str, dtype: DataType, shape: &[Axis]) {
        self.graph.output.push(value_info(name, dtype, shape));
    }

    /// Adds an initializer holding `raw` (little-endian elements of `dtype`); returns its name.
    pub fn initializer(&mut self, name: &str, dtype: DataType, dims: &[i64], raw: Vec<u8>) -> String {
        self.graph.initializer.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(dtype.code()),
            raw_data: Some(Bytes::from(raw)),
            ..Default::default()
        });
        name.to_string()
    }

    /// A fresh value name with the given prefix.
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// Adds a node with one output named `output`; returns that name.
    pub fn node_to(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)], output: &str) -> String {
        let id = self.graph.node.len();
        self.graph.node.push(node(op, &format!("{op}_{id}"), inputs, &[output], attrs));
        output.to_string()
    }

    /// Adds a node with several outputs named `outputs` (e.g. `DynamicQuantizeLinear`'s value,
    /// scale and zero point).
    pub(crate) fn node_outputs(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)], outputs: &[&str]) {
        let id = self.graph.node.len();
        self.graph.node.push(node(op, &format!("{op}_{id}"), inputs, outputs, attrs));
    }

    /// Adds a node with one auto-named output; returns that name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        let out = self.fresh(op);
        self.node_to(op, inputs, attrs, &out)
    }

    /// A 1-D int64 `Constant` node.
    pub fn const_i64(&mut self, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(DataType::Int64, &[values.len() as i64], raw)
    }

    /// A scalar int64 `Constant` node.
    pub(crate) fn scalar_i64(&mut self, value: i64) -> String {
        self.constant(DataType::Int64, &[], value.to_le_bytes().to_vec())
    }

    /// A scalar float32 `Constant` node.
    pub(crate) fn scalar_f32(&mut self, value: f32) -> String {
        self.constant(DataType::Float, &[], value.to_le_bytes().to_vec())
    }

    fn constant(&mut self, dtype: DataType, dims: &[i64], raw: Vec<u8>) -> String {
        let out = self.fresh("const");
        let id = self.graph.node.len();
        self.graph.node.push(constant_node(&format!("Constant_{id}"), &out, dtype, dims, raw));
        out
    }

    /// Wraps the graph in a model importing the default domain at `opset`.
    pub fn finish(self, opset: i64, producer: &str, doc: &str) -> Model {
        let proto = ModelProto {
            ir_version: Some(ir_version_for(opset)),
            producer_name: Some(producer.into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            doc_string: (!doc.is_empty()).then(|| doc.to_string()),
            graph: Some(self.graph),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(opset) }],
            ..Default::default()
        };
        Model::from_proto(proto, "<synthesized>", ".")
    }
}

/// A node of type `op` named `name` (passes build their replacement nodes with this).
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs.iter().map(|(n, a)| attribute(n, a)).collect(),
        ..Default::default()
    }
}

/// A `Constant` node named `name` writing a 1-D int64 tensor `values` to `output` (passes use it
/// for shape operands, which are not parameters).
pub(crate) fn const_i64_node(name: &str, output: &str, values: &[i64]) -> NodeProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    constant_node(name, output, DataType::Int64, &[values.len() as i64], raw)
}

fn constant_node(name: &str, output: &str, dtype: DataType, dims: &[i64], raw: Vec<u8>) -> NodeProto {
    let t = TensorProto { dims: dims.to_vec(), data_type: Some(dtype.code()), raw_data: Some(Bytes::from(raw)), ..Default::default() };
    tensor_constant_node(name, output, t)
}

/// A `Constant` node named `name` writing the tensor `t` to `output`.
pub(crate) fn tensor_constant_node(name: &str, output: &str, t: TensorProto) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some("Constant".into()),
        output: vec![output.into()],
        attribute: vec![AttributeProto {
            name: Some("value".into()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(t),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The IR version that introduced the given default-domain opset (so older runtimes accept it).
pub(crate) fn ir_version_for(opset: i64) -> i64 {
    match opset {
        ..=15 => 7,
        16..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn value_info(name: &str, dtype: DataType, shape: &[Axis]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|a| Dimension {
            value: Some(match a {
                Axis::Fixed(v) => Dim::Value(*v),
                Axis::Named(s) => Dim::Param(s.to_string()),
            }),
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(type_proto::Tensor { elem_type: Some(dtype.code()), shape: Some(TensorShapeProto { dim }) }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn attribute(name: &str, a: &Attr) -> AttributeProto {
    let mut p = AttributeProto { name: Some(name.into()), ..Default::default() };
    match a {
        Attr::Int(i) => {
            p.i = Some(*i);
            p.r#type = Some(AttributeType::Int as i32);
        }
        Attr::Ints(v) => {
            p.ints = v.clone();
            p.r#type = Some(AttributeType::Ints as i32);
        }
        Attr::Float(f) => {
            p.f = Some(*f);
            p.r#type = Some(AttributeType::Float as i32);
        }
        Attr::Str(v) => {
            p.s = Some(v.clone().into_bytes().into());
            p.r#type = Some(AttributeType::String as i32);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::check;

    #[test]
    fn a_built_graph_is_sound_and_constants_are_not_parameters() {
        let mut b = GraphBuilder::new("g");
        b.input("x", DataType::Float, &[Axis::Named("batch"), Axis::Fixed(2)]);
        let w = b.initializer("w", DataType::Float, &[2], [1f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect());
        let two = b.scalar_f32(2.0);
        let y = b.node("Mul", &["x", &w], &[]);
        b.node_to("Add", &[&y, &two], &[], "y");
        b.output("y", DataType::Float, &[Axis::Named("batch"), Axis::Fixed(2)]);
        let m = b.finish(17, "test", "");
        assert!(check::check(&m).is_empty(), "{:?}", check::check(&m));
        assert_eq!(crate::onnx::stats::inspect(&m, 1, 1).unwrap().parameters, 2);
    }
}
