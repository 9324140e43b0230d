//! The operators the ONNX specification defines, for the structural check: a node of the default
//! or `ai.onnx.ml` domain with another op type is not ONNX, and an opset newer than any release we
//! know cannot be interpreted. Custom domains (`com.microsoft`, ...) are left to the runtime.
//!
//! Generated from the `onnx` 1.23.2 Python package (`onnx.defs.get_all_schemas_with_history()`,
//! `onnx.defs.onnx_opset_version()`); regenerate when a new ONNX release adds operators.

/// The newest opset of the default domain in the ONNX release the lists come from.
pub(crate) const LATEST_OPSET: i64 = 28;

/// The newest opset of `ai.onnx.ml`.
pub(crate) const LATEST_ML_OPSET: i64 = 5;

/// Op types of the default domain (`""` / `ai.onnx`), every opset.
pub(crate) const DEFAULT_DOMAIN: &[&str] = &[
    "Abs", "Acos", "Acosh", "Add", "AffineGrid", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
    "Attention", "AveragePool", "BatchNormalization", "Bernoulli", "BitCast", "BitShift", "BitwiseAnd",
    "BitwiseNot", "BitwiseOr", "BitwiseXor", "BlackmanWindow", "Cast", "CastLike", "CausalConvWithState",
    "Ceil", "Celu", "CenterCropPad", "Clip", "Col2Im", "Compress", "Concat", "ConcatFromSequence",
    "Constant", "ConstantOfShape", "Conv", "ConvInteger", "ConvTranspose", "Cos", "Cosh", "CumProd",
    "CumSum", "DFT", "DeformConv", "DepthToSpace", "DequantizeLinear", "Det", "Div", "Dropout",
    "DynamicQuantizeLinear", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor",
    "GRU", "Gather", "GatherElements", "GatherND", "Gelu", "Gemm", "GlobalAveragePool", "GlobalLpPool",
    "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample", "GroupNormalization", "HammingWindow",
    "HannWindow", "HardSigmoid", "HardSwish", "Hardmax", "Identity", "If", "ImageDecoder",
    "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LSTM", "LayerNormalization", "LeakyRelu", "Less",
    "LessOrEqual", "LinearAttention", "Log", "LogSoftmax", "Loop", "LpNormalization", "LpPool", "MatMul",
    "MatMulInteger", "Max", "MaxPool", "MaxRoiPool", "MaxUnpool", "Mean", "MeanVarianceNormalization",
    "MelWeightMatrix", "Min", "Mish", "Mod", "Mul", "Multinomial", "Neg", "NegativeLogLikelihoodLoss",
    "NonMaxSuppression", "NonZero", "Not", "OneHot", "Optional", "OptionalGetElement", "OptionalHasElement",
    "Or", "PRelu", "Pad", "Pow", "QLinearConv", "QLinearMatMul", "QuantizeLinear", "RMSNormalization", "RNN",
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range", "Reciprocal",
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
    "ReduceProd", "ReduceSum", "ReduceSumSquare", "RegexFullMatch", "Relu", "Reshape", "Resize",
    "ReverseSequence", "RoiAlign", "RotaryEmbedding", "Round", "STFT", "Scan", "Scatter", "ScatterElements",
    "ScatterND", "Selu", "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase",
    "SequenceInsert", "SequenceLength", "SequenceMap", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh",
    "Size", "Slice", "Softmax", "SoftmaxCrossEntropyLoss", "Softplus", "Softsign", "SpaceToDepth", "Split",
    "SplitToSequence", "Sqrt", "Squeeze", "StringConcat", "StringNormalizer", "StringSplit", "Sub", "Sum",
    "SwiGLU", "Swish", "Tan", "Tanh", "TensorScatter", "TfIdfVectorizer", "ThresholdedRelu", "Tile", "TopK",
    "Transpose", "Trilu", "Unique", "Unsqueeze", "Upsample", "Where", "Xor",
];

/// Op types of `ai.onnx.ml`.
pub(crate) const ML_DOMAIN: &[&str] = &[
    "ArrayFeatureExtractor", "Binarizer", "CastMap", "CategoryMapper", "DictVectorizer", "FeatureVectorizer",
    "Imputer", "LabelEncoder", "LinearClassifier", "LinearRegressor", "Normalizer", "OneHotEncoder",
    "SVMClassifier", "SVMRegressor", "Scaler", "TreeEnsemble", "TreeEnsembleClassifier",
    "TreeEnsembleRegressor", "ZipMap",
];

/// Whether `op_type` is an operator of `domain` as far as the specification goes: `Some(true)` or
/// `Some(false)` for the standard domains, `None` for any other domain (not ours to judge).
pub(crate) fn is_known(domain: &str, op_type: &str) -> Option<bool> {
    match domain {
        "" | "ai.onnx" => Some(DEFAULT_DOMAIN.binary_search(&op_type).is_ok()),
        "ai.onnx.ml" => Some(ML_DOMAIN.binary_search(&op_type).is_ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_for_binary_search() {
        assert!(DEFAULT_DOMAIN.windows(2).all(|w| w[0] < w[1]));
        assert!(ML_DOMAIN.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(is_known("", "MatMul"), Some(true));
        assert_eq!(is_known("ai.onnx", "FooBar"), Some(false));
        assert_eq!(is_known("com.microsoft", "FooBar"), None);
    }
}
