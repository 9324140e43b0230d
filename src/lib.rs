//! squeezebench: compress and benchmark BERT-family encoders in ONNX.
pub mod bench;
pub mod data;
pub mod fuzz;
pub mod gate;
pub mod measure;
pub mod onnx;
pub mod passes;
pub mod quant;
pub mod report;
pub mod results;
pub mod runtime;
pub mod suite;
pub mod synth;
