//! Measurements: the timing loop ([`latency`]), resident memory ([`memory`]), accuracy and fidelity
//! arithmetic ([`accuracy`]), the one comparison of two models' outputs ([`compare`]) and the
//! statistics behind them ([`stats`]). Only [`compare`] opens ONNX Runtime sessions (through
//! `runtime/`); the bench worker hands the timing loop a closure that runs the session once.

pub mod accuracy;
pub mod compare;
pub mod latency;
pub mod memory;
pub mod stats;
