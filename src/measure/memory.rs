//! Resident memory of this process, from `/proc/self/status`, and resetting its peak.
//!
//! Peak RSS of a phase = `VmHWM` read at its end after writing `5` to `/proc/self/clear_refs` at its
//! start (Linux ≥ 4.0 resets the high-water mark to the current RSS). Each case runs in its own
//! worker process, so no other case's allocations are in these figures.

/// `VmRSS` and `VmHWM` in bytes.
pub fn rss() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the peak (`VmHWM`) to the current RSS. `false` when the kernel does not allow it (the
/// next peak then covers the process's whole life, which [`crate::results::Memory`] users should
/// know: the worker records it as an error if so).
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64 MiB allocation, touched, raises the peak; after freeing it and resetting, the peak is
    /// back near the current RSS.
    #[test]
    fn peak_rises_with_an_allocation_and_resets() {
        assert!(reset_peak(), "clear_refs not writable");
        let (_, before) = rss().unwrap();
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let (_, during) = rss().unwrap();
        assert!(during >= before + (60 << 20), "{before} → {during}");
        drop(big);
        assert!(reset_peak());
        let (now, after) = rss().unwrap();
        assert!(after < during - (32 << 20) && after >= now, "peak {after} after reset (rss {now}, was {during})");
    }
}
