//! Timing of every cryptographic operation, with the code paths the services use. Plain
//! `Instant` loops, so `zeal bench crypto` can print them next to python-phe measured in the same
//! run; criterion benches (`benches/crypto.rs`) cover the same operations for regression work.

use crate::round::crypto::{
    Ciphertext, MaskPool, MeterSecrets, Plaintext, SlotLayout, fold, raw_mul_mod,
    recover_randomness_bytes, sign_message, verify_decryption, verify_message,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::{Duration, Instant};

/// One measured operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// What was measured.
    pub name: &'static str,
    /// Operations per second on one core.
    pub ops_per_sec: f64,
    /// How many operations were timed.
    pub iterations: u64,
}

impl BenchRow {
    /// Microseconds per operation.
    pub fn micros(&self) -> f64 {
        1e6 / self.ops_per_sec
    }
}

/// Runs `op` repeatedly for at least `budget` and returns ops/s.
fn measure(name: &'static str, budget: Duration, mut op: impl FnMut()) -> BenchRow {
    op(); // warm up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget || n < 3 {
        op();
        n += 1;
    }
    BenchRow {
        name,
        ops_per_sec: n as f64 / start.elapsed().as_secs_f64(),
        iterations: n,
    }
}

/// Measures keygen, encryption (plain, DJN, pooled), decryption (plain, CRT), folding, the raw
/// multiplication mod n² it is made of, randomness recovery, verification and packing, at
/// `key_bits`, spending about `budget` on each.
pub fn bench_crypto(key_bits: u32, budget: Duration) -> Vec<BenchRow> {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let mut rows = Vec::new();
    let keygen_budget = budget.max(Duration::from_millis(500));
    rows.push(measure("keygen", keygen_budget, || {
        MeterSecrets::generate(key_bits, &mut rng).expect("valid size");
    }));
    let s = MeterSecrets::generate(key_bits, &mut rng).expect("valid size");
    let k = s.public_keys().clone();
    k.precompute();
    let m = Plaintext::from_u64(123_456_789);
    rows.push(measure("encrypt (plain r^n)", budget, || {
        std::hint::black_box(k.encrypt_plain(&m, &mut rng));
    }));
    rows.push(measure("encrypt (DJN fixed-base)", budget, || {
        std::hint::black_box(k.encrypt(&m, &mut rng));
    }));
    // The pool is filled offline; only the online encryption (one multiplication) is timed.
    let estimate = (budget.as_secs_f64() * 400_000.0) as usize + 16;
    let filled = Instant::now();
    let mut pool = MaskPool::fill(&k, estimate.min(4096), &mut rng);
    let fill_time = filled.elapsed();
    let pooled = pool.len();
    let start = Instant::now();
    while let Some(mask) = pool.take() {
        std::hint::black_box(k.encrypt_with_mask(&m, &mask));
    }
    rows.push(BenchRow {
        name: "encrypt (pooled mask)",
        ops_per_sec: pooled as f64 / start.elapsed().as_secs_f64(),
        iterations: pooled as u64,
    });
    rows.push(BenchRow {
        name: "mask precompute (offline)",
        ops_per_sec: pooled as f64 / fill_time.as_secs_f64(),
        iterations: pooled as u64,
    });
    let c = k.encrypt(&m, &mut rng);
    rows.push(measure("decrypt (lambda)", budget, || {
        std::hint::black_box(s.decrypt_plain(&c));
    }));
    rows.push(measure("decrypt (CRT)", budget, || {
        std::hint::black_box(s.decrypt(&c));
    }));
    let cs: Vec<Ciphertext> = (0..64).map(|_| k.encrypt(&m, &mut rng)).collect();
    let mut acc = cs[0].clone();
    let mut i = 0;
    rows.push(measure("fold (ciphertext add)", budget, || {
        acc.add_assign(&cs[i % 64], &k);
        i += 1;
    }));
    let raw: Vec<rug::Integer> = cs
        .iter()
        .map(|c| rug::Integer::from_digits(&c.to_bytes(&k), rug::integer::Order::Msf))
        .collect();
    let mut a = raw[0].clone();
    let mut j = 0;
    rows.push(measure("raw mul mod n^2", budget, || {
        raw_mul_mod(&k, &mut a, &raw[j % 64]);
        j += 1;
    }));
    rows.push(measure("recover randomness", budget, || {
        std::hint::black_box(recover_randomness_bytes(&s, &c));
    }));
    let mb = s.decrypt(&c).to_bytes(&k);
    let rb = recover_randomness_bytes(&s, &c);
    rows.push(measure("verify decryption", budget, || {
        assert!(verify_decryption(&k, &c, &mb, &rb));
    }));
    let layout = SlotLayout::new(key_bits, 40, 50, 2);
    let values = [123_456u64, 7_890];
    rows.push(measure("pack + unpack", budget, || {
        let p: Vec<Vec<u8>> = layout
            .pack(&values)
            .iter()
            .map(|p| p.to_bytes(&k))
            .collect();
        std::hint::black_box(layout.unpack_checked(&p, 49 << 40).expect("in range"));
    }));
    let refs: Vec<&Ciphertext> = cs.iter().take(49).collect();
    rows.push(measure("fold column of 49", budget, || {
        std::hint::black_box(fold(&k, &refs));
    }));
    // A household reading's signature check: without generation its signing bytes are its v1
    // datum (found by trying v1 first), with generation its v2 datum (v1 tried and refused).
    let reading = |generation_wh| {
        let mut r = zeal_schemas::HouseholdReading {
            household_id: "NL-R01-m0001".into(),
            region: "NL-R01".into(),
            interval_start: 1_593_561_600_000,
            interval_seconds: 900,
            import_wh: 312,
            export_wh: 40,
            generation_wh,
            signature: Vec::new(),
        };
        sign_message(&s, &mut r);
        r
    };
    let (v1, v2) = (reading(None), reading(Some(845)));
    rows.push(measure("verify reading (v1 bytes)", budget, || {
        assert!(verify_message(&k, &v1));
    }));
    rows.push(measure("verify reading (v2 bytes)", budget, || {
        assert!(verify_message(&k, &v2));
    }));
    rows
}
