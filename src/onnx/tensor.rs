//! Facts about one `TensorProto`: element count, where its bytes are, and those bytes.
//! Also the visitors that reach every tensor of a model (initializers, Constant attributes,
//! sparse tensors, subgraphs, functions, training graphs).

use super::dtype::DataType;
use super::proto::{tensor_proto::DataLocation, AttributeProto, GraphProto, ModelProto, TensorProto};

/// The tensor's name, or a placeholder for messages.
pub fn name(t: &TensorProto) -> &str {
    t.name.as_deref().unwrap_or("<unnamed>")
}

/// Number of elements from `dims`; an error for negative dims or an overflowing product.
pub(crate) fn numel(t: &TensorProto) -> Result<u64, String> {
    dims_numel(&t.dims)
}

/// Product of dims, refusing negative entries and overflow.
pub(crate) fn dims_numel(dims: &[i64]) -> Result<u64, String> {
    dims.iter().try_fold(1u64, |acc, &d| {
        let d = u64::try_from(d).map_err(|_| format!("negative dimension {d} in dims {dims:?}"))?;
        acc.checked_mul(d).ok_or_else(|| format!("dims {dims:?} overflow 64 bits"))
    })
}

/// The element type, or an error naming an unknown code.
pub(crate) fn data_type(t: &TensorProto) -> Result<DataType, String> {
    let code = t.data_type.unwrap_or(0);
    DataType::from_code(code).ok_or_else(|| format!("unknown or undefined data_type {code}"))
}

/// True when the data lives in an external file.
pub(crate) fn is_external(t: &TensorProto) -> bool {
    t.data_location == Some(DataLocation::External as i32)
}

/// Bytes the tensor's data takes in memory (`numel × element size`); `None` for strings.
pub fn expected_bytes(t: &TensorProto) -> Result<Option<u64>, String> {
    let n = numel(t)?;
    let dt = data_type(t)?;
    match dt.bits() {
        None => Ok(None),
        Some(_) => dt.byte_len(n).map(Some).ok_or_else(|| format!("size of dims {:?} overflows", t.dims)),
    }
}

/// Bytes the tensors take in memory, summed ([`expected_bytes`]; strings and tensors whose size
/// cannot be told count 0).
pub fn total_bytes(ts: &[TensorProto]) -> u64 {
    ts.iter().map(|t| expected_bytes(t).ok().flatten().unwrap_or(0)).sum()
}

/// What is wrong with the data a tensor holds inline, if anything: its dims (negative, overflowing),
/// its element type (unknown), or a payload that does not match `dims × element size` (raw_data
/// too short or too long, typed values missing or too many, raw bytes for a string tensor).
/// External tensors are checked against their file by `Model::external_ref` instead.
///
/// Loading runs this on every tensor, so code downstream may trust `raw_data.len()` and never
/// allocates from a size the file claims but does not hold.
pub fn data_problem(t: &TensorProto) -> Option<String> {
    let numel = match numel(t) {
        Ok(n) => n,
        Err(e) => return Some(e),
    };
    let dt = match data_type(t) {
        Ok(dt) => dt,
        Err(e) => return Some(e),
    };
    if is_external(t) {
        return None;
    }
    if dt == DataType::String {
        if t.raw_data.is_some() {
            return Some("a string tensor cannot hold raw_data (strings go in string_data)".into());
        }
        let have = t.string_data.len() as u64;
        return (have != numel && !(have == 0 && numel == 0))
            .then(|| format!("string_data holds {have} strings but dims {:?} need {numel}", t.dims));
    }
    let Some(want) = dt.byte_len(numel) else {
        return Some(format!("dims {:?} of {dt} overflow 64 bits in bytes", t.dims));
    };
    match &t.raw_data {
        // Which of the two a reader takes is up to the reader: refuse rather than guess.
        Some(_) if typed_len(t) > 0 => Some(format!("has both raw_data and {} typed values; a tensor holds one or the other", typed_len(t))),
        Some(raw) if raw.len() as u64 != want => {
            Some(format!("raw_data holds {} bytes but dims {:?} of {dt} need {want}", raw.len(), t.dims))
        }
        Some(_) => None,
        None => {
            let have = typed_len(t) as u64;
            // Sub-byte types may pack several values into one int32_data entry.
            let packed = dt.bits().is_some_and(|b| b < 8) && have == want;
            if have == numel || packed {
                None
            } else if have == 0 {
                Some(format!("has no data (dims {:?} of {dt}, no raw_data, typed data or external data)", t.dims))
            } else {
                Some(format!("typed data holds {have} values but dims {:?} of {dt} need {numel}", t.dims))
            }
        }
    }
}

/// Bytes of the data as stored in this proto (raw, or the typed field converted to little-endian),
/// without external data. Strings are not supported (they have no fixed layout).
pub(crate) fn inline_bytes(t: &TensorProto) -> Result<bytes::Bytes, String> {
    if let Some(raw) = &t.raw_data {
        return Ok(raw.clone());
    }
    let dt = data_type(t)?;
    let mut out = Vec::new();
    match dt {
        DataType::Float | DataType::Complex64 => t.float_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DataType::Double | DataType::Complex128 => t.double_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DataType::Int64 => t.int64_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DataType::Uint64 => t.uint64_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DataType::Uint32 => t.uint64_data.iter().for_each(|&v| out.extend_from_slice(&(v as u32).to_le_bytes())),
        DataType::Int32 => t.int32_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DataType::Int16 | DataType::Uint16 | DataType::Float16 | DataType::Bfloat16 => {
            t.int32_data.iter().for_each(|&v| out.extend_from_slice(&(v as u16).to_le_bytes()))
        }
        DataType::Int8 | DataType::Uint8 | DataType::Bool => t.int32_data.iter().for_each(|&v| out.push(v as u8)),
        other => return Err(format!("reading {other} data from typed fields is not supported")),
    }
    Ok(out.into())
}

/// Little-endian int64 or int32 data as i64 values; `None` for other types.
pub(crate) fn int_values(dtype: DataType, bytes: &[u8]) -> Option<Vec<i64>> {
    match dtype {
        DataType::Int64 => Some(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
        DataType::Int32 => Some(bytes.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap()))).collect()),
        _ => None,
    }
}

/// Little-endian float32 data as values.
pub(crate) fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Number of elements actually present in the typed data field for the tensor's type (for checks).
pub(crate) fn typed_len(t: &TensorProto) -> usize {
    match DataType::from_code(t.data_type.unwrap_or(0)) {
        Some(DataType::Float) => t.float_data.len(),
        Some(DataType::Complex64) => t.float_data.len() / 2,
        Some(DataType::Double) => t.double_data.len(),
        Some(DataType::Complex128) => t.double_data.len() / 2,
        Some(DataType::Int64) => t.int64_data.len(),
        Some(DataType::Uint64 | DataType::Uint32) => t.uint64_data.len(),
        Some(DataType::String) => t.string_data.len(),
        _ => t.int32_data.len(),
    }
}

/// Where a tensor is: used in messages and in statistics (a Constant's value is not a parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Initializer,
    SparseInitializer,
    Attribute,
}

/// Calls `f` on every tensor of the model, subgraphs and functions included.
pub fn for_each_tensor<'a>(model: &'a ModelProto, f: &mut dyn FnMut(&'a TensorProto, Place)) {
    if let Some(g) = &model.graph {
        graph_tensors(g, f);
    }
    for ti in &model.training_info {
        ti.initialization.iter().chain(ti.algorithm.iter()).for_each(|g| graph_tensors(g, f));
    }
    for func in &model.functions {
        func.node.iter().flat_map(|n| &n.attribute).for_each(|a| attr_tensors(a, f));
        func.attribute_proto.iter().for_each(|a| attr_tensors(a, f));
    }
}

fn graph_tensors<'a>(g: &'a GraphProto, f: &mut dyn FnMut(&'a TensorProto, Place)) {
    g.initializer.iter().for_each(|t| f(t, Place::Initializer));
    for s in &g.sparse_initializer {
        s.values.iter().chain(s.indices.iter()).for_each(|t| f(t, Place::SparseInitializer));
    }
    g.node.iter().flat_map(|n| &n.attribute).for_each(|a| attr_tensors(a, f));
}

fn attr_tensors<'a>(a: &'a AttributeProto, f: &mut dyn FnMut(&'a TensorProto, Place)) {
    a.t.iter().chain(&a.tensors).for_each(|t| f(t, Place::Attribute));
    for s in a.sparse_tensor.iter().chain(&a.sparse_tensors) {
        s.values.iter().chain(s.indices.iter()).for_each(|t| f(t, Place::Attribute));
    }
    a.g.iter().chain(&a.graphs).for_each(|g| graph_tensors(g, f));
}

/// Calls `f` on every tensor of the model, mutably (same coverage as [`for_each_tensor`]).
pub(crate) fn for_each_tensor_mut(model: &mut ModelProto, f: &mut dyn FnMut(&mut TensorProto)) {
    if let Some(g) = &mut model.graph {
        graph_tensors_mut(g, f);
    }
    for ti in &mut model.training_info {
        ti.initialization.iter_mut().chain(ti.algorithm.iter_mut()).for_each(|g| graph_tensors_mut(g, f));
    }
    for func in &mut model.functions {
        func.node.iter_mut().flat_map(|n| &mut n.attribute).for_each(|a| attr_tensors_mut(a, f));
        func.attribute_proto.iter_mut().for_each(|a| attr_tensors_mut(a, f));
    }
}

fn graph_tensors_mut(g: &mut GraphProto, f: &mut dyn FnMut(&mut TensorProto)) {
    g.initializer.iter_mut().for_each(&mut *f);
    for s in &mut g.sparse_initializer {
        s.values.iter_mut().chain(s.indices.iter_mut()).for_each(&mut *f);
    }
    g.node.iter_mut().flat_map(|n| &mut n.attribute).for_each(|a| attr_tensors_mut(a, f));
}

fn attr_tensors_mut(a: &mut AttributeProto, f: &mut dyn FnMut(&mut TensorProto)) {
    a.t.iter_mut().chain(&mut a.tensors).for_each(&mut *f);
    for s in a.sparse_tensor.iter_mut().chain(&mut a.sparse_tensors) {
        s.values.iter_mut().chain(s.indices.iter_mut()).for_each(&mut *f);
    }
    a.g.iter_mut().chain(&mut a.graphs).for_each(|g| graph_tensors_mut(g, f));
}
