//! The periodogram of a real series and its dominant frequency. A direct DFT: the series here
//! are days to weeks of 15-minute samples (96-672), where O(N^2) costs well under a millisecond.

use std::f64::consts::PI;

/// |DFT|^2 / N at frequencies k / N cycles per sample, k = 0..=N/2.
pub fn periodogram(series: &[f64]) -> Vec<f64> {
    let n = series.len();
    if n == 0 {
        return Vec::new();
    }
    let (cos, sin): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|t| {
            let a = 2.0 * PI * t as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .unzip();
    (0..=n / 2)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (t, x) in series.iter().enumerate() {
                let i = (k * t) % n;
                re += x * cos[i];
                im -= x * sin[i];
            }
            (re * re + im * im) / n as f64
        })
        .collect()
}

/// The frequency (cycles per sample) of the periodogram's highest peak, excluding the mean
/// (k = 0); 0 for series of fewer than 3 samples or with no variation.
pub fn dominant_frequency(series: &[f64]) -> f64 {
    let p = periodogram(series);
    peak_bin(&p, 1).map_or(0.0, |k| k as f64 / series.len() as f64)
}

/// The bin >= `from` with the most power, if any has power.
pub(crate) fn peak_bin(p: &[f64], from: usize) -> Option<usize> {
    // Rounding leaves ~1e-30 of "power" in a constant's spectrum: that is not a peak.
    let floor = 1e-12 * p.iter().sum::<f64>();
    p.iter()
        .enumerate()
        .skip(from)
        .filter(|(_, v)| **v > floor)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sinusoid_peaks_at_its_frequency() {
        let x: Vec<f64> = (0..96)
            .map(|t| 3.0 + (2.0 * PI * t as f64 / 24.0).sin())
            .collect();
        assert!((dominant_frequency(&x) - 1.0 / 24.0).abs() < 1e-12);
        let p = periodogram(&x);
        // Parseval: sum over the full spectrum equals the energy.
        let energy: f64 = x.iter().map(|v| v * v).sum();
        let full = p[0] + 2.0 * p[1..48].iter().sum::<f64>() + p[48];
        assert!((full - energy).abs() < 1e-6 * energy);
    }

    #[test]
    fn a_constant_has_no_dominant_frequency() {
        assert_eq!(dominant_frequency(&[5.0; 50]), 0.0);
    }
}
