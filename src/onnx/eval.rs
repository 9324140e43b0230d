//! Exact evaluation of single nodes on constant inputs, for constant folding.
//!
//! Covers what exporters put in constant subgraphs of BERT-family graphs: the integer "shape
//! chains" (Shape, Gather, Unsqueeze, Concat, Reshape, Slice, Range, ConstantOfShape, Expand,
//! Where, comparisons, integer arithmetic, Cast) and data movement of any covered type. Float
//! arithmetic is limited to the operations IEEE 754 defines exactly (Add, Sub, Mul, Div, Sqrt,
//! Neg, Abs, Reciprocal, Floor, Ceil, comparisons): their results are the same bits as ONNX
//! Runtime's kernels, so folding them cannot change a model's outputs. Transcendental functions
//! (Erf, Exp, Tanh, Pow, ...) are not evaluated: libm and ONNX Runtime's vectorised kernels differ
//! in the last bits, and ONNX Runtime folds such nodes itself when it loads a model.
//!
//! Anything not covered (an op, a type, an integer overflow, a division by zero, an index out of
//! range, a result over the caller's element limit) gives `None`: the node is simply not folded.
//! Integer types are held as `i64` and results are checked against the type's range.

use super::dtype::DataType;
use super::graph::{attr, attr_i, attr_ints};
use super::proto::{NodeProto, TensorProto};
use super::tensor;

/// Elements of a constant tensor. Every integer type is held as `i64`.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Int(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

/// A constant tensor: element type, dims and row-major elements.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub dtype: DataType,
    pub dims: Vec<usize>,
    pub data: Data,
}

/// The range of an integer type held as i64; `None` for other types (and uint64, not covered).
fn int_range(dt: DataType) -> Option<(i64, i64)> {
    Some(match dt {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Uint8 => (0, u8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Uint16 => (0, u16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Uint32 => (0, u32::MAX.into()),
        DataType::Int64 => (i64::MIN, i64::MAX),
        _ => return None,
    })
}

fn is_covered(dt: DataType) -> bool {
    int_range(dt).is_some() || matches!(dt, DataType::Float | DataType::Double | DataType::Bool)
}

fn numel(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::Int(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// Element `idx[k]` for every k.
    fn select(&self, idx: &[usize]) -> Data {
        match self {
            Data::Int(v) => Data::Int(idx.iter().map(|&i| v[i]).collect()),
            Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
            Data::F64(v) => Data::F64(idx.iter().map(|&i| v[i]).collect()),
            Data::Bool(v) => Data::Bool(idx.iter().map(|&i| v[i]).collect()),
        }
    }

    /// An empty vector of the same kind.
    fn empty_like(&self) -> Data {
        match self {
            Data::Int(_) => Data::Int(Vec::new()),
            Data::F32(_) => Data::F32(Vec::new()),
            Data::F64(_) => Data::F64(Vec::new()),
            Data::Bool(_) => Data::Bool(Vec::new()),
        }
    }

    /// Appends `other[range]`; false when the kinds differ.
    fn extend_from(&mut self, other: &Data, range: std::ops::Range<usize>) -> bool {
        match (self, other) {
            (Data::Int(a), Data::Int(b)) => a.extend_from_slice(&b[range]),
            (Data::F32(a), Data::F32(b)) => a.extend_from_slice(&b[range]),
            (Data::F64(a), Data::F64(b)) => a.extend_from_slice(&b[range]),
            (Data::Bool(a), Data::Bool(b)) => a.extend_from_slice(&b[range]),
            _ => return false,
        }
        true
    }
}

impl Value {
    /// Decodes little-endian `bytes` of a tensor of `dtype` and `dims`; `None` for types not
    /// covered, negative dims, or a byte count that does not match.
    pub(crate) fn from_bytes(dtype: DataType, dims: &[i64], bytes: &[u8]) -> Option<Value> {
        let dims: Vec<usize> = dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
        let n = numel(&dims)?;
        if !is_covered(dtype) || dtype.byte_len(n as u64)? != bytes.len() as u64 {
            return None;
        }
        let data = match dtype {
            DataType::Float => Data::F32(tensor::f32_values(bytes)),
            DataType::Double => Data::F64(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()),
            DataType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
            DataType::Int8 => Data::Int(bytes.iter().map(|&b| i64::from(b as i8)).collect()),
            DataType::Uint8 => Data::Int(bytes.iter().map(|&b| i64::from(b)).collect()),
            DataType::Int16 => Data::Int(bytes.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect()),
            DataType::Uint16 => Data::Int(bytes.chunks_exact(2).map(|c| i64::from(u16::from_le_bytes([c[0], c[1]]))).collect()),
            DataType::Uint32 => Data::Int(bytes.chunks_exact(4).map(|c| i64::from(u32::from_le_bytes(c.try_into().unwrap()))).collect()),
            _ => Data::Int(tensor::int_values(dtype, bytes)?),
        };
        Some(Value { dtype, dims, data })
    }

    /// A tensor of the given type and dims from `bytes` already resolved by the caller.
    pub(crate) fn from_tensor(t: &TensorProto, bytes: &[u8]) -> Option<Value> {
        Value::from_bytes(tensor::data_type(t).ok()?, &t.dims, bytes)
    }

    /// 1-D int64 values (for tests and shape operands).
    pub fn ints(dtype: DataType, dims: &[usize], v: Vec<i64>) -> Value {
        Value { dtype, dims: dims.to_vec(), data: Data::Int(v) }
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Bytes the elements take in `raw_data`.
    pub(crate) fn byte_len(&self) -> u64 {
        self.dtype.byte_len(self.numel() as u64).unwrap_or(u64::MAX)
    }

    /// The elements as integers, for integer types.
    pub(crate) fn as_ints(&self) -> Option<&[i64]> {
        match &self.data {
            Data::Int(v) => Some(v),
            _ => None,
        }
    }

    /// Little-endian bytes as stored in `raw_data`.
    pub fn to_bytes(&self) -> Vec<u8> {
        match (&self.data, self.dtype) {
            (Data::F32(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (Data::F64(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (Data::Bool(v), _) => v.iter().map(|&b| u8::from(b)).collect(),
            (Data::Int(v), DataType::Int8 | DataType::Uint8) => v.iter().map(|&x| x as u8).collect(),
            (Data::Int(v), DataType::Int16 | DataType::Uint16) => v.iter().flat_map(|&x| (x as u16).to_le_bytes()).collect(),
            (Data::Int(v), DataType::Int32 | DataType::Uint32) => v.iter().flat_map(|&x| (x as u32).to_le_bytes()).collect(),
            (Data::Int(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// A `TensorProto` holding this value in `raw_data`.
    pub(crate) fn to_tensor(&self, name: Option<&str>) -> TensorProto {
        TensorProto {
            name: name.map(str::to_string),
            dims: self.dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(self.dtype.code()),
            raw_data: Some(self.to_bytes().into()),
            ..Default::default()
        }
    }

    fn with(&self, dims: Vec<usize>, data: Data) -> Value {
        Value { dtype: self.dtype, dims, data }
    }
}

/// The value of a `Constant` node (attributes `value`, `value_int(s)`, `value_float(s)`), when
/// its type is covered and its tensor is stored inline.
pub(crate) fn constant_value(node: &NodeProto) -> Option<Value> {
    let a = node.attribute.first()?;
    match a.name.as_deref()? {
        "value" => {
            let t = a.t.as_ref()?;
            Value::from_tensor(t, &tensor::inline_bytes(t).ok()?)
        }
        "value_int" => Some(Value::ints(DataType::Int64, &[], vec![a.i?])),
        "value_ints" => Some(Value::ints(DataType::Int64, &[a.ints.len()], a.ints.clone())),
        "value_float" => Some(Value { dtype: DataType::Float, dims: vec![], data: Data::F32(vec![a.f?]) }),
        "value_floats" => Some(Value { dtype: DataType::Float, dims: vec![a.floats.len()], data: Data::F32(a.floats.clone()) }),
        _ => None,
    }
}

/// What is known about one input of a node: its constant value, and (for `Shape` and `Size`,
/// which need no data) its static shape.
#[derive(Clone, Copy, Debug, Default)]
pub struct Input<'a> {
    pub value: Option<&'a Value>,
    pub shape: Option<&'a [i64]>,
}

/// Ops [`eval`] may evaluate (others always give `None`).
pub(crate) const OPS: &[&str] = &[
    "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Transpose", "Gather", "Slice", "Concat", "Expand", "Tile",
    "ConstantOfShape", "Shape", "Size", "Range", "Cast", "CastLike", "Neg", "Abs", "Not", "Sqrt", "Reciprocal", "Floor",
    "Ceil", "Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
    "And", "Or", "Xor", "Where",
];

/// The outputs of `node` (a default-domain op) on `inputs`, or `None` when it cannot be evaluated
/// exactly, or when an output would hold more than `max_elements` elements.
pub fn eval(node: &NodeProto, inputs: &[Input], max_elements: usize) -> Option<Vec<Value>> {
    let op = node.op_type.as_deref()?;
    let c = Ctx { node, inputs, max_elements };
    let out = match op {
        "Identity" | "Reshape" | "Unsqueeze" | "Squeeze" | "Flatten" | "Transpose" => layout(op, &c)?,
        "Gather" | "Slice" | "Concat" | "Expand" | "Tile" => indexing(op, &c)?,
        "ConstantOfShape" | "Shape" | "Size" | "Range" => generator(op, &c)?,
        "Cast" | "CastLike" | "Neg" | "Abs" | "Not" | "Sqrt" | "Reciprocal" | "Floor" | "Ceil" | "Add" | "Sub" | "Mul"
        | "Div" | "Mod" | "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" | "Max"
        | "Min" | "Where" => arithmetic(op, &c)?,
        _ => return None,
    };
    (out.numel() <= max_elements && node.output.len() == 1).then(|| vec![out])
}

/// What every op family reads: the node, its inputs and the size limit.
struct Ctx<'a> {
    node: &'a NodeProto,
    inputs: &'a [Input<'a>],
    max_elements: usize,
}

impl<'a> Ctx<'a> {
    /// The value of input `i`, if known.
    fn val(&self, i: usize) -> Option<&'a Value> {
        self.inputs.get(i).and_then(|x| x.value)
    }

    /// The integer values of input `i`, if known.
    fn ints(&self, i: usize) -> Option<&'a [i64]> {
        self.val(i).and_then(Value::as_ints)
    }

    /// Whether a tensor of `dims` stays within the size limit.
    fn within(&self, dims: &[usize]) -> bool {
        numel(dims).filter(|&n| n <= self.max_elements).is_some()
    }
}

/// Ops that only reshape or reorder: Identity, Reshape, Unsqueeze, Squeeze, Flatten, Transpose.
fn layout(op: &str, c: &Ctx) -> Option<Value> {
    Some(match op {
        "Identity" => c.val(0)?.clone(),
        "Reshape" => {
            let x = c.val(0)?;
            let target = c.ints(1)?;
            let allow_zero = attr_i(c.node, "allowzero") == Some(1);
            let mut dims = Vec::with_capacity(target.len());
            let mut infer = None;
            for (i, &t) in target.iter().enumerate() {
                dims.push(match t {
                    0 if !allow_zero => *x.dims.get(i)?,
                    -1 if infer.is_none() => {
                        infer = Some(i);
                        1
                    }
                    t => usize::try_from(t).ok()?,
                });
            }
            if let Some(i) = infer {
                let rest = numel(&dims)?;
                if rest == 0 || x.numel() % rest != 0 {
                    return None;
                }
                dims[i] = x.numel() / rest;
            }
            (numel(&dims)? == x.numel()).then(|| x.with(dims, x.data.clone()))?
        }
        "Unsqueeze" => {
            let x = c.val(0)?;
            let axes = attr_ints(c.node, "axes").map(<[i64]>::to_vec).or_else(|| c.ints(1).map(<[i64]>::to_vec))?;
            let rank = x.dims.len() + axes.len();
            let mut axes: Vec<usize> = axes.iter().map(|&a| normalize_axis(a, rank)).collect::<Option<_>>()?;
            axes.sort_unstable();
            if axes.windows(2).any(|w| w[0] == w[1]) {
                return None;
            }
            let mut dims = x.dims.clone();
            for a in axes {
                if a > dims.len() {
                    return None;
                }
                dims.insert(a, 1);
            }
            x.with(dims, x.data.clone())
        }
        "Squeeze" => {
            let x = c.val(0)?;
            let axes = attr_ints(c.node, "axes").map(<[i64]>::to_vec).or_else(|| c.ints(1).map(<[i64]>::to_vec));
            let rank = x.dims.len();
            let drop: Vec<usize> = match axes {
                Some(a) => a.iter().map(|&a| normalize_axis(a, rank)).collect::<Option<_>>()?,
                None => (0..rank).filter(|&i| x.dims[i] == 1).collect(),
            };
            if drop.iter().any(|&a| x.dims[a] != 1) {
                return None;
            }
            let dims = x.dims.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, &d)| d).collect();
            x.with(dims, x.data.clone())
        }
        "Flatten" => {
            let x = c.val(0)?;
            let axis = attr_i(c.node, "axis").unwrap_or(1);
            let rank = x.dims.len() as i64;
            let axis = if axis < 0 { axis + rank } else { axis };
            let axis = usize::try_from(axis).ok().filter(|&a| a <= x.dims.len())?;
            x.with(vec![numel(&x.dims[..axis])?, numel(&x.dims[axis..])?], x.data.clone())
        }
        "Transpose" => {
            let x = c.val(0)?;
            let rank = x.dims.len();
            let perm: Vec<usize> = match attr_ints(c.node, "perm") {
                Some(p) => p.iter().map(|&a| usize::try_from(a).ok().filter(|&a| a < rank)).collect::<Option<_>>()?,
                None => (0..rank).rev().collect(),
            };
            let mut seen = vec![false; rank];
            if perm.len() != rank || perm.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
                return None;
            }
            let dims: Vec<usize> = perm.iter().map(|&a| x.dims[a]).collect();
            let in_strides = strides(&x.dims);
            let out_strides: Vec<usize> = perm.iter().map(|&a| in_strides[a]).collect();
            let idx = odometer(&dims, |coord| coord.iter().zip(&out_strides).map(|(c, s)| c * s).sum());
            x.with(dims, x.data.select(&idx))
        }
        _ => return None,
    })
}

/// Ops that select or repeat elements: Gather, Slice, Concat, Expand, Tile.
fn indexing(op: &str, c: &Ctx) -> Option<Value> {
    Some(match op {
        "Gather" => {
            let (x, indices) = (c.val(0)?, c.val(1)?);
            let idx_vals = indices.as_ints()?;
            let a = normalize_axis(attr_i(c.node, "axis").unwrap_or(0), x.dims.len())?;
            let n = x.dims[a] as i64;
            let idx: Vec<usize> = idx_vals
                .iter()
                .map(|&i| usize::try_from(if i < 0 { i + n } else { i }).ok().filter(|&i| (i as i64) < n))
                .collect::<Option<_>>()?;
            let dims: Vec<usize> = x.dims[..a].iter().chain(&indices.dims).chain(&x.dims[a + 1..]).copied().collect();
            if !c.within(&dims) {
                return None;
            }
            let (outer, inner) = (numel(&x.dims[..a])?, numel(&x.dims[a + 1..])?);
            let mut map = Vec::with_capacity(numel(&dims)?);
            for o in 0..outer {
                for &i in &idx {
                    map.extend((0..inner).map(|k| (o * x.dims[a] + i) * inner + k));
                }
            }
            x.with(dims, x.data.select(&map))
        }
        "Slice" => slice(c.node, c.inputs)?,
        "Concat" => {
            let xs: Vec<&Value> = (0..c.inputs.len()).map(|i| c.val(i)).collect::<Option<_>>()?;
            let first = *xs.first()?;
            let a = normalize_axis(attr_i(c.node, "axis")?, first.dims.len())?;
            let mut dims = first.dims.clone();
            dims[a] = 0;
            for x in &xs {
                if x.dtype != first.dtype || x.dims.len() != dims.len() || (0..dims.len()).any(|i| i != a && x.dims[i] != dims[i]) {
                    return None;
                }
                dims[a] += x.dims[a];
            }
            if !c.within(&dims) {
                return None;
            }
            let outer = numel(&dims[..a])?;
            let mut data = first.data.empty_like();
            for o in 0..outer {
                for x in &xs {
                    let chunk = numel(&x.dims[a..])?;
                    if !data.extend_from(&x.data, o * chunk..(o + 1) * chunk) {
                        return None;
                    }
                }
            }
            first.with(dims, data)
        }
        "Expand" => {
            let x = c.val(0)?;
            let shape: Vec<usize> = c.ints(1)?.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
            let dims = broadcast(&x.dims, &shape)?;
            if !c.within(&dims) {
                return None;
            }
            x.with(dims.clone(), x.data.select(&broadcast_map(&dims, &x.dims)))
        }
        "Tile" => {
            let x = c.val(0)?;
            let reps = c.ints(1)?;
            if reps.len() != x.dims.len() {
                return None;
            }
            let dims: Vec<usize> =
                x.dims.iter().zip(reps).map(|(&d, &r)| usize::try_from(r).ok().and_then(|r| d.checked_mul(r))).collect::<Option<_>>()?;
            if !c.within(&dims) {
                return None;
            }
            let s = strides(&x.dims);
            let idx = odometer(&dims, |coord| coord.iter().zip(&x.dims).zip(&s).map(|((c, d), s)| (c % d) * s).sum());
            x.with(dims, x.data.select(&idx))
        }
        _ => return None,
    })
}

/// Ops that make a tensor from a shape or a range: ConstantOfShape, Shape, Size, Range.
fn generator(op: &str, c: &Ctx) -> Option<Value> {
    Some(match op {
        "ConstantOfShape" => {
            let shape = c.val(0)?;
            if shape.dims.len() != 1 {
                return None;
            }
            let dims: Vec<usize> = shape.as_ints()?.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
            if !c.within(&dims) {
                return None;
            }
            let fill = match attr(c.node, "value").and_then(|a| a.t.as_ref()) {
                Some(t) => Value::from_tensor(t, &tensor::inline_bytes(t).ok()?)?,
                None => Value { dtype: DataType::Float, dims: vec![1], data: Data::F32(vec![0.0]) },
            };
            if fill.numel() != 1 {
                return None;
            }
            let n = numel(&dims)?;
            fill.with(dims, fill.data.select(&vec![0; n]))
        }
        "Shape" => {
            let shape = c.inputs.first().and_then(|x| x.shape)?;
            let r = shape.len() as i64;
            let clamp = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
            let (s, e) = (clamp(attr_i(c.node, "start").unwrap_or(0)), clamp(attr_i(c.node, "end").unwrap_or(r)));
            let v = shape[s..e.max(s)].to_vec();
            if v.iter().any(|&d| d < 0) {
                return None;
            }
            Value::ints(DataType::Int64, &[v.len()], v)
        }
        "Size" => {
            let shape = c.inputs.first().and_then(|x| x.shape)?;
            let n = shape.iter().try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) })?;
            Value::ints(DataType::Int64, &[], vec![n])
        }
        "Range" => {
            let (s, l, d) = (c.val(0)?, c.val(1)?, c.val(2)?);
            let scalar = |v: &Value| (v.numel() == 1 && v.dims.len() <= 1).then(|| v.as_ints().map(|x| x[0])).flatten();
            let (start, limit, delta) = (scalar(s)?, scalar(l)?, scalar(d)?);
            if delta == 0 || s.dtype != l.dtype || s.dtype != d.dtype {
                return None;
            }
            let span = i128::from(limit) - i128::from(start);
            let delta128 = i128::from(delta);
            let n = ((span + delta128 - delta128.signum()) / delta128).max(0);
            let n = usize::try_from(n).ok().filter(|&n| n <= c.max_elements)?;
            let (lo, hi) = int_range(s.dtype)?;
            let v: Vec<i64> = (0..n as i128).map(|k| i64::try_from(i128::from(start) + k * delta128).ok().filter(|x| (lo..=hi).contains(x))).collect::<Option<_>>()?;
            Value::ints(s.dtype, &[n], v)
        }
        _ => return None,
    })
}

/// Casts and element-wise arithmetic and logic: Cast(Like), unary and binary ops, Max/Min, Where.
fn arithmetic(op: &str, c: &Ctx) -> Option<Value> {
    Some(match op {
        "Cast" | "CastLike" => {
            let x = c.val(0)?;
            let to = if op == "Cast" { DataType::from_code(attr_i(c.node, "to")? as i32)? } else { c.val(1)?.dtype };
            cast(x, to)?
        }
        "Neg" | "Abs" | "Not" | "Sqrt" | "Reciprocal" | "Floor" | "Ceil" => unary(op, c.val(0)?)?,
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And"
        | "Or" | "Xor" => {
            if c.inputs.len() != 2 {
                return None;
            }
            let fmod = attr_i(c.node, "fmod") == Some(1);
            binary(op, c.val(0)?, c.val(1)?, fmod, c.max_elements)?
        }
        "Max" | "Min" => {
            let mut acc = c.val(0)?.clone();
            for i in 1..c.inputs.len() {
                acc = binary(op, &acc, c.val(i)?, false, c.max_elements)?;
            }
            acc
        }
        "Where" => {
            let (cond, x, y) = (c.val(0)?, c.val(1)?, c.val(2)?);
            let Data::Bool(cv) = &cond.data else { return None };
            if x.dtype != y.dtype {
                return None;
            }
            let dims = broadcast(&broadcast(&cond.dims, &x.dims)?, &y.dims)?;
            if !c.within(&dims) {
                return None;
            }
            let (ic, ix, iy) = (broadcast_map(&dims, &cond.dims), broadcast_map(&dims, &x.dims), broadcast_map(&dims, &y.dims));
            let xs = x.data.select(&ix);
            let ys = y.data.select(&iy);
            let pick: Vec<bool> = ic.iter().map(|&i| cv[i]).collect();
            let data = match (xs, ys) {
                (Data::Int(a), Data::Int(b)) => Data::Int(choose(&pick, a, b)),
                (Data::F32(a), Data::F32(b)) => Data::F32(choose(&pick, a, b)),
                (Data::F64(a), Data::F64(b)) => Data::F64(choose(&pick, a, b)),
                (Data::Bool(a), Data::Bool(b)) => Data::Bool(choose(&pick, a, b)),
                _ => return None,
            };
            x.with(dims, data)
        }
        _ => return None,
    })
}

fn choose<T: Copy>(pick: &[bool], a: Vec<T>, b: Vec<T>) -> Vec<T> {
    pick.iter().zip(a.into_iter().zip(b)).map(|(&p, (x, y))| if p { x } else { y }).collect()
}

fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a).ok().filter(|&a| a < rank)
}

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// `f(coordinate)` for every coordinate of `dims`, in row-major order.
fn odometer(dims: &[usize], f: impl Fn(&[usize]) -> usize) -> Vec<usize> {
    let n = numel(dims).unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    let mut coord = vec![0; dims.len()];
    for _ in 0..n {
        out.push(f(&coord));
        for i in (0..dims.len()).rev() {
            coord[i] += 1;
            if coord[i] < dims[i] {
                break;
            }
            coord[i] = 0;
        }
    }
    out
}

/// Numpy-style broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let get = |s: &[usize]| (i + s.len()).checked_sub(rank).map_or(1, |k| s[k]);
            match (get(a), get(b)) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// For each element of a tensor of `out` dims, the index of the element of an `inp`-shaped
/// tensor broadcast to it.
fn broadcast_map(out: &[usize], inp: &[usize]) -> Vec<usize> {
    let s = strides(inp);
    let offset = out.len() - inp.len();
    odometer(out, |coord| (0..inp.len()).map(|k| if inp[k] == 1 { 0 } else { coord[offset + k] * s[k] }).sum())
}

fn slice(node: &NodeProto, inputs: &[Input]) -> Option<Value> {
    let x = inputs.first()?.value?;
    let get = |i: usize| inputs.get(i).and_then(|v| v.value).and_then(Value::as_ints).map(<[i64]>::to_vec);
    let (starts, ends, axes, steps) = if inputs.len() > 1 {
        (get(1)?, get(2)?, get(3), get(4))
    } else {
        (attr_ints(node, "starts")?.to_vec(), attr_ints(node, "ends")?.to_vec(), attr_ints(node, "axes").map(<[i64]>::to_vec), None)
    };
    let rank = x.dims.len();
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return None;
    }
    let mut begin = vec![0i64; rank];
    let mut step = vec![1i64; rank];
    let mut dims = x.dims.clone();
    let mut seen = vec![false; rank];
    for k in 0..starts.len() {
        let a = normalize_axis(axes[k], rank)?;
        if std::mem::replace(&mut seen[a], true) || steps[k] == 0 {
            return None;
        }
        let n = x.dims[a] as i64;
        let fix = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
        let (s, e, st) = (fix(starts[k]), fix(ends[k]), steps[k]);
        let (s, e) = if st > 0 { (s.clamp(0, n), e.clamp(0, n)) } else if n > 0 { (s.clamp(0, n - 1), e.clamp(-1, n - 1)) } else { (0, 0) };
        // In i128: a step of i64::MIN or i64::MAX (hostile input) must not overflow.
        let (s128, e128, st128) = (i128::from(s), i128::from(e), i128::from(st));
        let len = if st > 0 { (e128 - s128 + st128 - 1).div_euclid(st128) } else { (s128 - e128 - st128 - 1).div_euclid(-st128) }.max(0);
        begin[a] = s;
        step[a] = st;
        dims[a] = len as usize;
    }
    let s = strides(&x.dims);
    let idx = odometer(&dims, |coord| (0..rank).map(|i| ((begin[i] + coord[i] as i64 * step[i]) as usize) * s[i]).sum());
    Some(x.with(dims, x.data.select(&idx)))
}

fn cast(x: &Value, to: DataType) -> Option<Value> {
    if !is_covered(to) {
        return None;
    }
    let data = match (&x.data, to) {
        (d, t) if t == x.dtype => d.clone(),
        (Data::Int(v), DataType::Float) => Data::F32(v.iter().map(|&i| i as f32).collect()),
        (Data::Int(v), DataType::Double) => Data::F64(v.iter().map(|&i| i as f64).collect()),
        (Data::Int(v), DataType::Bool) => Data::Bool(v.iter().map(|&i| i != 0).collect()),
        (Data::Int(v), t) => Data::Int(v.iter().map(|&i| wrap(i, t)).collect()),
        (Data::Bool(v), DataType::Float) => Data::F32(v.iter().map(|&b| f32::from(u8::from(b))).collect()),
        (Data::Bool(v), DataType::Double) => Data::F64(v.iter().map(|&b| f64::from(u8::from(b))).collect()),
        (Data::Bool(v), _) => Data::Int(v.iter().map(|&b| i64::from(b)).collect()),
        (Data::F32(v), DataType::Double) => Data::F64(v.iter().map(|&f| f64::from(f)).collect()),
        (Data::F64(v), DataType::Float) => Data::F32(v.iter().map(|&f| f as f32).collect()),
        (Data::F32(v), DataType::Bool) => Data::Bool(v.iter().map(|&f| f != 0.0).collect()),
        (Data::F64(v), DataType::Bool) => Data::Bool(v.iter().map(|&f| f != 0.0).collect()),
        (Data::F32(v), t) => Data::Int(v.iter().map(|&f| float_to_int(f64::from(f), t)).collect::<Option<_>>()?),
        (Data::F64(v), t) => Data::Int(v.iter().map(|&f| float_to_int(f, t)).collect::<Option<_>>()?),
    };
    Some(Value { dtype: to, dims: x.dims.clone(), data })
}

/// Integer conversion as C's cast does it (two's complement wrap to the target width).
fn wrap(i: i64, to: DataType) -> i64 {
    match to {
        DataType::Int8 => i64::from(i as i8),
        DataType::Uint8 => i64::from(i as u8),
        DataType::Int16 => i64::from(i as i16),
        DataType::Uint16 => i64::from(i as u16),
        DataType::Int32 => i64::from(i as i32),
        DataType::Uint32 => i64::from(i as u32),
        _ => i,
    }
}

/// Float to integer by truncation; `None` when the result is out of range or the value is not
/// finite (undefined behaviour in the runtime, so never folded).
fn float_to_int(f: f64, to: DataType) -> Option<i64> {
    let (lo, hi) = int_range(to)?;
    let t = f.trunc();
    (t.is_finite() && t >= lo as f64 && t <= hi as f64 && t.abs() < 9.0e18).then_some(t as i64)
}

fn unary(op: &str, x: &Value) -> Option<Value> {
    let (lo, hi) = int_range(x.dtype).unwrap_or((i64::MIN, i64::MAX));
    let data = match (&x.data, op) {
        (Data::Int(v), "Neg") => Data::Int(v.iter().map(|&i| i.checked_neg().filter(|r| (lo..=hi).contains(r))).collect::<Option<_>>()?),
        (Data::Int(v), "Abs") => Data::Int(v.iter().map(|&i| i.checked_abs().filter(|r| (lo..=hi).contains(r))).collect::<Option<_>>()?),
        (Data::Bool(v), "Not") => Data::Bool(v.iter().map(|b| !b).collect()),
        (Data::F32(v), "Sqrt" | "Reciprocal") => Data::F32(v.iter().map(|&f| f32_unary(op, f)).collect::<Option<_>>()?),
        (Data::F32(v), _) => Data::F32(v.iter().map(|&f| float_unary(op, f64::from(f)).map(|r| r as f32)).collect::<Option<_>>()?),
        (Data::F64(v), _) => Data::F64(v.iter().map(|&f| float_unary(op, f)).collect::<Option<_>>()?),
        _ => return None,
    };
    Some(x.with(x.dims.clone(), data))
}

/// Exact unary ops in f64 (Neg, Abs, Floor, Ceil are exact in any width; Sqrt and Reciprocal
/// are exact only in the type's own width, see [`f32_unary`]).
fn float_unary(op: &str, f: f64) -> Option<f64> {
    Some(match op {
        "Neg" => -f,
        "Abs" => f.abs(),
        "Floor" => f.floor(),
        "Ceil" => f.ceil(),
        "Sqrt" => f.sqrt(),
        "Reciprocal" => 1.0 / f,
        _ => return None,
    })
}

/// Sqrt and Reciprocal of a float32, computed in float32 (correctly rounded, as the runtime does).
fn f32_unary(op: &str, f: f32) -> Option<f32> {
    match op {
        "Sqrt" => Some(f.sqrt()),
        "Reciprocal" => Some(1.0 / f),
        _ => None,
    }
}

fn binary(op: &str, a: &Value, b: &Value, fmod: bool, max_elements: usize) -> Option<Value> {
    if a.dtype != b.dtype {
        return None;
    }
    let dims = broadcast(&a.dims, &b.dims)?;
    if numel(&dims)? > max_elements {
        return None;
    }
    let (ia, ib) = (broadcast_map(&dims, &a.dims), broadcast_map(&dims, &b.dims));
    let compare = matches!(op, "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual");
    let dtype = if compare { DataType::Bool } else { a.dtype };
    let data = match (&a.data, &b.data) {
        (Data::Int(x), Data::Int(y)) if compare => Data::Bool(zip_op(x, y, &ia, &ib, |p, q| compare_op(op, &p, &q))?),
        (Data::Int(x), Data::Int(y)) => {
            let (lo, hi) = int_range(a.dtype)?;
            Data::Int(zip_op(x, y, &ia, &ib, |p, q| int_op(op, p, q, fmod).filter(|r| (lo..=hi).contains(r)))?)
        }
        (Data::F32(x), Data::F32(y)) if compare => Data::Bool(zip_op(x, y, &ia, &ib, |p, q| compare_op(op, &p, &q))?),
        (Data::F32(x), Data::F32(y)) => Data::F32(zip_op(x, y, &ia, &ib, |p, q| float_op(op, p, q))?),
        (Data::F64(x), Data::F64(y)) if compare => Data::Bool(zip_op(x, y, &ia, &ib, |p, q| compare_op(op, &p, &q))?),
        (Data::F64(x), Data::F64(y)) => Data::F64(zip_op(x, y, &ia, &ib, |p, q| float_op(op, p, q))?),
        (Data::Bool(x), Data::Bool(y)) => {
            let f = |p: bool, q: bool| match op {
                "And" => Some(p && q),
                "Or" => Some(p || q),
                "Xor" => Some(p ^ q),
                "Equal" => Some(p == q),
                _ => None,
            };
            Data::Bool(zip_op(x, y, &ia, &ib, f)?)
        }
        _ => return None,
    };
    Some(Value { dtype, dims, data })
}

/// `f(x[ia[k]], y[ib[k]])` for every k; `None` when any is.
fn zip_op<T: Copy, R>(x: &[T], y: &[T], ia: &[usize], ib: &[usize], f: impl Fn(T, T) -> Option<R>) -> Option<Vec<R>> {
    ia.iter().zip(ib).map(|(&i, &j)| f(x[i], y[j])).collect()
}

fn compare_op<T: PartialOrd>(op: &str, p: &T, q: &T) -> Option<bool> {
    Some(match op {
        "Equal" => p == q,
        "Less" => p < q,
        "Greater" => p > q,
        "LessOrEqual" => p <= q,
        "GreaterOrEqual" => p >= q,
        _ => return None,
    })
}

fn int_op(op: &str, p: i64, q: i64, fmod: bool) -> Option<i64> {
    match op {
        "Add" => p.checked_add(q),
        "Sub" => p.checked_sub(q),
        "Mul" => p.checked_mul(q),
        "Div" => p.checked_div(q),
        "Mod" => {
            let r = p.checked_rem(q)?;
            Some(if !fmod && r != 0 && ((r < 0) != (q < 0)) { r + q } else { r })
        }
        "Max" => Some(p.max(q)),
        "Min" => Some(p.min(q)),
        _ => None,
    }
}

/// IEEE-exact float ops; Max/Min refuse NaN (runtimes differ on which operand wins).
fn float_op<T: num_like::Float>(op: &str, p: T, q: T) -> Option<T> {
    match op {
        "Add" => Some(p + q),
        "Sub" => Some(p - q),
        "Mul" => Some(p * q),
        "Div" => Some(p / q),
        "Max" if !p.is_nan() && !q.is_nan() => Some(if p >= q { p } else { q }),
        "Min" if !p.is_nan() && !q.is_nan() => Some(if p <= q { p } else { q }),
        _ => None,
    }
}

mod num_like {
    pub trait Float: Copy + PartialOrd + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> + std::ops::Mul<Output = Self> + std::ops::Div<Output = Self> {
        fn is_nan(self) -> bool;
    }
    impl Float for f32 {
        fn is_nan(self) -> bool {
            f32::is_nan(self)
        }
    }
    impl Float for f64 {
        fn is_nan(self) -> bool {
            f64::is_nan(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::{self, Attr};

    fn i64s(dims: &[usize], v: &[i64]) -> Value {
        Value::ints(DataType::Int64, dims, v.to_vec())
    }

    fn run(op: &str, attrs: &[(&str, Attr)], inputs: &[&Value]) -> Option<Value> {
        let names: Vec<String> = (0..inputs.len()).map(|i| format!("i{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let node = builder::node(op, "n", &refs, &["o"], attrs);
        let ins: Vec<Input> = inputs.iter().map(|v| Input { value: Some(v), shape: None }).collect();
        eval(&node, &ins, 1 << 20).map(|mut v| v.remove(0))
    }

    // Why: the shape chain exporters emit (Gather of a shape, Unsqueeze, Concat) must give the
    // exact integers a runtime computes, negative indices included.
    #[test]
    fn shape_chain_ops_compute_exact_integers() {
        let shape = i64s(&[3], &[2, 16, 128]);
        let g = run("Gather", &[("axis", Attr::Int(0))], &[&shape, &i64s(&[], &[-2])]).unwrap();
        assert_eq!((g.dims.clone(), g.as_ints().unwrap().to_vec()), (vec![], vec![16]));
        let u = run("Unsqueeze", &[], &[&g, &i64s(&[1], &[0])]).unwrap();
        assert_eq!(u.dims, vec![1]);
        let c = run("Concat", &[("axis", Attr::Int(0))], &[&u, &i64s(&[2], &[-1, 64])]).unwrap();
        assert_eq!(c.as_ints().unwrap(), &[16, -1, 64]);
        let r = run("Reshape", &[], &[&i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]), &i64s(&[2], &[0, -1])]).unwrap();
        assert_eq!(r.dims, vec![2, 3]);
        let t = run("Transpose", &[("perm", Attr::Ints(vec![1, 0]))], &[&r]).unwrap();
        assert_eq!(t.as_ints().unwrap(), &[1, 4, 2, 5, 3, 6]);
    }

    // Why: Slice clamping (huge ends, negative steps) and Range lengths are where off-by-ones hide.
    #[test]
    fn slice_and_range_follow_the_spec() {
        let x = i64s(&[5], &[0, 1, 2, 3, 4]);
        let s = run("Slice", &[], &[&x, &i64s(&[1], &[1]), &i64s(&[1], &[i64::MAX]), &i64s(&[1], &[0]), &i64s(&[1], &[2])]).unwrap();
        assert_eq!(s.as_ints().unwrap(), &[1, 3]);
        let s = run("Slice", &[], &[&x, &i64s(&[1], &[-1]), &i64s(&[1], &[i64::MIN]), &i64s(&[1], &[0]), &i64s(&[1], &[-2])]).unwrap();
        assert_eq!(s.as_ints().unwrap(), &[4, 2, 0]);
        let empty = i64s(&[0], &[]);
        let s = run("Slice", &[], &[&empty, &i64s(&[1], &[-1]), &i64s(&[1], &[i64::MIN]), &i64s(&[1], &[0]), &i64s(&[1], &[-1])]).unwrap();
        assert_eq!(s.dims, vec![0], "a reversed slice of nothing is empty, not a panic");
        // Steps of i64::MIN / i64::MAX overflowed the length arithmetic ("attempt to negate with
        // overflow" in the fuzz campaigns): one element each.
        let s = run("Slice", &[], &[&x, &i64s(&[1], &[4]), &i64s(&[1], &[i64::MIN]), &i64s(&[1], &[0]), &i64s(&[1], &[i64::MIN])]).unwrap();
        assert_eq!(s.as_ints().unwrap(), &[4]);
        let s = run("Slice", &[], &[&x, &i64s(&[1], &[1]), &i64s(&[1], &[i64::MAX]), &i64s(&[1], &[0]), &i64s(&[1], &[i64::MAX])]).unwrap();
        assert_eq!(s.as_ints().unwrap(), &[1]);
        let r = run("Range", &[], &[&i64s(&[], &[10]), &i64s(&[], &[1]), &i64s(&[], &[-3])]).unwrap();
        assert_eq!(r.as_ints().unwrap(), &[10, 7, 4]);
        let r = run("Range", &[], &[&i64s(&[], &[0]), &i64s(&[], &[i64::MAX]), &i64s(&[], &[1])]);
        assert!(r.is_none(), "over the element limit: not evaluated");
    }

    // Why: broadcasting, integer overflow and division by zero: results must be exact or refused.
    #[test]
    fn arithmetic_broadcasts_and_refuses_overflow() {
        let a = i64s(&[2, 1], &[1, 2]);
        let b = i64s(&[3], &[10, 20, 30]);
        let s = run("Add", &[], &[&a, &b]).unwrap();
        assert_eq!((s.dims.clone(), s.as_ints().unwrap().to_vec()), (vec![2, 3], vec![11, 21, 31, 12, 22, 32]));
        assert!(run("Mul", &[], &[&i64s(&[], &[i64::MAX]), &i64s(&[], &[2])]).is_none());
        assert!(run("Div", &[], &[&i64s(&[], &[1]), &i64s(&[], &[0])]).is_none());
        assert_eq!(run("Div", &[], &[&i64s(&[], &[-7]), &i64s(&[], &[2])]).unwrap().as_ints().unwrap(), &[-3], "truncates like C");
        assert_eq!(run("Mod", &[], &[&i64s(&[], &[-7]), &i64s(&[], &[2])]).unwrap().as_ints().unwrap(), &[1], "sign of the divisor");
        let i32max = Value::ints(DataType::Int32, &[], vec![i32::MAX.into()]);
        assert!(run("Add", &[], &[&i32max, &Value::ints(DataType::Int32, &[], vec![1])]).is_none(), "int32 overflow");
    }

    // Why: the attention-mask chain ends in comparisons, Where, Cast to bool and ConstantOfShape.
    #[test]
    fn masks_where_cast_and_constant_of_shape() {
        let ge = run("GreaterOrEqual", &[], &[&i64s(&[3], &[-1, 0, 1]), &i64s(&[], &[0])]).unwrap();
        assert_eq!(ge.data, Data::Bool(vec![false, true, true]));
        let w = run("Where", &[], &[&ge, &i64s(&[], &[7]), &i64s(&[3], &[1, 2, 3])]).unwrap();
        assert_eq!(w.as_ints().unwrap(), &[1, 7, 7]);
        let c = run("Cast", &[("to", Attr::Int(1))], &[&w]).unwrap();
        assert_eq!(c.data, Data::F32(vec![1.0, 7.0, 7.0]));
        let f = Value { dtype: DataType::Float, dims: vec![2], data: Data::F32(vec![2.9, -2.9]) };
        assert_eq!(run("Cast", &[("to", Attr::Int(7))], &[&f]).unwrap().as_ints().unwrap(), &[2, -2]);
        let z = run("ConstantOfShape", &[], &[&i64s(&[2], &[2, 2])]).unwrap();
        assert_eq!((z.dtype, z.data), (DataType::Float, Data::F32(vec![0.0; 4])));
        let e = run("Expand", &[], &[&i64s(&[2, 1], &[1, 2]), &i64s(&[3], &[2, 2, 3])]).unwrap();
        assert_eq!(e.dims, vec![2, 2, 3]);
        assert_eq!(e.as_ints().unwrap()[..6], [1, 1, 1, 2, 2, 2]);
    }

    // Why: values round-trip through raw bytes for every covered type (the folded constants are
    // written that way).
    #[test]
    fn bytes_roundtrip() {
        for (dt, v) in [(DataType::Int32, vec![-5i64, 7]), (DataType::Uint8, vec![0, 255]), (DataType::Int8, vec![-128, 127])] {
            let x = Value::ints(dt, &[2], v);
            assert_eq!(Value::from_bytes(dt, &[2], &x.to_bytes()), Some(x));
        }
        assert_eq!(Value::from_bytes(DataType::Float16, &[1], &[0, 0]), None, "float16 is not covered");
        assert_eq!(Value::from_bytes(DataType::Int64, &[2], &[0; 8]), None, "byte count must match");
    }
}
