//! Paillier "daily seat keys" for protocol v2 (DJN-style encryption with a
//! hashed base), plus two non-interactive proofs:
//!
//! * [`KeyProof`]: the Goldberg–Reyzin–Sagga–Baldimtsi (2019) certificate
//!   that `n` has no prime factor below 2^16 and `gcd(n, φ(n)) = 1`, so that
//!   n-th roots modulo `n` are unique and every ciphertext has exactly one
//!   opening `(m, ρ)`.
//! * [`PlaintextProof`]: a Fiat–Shamir Σ-protocol proving knowledge of the
//!   opening `(m, ρ)` of a ciphertext `c = (1+n)^m · ρ^n mod n²`.
//!
//! Encryption uses `c = (1 + m·n) · h_s^r mod n²` with a fresh `r` of `|n|/2`
//! bits, where `h_s = y^n mod n²` and `y = HashToZn(context, n)`. Both powers of `r`
//! (`h_s^r mod n²` and `ρ = y^r mod n`) come from constant-time fixed-base tables built on the
//! key's first encryption and shared by its clones ([`super::fixed_base`]: 96 bytes per modulus
//! bit, 192 KiB for a 2048-bit key, 288 KiB for 3072); [`Exponentiation::PowmSec`] keeps the
//! table-free path (`mpz_powm_sec`), with identical results. The base
//! `h_s` is *derived by hashing*, never chosen by the key owner: a proof that
//! a published `h_s` is an n-th residue is only sound up to `1/p` for the
//! smallest prime factor `p` of `n`, whereas hashing `y` makes `h_s = y^n` an
//! n-th residue by construction. A key owner therefore cannot publish e.g.
//! `h' = (1+n)·y^n` and later "frame" honest ciphertexts as encrypting other
//! plaintexts.
//!
//! All hashing is SHA-256 with 4-byte big-endian length prefixes. Secret
//! material is wiped on drop (best effort: GMP temporaries are not tracked).

use super::fixed_base::FixedBase;
use rug::integer::{IsPrime, Order};
use rug::ops::RemRounding;
use rug::{Assign, Integer};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// Smallest modulus size (in bits) accepted; production keys use 2048.
pub const MIN_MODULUS_BITS: u32 = 512;
/// Number of n-th roots in a [`KeyProof`] (α^-8 = 2^-128 soundness).
pub const KEY_PROOF_ROOTS: usize = 8;
/// Trial-division bound α of the key proof.
pub const KEY_PROOF_ALPHA: u32 = 1 << 16;
/// Hash label for the seat base `y`.
pub const LABEL_Y: &[u8] = b"zebra-zeal/v2/paillier-y";
/// Hash label for the key-proof elements `ρ_i`.
pub const LABEL_KEY_PROOF: &[u8] = b"zebra-zeal/v2/key-proof";
/// Hash label for the plaintext-proof challenge.
pub const LABEL_PLAINTEXT_PROOF: &[u8] = b"zebra-zeal/v2/plaintext-proof";

/// Errors of the Paillier module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaillierError {
    /// The modulus does not have the expected number of bits.
    #[error("wrong modulus size: expected {expected} bits, got {got}")]
    WrongModulusSize {
        /// Expected bit length.
        expected: u32,
        /// Actual bit length.
        got: u32,
    },
    /// An encoding had the wrong length.
    #[error("wrong encoding length: expected {expected} bytes, got {got}")]
    WrongLength {
        /// Expected byte length.
        expected: usize,
        /// Actual byte length.
        got: usize,
    },
    /// A value is not in the required multiplicative group.
    #[error("value is not in the multiplicative group")]
    NotInGroup,
    /// The modulus has a prime factor below 2^16.
    #[error("modulus has a small prime factor")]
    SmallFactor,
    /// A proof did not verify.
    #[error("proof verification failed")]
    BadProof,
    /// Malformed input.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// The plaintext is not in `[0, n)`.
    #[error("plaintext out of range [0, n)")]
    PlaintextOutOfRange,
}

// ---------------------------------------------------------------- helpers --

/// Overwrites the limbs of `x` with zeros and sets it to 0.
fn wipe(x: &mut Integer) {
    let raw = x.as_raw_mut();
    // SAFETY: `d` points to `alloc` limbs owned by `x` (no writes if alloc == 0,
    // in which case `d` may point to a shared dummy limb).
    unsafe {
        let alloc = usize::try_from((*raw).alloc).unwrap_or(0);
        let d = (*raw).d.as_ptr();
        for i in 0..alloc {
            std::ptr::write_volatile(d.add(i), 0);
        }
    }
    x.assign(0);
}

fn byte_len(bits: u32) -> usize {
    bits.div_ceil(8) as usize
}

/// Big-endian encoding of `0 <= x < 256^len` in exactly `len` bytes.
fn fixed_bytes(x: &Integer, len: usize) -> Vec<u8> {
    assert!(x.cmp0().is_ge() && x.significant_digits::<u8>() <= len);
    let mut out = vec![0u8; len];
    x.write_digits(&mut out, Order::Msf);
    out
}

/// Sets `x` to the big-endian unsigned integer `bytes`, read eight bytes at a time into `limbs`
/// (a scratch buffer): GMP imports native-order words by copying, bytes one by one.
fn assign_be_bytes(x: &mut Integer, bytes: &[u8], limbs: &mut Vec<u64>) {
    limbs.clear();
    let mut words = bytes.rchunks_exact(8);
    limbs.extend((&mut words).map(|w| u64::from_be_bytes(w.try_into().expect("eight bytes"))));
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut top = [0u8; 8];
        top[8 - rest.len()..].copy_from_slice(rest);
        limbs.push(u64::from_be_bytes(top));
    }
    x.assign_digits(limbs, Order::Lsf);
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("hash input shorter than 4 GiB");
    h.update(len.to_be_bytes());
    h.update(bytes);
}

/// HashToZn: SHA-256 in counter mode over `len‖label‖len‖ctx‖n‖counter`,
/// expanded to `|n| + 128` bits and reduced mod `n` (statistically uniform).
fn hash_to_zn(label: &[u8], ctx: &[u8], n: &Integer, bits: u32) -> Integer {
    let n_bytes = fixed_bytes(n, byte_len(bits));
    let out_len = byte_len(bits + 128);
    let mut out = Vec::with_capacity(out_len + 32);
    let mut counter = 0u32;
    while out.len() < out_len {
        let mut h = Sha256::new();
        put(&mut h, label);
        put(&mut h, ctx);
        h.update(&n_bytes);
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(out_len);
    Integer::from_digits(&out, Order::Msf) % n
}

/// Uniform integer in `[0, 2^bits)`.
fn random_bits(bits: u32, rng: &mut (impl rand::CryptoRng + ?Sized)) -> Integer {
    let mut buf = Zeroizing::new(vec![0u8; byte_len(bits)]);
    rng.fill_bytes(&mut buf);
    Integer::from_digits(&buf, Order::Msf).keep_bits(bits)
}

/// Uniform integer in `[0, bound)`.
fn random_below(bound: &Integer, rng: &mut (impl rand::CryptoRng + ?Sized)) -> Integer {
    loop {
        let x = random_bits(bound.significant_bits(), rng);
        if x < *bound {
            return x;
        }
    }
}

/// Uniform element of Z*_n.
fn random_unit(n: &Integer, rng: &mut (impl rand::CryptoRng + ?Sized)) -> Integer {
    loop {
        let x = random_below(n, rng);
        if in_group(&x, n) {
            return x;
        }
    }
}

/// Random prime of exactly `bits` bits with the top two bits set.
fn random_prime(bits: u32, rng: &mut (impl rand::CryptoRng + ?Sized)) -> Integer {
    loop {
        let mut x = random_bits(bits, rng);
        x.set_bit(bits - 1, true)
            .set_bit(bits - 2, true)
            .set_bit(0, true);
        if x.is_probably_prime(40) != IsPrime::No {
            return x;
        }
    }
}

/// `0 < x < modulus` and `gcd(x, n) = 1` (n = modulus or its square root).
fn in_group(x: &Integer, modulus: &Integer) -> bool {
    x.cmp0().is_gt() && x < modulus && Integer::from(x.gcd_ref(modulus)) == 1
}

/// Public-exponent modular power.
fn powm(base: &Integer, exp: &Integer, m: &Integer) -> Integer {
    Integer::from(base.pow_mod_ref(exp, m).expect("non-negative exponent"))
}

/// Secret-exponent (or secret-base) modular power via `mpz_powm_sec`.
fn spowm(base: &Integer, exp: &Integer, m: &Integer) -> Integer {
    if exp.cmp0().is_eq() {
        return Integer::from(1) % m;
    }
    Integer::from(base.secure_pow_mod_ref(exp, m))
}

/// Primes below [`KEY_PROOF_ALPHA`], sieved once.
fn small_primes() -> &'static [u32] {
    static PRIMES: OnceLock<Vec<u32>> = OnceLock::new();
    PRIMES.get_or_init(|| {
        let limit = KEY_PROOF_ALPHA as usize;
        let mut composite = vec![false; limit];
        let mut primes = Vec::new();
        for i in 2..limit {
            if !composite[i] {
                primes.push(i as u32);
                (i * i..limit).step_by(i).for_each(|j| composite[j] = true);
            }
        }
        primes
    })
}

// ------------------------------------------------------------- public key --

/// A fold in progress: per index, the product mod n² of the ciphertexts pushed so far
/// ([`SeatPublicKey::column_fold`]).
#[derive(Debug)]
pub struct ColumnFold<'k> {
    key: &'k SeatPublicKey,
    acc: Vec<Integer>,
    parsed: Vec<Integer>,
    limbs: Vec<u64>,
}

impl ColumnFold<'_> {
    /// Parses one sender's ciphertexts (exactly the fold's width, each checked as by
    /// [`SeatPublicKey::parse_for_fold`]) and multiplies them in. On `Err` nothing is folded.
    pub fn push(&mut self, ciphertexts: &[Vec<u8>]) -> Result<(), PaillierError> {
        if ciphertexts.len() != self.acc.len() {
            return Err(PaillierError::WrongLength {
                expected: self.acc.len(),
                got: ciphertexts.len(),
            });
        }
        for (c, bytes) in self.parsed.iter_mut().zip(ciphertexts) {
            self.key.parse_for_fold_into(c, bytes, &mut self.limbs)?;
        }
        for (acc, c) in self.acc.iter_mut().zip(&self.parsed) {
            *acc *= c;
            *acc %= &self.key.n2;
        }
        Ok(())
    }

    /// The products, one per index (encryptions of 0 with ρ = 1 if nothing was pushed).
    pub fn finish(self) -> Vec<Ciphertext> {
        self.acc.into_iter().map(Ciphertext).collect()
    }
}

/// How encryption raises `h_s` and `y` to its exponent `r`; both give the same results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exponentiation {
    /// The key's fixed-base tables (built on first use, shared by clones): the default.
    FixedBase,
    /// `mpz_powm_sec` on each call, no table: the reference path (and the benchmark's baseline).
    PowmSec,
}

/// The fixed-base tables of a key's encryption bases.
#[derive(Debug)]
pub(crate) struct Tables {
    /// `h_s` mod n², exponents of `|n|/2` bits.
    pub(crate) h_s: FixedBase,
    /// `y` mod n, exponents of `|n|/2` bits.
    pub(crate) y: FixedBase,
}

/// A key's tables, built once on first use and shared read-only by the key's clones. Not part
/// of the key's value: two keys are equal whether or not either has built them.
#[derive(Clone, Default)]
struct TableCache(Arc<OnceLock<Tables>>);

impl PartialEq for TableCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TableCache {}

impl std::fmt::Debug for TableCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            Some(t) => write!(
                f,
                "TableCache(built, {} bytes)",
                t.h_s.table_bytes() + t.y.table_bytes()
            ),
            None => f.write_str("TableCache(not built)"),
        }
    }
}

/// A seat's Paillier public key: modulus `n` and the hash-derived base
/// `h_s = y^n mod n²`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatPublicKey {
    n: Integer,
    n2: Integer,
    h_s: Integer,
    y: Integer,
    bits: u32,
    tables: TableCache,
}

/// A Paillier ciphertext, an element of Z*_{n²}.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext(Integer);

/// Encryption randomness `ρ = y^r mod n`, so `c = (1+n)^m · ρ^n mod n²`.
/// Wiped on drop.
pub struct Randomness {
    rho: Integer,
}

impl Randomness {
    /// The n-th root part `ρ` of the opening.
    pub fn rho(&self) -> &Integer {
        &self.rho
    }
}

impl Drop for Randomness {
    fn drop(&mut self) {
        wipe(&mut self.rho);
    }
}

impl std::fmt::Debug for Randomness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Randomness(<redacted>)")
    }
}

impl Ciphertext {
    /// The ciphertext as an integer in `[0, n²)`.
    pub fn as_integer(&self) -> &Integer {
        &self.0
    }

    /// Fixed-width big-endian encoding (`pk.ciphertext_len()` bytes).
    pub fn to_bytes(&self, pk: &SeatPublicKey) -> Vec<u8> {
        fixed_bytes(&self.0, pk.ciphertext_len())
    }
}

impl SeatPublicKey {
    /// Builds the public key for modulus `n` bound to `context`
    /// (label ‖ day ‖ region ‖ seat), deriving `y` and `h_s = y^n mod n²`.
    pub fn new(n: Integer, context: &[u8], bits: u32) -> Result<Self, PaillierError> {
        if bits < MIN_MODULUS_BITS || !bits.is_multiple_of(8) {
            return Err(PaillierError::Malformed("unsupported modulus size"));
        }
        if n.cmp0().is_le() || n.significant_bits() != bits {
            let got = if n.cmp0().is_le() {
                0
            } else {
                n.significant_bits()
            };
            return Err(PaillierError::WrongModulusSize {
                expected: bits,
                got,
            });
        }
        if n.is_even() {
            return Err(PaillierError::Malformed("modulus must be odd"));
        }
        let y = hash_to_zn(LABEL_Y, context, &n, bits);
        // gcd(y, n) != 1 would reveal a factor of n.
        if !in_group(&y, &n) {
            return Err(PaillierError::NotInGroup);
        }
        let n2 = Integer::from(n.square_ref());
        let h_s = powm(&y, &n, &n2);
        Ok(SeatPublicKey {
            n,
            n2,
            h_s,
            y,
            bits,
            tables: TableCache::default(),
        })
    }

    /// The key's fixed-base tables, built on first use (about 10 ms for a 2048-bit key).
    pub(crate) fn tables(&self) -> &Tables {
        self.tables.0.get_or_init(|| Tables {
            h_s: FixedBase::new(&self.h_s, &self.n2, self.bits / 2),
            y: FixedBase::new(&self.y, &self.n, self.bits / 2),
        })
    }

    /// Builds the key's fixed-base tables now rather than on its first encryption (a gateway
    /// may do so when the day's keys close) and returns their size in bytes: 96 per modulus bit
    /// (192 KiB at 2048 bits, 288 KiB at 3072), shared by every clone of the key.
    pub fn precompute(&self) -> usize {
        let t = self.tables();
        t.h_s.table_bytes() + t.y.table_bytes()
    }

    /// Parses a fixed-width (`bits/8` bytes) big-endian modulus.
    pub fn from_bytes(bytes: &[u8], context: &[u8], bits: u32) -> Result<Self, PaillierError> {
        let expected = byte_len(bits);
        if bytes.len() != expected {
            return Err(PaillierError::WrongLength {
                expected,
                got: bytes.len(),
            });
        }
        Self::new(Integer::from_digits(bytes, Order::Msf), context, bits)
    }

    /// Fixed-width big-endian encoding of `n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        fixed_bytes(&self.n, self.n_len())
    }

    /// The modulus `n`.
    pub fn n(&self) -> &Integer {
        &self.n
    }

    /// `n²`.
    pub fn n_squared(&self) -> &Integer {
        &self.n2
    }

    /// The hash-derived base `y ∈ Z*_n`.
    pub fn y(&self) -> &Integer {
        &self.y
    }

    /// The encryption base `h_s = y^n mod n²`.
    pub fn h_s(&self) -> &Integer {
        &self.h_s
    }

    /// Bit length of `n`.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    fn n_len(&self) -> usize {
        byte_len(self.bits)
    }

    /// Byte length of an encoded ciphertext (width of `n²`).
    pub fn ciphertext_len(&self) -> usize {
        2 * self.n_len()
    }

    /// Usable plaintext bits (`bits - 1`; every plaintext must be `< n`).
    pub fn plaintext_bits(&self) -> u32 {
        self.bits - 1
    }

    fn check_plaintext(&self, m: &Integer) -> Result<(), PaillierError> {
        if m.cmp0().is_lt() || *m >= self.n {
            return Err(PaillierError::PlaintextOutOfRange);
        }
        Ok(())
    }

    /// Encrypts `0 <= m < n` with a fresh `r` of `|n|/2` bits.
    pub fn encrypt(
        &self,
        m: &Integer,
        rng: &mut (impl rand::CryptoRng + ?Sized),
    ) -> Result<(Ciphertext, Randomness), PaillierError> {
        self.encrypt_using(m, Exponentiation::FixedBase, rng)
    }

    /// [`Self::encrypt`] computing `h_s^r` and `y^r` as `how` says (same randomness drawn, same
    /// results).
    pub fn encrypt_using(
        &self,
        m: &Integer,
        how: Exponentiation,
        rng: &mut (impl rand::CryptoRng + ?Sized),
    ) -> Result<(Ciphertext, Randomness), PaillierError> {
        self.check_plaintext(m)?;
        let mut r = loop {
            let r = random_bits(self.bits / 2, rng);
            if r.cmp0().is_gt() {
                break r;
            }
        };
        let out = self.encrypt_with_using(m, &r, how);
        wipe(&mut r);
        out
    }

    /// Deterministic encryption with exponent `r > 0`:
    /// `c = (1 + m·n) · h_s^r mod n²`, `ρ = y^r mod n`.
    pub fn encrypt_with(
        &self,
        m: &Integer,
        r: &Integer,
    ) -> Result<(Ciphertext, Randomness), PaillierError> {
        self.encrypt_with_using(m, r, Exponentiation::FixedBase)
    }

    /// [`Self::encrypt_with`] computing the powers as `how` says. Exponents wider than `|n|/2`
    /// bits (never drawn by [`Self::encrypt`]) take `mpz_powm_sec` either way.
    pub fn encrypt_with_using(
        &self,
        m: &Integer,
        r: &Integer,
        how: Exponentiation,
    ) -> Result<(Ciphertext, Randomness), PaillierError> {
        self.check_plaintext(m)?;
        if r.cmp0().is_le() {
            return Err(PaillierError::Malformed(
                "randomness exponent must be positive",
            ));
        }
        let (mut h_s_r, rho) = match how {
            Exponentiation::FixedBase if r.significant_bits() <= self.bits / 2 => {
                let t = self.tables();
                (t.h_s.pow(r), t.y.pow(r))
            }
            _ => (spowm(&self.h_s, r, &self.n2), spowm(&self.y, r, &self.n)),
        };
        // 1 + m·n < n² since m < n.
        let gm = Integer::from(m * &self.n) + 1u32;
        let c = Integer::from(&gm * &h_s_r) % &self.n2;
        wipe(&mut h_s_r);
        Ok((Ciphertext(c), Randomness { rho }))
    }

    /// Parses a fixed-width ciphertext and checks it lies in Z*_{n²}.
    pub fn parse_ciphertext(&self, bytes: &[u8]) -> Result<Ciphertext, PaillierError> {
        let c = self.parse_for_fold(bytes)?;
        if !self.in_zn2_star(&c.0) {
            return Err(PaillierError::NotInGroup);
        }
        Ok(c)
    }

    /// Parses a ciphertext for folding: exact width and `0 < c < n²`, without the gcd test of
    /// [`SeatPublicKey::parse_ciphertext`] (the costly part). A c that shares a factor with n can
    /// only come from someone who knows the factorisation; in a fold it makes the seat's check
    /// fail, and the seat's scan then names it with the full test.
    pub fn parse_for_fold(&self, bytes: &[u8]) -> Result<Ciphertext, PaillierError> {
        let mut c = Integer::new();
        self.parse_for_fold_into(&mut c, bytes, &mut Vec::new())?;
        Ok(Ciphertext(c))
    }

    /// [`SeatPublicKey::parse_for_fold`] into `c`, reusing its allocation and `limbs`.
    fn parse_for_fold_into(
        &self,
        c: &mut Integer,
        bytes: &[u8],
        limbs: &mut Vec<u64>,
    ) -> Result<(), PaillierError> {
        let expected = self.ciphertext_len();
        if bytes.len() != expected {
            return Err(PaillierError::WrongLength {
                expected,
                got: bytes.len(),
            });
        }
        assign_be_bytes(c, bytes, limbs);
        if c.cmp0().is_le() || *c >= self.n2 {
            return Err(PaillierError::NotInGroup);
        }
        Ok(())
    }

    /// Starts a fold of `width` ciphertexts per sender, fed sender by sender as bytes
    /// ([`ColumnFold::push`]): the same products as parsing every ciphertext with
    /// [`SeatPublicKey::parse_for_fold`] and folding each index with [`SeatPublicKey::fold`],
    /// without keeping the parsed column.
    pub fn column_fold(&self, width: usize) -> ColumnFold<'_> {
        ColumnFold {
            key: self,
            acc: vec![Integer::from(1); width],
            parsed: vec![Integer::new(); width],
            limbs: Vec::new(),
        }
    }

    /// `0 < x < n²` and `gcd(x, n) = 1`.
    fn in_zn2_star(&self, x: &Integer) -> bool {
        x.cmp0().is_gt() && *x < self.n2 && Integer::from(x.gcd_ref(&self.n)) == 1
    }

    /// Homomorphic sum: `Π c_i mod n²` (encryption of 0 with ρ = 1 if empty).
    pub fn fold(&self, cts: &[&Ciphertext]) -> Ciphertext {
        let mut acc = Integer::from(1);
        for c in cts {
            acc *= &c.0;
            acc %= &self.n2;
        }
        Ciphertext(acc)
    }

    /// Homomorphic weighted sum `Π c_i^{w_i} mod n²`, using shared squarings
    /// (Straus, 1-bit window) over the 32-bit weights.
    pub fn weighted_fold(&self, terms: &[(&Ciphertext, u32)]) -> Ciphertext {
        let top = terms
            .iter()
            .map(|&(_, w)| 32 - w.leading_zeros())
            .max()
            .unwrap_or(0);
        let mut acc = Integer::from(1);
        for bit in (0..top).rev() {
            acc.square_mut();
            acc %= &self.n2;
            for &(c, w) in terms {
                if (w >> bit) & 1 == 1 {
                    acc *= &c.0;
                    acc %= &self.n2;
                }
            }
        }
        Ciphertext(acc)
    }

    /// Checks `m ∈ [0, n)`, `ρ ∈ Z*_n` and `c = (1 + m·n) · ρ^n mod n²`.
    pub fn verify_opening(&self, c: &Ciphertext, m: &Integer, rho: &Integer) -> bool {
        if self.check_plaintext(m).is_err() || !in_group(rho, &self.n) {
            return false;
        }
        let gm = Integer::from(m * &self.n) + 1u32;
        let expect = Integer::from(&gm * &powm(rho, &self.n, &self.n2)) % &self.n2;
        expect == c.0
    }
}

// ------------------------------------------------------------- secret key --

/// A seat's Paillier secret key (primes `p`, `q` and CRT precomputations).
/// Wiped on drop (every clone too); its `Debug` output never contains secrets.
#[derive(Clone)]
pub struct SeatSecretKey {
    public: SeatPublicKey,
    p: Integer,
    q: Integer,
    phi: Integer,
    p2: Integer,
    q2: Integer,
    /// `L_p((1+n)^{p-1} mod p²)^{-1} = (-q)^{-1} mod p`.
    hp: Integer,
    hq: Integer,
    /// `n^{-1} mod (p-1)` and `n^{-1} mod (q-1)`: n-th root exponents.
    dp: Integer,
    dq: Integer,
    /// `q^{-1} mod p` for CRT recombination.
    q_inv: Integer,
}

impl SeatSecretKey {
    /// Generates a key with an exactly-`bits`-bit modulus (two `bits/2`-bit
    /// primes with the top two bits set), bound to `context`.
    ///
    /// # Panics
    /// If `bits` is below [`MIN_MODULUS_BITS`] or not a multiple of 16.
    pub fn generate(
        bits: u32,
        context: &[u8],
        rng: &mut (impl rand::CryptoRng + ?Sized),
    ) -> SeatSecretKey {
        assert!(
            bits >= MIN_MODULUS_BITS && bits.is_multiple_of(16),
            "unsupported modulus size"
        );
        loop {
            let p = random_prime(bits / 2, rng);
            let q = random_prime(bits / 2, rng);
            if p == q {
                continue;
            }
            if let Ok(sk) = Self::from_primes(p, q, context, bits) {
                return sk;
            }
        }
    }

    fn from_primes(
        mut p: Integer,
        mut q: Integer,
        context: &[u8],
        bits: u32,
    ) -> Result<Self, PaillierError> {
        let n = Integer::from(&p * &q);
        let pm1 = Integer::from(&p - 1u32);
        let qm1 = Integer::from(&q - 1u32);
        let phi = Integer::from(&pm1 * &qm1);
        let inv = |x: Integer, m: &Integer| x.invert(m).map_err(|_| PaillierError::NotInGroup);
        let key = (|| {
            let dp = inv(Integer::from(&n % &pm1), &pm1)?;
            let dq = inv(Integer::from(&n % &qm1), &qm1)?;
            let hp = inv(Integer::from(-&q).rem_euc(&p), &p)?;
            let hq = inv(Integer::from(-&p).rem_euc(&q), &q)?;
            let q_inv = inv(Integer::from(&q % &p), &p)?;
            let public = SeatPublicKey::new(n, context, bits)?;
            Ok(SeatSecretKey {
                public,
                p2: Integer::from(p.square_ref()),
                q2: Integer::from(q.square_ref()),
                p: p.clone(),
                q: q.clone(),
                phi,
                hp,
                hq,
                dp,
                dq,
                q_inv,
            })
        })();
        wipe(&mut p);
        wipe(&mut q);
        key
    }

    /// The public key.
    pub fn public(&self) -> &SeatPublicKey {
        &self.public
    }

    /// Serialises the secret key: `len_p (u32 BE) ‖ p ‖ len_q ‖ q`.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        for x in [&self.p, &self.q] {
            let len = x.significant_digits::<u8>();
            out.extend_from_slice(&(len as u32).to_be_bytes());
            let start = out.len();
            out.resize(start + len, 0);
            x.write_digits(&mut out[start..], Order::Msf);
        }
        out
    }

    /// Parses [`Self::to_secret_bytes`] output and rebuilds the key for `context`.
    pub fn from_secret_bytes(bytes: &[u8], context: &[u8]) -> Result<Self, PaillierError> {
        let mut rest = bytes;
        let mut next = || -> Result<Integer, PaillierError> {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or(PaillierError::Malformed("truncated secret key"))?;
            let len = u32::from_be_bytes(*len) as usize;
            if tail.len() < len {
                return Err(PaillierError::Malformed("truncated secret key"));
            }
            let (x, tail) = tail.split_at(len);
            rest = tail;
            Ok(Integer::from_digits(x, Order::Msf))
        };
        let (p, q) = (next()?, next()?);
        if !rest.is_empty() {
            return Err(PaillierError::Malformed("trailing bytes in secret key"));
        }
        let half = p.significant_bits();
        if half < MIN_MODULUS_BITS / 2
            || !half.is_multiple_of(8)
            || q.significant_bits() != half
            || p == q
        {
            return Err(PaillierError::Malformed("bad secret primes"));
        }
        if p.is_probably_prime(30) == IsPrime::No || q.is_probably_prime(30) == IsPrime::No {
            return Err(PaillierError::Malformed("secret factor is not prime"));
        }
        Self::from_primes(p, q, context, 2 * half)
    }

    /// CRT recombination of residues mod `p` and mod `q` into `[0, n)`.
    fn crt(&self, xp: &Integer, xq: &Integer) -> Integer {
        let t = Integer::from(xp - xq) * &self.q_inv;
        xq + t.rem_euc(&self.p) * &self.q
    }

    /// The unique n-th root mod `n` of `x` (valid since gcd(n, φ) = 1).
    fn nth_root(&self, x: &Integer) -> Integer {
        let rp = spowm(&Integer::from(x % &self.p), &self.dp, &self.p);
        let rq = spowm(&Integer::from(x % &self.q), &self.dq, &self.q);
        self.crt(&rp, &rq)
    }

    /// Decrypts: `m = L(c^φ mod n²)·φ^{-1} mod n`, computed via CRT
    /// (`m_p = L_p(c^{p-1} mod p²)·h_p mod p`).
    pub fn decrypt(&self, c: &Ciphertext) -> Integer {
        let half = |prime: &Integer, sq: &Integer, h: &Integer| {
            let e = Integer::from(prime - 1u32);
            let x = spowm(&Integer::from(&c.0 % sq), &e, sq);
            let l = (x - 1u32) / prime;
            (l * h) % prime
        };
        let mp = half(&self.p, &self.p2, &self.hp);
        let mq = half(&self.q, &self.q2, &self.hq);
        self.crt(&mp, &mq)
    }

    /// Opens `c` as `(m, ρ)` with `c = (1+n)^m · ρ^n mod n²`. Since
    /// `(1+n)^{-m} ≡ 1 (mod n)`, `ρ = (c mod n)^{n^{-1} mod φ} mod n`.
    pub fn open(&self, c: &Ciphertext) -> (Integer, Integer) {
        let m = self.decrypt(c);
        let rho = self.nth_root(&Integer::from(&c.0 % &self.public.n));
        (m, rho)
    }
}

impl Drop for SeatSecretKey {
    fn drop(&mut self) {
        for x in [
            &mut self.p,
            &mut self.q,
            &mut self.phi,
            &mut self.p2,
            &mut self.q2,
            &mut self.hp,
            &mut self.hq,
            &mut self.dp,
            &mut self.dq,
            &mut self.q_inv,
        ] {
            wipe(x);
        }
    }
}

impl std::fmt::Debug for SeatSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeatSecretKey")
            .field("bits", &self.public.bits)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

// -------------------------------------------------------------- key proof --

/// GRSB'19 proof that `n` has no prime factor below 2^16 and
/// `gcd(n, φ(n)) = 1`: n-th roots `σ_i` of 8 hash-derived `ρ_i ∈ Z*_n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyProof {
    sigmas: Vec<Integer>,
    bits: u32,
}

fn key_proof_element(n: &Integer, bits: u32, context: &[u8], i: usize) -> Integer {
    let mut ctx = context.to_vec();
    ctx.extend_from_slice(&(i as u32).to_be_bytes());
    hash_to_zn(LABEL_KEY_PROOF, &ctx, n, bits)
}

impl KeyProof {
    /// Proves well-formedness of `sk`'s modulus, bound to `context`.
    pub fn prove(sk: &SeatSecretKey, context: &[u8]) -> KeyProof {
        let pk = &sk.public;
        let sigmas = (0..KEY_PROOF_ROOTS)
            .map(|i| sk.nth_root(&key_proof_element(&pk.n, pk.bits, context, i)))
            .collect();
        KeyProof {
            sigmas,
            bits: pk.bits,
        }
    }

    /// Verifies the proof for `pk` and `context`.
    pub fn verify(&self, pk: &SeatPublicKey, context: &[u8]) -> Result<(), PaillierError> {
        let n = &pk.n;
        if self.bits != pk.bits {
            return Err(PaillierError::WrongModulusSize {
                expected: pk.bits,
                got: self.bits,
            });
        }
        if self.sigmas.len() != KEY_PROOF_ROOTS {
            return Err(PaillierError::BadProof);
        }
        if n.is_even() || *n <= KEY_PROOF_ALPHA {
            return Err(PaillierError::Malformed("modulus must be odd and > 2^16"));
        }
        if small_primes().iter().any(|&p| n.is_divisible_u(p)) {
            return Err(PaillierError::SmallFactor);
        }
        for (i, sigma) in self.sigmas.iter().enumerate() {
            let rho = key_proof_element(n, pk.bits, context, i);
            if !in_group(&rho, n) {
                return Err(PaillierError::NotInGroup);
            }
            if sigma.cmp0().is_le() || sigma >= n || powm(sigma, n, n) != rho {
                return Err(PaillierError::BadProof);
            }
        }
        Ok(())
    }

    /// Encodes the 8 roots, each `bits/8` bytes big-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let w = byte_len(self.bits);
        self.sigmas.iter().flat_map(|s| fixed_bytes(s, w)).collect()
    }

    /// Decodes exactly 8 fixed-width roots for a `bits`-bit modulus.
    pub fn from_bytes(bytes: &[u8], bits: u32) -> Result<KeyProof, PaillierError> {
        let w = byte_len(bits);
        let expected = KEY_PROOF_ROOTS * w;
        if w == 0 || bytes.len() != expected {
            return Err(PaillierError::WrongLength {
                expected,
                got: bytes.len(),
            });
        }
        let sigmas = bytes
            .chunks(w)
            .map(|b| Integer::from_digits(b, Order::Msf))
            .collect();
        Ok(KeyProof { sigmas, bits })
    }
}

// -------------------------------------------------------- plaintext proof --

/// Fiat–Shamir proof of knowledge of `(m, ρ)` with `c = (1+n)^m ρ^n mod n²`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaintextProof {
    commit: Integer,
    z: Integer,
    w: Integer,
}

/// `e` = first 128 bits of SHA-256(label ‖ context ‖ n ‖ c ‖ A).
fn plaintext_challenge(pk: &SeatPublicKey, c: &Integer, commit: &Integer, ctx: &[u8]) -> Integer {
    let mut h = Sha256::new();
    put(&mut h, LABEL_PLAINTEXT_PROOF);
    put(&mut h, ctx);
    put(&mut h, &pk.to_bytes());
    put(&mut h, &fixed_bytes(c, pk.ciphertext_len()));
    put(&mut h, &fixed_bytes(commit, pk.ciphertext_len()));
    Integer::from_digits(&h.finalize()[..16], Order::Msf)
}

impl PlaintextProof {
    /// Proves knowledge of the opening `(m, rho)` of `c`, bound to `context`.
    /// Masks are full width (`a ∈ Z_n`, `b ∈ Z*_n`) so nothing about `m`, `ρ`
    /// leaks.
    pub fn prove(
        pk: &SeatPublicKey,
        c: &Ciphertext,
        m: &Integer,
        rho: &Integer,
        context: &[u8],
        rng: &mut (impl rand::CryptoRng + ?Sized),
    ) -> PlaintextProof {
        let (n, n2) = (&pk.n, &pk.n2);
        let mut a = random_below(n, rng);
        let mut b = random_unit(n, rng);
        let ga = Integer::from(&a * n) + 1u32;
        let commit = Integer::from(&ga * &spowm(&b, n, n2)) % n2;
        let e = plaintext_challenge(pk, &c.0, &commit, context);
        // (1+n)^{a+em} = (1+n)^{(a+em) mod n} since (1+n)^n ≡ 1 (mod n²);
        // likewise (w + t·n)^n ≡ w^n (mod n²), so z and w are reduced mod n.
        let z = (Integer::from(&e * m) + &a).rem_euc(n);
        let w = Integer::from(&b * &spowm(rho, &e, n)) % n;
        wipe(&mut a);
        wipe(&mut b);
        PlaintextProof { commit, z, w }
    }

    /// Verifies: `A ∈ Z*_{n²}`, `z ∈ [0, n)`, `w ∈ Z*_n` and
    /// `(1 + z·n)·w^n ≡ A·c^e (mod n²)`.
    pub fn verify(&self, pk: &SeatPublicKey, c: &Ciphertext, context: &[u8]) -> bool {
        let (n, n2) = (&pk.n, &pk.n2);
        if !pk.in_zn2_star(&self.commit)
            || !pk.in_zn2_star(&c.0)
            || self.z.cmp0().is_lt()
            || self.z >= *n
            || !in_group(&self.w, n)
        {
            return false;
        }
        let e = plaintext_challenge(pk, &c.0, &self.commit, context);
        let gz = Integer::from(&self.z * n) + 1u32;
        let lhs = Integer::from(&gz * &powm(&self.w, n, n2)) % n2;
        let rhs = Integer::from(&self.commit * &powm(&c.0, &e, n2)) % n2;
        lhs == rhs
    }

    /// Encodes `A ‖ z ‖ w` (widths: n², n, n).
    pub fn to_bytes(&self, pk: &SeatPublicKey) -> Vec<u8> {
        let mut out = fixed_bytes(&self.commit, pk.ciphertext_len());
        out.extend(fixed_bytes(&self.z, pk.n_len()));
        out.extend(fixed_bytes(&self.w, pk.n_len()));
        out
    }

    /// Decodes `A ‖ z ‖ w`; ranges are checked by [`Self::verify`].
    pub fn from_bytes(pk: &SeatPublicKey, bytes: &[u8]) -> Result<PlaintextProof, PaillierError> {
        let (cl, nl) = (pk.ciphertext_len(), pk.n_len());
        let expected = cl + 2 * nl;
        if bytes.len() != expected {
            return Err(PaillierError::WrongLength {
                expected,
                got: bytes.len(),
            });
        }
        let int = |b: &[u8]| Integer::from_digits(b, Order::Msf);
        Ok(PlaintextProof {
            commit: int(&bytes[..cl]),
            z: int(&bytes[cl..cl + nl]),
            w: int(&bytes[cl + nl..]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    const CTX: &[u8] = b"seat-key|2025-01-01|region-7|seat-3";
    const OTHER: &[u8] = b"seat-key|2025-01-02|region-7|seat-3";

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    /// One shared 1024-bit key (keygen is deterministic given the seed).
    fn key() -> &'static SeatSecretKey {
        static KEY: OnceLock<SeatSecretKey> = OnceLock::new();
        KEY.get_or_init(|| SeatSecretKey::generate(1024, CTX, &mut rng(1)))
    }

    fn enc(pk: &SeatPublicKey, m: u64, r: &mut ChaCha20Rng) -> (Ciphertext, Randomness) {
        pk.encrypt(&Integer::from(m), r).unwrap()
    }

    #[test]
    fn keygen_sizes_and_secret_bytes_roundtrip() {
        let sk = key();
        let pk = sk.public();
        assert_eq!(pk.n().significant_bits(), 1024);
        assert_eq!(
            (pk.bits(), pk.ciphertext_len(), pk.plaintext_bits()),
            (1024, 256, 1023)
        );
        assert_eq!(pk.to_bytes().len(), 128);
        assert_eq!(
            &SeatPublicKey::from_bytes(&pk.to_bytes(), CTX, 1024).unwrap(),
            pk
        );
        let bytes = sk.to_secret_bytes();
        let sk2 = SeatSecretKey::from_secret_bytes(&bytes, CTX).unwrap();
        assert_eq!(sk2.public(), pk);
        let (c, _) = enc(pk, 42, &mut rng(2));
        assert_eq!(sk2.decrypt(&c), 42);
        assert!(SeatSecretKey::from_secret_bytes(&bytes[..bytes.len() - 1], CTX).is_err());
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert!(SeatSecretKey::from_secret_bytes(&extra, CTX).is_err());
        // Other context: same n, different y / h_s.
        let sk3 = SeatSecretKey::from_secret_bytes(&bytes, OTHER).unwrap();
        assert_eq!(sk3.public().n(), pk.n());
        assert_ne!(sk3.public().h_s(), pk.h_s());
    }

    #[test]
    fn roundtrip_2048() {
        let mut r = rng(3);
        let sk = SeatSecretKey::generate(2048, CTX, &mut r);
        let pk = sk.public();
        assert_eq!(
            (pk.n().significant_bits(), pk.ciphertext_len()),
            (2048, 512)
        );
        let m = Integer::from(123_456_789u64);
        let (c, rho) = pk.encrypt(&m, &mut r).unwrap();
        assert_eq!(c.to_bytes(pk).len(), 512);
        assert_eq!(pk.parse_ciphertext(&c.to_bytes(pk)).unwrap(), c);
        assert_eq!(sk.decrypt(&c), m);
        assert!(pk.verify_opening(&c, &m, rho.rho()));
        let (m2, rho2) = sk.open(&c);
        assert_eq!((&m2, &rho2), (&m, rho.rho()));
        KeyProof::prove(&sk, CTX).verify(pk, CTX).unwrap();
    }

    #[test]
    fn encrypt_decrypt_open() {
        let sk = key();
        let pk = sk.public();
        let mut r = rng(4);
        let n = pk.n().clone();
        for m in [
            Integer::ZERO,
            Integer::from(1),
            Integer::from(&n - 1u32),
            Integer::from(&n / 3u32),
        ] {
            let (c, rho) = pk.encrypt(&m, &mut r).unwrap();
            assert_eq!(sk.decrypt(&c), m);
            let (m2, rho2) = sk.open(&c);
            assert_eq!(m2, m);
            assert_eq!(&rho2, rho.rho(), "n-th root is unique");
            assert!(pk.verify_opening(&c, &m2, &rho2));
        }
        // CRT decryption agrees with the textbook L(c^φ mod n²)·φ^{-1} mod n.
        let (c, _) = enc(pk, 4242, &mut r);
        let l = (powm(c.as_integer(), &sk.phi, pk.n_squared()) - 1u32) / &n;
        assert_eq!(l * sk.phi.clone().invert(&n).unwrap() % &n, 4242);
        assert_eq!(
            pk.encrypt(&n, &mut r).unwrap_err(),
            PaillierError::PlaintextOutOfRange
        );
        assert!(pk.encrypt(&Integer::from(-1), &mut r).is_err());
        assert!(pk.encrypt_with(&Integer::from(1), &Integer::ZERO).is_err());
        // Deterministic variant, and rho = y^r.
        let (c1, rho1) = pk
            .encrypt_with(&Integer::from(5), &Integer::from(77))
            .unwrap();
        let (c2, _) = pk
            .encrypt_with(&Integer::from(5), &Integer::from(77))
            .unwrap();
        assert_eq!(c1, c2);
        assert_eq!(rho1.rho(), &powm(pk.y(), &Integer::from(77), pk.n()));
        assert!(!format!("{rho1:?}").contains(&rho1.rho().to_string()));
    }

    #[test]
    fn fixed_base_encryption_equals_powm_sec() {
        let pk = key().public();
        let half = pk.bits() / 2;
        let max = (Integer::from(1) << half) - 1u32;
        let mut r = rng(22);
        let mut exps = vec![
            Integer::from(1),
            Integer::from(2),
            max.clone(),
            Integer::from(1) << (half - 1),
        ];
        exps.extend((0..8).map(|_| random_bits(half, &mut r) + 1u32));
        // Wider than |n|/2 (never drawn): mpz_powm_sec either way.
        exps.push(Integer::from(&max + 2u32));
        let m = Integer::from(pk.n() / 3u32);
        for e in &exps {
            let (c1, rho1) = pk
                .encrypt_with_using(&m, e, Exponentiation::FixedBase)
                .unwrap();
            let (c2, rho2) = pk
                .encrypt_with_using(&m, e, Exponentiation::PowmSec)
                .unwrap();
            assert_eq!(c1, c2, "r = {e:x}");
            assert_eq!(rho1.rho(), rho2.rho());
            assert_eq!(rho1.rho(), &powm(pk.y(), e, pk.n()));
            assert!(pk.verify_opening(&c1, &m, rho1.rho()));
        }
        // Encryption draws the same r either way.
        let (a, ra) = pk
            .encrypt_using(&m, Exponentiation::FixedBase, &mut rng(23))
            .unwrap();
        let (b, rb) = pk
            .encrypt_using(&m, Exponentiation::PowmSec, &mut rng(23))
            .unwrap();
        assert_eq!((a, ra.rho()), (b, rb.rho()));
        // Tables: built once on first use, shared by clones, not part of the key's value.
        let fresh = SeatPublicKey::new(pk.n().clone(), CTX, pk.bits()).unwrap();
        assert_eq!(&fresh, pk);
        assert!(format!("{fresh:?}").contains("not built"));
        let clone = fresh.clone();
        assert_eq!(clone.precompute(), 96 * 1024);
        assert!(std::ptr::eq(fresh.tables(), clone.tables()));
        assert_eq!(fresh, clone);
        assert!(format!("{fresh:?}").contains("built, 98304 bytes"));
    }

    #[test]
    fn fold_and_weighted_fold() {
        let sk = key();
        let pk = sk.public();
        let mut r = rng(5);
        let cts: Vec<_> = (1..=5u64).map(|m| enc(pk, m * 1000, &mut r)).collect();
        let refs: Vec<&Ciphertext> = cts.iter().map(|(c, _)| c).collect();
        let sum = pk.fold(&refs);
        assert_eq!(sk.decrypt(&sum), 15_000);
        let rho_prod = cts
            .iter()
            .fold(Integer::from(1), |acc, (_, rho)| acc * rho.rho() % pk.n());
        assert!(pk.verify_opening(&sum, &Integer::from(15_000), &rho_prod));
        let (m, rho) = sk.open(&sum);
        assert!(pk.verify_opening(&sum, &m, &rho));
        assert_eq!(pk.fold(&[]).as_integer(), &1);

        let weights = [3u32, 0, u32::MAX, 1, 65_537];
        let terms: Vec<(&Ciphertext, u32)> = refs.iter().copied().zip(weights).collect();
        let wf = pk.weighted_fold(&terms);
        let naive = terms.iter().fold(Integer::from(1), |acc, (c, w)| {
            acc * powm(c.as_integer(), &Integer::from(*w), pk.n_squared()) % pk.n_squared()
        });
        assert_eq!(wf.as_integer(), &naive);
        let expect: Integer = (1..=5u64)
            .zip(weights)
            .map(|(m, w)| Integer::from(m * 1000) * w)
            .sum();
        assert_eq!(sk.decrypt(&wf), expect);
        let (m, rho) = sk.open(&wf);
        assert!(pk.verify_opening(&wf, &m, &rho));
        assert_eq!(pk.weighted_fold(&[]).as_integer(), &1);
    }

    #[test]
    fn assign_be_bytes_matches_from_digits() {
        let mut r = rng(20);
        let (mut x, mut limbs) = (Integer::new(), Vec::new());
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 128, 255, 256, 512] {
            for fill in [None, Some(0u8), Some(0xff)] {
                let mut bytes = vec![0u8; len];
                match fill {
                    None => r.fill_bytes(&mut bytes),
                    Some(b) => bytes.fill(b),
                }
                if len > 2 {
                    bytes[0] = 0; // leading zero bytes
                }
                assign_be_bytes(&mut x, &bytes, &mut limbs);
                assert_eq!(x, Integer::from_digits(&bytes, Order::Msf), "len {len}");
            }
        }
    }

    #[test]
    fn column_fold_equals_parse_and_fold() {
        let sk = key();
        let pk = sk.public();
        let mut r = rng(21);
        let senders: Vec<Vec<Vec<u8>>> = (0..6u64)
            .map(|s| {
                (0..3u64)
                    .map(|i| enc(pk, 100 * s + i, &mut r).0.to_bytes(pk))
                    .collect()
            })
            .collect();
        let mut fold = pk.column_fold(3);
        for cts in &senders {
            fold.push(cts).unwrap();
        }
        let got = fold.finish();
        for (i, c) in got.iter().enumerate() {
            let parsed: Vec<Ciphertext> = senders
                .iter()
                .map(|s| pk.parse_for_fold(&s[i]).unwrap())
                .collect();
            assert_eq!(*c, pk.fold(&parsed.iter().collect::<Vec<_>>()));
            assert_eq!(
                sk.decrypt(c),
                (0..6u64).map(|s| 100 * s + i as u64).sum::<u64>()
            );
        }
        assert_eq!(pk.column_fold(2).finish(), vec![pk.fold(&[]); 2]);

        // A bad sender among good ones is refused and leaves the fold as it was.
        let len = pk.ciphertext_len();
        let n2_bytes = fixed_bytes(pk.n_squared(), len);
        let bad: Vec<Vec<Vec<u8>>> = vec![
            vec![senders[0][0].clone(), senders[0][1].clone()],
            vec![senders[0][0].clone(), vec![0; len], senders[0][2].clone()],
            vec![senders[0][0].clone(), senders[0][1].clone(), n2_bytes],
            vec![
                senders[0][0][1..].to_vec(),
                senders[0][1].clone(),
                senders[0][2].clone(),
            ],
        ];
        for b in &bad {
            let mut fold = pk.column_fold(3);
            fold.push(&senders[1]).unwrap();
            assert!(fold.push(b).is_err());
            fold.push(&senders[2]).unwrap();
            let only_good = {
                let mut f = pk.column_fold(3);
                f.push(&senders[1]).unwrap();
                f.push(&senders[2]).unwrap();
                f.finish()
            };
            assert_eq!(fold.finish(), only_good);
        }
    }

    #[test]
    fn parse_ciphertext_checks() {
        let pk = key().public();
        let (c, _) = enc(pk, 9, &mut rng(6));
        let bytes = c.to_bytes(pk);
        assert_eq!(pk.parse_ciphertext(&bytes).unwrap(), c);
        assert!(matches!(
            pk.parse_ciphertext(&bytes[1..]),
            Err(PaillierError::WrongLength { .. })
        ));
        let len = pk.ciphertext_len();
        assert_eq!(
            pk.parse_ciphertext(&vec![0; len]),
            Err(PaillierError::NotInGroup)
        );
        assert_eq!(
            pk.parse_ciphertext(&vec![0xff; len]),
            Err(PaillierError::NotInGroup)
        );
        let multiple_of_n = Integer::from(pk.n() * 7u32);
        assert_eq!(
            pk.parse_ciphertext(&fixed_bytes(&multiple_of_n, len)),
            Err(PaillierError::NotInGroup)
        );
    }

    #[test]
    fn public_key_checks_and_hash_derived_base() {
        let pk = key().public();
        let n = pk.n().clone();
        assert!(matches!(
            SeatPublicKey::new(n.clone(), CTX, 2048),
            Err(PaillierError::WrongModulusSize {
                expected: 2048,
                got: 1024
            })
        ));
        assert!(SeatPublicKey::new(Integer::from(&n + 1u32), CTX, 1024).is_err()); // even
        assert!(SeatPublicKey::from_bytes(&pk.to_bytes()[1..], CTX, 1024).is_err());
        // Framing: h_s is a deterministic function of (n, context) and always y^n.
        let again = SeatPublicKey::new(n.clone(), CTX, 1024).unwrap();
        assert_eq!(again.h_s(), pk.h_s());
        assert_eq!(pk.h_s(), &powm(pk.y(), &n, pk.n_squared()));
        assert_eq!(pk.y(), &hash_to_zn(LABEL_Y, CTX, &n, 1024));
        // h_s opens as an encryption of 0 with ρ = y; a malicious
        // h' = (1+n)·y^n would open as 1, but cannot be published.
        let h = Ciphertext(pk.h_s().clone());
        assert!(pk.verify_opening(&h, &Integer::ZERO, pk.y()));
        let h_bad = Ciphertext(Integer::from(&n + 1u32) * pk.h_s() % pk.n_squared());
        assert!(!pk.verify_opening(&h_bad, &Integer::ZERO, pk.y()));
        assert!(pk.verify_opening(&h_bad, &Integer::from(1), pk.y()));
        let mut r = rng(7);
        for m in [0u64, 1, 99] {
            let (c, rho) = enc(&again, m, &mut r);
            assert!(pk.verify_opening(&c, &Integer::from(m), rho.rho()));
        }
    }

    #[test]
    fn verify_opening_rejects_bad_openings() {
        let pk = key().public();
        let (c, rho) = enc(pk, 10, &mut rng(8));
        let (m, n, rho) = (Integer::from(10), pk.n(), rho.rho());
        assert!(pk.verify_opening(&c, &m, rho));
        assert!(!pk.verify_opening(&c, &Integer::from(11), rho));
        assert!(!pk.verify_opening(&c, &m, &Integer::from(rho + 1u32)));
        assert!(!pk.verify_opening(&c, &Integer::from(&m + n), rho));
        assert!(!pk.verify_opening(&c, &m, &Integer::from(rho + n)));
        assert!(!pk.verify_opening(&c, &m, &Integer::ZERO));
    }

    #[test]
    fn hash_to_zn_is_deterministic_and_separated() {
        let n = key().public().n();
        let a = hash_to_zn(LABEL_Y, CTX, n, 1024);
        assert_eq!(a, hash_to_zn(LABEL_Y, CTX, n, 1024));
        assert!(a < *n && a > 0);
        assert_ne!(a, hash_to_zn(LABEL_KEY_PROOF, CTX, n, 1024));
        assert_ne!(a, hash_to_zn(LABEL_Y, OTHER, n, 1024));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let sk = key();
        let s = format!("{sk:?}");
        assert!(s.contains("redacted"));
        for x in [&sk.p, &sk.q] {
            assert!(!s.contains(&x.to_string()) && !s.contains(&x.to_string_radix(16)));
        }
    }

    #[test]
    fn key_proof_honest_and_serialisation() {
        let sk = key();
        let proof = KeyProof::prove(sk, CTX);
        proof.verify(sk.public(), CTX).unwrap();
        let bytes = proof.to_bytes();
        assert_eq!(bytes.len(), 8 * 128);
        assert_eq!(KeyProof::from_bytes(&bytes, 1024).unwrap(), proof);
        assert_eq!(
            proof.verify(sk.public(), OTHER),
            Err(PaillierError::BadProof)
        );
        let other = SeatSecretKey::from_secret_bytes(&sk.to_secret_bytes(), OTHER).unwrap();
        assert!(proof.verify(other.public(), OTHER).is_err());
        KeyProof::prove(&other, OTHER)
            .verify(other.public(), OTHER)
            .unwrap();
    }

    #[test]
    fn key_proof_wrong_length_rejected() {
        let sk = key();
        let proof = KeyProof::prove(sk, CTX);
        let bytes = proof.to_bytes();
        assert!(KeyProof::from_bytes(&bytes[..7 * 128], 1024).is_err());
        assert!(KeyProof::from_bytes(&[bytes.clone(), vec![0; 128]].concat(), 1024).is_err());
        assert!(KeyProof::from_bytes(&bytes, 2048).is_err());
        let mut short = proof.clone();
        short.sigmas.pop();
        assert_eq!(short.verify(sk.public(), CTX), Err(PaillierError::BadProof));
        let mut long = proof.clone();
        long.sigmas.push(Integer::from(1));
        assert_eq!(long.verify(sk.public(), CTX), Err(PaillierError::BadProof));
        let mut tampered = proof.clone();
        tampered.sigmas[3] += 1;
        assert_eq!(
            tampered.verify(sk.public(), CTX),
            Err(PaillierError::BadProof)
        );
        let mut out_of_range = proof;
        out_of_range.sigmas[0] += sk.public().n();
        assert_eq!(
            out_of_range.verify(sk.public(), CTX),
            Err(PaillierError::BadProof)
        );
    }

    /// Roots computed as ρ^d mod n with d = n^{-1} mod `order` (if it exists).
    fn attempted_roots(n: &Integer, order: &Integer, ctx: &[u8]) -> Vec<Integer> {
        let d = Integer::from(n % order).invert(order).unwrap();
        (0..KEY_PROOF_ROOTS)
            .map(|i| powm(&key_proof_element(n, 1024, ctx, i), &d, n))
            .collect()
    }

    #[test]
    fn key_proof_rejects_p_squared_q() {
        let mut r = rng(9);
        let (p, n, pm1q) = loop {
            let p = random_prime(256, &mut r);
            let q = random_prime(512, &mut r);
            let n = Integer::from(p.square_ref()) * &q;
            if n.significant_bits() == 1024 {
                break (p.clone(), n, Integer::from(&p - 1u32) * (q - 1u32));
            }
        };
        let phi = Integer::from(&p * &pm1q);
        assert_eq!(
            Integer::from(n.gcd_ref(&phi)) % &p,
            0,
            "gcd(n, φ(n)) is a multiple of p"
        );
        let pk = SeatPublicKey::new(n.clone(), CTX, 1024).unwrap();
        // Best effort with the factorisation: invert n modulo (p-1)(q-1).
        let sigmas = attempted_roots(&n, &pm1q, CTX);
        let proof = KeyProof { sigmas, bits: 1024 };
        assert_eq!(proof.verify(&pk, CTX), Err(PaillierError::BadProof));
        // Random "roots" fail as well.
        let sigmas = (0..KEY_PROOF_ROOTS)
            .map(|_| random_unit(&n, &mut r))
            .collect();
        let proof = KeyProof { sigmas, bits: 1024 };
        assert_eq!(proof.verify(&pk, CTX), Err(PaillierError::BadProof));
    }

    #[test]
    fn key_proof_rejects_small_factor() {
        let mut r = rng(10);
        let (n, pk, big) = loop {
            let big = random_prime(1022, &mut r);
            if big.mod_u(3) != 2 {
                continue; // want gcd(3, P-1) = 1 so n-th roots exist
            }
            let n = Integer::from(&big * 3u32);
            assert_eq!(n.significant_bits(), 1024);
            if let Ok(pk) = SeatPublicKey::new(n.clone(), CTX, 1024) {
                break (n, pk, big);
            }
        };
        let phi = Integer::from(&big - 1u32) * 2u32;
        let sigmas = attempted_roots(&n, &phi, CTX);
        for (i, s) in sigmas.iter().enumerate() {
            assert_eq!(
                powm(s, &n, &n),
                key_proof_element(&n, 1024, CTX, i),
                "roots are valid"
            );
        }
        let proof = KeyProof { sigmas, bits: 1024 };
        assert_eq!(proof.verify(&pk, CTX), Err(PaillierError::SmallFactor));
    }

    #[test]
    fn small_primes_sieve() {
        let primes = small_primes();
        assert_eq!(primes.len(), 6542);
        assert_eq!((primes[0], primes[primes.len() - 1]), (2, 65521));
    }

    fn proof_setup(
        m: &Integer,
        seed: u64,
    ) -> (Ciphertext, Randomness, PlaintextProof, ChaCha20Rng) {
        let pk = key().public();
        let mut r = rng(seed);
        let (c, rho) = pk.encrypt(m, &mut r).unwrap();
        let proof = PlaintextProof::prove(pk, &c, m, rho.rho(), CTX, &mut r);
        (c, rho, proof, r)
    }

    #[test]
    fn plaintext_proof_honest_and_serialisation() {
        let pk = key().public();
        let (c, _, proof, _) = proof_setup(&Integer::from(31337), 11);
        assert!(proof.verify(pk, &c, CTX));
        let bytes = proof.to_bytes(pk);
        assert_eq!(bytes.len(), 256 + 2 * 128);
        let parsed = PlaintextProof::from_bytes(pk, &bytes).unwrap();
        assert_eq!(parsed, proof);
        assert!(parsed.verify(pk, &c, CTX));
        assert!(PlaintextProof::from_bytes(pk, &bytes[1..]).is_err());
    }

    #[test]
    fn plaintext_proof_m_near_n() {
        let pk = key().public();
        for k in [1u32, 2, 1 << 20] {
            let m = Integer::from(pk.n() - k);
            let (c, _, proof, _) = proof_setup(&m, 12 + u64::from(k));
            assert!(proof.verify(pk, &c, CTX));
            // The unreduced response z + n is rejected even though it satisfies
            // the group equation ((1+n)^n ≡ 1 mod n²).
            let mut big = proof.clone();
            big.z += pk.n();
            assert!(!big.verify(pk, &c, CTX));
        }
    }

    #[test]
    fn plaintext_proof_bound_to_context_and_ciphertext() {
        let pk = key().public();
        let n2 = pk.n_squared();
        let (c, _, proof, mut r) = proof_setup(&Integer::from(7), 13);
        assert!(!proof.verify(pk, &c, OTHER));
        assert!(!proof.verify(pk, &c, b"seat-key|2025-01-01|region-7|seat-4"));
        let (c2, _) = enc(pk, 0, &mut r);
        assert!(!proof.verify(pk, &pk.fold(&[&c, &c2]), CTX));
        let rerand = Ciphertext(spowm(pk.h_s(), &Integer::from(12345), n2) * c.as_integer() % n2);
        assert!(!proof.verify(pk, &rerand, CTX));
        let inv = Ciphertext(c.as_integer().clone().invert(n2).unwrap());
        assert!(!proof.verify(pk, &inv, CTX));
    }

    #[test]
    fn plaintext_proof_needs_the_witness() {
        let pk = key().public();
        let mut r = rng(14);
        let m = Integer::from(500);
        let (c, rho) = pk.encrypt(&m, &mut r).unwrap();
        let wrong_m = PlaintextProof::prove(pk, &c, &Integer::from(501), rho.rho(), CTX, &mut r);
        assert!(!wrong_m.verify(pk, &c, CTX));
        let wrong_rho =
            PlaintextProof::prove(pk, &c, &m, &random_unit(pk.n(), &mut r), CTX, &mut r);
        assert!(!wrong_rho.verify(pk, &c, CTX));
        // Knowing only c: the "opening" (0, c mod n) is not valid either.
        let guess = Integer::from(c.as_integer() % pk.n());
        let p = PlaintextProof::prove(pk, &c, &Integer::ZERO, &guess, CTX, &mut r);
        assert!(!p.verify(pk, &c, CTX));
    }

    #[test]
    fn plaintext_proof_tampering_rejected() {
        let pk = key().public();
        let (n, n2) = (pk.n(), pk.n_squared());
        let (c, _, proof, _) = proof_setup(&Integer::from(99), 15);
        let tweak = |f: &dyn Fn(&mut PlaintextProof)| {
            let mut p = proof.clone();
            f(&mut p);
            p.verify(pk, &c, CTX)
        };
        assert!(tweak(&|_| ()));
        assert!(!tweak(&|p| p.z += 1));
        assert!(!tweak(&|p| p.z = Integer::from(&p.z + n)));
        assert!(!tweak(&|p| p.z = Integer::from(-1)));
        assert!(!tweak(&|p| p.w = Integer::from(&p.w * 2u32) % n));
        assert!(!tweak(&|p| p.w = Integer::from(&p.w + n)));
        assert!(!tweak(&|p| p.w = Integer::ZERO));
        assert!(!tweak(&|p| p.commit = Integer::from(&p.commit * 2u32) % n2));
        assert!(!tweak(&|p| p.commit = Integer::from(&p.commit + n2)));
        assert!(!tweak(&|p| p.commit = Integer::ZERO));
        assert!(!tweak(&|p| p.commit = n.clone()));
    }
}
