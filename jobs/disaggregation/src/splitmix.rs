//! SplitMix64: the small seeded generator training (initialisation, shuffling) and the domain
//! randomisation draw from, so a model and its randomised days are reproducible from a seed.
//! (The cross generator keeps its own PCG32 on purpose: it shares nothing with training.)

/// A SplitMix64 stream.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    /// A stream seeded by hashing `parts` (e.g. seed, household, week).
    pub(crate) fn from_parts(parts: &[u64]) -> SplitMix64 {
        SplitMix64(parts.iter().fold(0xA06_u64, |h, p| {
            (h ^ p).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
        }))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Fisher-Yates.
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}
