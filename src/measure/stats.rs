//! Statistics of latency samples and of accuracy scores. Pure functions, unit-tested.
//!
//! - Percentiles interpolate linearly between order statistics (Hyndman & Fan type 7, numpy's
//!   default), so p50 of an even count is the mean of the middle two.
//! - Confidence intervals are percentile bootstraps: 2,000 resamples drawn with a ChaCha generator
//!   seeded from the sample count (reproducible for the same samples), interval = the 2.5th and
//!   97.5th percentiles of the resampled statistic. No normality assumption, which latency
//!   distributions (right-skewed, with outliers) do not meet.
//! - Latency samples are resampled in blocks of consecutive runs (a circular block bootstrap,
//!   [`latency_block`]: 1/20 of the run, at least ∛n runs), not one by one. Consecutive runs are
//!   correlated: the clock, a neighbour's burst on a shared core, the cache state last for many
//!   runs. Resampling single runs treats a run of n samples as n independent draws and gave
//!   intervals of ±0.1 % that the next run of the same case missed by 1-10 %; resampling blocks
//!   makes the interval as wide as the run's own drift over time, so a run whose speed changed
//!   half-way says so with a wide interval instead of a precise-looking wrong one.
//! - A case measured in rounds (slices spread over the suite run, see `run.rounds`) has a second
//!   interval for its median, from the rounds' own medians `m_1..m_R`, on the log scale:
//!   `p50 · exp(±t · s / √R)`, with `s` the standard deviation of `ln m_i` and `t` Student's 97.5 %
//!   quantile with R − 1 degrees of freedom. Latency is positive and its changes multiplicative (a
//!   slower machine scales every run), so the interval is never negative and is wider above the
//!   median than below, as the data are; at R = 2 (t = 12.7) it is very wide but still positive,
//!   which is why suites with fewer than 3 rounds get a warning.
//!   The reported interval is the hull of this one and the block bootstrap's. Why: the machine's
//!   speed moves on a scale of seconds to minutes (clock, a neighbour on the host), so samples in
//!   one round share an offset that no resampling of samples can see; the rounds are the
//!   replicates that carry it (the top level of a hierarchical design, as in Kalibera & Jones,
//!   "Rigorous benchmarking in reasonable time"). On this 2-vCPU machine round medians of one case
//!   differ by 2-7 % while its block-bootstrap interval was ±1 %, and back-to-back runs disagreed.
//! - Outliers by modified z-score (Iglewicz & Hoaglin): `M = 0.6745 · (x − median) / MAD`, MAD the
//!   median absolute deviation; a sample with `|M| > 3.5` is an outlier. They are counted, not
//!   removed: the percentiles describe what a user would see.

use rand::{Rng, SeedableRng};

/// Resamples per bootstrap interval.
pub(crate) const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Modified z-score above which a sample counts as an outlier.
pub const OUTLIER_Z: f64 = 3.5;

/// The `q`-quantile (0 ≤ q ≤ 1) of `sorted` (ascending), interpolated. NaN for no samples.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The `q`-quantile of unsorted values, reordering them (linear time: two selections).
pub(crate) fn percentile_unsorted(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    if n <= 1 {
        return values.first().copied().unwrap_or(f64::NAN);
    }
    let h = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = h.floor() as usize;
    let (_, &mut a, upper) = values.select_nth_unstable_by(lo, f64::total_cmp);
    if lo + 1 >= n {
        return a;
    }
    let b = upper.iter().copied().fold(f64::INFINITY, f64::min);
    a + (h - lo as f64) * (b - a)
}

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (n − 1); 0 for fewer than two samples.
pub(crate) fn std_dev(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// Blocks per latency run in the block bootstrap ([`latency_block`]).
pub(crate) const LATENCY_BLOCKS: usize = 20;

/// Block length for `n` latency samples in run order: `max(⌈n / 20⌉, ⌈∛n⌉)` (∛n is the usual
/// rate for dependent series; n / 20 keeps drift over a twentieth of the run inside a block).
pub fn latency_block(n: usize) -> usize {
    let cbrt = (n as f64).cbrt().ceil() as usize;
    n.div_ceil(LATENCY_BLOCKS).max(cbrt).clamp(1, n.max(1))
}

/// Percentile-bootstrap 95 % confidence intervals of several quantiles of `x` at once (the same
/// resamples for all), as `[low, high]` per quantile. `block` consecutive values (circularly) are
/// drawn at a time: 1 is the ordinary bootstrap of independent values; for samples in time order,
/// use [`latency_block`].
pub(crate) fn bootstrap_quantile_ci(x: &[f64], quantiles: &[f64], block: usize) -> Vec<[f64; 2]> {
    if x.is_empty() {
        return quantiles.iter().map(|_| [f64::NAN, f64::NAN]).collect();
    }
    let n = x.len();
    let block = block.clamp(1, n);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed ^ n as u64);
    let mut stats: Vec<Vec<f64>> = vec![Vec::with_capacity(BOOTSTRAP_RESAMPLES); quantiles.len()];
    let mut buf = vec![0.0; n];
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for chunk in buf.chunks_mut(block) {
            let start = rng.random_range(0..n);
            for (k, b) in chunk.iter_mut().enumerate() {
                *b = x[(start + k) % n];
            }
        }
        for (k, &q) in quantiles.iter().enumerate() {
            stats[k].push(percentile_unsorted(&mut buf, q));
        }
    }
    stats
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            [percentile_sorted(s, 0.025), percentile_sorted(s, 0.975)]
        })
        .collect()
}

/// Student's t 97.5 % quantile for `df` degrees of freedom (a two-sided 95 % interval).
pub(crate) fn t_975(df: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, df.max(1) as f64) {
        Ok(t) => t.inverse_cdf(0.975),
        Err(_) => f64::NAN,
    }
}

/// The between-rounds 95 % interval of the median, `center · exp(±t · s / √R)` with `s` the standard
/// deviation of the logs of the medians of the `R` rounds of `x` (`round_sizes` consecutive samples
/// each, summing to `x.len()`); `None` for fewer than two non-empty rounds, sizes that do not add
/// up, or a round median that is not positive (no log scale).
pub fn rounds_interval(x: &[f64], round_sizes: &[usize], center: f64) -> Option<[f64; 2]> {
    if round_sizes.iter().sum::<usize>() != x.len() {
        return None;
    }
    let mut medians = Vec::with_capacity(round_sizes.len());
    let mut at = 0;
    for &k in round_sizes {
        if k > 0 {
            medians.push(percentile_unsorted(&mut x[at..at + k].to_vec(), 0.5));
        }
        at += k;
    }
    let r = medians.len();
    if r < 2 || center.is_nan() || center <= 0.0 || medians.iter().any(|m| m.is_nan() || *m <= 0.0) {
        return None;
    }
    let logs: Vec<f64> = medians.iter().map(|m| m.ln()).collect();
    let half = t_975(r - 1) * std_dev(&logs) / (r as f64).sqrt();
    Some([center * (-half).exp(), center * half.exp()])
}

/// The 95 % interval of the ratio `c / b` of two independent estimates from their own 95 %
/// intervals, on the log scale where a ratio's errors add: `ln(c/b) ± √(e_c² + e_b²)`, each `e` the
/// log half-width of the side of its interval that faces the other (`gate` explains the rule).
pub fn ratio_interval(b: f64, b_ci: [f64; 2], c: f64, c_ci: [f64; 2]) -> [f64; 2] {
    let half = |x: f64, y: f64| (x / y).ln().abs();
    let r = (c / b).ln();
    let lo = r - half(c, c_ci[0]).hypot(half(b_ci[1], b));
    let hi = r + half(c_ci[1], c).hypot(half(b, b_ci[0]));
    [lo.exp(), hi.exp()]
}

/// The 95 % interval of the speed-up `reference / candidate` (above 1: the candidate is faster),
/// from the two medians' intervals: [`ratio_interval`] of `candidate / reference`, inverted.
/// `None` when the intervals give no finite positive ratio.
pub(crate) fn speedup_interval(reference: f64, reference_ci: [f64; 2], candidate: f64, candidate_ci: [f64; 2]) -> Option<[f64; 2]> {
    let [lo, hi] = ratio_interval(reference, reference_ci, candidate, candidate_ci);
    (lo.is_finite() && hi.is_finite() && lo > 0.0).then(|| [1.0 / hi, 1.0 / lo])
}

/// Samples with a modified z-score above [`OUTLIER_Z`]. When the MAD is 0 (over half the samples
/// equal), any sample different from the median counts.
pub(crate) fn mad_outliers(x: &[f64]) -> usize {
    if x.len() < 3 {
        return 0;
    }
    let mut v = x.to_vec();
    let med = percentile_unsorted(&mut v, 0.5);
    let mut dev: Vec<f64> = x.iter().map(|s| (s - med).abs()).collect();
    let mad = percentile_unsorted(&mut dev, 0.5);
    if mad == 0.0 {
        return x.iter().filter(|s| **s != med).count();
    }
    x.iter().filter(|s| 0.6745 * (*s - med).abs() / mad > OUTLIER_Z).count()
}

/// Summary of latency samples (any unit; the caller's).
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub cv: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p50_ci: [f64; 2],
    pub p99_ci: [f64; 2],
    pub outliers: usize,
}

/// Summary of latency samples in run order, measured in rounds of `round_sizes` consecutive
/// samples (empty, or one round: measured in one go). The intervals are block-bootstrapped, the
/// median's widened to cover [`rounds_interval`] when there are several rounds (see the module);
/// the p99 keeps the block bootstrap alone, as a round holds too few samples for a p99.
pub(crate) fn summarize(x: &[f64], round_sizes: &[usize]) -> Summary {
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (mean, std) = (mean(x), std_dev(x));
    let mut ci = bootstrap_quantile_ci(x, &[0.5, 0.99], latency_block(x.len()));
    let p50 = percentile_sorted(&sorted, 0.5);
    if let Some([lo, hi]) = rounds_interval(x, round_sizes, p50) {
        ci[0] = [ci[0][0].min(lo), ci[0][1].max(hi)];
    }
    Summary {
        n: x.len(),
        mean,
        std,
        cv: if mean > 0.0 { std / mean } else { 0.0 },
        min: sorted.first().copied().unwrap_or(f64::NAN),
        max: sorted.last().copied().unwrap_or(f64::NAN),
        p50,
        p90: percentile_sorted(&sorted, 0.9),
        p95: percentile_sorted(&sorted, 0.95),
        p99: percentile_sorted(&sorted, 0.99),
        p50_ci: ci[0],
        p99_ci: ci[1],
        outliers: mad_outliers(x),
    }
}

/// Ranks from 1, ties sharing their average rank.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Pearson correlation; NaN when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let (mx, my) = (mean(x), mean(y));
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// Spearman rank correlation (Pearson of the tie-averaged ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Classification scores of predicted vs true labels (labels `0..classes`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClassScores {
    pub accuracy: f64,
    /// Unweighted mean over classes of F1 (a class never predicted nor present is left out).
    pub macro_f1: f64,
    /// Matthews correlation coefficient, multi-class form (Gorodkin's R_K); 0 when undefined.
    pub mcc: f64,
}

pub(crate) fn classification_scores(pred: &[usize], truth: &[usize]) -> ClassScores {
    let k = pred.iter().chain(truth).copied().max().map_or(0, |m| m + 1);
    let mut cm = vec![vec![0f64; k]; k]; // cm[true][pred]
    for (&p, &t) in pred.iter().zip(truth) {
        cm[t][p] += 1.0;
    }
    let n = pred.len() as f64;
    let correct: f64 = (0..k).map(|i| cm[i][i]).sum();
    let t_k: Vec<f64> = (0..k).map(|i| cm[i].iter().sum()).collect();
    let p_k: Vec<f64> = (0..k).map(|j| (0..k).map(|i| cm[i][j]).sum()).collect();
    let f1s: Vec<f64> = (0..k)
        .filter(|&i| t_k[i] + p_k[i] > 0.0)
        .map(|i| 2.0 * cm[i][i] / (t_k[i] + p_k[i]))
        .collect();
    let num = correct * n - t_k.iter().zip(&p_k).map(|(t, p)| t * p).sum::<f64>();
    let den = ((n * n - p_k.iter().map(|p| p * p).sum::<f64>()) * (n * n - t_k.iter().map(|t| t * t).sum::<f64>())).sqrt();
    ClassScores {
        accuracy: if n > 0.0 { correct / n } else { 0.0 },
        macro_f1: if f1s.is_empty() { 0.0 } else { mean(&f1s) },
        mcc: if den > 0.0 { num / den } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&x, 0.5), 2.5);
        assert!((percentile_sorted(&x, 0.9) - 3.7).abs() < 1e-12);
        assert_eq!(percentile_sorted(&x, 0.0), 1.0);
        assert_eq!(percentile_sorted(&x, 1.0), 4.0);
        let mut y = [4.0, 1.0, 3.0, 2.0];
        assert!((percentile_unsorted(&mut y, 0.9) - 3.7).abs() < 1e-12);
        assert_eq!(percentile_unsorted(&mut [7.0], 0.5), 7.0);
        assert!(percentile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn mean_std_and_summary() {
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&x), 5.0);
        assert!((std_dev(&x) - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let s = summarize(&x, &[]);
        assert_eq!((s.min, s.max, s.p50, s.n), (2.0, 9.0, 4.5, 8));
        assert!(s.p50_ci[0] <= s.p50 && s.p50 <= s.p50_ci[1]);
    }

    /// The bootstrap interval of the median of 1..=101 covers the true median, is reproducible and
    /// is about as wide as theory says (± 1.96·√n/2 ranks ≈ ±10 around 51).
    #[test]
    fn bootstrap_interval_of_the_median() {
        let x: Vec<f64> = (1..=101).map(f64::from).collect();
        let ci = bootstrap_quantile_ci(&x, &[0.5], 1);
        assert_eq!(ci, bootstrap_quantile_ci(&x, &[0.5], 1), "seeded");
        let [lo, hi] = ci[0];
        assert!(lo < 51.0 && hi > 51.0, "{lo}..{hi}");
        assert!((38.0..=46.0).contains(&lo) && (56.0..=64.0).contains(&hi), "{lo}..{hi}");
        let constant = bootstrap_quantile_ci(&[3.0; 10], &[0.5, 0.99], 3);
        assert_eq!(constant, [[3.0, 3.0], [3.0, 3.0]]);
    }

    /// Why latency intervals resample blocks: in a run whose speed shifted (a neighbour started
    /// compiling after 70 % of it), the median depends on how long each speed lasted, which only
    /// whole stretches of the run show. Resampling single samples gives an interval as narrow as
    /// if the run had been steady; resampling blocks widens it. On steady samples, blocks cost
    /// little width.
    #[test]
    fn block_bootstrap_sees_drift_that_independent_resampling_hides() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let noise = |rng: &mut rand_chacha::ChaCha8Rng| rng.random_range(-0.02..0.02);
        let width = |x: &[f64], b: usize| {
            let [lo, hi] = bootstrap_quantile_ci(x, &[0.5], b)[0];
            hi - lo
        };
        assert_eq!(latency_block(2000), 100);
        let shifted: Vec<f64> = (0..2000).map(|i| if i < 1400 { 1.0 } else { 1.1 } + noise(&mut rng)).collect();
        let (iid, blocks) = (width(&shifted, 1), width(&shifted, latency_block(2000)));
        assert!(blocks > 3.0 * iid, "blocks {blocks} vs independent {iid}");
        let steady: Vec<f64> = (0..2000).map(|_| 1.0 + noise(&mut rng)).collect();
        let (iid, blocks) = (width(&steady, 1), width(&steady, latency_block(2000)));
        assert!(blocks < 2.0 * iid, "blocks {blocks} vs independent {iid}");
        assert_eq!((latency_block(0), latency_block(1), latency_block(30), latency_block(10_000)), (1, 1, 4, 500));
    }

    /// Rounds that each ran at a different machine speed: every round is steady, so the block
    /// bootstrap of the joined samples sees little, and the rounds' medians carry the spread.
    #[test]
    fn rounds_widen_the_median_interval_by_the_spread_between_rounds() {
        assert!((t_975(1) - 12.706).abs() < 1e-3 && (t_975(2) - 4.303).abs() < 1e-3 && (t_975(7) - 2.365).abs() < 1e-3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let speeds = [1.00, 1.04, 0.97, 1.02, 0.99, 1.05, 0.98, 1.01];
        let x: Vec<f64> = speeds.iter().flat_map(|s| (0..50).map(|_| s + rng.random_range(-0.005..0.005)).collect::<Vec<_>>()).collect();
        let sizes = [50; 8];
        let (plain, rounds) = (summarize(&x, &[]), summarize(&x, &sizes));
        let p50 = plain.p50;
        let logs: Vec<f64> = speeds.iter().map(|s| s.ln()).collect();
        let half = t_975(7) * std_dev(&logs) / 8f64.sqrt();
        let [lo, hi] = rounds_interval(&x, &sizes, p50).unwrap();
        assert!((lo / p50 - (-half).exp()).abs() < 0.004 && (hi / p50 - half.exp()).abs() < 0.004, "{lo}..{hi} vs ×exp(±{half})");
        assert!(hi - p50 > p50 - lo, "asymmetric on the linear scale: wider above the median");
        assert!(rounds.p50_ci[0] <= lo && rounds.p50_ci[1] >= hi);
        assert!(rounds.p50_ci[1] - rounds.p50_ci[0] > plain.p50_ci[1] - plain.p50_ci[0]);
        assert_eq!((rounds.p50, rounds.p99_ci), (plain.p50, plain.p99_ci), "only the median's interval changes");
        // One round, or sizes that do not match the samples: the block bootstrap alone.
        assert_eq!(summarize(&x, &[400]), plain);
        assert_eq!(rounds_interval(&x, &[50; 7], p50), None);
    }

    /// Two rounds at very different speeds (a busy second core in one of them): Student's t is
    /// 12.7, and a linear interval `p50 ± t·s/√2` went below zero. On the log scale it stays
    /// positive, however far apart the rounds are.
    #[test]
    fn two_rounds_far_apart_never_give_a_negative_bound() {
        for slow in [1.5, 3.0, 10.0, 100.0] {
            let x: Vec<f64> = (0..40).map(|i| if i < 20 { 1.0 + 0.001 * i as f64 } else { slow + 0.001 * i as f64 }).collect();
            let s = summarize(&x, &[20, 20]);
            assert!(s.p50_ci[0] > 0.0 && s.p50_ci[0] <= s.p50 && s.p50 <= s.p50_ci[1], "slow {slow}: {:?} around {}", s.p50_ci, s.p50);
        }
        assert_eq!(rounds_interval(&[0.0, 0.0, 1.0, 1.0], &[2, 2], 0.5), None, "a zero median has no log");
    }

    #[test]
    fn outliers_by_modified_z_score() {
        // median 10, MAD 1: 0.6745·|x−10| > 3.5 ⇔ |x−10| > 5.19
        let mut x = vec![9.0, 10.0, 11.0, 9.0, 10.0, 11.0, 10.0];
        assert_eq!(mad_outliers(&x), 0);
        x.push(15.0); // z = 3.37: not an outlier
        x.push(16.0); // z = 4.05: outlier
        x.push(40.0);
        assert_eq!(mad_outliers(&x), 2);
        assert_eq!(mad_outliers(&[1.0, 1.0, 1.0, 2.0]), 1, "MAD 0: anything off the median");
    }

    #[test]
    fn correlations_with_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 25.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Hand-computed: ranks x [1,2,3,4], y [2,1,4,3] → ρ = 1 − 6·4/(4·15) = 0.6
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[5.0, 1.0, 9.0, 7.0]) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn classification_scores_by_hand() {
        // truth 0 0 1 1 1 2, pred 0 1 1 1 0 2: correct 4/6
        let (pred, truth) = ([0, 1, 1, 1, 0, 2], [0, 0, 1, 1, 1, 2]);
        let s = classification_scores(&pred, &truth);
        assert!((s.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // F1: class0 2·1/(2+2)=0.5, class1 2·2/(3+3)=2/3, class2 1
        assert!((s.macro_f1 - (0.5 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
        // R_K = (c·n − Σ t·p) / sqrt((n² − Σp²)(n² − Σt²)), t=[2,3,1], p=[2,3,1]: (24−14)/(36−14)
        assert!((s.mcc - 10.0 / 22.0).abs() < 1e-12);
        let binary = classification_scores(&[1, 1, 0, 0], &[1, 1, 0, 0]);
        assert_eq!((binary.accuracy, binary.macro_f1, binary.mcc), (1.0, 1.0, 1.0));
        assert_eq!(classification_scores(&[0, 0], &[0, 0]).mcc, 0.0, "undefined → 0");
    }
}
