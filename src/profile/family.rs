//! Op types grouped into the families a person reads a profile by.

use serde::{Deserialize, Serialize};

/// What kind of work an op type does. The order is the order of reports and chart stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Matrix products and convolutions, float and integer (MatMul, Gemm, FusedMatMul,
    /// MatMulInteger, DynamicQuantizeMatMul, QLinearMatMul, Conv, QLinearConv, ...).
    Gemm,
    /// Fused attention kernels (Attention, QAttention, MultiHeadAttention, ...) and Softmax.
    Attention,
    /// LayerNormalization and ONNX Runtime's fused forms (SkipLayerNormalization, ...).
    Normalization,
    /// Element-wise non-linearities (Gelu, FastGelu, BiasGelu, Erf, Tanh, Relu, ...).
    Activation,
    /// Moving data without arithmetic: Transpose, Reshape, Split, Concat, Slice, Gather,
    /// Squeeze/Unsqueeze, Expand, Cast, ...
    Layout,
    /// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
    Quantize,
    /// Everything else (element-wise arithmetic such as Add and Mul, reductions, shape logic).
    /// Also what a reader of a newer results file does not know.
    #[serde(other)]
    Other,
}

impl Family {
    /// Every family, in report order.
    pub const ALL: [Family; 7] =
        [Family::Gemm, Family::Attention, Family::Normalization, Family::Activation, Family::Layout, Family::Quantize, Family::Other];

    /// The family of an op type as ONNX Runtime names it in a profile (domain not included).
    pub fn of(op_type: &str) -> Family {
        match op_type {
            "MatMul" | "Gemm" | "FusedMatMul" | "FusedGemm" | "MatMulInteger" | "DynamicQuantizeMatMul" | "MatMulIntegerToFloat"
            | "QLinearMatMul" | "QGemm" | "MatMulNBits" | "Conv" | "FusedConv" | "NhwcFusedConv" | "ConvInteger" | "QLinearConv"
            | "ConvTranspose" => Family::Gemm,
            "Attention" | "QAttention" | "MultiHeadAttention" | "GroupQueryAttention" | "PackedAttention" | "PackedMultiHeadAttention"
            | "DecoderAttention" | "Softmax" | "QLinearSoftmax" => Family::Attention,
            "LayerNormalization" | "SkipLayerNormalization" | "SimplifiedLayerNormalization" | "SkipSimplifiedLayerNormalization"
            | "EmbedLayerNormalization" | "BatchNormalization" | "InstanceNormalization" | "GroupNorm" | "RMSNormalization" => {
                Family::Normalization
            }
            "Gelu" | "FastGelu" | "BiasGelu" | "QuickGelu" | "Erf" | "Tanh" | "Relu" | "Sigmoid" | "Softplus" | "LeakyRelu" | "Elu"
            | "Selu" | "HardSigmoid" | "HardSwish" | "QLinearSigmoid" | "QLinearLeakyRelu" => Family::Activation,
            "Transpose" | "Reshape" | "Split" | "Concat" | "Slice" | "Gather" | "GatherElements" | "GatherND" | "Squeeze" | "Unsqueeze"
            | "Expand" | "Flatten" | "Identity" | "Tile" | "Pad" | "Cast" | "QLinearConcat" | "ReorderInput" | "ReorderOutput"
            | "MemcpyFromHost" | "MemcpyToHost" => Family::Layout,
            "QuantizeLinear" | "DequantizeLinear" | "DynamicQuantizeLinear" => Family::Quantize,
            _ => Family::Other,
        }
    }

    /// The name a report shows.
    pub fn label(self) -> &'static str {
        match self {
            Family::Gemm => "GEMM",
            Family::Attention => "attention",
            Family::Normalization => "normalization",
            Family::Activation => "activation",
            Family::Layout => "layout and copies",
            Family::Quantize => "quantize/dequantize",
            Family::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_and_integer_kernels_land_in_the_family_of_their_work() {
        assert_eq!(Family::of("DynamicQuantizeMatMul"), Family::Gemm);
        assert_eq!(Family::of("FusedMatMul"), Family::Gemm);
        assert_eq!(Family::of("SkipLayerNormalization"), Family::Normalization);
        assert_eq!(Family::of("BiasGelu"), Family::Activation);
        assert_eq!(Family::of("Split"), Family::Layout);
        assert_eq!(Family::of("DynamicQuantizeLinear"), Family::Quantize);
        assert_eq!(Family::of("Add"), Family::Other);
    }

    #[test]
    fn an_unknown_family_in_a_newer_file_reads_as_other() {
        assert_eq!(serde_json::from_str::<Family>("\"sparse\"").unwrap(), Family::Other);
        assert_eq!(serde_json::to_string(&Family::Layout).unwrap(), "\"layout\"");
    }
}
