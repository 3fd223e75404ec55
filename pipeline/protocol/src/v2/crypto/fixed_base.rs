//! Constant-time fixed-base exponentiation `g^e mod N` for secret exponents `e` (the seat keys'
//! encryption bases `h_s` mod n² and `y` mod n, raised to a fresh `r` of `|n|/2` bits).
//!
//! A Lim–Lee comb: `e` (padded to `h·v·s` bits) is read as `h` rows of `v·s` bits, each row as
//! `v` blocks of `s` bits; comb `j` holds, for every `u < 2^h`, the product of
//! `g^(2^(i·v·s + j·s))` over the bits `i` of `u`. Then `g^e` takes `s - 1` squarings and
//! `v·s - 1` multiplications, against `|e|` squarings for a square-and-multiply: about 5× fewer
//! operations for a 1024-bit `e` at the default shape.
//!
//! **Constant time, as `mpz_powm_sec` is.** The sequence of operations depends only on the
//! public shape; every table entry is read by `mpn_sec_tabselect`, which touches every entry of
//! the comb whatever the index; products are Montgomery multiplications built from GMP's
//! documented side-channel-silent functions (`mpn_sec_mul`, `mpn_sec_sqr`, `mpn_addmul_1`,
//! `mpn_add_n`, `mpn_cnd_sub_n`), with no branch or memory index depending on the exponent or
//! on intermediate values. The exponent's limbs and every scratch buffer are wiped after use.
//!
//! **Memory:** `v·2^h` entries of `|N|` bits: with the default shape (h, v) = (6, 4), 256
//! entries, i.e. `32·|N|` bytes (128 KiB for N = n² at |n| = 2048, 192 KiB at 3072; half that
//! for N = n). The size is linear in the modulus and independent of the exponent's value.

use gmp_mpfr_sys::gmp::{self, limb_t};
use rug::Integer;
use rug::integer::Order;
use zeroize::Zeroizing;

const LIMB_BITS: u32 = limb_t::BITS;

/// The default comb shape `(h, v)`: 2^6 · 4 = 256 entries.
pub const DEFAULT_SHAPE: (u32, u32) = (6, 4);

/// Number of limbs as GMP's signed size type.
fn sz(n: usize) -> gmp::size_t {
    gmp::size_t::try_from(n).expect("limb count fits mp_size_t")
}

/// A fixed base `g` modulo an odd `N`, precomputed for exponents below `2^exp_bits`.
pub struct FixedBase {
    /// `N`, `limbs` limbs, least significant first.
    modulus: Vec<limb_t>,
    /// `-N^{-1} mod 2^LIMB_BITS`.
    minv: limb_t,
    limbs: usize,
    exp_bits: u32,
    /// Rows `h` (bits of a table index).
    teeth: u32,
    /// Combs `v`.
    combs: u32,
    /// Block length `s` (bits): rows are `v·s` bits long.
    spacing: u32,
    /// `combs` tables of `2^teeth` entries of `limbs` limbs, each entry in Montgomery form
    /// (`x·R mod N`, `R = 2^(LIMB_BITS·limbs)`); comb `j`'s entries are contiguous.
    table: Vec<limb_t>,
}

impl std::fmt::Debug for FixedBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBase")
            .field("modulus_bits", &(self.limbs as u32 * LIMB_BITS))
            .field("exp_bits", &self.exp_bits)
            .field("shape", &(self.teeth, self.combs, self.spacing))
            .field("bytes", &self.table_bytes())
            .finish()
    }
}

/// Limbs of `0 <= x < 2^(LIMB_BITS·len)`, zero-padded to `len`.
fn to_limbs(x: &Integer, len: usize) -> Vec<limb_t> {
    let src = x.as_limbs();
    assert!(x.cmp0().is_ge() && src.len() <= len);
    let mut out = vec![0; len];
    out[..src.len()].copy_from_slice(src);
    out
}

impl FixedBase {
    /// The table for `base` modulo the odd `modulus > 1`, for exponents of at most `exp_bits`
    /// bits, with the default shape.
    pub fn new(base: &Integer, modulus: &Integer, exp_bits: u32) -> FixedBase {
        Self::with_shape(base, modulus, exp_bits, DEFAULT_SHAPE)
    }

    /// [`FixedBase::new`] with `(h, v)` = (rows, combs): `v·2^h` entries.
    pub fn with_shape(
        base: &Integer,
        modulus: &Integer,
        exp_bits: u32,
        (teeth, combs): (u32, u32),
    ) -> FixedBase {
        assert!(modulus.is_odd() && *modulus > 1, "odd modulus above 1");
        assert!((1..=12).contains(&teeth) && (1..=64).contains(&combs) && exp_bits > 0);
        let limbs = modulus.as_limbs().len();
        let spacing = exp_bits.div_ceil(teeth * combs);
        let row = spacing * combs;
        // g^(2^t) for the positions t = i·row + j·spacing the combs multiply.
        let g = Integer::from(base % modulus);
        let mut powers = vec![Integer::new(); (teeth * combs) as usize];
        let mut x = g;
        for t in 0..teeth * row {
            if t % spacing == 0 {
                let (i, j) = (t / row, (t % row) / spacing);
                powers[(i * combs + j) as usize] = x.clone();
            }
            x.square_mut();
            x %= modulus;
        }
        let entries = 1usize << teeth;
        let mut table = Vec::with_capacity(combs as usize * entries * limbs);
        let shift = LIMB_BITS * limbs as u32;
        for j in 0..combs {
            let mut comb: Vec<Integer> = Vec::with_capacity(entries);
            comb.push(Integer::from(1));
            for u in 1..entries {
                let top = usize::BITS - 1 - u.leading_zeros();
                let rest = &comb[u ^ (1 << top)];
                let p = &powers[(top * combs + j) as usize];
                comb.push(Integer::from(rest * p) % modulus);
            }
            for x in &comb {
                table.extend(to_limbs(&(Integer::from(x << shift) % modulus), limbs));
            }
        }
        // -N^{-1} mod 2^LIMB_BITS by Newton's iteration (each step doubles the correct bits).
        let n0 = modulus.as_limbs()[0];
        let mut inv: limb_t = 1;
        for _ in 0..7 {
            inv = inv.wrapping_mul((2 as limb_t).wrapping_sub(n0.wrapping_mul(inv)));
        }
        debug_assert_eq!(n0.wrapping_mul(inv), 1);
        FixedBase {
            modulus: to_limbs(modulus, limbs),
            minv: inv.wrapping_neg(),
            limbs,
            exp_bits,
            teeth,
            combs,
            spacing,
            table,
        }
    }

    /// Bytes held by the table.
    pub fn table_bytes(&self) -> usize {
        self.table.len() * std::mem::size_of::<limb_t>()
    }

    /// The largest exponent size (bits) [`FixedBase::pow`] takes.
    pub fn exp_bits(&self) -> u32 {
        self.exp_bits
    }

    /// `base^exp mod modulus` for `0 <= exp < 2^exp_bits`, in time and memory accesses that
    /// depend only on the table's shape (not on `exp`, except that its limbs are copied once).
    ///
    /// # Panics
    /// If `exp` is negative or has more than `exp_bits` bits.
    pub fn pow(&self, exp: &Integer) -> Integer {
        assert!(
            exp.cmp0().is_ge() && exp.significant_bits() <= self.exp_bits,
            "exponent out of the table's range"
        );
        let l = self.limbs;
        let (teeth, combs, spacing) = (self.teeth, self.combs, self.spacing);
        let row = spacing * combs;
        let e = Zeroizing::new(to_limbs(exp, (teeth * row).div_ceil(LIMB_BITS) as usize));
        let bit = |p: u32| (e[(p / LIMB_BITS) as usize] >> (p % LIMB_BITS)) & 1;
        let entries = 1usize << teeth;
        // SAFETY (itch): pure functions of the sizes.
        let itch = unsafe { gmp::mpn_sec_mul_itch(sz(l), sz(l)).max(gmp::mpn_sec_sqr_itch(sz(l))) };
        let mut scratch = Zeroizing::new(vec![0 as limb_t; usize::try_from(itch).unwrap_or(0)]);
        let mut acc = Zeroizing::new(vec![0 as limb_t; l]);
        let mut sel = Zeroizing::new(vec![0 as limb_t; l]);
        let mut wide = Zeroizing::new(vec![0 as limb_t; 2 * l]);
        let mut first = true;
        for k in (0..spacing).rev() {
            if !first {
                self.sqr(&mut acc, &mut wide, &mut scratch);
            }
            for j in (0..combs).rev() {
                let mut u: limb_t = 0;
                for i in 0..teeth {
                    u |= bit(i * row + j * spacing + k) << i;
                }
                let comb = &self.table[j as usize * entries * l..(j as usize + 1) * entries * l];
                // SAFETY: `sel` has `l` limbs; `comb` holds `entries` entries of `l` limbs;
                // `u < entries` (teeth bits).
                unsafe {
                    gmp::mpn_sec_tabselect(
                        sel.as_mut_ptr(),
                        comb.as_ptr(),
                        sz(l),
                        sz(entries),
                        sz(u as usize),
                    );
                }
                if first {
                    acc.copy_from_slice(&sel);
                    first = false;
                } else {
                    self.mul(&mut acc, &sel, &mut wide, &mut scratch);
                }
            }
        }
        // Out of Montgomery form: REDC(acc), then reduce fully below N.
        wide[..l].copy_from_slice(&acc);
        wide[l..].fill(0);
        self.redc(&mut acc, &mut wide);
        // SAFETY: all buffers have `l` limbs (`sel` is scratch for the comparison).
        unsafe {
            let borrow =
                gmp::mpn_sub_n(sel.as_mut_ptr(), acc.as_ptr(), self.modulus.as_ptr(), sz(l));
            gmp::mpn_cnd_sub_n(
                borrow ^ 1,
                acc.as_mut_ptr(),
                acc.as_ptr(),
                self.modulus.as_ptr(),
                sz(l),
            );
        }
        Integer::from_digits(&acc[..], Order::Lsf)
    }

    /// `acc = acc·b·R^{-1}` (mod N, kept below R).
    fn mul(&self, acc: &mut [limb_t], b: &[limb_t], wide: &mut [limb_t], scratch: &mut [limb_t]) {
        let l = self.limbs;
        assert!(acc.len() == l && b.len() == l && wide.len() == 2 * l);
        // SAFETY: `wide` has 2l limbs, `acc` and `b` l limbs, `scratch` sec_mul_itch(l, l).
        unsafe {
            gmp::mpn_sec_mul(
                wide.as_mut_ptr(),
                acc.as_ptr(),
                sz(l),
                b.as_ptr(),
                sz(l),
                scratch.as_mut_ptr(),
            );
        }
        self.redc(acc, wide);
    }

    /// `acc = acc²·R^{-1}` (mod N, kept below R).
    fn sqr(&self, acc: &mut [limb_t], wide: &mut [limb_t], scratch: &mut [limb_t]) {
        let l = self.limbs;
        assert!(acc.len() == l && wide.len() == 2 * l);
        // SAFETY: `wide` has 2l limbs, `acc` l limbs, `scratch` sec_sqr_itch(l).
        unsafe {
            gmp::mpn_sec_sqr(wide.as_mut_ptr(), acc.as_ptr(), sz(l), scratch.as_mut_ptr());
        }
        self.redc(acc, wide);
    }

    /// Montgomery reduction of the `2l`-limb `t < R²` (destroyed) into `out < R`, congruent to
    /// `t·R^{-1}` mod N: GMP's `mpn_redc_1` with its conditional final subtraction, from public
    /// functions. `(t + q·N)/R < R + N`, so one conditional subtraction of N suffices.
    fn redc(&self, out: &mut [limb_t], t: &mut [limb_t]) {
        let l = self.limbs;
        assert!(out.len() == l && t.len() == 2 * l);
        let n = self.modulus.as_ptr();
        // SAFETY: `t[i..i + l]` lies within `t` for i < l; `out`, `n` have l limbs.
        unsafe {
            let tp = t.as_mut_ptr();
            for i in 0..l {
                let q = (*tp.add(i)).wrapping_mul(self.minv);
                // t[i] becomes 0; its carry out belongs at t[i + l], added below.
                let carry = gmp::mpn_addmul_1(tp.add(i), n, sz(l), q);
                *tp.add(i) = carry;
            }
            let carry = gmp::mpn_add_n(out.as_mut_ptr(), tp.add(l), tp, sz(l));
            gmp::mpn_cnd_sub_n(carry, out.as_mut_ptr(), out.as_ptr(), n, sz(l));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn random_bits(bits: u32, rng: &mut ChaCha20Rng) -> Integer {
        let mut buf = vec![0u8; bits.div_ceil(8) as usize];
        rng.fill_bytes(&mut buf);
        Integer::from_digits(&buf, Order::Msf).keep_bits(bits)
    }

    fn random_odd(bits: u32, rng: &mut ChaCha20Rng) -> Integer {
        let mut m = random_bits(bits, rng);
        m.set_bit(bits - 1, true).set_bit(0, true);
        m
    }

    /// Random, zero, one, all-ones (the largest allowed), a single top bit, every comb shape
    /// edge: equal to GMP's plain powm.
    fn check(table: &FixedBase, base: &Integer, m: &Integer, rng: &mut ChaCha20Rng) {
        let bits = table.exp_bits();
        let max = (Integer::from(1) << bits) - 1u32;
        let mut exps = vec![
            Integer::ZERO,
            Integer::from(1),
            Integer::from(2),
            max.clone(),
            Integer::from(&max - 1u32),
            Integer::from(1) << (bits - 1),
            Integer::from(&max >> 1),
        ];
        exps.extend((0..12).map(|_| random_bits(bits, rng)));
        exps.extend((1..8).map(|k| random_bits(bits * k / 8, rng)));
        for e in &exps {
            let want = Integer::from(base.pow_mod_ref(e, m).unwrap());
            assert_eq!(table.pow(e), want, "exp {e:x} mod {m:x}");
        }
    }

    #[test]
    fn fixed_base_equals_powm() {
        let mut rng = ChaCha20Rng::seed_from_u64(30);
        // Moduli of one limb to the seat sizes; shapes that pad the exponent and that do not.
        for (mod_bits, exp_bits) in [(64, 64), (127, 50), (1024, 512), (2048, 1024)] {
            let m = random_odd(mod_bits, &mut rng);
            let base = random_bits(mod_bits, &mut rng) % &m;
            for shape in [DEFAULT_SHAPE, (1, 1), (3, 5), (8, 1), (5, 7)] {
                let table = FixedBase::with_shape(&base, &m, exp_bits, shape);
                check(&table, &base, &m, &mut rng);
            }
        }
        // Bases 0, 1, N - 1 and one above N; a modulus whose top limb is all ones.
        let m = (Integer::from(1) << 1024) - 1u32;
        for base in [
            Integer::ZERO,
            Integer::from(1),
            Integer::from(&m - 1u32),
            Integer::from(&m + 5u32),
        ] {
            let table = FixedBase::new(&base, &m, 512);
            check(&table, &(Integer::from(&base % &m)), &m, &mut rng);
        }
    }

    #[test]
    fn table_size_is_32_bytes_per_modulus_bit() {
        let mut rng = ChaCha20Rng::seed_from_u64(31);
        for bits in [2048u32, 3072] {
            let n = random_odd(bits, &mut rng);
            let n2 = Integer::from(n.square_ref());
            let t2 = FixedBase::new(&Integer::from(3), &n2, bits / 2);
            let t1 = FixedBase::new(&Integer::from(3), &n, bits / 2);
            assert_eq!(t2.table_bytes(), 32 * 2 * bits as usize);
            assert_eq!(t1.table_bytes(), 32 * bits as usize);
        }
    }

    #[test]
    #[should_panic(expected = "exponent out of the table's range")]
    fn exponents_above_the_range_are_refused() {
        let table = FixedBase::new(&Integer::from(3), &Integer::from(1_000_003), 16);
        let _ = table.pow(&Integer::from(1 << 16));
    }
}
