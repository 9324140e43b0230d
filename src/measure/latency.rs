//! The timing loop: warm-up runs, then timed runs until the minimum count and time are reached and
//! the coefficient of variation is at or below the target, or until the time budget runs out.
//!
//! The loop times each run with `Instant` around one call of the closure and does nothing else per
//! run but push the sample and update running sums (so checking the CV costs O(1)): that is what
//! keeps the harness within a few percent of a bare ONNX Runtime loop.

use std::time::{Duration, Instant};

/// When to stop measuring.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopSettings {
    pub warmup: usize,
    pub min_iterations: usize,
    pub min_time: Duration,
    pub target_cv: f64,
    pub max_time: Duration,
}

/// What the loop measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// Seconds per run, in run order.
    pub seconds: Vec<f64>,
    /// Time spent in timed runs.
    pub measured: Duration,
    /// `target_cv` or `max_time`.
    pub stop: &'static str,
}

/// Runs `run` `warmup` times, then times it until the settings say stop. The first error ends the
/// loop and is returned.
pub fn measure<E>(settings: &LoopSettings, mut run: impl FnMut() -> Result<(), E>) -> Result<Samples, E> {
    for _ in 0..settings.warmup {
        run()?;
    }
    let mut seconds = Vec::with_capacity(settings.min_iterations.max(64));
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    let start = Instant::now();
    loop {
        let t = Instant::now();
        run()?;
        let s = t.elapsed().as_secs_f64();
        seconds.push(s);
        sum += s;
        sum_sq += s * s;
        let elapsed = start.elapsed();
        let n = seconds.len() as f64;
        if seconds.len() >= settings.min_iterations && elapsed >= settings.min_time {
            let mean = sum / n;
            let var = if n > 1.0 { ((sum_sq - n * mean * mean) / (n - 1.0)).max(0.0) } else { 0.0 };
            if mean > 0.0 && var.sqrt() / mean <= settings.target_cv {
                return Ok(Samples { seconds, measured: elapsed, stop: "target_cv" });
            }
        }
        if elapsed >= settings.max_time {
            return Ok(Samples { seconds, measured: elapsed, stop: "max_time" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min_iterations: usize, target_cv: f64, max_ms: u64) -> LoopSettings {
        LoopSettings { warmup: 2, min_iterations, min_time: Duration::ZERO, target_cv, max_time: Duration::from_millis(max_ms) }
    }

    #[test]
    fn stops_at_min_iterations_when_steady_and_at_max_time_when_not() {
        let mut calls = 0;
        let s = measure::<()>(&settings(10, 10.0, 10_000), || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((s.seconds.len(), calls, s.stop), (10, 12, "target_cv"), "warm-up runs are not samples");
        // An impossible CV target runs until max_time.
        let s = measure::<()>(&settings(3, 1e-12, 30), || {
            std::thread::sleep(Duration::from_micros(if s_rand() { 100 } else { 900 }));
            Ok(())
        })
        .unwrap();
        assert_eq!(s.stop, "max_time");
        assert!(s.measured >= Duration::from_millis(30));
    }

    fn s_rand() -> bool {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos().is_multiple_of(2)
    }

    #[test]
    fn an_error_ends_the_loop() {
        let mut n = 0;
        let r = measure(&settings(100, 1.0, 10_000), || {
            n += 1;
            if n == 5 { Err("boom") } else { Ok(()) }
        });
        assert_eq!(r.unwrap_err(), "boom");
    }
}
