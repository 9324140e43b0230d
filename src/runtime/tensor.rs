//! Owned tensors and input/output descriptions, independent of `ort`'s types.

use std::fmt;

use ndarray::{ArrayD, ArrayViewD, Dimension};
use ort::value::{DynValue, TensorElementType, ValueType};

/// Element type of a model input/output or of a [`Tensor`]. Names follow ONNX (`"float32"`, `"int64"`, ...), the
/// same spelling as `crate::onnx::DataType`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    I64,
    I32,
    I8,
    U8,
    Bool,
    /// A type [`Tensor`] cannot hold (float16, string, ...), or a non-tensor value (`"sequence"`, `"map"`,
    /// `"optional"`), by its ONNX name.
    Other(String),
}

impl DType {
    /// ONNX name: `"float32"`, `"float64"`, `"int64"`, `"int32"`, `"int8"`, `"uint8"`, `"bool"`, or the other name.
    pub fn as_str(&self) -> &str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::Bool => "bool",
            DType::Other(name) => name,
        }
    }

    pub(super) fn from_ort(ty: TensorElementType) -> DType {
        use TensorElementType as T;
        match ty {
            T::Float32 => DType::F32,
            T::Float64 => DType::F64,
            T::Int64 => DType::I64,
            T::Int32 => DType::I32,
            T::Int8 => DType::I8,
            T::Uint8 => DType::U8,
            T::Bool => DType::Bool,
            T::Float16 => DType::Other("float16".into()),
            T::Bfloat16 => DType::Other("bfloat16".into()),
            T::String => DType::Other("string".into()),
            T::Uint16 => DType::Other("uint16".into()),
            T::Int16 => DType::Other("int16".into()),
            T::Uint32 => DType::Other("uint32".into()),
            T::Uint64 => DType::Other("uint64".into()),
            T::Complex64 => DType::Other("complex64".into()),
            T::Complex128 => DType::Other("complex128".into()),
            // Rare types: `ort`'s own short name (e.g. "f8_e4m3fn") is descriptive enough.
            other => DType::Other(other.to_string()),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for DType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One dimension of a model input/output as declared in the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A named dynamic dimension (`dim_param`), e.g. `"batch"` or `"sequence"`.
    Symbolic(String),
    /// A dynamic dimension without a name.
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(name) => f.write_str(name),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// A model input or output as ONNX Runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    /// Declared shape; empty for scalars and for non-tensor values.
    pub shape: Vec<Dim>,
}

impl TensorInfo {
    pub(super) fn from_ort(name: &str, ty: &ValueType) -> TensorInfo {
        match ty {
            ValueType::Tensor {
                ty,
                shape,
                dimension_symbols,
            } => {
                let shape = shape
                    .iter()
                    .enumerate()
                    .map(
                        |(i, &n)| match dimension_symbols.get(i).map(String::as_str) {
                            Some(sym) if !sym.is_empty() => Dim::Symbolic(sym.to_string()),
                            _ if n >= 0 => Dim::Fixed(n),
                            _ => Dim::Unknown,
                        },
                    )
                    .collect();
                TensorInfo {
                    name: name.to_string(),
                    dtype: DType::from_ort(*ty),
                    shape,
                }
            }
            ValueType::Sequence(_) => Self::non_tensor(name, "sequence"),
            ValueType::Map { .. } => Self::non_tensor(name, "map"),
            ValueType::Optional(_) => Self::non_tensor(name, "optional"),
        }
    }

    fn non_tensor(name: &str, kind: &str) -> TensorInfo {
        TensorInfo {
            name: name.to_string(),
            dtype: DType::Other(kind.to_string()),
            shape: Vec::new(),
        }
    }

    /// `int64[batch,sequence]`-style description used in messages.
    pub fn describe(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(Dim::to_string).collect();
        format!("{}[{}]", self.dtype, dims.join(","))
    }
}

/// An owned, dynamically shaped tensor of one of the element types squeezebench feeds to or reads from models.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I64(ArrayD<i64>),
    I32(ArrayD<i32>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    Bool(ArrayD<bool>),
}

/// Applies `$body` to the array inside any variant.
macro_rules! with_array {
    ($tensor:expr, $a:ident => $body:expr) => {
        match $tensor {
            Tensor::F32($a) => $body,
            Tensor::F64($a) => $body,
            Tensor::I64($a) => $body,
            Tensor::I32($a) => $body,
            Tensor::I8($a) => $body,
            Tensor::U8($a) => $body,
            Tensor::Bool($a) => $body,
        }
    };
}
pub(super) use with_array;

impl Tensor {
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::I64(_) => DType::I64,
            Tensor::I32(_) => DType::I32,
            Tensor::I8(_) => DType::I8,
            Tensor::U8(_) => DType::U8,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<&ArrayD<f64>> {
        match self {
            Tensor::F64(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<&ArrayD<i64>> {
        match self {
            Tensor::I64(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<&ArrayD<i32>> {
        match self {
            Tensor::I32(a) => Some(a),
            _ => None,
        }
    }

    /// Converts one `ort` output value into an owned tensor (copying the data out of ONNX Runtime's buffer).
    /// `Err` carries the value's type name when it is not one of ours.
    pub(super) fn from_ort(value: &DynValue) -> Result<Tensor, String> {
        let ty = match value.dtype() {
            ValueType::Tensor { ty, .. } => *ty,
            other => return Err(TensorInfo::from_ort("", other).dtype.to_string()),
        };
        fn copy<T: ort::value::PrimitiveTensorElementType + Clone>(
            value: &DynValue,
        ) -> Result<ArrayD<T>, String> {
            let view: ArrayViewD<'_, T> =
                value.try_extract_array::<T>().map_err(|e| e.to_string())?;
            Ok(view.to_owned())
        }
        use TensorElementType as T;
        Ok(match ty {
            T::Float32 => Tensor::F32(copy(value)?),
            T::Float64 => Tensor::F64(copy(value)?),
            T::Int64 => Tensor::I64(copy(value)?),
            T::Int32 => Tensor::I32(copy(value)?),
            T::Int8 => Tensor::I8(copy(value)?),
            T::Uint8 => Tensor::U8(copy(value)?),
            T::Bool => Tensor::Bool(copy(value)?),
            other => return Err(DType::from_ort(other).to_string()),
        })
    }
}

macro_rules! impl_from_array {
    ($($t:ty => $variant:ident),*) => {$(
        impl<D: Dimension> From<ndarray::Array<$t, D>> for Tensor {
            fn from(a: ndarray::Array<$t, D>) -> Tensor {
                Tensor::$variant(a.into_dyn())
            }
        }
    )*};
}
impl_from_array!(f32 => F32, f64 => F64, i64 => I64, i32 => I32, i8 => I8, u8 => U8, bool => Bool);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_basics() {
        let t = Tensor::from(ndarray::Array2::<i64>::zeros((2, 3)));
        assert_eq!(t.dtype(), DType::I64);
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.len(), 6);
        assert!(t.as_i64().is_some() && t.as_f32().is_none());
        assert_eq!(DType::F32.to_string(), "float32");
        assert_eq!(serde_json::to_string(&DType::I64).unwrap(), "\"int64\"");
    }

    #[test]
    fn describes_shapes() {
        let info = TensorInfo {
            name: "input_ids".into(),
            dtype: DType::I64,
            shape: vec![Dim::Symbolic("batch".into()), Dim::Fixed(8), Dim::Unknown],
        };
        assert_eq!(info.describe(), "int64[batch,8,?]");
    }
}
