//! squeezebench: compress and benchmark BERT-family encoders in ONNX.
pub mod fuzz;
pub mod onnx;
pub mod passes;
pub mod runtime;
pub mod synth;
