//! Shape inference with small-value propagation, enough for BERT-family graphs: the shapes of
//! every MatMul/Gemm/Conv operand for a given batch and sequence length (for MAC counts), and the
//! values of the integer "shape chains" (Shape → Gather → Unsqueeze → Concat → Reshape) that
//! exporters emit. Unknown ops leave their outputs unknown instead of guessing; callers report
//! what could not be resolved.

use std::collections::HashMap;

use super::dtype::DataType;
use super::graph::{attr, attr_i, attr_ints, attr_s, GraphView};
use super::io::Model;
use super::proto::{tensor_shape_proto::Dimension as TensorDim, type_proto, Dim as ProtoDim, NodeProto, TensorProto, TensorShapeProto, TypeProto};
use super::tensor;

/// One axis: a number, or a symbol when it depends on an unbound input dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Known(i64),
    Sym(String),
}

impl Dim {
    pub fn known(&self) -> Option<i64> {
        match self {
            Dim::Known(v) => Some(*v),
            Dim::Sym(_) => None,
        }
    }
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Known(v) => write!(f, "{v}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// What is known about one value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Info {
    pub dtype: Option<DataType>,
    pub shape: Option<Vec<Dim>>,
    /// The contents of a small integer tensor, row-major, when they are known statically.
    pub value: Option<Vec<i64>>,
}

impl Info {
    /// The shape when every dimension is a number.
    pub(crate) fn known_shape(&self) -> Option<Vec<i64>> {
        self.shape.as_ref()?.iter().map(Dim::known).collect()
    }
}

/// Values of input dimensions to assume: by symbol name, or positional batch (axis 0) and
/// sequence (axis 1) for the symbolic axes of graph inputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bindings {
    pub batch: Option<i64>,
    pub seq: Option<i64>,
    pub by_name: HashMap<String, i64>,
}

/// Largest integer initializer whose contents are propagated.
const MAX_VALUE_ELEMENTS: u64 = 4096;

/// Shapes and small values of every value in the main graph.
pub(crate) fn infer(model: &Model, bindings: &Bindings) -> HashMap<String, Info> {
    let g = model.graph();
    let mut env: HashMap<String, Info> = HashMap::new();
    for t in &g.initializer {
        env.insert(tensor::name(t).to_string(), tensor_info(model, t));
    }
    for v in &g.input {
        let name = v.name.clone().unwrap_or_default();
        if env.contains_key(&name) {
            continue; // an initializer that is also declared as input: the initializer wins
        }
        env.insert(name, sane(type_info(v.r#type.as_ref(), bindings)));
    }
    let view = GraphView::new(g);
    let order = view.topo_order().unwrap_or_else(|_| (0..g.node.len()).collect());
    for id in order {
        let node = &g.node[id];
        let inputs: Vec<Option<&Info>> =
            node.input.iter().map(|n| if n.is_empty() { None } else { env.get(n) }).collect();
        let outs = infer_node(node, &inputs);
        for (name, info) in node.output.iter().zip(outs.into_iter().map(sane)) {
            if !name.is_empty() {
                env.insert(name.clone(), info);
            }
        }
    }
    // Declared value_info fills what inference could not.
    for v in g.value_info.iter().chain(&g.output) {
        let name = v.name.clone().unwrap_or_default();
        let declared = sane(type_info(v.r#type.as_ref(), &Bindings::default()));
        let e = env.entry(name).or_default();
        if e.shape.is_none() {
            e.shape = declared.shape;
        }
        if e.dtype.is_none() {
            e.dtype = declared.dtype;
        }
    }
    env
}

/// A negative dimension (from a hostile value or declaration) becomes unknown, so no rule sees one.
fn sane(mut info: Info) -> Info {
    if let Some(shape) = &mut info.shape {
        for d in shape.iter_mut().filter(|d| d.known().is_some_and(|v| v < 0)) {
            *d = Dim::Sym("?".into());
        }
    }
    info
}

fn tensor_info(model: &Model, t: &TensorProto) -> Info {
    let dtype = tensor::data_type(t).ok();
    let shape = Some(t.dims.iter().map(|&d| Dim::Known(d)).collect());
    let small = tensor::numel(t).is_ok_and(|n| n <= MAX_VALUE_ELEMENTS);
    let value = match dtype {
        Some(DataType::Int64 | DataType::Int32) if small => int_values(model, t),
        _ => None,
    };
    Info { dtype, shape, value }
}

fn int_values(model: &Model, t: &TensorProto) -> Option<Vec<i64>> {
    tensor::int_values(tensor::data_type(t).ok()?, &model.tensor_bytes(t).ok()?)
}

/// Info from a declared type, binding symbolic axes per `bindings`.
pub(crate) fn type_info(ty: Option<&TypeProto>, bindings: &Bindings) -> Info {
    let Some(type_proto::Tensor { elem_type, shape }) = ty.and_then(|t| t.tensor_type.as_ref()) else {
        return Info::default();
    };
    let shape = shape.as_ref().map(|s| {
        s.dim
            .iter()
            .enumerate()
            .map(|(axis, d)| {
                let name = match &d.value {
                    Some(ProtoDim::Value(v)) => return Dim::Known(*v),
                    Some(ProtoDim::Param(p)) => p.clone(),
                    None => "?".to_string(),
                };
                let positional = match axis {
                    0 => bindings.batch,
                    1 => bindings.seq,
                    _ => None,
                };
                bindings.by_name.get(&name).copied().or(positional).map_or(Dim::Sym(name), Dim::Known)
            })
            .collect()
    });
    Info { dtype: elem_type.and_then(DataType::from_code), shape, value: None }
}

/// Broadcasts shapes numpy-style; a known dim wins over a symbol, 1 gives way to anything.
pub fn broadcast(shapes: &[&[Dim]]) -> Vec<Dim> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..rank)
        .map(|i| {
            let mut out: Option<Dim> = None;
            for s in shapes {
                let Some(d) = (i + s.len()).checked_sub(rank).map(|k| &s[k]) else { continue };
                out = match (out, d) {
                    (None, d) => Some(d.clone()),
                    (Some(Dim::Known(1)), d) => Some(d.clone()),
                    (Some(o), Dim::Known(1)) => Some(o),
                    (Some(Dim::Sym(_)), Dim::Known(k)) => Some(Dim::Known(*k)),
                    (Some(o), _) => Some(o),
                };
            }
            out.unwrap_or(Dim::Known(1))
        })
        .collect()
}

fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    (0..rank as i64).contains(&a).then_some(a as usize)
}

fn known_dims(v: &[i64]) -> Vec<Dim> {
    v.iter().map(|&d| Dim::Known(d)).collect()
}

fn numel(shape: &[Dim]) -> Option<i64> {
    shape.iter().try_fold(1i64, |acc, d| acc.checked_mul(d.known()?))
}

/// Output infos of one node from its input infos (`None` for omitted or unknown inputs).
pub(crate) fn infer_node(node: &NodeProto, inputs: &[Option<&Info>]) -> Vec<Info> {
    let op = node.op_type.as_deref().unwrap_or("");
    let c = Ctx { node, inputs, n_out: node.output.len() };
    match op {
        "Identity" | "Relu" | "Erf" | "Sqrt" | "Tanh" | "Sigmoid" | "Neg" | "Abs" | "Exp" | "Log"
        | "Reciprocal" | "Softmax" | "LogSoftmax" | "Floor" | "Ceil" | "Round" | "Clip" | "LeakyRelu"
        | "HardSigmoid" | "Softplus" | "Sign" | "Mish" | "Gelu" | "FastGelu" | "BiasGelu" | "QuickGelu"
        | "Dropout" | "LayerNormalization" | "SkipLayerNormalization" | "SimplifiedLayerNormalization"
        | "BatchNormalization" | "Trilu" | "CumSum" | "Sin" | "Cos" | "Elu" | "Selu" | "HardSwish" | "Not"
        | "IsNaN" | "IsInf" | "Cast" | "CastLike" | "QuantizeLinear" | "DequantizeLinear"
        | "DynamicQuantizeLinear" | "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Mod" | "PRelu"
        | "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" | "Where"
        | "BitShift" => elementwise(op, &c),
        "MatMul" | "MatMulInteger" | "FusedMatMul" | "MatMulIntegerToFloat" | "DynamicQuantizeMatMul"
        | "QLinearMatMul" | "Gemm" | "Conv" | "ConvInteger" | "QLinearConv" => linear(op, &c),
        "Transpose" | "Reshape" | "Gather" | "Unsqueeze" | "Squeeze" | "Concat" | "Slice" | "Expand"
        | "Flatten" | "Split" | "Tile" => layout(op, &c),
        "Shape" | "Size" | "ConstantOfShape" | "Range" | "Constant" => shape_ops(op, &c),
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ArgMax" | "ArgMin" => reduction(op, &c),
        _ => vec![Info::default(); c.n_out],
    }
}

/// What every op family reads: the node, its inputs' infos and its number of outputs.
struct Ctx<'a> {
    node: &'a NodeProto,
    inputs: &'a [Option<&'a Info>],
    n_out: usize,
}

impl Ctx<'_> {
    fn input(&self, i: usize) -> Option<&Info> {
        self.inputs.get(i).copied().flatten()
    }

    fn shape(&self, i: usize) -> Option<Vec<Dim>> {
        self.input(i).and_then(|x| x.shape.clone())
    }

    fn value(&self, i: usize) -> Option<Vec<i64>> {
        self.input(i).and_then(|x| x.value.clone())
    }

    fn dtype(&self, i: usize) -> Option<DataType> {
        self.input(i).and_then(|x| x.dtype)
    }

    /// One output with these facts, and unknown infos for any further outputs.
    fn one(&self, dtype: Option<DataType>, shape: Option<Vec<Dim>>, value: Option<Vec<i64>>) -> Vec<Info> {
        let mut v = vec![Info { dtype, shape, value }];
        v.resize(self.n_out.max(1), Info::default());
        v
    }
}

/// Element-wise ops (the output has the broadcast shape of the inputs) and (de)quantization.
fn elementwise(op: &str, c: &Ctx) -> Vec<Info> {
    match op {
        "Identity" | "Relu" | "Erf" | "Sqrt" | "Tanh" | "Sigmoid" | "Neg" | "Abs" | "Exp" | "Log" | "Reciprocal"
        | "Softmax" | "LogSoftmax" | "Floor" | "Ceil" | "Round" | "Clip" | "LeakyRelu" | "HardSigmoid" | "Softplus"
        | "Sign" | "Mish" | "Gelu" | "FastGelu" | "BiasGelu" | "QuickGelu" | "Dropout" | "LayerNormalization"
        | "SkipLayerNormalization" | "SimplifiedLayerNormalization" | "BatchNormalization" | "Trilu" | "CumSum"
        | "Sin" | "Cos" | "Elu" | "Selu" | "HardSwish" => {
            let v = if matches!(op, "Identity") { c.value(0) } else if op == "Neg" { c.value(0).and_then(|v| v.iter().map(|x| x.checked_neg()).collect()) } else { None };
            c.one(c.dtype(0), c.shape(0), v)
        }
        "Not" | "IsNaN" | "IsInf" => c.one(Some(DataType::Bool), c.shape(0), None),
        "Cast" | "CastLike" => {
            let to = if op == "Cast" { attr_i(c.node, "to").and_then(|c| DataType::from_code(c as i32)) } else { c.dtype(1) };
            let v = c.value(0).filter(|_| matches!(to, Some(DataType::Int64 | DataType::Int32)));
            c.one(to, c.shape(0), v)
        }
        "QuantizeLinear" => {
            let dt = c.dtype(2).or(Some(DataType::Uint8));
            c.one(dt, c.shape(0), None)
        }
        "DequantizeLinear" => c.one(c.dtype(1).or(Some(DataType::Float)), c.shape(0), None),
        "DynamicQuantizeLinear" => vec![
            Info { dtype: Some(DataType::Uint8), shape: c.shape(0), value: None },
            Info { dtype: Some(DataType::Float), shape: Some(vec![]), value: None },
            Info { dtype: Some(DataType::Uint8), shape: Some(vec![]), value: None },
        ],
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Mod" | "PRelu" | "Equal" | "Less" | "Greater"
        | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" | "Where" | "BitShift" => {
            let shapes: Option<Vec<Vec<Dim>>> = (0..c.inputs.len()).map(|i| c.shape(i)).collect();
            let out_shape = shapes.map(|s| broadcast(&s.iter().map(Vec::as_slice).collect::<Vec<_>>()));
            let out_dtype = match op {
                "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" => Some(DataType::Bool),
                "Where" => c.dtype(1),
                _ => c.dtype(0),
            };
            c.one(out_dtype, out_shape, elementwise_value(op, c.inputs))
        }
        _ => vec![Info::default(); c.n_out],
    }
}

/// MatMul, Gemm and Conv in their float, integer and quantized forms.
fn linear(op: &str, c: &Ctx) -> Vec<Info> {
    match op {
        "MatMul" | "MatMulInteger" | "FusedMatMul" | "MatMulIntegerToFloat" | "DynamicQuantizeMatMul" => {
            let out_dtype = if op == "MatMulInteger" { Some(DataType::Int32) } else { Some(DataType::Float) };
            c.one(out_dtype, matmul_shape(c.shape(0), c.shape(1)), None)
        }
        "QLinearMatMul" => c.one(c.dtype(7), matmul_shape(c.shape(0), c.shape(3)), None),
        "Gemm" => {
            let (a, b) = (c.shape(0), c.shape(1));
            let s = a.zip(b).and_then(|(a, b)| {
                if a.len() != 2 || b.len() != 2 {
                    return None;
                }
                let m = if attr_i(c.node, "transA") == Some(1) { a[1].clone() } else { a[0].clone() };
                let n = if attr_i(c.node, "transB") == Some(1) { b[0].clone() } else { b[1].clone() };
                Some(vec![m, n])
            });
            c.one(c.dtype(0), s, None)
        }
        "Conv" | "ConvInteger" => {
            let out_dtype = if op == "ConvInteger" { Some(DataType::Int32) } else { c.dtype(0) };
            c.one(out_dtype, conv_shape(c.node, c.shape(0), c.shape(1)), None)
        }
        "QLinearConv" => c.one(c.dtype(7), conv_shape(c.node, c.shape(0), c.shape(3)), None),
        _ => vec![Info::default(); c.n_out],
    }
}

/// Ops that move, select or repeat elements: Transpose, Reshape, (Un)Squeeze, Flatten, Split, Concat, Expand, Tile, Gather, Slice.
fn layout(op: &str, c: &Ctx) -> Vec<Info> {
    match op {
        "Transpose" => {
            let s = c.shape(0).map(|s| {
                let perm = attr_ints(c.node, "perm").map(<[i64]>::to_vec).unwrap_or_else(|| (0..s.len() as i64).rev().collect());
                perm.iter().filter_map(|&p| s.get(p as usize).cloned()).collect()
            });
            c.one(c.dtype(0), s, None)
        }
        "Reshape" => {
            // With the target's values unknown, its length still gives the rank.
            let rank_only = || match c.shape(1)?.as_slice() {
                [Dim::Known(k)] => Some(vec![Dim::Sym("reshape".into()); usize::try_from(*k).ok().filter(|&k| k <= 64)?]),
                _ => None,
            };
            c.one(c.dtype(0), reshape_shape(c.node, c.shape(0), c.value(1)).or_else(rank_only), c.value(0))
        }
        "Gather" => {
            let axis = attr_i(c.node, "axis").unwrap_or(0);
            let s = c.shape(0).zip(c.shape(1)).and_then(|(d, i)| {
                let a = normalize_axis(axis, d.len())?;
                Some(d[..a].iter().chain(&i).chain(&d[a + 1..]).cloned().collect())
            });
            let v = match (c.value(0), c.value(1), c.shape(0)) {
                (Some(data), Some(idx), Some(ds)) if ds.len() == 1 => {
                    let n = data.len() as i64;
                    idx.iter().map(|&i| data.get((if i < 0 { i + n } else { i }) as usize).copied()).collect()
                }
                _ => None,
            };
            c.one(c.dtype(0), s, v)
        }
        "Unsqueeze" => {
            let axes = c.value(1).or_else(|| attr_ints(c.node, "axes").map(<[i64]>::to_vec));
            let s = c.shape(0).zip(axes).map(|(mut s, axes)| {
                let rank = s.len() + axes.len();
                let mut axes: Vec<usize> = axes.iter().filter_map(|&a| normalize_axis(a, rank)).collect();
                axes.sort_unstable();
                for a in axes {
                    s.insert(a.min(s.len()), Dim::Known(1));
                }
                s
            });
            c.one(c.dtype(0), s, c.value(0))
        }
        "Squeeze" => {
            let axes = c.value(1).or_else(|| attr_ints(c.node, "axes").map(<[i64]>::to_vec));
            let s = c.shape(0).map(|s| {
                let rank = s.len();
                let drop: Vec<usize> = match &axes {
                    Some(a) => a.iter().filter_map(|&x| normalize_axis(x, rank)).collect(),
                    None => (0..rank).filter(|&i| s[i] == Dim::Known(1)).collect(),
                };
                s.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, d)| d.clone()).collect()
            });
            c.one(c.dtype(0), s, c.value(0))
        }
        "Concat" => {
            let axis = attr_i(c.node, "axis").unwrap_or(0);
            let shapes: Option<Vec<Vec<Dim>>> = (0..c.inputs.len()).map(|i| c.shape(i)).collect();
            let s = shapes.and_then(|ss| {
                let first = ss.first()?.clone();
                let a = normalize_axis(axis, first.len())?;
                let mut out = first;
                out[a] = ss.iter().try_fold(Dim::Known(0), |acc, s| match (acc, s.get(a)?) {
                    (Dim::Known(x), Dim::Known(y)) => x.checked_add(*y).map(Dim::Known),
                    _ => Some(Dim::Sym(format!("concat_{}", c.node.output.first().map_or("", |s| s.as_str())))),
                })?;
                Some(out)
            });
            let v: Option<Vec<i64>> = (0..c.inputs.len()).map(|i| c.value(i)).collect::<Option<Vec<_>>>().map(|vs| vs.concat());
            c.one(c.dtype(0), s, v)
        }
        "Slice" => slice_info(c.node, c.inputs),
        "Expand" => {
            let s = c.shape(0).zip(c.value(1)).map(|(a, b)| broadcast(&[&a, &known_dims(&b)]));
            c.one(c.dtype(0), s, None)
        }
        "Flatten" => {
            let s = c.shape(0).and_then(|s| {
                let axis = attr_i(c.node, "axis").unwrap_or(1);
                let axis = if axis < 0 { axis + s.len() as i64 } else { axis };
                let axis = usize::try_from(axis).ok().filter(|&a| a <= s.len())?;
                let prod = |d: &[Dim]| numel(d).map(Dim::Known).unwrap_or_else(|| Dim::Sym("flatten".into()));
                Some(vec![prod(&s[..axis]), prod(&s[axis..])])
            });
            c.one(c.dtype(0), s, None)
        }
        "Split" => {
            let axis = attr_i(c.node, "axis").unwrap_or(0);
            let sizes = c.value(1).or_else(|| attr_ints(c.node, "split").map(<[i64]>::to_vec));
            let Some(s) = c.shape(0) else { return vec![Info::default(); c.n_out] };
            let Some(a) = normalize_axis(axis, s.len()) else { return vec![Info::default(); c.n_out] };
            (0..c.n_out)
                .map(|k| {
                    let d = match (&sizes, &s[a]) {
                        (Some(sz), _) => sz.get(k).map(|&x| Dim::Known(x)),
                        (None, Dim::Known(total)) if c.n_out > 0 => Some(Dim::Known(total / c.n_out as i64)),
                        _ => None,
                    };
                    let mut out = s.clone();
                    out[a] = d.unwrap_or_else(|| Dim::Sym("split".into()));
                    Info { dtype: c.dtype(0), shape: Some(out), value: None }
                })
                .collect()
        }
        "Tile" => {
            let s = c.shape(0).zip(c.value(1)).map(|(s, r)| {
                s.iter().zip(r.iter().chain(std::iter::repeat(&1))).map(|(d, &k)| match d {
                    Dim::Known(x) => x.checked_mul(k).map_or_else(|| Dim::Sym("tile".into()), Dim::Known),
                    other if k == 1 => other.clone(),
                    _ => Dim::Sym("tile".into()),
                }).collect()
            });
            c.one(c.dtype(0), s, None)
        }
        _ => vec![Info::default(); c.n_out],
    }
}

/// Ops whose output is a shape or made from one (with small values propagated): Shape, Size, ConstantOfShape, Range, Constant.
fn shape_ops(op: &str, c: &Ctx) -> Vec<Info> {
    match op {
        "Shape" => {
            let rank = c.shape(0).map(|s| s.len() as i64);
            let (start, end) = (attr_i(c.node, "start").unwrap_or(0), attr_i(c.node, "end"));
            let range = rank.map(|r| {
                let clamp = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
                (clamp(start), clamp(end.unwrap_or(r)))
            });
            let v = c.shape(0).zip(range).and_then(|(s, (a, b))| s[a..b.max(a)].iter().map(Dim::known).collect());
            let len = range.map(|(a, b)| b.saturating_sub(a) as i64);
            c.one(Some(DataType::Int64), len.map(|l| vec![Dim::Known(l)]), v)
        }
        "Size" => c.one(Some(DataType::Int64), Some(vec![]), c.shape(0).and_then(|s| numel(&s)).map(|n| vec![n])),
        "ConstantOfShape" => {
            let dt = attr(c.node, "value").and_then(|a| a.t.as_ref()).and_then(|t| tensor::data_type(t).ok()).or(Some(DataType::Float));
            let fill = attr(c.node, "value").and_then(|a| a.t.as_ref()).and_then(|t| tensor::inline_bytes(t).ok());
            let v = c.value(0).and_then(|dims| {
                let n = dims.iter().try_fold(1i64, |a, &d| a.checked_mul(d.max(0)))?;
                let fill = fill.as_ref().filter(|_| dt == Some(DataType::Int64)).and_then(|b| tensor::int_values(DataType::Int64, b)?.first().copied());
                (n <= MAX_VALUE_ELEMENTS as i64 && dt == Some(DataType::Int64)).then(|| vec![fill.unwrap_or(0); n.max(0) as usize])
            });
            c.one(dt, c.value(0).map(|v| known_dims(&v)), v)
        }
        "Range" => {
            let v = match (c.value(0), c.value(1), c.value(2)) {
                (Some(s), Some(l), Some(d)) if s.len() == 1 && l.len() == 1 && d.len() == 1 && d[0] != 0 => {
                    let n = ((l[0] as f64 - s[0] as f64) / d[0] as f64).ceil().max(0.0);
                    (n <= MAX_VALUE_ELEMENTS as f64).then(|| (0..n as i64).map(|k| s[0].saturating_add(k.saturating_mul(d[0]))).collect::<Vec<_>>())
                }
                _ => None,
            };
            let len = v.as_ref().map(|v| Dim::Known(v.len() as i64)).unwrap_or_else(|| Dim::Sym("range".into()));
            c.one(c.dtype(0), Some(vec![len]), v)
        }
        "Constant" => constant_info(c.node),
        _ => vec![Info::default(); c.n_out],
    }
}

/// Reductions over axes (ReduceMean, ReduceSum, ...).
fn reduction(op: &str, c: &Ctx) -> Vec<Info> {
    match op {
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL2" | "ReduceL1" | "ArgMax"
        | "ArgMin" => {
            let keep = attr_i(c.node, "keepdims").unwrap_or(1) == 1;
            let axes = if op.starts_with("Arg") { Some(vec![attr_i(c.node, "axis").unwrap_or(0)]) } else { attr_ints(c.node, "axes").map(<[i64]>::to_vec).or_else(|| c.value(1)) };
            let s = c.shape(0).map(|s| {
                let rank = s.len();
                let axes: Vec<usize> = match &axes {
                    Some(a) if !a.is_empty() => a.iter().filter_map(|&x| normalize_axis(x, rank)).collect(),
                    _ => (0..rank).collect(),
                };
                s.iter()
                    .enumerate()
                    .filter_map(|(i, d)| match (axes.contains(&i), keep) {
                        (false, _) => Some(d.clone()),
                        (true, true) => Some(Dim::Known(1)),
                        (true, false) => None,
                    })
                    .collect()
            });
            let dt = if op.starts_with("Arg") { Some(DataType::Int64) } else { c.dtype(0) };
            c.one(dt, s, None)
        }
        _ => vec![Info::default(); c.n_out],
    }
}

fn elementwise_value(op: &str, inputs: &[Option<&Info>]) -> Option<Vec<i64>> {
    if op == "Where" && inputs.len() == 3 {
        let vals: Option<Vec<&Vec<i64>>> = inputs.iter().map(|i| i.and_then(|i| i.value.as_ref())).collect();
        let vals = vals?;
        let n = vals.iter().map(|v| v.len()).max()?;
        if vals.iter().any(|v| v.len() != n && v.len() != 1) {
            return None;
        }
        let at = |v: &Vec<i64>, i: usize| v[if v.len() == 1 { 0 } else { i }];
        return Some((0..n).map(|i| if at(vals[0], i) != 0 { at(vals[1], i) } else { at(vals[2], i) }).collect());
    }
    if inputs.len() != 2 {
        return None;
    }
    let a = inputs[0]?.value.as_ref()?;
    let b = inputs[1]?.value.as_ref()?;
    let n = a.len().max(b.len());
    if !(a.len() == n || a.len() == 1) || !(b.len() == n || b.len() == 1) {
        return None;
    }
    (0..n)
        .map(|i| {
            let (x, y) = (a[if a.len() == 1 { 0 } else { i }], b[if b.len() == 1 { 0 } else { i }]);
            match op {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                "Div" => x.checked_div(y),
                "Max" => Some(x.max(y)),
                "Min" => Some(x.min(y)),
                "Equal" => Some((x == y) as i64),
                _ => None,
            }
        })
        .collect()
}

fn matmul_shape(a: Option<Vec<Dim>>, b: Option<Vec<Dim>>) -> Option<Vec<Dim>> {
    let (mut a, mut b) = (a?, b?);
    let (a1, b1) = (a.len() == 1, b.len() == 1);
    if a1 {
        a.insert(0, Dim::Known(1));
    }
    if b1 {
        b.push(Dim::Known(1));
    }
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let batch = broadcast(&[&a[..a.len() - 2], &b[..b.len() - 2]]);
    let mut out = batch;
    if !a1 {
        out.push(a[a.len() - 2].clone());
    }
    if !b1 {
        out.push(b[b.len() - 1].clone());
    }
    Some(out)
}

fn conv_shape(node: &NodeProto, x: Option<Vec<Dim>>, w: Option<Vec<Dim>>) -> Option<Vec<Dim>> {
    let (x, w) = (x?, w?);
    if x.len() < 3 || w.len() != x.len() {
        return None;
    }
    let spatial = x.len() - 2;
    let kernel: Vec<i64> = attr_ints(node, "kernel_shape").map(<[i64]>::to_vec).unwrap_or_else(|| w[2..].iter().map(|d| d.known().unwrap_or(1)).collect());
    let strides = attr_ints(node, "strides").map(<[i64]>::to_vec).unwrap_or_else(|| vec![1; spatial]);
    let dil = attr_ints(node, "dilations").map(<[i64]>::to_vec).unwrap_or_else(|| vec![1; spatial]);
    let pads = attr_ints(node, "pads").map(<[i64]>::to_vec).unwrap_or_else(|| vec![0; 2 * spatial]);
    let auto = attr_s(node, "auto_pad").unwrap_or_default();
    let mut out = vec![x[0].clone(), w[0].clone()];
    for i in 0..spatial {
        let d = match &x[2 + i] {
            Dim::Known(n) if strides.get(i).copied().unwrap_or(1) > 0 => {
                let s = *strides.get(i).unwrap_or(&1);
                let v = if auto.starts_with("SAME") {
                    n.saturating_add(s - 1) / s
                } else {
                    let k = *kernel.get(i).unwrap_or(&1);
                    let eff = dil.get(i).unwrap_or(&1).saturating_mul(k.saturating_sub(1)).saturating_add(1);
                    let p = pads.get(i).unwrap_or(&0).saturating_add(*pads.get(i + spatial).unwrap_or(&0));
                    (n.saturating_add(p).saturating_sub(eff) / s).saturating_add(1)
                };
                Dim::Known(v)
            }
            sym if kernel.get(i) == Some(&1) && strides.get(i).copied().unwrap_or(1) == 1 && pads.iter().all(|&p| p == 0) => sym.clone(),
            _ => Dim::Sym("conv".into()),
        };
        out.push(d);
    }
    Some(out)
}

fn reshape_shape(node: &NodeProto, input: Option<Vec<Dim>>, target: Option<Vec<i64>>) -> Option<Vec<Dim>> {
    let target = target?;
    let allow_zero = attr_i(node, "allowzero") == Some(1);
    let mut out: Vec<Dim> = target
        .iter()
        .enumerate()
        .map(|(i, &t)| match t {
            0 if !allow_zero => input.as_ref().and_then(|s| s.get(i).cloned()).unwrap_or_else(|| Dim::Sym("reshape".into())),
            -1 => Dim::Sym("reshape".into()),
            t => Dim::Known(t),
        })
        .collect();
    if let Some(pos) = target.iter().position(|&t| t == -1) {
        let total = input.as_ref().and_then(|s| numel(s));
        let rest: Option<i64> = out.iter().enumerate().filter(|(i, _)| *i != pos).try_fold(1i64, |a, (_, d)| a.checked_mul(d.known()?));
        if let (Some(total), Some(rest)) = (total, rest) {
            if rest != 0 {
                out[pos] = Dim::Known(total / rest);
            }
        } else if let (Some(inp), true) = (&input, rest.is_some()) {
            // One symbolic input dim that survives unchanged: keep its symbol.
            let syms: Vec<&Dim> = inp.iter().filter(|d| d.known().is_none()).collect();
            if syms.len() == 1 {
                let known_in = inp.iter().filter_map(Dim::known).try_fold(1i64, i64::checked_mul);
                if rest == known_in {
                    out[pos] = syms[0].clone();
                }
            }
        }
    }
    Some(out)
}

fn slice_info(node: &NodeProto, inputs: &[Option<&Info>]) -> Vec<Info> {
    let get = |i: usize| inputs.get(i).copied().flatten();
    let vals = |i: usize| get(i).and_then(|x| x.value.clone());
    let Some(data) = get(0) else { return vec![Info::default(); node.output.len().max(1)] };
    let (starts, ends, axes, steps) = if inputs.len() > 1 {
        (vals(1), vals(2), vals(3), vals(4))
    } else {
        (attr_ints(node, "starts").map(<[i64]>::to_vec), attr_ints(node, "ends").map(<[i64]>::to_vec), attr_ints(node, "axes").map(<[i64]>::to_vec), None)
    };
    let mut info = Info { dtype: data.dtype, shape: None, value: None };
    if let (Some(shape), Some(starts), Some(ends)) = (&data.shape, starts.clone(), ends.clone()) {
        let rank = shape.len();
        let axes = axes.clone().unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        let mut out = shape.clone();
        let mut ranges: Vec<(usize, i64, i64, i64)> = Vec::new();
        #[allow(clippy::needless_range_loop)] // k indexes starts, ends, axes and steps alike
        for k in 0..starts.len() {
            let Some(a) = axes.get(k).and_then(|&a| normalize_axis(a, rank)) else { return vec![info] };
            let step = *steps.get(k).unwrap_or(&1);
            match shape[a] {
                Dim::Known(n) if step != 0 => {
                    let clamp = |x: i64, lo: i64, hi: i64| (if x < 0 { x + n } else { x }).clamp(lo, hi);
                    let (s, e) = if step > 0 {
                        (clamp(starts[k], 0, n), clamp(*ends.get(k).unwrap_or(&n), 0, n))
                    } else {
                        (clamp(starts[k], -1, n - 1), clamp(*ends.get(k).unwrap_or(&-1), -1, n - 1))
                    };
                    let (s128, e128, step128) = (i128::from(s), i128::from(e), i128::from(step));
                    let len = if step > 0 { (e128 - s128 + step128 - 1).div_euclid(step128) } else { (s128 - e128 - step128 - 1).div_euclid(-step128) };
                    out[a] = Dim::Known(len.clamp(0, i128::from(n)) as i64);
                    ranges.push((a, s, e, step));
                }
                _ => out[a] = Dim::Sym("slice".into()),
            }
        }
        if let (Some(v), 1, [(0, s, _, step)]) = (&data.value, rank, ranges.as_slice()) {
            if let Some(len) = out[0].known() {
                info.value = (0..len).map(|k| v.get(usize::try_from(s.checked_add(k.checked_mul(*step)?)?).ok()?).copied()).collect();
            }
        }
        info.shape = Some(out);
    } else if let Some(shape) = &data.shape {
        // Bounds unknown: the rank is kept, and so are the axes the slice does not touch.
        let rank = shape.len();
        let touched: Option<Vec<usize>> = axes.map(|a| a.iter().filter_map(|&x| normalize_axis(x, rank)).collect());
        info.shape = Some(
            shape
                .iter()
                .enumerate()
                .map(|(i, d)| if touched.as_ref().is_some_and(|t| !t.contains(&i)) { d.clone() } else { Dim::Sym("slice".into()) })
                .collect(),
        );
    }
    vec![info]
}

fn constant_info(node: &NodeProto) -> Vec<Info> {
    let a = node.attribute.first();
    let info = match (a.and_then(|a| a.name.as_deref()), a) {
        (Some("value"), Some(a)) => a.t.as_ref().map(|t| {
            let dtype = tensor::data_type(t).ok();
            let value = dtype.zip(tensor::inline_bytes(t).ok()).and_then(|(dt, b)| tensor::int_values(dt, &b));
            Info { dtype, shape: Some(known_dims(&t.dims)), value }
        }),
        (Some("value_int"), Some(a)) => Some(Info { dtype: Some(DataType::Int64), shape: Some(vec![]), value: a.i.map(|i| vec![i]) }),
        (Some("value_ints"), Some(a)) => Some(Info { dtype: Some(DataType::Int64), shape: Some(vec![Dim::Known(a.ints.len() as i64)]), value: Some(a.ints.clone()) }),
        (Some("value_float"), _) => Some(Info { dtype: Some(DataType::Float), shape: Some(vec![]), value: None }),
        (Some("value_floats"), Some(a)) => Some(Info { dtype: Some(DataType::Float), shape: Some(vec![Dim::Known(a.floats.len() as i64)]), value: None }),
        _ => None,
    };
    vec![info.unwrap_or_default()]
}

/// A graph input's dims to fix: `input_ids=1x128`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedShape {
    pub input: String,
    pub dims: Vec<i64>,
}

/// Parses `NAME=DxDx...`, several separated by commas (`input_ids=1x128,attention_mask=1x128`).
pub fn parse_fixed_shapes(spec: &str) -> Result<Vec<FixedShape>, String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, dims) = item.split_once('=').ok_or_else(|| format!("'{item}' is not NAME=DIMS (e.g. input_ids=1x128)"))?;
        let dims = dims
            .split(['x', 'X'])
            .map(|d| d.trim().parse::<i64>().ok().filter(|&d| d > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("'{item}': dims must be positive integers separated by 'x' (e.g. 1x128)"))?;
        out.push(FixedShape { input: name.trim().to_string(), dims });
    }
    Ok(out)
}

/// Fixes the dims of graph inputs. A symbolic dim given a value is replaced by that value
/// wherever the same symbol appears (other inputs, outputs, value_info), so inputs sharing the
/// `batch` and `sequence` symbols are fixed together. Returns `(symbol, value)` for each symbol
/// bound. Refused (with the model left unchanged) when an input does not exist, its rank differs,
/// a dim it already fixes differs, or one symbol would get two values.
pub fn fix_input_shapes(model: &mut Model, fixes: &[FixedShape]) -> super::Result<Vec<(String, i64)>> {
    let invalid = |reason: String| super::Error::Invalid { path: model.path().to_path_buf(), reason };
    let g = model.graph();
    let mut symbols: Vec<(String, i64, String)> = Vec::new();
    let mut direct: Vec<(usize, Vec<i64>)> = Vec::new();
    for fix in fixes {
        let Some(pos) = g.input.iter().position(|v| v.name.as_deref() == Some(fix.input.as_str())) else {
            let names: Vec<&str> = g.input.iter().filter_map(|v| v.name.as_deref()).collect();
            return Err(invalid(format!("--fix-shape: no graph input named '{}' (inputs: {})", fix.input, names.join(", "))));
        };
        let ty = g.input[pos].r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
        if ty.is_none() {
            return Err(invalid(format!("--fix-shape: graph input '{}' is not a tensor", fix.input)));
        }
        if let Some(shape) = ty.and_then(|t| t.shape.as_ref()) {
            if shape.dim.len() != fix.dims.len() {
                return Err(invalid(format!(
                    "--fix-shape: graph input '{}' has rank {}, got {} dims ({})",
                    fix.input,
                    shape.dim.len(),
                    fix.dims.len(),
                    fix.dims.iter().map(ToString::to_string).collect::<Vec<_>>().join("x")
                )));
            }
            for (axis, (d, &want)) in shape.dim.iter().zip(&fix.dims).enumerate() {
                match &d.value {
                    Some(ProtoDim::Value(v)) if *v != want => {
                        return Err(invalid(format!("--fix-shape: graph input '{}' axis {axis} is fixed to {v} in the model, got {want}", fix.input)));
                    }
                    Some(ProtoDim::Param(p)) if !p.is_empty() => {
                        if let Some((_, other, from)) = symbols.iter().find(|(s, v, _)| s == p && *v != want) {
                            return Err(invalid(format!(
                                "--fix-shape: dim '{p}' is {other} for input '{from}' but {want} for input '{}'",
                                fix.input
                            )));
                        }
                        symbols.push((p.clone(), want, fix.input.clone()));
                    }
                    _ => {}
                }
            }
        }
        direct.push((pos, fix.dims.clone()));
    }
    let g = model.graph_mut();
    let bind = |shape: &mut TensorShapeProto| {
        for d in &mut shape.dim {
            if let Some(ProtoDim::Param(p)) = &d.value {
                if let Some((_, v, _)) = symbols.iter().find(|(s, _, _)| s == p) {
                    d.value = Some(ProtoDim::Value(*v));
                }
            }
        }
    };
    for v in g.input.iter_mut().chain(g.output.iter_mut()).chain(g.value_info.iter_mut()) {
        if let Some(shape) = v.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()).and_then(|t| t.shape.as_mut()) {
            bind(shape);
        }
    }
    for (pos, dims) in direct {
        let t = g.input[pos].r#type.as_mut().and_then(|t| t.tensor_type.as_mut()).expect("checked above");
        t.shape = Some(TensorShapeProto {
            dim: dims.iter().map(|&v| TensorDim { value: Some(ProtoDim::Value(v)), denotation: None }).collect(),
        });
    }
    let mut bound: Vec<(String, i64)> = symbols.into_iter().map(|(s, v, _)| (s, v)).collect();
    bound.sort();
    bound.dedup();
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::AttributeProto;

    fn info(shape: &[i64]) -> Info {
        Info { dtype: Some(DataType::Float), shape: Some(known_dims(shape)), value: None }
    }

    fn ints(v: &[i64]) -> Info {
        Info { dtype: Some(DataType::Int64), shape: Some(vec![Dim::Known(v.len() as i64)]), value: Some(v.to_vec()) }
    }

    fn node(op: &str, n_out: usize) -> NodeProto {
        NodeProto { op_type: Some(op.into()), output: (0..n_out).map(|i| format!("o{i}")).collect(), ..Default::default() }
    }

    #[test]
    fn matmul_broadcasts_batch_dims() {
        let out = infer_node(&node("MatMul", 1), &[Some(&info(&[2, 4, 8, 16])), Some(&info(&[16, 32]))]);
        assert_eq!(out[0].known_shape(), Some(vec![2, 4, 8, 32]));
    }

    #[test]
    fn reshape_resolves_zero_and_minus_one() {
        let out = infer_node(&node("Reshape", 1), &[Some(&info(&[2, 8, 128])), Some(&ints(&[0, 0, 4, -1]))]);
        assert_eq!(out[0].known_shape(), Some(vec![2, 8, 4, 32]));
    }

    #[test]
    fn shape_gather_chain_propagates_values() {
        let shape = &infer_node(&node("Shape", 1), &[Some(&info(&[3, 7, 5]))])[0];
        assert_eq!(shape.value, Some(vec![3, 7, 5]));
        let idx = Info { dtype: Some(DataType::Int64), shape: Some(vec![]), value: Some(vec![1]) };
        let g = &infer_node(&node("Gather", 1), &[Some(shape), Some(&idx)])[0];
        assert_eq!((g.value.clone(), g.known_shape()), (Some(vec![7]), Some(vec![])));
    }

    #[test]
    fn grouped_conv1d_keeps_the_sequence_axis() {
        let mut n = node("Conv", 1);
        n.attribute.push(AttributeProto { name: Some("group".into()), i: Some(4), ..Default::default() });
        let x = Info { dtype: Some(DataType::Float), shape: Some(vec![Dim::Known(1), Dim::Known(128), Dim::Sym("seq".into())]), value: None };
        let out = infer_node(&n, &[Some(&x), Some(&info(&[256, 32, 1]))]);
        assert_eq!(out[0].shape, Some(vec![Dim::Known(1), Dim::Known(256), Dim::Sym("seq".into())]));
    }

    /// Hostile attribute values give unknown dims, never a panic (division by zero, overflow).
    #[test]
    fn absurd_attributes_do_not_panic() {
        let mut conv = node("Conv", 1);
        conv.attribute.push(AttributeProto { name: Some("strides".into()), ints: vec![0], ..Default::default() });
        let out = infer_node(&conv, &[Some(&info(&[1, 4, 8])), Some(&info(&[4, 4, 1]))]);
        assert_eq!(out[0].shape.as_ref().map(|s| s.len()), Some(3));
        let out = infer_node(&node("Tile", 1), &[Some(&info(&[i64::MAX, 2])), Some(&ints(&[4, 1]))]);
        assert_eq!(out[0].shape.as_ref().unwrap()[1], Dim::Known(2));
        let out = infer_node(&node("Range", 1), &[Some(&ints(&[i64::MIN])), Some(&ints(&[i64::MAX])), Some(&ints(&[1]))]);
        assert!(out[0].value.is_none(), "a range too long to propagate stays unknown");
        let out = infer_node(&node("ConstantOfShape", 1), &[Some(&ints(&[i64::MAX, i64::MAX]))]);
        assert!(out[0].value.is_none());
    }

    #[test]
    fn slice_with_negative_step_counts_elements() {
        let out = infer_node(&node("Slice", 1), &[Some(&ints(&[0, 1, 2, 3, 4])), Some(&ints(&[-1])), Some(&ints(&[-6])), Some(&ints(&[0])), Some(&ints(&[-2]))]);
        assert_eq!(out[0].value, Some(vec![4, 2, 0]));
    }

    fn token_model() -> Model {
        use crate::onnx::builder::{Axis, GraphBuilder};
        let mut b = GraphBuilder::new("g");
        b.input("ids", DataType::Int64, &[Axis::Named("batch"), Axis::Named("seq")]);
        b.input("mask", DataType::Int64, &[Axis::Named("batch"), Axis::Named("seq")]);
        b.input("fixed", DataType::Float, &[Axis::Fixed(4)]);
        b.node_to("Add", &["ids", "mask"], &[], "y");
        b.output("y", DataType::Int64, &[Axis::Named("batch"), Axis::Named("seq")]);
        b.finish(17, "test", "")
    }

    // Why: fixing one input binds its symbols everywhere, so inputs sharing `batch`/`seq` (and the
    // outputs) agree, and shape inference then knows every dim.
    #[test]
    fn fixing_an_input_binds_its_symbols_everywhere() {
        let mut m = token_model();
        let fixes = parse_fixed_shapes("ids=2x16").unwrap();
        let bound = fix_input_shapes(&mut m, &fixes).unwrap();
        assert_eq!(bound, vec![("batch".to_string(), 2), ("seq".to_string(), 16)]);
        let env = infer(&m, &Bindings::default());
        assert_eq!(env["mask"].known_shape(), Some(vec![2, 16]));
        assert_eq!(type_info(m.graph().output[0].r#type.as_ref(), &Bindings::default()).known_shape(), Some(vec![2, 16]));
    }

    // Why: a bad --fix-shape must name the input and what is wrong, and change nothing.
    #[test]
    fn bad_fixes_are_refused_with_the_input_named() {
        let cases = [
            ("nope=1x2", "no graph input named 'nope' (inputs: ids, mask, fixed)"),
            ("ids=1x2x3", "graph input 'ids' has rank 2, got 3 dims (1x2x3)"),
            ("fixed=5", "graph input 'fixed' axis 0 is fixed to 4 in the model, got 5"),
            ("ids=1x8,mask=2x8", "dim 'batch' is 1 for input 'ids' but 2 for input 'mask'"),
        ];
        for (spec, want) in cases {
            let mut m = token_model();
            let before = m.graph().clone();
            let e = fix_input_shapes(&mut m, &parse_fixed_shapes(spec).unwrap()).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
            assert_eq!(m.graph(), &before);
        }
        assert!(parse_fixed_shapes("ids=1x0").unwrap_err().contains("positive integers"));
        assert!(parse_fixed_shapes("ids").unwrap_err().contains("NAME=DIMS"));
    }
}
