//! Pedersen verifiable secret sharing over Ristretto for protocol v2 (see DESIGN).
//!
//! A meter shares each value `x` with two random polynomials `f` (with `f(0) = x`) and `r`, and
//! publishes commitments `C_l = f_l·G + r_l·H` to their coefficients. A share `(f(i), r(i))` for
//! seat `i` is checked against `C(i) = Σ_l i^l·C_l`; commitments and shares of several dealings
//! add up coefficient-wise. An [`OpeningProof`] (Schnorr proof of knowledge of the opening of
//! `C_0`) binds a bundle to its round and meter through a caller-encoded context, so a bundle
//! cannot be copied, inverted or combined from other meters' bundles. [`RangeProof`]s
//! (Bulletproofs) show that every `C_0` commits to a small value, with the same generators G, H.

use std::collections::HashSet;
use std::sync::OnceLock;

use bulletproofs::{BulletproofGens, PedersenGens};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity, VartimeMultiscalarMul};
use rand::TryRngCore;
use rand_chacha03::rand_core::SeedableRng as _;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

/// Domain-separation input for the second Pedersen generator `H`.
const H_LABEL: &[u8] = b"zebra-zeal/v2/pedersen-H";
/// Fiat–Shamir label of the opening proof.
const OPENING_LABEL: &[u8] = b"zebra-zeal/v2/opening-pok";
/// Merlin transcript label of the range proofs.
const RANGE_LABEL: &[u8] = b"zebra-zeal/v2/range";

/// Size in bytes of an encoded [`OpeningProof`] (`T ‖ s1 ‖ s2`).
pub const OPENING_PROOF_BYTES: usize = 96;
/// Maximum number of values covered by one [`RangeProof`] (the Bulletproofs party capacity):
/// 16, the daily edge round's channels (4 appliance categories and 12 histogram buckets).
/// Each party's generators are its own chain, so raising it leaves every smaller proof as is.
pub const MAX_RANGE_VALUES: usize = 16;
/// Maximum accepted size in bytes of an encoded [`RangeProof`]; checked before parsing.
pub const MAX_RANGE_PROOF_BYTES: usize = 2048;

/// Errors of the VSS, opening-proof and range-proof layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VssError {
    /// A commitment vector does not have `degree + 1` entries.
    #[error("expected {expected} commitments (degree + 1), got {got}")]
    WrongCommitmentCount {
        /// Number of commitments required.
        expected: usize,
        /// Number of commitments received.
        got: usize,
    },
    /// A point encoding is not a canonical Ristretto encoding.
    #[error("point {index} is not a canonical Ristretto encoding")]
    InvalidPoint {
        /// Position of the offending point.
        index: usize,
    },
    /// An opening proof encoding is malformed (length, point or scalar).
    #[error("malformed opening proof encoding")]
    MalformedOpeningProof,
    /// Interpolation was asked for with no points.
    #[error("interpolation needs at least one point")]
    EmptyInterpolation,
    /// An interpolation abscissa is 0 (seat ranks are 1-based).
    #[error("interpolation abscissa 0 is not allowed (seat ranks are 1-based)")]
    ZeroAbscissa,
    /// Two interpolation points share the same abscissa.
    #[error("duplicate interpolation abscissa {0}")]
    DuplicateAbscissa(u64),
    /// The range bit size is not one of 8, 16, 32, 64.
    #[error("unsupported range size of {0} bits (must be 8, 16, 32 or 64)")]
    InvalidBits(usize),
    /// A range proof must cover between 1 and [`MAX_RANGE_VALUES`] values.
    #[error("a range proof covers 1 to {MAX_RANGE_VALUES} values, got {0}")]
    WrongValueCount(usize),
    /// Values and blindings have different lengths.
    #[error("{values} values but {blindings} blindings")]
    LengthMismatch {
        /// Number of values.
        values: usize,
        /// Number of blindings.
        blindings: usize,
    },
    /// A value to be range-proved does not fit in the requested number of bits.
    #[error("value at index {index} does not fit in {bits} bits")]
    ValueOutOfRange {
        /// Position of the value.
        index: usize,
        /// Requested bit size.
        bits: usize,
    },
    /// An encoded range proof exceeds [`MAX_RANGE_PROOF_BYTES`].
    #[error("range proof of {0} bytes exceeds the {MAX_RANGE_PROOF_BYTES}-byte limit")]
    RangeProofTooLarge(usize),
    /// An encoded range proof could not be parsed.
    #[error("malformed range proof encoding")]
    MalformedRangeProof,
    /// A range proof did not verify.
    #[error("range proof verification failed")]
    RangeProofInvalid,
    /// Proof creation failed inside the Bulletproofs library.
    #[error("range proof creation failed: {0}")]
    RangeProofCreation(String),
    /// One item of [`verify_ranges_batch`] failed.
    #[error("range proof {index} of the batch failed: {reason}")]
    BatchItemInvalid {
        /// Position of the first failing item.
        index: usize,
        /// Why it failed.
        reason: Box<VssError>,
    },
}

/// Derives a rand_core 0.6 RNG (for dalek / Bulletproofs) from a rand 0.9 RNG by seeding a
/// ChaCha20 generator with 32 bytes drawn from `rng`.
pub fn rng06<R: rand::RngCore + rand::CryptoRng + ?Sized>(
    rng: &mut R,
) -> rand_chacha03::ChaCha20Rng {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let out = rand_chacha03::ChaCha20Rng::from_seed(seed);
    seed.zeroize();
    out
}

/// Returns the Pedersen generators `(G, H)`: `G` is the Ristretto basepoint and
/// `H = hash_from_bytes::<Sha512>("zebra-zeal/v2/pedersen-H")` (nobody knows `log_G H`).
pub fn generators() -> (RistrettoPoint, RistrettoPoint) {
    static H: OnceLock<RistrettoPoint> = OnceLock::new();
    let h = *H.get_or_init(|| RistrettoPoint::hash_from_bytes::<Sha512>(H_LABEL));
    (RISTRETTO_BASEPOINT_POINT, h)
}

/// The same generators as [`generators`], in the form the Bulletproofs library uses.
pub fn pedersen_gens() -> PedersenGens {
    let (g, h) = generators();
    PedersenGens {
        B: g,
        B_blinding: h,
    }
}

pub(super) fn bulletproof_gens() -> &'static BulletproofGens {
    static GENS: OnceLock<BulletproofGens> = OnceLock::new();
    GENS.get_or_init(|| BulletproofGens::new(64, MAX_RANGE_VALUES))
}

/// Evaluates a polynomial given by its coefficients (lowest degree first) at `x` (Horner).
fn eval_poly(coeffs: &[Scalar], x: Scalar) -> Scalar {
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

/// `[1, x, x^2, ..., x^d]`.
fn powers(x: u64, d: usize) -> Vec<Scalar> {
    let x = Scalar::from(x);
    let mut out = Vec::with_capacity(d + 1);
    let mut p = Scalar::ONE;
    for _ in 0..=d {
        out.push(p);
        p *= x;
    }
    out
}

/// A secret dealing: the two polynomials `f` (with `f(0) = value`) and `r` of one shared value.
/// The coefficients are zeroized on drop and never printed by `Debug`.
pub struct Dealing {
    f: Vec<Scalar>,
    r: Vec<Scalar>,
}

impl Dealing {
    /// Draws random polynomials `f`, `r` of degree `degree` with `f(0) = value` and random `r(0)`.
    pub fn new<R: rand::RngCore + rand::CryptoRng + ?Sized>(
        value: u64,
        degree: usize,
        rng: &mut R,
    ) -> Dealing {
        let mut rng = rng06(rng);
        let mut f: Vec<Scalar> = (0..=degree).map(|_| Scalar::random(&mut rng)).collect();
        let r: Vec<Scalar> = (0..=degree).map(|_| Scalar::random(&mut rng)).collect();
        f[0] = Scalar::from(value);
        Dealing { f, r }
    }

    /// Degree of both polynomials.
    pub fn degree(&self) -> usize {
        self.f.len() - 1
    }

    /// Public commitments `C_l = f_l·G + r_l·H`, `l = 0..=degree`.
    pub fn commitments(&self) -> Commitments {
        let (g, h) = generators();
        let points: Vec<RistrettoPoint> = self
            .f
            .iter()
            .zip(&self.r)
            .map(|(f, r)| f * g + r * h)
            .collect();
        Commitments::from_points(points)
    }

    /// The share `(f(x), r(x))` for the 1-based seat rank `x`.
    ///
    /// # Panics
    /// If `x == 0` (that would reveal the secret).
    pub fn share(&self, x: u64) -> (Scalar, Scalar) {
        assert!(x != 0, "shares are evaluated at nonzero seat ranks only");
        let xs = Scalar::from(x);
        (eval_poly(&self.f, xs), eval_poly(&self.r, xs))
    }

    /// The blinding `r(0)` of `C_0 = value·G + r(0)·H` (needed for the range proof).
    pub fn value_blinding(&self) -> Scalar {
        self.r[0]
    }
}

impl Drop for Dealing {
    fn drop(&mut self) {
        self.f.zeroize();
        self.r.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for Dealing {}

impl std::fmt::Debug for Dealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dealing")
            .field("degree", &self.degree())
            .finish_non_exhaustive()
    }
}

/// Public commitments `C_0..=C_d` to the coefficients of a dealing (or a sum of dealings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitments {
    compressed: Vec<CompressedRistretto>,
    points: Vec<RistrettoPoint>,
}

impl Commitments {
    fn from_points(points: Vec<RistrettoPoint>) -> Commitments {
        let compressed = points.iter().map(RistrettoPoint::compress).collect();
        Commitments { compressed, points }
    }

    /// Parses `degree + 1` encoded points, rejecting a wrong count or any non-canonical or
    /// undecodable encoding.
    pub fn from_bytes(bytes: &[[u8; 32]], degree: usize) -> Result<Commitments, VssError> {
        if bytes.len() != degree.saturating_add(1) {
            return Err(VssError::WrongCommitmentCount {
                expected: degree.saturating_add(1),
                got: bytes.len(),
            });
        }
        let points = bytes
            .iter()
            .enumerate()
            .map(|(index, b)| decode_point(b).ok_or(VssError::InvalidPoint { index }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Commitments {
            compressed: bytes.iter().map(|b| CompressedRistretto(*b)).collect(),
            points,
        })
    }

    /// Canonical encodings of `C_0..=C_d`.
    pub fn to_bytes(&self) -> Vec<[u8; 32]> {
        self.compressed.iter().map(|c| c.to_bytes()).collect()
    }

    /// `C(x) = Σ_l x^l·C_l`, the commitment a share at seat `x` must open.
    pub fn evaluate(&self, x: u64) -> RistrettoPoint {
        RistrettoPoint::vartime_multiscalar_mul(powers(x, self.degree()), &self.points)
    }

    /// `C_0 = value·G + r(0)·H`.
    pub fn c0(&self) -> RistrettoPoint {
        self.points[0]
    }

    /// Encoding of `C_0` (the form [`RangeProof::verify_range`] takes).
    pub fn c0_compressed(&self) -> CompressedRistretto {
        self.compressed[0]
    }

    /// Degree `d` of the committed polynomials (there are `d + 1` commitments).
    pub fn degree(&self) -> usize {
        self.points.len() - 1
    }

    /// The decompressed points `C_0..=C_d`.
    pub fn points(&self) -> &[RistrettoPoint] {
        &self.points
    }
}

/// Decodes a canonical Ristretto encoding.
fn decode_point(bytes: &[u8; 32]) -> Option<RistrettoPoint> {
    // Ristretto decoding itself refuses every non-canonical encoding (s >= p, or s negative), so
    // no recompression is needed (it cost a field inversion a point; tested below).
    CompressedRistretto(*bytes).decompress()
}

/// Coefficient-wise sum of commitment vectors: commits to the sum of the dealings.
///
/// # Panics
/// If `list` is empty or the degrees differ.
pub fn sum_commitments(list: &[&Commitments]) -> Commitments {
    assert!(!list.is_empty(), "sum_commitments needs at least one term");
    let degree = list[0].degree();
    assert!(
        list.iter().all(|c| c.degree() == degree),
        "sum_commitments needs equal degrees"
    );
    let points = (0..=degree)
        .map(|l| list.iter().map(|c| c.points[l]).sum())
        .collect();
    Commitments::from_points(points)
}

/// `Σ_i w_i·C_i(x)`, computed as one variable-time multiscalar multiplication over all
/// coefficient points with weights `w_i·x^l`. Degrees may differ.
pub fn weighted_sum_evaluations(terms: &[(&Commitments, Scalar)], x: u64) -> RistrettoPoint {
    let max_degree = terms.iter().map(|(c, _)| c.degree()).max().unwrap_or(0);
    let pw = powers(x, max_degree);
    // dalek's multiscalar multiplication wants exact-size iterators, hence the Vecs.
    let scalars: Vec<Scalar> = terms
        .iter()
        .flat_map(|(c, w)| pw[..=c.degree()].iter().map(move |p| w * p))
        .collect();
    let points: Vec<RistrettoPoint> = terms
        .iter()
        .flat_map(|(c, _)| c.points.iter().copied())
        .collect();
    RistrettoPoint::vartime_multiscalar_mul(scalars, points)
}

/// Checks a share against the commitments: `f_x·G + r_x·H == C(x)`, as one variable-time
/// multiscalar multiplication `f_x·G + r_x·H − Σ x^l·C_l == 0` (public data only).
pub fn verify_share(commitments: &Commitments, x: u64, f_x: &Scalar, r_x: &Scalar) -> bool {
    let (g, h) = generators();
    let scalars = [*f_x, *r_x]
        .into_iter()
        .chain(powers(x, commitments.degree()).into_iter().map(|p| -p));
    let points = [g, h].into_iter().chain(commitments.points.iter().copied());
    RistrettoPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// Lagrange coefficients `λ_i = Π_{j≠i} x_j / (x_j − x_i)` for interpolation at 0, over
/// distinct nonzero abscissas.
pub fn lagrange_coefficients_at_zero(xs: &[u64]) -> Result<Vec<Scalar>, VssError> {
    if xs.is_empty() {
        return Err(VssError::EmptyInterpolation);
    }
    let mut seen = HashSet::with_capacity(xs.len());
    for &x in xs {
        if x == 0 {
            return Err(VssError::ZeroAbscissa);
        }
        if !seen.insert(x) {
            return Err(VssError::DuplicateAbscissa(x));
        }
    }
    let sx: Vec<Scalar> = xs.iter().map(|&x| Scalar::from(x)).collect();
    let mut nums = Vec::with_capacity(xs.len());
    let mut dens = Vec::with_capacity(xs.len());
    for (i, xi) in sx.iter().enumerate() {
        let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
        for (j, xj) in sx.iter().enumerate() {
            if i != j {
                num *= xj;
                den *= xj - xi;
            }
        }
        nums.push(num);
        dens.push(den);
    }
    Scalar::batch_invert(&mut dens);
    Ok(nums.iter().zip(&dens).map(|(n, d)| n * d).collect())
}

/// Interpolates `p(0)` from points `(x, p(x))` with distinct nonzero `x`.
pub fn interpolate_at_zero(points: &[(u64, Scalar)]) -> Result<Scalar, VssError> {
    let xs: Vec<u64> = points.iter().map(|p| p.0).collect();
    let lambdas = lagrange_coefficients_at_zero(&xs)?;
    Ok(points.iter().zip(&lambdas).map(|(p, l)| l * p.1).sum())
}

/// Interpolates `(f(0), r(0))` from shares `(x, f(x), r(x))` with distinct nonzero `x`.
pub fn interpolate_pair_at_zero(
    points: &[(u64, Scalar, Scalar)],
) -> Result<(Scalar, Scalar), VssError> {
    let xs: Vec<u64> = points.iter().map(|p| p.0).collect();
    let lambdas = lagrange_coefficients_at_zero(&xs)?;
    let f = points.iter().zip(&lambdas).map(|(p, l)| l * p.1).sum();
    let r = points.iter().zip(&lambdas).map(|(p, l)| l * p.2).sum();
    Ok((f, r))
}

/// `Some(n)` if the canonical integer value of `s` is below 2^64.
pub fn scalar_to_u64(s: &Scalar) -> Option<u64> {
    let b = s.to_bytes();
    if b[8..].iter().any(|&x| x != 0) {
        return None;
    }
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    Some(u64::from_le_bytes(lo))
}

/// Parses a big-endian integer (any length; leading zeros allowed) that must be `< q`.
/// Returns `None` if it is `>= q`.
pub fn scalar_from_be_bytes(bytes: &[u8]) -> Option<Scalar> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = &bytes[start..];
    if digits.len() > 32 {
        return None;
    }
    let mut le = [0u8; 32];
    for (dst, src) in le.iter_mut().zip(digits.iter().rev()) {
        *dst = *src;
    }
    Option::from(Scalar::from_canonical_bytes(le))
}

/// Big-endian encoding of the canonical value of `s`.
pub fn scalar_to_be_bytes(s: &Scalar) -> [u8; 32] {
    let mut b = s.to_bytes();
    b.reverse();
    b
}

/// Appends `u32` big-endian length then bytes.
fn hash_lp(h: &mut Sha512, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("hashed field longer than u32::MAX");
    h.update(len.to_be_bytes());
    h.update(bytes);
}

/// Schnorr proof of knowledge of `(a, b)` with `C = a·G + b·H`, bound by Fiat–Shamir to a
/// caller-encoded context (protocol version, region, round, meter id) and to `C`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningProof {
    t: CompressedRistretto,
    s1: Scalar,
    s2: Scalar,
}

impl OpeningProof {
    fn challenge(c: &CompressedRistretto, t: &CompressedRistretto, context: &[u8]) -> Scalar {
        let mut h = Sha512::new();
        hash_lp(&mut h, OPENING_LABEL);
        hash_lp(&mut h, context);
        hash_lp(&mut h, c.as_bytes());
        hash_lp(&mut h, t.as_bytes());
        Scalar::from_hash(h)
    }

    /// Proves knowledge of `(a, b)` with `c = a·G + b·H` under `context`.
    pub fn prove<R: rand::RngCore + rand::CryptoRng + ?Sized>(
        c: &RistrettoPoint,
        a: &Scalar,
        b: &Scalar,
        context: &[u8],
        rng: &mut R,
    ) -> OpeningProof {
        let (g, h) = generators();
        let mut rng = rng06(rng);
        let mut k1 = Scalar::random(&mut rng);
        let mut k2 = Scalar::random(&mut rng);
        let t = (k1 * g + k2 * h).compress();
        let e = Self::challenge(&c.compress(), &t, context);
        let proof = OpeningProof {
            t,
            s1: k1 + e * a,
            s2: k2 + e * b,
        };
        k1.zeroize();
        k2.zeroize();
        proof
    }

    /// Checks `s1·G + s2·H == T + e·C` with `e` recomputed from `context`, `C` and `T`.
    pub fn verify(&self, c: &RistrettoPoint, context: &[u8]) -> bool {
        let Some(t) = decode_point(self.t.as_bytes()) else {
            return false;
        };
        let (g, h) = generators();
        let e = Self::challenge(&c.compress(), &self.t, context);
        RistrettoPoint::vartime_multiscalar_mul([self.s1, self.s2, -e], [g, h, *c]) == t
    }

    /// Encoding `T ‖ s1 ‖ s2` (96 bytes).
    pub fn to_bytes(&self) -> [u8; OPENING_PROOF_BYTES] {
        let mut out = [0u8; OPENING_PROOF_BYTES];
        out[..32].copy_from_slice(self.t.as_bytes());
        out[32..64].copy_from_slice(self.s1.as_bytes());
        out[64..].copy_from_slice(self.s2.as_bytes());
        out
    }

    /// Parses `T ‖ s1 ‖ s2`, rejecting a wrong length, a non-canonical point or scalars `>= q`.
    pub fn from_bytes(bytes: &[u8]) -> Result<OpeningProof, VssError> {
        if bytes.len() != OPENING_PROOF_BYTES {
            return Err(VssError::MalformedOpeningProof);
        }
        let chunk = |i: usize| -> [u8; 32] { bytes[32 * i..32 * (i + 1)].try_into().unwrap() };
        let t = chunk(0);
        decode_point(&t).ok_or(VssError::MalformedOpeningProof)?;
        let scalar = |b| {
            Option::from(Scalar::from_canonical_bytes(b)).ok_or(VssError::MalformedOpeningProof)
        };
        Ok(OpeningProof {
            t: CompressedRistretto(t),
            s1: scalar(chunk(1))?,
            s2: scalar(chunk(2))?,
        })
    }
}

/// Verifies many opening proofs with one multiscalar multiplication: the proofs' equations
/// s1·G + s2·H − T − e·C = 0 combined with 128-bit weights hashed from every proof, context and
/// commitment (a prover cannot choose proofs that cancel without fixing the weights first).
/// `true` iff every proof verifies, except with probability 2^-128; on `false` the caller checks
/// one by one to name the bad proof. `items`: (C, its encoding, proof, context).
pub fn verify_openings(
    items: &[(&RistrettoPoint, &CompressedRistretto, &OpeningProof, &[u8])],
) -> bool {
    if items.is_empty() {
        return true;
    }
    let mut seed = Sha512::new();
    hash_lp(&mut seed, b"zebra-zeal/v2/opening-batch");
    for (_, c, p, context) in items {
        hash_lp(&mut seed, context);
        hash_lp(&mut seed, c.as_bytes());
        hash_lp(&mut seed, &p.to_bytes());
    }
    let seed = seed.finalize();
    let (g, h) = generators();
    let (mut s1, mut s2) = (Scalar::ZERO, Scalar::ZERO);
    let mut scalars = Vec::with_capacity(2 * items.len() + 2);
    let mut points = Vec::with_capacity(2 * items.len() + 2);
    for (i, (c, c_bytes, p, context)) in items.iter().enumerate() {
        let Some(t) = decode_point(p.t.as_bytes()) else {
            return false;
        };
        let mut w = Sha512::new();
        w.update(seed);
        w.update((i as u64).to_be_bytes());
        let mut z = [0u8; 32];
        z[..16].copy_from_slice(&w.finalize()[..16]);
        let z = Scalar::from_bytes_mod_order(z);
        let e = OpeningProof::challenge(c_bytes, &p.t, context);
        s1 += z * p.s1;
        s2 += z * p.s2;
        scalars.push(-z);
        points.push(t);
        scalars.push(-(z * e));
        points.push(**c);
    }
    scalars.push(s1);
    points.push(g);
    scalars.push(s2);
    points.push(h);
    RistrettoPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

fn check_bits(bits: usize) -> Result<(), VssError> {
    match bits {
        8 | 16 | 32 | 64 => Ok(()),
        _ => Err(VssError::InvalidBits(bits)),
    }
}

pub(super) fn range_transcript(context: &[u8]) -> merlin::Transcript {
    let mut t = merlin::Transcript::new(RANGE_LABEL);
    t.append_message(b"context", context);
    t
}

/// Aggregated Bulletproofs range proof that each of `m` commitments `C_0^(v) = x_v·G + r_v·H`
/// (`1 <= m <= 8`) commits to a value in `[0, 2^bits)`, with the generators of [`generators`].
///
/// Bulletproofs aggregation needs a power-of-two count, so the prover pads the list with value
/// 0 and blinding 0 (whose commitment is the identity) up to the next power of two, and the
/// verifier pads the commitment list with the identity in the same way. The transcript is
/// `Transcript::new("zebra-zeal/v2/range")` followed by `append_message("context", context)`.
#[derive(Clone, Debug)]
pub struct RangeProof {
    inner: bulletproofs::RangeProof,
}

impl RangeProof {
    /// Proves that every `values[v]` lies in `[0, 2^bits)` for the commitments
    /// `values[v]·G + blindings[v]·H`, under `context`.
    pub fn prove_range<R: rand::RngCore + rand::CryptoRng + ?Sized>(
        values: &[u64],
        blindings: &[Scalar],
        bits: usize,
        context: &[u8],
        rng: &mut R,
    ) -> Result<RangeProof, VssError> {
        check_bits(bits)?;
        if values.len() != blindings.len() {
            return Err(VssError::LengthMismatch {
                values: values.len(),
                blindings: blindings.len(),
            });
        }
        if values.is_empty() || values.len() > MAX_RANGE_VALUES {
            return Err(VssError::WrongValueCount(values.len()));
        }
        if let Some(index) = values.iter().position(|&v| bits < 64 && v >> bits != 0) {
            return Err(VssError::ValueOutOfRange { index, bits });
        }
        let m = values.len().next_power_of_two();
        let mut vals = values.to_vec();
        vals.resize(m, 0);
        let mut blinds = blindings.to_vec();
        blinds.resize(m, Scalar::ZERO);
        let result = bulletproofs::RangeProof::prove_multiple_with_rng(
            bulletproof_gens(),
            &pedersen_gens(),
            &mut range_transcript(context),
            &vals,
            &blinds,
            bits,
            &mut rng06(rng),
        );
        vals.zeroize();
        blinds.zeroize();
        let (inner, _) = result.map_err(|e| VssError::RangeProofCreation(e.to_string()))?;
        Ok(RangeProof { inner })
    }

    /// Verifies the proof against the value commitments (padded with the identity to the next
    /// power of two) under `context`. Uses OS randomness for Bulletproofs' internal batching.
    pub fn verify_range(
        &self,
        commitments: &[CompressedRistretto],
        bits: usize,
        context: &[u8],
    ) -> Result<(), VssError> {
        check_bits(bits)?;
        if commitments.is_empty() || commitments.len() > MAX_RANGE_VALUES {
            return Err(VssError::WrongValueCount(commitments.len()));
        }
        let mut padded = commitments.to_vec();
        padded.resize(
            commitments.len().next_power_of_two(),
            CompressedRistretto::identity(),
        );
        let mut os = rand::rngs::OsRng.unwrap_err();
        self.inner
            .verify_multiple_with_rng(
                bulletproof_gens(),
                &pedersen_gens(),
                &mut range_transcript(context),
                &padded,
                bits,
                &mut rng06(&mut os),
            )
            .map_err(|_| VssError::RangeProofInvalid)
    }

    /// Bulletproofs encoding of the proof.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes()
    }

    /// Parses a proof, rejecting inputs above [`MAX_RANGE_PROOF_BYTES`] before parsing.
    pub fn from_bytes(bytes: &[u8]) -> Result<RangeProof, VssError> {
        if bytes.len() > MAX_RANGE_PROOF_BYTES {
            return Err(VssError::RangeProofTooLarge(bytes.len()));
        }
        let inner = bulletproofs::RangeProof::from_bytes(bytes)
            .map_err(|_| VssError::MalformedRangeProof)?;
        Ok(RangeProof { inner })
    }
}

/// Verifies several range proofs `(proof, commitments, context)` with the same `bits`.
///
/// A plain loop over [`RangeProof::verify_range`] that stops at the first failure and reports
/// its index; [`super::range_batch`] verifies many proofs in one batch instead.
pub fn verify_ranges_batch(
    items: &[(&RangeProof, &[CompressedRistretto], &[u8])],
    bits: usize,
) -> Result<(), VssError> {
    for (index, (proof, commitments, context)) in items.iter().enumerate() {
        proof
            .verify_range(commitments, bits, context)
            .map_err(|e| VssError::BatchItemInvalid {
                index,
                reason: Box::new(e),
            })?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    /// Test context: version ‖ region ‖ round ‖ meter.
    pub(crate) fn ctx(round: u64, meter: u32) -> Vec<u8> {
        let mut c = b"v2/region-7".to_vec();
        c.extend_from_slice(&round.to_be_bytes());
        c.extend_from_slice(&meter.to_be_bytes());
        c
    }

    #[test]
    fn generators_are_fixed_and_independent() {
        let (g, h) = generators();
        assert_eq!(g, RISTRETTO_BASEPOINT_POINT);
        assert_ne!(g, h);
        assert_ne!(h, RistrettoPoint::identity());
        assert_eq!(h, RistrettoPoint::hash_from_bytes::<Sha512>(H_LABEL));
        let pc = pedersen_gens();
        assert_eq!((pc.B, pc.B_blinding), (g, h));
    }

    #[test]
    fn shares_verify_and_threshold_reconstructs() {
        let mut r = rng(1);
        let dealing = Dealing::new(12345, 3, &mut r);
        let comms = dealing.commitments();
        assert_eq!(comms.degree(), 3);
        let (g, h) = generators();
        assert_eq!(
            comms.c0(),
            Scalar::from(12345u64) * g + dealing.value_blinding() * h
        );
        let shares: Vec<(u64, Scalar, Scalar)> = (1..=6)
            .map(|x| {
                let (f, rr) = dealing.share(x);
                (x, f, rr)
            })
            .collect();
        for &(x, f, rr) in &shares {
            assert!(verify_share(&comms, x, &f, &rr));
            assert!(!verify_share(&comms, x, &(f + Scalar::ONE), &rr));
            assert!(!verify_share(&comms, x + 1, &f, &rr));
        }
        // Every 4-subset of the 6 shares reconstructs (value, r(0)).
        for mask in 1u32..64 {
            let subset: Vec<_> = (0..6)
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| shares[i])
                .collect();
            let (f0, r0) = interpolate_pair_at_zero(&subset).unwrap();
            if subset.len() >= 4 {
                assert_eq!(scalar_to_u64(&f0), Some(12345));
                assert_eq!(r0, dealing.value_blinding());
            } else if subset.len() == 3 {
                assert_ne!(f0, Scalar::from(12345u64));
            }
        }
        let single: Vec<_> = shares[..4].iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(
            interpolate_at_zero(&single).unwrap(),
            Scalar::from(12345u64)
        );
        let dbg = format!("{dealing:?}");
        assert!(dbg.contains("degree: 3") && !dbg.contains("Scalar"));
    }

    #[test]
    fn sums_of_dealings_are_homomorphic() {
        let mut r = rng(2);
        let (a, b) = (Dealing::new(100, 2, &mut r), Dealing::new(23, 2, &mut r));
        let (ca, cb) = (a.commitments(), b.commitments());
        let sum = sum_commitments(&[&ca, &cb]);
        let shares: Vec<_> = (1..=3u64)
            .map(|x| {
                let (fa, ra) = a.share(x);
                let (fb, rb) = b.share(x);
                assert!(verify_share(&sum, x, &(fa + fb), &(ra + rb)));
                (x, fa + fb, ra + rb)
            })
            .collect();
        let (f0, r0) = interpolate_pair_at_zero(&shares).unwrap();
        assert_eq!(scalar_to_u64(&f0), Some(123));
        assert_eq!(r0, a.value_blinding() + b.value_blinding());
        let (wa, wb) = (Scalar::from(3u64), Scalar::from(7u64));
        assert_eq!(
            weighted_sum_evaluations(&[(&ca, wa), (&cb, wb)], 5),
            wa * ca.evaluate(5) + wb * cb.evaluate(5)
        );
        assert_eq!(weighted_sum_evaluations(&[], 5), RistrettoPoint::identity());
    }

    #[test]
    fn commitment_encoding_is_strict() {
        let comms = Dealing::new(7, 2, &mut rng(3)).commitments();
        let bytes = comms.to_bytes();
        assert_eq!(Commitments::from_bytes(&bytes, 2).unwrap(), comms);
        assert_eq!(
            Commitments::from_bytes(&bytes, 3),
            Err(VssError::WrongCommitmentCount {
                expected: 4,
                got: 3
            })
        );
        let mut bad = bytes.clone();
        bad[1] = [0xff; 32];
        assert_eq!(
            Commitments::from_bytes(&bad, 2),
            Err(VssError::InvalidPoint { index: 1 })
        );
        // A field element >= p (non-canonical encoding of a small value) is rejected.
        let mut noncanon = [0xffu8; 32];
        noncanon[0] = 0xed;
        noncanon[31] = 0x7f;
        bad[1] = noncanon;
        assert!(Commitments::from_bytes(&bad, 2).is_err());
        // A negative (odd) s is not an encoding either.
        let mut odd = [0u8; 32];
        odd[0] = 1;
        bad[1] = odd;
        assert!(Commitments::from_bytes(&bad, 2).is_err());
        // Every encoding that decodes is the canonical one of its point.
        for b in &bytes {
            assert_eq!(decode_point(b).unwrap().compress().as_bytes(), b);
        }
    }

    #[test]
    fn interpolation_rejects_bad_abscissas() {
        let s = Scalar::ONE;
        assert_eq!(interpolate_at_zero(&[]), Err(VssError::EmptyInterpolation));
        assert_eq!(
            interpolate_at_zero(&[(0, s), (1, s)]),
            Err(VssError::ZeroAbscissa)
        );
        assert_eq!(
            interpolate_at_zero(&[(2, s), (2, s)]),
            Err(VssError::DuplicateAbscissa(2))
        );
        assert_eq!(
            interpolate_pair_at_zero(&[(0, s, s)]),
            Err(VssError::ZeroAbscissa)
        );
    }

    #[test]
    #[should_panic]
    fn share_at_zero_panics() {
        let _ = Dealing::new(1, 1, &mut rng(4)).share(0);
    }

    #[test]
    fn opening_proof_binds_context_and_commitment() {
        let mut r = rng(5);
        let (g, _) = generators();
        let (mine, other) = (Dealing::new(42, 2, &mut r), Dealing::new(9, 2, &mut r));
        let (c, c2) = (mine.commitments().c0(), other.commitments().c0());
        let (a, b) = (Scalar::from(42u64), mine.value_blinding());
        let proof = OpeningProof::prove(&c, &a, &b, &ctx(1, 10), &mut r);
        assert!(proof.verify(&c, &ctx(1, 10)));
        assert!(!proof.verify(&c, &ctx(2, 10)), "other round");
        assert!(!proof.verify(&c, &ctx(1, 11)), "other meter");
        assert!(!proof.verify(&-c, &ctx(1, 10)), "inverted");
        assert!(!proof.verify(&(c + c2), &ctx(1, 10)), "combined");
        assert!(
            !proof.verify(&(c + Scalar::from(5u64) * g), &ctx(1, 10)),
            "offset"
        );
        // Meter 11 copies meter 10's C_0 and proof into its own bundle.
        assert!(!proof.verify(&c, &ctx(1, 11)));
        let bytes = proof.to_bytes();
        assert_eq!(OpeningProof::from_bytes(&bytes).unwrap(), proof);
        assert!(OpeningProof::from_bytes(&bytes[..95]).is_err());
        for i in [0, 31, 32, 50, 64, 95] {
            let mut t = bytes;
            t[i] ^= 1;
            if let Ok(p) = OpeningProof::from_bytes(&t) {
                assert!(!p.verify(&c, &ctx(1, 10)), "tampered byte {i}");
            }
        }
        let mut t = bytes;
        t[32..64].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            OpeningProof::from_bytes(&t),
            Err(VssError::MalformedOpeningProof)
        );
    }

    /// Deals `values`, returning (blindings, C_0 encodings).
    fn bundle(values: &[u64], r: &mut ChaCha20Rng) -> (Vec<Scalar>, Vec<CompressedRistretto>) {
        values
            .iter()
            .map(|&v| {
                let d = Dealing::new(v, 2, r);
                (d.value_blinding(), d.commitments().c0_compressed())
            })
            .unzip()
    }

    #[test]
    fn range_proofs_for_eight_and_sixteen_values() {
        let mut r = rng(6);
        for values in [
            vec![0, 1, 2, 300, 65535, 7, 8, 9],
            (0..16).map(|i| i * 4000).collect::<Vec<u64>>(),
        ] {
            range_proof_verifies_and_binds(&values, &mut r);
        }
    }

    fn range_proof_verifies_and_binds(values: &[u64], r: &mut ChaCha20Rng) {
        let (blinds, comms) = bundle(values, r);
        for bits in [16, 32] {
            let proof = RangeProof::prove_range(values, &blinds, bits, &ctx(1, 3), r).unwrap();
            assert_eq!(proof.verify_range(&comms, bits, &ctx(1, 3)), Ok(()));
            assert!(proof.verify_range(&comms, bits, &ctx(2, 3)).is_err());
            let mut changed = comms.clone();
            let (g, _) = generators();
            changed[3] = (changed[3].decompress().unwrap() + g).compress();
            assert!(proof.verify_range(&changed, bits, &ctx(1, 3)).is_err());
            let parsed = RangeProof::from_bytes(&proof.to_bytes()).unwrap();
            assert_eq!(parsed.verify_range(&comms, bits, &ctx(1, 3)), Ok(()));
        }
    }

    #[test]
    fn range_proof_rejects_out_of_range_and_bad_parameters() {
        let mut r = rng(7);
        let (blinds, _) = bundle(&[1 << 16], &mut r);
        assert_eq!(
            RangeProof::prove_range(&[1 << 16], &blinds, 16, b"c", &mut r).err(),
            Some(VssError::ValueOutOfRange { index: 0, bits: 16 })
        );
        assert!(RangeProof::prove_range(&[1 << 16], &blinds, 32, b"c", &mut r).is_ok());
        assert!(RangeProof::prove_range(&[u64::MAX], &blinds, 64, b"c", &mut r).is_ok());
        assert_eq!(
            RangeProof::prove_range(&[1], &blinds, 12, b"c", &mut r).err(),
            Some(VssError::InvalidBits(12))
        );
        assert_eq!(
            RangeProof::prove_range(&[0; 17], &[Scalar::ZERO; 17], 8, b"c", &mut r).err(),
            Some(VssError::WrongValueCount(17))
        );
        assert!(RangeProof::prove_range(&[1, 2], &blinds, 8, b"c", &mut r).is_err());
        assert_eq!(
            RangeProof::from_bytes(&[0u8; MAX_RANGE_PROOF_BYTES + 32]).err(),
            Some(VssError::RangeProofTooLarge(MAX_RANGE_PROOF_BYTES + 32))
        );
        assert!(RangeProof::from_bytes(&[1u8; 100]).is_err());
    }

    #[test]
    fn range_proofs_pad_odd_bundles_and_batch() {
        let mut r = rng(8);
        let (b1, c1) = bundle(&[5], &mut r);
        let (b3, c3) = bundle(&[10, 20, 30], &mut r);
        let p1 = RangeProof::prove_range(&[5], &b1, 8, &ctx(1, 1), &mut r).unwrap();
        let p3 = RangeProof::prove_range(&[10, 20, 30], &b3, 8, &ctx(1, 2), &mut r).unwrap();
        assert_eq!(p1.verify_range(&c1, 8, &ctx(1, 1)), Ok(()));
        assert_eq!(p3.verify_range(&c3, 8, &ctx(1, 2)), Ok(()));
        assert!(p3.verify_range(&c3[..2], 8, &ctx(1, 2)).is_err());
        let ctx11 = ctx(1, 1);
        let ctx12 = ctx(1, 2);
        let items: Vec<(&RangeProof, &[CompressedRistretto], &[u8])> =
            vec![(&p1, &c1, &ctx11), (&p3, &c3, &ctx12)];
        assert_eq!(verify_ranges_batch(&items, 8), Ok(()));
        let swapped: Vec<(&RangeProof, &[CompressedRistretto], &[u8])> =
            vec![(&p1, &c1, &ctx11), (&p3, &c3, &ctx11)];
        assert!(matches!(
            verify_ranges_batch(&swapped, 8),
            Err(VssError::BatchItemInvalid { index: 1, .. })
        ));
    }

    #[test]
    fn scalar_conversions() {
        assert_eq!(scalar_to_u64(&Scalar::from(u64::MAX)), Some(u64::MAX));
        let two64 = Scalar::from(u64::MAX) + Scalar::ONE;
        assert_eq!(scalar_to_u64(&two64), None);
        assert_eq!(scalar_to_u64(&-Scalar::ONE), None);
        let s = Scalar::from(0x0102_0304u64) * two64 + Scalar::from(77u64);
        let be = scalar_to_be_bytes(&s);
        assert_eq!(scalar_from_be_bytes(&be), Some(s));
        let mut long = vec![0u8; 8];
        long.extend_from_slice(&be);
        assert_eq!(scalar_from_be_bytes(&long), Some(s));
        assert_eq!(scalar_from_be_bytes(&[]), Some(Scalar::ZERO));
        assert_eq!(scalar_from_be_bytes(&[1, 0]), Some(Scalar::from(256u64)));
        // q itself (= -1 + 1) is not canonical.
        let mut q = scalar_to_be_bytes(&-Scalar::ONE);
        q[31] += 1;
        assert_eq!(scalar_from_be_bytes(&q), None);
        assert_eq!(scalar_from_be_bytes(&[1u8; 33]), None);
    }
}
