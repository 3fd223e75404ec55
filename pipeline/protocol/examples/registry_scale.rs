//! How the registry's per-day work grows with its size: admits N certificates over 4 regions
//! and times `Registry::candidates` for one region (what every party does to derive a day).
//! `cargo run --release -p zeal-protocol --example registry_scale [N ...]` (default 20000 100000).

use ed25519_dalek::SigningKey;
use std::time::Instant;
use zeal_protocol::v2::enrolment::{Certificate, Registry, Status};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes are integers"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![20_000, 100_000]
    } else {
        sizes
    };
    let authority = SigningKey::from_bytes(&[9; 32]);
    let identity = SigningKey::from_bytes(&[3; 32]).verifying_key();
    for n in sizes {
        let mut registry = Registry::new(authority.verifying_key());
        for i in 0..n {
            let region = format!("R{}", i % 4);
            let cert = Certificate::issue(
                &authority,
                &format!("m{i:07}"),
                &region,
                &identity,
                0,
                Status::Active,
            );
            registry.admit(cert).expect("certified");
        }
        let t = Instant::now();
        let candidates = registry.candidates("R1", 18_000, registry.len());
        println!(
            "{n} certificates: one region's {} candidates in {:.3} s",
            candidates.len(),
            t.elapsed().as_secs_f64()
        );
    }
}
