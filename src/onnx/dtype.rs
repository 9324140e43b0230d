//! ONNX element types: names, sizes and the bytes a tensor of them takes.

use std::fmt;

/// An ONNX tensor element type (`TensorProto.DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    Float,
    Uint8,
    Int8,
    Uint16,
    Int16,
    Int32,
    Int64,
    String,
    Bool,
    Float16,
    Double,
    Uint32,
    Uint64,
    Complex64,
    Complex128,
    Bfloat16,
    Float8E4M3FN,
    Float8E4M3FNUZ,
    Float8E5M2,
    Float8E5M2FNUZ,
    Uint4,
    Int4,
    Float4E2M1,
    Float8E8M0,
    Uint2,
    Int2,
    Float6E2M3,
    Float6E3M2,
}

use DataType::*;

const ALL: [(i32, DataType, &str, u32); 28] = [
    (1, Float, "float32", 32),
    (2, Uint8, "uint8", 8),
    (3, Int8, "int8", 8),
    (4, Uint16, "uint16", 16),
    (5, Int16, "int16", 16),
    (6, Int32, "int32", 32),
    (7, Int64, "int64", 64),
    (8, String, "string", 0),
    (9, Bool, "bool", 8),
    (10, Float16, "float16", 16),
    (11, Double, "float64", 64),
    (12, Uint32, "uint32", 32),
    (13, Uint64, "uint64", 64),
    (14, Complex64, "complex64", 64),
    (15, Complex128, "complex128", 128),
    (16, Bfloat16, "bfloat16", 16),
    (17, Float8E4M3FN, "float8e4m3fn", 8),
    (18, Float8E4M3FNUZ, "float8e4m3fnuz", 8),
    (19, Float8E5M2, "float8e5m2", 8),
    (20, Float8E5M2FNUZ, "float8e5m2fnuz", 8),
    (21, Uint4, "uint4", 4),
    (22, Int4, "int4", 4),
    (23, Float4E2M1, "float4e2m1", 4),
    (24, Float8E8M0, "float8e8m0", 8),
    (25, Uint2, "uint2", 2),
    (26, Int2, "int2", 2),
    (27, Float6E2M3, "float6e2m3", 6),
    (28, Float6E3M2, "float6e3m2", 6),
];

impl DataType {
    /// The type for a `data_type` / `elem_type` code, `None` for 0 (undefined) or unknown codes.
    pub(crate) fn from_code(code: i32) -> Option<DataType> {
        ALL.iter().find(|e| e.0 == code).map(|e| e.1)
    }

    /// The ONNX code.
    pub fn code(self) -> i32 {
        self.entry().0
    }

    /// The name numpy and most tools use (`float32`, `int64`, ...).
    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// Parses a name as printed by [`DataType::name`] (also accepts `float`, `double`).
    #[cfg(test)]
    pub(crate) fn from_name(name: &str) -> Option<DataType> {
        match name {
            "float" => Some(Float),
            "double" => Some(Double),
            _ => ALL.iter().find(|e| e.2 == name).map(|e| e.1),
        }
    }

    /// Bits per element; `None` for strings, whose size is not fixed.
    pub fn bits(self) -> Option<u32> {
        match self.entry().3 {
            0 => None,
            b => Some(b),
        }
    }

    /// Bytes that `numel` elements take in `raw_data` (sub-byte types are packed, rounded up).
    /// `None` for strings or when the figure overflows.
    pub(crate) fn byte_len(self, numel: u64) -> Option<u64> {
        let bits = u64::from(self.bits()?);
        numel.checked_mul(bits).map(|b| b.div_ceil(8))
    }

    /// Floating-point types (quantization and parameter reports care about the split).
    pub(crate) fn is_float(self) -> bool {
        matches!(
            self,
            Float | Float16 | Double | Bfloat16 | Float8E4M3FN | Float8E4M3FNUZ | Float8E5M2 | Float8E5M2FNUZ
                | Float4E2M1 | Float8E8M0 | Float6E2M3 | Float6E3M2
        )
    }

    fn entry(self) -> &'static (i32, DataType, &'static str, u32) {
        ALL.iter().find(|e| e.1 == self).expect("every variant is listed in ALL")
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Display name of a raw code, for messages about unknown types.
pub(crate) fn code_name(code: i32) -> std::string::String {
    DataType::from_code(code).map_or_else(|| format!("unknown type {code}"), |t| t.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip_and_sizes_match_the_spec() {
        for code in 1..=28 {
            let t = DataType::from_code(code).unwrap();
            assert_eq!(t.code(), code);
            assert_eq!(DataType::from_name(t.name()), Some(t));
        }
        assert_eq!(DataType::from_code(0), None);
        assert_eq!(Float.byte_len(10), Some(40));
        assert_eq!(Int4.byte_len(3), Some(2), "4-bit types pack two per byte, rounded up");
        assert_eq!(String.byte_len(3), None);
        assert_eq!(Int64.byte_len(u64::MAX), None, "overflow is reported, not wrapped");
    }
}
