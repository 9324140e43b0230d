//! Shared by the benches: interleaved latency measurement of several ONNX Runtime sessions.

use std::time::Instant;

use squeezebench::runtime::{PreparedInputs, Session};

/// 10 warm-up runs per session, then `runs` rounds in which every session runs once in turn
/// (interleaved, so drift on a shared machine hits all alike). Milliseconds per run, sorted, per
/// session.
pub fn interleaved(sessions: &mut [Session], prepared: &[PreparedInputs], runs: usize) -> Vec<Vec<f64>> {
    for (s, p) in sessions.iter_mut().zip(prepared) {
        for _ in 0..10 {
            s.run_prepared_discard(p).expect("run");
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); sessions.len()];
    for _ in 0..runs {
        for (k, (s, p)) in sessions.iter_mut().zip(prepared).enumerate() {
            let t = Instant::now();
            s.run_prepared_discard(p).expect("run");
            times[k].push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    for v in &mut times {
        v.sort_by(f64::total_cmp);
    }
    times
}
