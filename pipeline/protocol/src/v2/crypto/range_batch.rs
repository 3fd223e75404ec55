//! Batch verification of many aggregated Bulletproofs range proofs ([`RangeProof`]).
//!
//! `bulletproofs` 5 verifies one aggregated proof at a time with one multiscalar multiplication
//! (MSM) of `2·n·m + 2·lg(n·m) + m + 6` points, most of them the fixed generators `G_vec`,
//! `H_vec`. This module replays each proof's Fiat–Shamir transcript exactly as the crate does
//! (same domain separators, labels and order), writes each proof's verification equation as
//! one MSM that must be the identity, scales it by fresh random weights and adds the equations
//! of the whole batch, so the fixed generators appear once per batch and each proof only adds
//! its own `4 + 2·lg(n·m) + m` points.
//!
//! Per proof with `N = n·m`, challenges `y, z, x, w, u_1..u_lg` and IPP scalars `s_i`
//! (`s_i = Π_j u_j^{±1}`, as the crate computes them), the crate checks
//!
//! ```text
//!   A + x·S + c·x·T1 + c·x²·T2 + Σ u_j²·L_j + Σ u_j⁻²·R_j
//!   − (e_blinding + c·t_x_blinding)·H + (w·(t_x − a·b) + c·(δ(y, z) − t_x))·G
//!   + Σ_i (−z − a·s_i)·G_i + Σ_i (z + y⁻ⁱ·(z²·z^k·2^l − b·s_{N−1−i}))·H_i   (i = k·n + l)
//!   + Σ_k c·z²·z^k·V_k  ==  0
//! ```
//!
//! with a random `c`. Here the inner-product part is weighted by a random `α` and the
//! `t_x` part by an independent random `β` (the crate's `c = β/α`), per proof. Structural
//! checks are the crate's: canonical scalars, decodable points, `A, S, T1, T2, L_j, R_j` not
//! the identity encoding, `lg(n·m)` rounds. On failure the batch is bisected and the proofs of
//! small failing groups are checked one by one with the crate's own verifier, so the verdict
//! for each proof is the crate's.

use std::sync::OnceLock;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand::TryRngCore;
use sha3::digest::{ExtendableOutput, Update, XofReader};

use super::vss::{
    Commitments, MAX_RANGE_VALUES, RangeProof, bulletproof_gens, generators, range_transcript,
    rng06,
};

/// Largest number of proofs combined into one multiscalar multiplication; longer lists are
/// verified in consecutive batches of this size (bounds memory, keeps the MSM efficient).
pub const RANGE_BATCH_CHUNK: usize = 256;
/// A failing group of at most this many proofs is checked one by one with the crate.
const SINGLE_CHECK_BELOW: usize = 2;
/// Generators per party in the project's [`BulletproofGens`](bulletproofs::BulletproofGens).
const GENS_CAPACITY: usize = 64;

/// One statement for the batch verifier: a proof, the value commitments it covers (before the
/// identity padding to a power of two) and the caller's transcript context.
#[derive(Clone, Debug)]
pub struct RangeItem<'a> {
    /// The aggregated proof.
    pub proof: &'a RangeProof,
    /// `(encoding, point)` of each value commitment (private: the constructors keep the two
    /// in agreement, as the transcript hashes one and the equation uses the other).
    commitments: Vec<(CompressedRistretto, RistrettoPoint)>,
    /// The context the proof was made under ([`RangeProof::prove_range`]).
    pub context: &'a [u8],
}

impl<'a> RangeItem<'a> {
    /// An item over encoded commitments; `None` if an encoding does not decode (the crate's
    /// verifier rejects such a statement too).
    pub fn from_encoded(
        proof: &'a RangeProof,
        commitments: &[CompressedRistretto],
        context: &'a [u8],
    ) -> Option<RangeItem<'a>> {
        let commitments = commitments
            .iter()
            .map(|c| c.decompress().map(|p| (*c, p)))
            .collect::<Option<Vec<_>>>()?;
        Some(RangeItem {
            proof,
            commitments,
            context,
        })
    }

    /// An item over the `C_0` of each VSS commitment vector (a bundle's range statement).
    pub fn from_vss(
        proof: &'a RangeProof,
        commitments: &[Commitments],
        context: &'a [u8],
    ) -> RangeItem<'a> {
        RangeItem {
            proof,
            commitments: commitments
                .iter()
                .map(|c| (c.c0_compressed(), c.c0()))
                .collect(),
            context,
        }
    }

    /// The crate's single verifier on this item (the reference the batch verifier matches).
    pub fn verify_single(&self, bits: usize) -> bool {
        let encoded: Vec<CompressedRistretto> = self.commitments.iter().map(|c| c.0).collect();
        self.proof
            .verify_range(&encoded, bits, self.context)
            .is_ok()
    }
}

/// A parsed proof: points decoded (with their encodings for the transcript), scalars canonical.
struct Parsed {
    a_pt: (CompressedRistretto, RistrettoPoint),
    s_pt: (CompressedRistretto, RistrettoPoint),
    t1: (CompressedRistretto, RistrettoPoint),
    t2: (CompressedRistretto, RistrettoPoint),
    t_x: Scalar,
    t_x_blinding: Scalar,
    e_blinding: Scalar,
    l_vec: Vec<(CompressedRistretto, RistrettoPoint)>,
    r_vec: Vec<(CompressedRistretto, RistrettoPoint)>,
    a: Scalar,
    b: Scalar,
}

fn read32(bytes: &[u8], index: usize) -> [u8; 32] {
    bytes[32 * index..32 * (index + 1)]
        .try_into()
        .expect("32-byte chunk")
}

/// A proof point: not the identity encoding (the crate's `validate_and_append_point`) and
/// decodable (canonical: dalek rejects non-canonical Ristretto encodings).
fn proof_point(bytes: [u8; 32]) -> Option<(CompressedRistretto, RistrettoPoint)> {
    let c = CompressedRistretto(bytes);
    if c.is_identity() {
        return None;
    }
    c.decompress().map(|p| (c, p))
}

fn proof_scalar(bytes: [u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_canonical_bytes(bytes))
}

/// Parses the `RangeProof::to_bytes` layout `A ‖ S ‖ T1 ‖ T2 ‖ t_x ‖ t_x_blinding ‖
/// e_blinding ‖ (L_j ‖ R_j)_{j<lg} ‖ a ‖ b`, requiring exactly `lg` rounds.
fn parse(bytes: &[u8], lg: usize) -> Option<Parsed> {
    if bytes.len() != 32 * (9 + 2 * lg) {
        return None;
    }
    let rounds = |side: usize| -> Option<Vec<_>> {
        (0..lg)
            .map(|j| proof_point(read32(bytes, 7 + 2 * j + side)))
            .collect()
    };
    Some(Parsed {
        a_pt: proof_point(read32(bytes, 0))?,
        s_pt: proof_point(read32(bytes, 1))?,
        t1: proof_point(read32(bytes, 2))?,
        t2: proof_point(read32(bytes, 3))?,
        t_x: proof_scalar(read32(bytes, 4))?,
        t_x_blinding: proof_scalar(read32(bytes, 5))?,
        e_blinding: proof_scalar(read32(bytes, 6))?,
        l_vec: rounds(0)?,
        r_vec: rounds(1)?,
        a: proof_scalar(read32(bytes, 7 + 2 * lg))?,
        b: proof_scalar(read32(bytes, 8 + 2 * lg))?,
    })
}

fn challenge(t: &mut merlin::Transcript, label: &'static [u8]) -> Scalar {
    let mut buf = [0u8; 64];
    t.challenge_bytes(label, &mut buf);
    Scalar::from_bytes_mod_order_wide(&buf)
}

/// A proof ready to be added to a batch: parsed, with its challenges replayed.
struct Prepared<'a> {
    item: &'a RangeItem<'a>,
    /// Padded party count (a power of two).
    m: usize,
    p: Parsed,
    y: Scalar,
    y_inv: Scalar,
    z: Scalar,
    x: Scalar,
    w: Scalar,
    /// `y^(−n)` (the step of `y⁻ⁱ` from one party to the next).
    y_inv_n: Scalar,
    /// `u_j²` and `u_j⁻²` in creation order, `Π u_j⁻¹` and `Π u_j`.
    u_sq: Vec<Scalar>,
    u_inv_sq: Vec<Scalar>,
    all_inv: Scalar,
    all: Scalar,
}

/// Parses `item` and replays the crate's transcript; `None` where the crate's verifier fails
/// before its final equation.
fn prepare<'a>(item: &'a RangeItem<'a>, n: usize) -> Option<Prepared<'a>> {
    let count = item.commitments.len();
    if count == 0 || count > MAX_RANGE_VALUES {
        return None;
    }
    let m = count.next_power_of_two();
    let lg = (n * m).trailing_zeros() as usize;
    let p = parse(&item.proof.to_bytes(), lg)?;

    let mut t = range_transcript(item.context);
    t.append_message(b"dom-sep", b"rangeproof v1");
    t.append_u64(b"n", n as u64);
    t.append_u64(b"m", m as u64);
    let identity = CompressedRistretto::default();
    for k in 0..m {
        let v = item.commitments.get(k).map_or(&identity, |c| &c.0);
        t.append_message(b"V", v.as_bytes());
    }
    t.append_message(b"A", p.a_pt.0.as_bytes());
    t.append_message(b"S", p.s_pt.0.as_bytes());
    let y = challenge(&mut t, b"y");
    let z = challenge(&mut t, b"z");
    t.append_message(b"T_1", p.t1.0.as_bytes());
    t.append_message(b"T_2", p.t2.0.as_bytes());
    let x = challenge(&mut t, b"x");
    t.append_message(b"t_x", p.t_x.as_bytes());
    t.append_message(b"t_x_blinding", p.t_x_blinding.as_bytes());
    t.append_message(b"e_blinding", p.e_blinding.as_bytes());
    let w = challenge(&mut t, b"w");
    t.append_message(b"dom-sep", b"ipp v1");
    t.append_u64(b"n", (n * m) as u64);
    let mut u: Vec<Scalar> = Vec::with_capacity(lg + 1);
    for (l, r) in p.l_vec.iter().zip(&p.r_vec) {
        t.append_message(b"L", l.0.as_bytes());
        t.append_message(b"R", r.0.as_bytes());
        u.push(challenge(&mut t, b"u"));
    }
    // A zero challenge (probability ~2^-252) would make the crate's inversions meaningless.
    if y == Scalar::ZERO || u.contains(&Scalar::ZERO) {
        return None;
    }
    // One inversion for y and every u_j; the product of the u_j⁻¹ comes out separately.
    let mut inv = u.clone();
    inv.push(y);
    Scalar::batch_invert(&mut inv);
    let y_inv = inv.pop().expect("y pushed");
    let all_inv = inv.iter().product();
    Some(Prepared {
        item,
        m,
        y,
        y_inv,
        z,
        x,
        w,
        y_inv_n: (0..n.trailing_zeros()).fold(y_inv, |acc, _| acc * acc),
        all: u.iter().product(),
        u_sq: u.iter().map(|u| u * u).collect(),
        u_inv_sq: inv.iter().map(|u| u * u).collect(),
        all_inv,
        p,
    })
}

/// `1 + x + … + x^(k−1)`, by doubling when `k` is a power of two (always, here).
fn sum_of_powers(x: &Scalar, k: usize) -> Scalar {
    if !k.is_power_of_two() {
        return std::iter::successors(Some(Scalar::ONE), |p| Some(p * x))
            .take(k)
            .sum();
    }
    // S(2j) = S(j)·(1 + x^j).
    let (mut sum, mut pow, mut j) = (Scalar::ONE, *x, 1);
    while j < k {
        sum += pow * sum;
        pow *= pow;
        j *= 2;
    }
    sum
}

/// The crate's `δ(y, z) = (z − z²)·Σ_{i<nm} y^i − z³·Σ_{l<n} 2^l·Σ_{k<m} z^k`.
fn delta(n: usize, m: usize, y: &Scalar, z: &Scalar) -> Scalar {
    let zz = z * z;
    (z - zz) * sum_of_powers(y, n * m)
        - zz * z * sum_of_powers(&Scalar::from(2u64), n) * sum_of_powers(z, m)
}

/// `H_vec` of the crate's `BulletproofGens::new(64, MAX_RANGE_VALUES)`, party-major, re-derived the way the
/// crate does (SHAKE256 chain labelled `"GeneratorsChain" ‖ 'H' ‖ party (u32 LE)`): the crate
/// exposes `G` per party but not `H`.
fn h_vec() -> &'static [Vec<RistrettoPoint>] {
    static H: OnceLock<Vec<Vec<RistrettoPoint>>> = OnceLock::new();
    H.get_or_init(|| {
        (0..MAX_RANGE_VALUES)
            .map(|party| generator_chain(b'H', party as u32, GENS_CAPACITY))
            .collect()
    })
}

/// The crate's generator chain for `kind` (`b'G'` or `b'H'`) and `party`.
fn generator_chain(kind: u8, party: u32, count: usize) -> Vec<RistrettoPoint> {
    let mut shake = sha3::Shake256::default();
    shake.update(b"GeneratorsChain");
    shake.update(&[kind]);
    shake.update(&party.to_le_bytes());
    let mut reader = shake.finalize_xof();
    (0..count)
        .map(|_| {
            let mut uniform = [0u8; 64];
            reader.read(&mut uniform);
            RistrettoPoint::from_uniform_bytes(&uniform)
        })
        .collect()
}

/// One multiscalar multiplication over all of `batch`, each proof's equation weighted by fresh
/// random scalars from `rng`. `true` iff it is the identity (every proof verifies, except
/// with probability about 2^-250).
fn combined_check(batch: &[&Prepared<'_>], n: usize, rng: &mut rand_chacha03::ChaCha20Rng) -> bool {
    if batch.is_empty() {
        return true;
    }
    let m_max = batch.iter().map(|p| p.m).max().unwrap_or(1);
    let size = n * m_max;
    // Shared generator coefficients, summed over the batch; constant parts kept apart per m.
    let mut g_coef = vec![Scalar::ZERO; size];
    let mut h_coef = vec![Scalar::ZERO; size];
    let mut gh_const = vec![(Scalar::ZERO, Scalar::ZERO); m_max.trailing_zeros() as usize + 1];
    let (mut base, mut blinding) = (Scalar::ZERO, Scalar::ZERO);
    let dynamic: usize = batch
        .iter()
        .map(|p| 4 + 2 * p.u_sq.len() + p.item.commitments.len())
        .sum();
    let mut scalars = Vec::with_capacity(dynamic + 2 * size + 2);
    let mut points = Vec::with_capacity(dynamic + 2 * size + 2);
    let (mut sa, mut sb) = (vec![Scalar::ZERO; size], vec![Scalar::ZERO; size]);
    for prep in batch {
        let alpha = Scalar::random(rng);
        let beta = Scalar::random(rng);
        let (p, m) = (&prep.p, prep.m);
        let big_n = n * m;
        let lg = prep.u_sq.len();
        let (x, z) = (prep.x, prep.z);
        let zz = z * z;

        scalars.push(alpha);
        points.push(p.a_pt.1);
        scalars.push(alpha * x);
        points.push(p.s_pt.1);
        scalars.push(beta * x);
        points.push(p.t1.1);
        scalars.push(beta * x * x);
        points.push(p.t2.1);
        for ((l, r), (u_sq, u_inv_sq)) in p
            .l_vec
            .iter()
            .zip(&p.r_vec)
            .zip(prep.u_sq.iter().zip(&prep.u_inv_sq))
        {
            scalars.push(alpha * u_sq);
            points.push(l.1);
            scalars.push(alpha * u_inv_sq);
            points.push(r.1);
        }
        let mut zk = beta * zz;
        for c in &prep.item.commitments {
            scalars.push(zk);
            points.push(c.1);
            zk *= z;
        }
        blinding -= alpha * p.e_blinding + beta * p.t_x_blinding;
        base += alpha * prep.w * (p.t_x - p.a * p.b) + beta * (delta(n, m, &prep.y, &z) - p.t_x);

        // s_0 = Π u_j⁻¹; s_i = s_{i−2^t}·u_{lg−t}² with t the top bit of i (crate order),
        // pre-scaled by α·a for the G_i.
        sa[0] = alpha * p.a * prep.all_inv;
        // H_i gets y⁻ⁱ·(α·z²·z^k·2^l − α·b·s_{N−1−i}). Setting bit t of i multiplies y⁻ⁱ by
        // y^(−2^t) and s_{N−1−i} by u_{lg−t}⁻², so the second term has the same recursion as
        // s (from α·b·s_{N−1} = α·b·Π u_j); the first runs by (2/y) along l, (z/y^n) along k.
        let mut step = Vec::with_capacity(lg);
        let mut y_inv_2t = prep.y_inv;
        for u_inv_sq in prep.u_inv_sq.iter().rev() {
            step.push(y_inv_2t * u_inv_sq);
            y_inv_2t *= y_inv_2t;
        }
        sb[0] = alpha * p.b * prep.all;
        for i in 1..big_n {
            let top = (usize::BITS - 1 - i.leading_zeros()) as usize;
            sa[i] = sa[i - (1 << top)] * prep.u_sq[lg - 1 - top];
            sb[i] = sb[i - (1 << top)] * step[top];
        }
        let c = &mut gh_const[m.trailing_zeros() as usize];
        c.0 -= alpha * z;
        c.1 += alpha * z;
        let two_over_y = prep.y_inv + prep.y_inv;
        let next_party = z * prep.y_inv_n;
        let mut q_k = alpha * zz;
        for k in 0..m {
            let mut q = q_k;
            for l in 0..n {
                let i = k * n + l;
                g_coef[i] -= sa[i];
                h_coef[i] += q - sb[i];
                q *= two_over_y;
            }
            q_k *= next_party;
        }
    }
    // The −α·z (G_i) and +α·z (H_i) of a proof with m parties cover i < n·m.
    let mut acc = (Scalar::ZERO, Scalar::ZERO);
    for (t, (g_const, h_const)) in gh_const.iter().enumerate().rev() {
        acc.0 += g_const;
        acc.1 += h_const;
        let lo = if t == 0 { 0 } else { n << (t - 1) };
        let hi = n << t;
        g_coef[lo..hi].iter_mut().for_each(|g| *g += acc.0);
        h_coef[lo..hi].iter_mut().for_each(|h| *h += acc.1);
    }
    let (g, h) = generators();
    scalars.push(base);
    points.push(g);
    scalars.push(blinding);
    points.push(h);
    let gens = bulletproof_gens();
    for k in 0..m_max {
        points.extend(gens.share(k).G(n).copied());
    }
    scalars.extend(g_coef);
    for party in &h_vec()[..m_max] {
        points.extend_from_slice(&party[..n]);
    }
    scalars.extend(h_coef);
    RistrettoPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// Verifies `items` (all with range size `bits`) and returns the crate's verdict for each:
/// one combined check per [`RANGE_BATCH_CHUNK`] proofs; a failing batch is halved until the
/// failing proofs are isolated, and groups of at most two proofs are checked with the crate's
/// own verifier, so a failure is attributed exactly. An unsupported `bits` rejects everything.
/// Weights come from a ChaCha20 stream seeded from `rng`.
pub fn verify_range_items_with_rng<R: rand::RngCore + rand::CryptoRng + ?Sized>(
    items: &[RangeItem<'_>],
    bits: usize,
    rng: &mut R,
) -> Vec<bool> {
    let mut out = vec![false; items.len()];
    if !matches!(bits, 8 | 16 | 32 | 64) {
        return out;
    }
    let mut rng = rng06(rng);
    for (chunk_index, chunk) in items.chunks(RANGE_BATCH_CHUNK).enumerate() {
        let offset = chunk_index * RANGE_BATCH_CHUNK;
        let prepared: Vec<(usize, Prepared<'_>)> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, item)| prepare(item, bits).map(|p| (offset + i, p)))
            .collect();
        let group: Vec<&(usize, Prepared<'_>)> = prepared.iter().collect();
        settle(&group, bits, &mut rng, &mut out);
    }
    out
}

/// Marks every proof of `group` in `out`: all valid if the combined check passes, otherwise
/// each half settled on its own (the crate's verifier for the last few).
fn settle(
    group: &[&(usize, Prepared<'_>)],
    n: usize,
    rng: &mut rand_chacha03::ChaCha20Rng,
    out: &mut [bool],
) {
    if group.is_empty() {
        return;
    }
    if group.len() <= SINGLE_CHECK_BELOW {
        for (i, p) in group {
            out[*i] = p.item.verify_single(n);
        }
        return;
    }
    let batch: Vec<&Prepared<'_>> = group.iter().map(|(_, p)| p).collect();
    if combined_check(&batch, n, rng) {
        for (i, _) in group {
            out[*i] = true;
        }
        return;
    }
    let (left, right) = group.split_at(group.len() / 2);
    settle(left, n, rng, out);
    settle(right, n, rng, out);
}

/// [`verify_range_items_with_rng`] with weights from OS randomness.
pub fn verify_range_items(items: &[RangeItem<'_>], bits: usize) -> Vec<bool> {
    let mut os = rand::rngs::OsRng.unwrap_err();
    verify_range_items_with_rng(items, bits, &mut os)
}

/// `true` iff every item verifies: one combined check per chunk, no attribution. Items that
/// fail parsing or the transcript's structural checks make it `false` at once.
pub fn verify_range_batch<R: rand::RngCore + rand::CryptoRng + ?Sized>(
    items: &[RangeItem<'_>],
    bits: usize,
    rng: &mut R,
) -> bool {
    if !matches!(bits, 8 | 16 | 32 | 64) {
        return false;
    }
    let mut rng = rng06(rng);
    items.chunks(RANGE_BATCH_CHUNK).all(|chunk| {
        let Some(prepared) = chunk
            .iter()
            .map(|item| prepare(item, bits))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let batch: Vec<&Prepared<'_>> = prepared.iter().collect();
        combined_check(&batch, bits, &mut rng)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::crypto::vss::tests::{ctx, rng};
    use crate::v2::crypto::vss::{Dealing, pedersen_gens};
    use rand::Rng;
    use rand_chacha::ChaCha20Rng;

    /// A meter's statement: its proof, C_0 of each value, and its context.
    struct Meter {
        proof: RangeProof,
        comms: Vec<Commitments>,
        context: Vec<u8>,
    }

    impl Meter {
        fn item(&self) -> RangeItem<'_> {
            RangeItem::from_vss(&self.proof, &self.comms, &self.context)
        }
    }

    fn meter(count: usize, bits: usize, round: u64, id: u32, r: &mut ChaCha20Rng) -> Meter {
        let max = if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        };
        let values: Vec<u64> = (0..count)
            .map(|i| match i {
                0 => 0,
                1 => max,
                _ => r.random_range(0..=max),
            })
            .collect();
        let dealings: Vec<Dealing> = values.iter().map(|&v| Dealing::new(v, 2, r)).collect();
        let blinds: Vec<Scalar> = dealings.iter().map(Dealing::value_blinding).collect();
        let context = ctx(round, id);
        let proof = RangeProof::prove_range(&values, &blinds, bits, &context, r).unwrap();
        Meter {
            proof,
            comms: dealings.iter().map(Dealing::commitments).collect(),
            context,
        }
    }

    fn meters(count: usize, values: usize, bits: usize, r: &mut ChaCha20Rng) -> Vec<Meter> {
        (0..count)
            .map(|i| meter(values, bits, 1, i as u32, r))
            .collect()
    }

    fn verdicts(items: &[RangeItem<'_>], bits: usize, seed: u64) -> Vec<bool> {
        verify_range_items_with_rng(items, bits, &mut rng(seed))
    }

    fn singles(items: &[RangeItem<'_>], bits: usize) -> Vec<bool> {
        items.iter().map(|i| i.verify_single(bits)).collect()
    }

    /// Replaces the 32-byte field `index` of the proof encoding.
    fn with_field(proof: &RangeProof, index: usize, field: [u8; 32]) -> Vec<u8> {
        let mut bytes = proof.to_bytes();
        bytes[32 * index..32 * (index + 1)].copy_from_slice(&field);
        bytes
    }

    /// The proof with field `index` changed to another valid encoding (point + G, scalar + 1).
    fn tampered(proof: &RangeProof, index: usize, is_point: bool) -> RangeProof {
        let bytes = proof.to_bytes();
        let old = read32(&bytes, index);
        let new = if is_point {
            let p = CompressedRistretto(old).decompress().unwrap() + generators().0;
            p.compress().to_bytes()
        } else {
            (proof_scalar(old).unwrap() + Scalar::ONE).to_bytes()
        };
        RangeProof::from_bytes(&with_field(proof, index, new)).unwrap()
    }

    #[test]
    fn generator_chain_matches_the_crate() {
        let gens = bulletproof_gens();
        for party in 0..MAX_RANGE_VALUES {
            let mine = generator_chain(b'G', party as u32, GENS_CAPACITY);
            let theirs: Vec<RistrettoPoint> = gens.share(party).G(GENS_CAPACITY).copied().collect();
            assert_eq!(mine, theirs, "party {party}");
            assert_ne!(h_vec()[party], mine);
        }
    }

    #[test]
    fn sum_of_powers_by_doubling() {
        let x = Scalar::from(7u64);
        for k in [0, 1, 2, 3, 4, 8, 64, 100, 512] {
            let slow: Scalar = (0..k).map(|i| pow(&x, i)).sum();
            assert_eq!(sum_of_powers(&x, k), slow, "k = {k}");
        }
    }

    fn pow(x: &Scalar, e: usize) -> Scalar {
        (0..e).fold(Scalar::ONE, |acc, _| acc * x)
    }

    #[test]
    fn valid_batches_are_accepted_for_every_size() {
        let mut r = rng(1);
        for bits in [8, 16, 32, 64] {
            let ms = meters(5, 8, bits, &mut r);
            let items: Vec<RangeItem<'_>> = ms.iter().map(Meter::item).collect();
            assert_eq!(singles(&items, bits), vec![true; 5], "{bits} bits");
            assert_eq!(verdicts(&items, bits, 2), vec![true; 5], "{bits} bits");
            assert!(verify_range_batch(&items, bits, &mut rng(3)), "{bits} bits");
            assert_eq!(verify_range_items(&items, bits), vec![true; 5]);
            // The same proofs under another range size are all rejected.
            let other = if bits == 8 { 16 } else { bits / 2 };
            assert_eq!(verdicts(&items, other, 4), vec![false; 5]);
            assert!(!verify_range_batch(&items, other, &mut rng(5)));
        }
    }

    #[test]
    fn mixed_party_counts_share_one_batch() {
        let mut r = rng(6);
        let ms: Vec<Meter> = [1, 2, 3, 5, 8, 4, 7, 16, 11]
            .iter()
            .enumerate()
            .map(|(i, &count)| meter(count, 16, 1, i as u32, &mut r))
            .collect();
        let items: Vec<RangeItem<'_>> = ms.iter().map(Meter::item).collect();
        assert_eq!(verdicts(&items, 16, 7), vec![true; 9]);
        assert!(verify_range_batch(&items, 16, &mut rng(8)));
        // A 3-value proof against the first two of its commitments (m = 2, not 4).
        let short = RangeItem::from_vss(&ms[2].proof, &ms[2].comms[..2], &ms[2].context);
        let mut with_short = items.clone();
        with_short.push(short);
        assert_eq!(
            verdicts(&with_short, 16, 9),
            [vec![true; 9], vec![false]].concat()
        );
    }

    #[test]
    fn empty_and_single_batches() {
        let mut r = rng(10);
        assert_eq!(verdicts(&[], 16, 1), Vec::<bool>::new());
        assert!(verify_range_batch(&[], 16, &mut r));
        let m = meter(8, 16, 1, 1, &mut r);
        let item = m.item();
        assert_eq!(verdicts(std::slice::from_ref(&item), 16, 2), vec![true]);
        assert!(verify_range_batch(std::slice::from_ref(&item), 16, &mut r));
        let bad = tampered(&m.proof, 4, false);
        let bad_item = RangeItem::from_vss(&bad, &m.comms, &m.context);
        assert_eq!(
            verdicts(std::slice::from_ref(&bad_item), 16, 3),
            vec![false]
        );
        assert!(!verify_range_batch(
            std::slice::from_ref(&bad_item),
            16,
            &mut r
        ));
        // No commitments, too many commitments, unsupported bits.
        let none = RangeItem::from_vss(&m.proof, &[], &m.context);
        assert_eq!(verdicts(&[none], 16, 4), vec![false]);
        let nine: Vec<Commitments> = m.comms.iter().chain(&m.comms[..1]).cloned().collect();
        let too_many = RangeItem::from_vss(&m.proof, &nine, &m.context);
        assert_eq!(
            verdicts(&[too_many, item.clone()], 16, 5),
            vec![false, true]
        );
        assert_eq!(verdicts(std::slice::from_ref(&item), 12, 6), vec![false]);
        assert!(!verify_range_batch(&[item], 12, &mut r));
    }

    #[test]
    fn every_tampered_field_is_attributed() {
        let mut r = rng(11);
        let bits = 16;
        let ms = meters(6, 8, bits, &mut r);
        let lg = 7; // n·m = 128
        // (field index, is a point): A S T1 T2 t_x t_x_blinding e_blinding L_0 R_0 L_6 a b.
        let fields = [
            (0, true),
            (1, true),
            (2, true),
            (3, true),
            (4, false),
            (5, false),
            (6, false),
            (7, true),
            (8, true),
            (7 + 2 * (lg - 1), true),
            (7 + 2 * lg, false),
            (8 + 2 * lg, false),
        ];
        for (round, &(field, is_point)) in fields.iter().enumerate() {
            let victim = round % ms.len();
            let bad = tampered(&ms[victim].proof, field, is_point);
            let mut items: Vec<RangeItem<'_>> = ms.iter().map(Meter::item).collect();
            items[victim].proof = &bad;
            let mut expected = vec![true; ms.len()];
            expected[victim] = false;
            assert_eq!(singles(&items, bits), expected, "field {field}");
            assert_eq!(verdicts(&items, bits, 12), expected, "field {field}");
            assert!(
                !verify_range_batch(&items, bits, &mut rng(13)),
                "field {field}"
            );
        }
    }

    #[test]
    fn malformed_encodings_are_rejected_like_the_crate() {
        let mut r = rng(14);
        let m = meter(8, 16, 1, 1, &mut r);
        let lg = 7;
        let bytes = m.proof.to_bytes();
        assert!(parse(&bytes, lg).is_some());
        assert!(parse(&bytes, lg - 1).is_none(), "wrong number of rounds");
        assert!(parse(&bytes[..bytes.len() - 32], lg).is_none(), "short");
        // q (scalar order) is not canonical: the crate refuses to parse it as well.
        let mut q = (-Scalar::ONE).to_bytes();
        q[0] += 1;
        for field in [4, 5, 6, 7 + 2 * lg, 8 + 2 * lg] {
            let t = with_field(&m.proof, field, q);
            assert!(parse(&t, lg).is_none(), "scalar {field}");
            assert!(RangeProof::from_bytes(&t).is_err(), "scalar {field}");
        }
        // Identity and undecodable points parse in the crate but fail its verifier.
        let mut undecodable = [0xffu8; 32];
        undecodable[31] = 0x7f;
        for field in [0, 1, 2, 3, 7, 8, 7 + 2 * lg - 1] {
            for point in [[0u8; 32], undecodable] {
                let t = with_field(&m.proof, field, point);
                assert!(parse(&t, lg).is_none(), "point {field}");
                let p = RangeProof::from_bytes(&t).unwrap();
                let items = [m.item(), RangeItem::from_vss(&p, &m.comms, &m.context)];
                assert_eq!(singles(&items, 16), vec![true, false]);
                assert_eq!(verdicts(&items, 16, 15), vec![true, false], "point {field}");
            }
        }
        // A proof from a smaller aggregation (fewer rounds) for the same commitments.
        let four = meter(4, 16, 1, 1, &mut r);
        let items = [
            m.item(),
            RangeItem::from_vss(&four.proof, &m.comms, &m.context),
        ];
        assert_eq!(verdicts(&items, 16, 16), vec![true, false]);
    }

    #[test]
    fn statements_are_bound_to_commitments_and_context() {
        let mut r = rng(17);
        let ms = meters(4, 8, 32, &mut r);
        let next_round = meter(8, 32, 2, 0, &mut r);
        let stolen: Vec<RangeItem<'_>> = vec![
            ms[0].item(),
            // Meter 1's proof with meter 2's commitments.
            RangeItem::from_vss(&ms[1].proof, &ms[2].comms, &ms[1].context),
            // Meter 2's proof under meter 3's context.
            RangeItem::from_vss(&ms[2].proof, &ms[2].comms, &ms[3].context),
            // Meter 3's proof replayed in round 2.
            RangeItem::from_vss(&ms[3].proof, &ms[3].comms, &next_round.context),
            // One commitment changed, and two commitments swapped.
            {
                let mut c = ms[0].comms.clone();
                c[5] = next_round.comms[5].clone();
                RangeItem::from_vss(&ms[0].proof, &c, &ms[0].context)
            },
            {
                let mut c = ms[1].comms.clone();
                c.swap(2, 3);
                RangeItem::from_vss(&ms[1].proof, &c, &ms[1].context)
            },
            next_round.item(),
        ];
        let expected = vec![true, false, false, false, false, false, true];
        assert_eq!(singles(&stolen, 32), expected);
        assert_eq!(verdicts(&stolen, 32, 18), expected);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let mut r = rng(19);
        let bits = 16;
        // The crate itself proves a value of 2^16 + 3 (it only uses the low bits).
        let values = [1u64, 2, (1 << 16) + 3, 4];
        let blinds: Vec<Scalar> = (0..4).map(|_| Scalar::random(&mut rng06(&mut r))).collect();
        let context = ctx(1, 99);
        let (proof, comms) = bulletproofs::RangeProof::prove_multiple_with_rng(
            bulletproof_gens(),
            &pedersen_gens(),
            &mut range_transcript(&context),
            &values,
            &blinds,
            bits,
            &mut rng06(&mut r),
        )
        .unwrap();
        let forged = RangeProof::from_bytes(&proof.to_bytes()).unwrap();
        let forged_item = RangeItem::from_encoded(&forged, &comms, &context).unwrap();
        // A valid proof for a value in range, shown with the commitment moved out of range.
        let m = meter(4, bits, 1, 1, &mut r);
        let mut shifted: Vec<CompressedRistretto> =
            m.comms.iter().map(Commitments::c0_compressed).collect();
        let g = generators().0;
        shifted[1] = (shifted[1].decompress().unwrap() + Scalar::from(1u64 << 16) * g).compress();
        let shifted_item = RangeItem::from_encoded(&m.proof, &shifted, &m.context).unwrap();
        let items = [m.item(), forged_item, shifted_item, m.item()];
        let expected = vec![true, false, false, true];
        assert_eq!(singles(&items, bits), expected);
        assert_eq!(verdicts(&items, bits, 20), expected);
        assert!(
            RangeItem::from_encoded(&m.proof, &[CompressedRistretto([0xff; 32])], b"").is_none()
        );
    }

    #[test]
    fn random_tampering_matches_the_single_verifier() {
        let mut r = rng(21);
        for (bits, count) in [(8, 8), (16, 3), (32, 8)] {
            let ms = meters(3, count, bits, &mut r);
            for trial in 0..40 {
                let victim = trial % ms.len();
                let mut bytes = ms[victim].proof.to_bytes();
                let pos = r.random_range(0..bytes.len());
                bytes[pos] ^= 1 << r.random_range(0..8);
                let Ok(bad) = RangeProof::from_bytes(&bytes) else {
                    continue;
                };
                let mut items: Vec<RangeItem<'_>> = ms.iter().map(Meter::item).collect();
                items[victim].proof = &bad;
                let want = singles(&items, bits);
                assert!(!want[victim], "bit flip at byte {pos} accepted");
                assert_eq!(verdicts(&items, bits, trial as u64), want, "byte {pos}");
            }
        }
    }

    #[test]
    fn large_batches_bisect_to_the_failures() {
        let mut r = rng(22);
        let bits = 8;
        let ms = meters(23, 8, bits, &mut r);
        let bad: Vec<RangeProof> = [0, 9, 10, 22]
            .iter()
            .map(|&i| tampered(&ms[i].proof, 4, false))
            .collect();
        let mut items: Vec<RangeItem<'_>> = ms.iter().map(Meter::item).collect();
        for (b, &i) in bad.iter().zip(&[0, 9, 10, 22]) {
            items[i].proof = b;
        }
        let want = singles(&items, bits);
        assert_eq!(want.iter().filter(|ok| !**ok).count(), 4);
        assert_eq!(verdicts(&items, bits, 23), want);
        // Every proof bad.
        let all_bad: Vec<RangeItem<'_>> = items
            .iter()
            .map(|i| RangeItem {
                context: b"other",
                ..i.clone()
            })
            .collect();
        assert_eq!(verdicts(&all_bad, bits, 24), vec![false; 23]);
    }
}
