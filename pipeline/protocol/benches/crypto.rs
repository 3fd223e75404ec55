//! Criterion benches of every protocol step at 2048 bits, and a full roster-50 round.

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::hint::black_box;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::crypto::*;
use zeal_protocol::round::local::LocalRegion;

fn crypto(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let s = MeterSecrets::generate(2048, &mut rng).unwrap();
    let k = s.public_keys().clone();
    k.precompute();
    let m = Plaintext::from_u64(424_242);
    let ct = k.encrypt(&m, &mut rng);
    let mut g = c.benchmark_group("paillier-2048");
    g.sample_size(10);
    g.bench_function("keygen", |b| {
        b.iter(|| MeterSecrets::generate(2048, &mut rng).unwrap())
    });
    g.sample_size(30);
    g.bench_function("encrypt plain", |b| {
        b.iter(|| k.encrypt_plain(black_box(&m), &mut rng))
    });
    g.bench_function("encrypt DJN", |b| {
        b.iter(|| k.encrypt(black_box(&m), &mut rng))
    });
    let mask = k.mask(&mut rng);
    g.bench_function("encrypt pooled", |b| {
        b.iter(|| k.encrypt_with_mask(black_box(&m), &mask))
    });
    g.bench_function("decrypt plain", |b| {
        b.iter(|| s.decrypt_plain(black_box(&ct)))
    });
    g.bench_function("decrypt CRT", |b| b.iter(|| s.decrypt(black_box(&ct))));
    let other = k.encrypt(&m, &mut rng);
    g.bench_function("fold", |b| {
        let mut acc = ct.clone();
        b.iter(|| acc.add_assign(black_box(&other), &k))
    });
    let mb = s.decrypt(&ct).to_bytes(&k);
    let rb = recover_randomness_bytes(&s, &ct);
    g.bench_function("verify", |b| {
        b.iter(|| verify_decryption(&k, &ct, &mb, &rb))
    });
    let layout = SlotLayout::new(2048, 40, 50, 8);
    let values = [1u64, 2, 3, 4, 5, 6, 7, 8];
    g.bench_function("pack+unpack 8 values", |b| {
        b.iter(|| {
            let p: Vec<Vec<u8>> = layout
                .pack(&values)
                .iter()
                .map(|p| p.to_bytes(&k))
                .collect();
            layout.unpack_checked(&p, 49 << 40).unwrap()
        })
    });
    g.finish();
}

fn full_round(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let config = ProtocolConfig::default();
    let mut region = LocalRegion::generate("R", 50, &config, &mut rng, |_| {});
    let mut g = c.benchmark_group("round");
    g.sample_size(10);
    let mut k = 0i64;
    g.bench_function("roster 50, one interval", |b| {
        b.iter(|| {
            let interval = k * 900_000;
            k += 1;
            for m in region.meters.iter_mut() {
                m.record_reading(interval, vec![100, 5]);
            }
            let r = region.run_round(interval, interval + 900_000, &mut rng);
            assert!(r.total.is_some());
        })
    });
    g.finish();
}

criterion_group!(benches, crypto, full_round);
criterion_main!(benches);
