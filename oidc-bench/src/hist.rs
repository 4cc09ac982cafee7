//! A log-linear latency histogram in microseconds.
//!
//! Why not the `hdrhistogram` crate: this is the same idea (exact below 256 µs, then 128 buckets
//! per power of two, so any recorded value is reported within 0.8%), constant memory (58 KiB per
//! load task whatever the rate or duration), mergeable across tasks, and it is 60 lines that add
//! nothing to the dependency tree. A tool that sorts every sample would need memory that grows
//! with the request rate.

/// Values below this are counted exactly; above, each power of two has `SUB` buckets.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS; // 128
/// Enough buckets for any u64.
const BUCKETS: usize = (2 * SUB + (64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// Latencies in microseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn index_of(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let shift = e - SUB_BITS; // >= 1
    let mantissa = v >> shift; // in [SUB, 2 SUB)
    (2 * SUB + u64::from(shift - 1) * SUB + (mantissa - SUB)) as usize
}

/// The highest value that falls in bucket `i`.
fn highest_of(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let shift = (i - 2 * SUB) / SUB + 1;
    let mantissa = (i - 2 * SUB) % SUB + SUB;
    let top = (u128::from(mantissa + 1) << shift) - 1;
    u64::try_from(top).unwrap_or(u64::MAX)
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, micros: u64) {
        if let Some(c) = self.counts.get_mut(index_of(micros)) {
            *c += 1;
        }
        self.total += 1;
        self.max = self.max.max(micros);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at percentile `p` (0–100): the highest value of the bucket holding the
    /// ⌈p·n/100⌉-th smallest sample, capped at the exact maximum. 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return highest_of(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in (0..5_000_000u64).step_by(7).chain([u64::MAX / 3, u64::MAX]) {
            let i = index_of(v);
            assert!(i < BUCKETS, "{v} -> {i}");
            assert!(i >= last, "index not monotonic at {v}");
            last = i;
            let hi = highest_of(i);
            assert!(hi >= v, "{v} above its bucket's top {hi}");
            assert!((hi - v) as f64 <= v as f64 * 0.008 + 1.0, "{v} -> {hi}");
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 10);
        }
        let p50 = h.percentile(50.0);
        assert!((4960..=5040).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0);
        assert!((9850..=9950).contains(&p99), "{p99}");
        assert_eq!(h.percentile(100.0), 10_000);
        assert_eq!(h.max(), 10_000);
        let mut g = Histogram::default();
        g.record(20_000);
        h.merge(&g);
        assert_eq!(h.len(), 1001);
        assert_eq!(h.percentile(100.0), 20_000);
        assert_eq!(Histogram::default().percentile(99.0), 0);
    }
}
