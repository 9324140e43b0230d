//! ONNX Runtime sessions (being written).
