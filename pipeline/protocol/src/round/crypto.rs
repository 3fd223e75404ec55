//! The cryptographic operations of a round, on one bignum backend (GMP via `rug`).
//!
//! Everything the state machines need from Paillier, packing, shares and signatures goes through
//! this module, so the backend can be swapped in one place.
//!
//! Paillier with g = n + 1. Encryption is Damgård–Jurik–Nielsen short-exponent:
//! c = (1 + m·n) · h_s^a mod n², with h_s = h^n mod n² published in the registry (h = −x² mod n)
//! and a uniformly random exponent of twice the security level in bits (224 bits for 2048-bit
//! n, 256 for 3072). h_s^a is computed from a fixed-base window table per recipient key.
//! The randomness a key owner recovers is r = h^a mod n, so the public check
//! c == (1 + m·n)·r^n mod n² still proves a decryption, and products of ciphertexts keep it.
//!
//! Constant time: decryption and randomness recovery use GMP's `mpz_powm_sec` (the exponents
//! are secret). The fixed-base table lookup is indexed by the secret exponent and is *not*
//! constant time: a cache-timing attacker co-located with the gateway could learn `a`, hence
//! the share under that ciphertext. We accept this for the gateway hosts we target (dedicated
//! devices or single-tenant hosts); multi-tenant deployments should use plain encryption
//! ([`MeterPublicKeys::encrypt_plain`], `secure_pow_mod`), about 40× slower. See
//! docs/protocol.md.

use super::RoundKey;
use crate::error::ProtocolError;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rand::{CryptoRng, RngCore};
use rug::Complete;
/// The bignum type of the backend (GMP), re-exported for callers that build plaintexts.
pub use rug::Integer;
use rug::integer::Order;
use std::fmt;
use std::sync::{Arc, OnceLock};
use zeal_schemas::codec::{Signed, signing_bytes};
use zeal_schemas::{MeterEnrolment, MeterStatus};
use zeroize::Zeroizing;

/// Smallest Paillier modulus accepted anywhere (DESIGN §4).
pub const MIN_KEY_BITS: u32 = 2048;

/// Bits of the DJN short exponent for a modulus size: twice the security level.
pub fn short_exponent_bits(modulus_bits: u32) -> u32 {
    if modulus_bits >= 3072 { 256 } else { 224 }
}

/// Fixed-base window width (bits). 5 bits: 45 multiplications per 224-bit exponent and a
/// 0.7 MiB table per 2048-bit key (measured: see `zeal bench crypto`).
pub const WINDOW_BITS: u32 = 5;

fn to_fixed_bytes(x: &Integer, width: usize) -> Vec<u8> {
    let digits = x.to_digits::<u8>(Order::Msf);
    let mut out = vec![0u8; width.saturating_sub(digits.len())];
    out.extend_from_slice(&digits);
    out
}

fn from_bytes(bytes: &[u8]) -> Integer {
    Integer::from_digits(bytes, Order::Msf)
}

fn random_below_bits<R: RngCore + ?Sized>(bits: u32, rng: &mut R) -> Integer {
    let mut buf = Zeroizing::new(vec![0u8; bits.div_ceil(8) as usize]);
    rng.fill_bytes(&mut buf);
    let extra = buf.len() as u32 * 8 - bits;
    if extra > 0 {
        buf[0] &= 0xFF >> extra;
    }
    from_bytes(&buf)
}

/// A random element of Z*_n.
fn random_unit<R: RngCore + ?Sized>(n: &Integer, rng: &mut R) -> Integer {
    loop {
        let x = random_below_bits(n.significant_bits() + 64, rng) % n;
        if x != 0 && x.gcd_ref(n).complete() == 1 {
            return x;
        }
    }
}

/// A random prime of exactly `bits` bits with the top two bits set (so p·q has 2·bits bits).
fn random_prime<R: RngCore + ?Sized>(bits: u32, rng: &mut R) -> Integer {
    loop {
        let mut x = random_below_bits(bits, rng);
        x.set_bit(bits - 1, true);
        x.set_bit(bits - 2, true);
        x.set_bit(0, true);
        let p = x.next_prime();
        if p.significant_bits() == bits && p.is_probably_prime(40) != rug::integer::IsPrime::No {
            return p;
        }
    }
}

/// Fixed-base window table for h_s: `rows[i][d] = h_s^(d · 2^(w·i)) mod n²`.
struct FixedBase {
    rows: Vec<Vec<Integer>>,
}

impl FixedBase {
    fn new(base: &Integer, n2: &Integer, exponent_bits: u32) -> Self {
        let windows = exponent_bits.div_ceil(WINDOW_BITS);
        let mut rows = Vec::with_capacity(windows as usize);
        let mut b = base.clone();
        for _ in 0..windows {
            let mut row = Vec::with_capacity(1 << WINDOW_BITS);
            let mut acc = Integer::from(1);
            for _ in 0..(1u32 << WINDOW_BITS) {
                row.push(acc.clone());
                acc *= &b;
                acc %= n2;
            }
            // acc = b^(2^w): the next window's base.
            b = acc;
            rows.push(row);
        }
        FixedBase { rows }
    }

    fn pow(&self, exponent: &Integer, n2: &Integer) -> Integer {
        let mut acc = Integer::from(1);
        let mask = (1u32 << WINDOW_BITS) - 1;
        for (i, row) in self.rows.iter().enumerate() {
            let mut digit = 0u32;
            for bit in 0..WINDOW_BITS {
                if exponent.get_bit(i as u32 * WINDOW_BITS + bit) {
                    digit |= 1 << bit;
                }
            }
            let digit = digit & mask;
            if digit != 0 {
                acc *= &row[digit as usize];
                acc %= n2;
            }
        }
        acc
    }
}

/// A meter's public keys: Paillier (n, h_s) and Ed25519.
#[derive(Clone)]
pub struct MeterPublicKeys {
    n: Integer,
    n2: Integer,
    hs: Integer,
    bits: u32,
    signing: VerifyingKey,
    table: Arc<OnceLock<FixedBase>>,
}

impl fmt::Debug for MeterPublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MeterPublicKeys({} bits, {})",
            self.bits,
            self.fingerprint()
        )
    }
}

impl MeterPublicKeys {
    fn new(n: Integer, hs: Integer, signing: VerifyingKey) -> Self {
        let n2 = n.clone().square();
        MeterPublicKeys {
            bits: n.significant_bits(),
            n,
            n2,
            hs,
            signing,
            table: Arc::new(OnceLock::new()),
        }
    }

    /// Reads and checks the keys of a registry entry: Paillier modulus of at least `min_bits`,
    /// odd, not a perfect square; h_s a unit below n²; a valid Ed25519 key.
    pub fn from_enrolment(e: &MeterEnrolment, min_bits: u32) -> Result<Self, String> {
        let n = from_bytes(&e.paillier_n);
        let bits = n.significant_bits();
        if bits < min_bits.max(MIN_KEY_BITS) {
            return Err(format!(
                "Paillier modulus of {bits} bits is below {}",
                min_bits.max(MIN_KEY_BITS)
            ));
        }
        if e.key_bits as u32 != bits || e.paillier_n.len() != bits.div_ceil(8) as usize {
            return Err("key_bits and the modulus length disagree".into());
        }
        if n.is_even() || n.is_perfect_square() {
            return Err("Paillier modulus is even or a square".into());
        }
        let hs = from_bytes(&e.paillier_hs);
        let n2 = n.clone().square();
        if hs <= 1 || hs >= n2 || hs.gcd_ref(&n).complete() != 1 {
            return Err("DJN base h_s is not a unit below n^2".into());
        }
        let key: [u8; 32] = e
            .signing_key
            .as_slice()
            .try_into()
            .map_err(|_| "Ed25519 key is not 32 bytes".to_string())?;
        let signing = VerifyingKey::from_bytes(&key).map_err(|e| format!("Ed25519 key: {e}"))?;
        Ok(MeterPublicKeys::new(n, hs, signing))
    }

    /// Bit length of n.
    pub fn modulus_bits(&self) -> u32 {
        self.bits
    }

    /// Bytes of a plaintext or of n.
    pub fn plaintext_len(&self) -> usize {
        self.bits.div_ceil(8) as usize
    }

    /// Bytes of a ciphertext: twice those of n.
    pub fn ciphertext_len(&self) -> usize {
        2 * self.plaintext_len()
    }

    /// A short, non-secret identifier of the key for logs: first bytes of n in hex.
    pub fn fingerprint(&self) -> String {
        let b = to_fixed_bytes(&self.n, self.plaintext_len());
        b[..6].iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The Ed25519 key that signs this meter's messages.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.signing
    }

    fn table(&self) -> &FixedBase {
        self.table
            .get_or_init(|| FixedBase::new(&self.hs, &self.n2, short_exponent_bits(self.bits)))
    }

    /// Builds the fixed-base table now instead of on first encryption.
    pub fn precompute(&self) {
        let _ = self.table();
    }

    fn one_plus_mn(&self, m: &Integer) -> Integer {
        (m * &self.n).complete() + 1u32
    }

    /// DJN encryption with the fixed-base table: one (1+mn) and ~45 multiplications mod n².
    pub fn encrypt<R: RngCore + CryptoRng + ?Sized>(
        &self,
        m: &Plaintext,
        rng: &mut R,
    ) -> Ciphertext {
        let mask = self.mask(rng);
        self.encrypt_with_mask(m, &mask)
    }

    /// A fresh DJN mask h_s^a mod n², for offline pools ([`MaskPool`]).
    pub fn mask<R: RngCore + CryptoRng + ?Sized>(&self, rng: &mut R) -> Integer {
        let a = random_below_bits(short_exponent_bits(self.bits), rng);
        self.table().pow(&a, &self.n2)
    }

    /// Encryption with a precomputed mask: one multiplication mod n².
    pub fn encrypt_with_mask(&self, m: &Plaintext, mask: &Integer) -> Ciphertext {
        debug_assert!(m.0 < self.n);
        let mut c = self.one_plus_mn(&m.0);
        c *= mask;
        c %= &self.n2;
        Ciphertext(c)
    }

    /// Classic Paillier encryption (1 + mn)·r^n mod n² with r uniform in Z*_n, constant-time
    /// exponentiation. The baseline the benchmarks compare against.
    pub fn encrypt_plain<R: RngCore + CryptoRng + ?Sized>(
        &self,
        m: &Plaintext,
        rng: &mut R,
    ) -> Ciphertext {
        let r = random_unit(&self.n, rng);
        self.encrypt_with_randomness(m, &r)
    }

    /// (1 + mn)·r^n mod n² for a given r (known-answer tests).
    pub fn encrypt_with_randomness(&self, m: &Plaintext, r: &Integer) -> Ciphertext {
        let rn = r.secure_pow_mod_ref(&self.n, &self.n2).complete();
        let mut c = self.one_plus_mn(&m.0);
        c *= rn;
        c %= &self.n2;
        Ciphertext(c)
    }
}

/// Precomputed DJN masks for one recipient key: encryption costs one multiplication.
pub struct MaskPool {
    masks: Vec<Integer>,
}

impl MaskPool {
    /// Fills `count` masks now (offline).
    pub fn fill<R: RngCore + CryptoRng + ?Sized>(
        keys: &MeterPublicKeys,
        count: usize,
        rng: &mut R,
    ) -> Self {
        MaskPool {
            masks: (0..count).map(|_| keys.mask(rng)).collect(),
        }
    }

    /// Takes one mask, never reused; `None` when the pool is empty.
    pub fn take(&mut self) -> Option<Integer> {
        self.masks.pop()
    }

    /// Masks left.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }
}

/// A Paillier plaintext (0 ≤ m < n).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plaintext(pub Integer);

impl Plaintext {
    /// From a small value.
    pub fn from_u64(v: u64) -> Self {
        Plaintext(Integer::from(v))
    }

    /// Fixed-width big-endian bytes for a key.
    pub fn to_bytes(&self, keys: &MeterPublicKeys) -> Vec<u8> {
        to_fixed_bytes(&self.0, keys.plaintext_len())
    }
}

/// A Paillier ciphertext (0 < c < n², gcd(c, n) = 1).
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext(Integer);

impl fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ciphertext({} bits)", self.0.significant_bits())
    }
}

impl Ciphertext {
    /// Parses and validates a ciphertext for a recipient key: exact width, 0 < c < n²,
    /// gcd(c, n) = 1.
    pub fn parse(keys: &MeterPublicKeys, bytes: &[u8]) -> Result<Ciphertext, ProtocolError> {
        if bytes.len() != keys.ciphertext_len() {
            return Err(ProtocolError::InvalidCiphertext(format!(
                "{} bytes, expected {}",
                bytes.len(),
                keys.ciphertext_len()
            )));
        }
        let c = from_bytes(bytes);
        if c == 0 || c >= keys.n2 {
            return Err(ProtocolError::InvalidCiphertext(
                "not in 0 < c < n^2".into(),
            ));
        }
        if c.gcd_ref(&keys.n).complete() != 1 {
            return Err(ProtocolError::InvalidCiphertext("gcd(c, n) != 1".into()));
        }
        Ok(Ciphertext(c))
    }

    /// Fixed-width big-endian bytes.
    pub fn to_bytes(&self, keys: &MeterPublicKeys) -> Vec<u8> {
        to_fixed_bytes(&self.0, keys.ciphertext_len())
    }

    /// Homomorphic addition in place: self ← self · other mod n².
    pub fn add_assign(&mut self, other: &Ciphertext, keys: &MeterPublicKeys) {
        self.0 *= &other.0;
        self.0 %= &keys.n2;
    }
}

/// The product of ciphertexts under one key: the encryption of the sum of their plaintexts.
/// The empty product is 1, an encryption of 0.
pub fn fold(keys: &MeterPublicKeys, cts: &[&Ciphertext]) -> Ciphertext {
    let mut acc = Ciphertext(Integer::from(1));
    for c in cts {
        acc.add_assign(c, keys);
    }
    acc
}

/// Raw multiplication mod n² of two integers: the benchmark's reference for folding.
pub fn raw_mul_mod(keys: &MeterPublicKeys, a: &mut Integer, b: &Integer) {
    *a *= b;
    *a %= &keys.n2;
}

/// Checks a claimed decryption: c == (1 + m·n)·r^n mod n², with 0 ≤ m < n and r a unit.
/// Needs no secret.
pub fn verify_decryption(keys: &MeterPublicKeys, c: &Ciphertext, m: &[u8], r: &[u8]) -> bool {
    if m.len() != keys.plaintext_len() || r.len() != keys.plaintext_len() {
        return false;
    }
    let m = from_bytes(m);
    let r = from_bytes(r);
    if m >= keys.n || r == 0 || r >= keys.n || r.gcd_ref(&keys.n).complete() != 1 {
        return false;
    }
    let rn = Integer::from(
        r.pow_mod_ref(&keys.n, &keys.n2)
            .expect("modulus is positive"),
    );
    let mut expect = keys.one_plus_mn(&m);
    expect *= rn;
    expect %= &keys.n2;
    expect == c.0
}

/// A meter's secrets: the Paillier factors with CRT constants, and its Ed25519 signing key.
pub struct MeterSecrets {
    public: MeterPublicKeys,
    p: Integer,
    q: Integer,
    p2: Integer,
    q2: Integer,
    /// L_p(g^(p−1) mod p²)^−1 mod p, and the same for q.
    hp: Integer,
    hq: Integer,
    /// q^−1 mod p, for CRT recombination.
    q_inv_p: Integer,
    /// n^−1 mod (p−1) and mod (q−1), for randomness recovery.
    n_inv_pm1: Integer,
    n_inv_qm1: Integer,
    signing: SigningKey,
}

impl Clone for MeterSecrets {
    fn clone(&self) -> Self {
        MeterSecrets {
            public: self.public.clone(),
            p: self.p.clone(),
            q: self.q.clone(),
            p2: self.p2.clone(),
            q2: self.q2.clone(),
            hp: self.hp.clone(),
            hq: self.hq.clone(),
            q_inv_p: self.q_inv_p.clone(),
            n_inv_pm1: self.n_inv_pm1.clone(),
            n_inv_qm1: self.n_inv_qm1.clone(),
            signing: self.signing.clone(),
        }
    }
}

impl fmt::Debug for MeterSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret: the public fingerprint identifies the key.
        write!(f, "MeterSecrets(public {})", self.public.fingerprint())
    }
}

impl Drop for MeterSecrets {
    fn drop(&mut self) {
        // Overwrite the factors' limbs before GMP frees them. (Intermediate values GMP
        // allocated during arithmetic are not covered: see docs/protocol.md.)
        for x in [
            &mut self.p,
            &mut self.q,
            &mut self.p2,
            &mut self.q2,
            &mut self.hp,
            &mut self.hq,
            &mut self.q_inv_p,
            &mut self.n_inv_pm1,
            &mut self.n_inv_qm1,
        ] {
            wipe(x);
        }
    }
}

fn wipe(x: &mut Integer) {
    // SAFETY: the limb pointer and size come from the live mpz_t owned by `x`; we only write
    // zeros into its allocated limbs and then set the size to 0, a valid representation of 0.
    unsafe {
        let raw = x.as_raw_mut();
        let size = (*raw).size.unsigned_abs() as usize;
        let limbs = (*raw).d.as_ptr();
        for i in 0..size {
            std::ptr::write_volatile(limbs.add(i), 0);
        }
        (*raw).size = 0;
    }
}

impl MeterSecrets {
    /// Generates a Paillier key pair of `bits` (2048 or 3072; less is refused) and an Ed25519
    /// key.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(
        bits: u32,
        rng: &mut R,
    ) -> Result<Self, ProtocolError> {
        if bits < MIN_KEY_BITS || !bits.is_multiple_of(2) || bits > 8192 {
            return Err(ProtocolError::WeakKey(bits));
        }
        let (p, q) = loop {
            let p = random_prime(bits / 2, rng);
            let q = random_prime(bits / 2, rng);
            if p != q {
                break (p, q);
            }
        };
        Ok(Self::with_fresh_base(p, q, rng))
    }

    /// Completes a key pair from its primes: a fresh DJN base h_s = (−x²)^n mod n² and a fresh
    /// Ed25519 signing key.
    fn with_fresh_base<R: RngCore + CryptoRng + ?Sized>(
        p: Integer,
        q: Integer,
        rng: &mut R,
    ) -> Self {
        let n = (&p * &q).complete();
        let x = random_unit(&n, rng);
        let h = &n - x.square_ref().complete() % &n;
        let n2 = n.clone().square();
        let hs = Integer::from(h.pow_mod_ref(&n, &n2).expect("positive modulus"));
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_parts(p, q, hs, SigningKey::from_bytes(&seed))
    }

    /// Builds a key pair from given primes (key import, known-answer tests), with a fresh DJN
    /// base and signing key. Refuses non-primes, equal primes and moduli under 2048 bits.
    pub fn from_primes<R: RngCore + CryptoRng + ?Sized>(
        p: &[u8],
        q: &[u8],
        rng: &mut R,
    ) -> Result<Self, ProtocolError> {
        let (p, q) = (from_bytes(p), from_bytes(q));
        if p.is_probably_prime(30) == rug::integer::IsPrime::No
            || q.is_probably_prime(30) == rug::integer::IsPrime::No
            || p == q
        {
            return Err(ProtocolError::BadKeyFile(
                "factors are not distinct primes".into(),
            ));
        }
        let n = (&p * &q).complete();
        if n.significant_bits() < MIN_KEY_BITS {
            return Err(ProtocolError::WeakKey(n.significant_bits()));
        }
        Ok(Self::with_fresh_base(p, q, rng))
    }

    fn from_parts(p: Integer, q: Integer, hs: Integer, signing: SigningKey) -> Self {
        let n = (&p * &q).complete();
        let public = MeterPublicKeys::new(n.clone(), hs, signing.verifying_key());
        let p2 = p.clone().square();
        let q2 = q.clone().square();
        let g = (&n + 1u32).complete();
        let l = |x: Integer, m: &Integer| (x - 1u32) / m;
        let pm1 = (&p - 1u32).complete();
        let qm1 = (&q - 1u32).complete();
        let hp = l(Integer::from(g.pow_mod_ref(&pm1, &p2).expect("pos")), &p)
            .invert(&p)
            .expect("L_p(g^(p-1)) is a unit mod p");
        let hq = l(Integer::from(g.pow_mod_ref(&qm1, &q2).expect("pos")), &q)
            .invert(&q)
            .expect("L_q(g^(q-1)) is a unit mod q");
        let q_inv_p = Integer::from(q.invert_ref(&p).expect("p, q distinct primes"));
        let n_inv_pm1 = Integer::from(n.invert_ref(&pm1).expect("gcd(n, p-1) = 1"));
        let n_inv_qm1 = Integer::from(n.invert_ref(&qm1).expect("gcd(n, q-1) = 1"));
        MeterSecrets {
            public,
            p,
            q,
            p2,
            q2,
            hp,
            hq,
            q_inv_p,
            n_inv_pm1,
            n_inv_qm1,
            signing,
        }
    }

    /// The public half.
    pub fn public_keys(&self) -> &MeterPublicKeys {
        &self.public
    }

    fn crt(&self, mp: Integer, mq: Integer) -> Integer {
        // m = mq + q · ((mp − mq) · q^−1 mod p)
        let mut h = (mp - &mq) * &self.q_inv_p;
        h %= &self.p;
        if h < 0 {
            h += &self.p;
        }
        mq + h * &self.q
    }

    /// CRT decryption.
    pub fn decrypt(&self, c: &Ciphertext) -> Plaintext {
        let pm1 = (&self.p - 1u32).complete();
        let qm1 = (&self.q - 1u32).complete();
        let cp = (&c.0 % &self.p2).complete();
        let cq = (&c.0 % &self.q2).complete();
        let xp = cp.secure_pow_mod(&pm1, &self.p2);
        let xq = cq.secure_pow_mod(&qm1, &self.q2);
        let mp = ((xp - 1u32) / &self.p * &self.hp) % &self.p;
        let mq = ((xq - 1u32) / &self.q * &self.hq) % &self.q;
        Plaintext(self.crt(mp, mq))
    }

    /// Decryption without CRT (λ-based), the benchmark baseline.
    pub fn decrypt_plain(&self, c: &Ciphertext) -> Plaintext {
        let n = &self.public.n;
        let pm1 = (&self.p - 1u32).complete();
        let qm1 = (&self.q - 1u32).complete();
        let lambda = pm1.lcm(&qm1);
        let mu = Integer::from(lambda.invert_ref(n).expect("unit"));
        let x = c.0.secure_pow_mod_ref(&lambda, &self.public.n2).complete();
        let l = (x - 1u32) / n;
        Plaintext((l * mu) % n)
    }

    /// Recovers the r with c = (1 + m·n)·r^n mod n², by CRT: r = (c mod n)^(n^−1 mod φ) mod n.
    pub fn recover_randomness(&self, c: &Ciphertext) -> Integer {
        let rp = (&c.0 % &self.p)
            .complete()
            .secure_pow_mod(&self.n_inv_pm1, &self.p);
        let rq = (&c.0 % &self.q)
            .complete()
            .secure_pow_mod(&self.n_inv_qm1, &self.q);
        self.crt(rp, rq)
    }

    /// A signed registry entry for this meter.
    pub fn enrolment(&self, meter_id: &str, region: &str, now: i64) -> MeterEnrolment {
        let mut e = MeterEnrolment {
            meter_id: meter_id.into(),
            region: region.into(),
            status: MeterStatus::Active,
            key_bits: self.public.bits as i32,
            paillier_n: to_fixed_bytes(&self.public.n, self.public.plaintext_len()),
            paillier_hs: to_fixed_bytes(&self.public.hs, self.public.ciphertext_len()),
            signing_key: self.signing.verifying_key().to_bytes().to_vec(),
            enrolled_at: now,
            signature: Vec::new(),
        };
        sign_message(self, &mut e);
        e
    }

    /// Signs one ciphertext of a share bundle (see [`share_signing_bytes`]).
    pub fn sign_share(
        &self,
        round: &RoundKey,
        sender: &str,
        recipient: &str,
        index: i32,
        ciphertext: &[u8],
    ) -> Vec<u8> {
        let msg = share_signing_bytes(round, sender, recipient, index, ciphertext);
        self.sign_bytes("share", &msg)
    }

    /// Serializes the secrets for a key store: p, q, h_s and the Ed25519 seed, length-prefixed.
    /// The caller must write it with owner-only permissions.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        for part in [
            to_fixed_bytes(&self.p, self.public.plaintext_len() / 2),
            to_fixed_bytes(&self.q, self.public.plaintext_len() / 2),
            to_fixed_bytes(&self.public.hs, self.public.ciphertext_len()),
            self.signing.to_bytes().to_vec(),
        ] {
            push_prefixed(&mut out, &part);
        }
        out
    }

    /// Reads what [`MeterSecrets::to_secret_bytes`] wrote, checking consistency.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let bad = |what: &str| ProtocolError::BadKeyFile(what.to_string());
        let mut parts = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(bad("truncated length"));
            }
            let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            rest = &rest[4..];
            if rest.len() < len {
                return Err(bad("truncated field"));
            }
            parts.push(&rest[..len]);
            rest = &rest[len..];
        }
        let [p, q, hs, seed] = parts.as_slice() else {
            return Err(bad("expected 4 fields"));
        };
        let seed: [u8; 32] = (*seed)
            .try_into()
            .map_err(|_| bad("signing seed is not 32 bytes"))?;
        let (p, q) = (from_bytes(p), from_bytes(q));
        if p.is_probably_prime(20) == rug::integer::IsPrime::No
            || q.is_probably_prime(20) == rug::integer::IsPrime::No
            || p == q
        {
            return Err(bad("factors are not distinct primes"));
        }
        let s = Self::from_parts(p, q, from_bytes(hs), SigningKey::from_bytes(&seed));
        if s.public.bits < MIN_KEY_BITS {
            return Err(ProtocolError::WeakKey(s.public.bits));
        }
        Ok(s)
    }
}

/// The canonical bytes a per-ciphertext signature covers: length-prefixed round key, sender,
/// recipient, then the index (i32, big-endian) and the length-prefixed ciphertext.
pub fn share_signing_bytes(
    round: &RoundKey,
    sender: &str,
    recipient: &str,
    index: i32,
    ciphertext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + ciphertext.len());
    for field in [
        round.canonical().as_bytes(),
        sender.as_bytes(),
        recipient.as_bytes(),
    ] {
        push_prefixed(&mut out, field);
    }
    out.extend_from_slice(&index.to_be_bytes());
    push_prefixed(&mut out, ciphertext);
    out
}

/// Appends `field` with its length as a big-endian u32 before it.
fn push_prefixed(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

fn domain_separated(domain: &str, bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + domain.len() + bytes.len());
    m.extend_from_slice(b"zeal/v1/");
    m.extend_from_slice(domain.as_bytes());
    m.push(0);
    m.extend_from_slice(bytes);
    m
}

/// A party that signs protocol messages.
pub trait MessageSigner {
    /// Ed25519 over `zeal/v1/<domain>\0<bytes>`.
    fn sign_bytes(&self, domain: &str, bytes: &[u8]) -> Vec<u8>;
}

impl MessageSigner for MeterSecrets {
    fn sign_bytes(&self, domain: &str, bytes: &[u8]) -> Vec<u8> {
        self.signing
            .sign(&domain_separated(domain, bytes))
            .to_bytes()
            .to_vec()
    }
}

fn verify_bytes(key: &VerifyingKey, domain: &str, bytes: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify(&domain_separated(domain, bytes), &sig).is_ok()
}

/// Signs a whole message: its canonical bytes with an empty signature, under its kind's domain.
pub fn sign_message<T: Signed>(signer: &impl MessageSigner, msg: &mut T) {
    msg.signature_mut().clear();
    let bytes = signing_bytes(msg).expect("wire messages always encode");
    *msg.signature_mut() = signer.sign_bytes(T::KIND.name(), &bytes);
}

/// Checks a meter's signature on a whole message.
pub fn verify_message<T: Signed>(keys: &MeterPublicKeys, msg: &T) -> bool {
    match signing_bytes(msg) {
        Ok(bytes) => verify_bytes(&keys.signing, T::KIND.name(), &bytes, msg.signature()),
        Err(_) => false,
    }
}

/// Checks a sender's signature on one ciphertext of a share bundle.
pub fn verify_share(
    sender: &MeterPublicKeys,
    round: &RoundKey,
    sender_id: &str,
    recipient: &str,
    index: i32,
    ciphertext: &[u8],
    signature: &[u8],
) -> bool {
    let msg = share_signing_bytes(round, sender_id, recipient, index, ciphertext);
    verify_bytes(&sender.signing, "share", &msg, signature)
}

/// The aggregator's signing identity (accountability for control messages, not privacy).
pub struct AggregatorKey {
    id: String,
    signing: SigningKey,
}

impl fmt::Debug for AggregatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AggregatorKey({})", self.id)
    }
}

impl AggregatorKey {
    /// A fresh key for aggregator `id`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(id: &str, rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        AggregatorKey {
            id: id.into(),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// From a stored 32-byte seed.
    pub fn from_seed(id: &str, seed: &[u8; 32]) -> Self {
        AggregatorKey {
            id: id.into(),
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The seed, for a key store.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The aggregator's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public half, which gateways trust.
    pub fn public(&self) -> AggregatorPublic {
        AggregatorPublic {
            id: self.id.clone(),
            key: self.signing.verifying_key(),
        }
    }
}

impl MessageSigner for AggregatorKey {
    fn sign_bytes(&self, domain: &str, bytes: &[u8]) -> Vec<u8> {
        self.signing
            .sign(&domain_separated(domain, bytes))
            .to_bytes()
            .to_vec()
    }
}

/// An aggregator's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorPublic {
    pub id: String,
    pub key: VerifyingKey,
}

impl AggregatorPublic {
    /// The key as 64 hex digits (what operators hand to gateways).
    pub fn to_hex(&self) -> String {
        crate::v2::enrolment::key_to_hex(&self.key)
    }

    /// Reads a key from 64 hex digits.
    pub fn from_hex(id: &str, hex: &str) -> Result<Self, ProtocolError> {
        let key = crate::v2::enrolment::key_from_hex(hex)
            .map_err(|e| ProtocolError::BadKeyFile(format!("aggregator key is {e}")))?;
        Ok(AggregatorPublic { id: id.into(), key })
    }
}

/// Checks an aggregator's signature on a control message.
pub fn verify_aggregator<T: Signed>(aggregator: &AggregatorPublic, msg: &T) -> bool {
    match signing_bytes(msg) {
        Ok(bytes) => verify_bytes(&aggregator.key, T::KIND.name(), &bytes, msg.signature()),
        Err(_) => false,
    }
}

/// Decrypts to fixed-width bytes (what a partial publishes).
pub fn decrypt_to_bytes(secrets: &MeterSecrets, c: &Ciphertext) -> Vec<u8> {
    secrets.decrypt(c).to_bytes(secrets.public_keys())
}

/// Recovers the randomness as fixed-width bytes (what a partial publishes).
pub fn recover_randomness_bytes(secrets: &MeterSecrets, c: &Ciphertext) -> Vec<u8> {
    to_fixed_bytes(
        &secrets.recover_randomness(c),
        secrets.public_keys().plaintext_len(),
    )
}

/// How values are packed into plaintext slots for one recipient key and roster.
///
/// A slot is w = b + ⌈log2(roster)⌉ + 1 bits, so the sum of roster − 1 shares below 2^b never
/// carries into the next slot; a plaintext holds ⌊(bits(n) − 1)/w⌋ slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLayout {
    pub slot_bits: u32,
    pub slots_per_plaintext: usize,
    pub values: usize,
}

impl SlotLayout {
    /// The layout for a modulus size, value width b, roster size and values per meter.
    pub fn new(modulus_bits: u32, value_bits: u32, roster: usize, values: usize) -> Self {
        let log = usize::BITS - (roster.max(1) - 1).leading_zeros();
        let slot_bits = value_bits + log + 1;
        SlotLayout {
            slot_bits,
            slots_per_plaintext: ((modulus_bits - 1) / slot_bits) as usize,
            values,
        }
    }

    /// Plaintexts needed for the values.
    pub fn plaintexts(&self) -> usize {
        self.values.div_ceil(self.slots_per_plaintext).max(1)
    }

    /// Packs values (each below 2^b) into plaintexts.
    pub fn pack(&self, values: &[u64]) -> Vec<Plaintext> {
        debug_assert_eq!(values.len(), self.values);
        let mut out = Vec::with_capacity(self.plaintexts());
        for chunk_index in 0..self.plaintexts() {
            let start = chunk_index * self.slots_per_plaintext;
            let end = (start + self.slots_per_plaintext).min(values.len());
            let mut p = Integer::new();
            for (slot, v) in values[start.min(end)..end].iter().enumerate() {
                p += Integer::from(*v) << (slot as u32 * self.slot_bits);
            }
            out.push(Plaintext(p));
        }
        out
    }

    fn slots_of(&self, p: &Integer, bound: u64, first_slot: usize) -> Result<Vec<u64>, usize> {
        let mut out = Vec::with_capacity(self.slots_per_plaintext);
        let mask = (Integer::from(1) << self.slot_bits) - 1u32;
        for slot in 0..self.slots_per_plaintext {
            let v = (p >> (slot as u32 * self.slot_bits)).complete() & &mask;
            let v = v.to_u64().filter(|v| *v < bound).ok_or(first_slot + slot)?;
            out.push(v);
        }
        if p.significant_bits() > self.slots_per_plaintext as u32 * self.slot_bits {
            return Err(first_slot + self.slots_per_plaintext);
        }
        Ok(out)
    }

    /// Unpacks decrypted plaintexts (fixed-width bytes) into `values` values, refusing any
    /// slot (including padding) at or above `bound`: returns the first such slot's index.
    pub fn unpack_checked(&self, plaintexts: &[Vec<u8>], bound: u64) -> Result<Vec<u64>, usize> {
        let mut out = Vec::with_capacity(self.values);
        for (i, bytes) in plaintexts.iter().enumerate() {
            let slots = self.slots_of(&from_bytes(bytes), bound, i * self.slots_per_plaintext)?;
            out.extend(slots);
        }
        out.truncate(self.values);
        Ok(out)
    }

    /// Checks one plaintext's slots against a bound.
    pub fn check_bound(&self, plaintext: &[u8], bound: u64) -> Result<(), usize> {
        self.slots_of(&from_bytes(plaintext), bound, 0).map(|_| ())
    }
}

/// Splits values (each below 2^b) into `others` uniform shares in Z_{2^b} from a CSPRNG and the
/// retained share that makes the sum exact: x = retained + Σ shares (mod 2^b).
pub fn split_shares<R: RngCore + CryptoRng + ?Sized>(
    values: &[u64],
    others: usize,
    value_bits: u32,
    rng: &mut R,
) -> (Vec<Vec<u64>>, Vec<u64>) {
    let mask = if value_bits >= 64 {
        u64::MAX
    } else {
        (1u64 << value_bits) - 1
    };
    let mut retained: Vec<u64> = values.iter().map(|v| v & mask).collect();
    let shares: Vec<Vec<u64>> = (0..others)
        .map(|_| {
            values
                .iter()
                .zip(retained.iter_mut())
                .map(|(_, r)| {
                    let s = rng.next_u64() & mask;
                    *r = r.wrapping_sub(s) & mask;
                    s
                })
                .collect()
        })
        .collect();
    (shares, retained)
}
