//! Structure-aware mutation of ONNX models, for fuzzing: decode a seed, break one to three things
//! the way hostile or corrupt files do (absurd dims, wrong types, short data, external data that
//! escapes, renamed or duplicated values, swapped op types, odd attributes, future opsets), encode
//! again. Byte-level mutation alone rarely gets past protobuf decoding; these edits reach the
//! checks, shape inference, statistics and passes behind it.

use bytes::Bytes;
use prost::Message;
use rand::{Rng, RngCore};

use super::proto::{
    tensor_proto::DataLocation, tensor_shape_proto::Dimension, AttributeProto, Dim, GraphProto, ModelProto, NodeProto,
    StringStringEntryProto, TensorProto,
};

/// Integers that break arithmetic: zero, signs, powers of two around type limits.
const INTERESTING: &[i64] = &[
    0, 1, -1, 2, 3, 4, 7, 8, 16, 64, 128, 255, 256, 1023, 4096, 65535, 65536, -2, -128, -129, 1 << 31, (1 << 31) - 1,
    -(1 << 31), 1 << 32, 1 << 40, 1 << 62, i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1,
];

/// Op types whose shape rules (and passes) the mutator points nodes at.
const OPS: &[&str] = &[
    "MatMul", "Gemm", "Conv", "Add", "Mul", "Sub", "Div", "Reshape", "Transpose", "Gather", "Shape", "Slice", "Concat",
    "Unsqueeze", "Squeeze", "Split", "Expand", "ConstantOfShape", "Range", "Where", "Equal", "Cast", "Softmax",
    "LayerNormalization", "ReduceMean", "Flatten", "Identity", "Constant", "Erf", "Tanh", "Sqrt", "Pow", "Size",
    "ArgMax", "Tile", "Dropout", "Loop", "If", "FrobnicateV2", "",
];

const ATTRS: &[&str] = &[
    "axis", "axes", "perm", "transA", "transB", "kernel_shape", "strides", "pads", "dilations", "group", "to",
    "keepdims", "split", "starts", "ends", "value", "value_int", "value_ints", "epsilon", "allowzero",
];

const LOCATIONS: &[&str] =
    &["data.bin", "../data.bin", "/etc/passwd", "missing.bin", "", "c:\\x", "sub/../data.bin", "./data.bin", "link.bin"];

fn pick<'a, T>(rng: &mut dyn RngCore, xs: &'a [T]) -> Option<&'a T> {
    (!xs.is_empty()).then(|| &xs[rng.random_range(0..xs.len())])
}

fn interesting(rng: &mut dyn RngCore) -> i64 {
    if rng.random_bool(0.8) {
        INTERESTING[rng.random_range(0..INTERESTING.len())]
    } else {
        rng.random_range(-300..300)
    }
}

fn ints(rng: &mut dyn RngCore) -> Vec<i64> {
    (0..rng.random_range(0..6)).map(|_| interesting(rng)).collect()
}

/// Decodes `seed`, applies one to three structural edits and encodes the result; `None` when the
/// seed is not a model with a graph (byte mutation is the only way forward from such inputs).
pub(crate) fn mutate_model(seed: &[u8], rng: &mut dyn RngCore) -> Option<Vec<u8>> {
    let mut m = ModelProto::decode(seed).ok()?;
    m.graph.as_ref()?;
    for _ in 0..rng.random_range(1..=3) {
        edit(&mut m, rng);
    }
    Some(m.encode_to_vec())
}

/// Every value name of the graph (inputs, initializers, node outputs).
fn names(g: &GraphProto) -> Vec<String> {
    g.input
        .iter()
        .filter_map(|v| v.name.clone())
        .chain(g.initializer.iter().filter_map(|t| t.name.clone()))
        .chain(g.node.iter().flat_map(|n| n.output.iter().cloned()))
        .collect()
}

/// One random edit of `m`: its opset, a tensor, or a node's wiring and op type here; attributes,
/// node order, input shapes, initializers, outputs and subgraphs in [`structure_edit`].
fn edit(m: &mut ModelProto, rng: &mut dyn RngCore) {
    let choice = rng.random_range(0..16);
    if choice == 0 {
        match m.opset_import.first_mut() {
            Some(o) if rng.random_bool(0.7) => o.version = Some(interesting(rng)),
            Some(o) => o.domain = Some(pick(rng, &["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "x"]).unwrap().to_string()),
            None => {}
        }
        return;
    }
    let Some(g) = m.graph.as_mut() else { return };
    let all = names(g);
    match choice {
        1 | 2 => {
            if let Some(t) = pick_tensor(g, rng) {
                tensor_edit(t, rng);
            }
        }
        3 => {
            let Some(n) = pick_node(g, rng) else { return };
            if let Some(i) = (!n.input.is_empty()).then(|| rng.random_range(0..n.input.len())) {
                n.input[i] = pick(rng, &all).cloned().filter(|_| rng.random_bool(0.8)).unwrap_or_else(|| "nowhere".into());
            } else {
                n.input.push(pick(rng, &all).cloned().unwrap_or_default());
            }
        }
        4 => {
            let Some(n) = pick_node(g, rng) else { return };
            match rng.random_range(0..3) {
                0 => n.input.clear(),
                1 => n.input.push(String::new()),
                _ => {
                    if let Some(o) = n.output.first_mut() {
                        *o = pick(rng, &all).cloned().unwrap_or_default();
                    }
                }
            }
        }
        5 | 6 => {
            let op = pick(rng, OPS).unwrap().to_string();
            if let Some(n) = pick_node(g, rng) {
                n.op_type = Some(op);
            }
        }
        _ => structure_edit(choice, g, rng, &all),
    }
}

/// The edits of [`edit`] from `choice` 7 on: attributes, node order, input shapes, duplicate and
/// hostile initializers, graph outputs, subgraphs and sparse initializers. `all` is every value name.
fn structure_edit(choice: u32, g: &mut GraphProto, rng: &mut dyn RngCore, all: &[String]) {
    match choice {
        7 | 8 => {
            let Some(n) = pick_node(g, rng) else { return };
            let name = pick(rng, ATTRS).unwrap().to_string();
            let mut a = AttributeProto { name: Some(name), ..Default::default() };
            match rng.random_range(0..4) {
                0 => {
                    a.i = Some(interesting(rng));
                    a.r#type = Some(2);
                }
                1 => {
                    a.ints = ints(rng);
                    a.r#type = Some(7);
                }
                2 => {
                    a.f = Some(f32::from_bits(rng.next_u32()));
                    a.r#type = Some(1);
                }
                _ => {
                    let mut t = TensorProto { data_type: Some(7), dims: vec![rng.random_range(0..5)], ..Default::default() };
                    t.int64_data = (0..t.dims[0]).map(|_| interesting(rng)).collect();
                    if rng.random_bool(0.3) {
                        tensor_edit(&mut t, rng);
                    }
                    a.t = Some(t);
                    a.r#type = Some(4);
                }
            }
            n.attribute.retain(|x| x.name != a.name);
            n.attribute.push(a);
        }
        9 => {
            if g.node.is_empty() {
                return;
            }
            let i = rng.random_range(0..g.node.len());
            match rng.random_range(0..3) {
                0 => {
                    g.node.remove(i);
                }
                1 => {
                    let n = g.node[i].clone();
                    g.node.push(n);
                }
                _ => {
                    let j = rng.random_range(0..g.node.len());
                    g.node.swap(i, j);
                }
            }
        }
        10 => {
            // A graph input's declared shape.
            let Some(v) = pick_mut(&mut g.input, rng) else { return };
            let Some(tt) = v.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) else { return };
            if rng.random_bool(0.3) {
                tt.elem_type = Some(rng.random_range(0..30));
            }
            if let Some(shape) = tt.shape.as_mut() {
                let d = Dimension { value: Some(Dim::Value(interesting(rng))), denotation: None };
                if shape.dim.is_empty() || rng.random_bool(0.3) {
                    shape.dim.push(d);
                } else {
                    let k = rng.random_range(0..shape.dim.len());
                    shape.dim[k] = if rng.random_bool(0.5) { d } else { Dimension { value: Some(Dim::Param("batch".into())), denotation: None } };
                }
            }
        }
        11 => {
            // A node that reads its own output, or a duplicate initializer / input.
            match rng.random_range(0..3) {
                0 => {
                    if let Some(n) = pick_node(g, rng) {
                        if let Some(o) = n.output.first().cloned() {
                            n.input.push(o);
                        }
                    }
                }
                1 => {
                    if let Some(t) = pick(rng, &g.initializer).cloned() {
                        g.initializer.push(t);
                    }
                }
                _ => {
                    if let Some(v) = pick(rng, &g.input).cloned() {
                        g.input.push(v);
                    }
                }
            }
        }
        12 => {
            // A Constant or shape-like initializer with hostile small values.
            let name = format!("fuzz_{}", rng.next_u32());
            let vals: Vec<i64> = ints(rng);
            let t = TensorProto {
                name: Some(name.clone()),
                data_type: Some(7),
                dims: vec![vals.len() as i64],
                raw_data: Some(vals.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()),
                ..Default::default()
            };
            g.initializer.push(t);
            if let Some(n) = pick_node(g, rng) {
                if n.input.len() > 1 && rng.random_bool(0.8) {
                    let k = rng.random_range(1..n.input.len());
                    n.input[k] = name;
                } else {
                    n.input.push(name);
                }
            }
        }
        13 => {
            // Rename or drop a graph output.
            if let Some(v) = pick_mut(&mut g.output, rng) {
                v.name = pick(rng, all).cloned().filter(|_| rng.random_bool(0.7)).or(Some("nowhere".into()));
            }
        }
        14 => {
            // A node as a subgraph holder.
            let Some(n) = pick_node(g, rng) else { return };
            let sub = GraphProto {
                node: vec![NodeProto {
                    op_type: Some(pick(rng, OPS).unwrap().to_string()),
                    input: vec![pick(rng, all).cloned().unwrap_or_default()],
                    output: vec!["sub_out".into()],
                    ..Default::default()
                }],
                ..Default::default()
            };
            n.attribute.push(AttributeProto { name: Some("body".into()), g: Some(sub), r#type: Some(5), ..Default::default() });
        }
        _ => {
            // Sparse initializer with hostile parts.
            let mut values = TensorProto { name: Some("sparse".into()), data_type: Some(1), dims: vec![2], float_data: vec![1.0, 2.0], ..Default::default() };
            let mut indices = TensorProto { data_type: Some(7), dims: vec![2], int64_data: vec![interesting(rng), interesting(rng)], ..Default::default() };
            tensor_edit(if rng.random_bool(0.5) { &mut values } else { &mut indices }, rng);
            g.sparse_initializer.push(super::proto::SparseTensorProto { values: Some(values), indices: Some(indices), dims: ints(rng) });
        }
    }
}

fn pick_mut<'a, T>(xs: &'a mut [T], rng: &mut dyn RngCore) -> Option<&'a mut T> {
    if xs.is_empty() {
        return None;
    }
    let i = rng.random_range(0..xs.len());
    Some(&mut xs[i])
}

fn pick_node<'a>(g: &'a mut GraphProto, rng: &mut dyn RngCore) -> Option<&'a mut NodeProto> {
    pick_mut(&mut g.node, rng)
}

/// An initializer, or the tensor attribute of a Constant.
fn pick_tensor<'a>(g: &'a mut GraphProto, rng: &mut dyn RngCore) -> Option<&'a mut TensorProto> {
    if g.initializer.is_empty() || rng.random_bool(0.2) {
        let n = pick_mut(&mut g.node, rng)?;
        return n.attribute.iter_mut().find_map(|a| a.t.as_mut());
    }
    pick_mut(&mut g.initializer, rng)
}

fn tensor_edit(t: &mut TensorProto, rng: &mut dyn RngCore) {
    match rng.random_range(0..8) {
        0 => {
            if t.dims.is_empty() || rng.random_bool(0.3) {
                t.dims.push(interesting(rng));
            } else {
                let k = rng.random_range(0..t.dims.len());
                t.dims[k] = interesting(rng);
            }
        }
        1 => t.dims = ints(rng),
        2 => t.data_type = Some(if rng.random_bool(0.8) { rng.random_range(0..30) } else { interesting(rng) as i32 }),
        3 => {
            if let Some(raw) = t.raw_data.take() {
                let cut = rng.random_range(0..=raw.len());
                t.raw_data = Some(if rng.random_bool(0.5) { raw.slice(..cut) } else { Bytes::from([raw.to_vec(), vec![0; cut % 64 + 1]].concat()) });
            } else {
                t.raw_data = Some(Bytes::from(vec![0u8; rng.random_range(0..64)]));
            }
        }
        4 => {
            t.raw_data = None;
            t.float_data = (0..rng.random_range(0..8)).map(|_| rng.random()).collect();
            t.int64_data = ints(rng);
        }
        5 => {
            // The real numbers of a shape tensor, replaced.
            if matches!(t.data_type, Some(6 | 7)) {
                let vals = ints(rng);
                t.dims = vec![vals.len() as i64];
                t.raw_data = Some(vals.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into());
            } else {
                t.data_type = Some(8);
                t.string_data = vec![Bytes::from_static(b"x"); rng.random_range(0..4)];
            }
        }
        _ => {
            t.data_location = Some(DataLocation::External as i32);
            let kv = |k: &str, v: String| StringStringEntryProto { key: Some(k.into()), value: Some(v) };
            let mut entries = vec![kv("location", pick(rng, LOCATIONS).unwrap().to_string())];
            if rng.random_bool(0.7) {
                entries.push(kv("offset", interesting(rng).to_string()));
            }
            if rng.random_bool(0.7) {
                entries.push(kv("length", interesting(rng).to_string()));
            }
            t.external_data = entries;
            if rng.random_bool(0.7) {
                t.raw_data = None;
            }
        }
    }
}
