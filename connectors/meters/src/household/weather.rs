//! Dutch weather by day: daily mean temperature (heating demand) and cloudiness (PV yield).
//! Deterministic by (seed, day); neighbouring days are correlated, as weather is.

use super::mix;
use std::f64::consts::PI;
use zeal_civil::day_of_year;

fn unit(seed: u64, salt: u64, day: i64) -> f64 {
    (mix(seed ^ mix(salt ^ mix(day as u64))) >> 11) as f64 / (1u64 << 53) as f64
}

/// Smooth noise in about [-1, 1]: a weighted average of hashed values of nearby days.
fn smooth(seed: u64, salt: u64, day: i64) -> f64 {
    let w = [0.1, 0.2, 0.4, 0.2, 0.1];
    let s: f64 = (-2..=2)
        .zip(w)
        .map(|(k, w)| w * (2.0 * unit(seed, salt, day + k) - 1.0))
        .sum();
    s / 0.5 // the weighted sum's spread is about half a single draw's
}

/// Daily mean outdoor temperature (°C) in the Netherlands: ~3 °C in mid-January, ~18 °C in
/// late July (KNMI De Bilt normals), with spells of ±4 °C.
pub fn outdoor_temp_c(seed: u64, day: i64) -> f64 {
    let doy = f64::from(day_of_year(day));
    let season = 10.5 - 7.5 * (2.0 * PI * (doy - 22.0) / 365.25).cos();
    season + 4.0 * smooth(seed, 0x7E3A, day)
}

/// Daily cloudiness in [0, 1] (0 clear, 1 overcast); more cloud in winter.
pub fn cloudiness(seed: u64, day: i64) -> f64 {
    let doy = f64::from(day_of_year(day));
    let winter = 0.5 + 0.5 * (2.0 * PI * (doy - 15.0) / 365.25).cos();
    let u = 0.5 + 0.5 * smooth(seed, 0xC10D, day).clamp(-1.0, 1.0);
    (0.15 + 0.2 * winter + 0.65 * u).clamp(0.0, 1.0)
}
