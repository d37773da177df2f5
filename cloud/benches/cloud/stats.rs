//! Small statistics for the bench tables: percentiles of latency samples (kept
//! exactly, in microseconds: ten million samples are 40 MB, cheaper than getting a
//! histogram's buckets wrong) and the median of a few throughput figures.

use std::time::Duration;

/// p50 / p99 / max of a set of durations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    /// From samples in microseconds (sorted in place).
    pub fn of_micros(samples: &mut [u32]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        // Nearest rank: the smallest sample with at least q of all samples at or below it.
        let rank = |q: f64| {
            let r = (q * samples.len() as f64).ceil() as usize;
            Duration::from_micros(u64::from(samples[r.clamp(1, samples.len()) - 1]))
        };
        Percentiles { p50: rank(0.50), p99: rank(0.99), max: rank(1.0) }
    }

    /// `p50 / p99 / max` in milliseconds.
    pub fn ms(&self) -> String {
        format!("{} / {} / {}", ms(self.p50), ms(self.p99), ms(self.max))
    }
}

/// A duration as milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Microseconds, saturating (a sample over an hour is a bug anyway).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The median of a few figures (the lower middle one for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// `12345.6` → `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
