//! Growth trends of sampled series: the least-squares slope of a value over
//! time, and the min/max beside it, for the soak's table and its asserts.

/// One series' summary over the samples it was computed on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Least-squares slope, in the series' unit per minute.
    pub per_min: f64,
    pub min: f64,
    pub max: f64,
}

/// The least-squares line through `(t_s, value)` points: its slope per
/// minute, with the values' min and max. `None` under two distinct times.
pub fn trend(points: &[(f64, f64)]) -> Option<Trend> {
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var_t: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if points.len() < 2 || var_t == 0.0 {
        return None;
    }
    let cov: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_v)).sum();
    let min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    Some(Trend { per_min: cov / var_t * 60.0, min, max })
}

#[test]
fn slope_of_a_line_and_of_noise_around_a_flat_level() {
    // 1 unit per 10 s is 6 per minute.
    let line: Vec<(f64, f64)> = (0..20).map(|i| (i as f64 * 10.0, 5.0 + i as f64)).collect();
    let t = trend(&line).unwrap();
    assert!((t.per_min - 6.0).abs() < 1e-9, "{t:?}");
    assert_eq!((t.min, t.max), (5.0, 24.0));
    // A sawtooth around a flat level has (almost) no trend.
    let saw: Vec<(f64, f64)> = (0..60).map(|i| (i as f64 * 10.0, 100.0 + (i % 2) as f64 * 8.0)).collect();
    assert!(trend(&saw).unwrap().per_min.abs() < 0.1);
    assert_eq!(trend(&[(1.0, 2.0)]), None);
    assert_eq!(trend(&[(1.0, 2.0), (1.0, 3.0)]), None);
}
