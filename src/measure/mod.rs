//! Measurements: the timing loop ([`latency`]), resident memory ([`memory`]), accuracy and fidelity
//! arithmetic ([`accuracy`]) and the statistics behind them ([`stats`]). Nothing here knows about
//! ONNX Runtime: the bench worker hands the timing loop a closure that runs the session once.

pub mod accuracy;
pub mod latency;
pub mod memory;
pub mod stats;
