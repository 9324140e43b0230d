//! Scale and zero-point arithmetic, pure and unit-tested: the only place that decides how a float
//! range maps onto 8-bit integers and how values are rounded.
//!
//! Conventions (those of ONNX `QuantizeLinear` and ONNX Runtime's kernels):
//! `q = saturate(round_half_even(x / scale) + zero_point)`, `x ≈ (q − zero_point) · scale`.
//! The range is always widened to include 0 so that 0 (padding, ReLU zeros) is exact. Symmetric
//! ranges (the default for int8 weights) use `[-max|x|, max|x|]` and zero point 0 (or 128 for
//! uint8). `reduce_range` uses 7 bits for weights, for CPUs without VNNI whose u8×s8 instruction
//! (`vpmaddubsw`) saturates 16-bit sums of two full-range products.

use serde::{Deserialize, Serialize};

/// An 8-bit integer type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QType {
    U8,
    S8,
}

impl QType {
    /// The smallest and largest representable value, with 7 bits when `reduce_range`.
    pub fn bounds(self, reduce_range: bool) -> (i32, i32) {
        match (self, reduce_range) {
            (QType::U8, false) => (0, 255),
            (QType::U8, true) => (0, 127),
            (QType::S8, false) => (-128, 127),
            (QType::S8, true) => (-64, 63),
        }
    }

    /// The ONNX element type code (uint8 2, int8 3).
    pub fn onnx_code(self) -> i32 {
        match self {
            QType::U8 => 2,
            QType::S8 => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QType::U8 => "u8",
            QType::S8 => "s8",
        }
    }
}

impl std::str::FromStr for QType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "u8" | "uint8" => Ok(QType::U8),
            "s8" | "int8" => Ok(QType::S8),
            _ => Err(format!("'{s}' is not an 8-bit type (expected u8 or s8)")),
        }
    }
}

/// Scale and zero point of one tensor or one channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

/// Parameters mapping `[min, max]` onto `qtype`. The range is widened to include 0; a range of
/// width 0 (all zeros, or a constant channel) gets scale 1 so nothing divides by zero. Non-finite
/// bounds are an error naming them.
pub(crate) fn params_for_range(min: f32, max: f32, qtype: QType, symmetric: bool, reduce_range: bool) -> Result<QParams, String> {
    if !min.is_finite() || !max.is_finite() {
        return Err(format!("range [{min}, {max}] is not finite"));
    }
    let (qmin, qmax) = qtype.bounds(reduce_range);
    let (mut lo, mut hi) = (min.min(0.0) as f64, max.max(0.0) as f64);
    if symmetric {
        let a = lo.abs().max(hi.abs());
        lo = -a;
        hi = a;
    }
    if hi - lo == 0.0 {
        return Ok(QParams { scale: 1.0, zero_point: if symmetric { (qmin + qmax + 1) / 2 } else { qmin.max(0).min(qmax) } });
    }
    if symmetric {
        // Zero point at the middle of the integer range; max|x| maps onto the shorter half, so
        // ±max|x| are both representable (int8: ±127, as ONNX Runtime's quantizer does).
        let zero_point = (qmin + qmax + 1) / 2;
        let half = f64::from((zero_point - qmin).min(qmax - zero_point));
        return Ok(QParams { scale: (hi / half) as f32, zero_point });
    }
    let scale = (hi - lo) / f64::from(qmax - qmin);
    let zero_point = (f64::from(qmin) - lo / scale).round_ties_even().clamp(f64::from(qmin), f64::from(qmax)) as i32;
    Ok(QParams { scale: scale as f32, zero_point })
}

/// Quantizes one value (the reference the tests hold the vectorized rounding to).
#[cfg(test)]
pub(crate) fn quantize_value(x: f32, p: QParams, qmin: i32, qmax: i32) -> i32 {
    let q = (x / p.scale).round_ties_even() as i32 + p.zero_point;
    q.clamp(qmin, qmax)
}

/// The value a quantized one stands for.
#[cfg(test)]
pub(crate) fn dequantize_value(q: i32, p: QParams) -> f32 {
    (q - p.zero_point) as f32 * p.scale
}

/// Running minimum and maximum of a stream of values (NaN ignored).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinMax {
    pub min: f32,
    pub max: f32,
}

impl Default for MinMax {
    fn default() -> Self {
        MinMax { min: f32::INFINITY, max: f32::NEG_INFINITY }
    }
}

impl MinMax {
    pub fn update(&mut self, values: &[f32]) {
        // Eight independent lanes with plain comparisons (NaN compares false and is skipped), so
        // the loop vectorizes.
        let mut lo = [self.min; 8];
        let mut hi = [self.max; 8];
        let chunks = values.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                lo[k] = if c[k] < lo[k] { c[k] } else { lo[k] };
                hi[k] = if c[k] > hi[k] { c[k] } else { hi[k] };
            }
        }
        for &v in rest {
            lo[0] = if v < lo[0] { v } else { lo[0] };
            hi[0] = if v > hi[0] { v } else { hi[0] };
        }
        self.min = lo.iter().copied().fold(f32::INFINITY, f32::min);
        self.max = hi.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    }

    /// The range, or `(0, 0)` when nothing was seen.
    pub fn range(&self) -> (f32, f32) {
        if self.min > self.max {
            (0.0, 0.0)
        } else {
            (self.min, self.max)
        }
    }
}

/// How a weight is mapped to 8 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scheme {
    pub qtype: QType,
    /// Zero point in the middle, `±max|x|` on the range's shorter half.
    pub symmetric: bool,
    /// 7 bits instead of 8.
    pub reduce_range: bool,
    /// One parameter set per column instead of one per tensor.
    pub per_column: bool,
}

/// A float matrix `[rows, cols]` (row-major, as ONNX stores a MatMul weight `[K, N]`) quantized
/// per tensor (`per_column = false`, one parameter set) or per output column (one per column, the
/// per-channel axis of a MatMul weight). Returns the 8-bit data (row-major, same layout) and the
/// parameters. `transpose` reads the input as `[cols, rows]` (Gemm's `transB`) and writes `[rows, cols]`.
pub(crate) fn quantize_matrix(values: &[f32], rows: usize, cols: usize, transpose: bool, scheme: Scheme) -> Result<(Vec<u8>, Vec<QParams>), String> {
    let Scheme { qtype, symmetric, reduce_range, per_column } = scheme;
    if values.len() != rows * cols {
        return Err(format!("{} values do not fill a {rows}×{cols} matrix", values.len()));
    }
    let params: Vec<QParams> = if per_column {
        let mut ranges = vec![MinMax::default(); cols];
        if transpose {
            for (c, range) in ranges.iter_mut().enumerate() {
                range.update(&values[c * rows..(c + 1) * rows]);
            }
        } else {
            // Column-wise running bounds as two flat vectors, so the row loop vectorizes.
            let mut lo = vec![f32::INFINITY; cols];
            let mut hi = vec![f32::NEG_INFINITY; cols];
            for row in values.chunks_exact(cols) {
                for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                    *l = if v < *l { v } else { *l };
                    *h = if v > *h { v } else { *h };
                }
            }
            for ((r, l), h) in ranges.iter_mut().zip(lo).zip(hi) {
                *r = MinMax { min: l, max: h };
            }
        }
        ranges
            .iter()
            .enumerate()
            .map(|(c, r)| {
                let (lo, hi) = r.range();
                params_for_range(lo, hi, qtype, symmetric, reduce_range).map_err(|e| format!("column {c}: {e}"))
            })
            .collect::<Result<_, _>>()?
    } else {
        let mut r = MinMax::default();
        r.update(values);
        let (lo, hi) = r.range();
        vec![params_for_range(lo, hi, qtype, symmetric, reduce_range)?]
    };
    let (qmin, qmax) = qtype.bounds(reduce_range);
    let mut out = vec![0u8; rows * cols];
    // Per parameter set: reciprocal scale, and the clamp bounds relative to the zero point.
    let steps: Vec<(f32, f32, f32, i32)> =
        params.iter().map(|p| (1.0 / p.scale, (qmin - p.zero_point) as f32, (qmax - p.zero_point) as f32, p.zero_point)).collect();
    if transpose {
        for r in 0..rows {
            for c in 0..cols {
                let (inv, lo, hi, zp) = steps[if per_column { c } else { 0 }];
                out[r * cols + c] = (to_int(round_small(values[c * rows + r] * inv, lo, hi)) + zp) as u8;
            }
        }
    } else if per_column {
        for (row, o) in values.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
            for ((&x, o), &(inv, lo, hi, zp)) in row.iter().zip(o.iter_mut()).zip(&steps) {
                *o = (to_int(round_small(x * inv, lo, hi)) + zp) as u8; // two's complement byte for s8
            }
        }
    } else {
        let (inv, lo, hi, zp) = steps[0];
        for (&x, o) in values.iter().zip(out.iter_mut()) {
            *o = (to_int(round_small(x * inv, lo, hi)) + zp) as u8;
        }
    }
    Ok((out, params))
}

/// An integral float from [`round_small`] (finite, within ±2²²) as an integer.
#[inline(always)]
fn to_int(x: f32) -> i32 {
    debug_assert!(x.is_finite() && x.abs() < 4_194_304.0);
    // SAFETY: round_small returns a finite value inside its clamp bounds, far inside i32.
    unsafe { x.to_int_unchecked::<i32>() }
}

/// `x` clamped to `[lo, hi]` (integers well inside ±2²²) and rounded half to even. Adding and
/// subtracting 1.5·2²³ rounds in the FPU's default mode (to nearest, ties to even) and, unlike
/// `round_ties_even` on baseline x86-64, vectorizes. Multiplying by the reciprocal scale is what
/// ONNX Runtime's quantizer does too; it differs from `x / scale` only on exact ties. NaN becomes `lo`.
#[inline(always)]
fn round_small(x: f32, lo: f32, hi: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    let x = if x >= lo { x } else { lo };
    let x = if x <= hi { x } else { hi };
    (x + MAGIC) - MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    // Why: 0 must be exactly representable, and the whole [min, max] must land inside the range.
    #[test]
    fn asymmetric_u8_maps_the_range_and_keeps_zero_exact() {
        let p = params_for_range(-1.0, 3.0, QType::U8, false, false).unwrap();
        assert!((p.scale - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(p.zero_point, 64); // round(1 / (4/255)) = round(63.75)
        assert_eq!(quantize_value(0.0, p, 0, 255), p.zero_point);
        assert_eq!(quantize_value(-1.0, p, 0, 255), 0);
        assert_eq!(quantize_value(3.0, p, 0, 255), 255);
        // A range that excludes 0 is widened to include it.
        let p = params_for_range(2.0, 4.0, QType::U8, false, false).unwrap();
        assert_eq!(p.zero_point, 0);
        assert!((p.scale - 4.0 / 255.0).abs() < 1e-7);
    }

    // Why: symmetric int8 weights need zero point 0 and max|x| on ±127 (±63 with reduce_range).
    #[test]
    fn symmetric_s8_and_reduced_range() {
        let p = params_for_range(-0.5, 2.0, QType::S8, true, false).unwrap();
        assert_eq!(p.zero_point, 0);
        assert!((p.scale - 2.0 / 127.0).abs() < 1e-7);
        assert_eq!(quantize_value(2.0, p, -128, 127), 127);
        assert_eq!(quantize_value(-2.0, p, -128, 127), -127);
        let p = params_for_range(-1.0, 1.0, QType::S8, true, true).unwrap();
        assert_eq!((p.zero_point, QType::S8.bounds(true)), (0, (-64, 63)));
        assert_eq!(quantize_value(1.0, p, -64, 63), 63);
        // Symmetric uint8 centres on 128.
        assert_eq!(params_for_range(-1.0, 1.0, QType::U8, true, false).unwrap().zero_point, 128);
    }

    // Why: an all-zero tensor (a zero bias, a pruned channel) must not divide by zero.
    #[test]
    fn degenerate_and_bad_ranges() {
        let p = params_for_range(0.0, 0.0, QType::S8, true, false).unwrap();
        assert_eq!((p.scale, p.zero_point), (1.0, 0));
        assert_eq!(quantize_value(0.0, p, -128, 127), 0);
        assert!(params_for_range(f32::NAN, 1.0, QType::U8, false, false).unwrap_err().contains("not finite"));
        assert!(params_for_range(0.0, f32::INFINITY, QType::U8, false, false).is_err());
    }

    // Why: rounding is half-to-even like ONNX QuantizeLinear, and results saturate.
    #[test]
    fn rounding_and_saturation() {
        let p = QParams { scale: 1.0, zero_point: 0 };
        assert_eq!(quantize_value(2.5, p, -128, 127), 2);
        assert_eq!(quantize_value(3.5, p, -128, 127), 4);
        assert_eq!(quantize_value(-2.5, p, -128, 127), -2);
        assert_eq!(quantize_value(1000.0, p, -128, 127), 127);
        assert_eq!(dequantize_value(-3, QParams { scale: 0.5, zero_point: 1 }), -2.0);
    }

    // Why: per-column parameters follow each output column, and transposed input (Gemm transB)
    // gives the same result as the plain layout.
    #[test]
    fn per_column_matrix_and_transpose() {
        // [2, 3]: columns have max |x| 1, 2, 4.
        let w = [1.0f32, -2.0, 4.0, -0.25, 0.5, 3.0];
        let (q, p) = quantize_matrix(&w, 2, 3, false, Scheme { qtype: QType::S8, symmetric: true, reduce_range: false, per_column: true }).unwrap();
        assert_eq!(p.len(), 3);
        let qs: Vec<i8> = q.iter().map(|&b| b as i8).collect();
        assert_eq!(qs, vec![127, -127, 127, -32, 32, 95]);
        let wt = [1.0f32, -0.25, -2.0, 0.5, 4.0, 3.0]; // the same matrix stored [3, 2]
        let (qt, pt) = quantize_matrix(&wt, 2, 3, true, Scheme { qtype: QType::S8, symmetric: true, reduce_range: false, per_column: true }).unwrap();
        assert_eq!((qt, pt), (q, p));
        let (_, p1) = quantize_matrix(&w, 2, 3, false, Scheme { qtype: QType::S8, symmetric: true, reduce_range: false, per_column: false }).unwrap();
        assert_eq!(p1.len(), 1);
        // Error within half a step everywhere.
        let (q, p) = quantize_matrix(&w, 2, 3, false, Scheme { qtype: QType::U8, symmetric: false, reduce_range: false, per_column: false }).unwrap();
        for (x, &b) in w.iter().zip(&q) {
            assert!((dequantize_value(b as i32, p[0]) - x).abs() <= p[0].scale / 2.0 + 1e-6);
        }
        assert!(quantize_matrix(&w, 4, 3, false, Scheme { qtype: QType::U8, symmetric: false, reduce_range: false, per_column: false }).is_err());
    }

    // Why: the vectorizable rounding must agree with round_ties_even on ties and clamp.
    #[test]
    fn fast_rounding_matches_round_ties_even() {
        for x in [-3.5f32, -2.5, -0.5, 0.5, 1.5, 2.5, 2.4999, 126.5, -127.5, 0.0, -0.0] {
            assert_eq!(round_small(x, -128.0, 127.0), x.round_ties_even().clamp(-128.0, 127.0), "{x}");
        }
        assert_eq!(round_small(1e9, -128.0, 127.0), 127.0);
        assert_eq!(round_small(f32::NAN, -128.0, 127.0), -128.0);
    }

    #[test]
    fn running_min_max() {
        let mut m = MinMax::default();
        assert_eq!(m.range(), (0.0, 0.0));
        m.update(&[1.0, f32::NAN, -3.0]);
        m.update(&[2.0]);
        assert_eq!(m.range(), (-3.0, 2.0));
    }
}
