//! Slot packing of Shamir shares into Paillier plaintexts (DESIGN §4, "Shares").
//!
//! A sender's part for one seat holds, per value, the two shares f(j) and r(j) in Z_q. Each goes
//! into its own slot as s + q·t with t uniform below 2^λ: the smudging hides the wrap count
//! ⌊Σ s / q⌋ of every integer sum a seat decrypts. Slots are w bits wide with zero padding, room
//! for a weighted sum of max_roster slots with 32-bit weights, so folds never carry across
//! slots. One predicate decides whether a single ciphertext's plaintext is well formed, for seats
//! and verifiers alike: every slot < q·2^λ and every bit above the last slot zero.

use crate::v2::params::Params;
use curve25519_dalek::scalar::Scalar;
use rand::{CryptoRng, RngCore};
use rug::Integer;
use rug::integer::Order;
use std::sync::OnceLock;
use zeroize::Zeroize;

/// q, the order of the Ristretto group, as a big integer.
pub fn group_order() -> &'static Integer {
    static Q: OnceLock<Integer> = OnceLock::new();
    Q.get_or_init(|| {
        let tail: Integer = "27742317777372353535851937790883648493".parse().unwrap();
        (Integer::from(1) << 252) + tail
    })
}

/// A scalar as a non-negative integer below q.
pub fn scalar_to_integer(s: &Scalar) -> Integer {
    Integer::from_digits(&s.to_bytes(), Order::Lsf)
}

/// An integer reduced mod q, as a scalar.
pub fn integer_to_scalar(x: &Integer) -> Scalar {
    let mut r = Integer::from(x % group_order());
    if r < 0 {
        r += group_order();
    }
    let mut bytes = [0u8; 32];
    let digits = r.to_digits::<u8>(Order::Lsf);
    bytes[..digits.len()].copy_from_slice(&digits);
    Scalar::from_canonical_bytes(bytes).expect("reduced below q")
}

/// The slot layout of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLayout {
    /// w: bits per slot.
    pub slot_bits: u32,
    /// Slots per plaintext.
    pub slots_per_plaintext: usize,
    /// λ: smudging bits.
    pub smudging_bits: u32,
    /// Values per part (each takes two slots).
    pub values: usize,
}

/// A part's decrypted plaintext that breaks the slot predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// Slot `slot` of plaintext `index` is ≥ q·2^λ.
    #[error("plaintext {index}: slot {slot} is not below q·2^λ")]
    SlotOutOfRange {
        /// Plaintext index within the part.
        index: usize,
        /// Slot within the plaintext.
        slot: usize,
    },
    /// Bits above the last slot of plaintext `index` are set.
    #[error("plaintext {index}: bits above the last slot are set")]
    Padding {
        /// Plaintext index within the part.
        index: usize,
    },
    /// The part has the wrong number of plaintexts.
    #[error("{got} plaintexts, expected {expected}")]
    Count {
        /// Plaintexts found.
        got: usize,
        /// Plaintexts expected.
        expected: usize,
    },
}

impl SlotLayout {
    /// The layout the parameters define.
    pub fn new(params: &Params) -> Self {
        SlotLayout {
            slot_bits: params.slot_bits(),
            slots_per_plaintext: params.slots_per_ciphertext(),
            smudging_bits: params.smudging_bits,
            values: params.values_per_round(),
        }
    }

    /// Plaintexts (ciphertexts) per part.
    pub fn plaintexts(&self) -> usize {
        (2 * self.values).div_ceil(self.slots_per_plaintext)
    }

    /// Slots used in plaintext `index`.
    fn slots_in(&self, index: usize) -> usize {
        (2 * self.values - index * self.slots_per_plaintext).min(self.slots_per_plaintext)
    }

    /// Packs a part: per value (f(j), r(j)), each smudged with q·t.
    pub fn pack<R: RngCore + CryptoRng + ?Sized>(
        &self,
        shares: &[(Scalar, Scalar)],
        rng: &mut R,
    ) -> Vec<Integer> {
        assert_eq!(shares.len(), self.values, "one share pair per value");
        let q = group_order();
        let mut out = Vec::with_capacity(self.plaintexts());
        let flat: Vec<&Scalar> = shares.iter().flat_map(|(f, r)| [f, r]).collect();
        for chunk in flat.chunks(self.slots_per_plaintext) {
            let mut m = Integer::new();
            for (i, s) in chunk.iter().enumerate() {
                let mut t_bytes = vec![0u8; self.smudging_bits.div_ceil(8) as usize];
                rng.fill_bytes(&mut t_bytes);
                let mut t = Integer::from_digits(&t_bytes, Order::Lsf);
                t.keep_bits_mut(self.smudging_bits);
                t_bytes.zeroize();
                let slot = scalar_to_integer(s) + Integer::from(q * &t);
                m += slot << (self.slot_bits * i as u32);
            }
            out.push(m);
        }
        out
    }

    /// The slot predicate on one sender's part: every slot < q·2^λ, nothing above the last slot.
    pub fn check_part(&self, plaintexts: &[Integer]) -> Result<(), SlotError> {
        if plaintexts.len() != self.plaintexts() {
            return Err(SlotError::Count {
                got: plaintexts.len(),
                expected: self.plaintexts(),
            });
        }
        let bound = Integer::from(group_order() << self.smudging_bits);
        for (index, m) in plaintexts.iter().enumerate() {
            let used = self.slots_in(index);
            if m.significant_bits() > self.slot_bits * used as u32 {
                return Err(SlotError::Padding { index });
            }
            for slot in 0..used {
                if self.slot(m, slot) >= bound {
                    return Err(SlotError::SlotOutOfRange { index, slot });
                }
            }
        }
        Ok(())
    }

    /// Reads a part or a fold of parts mod q: per value (Σ f(j), Σ r(j)) mod q.
    pub fn unpack_mod_q(&self, plaintexts: &[Integer]) -> Result<Vec<(Scalar, Scalar)>, SlotError> {
        if plaintexts.len() != self.plaintexts() {
            return Err(SlotError::Count {
                got: plaintexts.len(),
                expected: self.plaintexts(),
            });
        }
        let mut flat = Vec::with_capacity(2 * self.values);
        for (index, m) in plaintexts.iter().enumerate() {
            for slot in 0..self.slots_in(index) {
                flat.push(integer_to_scalar(&self.slot(m, slot)));
            }
        }
        Ok(flat.chunks(2).map(|c| (c[0], c[1])).collect())
    }

    fn slot(&self, m: &Integer, slot: usize) -> Integer {
        let mut s = Integer::from(m >> (self.slot_bits * slot as u32));
        s.keep_bits_mut(self.slot_bits);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn layout() -> SlotLayout {
        SlotLayout::new(&Params::default())
    }

    fn random_scalar(rng: &mut ChaCha20Rng) -> Scalar {
        let mut b = [0u8; 64];
        rng.fill_bytes(&mut b);
        Scalar::from_bytes_mod_order_wide(&b)
    }

    #[test]
    fn q_is_the_group_order() {
        let q_minus_1 = integer_to_scalar(&Integer::from(group_order() - 1u32));
        assert_eq!(q_minus_1 + Scalar::ONE, Scalar::ZERO);
        assert_eq!(group_order().significant_bits(), 253);
    }

    #[test]
    fn packed_shares_fold_to_their_sum_mod_q() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let l = layout();
        let parts: Vec<Vec<(Scalar, Scalar)>> = (0..50)
            .map(|_| {
                (0..l.values)
                    .map(|_| (random_scalar(&mut rng), random_scalar(&mut rng)))
                    .collect()
            })
            .collect();
        let packed: Vec<Vec<Integer>> = parts.iter().map(|p| l.pack(p, &mut rng)).collect();
        for p in &packed {
            l.check_part(p).unwrap();
            assert!(
                p.iter().all(|m| m.significant_bits() < 2047),
                "plaintext fits below a 2048-bit n"
            );
        }
        // Weighted integer sum with 32-bit weights: still slot-exact mod q.
        let weights: Vec<u32> = (0..parts.len()).map(|i| u32::MAX - i as u32).collect();
        let folded: Vec<Integer> = (0..l.plaintexts())
            .map(|i| {
                packed
                    .iter()
                    .zip(&weights)
                    .map(|(p, w)| Integer::from(&p[i] * *w))
                    .sum()
            })
            .collect();
        let got = l.unpack_mod_q(&folded).unwrap();
        for v in 0..l.values {
            let want_f: Scalar = parts
                .iter()
                .zip(&weights)
                .map(|(p, w)| p[v].0 * Scalar::from(*w))
                .sum();
            let want_r: Scalar = parts
                .iter()
                .zip(&weights)
                .map(|(p, w)| p[v].1 * Scalar::from(*w))
                .sum();
            assert_eq!(got[v], (want_f, want_r));
        }
    }

    #[test]
    fn the_slot_predicate_catches_overflow_and_padding() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let l = layout();
        let part: Vec<(Scalar, Scalar)> = (0..l.values)
            .map(|_| (random_scalar(&mut rng), Scalar::ONE))
            .collect();
        let good = l.pack(&part, &mut rng);
        // A slot at q·2^λ exactly (one past the largest honest slot).
        let mut bad = good.clone();
        let bound = Integer::from(group_order() << l.smudging_bits);
        bad[0] = (Integer::from(&bad[0] >> l.slot_bits) << l.slot_bits) + bound;
        assert_eq!(
            l.check_part(&bad),
            Err(SlotError::SlotOutOfRange { index: 0, slot: 0 })
        );
        // A bit above the last slot of the last plaintext (which holds 4 of 6 slots).
        let mut bad = good.clone();
        let last = l.plaintexts() - 1;
        bad[last] += Integer::from(1) << (l.slot_bits * 4);
        assert_eq!(l.check_part(&bad), Err(SlotError::Padding { index: last }));
        assert!(matches!(
            l.check_part(&good[1..]),
            Err(SlotError::Count { .. })
        ));
    }

    #[test]
    fn smudging_hides_the_wrap_count() {
        // Two parts whose shares sum to the same value mod q, once with a wrap and once
        // without: the integer slot sums differ by exactly q, and that difference is covered by
        // the smudging (it is a multiple of q like q·t), so each sum is a plausible output of
        // the other case. Here: the smudge terms are multiples of q and span 2^λ values.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let l = layout();
        let part = vec![(Scalar::ONE, Scalar::ONE); l.values];
        let a = l.pack(&part, &mut rng);
        let mut slot = Integer::from(&a[0]);
        slot.keep_bits_mut(l.slot_bits);
        let t = Integer::from(&slot - 1u32) / group_order();
        assert_eq!(Integer::from(&t * group_order()) + 1u32, slot);
        assert!(t.significant_bits() <= l.smudging_bits);
    }
}
