//! What the fuzz targets share: one small test region (seat keys generated once per process,
//! seeded) and a pool of signed records of one of its rounds for the log-sequence target.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use zeal_protocol::v2::local::{LocalRegion, LocalRound, small_params};
use zeal_protocol::v2::round::complaint::{Complainant, Complaint, ComplaintKind};
use zeal_protocol::v2::round::log::{Author, Entry, Record};
use zeal_protocol::v2::round::markers;

/// The test region and one honest round of it.
pub struct Fixture {
    /// Six meters, five seats, d = 1.
    pub region: LocalRegion,
    /// Each meter's two values.
    pub values: BTreeMap<String, Vec<u64>>,
    /// The honest round (its log and the bundles whose parts the seats fetch).
    pub round: LocalRound,
    /// The honest log's records and signed alternatives a cheating aggregator or meter could
    /// post at any point: withdrawals, short CommitClosed / RevealClosed / FinalSet lists, a
    /// second RegionTotal, ABANDONED, a meter's FinalSet posed as the aggregator's, claims of
    /// missing parts and their answers, products (one wrong), complaints (one invalid).
    pub pool: Vec<Record>,
}

/// The fixture, built once per process.
pub fn region() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build)
}

fn build() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let region = LocalRegion::generate(
        small_params(),
        "NL-FUZZ",
        6,
        1_593_597_600,
        b"fuzz beacon",
        &mut rng,
        |_| {},
    );
    let values: BTreeMap<String, Vec<u64>> = region
        .ctx
        .roster
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), vec![100 * i as u64 + 7, 3 * i as u64]))
        .collect();
    let (round, _) = region.run(&values, &mut rng);
    let mut pool = round.log.clone();
    let meters: Vec<String> = values.keys().cloned().collect();
    let aggregator = |e: Entry| region.record(Author::Aggregator, e);
    for m in &meters {
        pool.push(region.record(Author::Meter(m.clone()), Entry::Withdraw));
    }
    let commits: Vec<_> = pool
        .iter()
        .filter_map(|r| match (&r.author, &r.entry) {
            (Author::Meter(m), Entry::Commit(h)) => Some((m.clone(), *h)),
            _ => None,
        })
        .collect();
    pool.push(aggregator(Entry::CommitClosed(commits[..4].to_vec())));
    pool.push(aggregator(Entry::RevealClosed(meters[1..].to_vec())));
    pool.push(aggregator(Entry::FinalSet(meters[1..].to_vec())));
    pool.push(aggregator(Entry::FinalSet(meters[..3].to_vec())));
    pool.push(aggregator(Entry::Abandoned));
    let view = region.view(&round);
    if let Some(total) = markers::region_total(&region.ctx, &view) {
        pool.push(aggregator(total));
    }
    // Claims and answers, products (honest and one of a single sender's part), complaints
    // (a seat's without the openings its kind needs, the aggregator's range complaint).
    let seats: Vec<String> = region.ctx.seats.iter().map(|s| s.meter.clone()).collect();
    let parts = region.parts(&round);
    for (i, seat) in seats.iter().enumerate().take(2) {
        let sender = &meters[(i + 1) % meters.len()];
        pool.push(region.record(
            Author::Meter(seat.clone()),
            Entry::PartMissing(sender.clone()),
        ));
        pool.push(aggregator(Entry::PartPosted {
            sender: sender.clone(),
            seat: seat.clone(),
            part: round.bundles[sender].parts[i].clone(),
        }));
        if let Some(products) = markers::products(&region.ctx, &view, &parts, i) {
            pool.push(aggregator(products));
        }
        pool.push(region.record(
            Author::Meter(seat.clone()),
            Entry::Complaint(Complaint {
                complainant: Complainant::Seat(seat.clone()),
                sender: sender.clone(),
                kind: ComplaintKind::ShareMismatch,
                index: 0,
                openings: Vec::new(),
            }),
        ));
    }
    pool.push(aggregator(Entry::Products {
        seat: seats[0].clone(),
        ciphertexts: round.bundles[&meters[0]].parts[0].ciphertexts.clone(),
    }));
    pool.push(aggregator(Entry::Complaint(Complaint {
        complainant: Complainant::Aggregator,
        sender: meters[3].clone(),
        kind: ComplaintKind::FailedRangeProof,
        index: 0,
        openings: Vec::new(),
    })));
    let forged = region.record(
        Author::Meter(meters[0].clone()),
        Entry::FinalSet(meters[2..].to_vec()),
    );
    pool.push(Record {
        author: Author::Aggregator,
        ..forged
    });
    Fixture {
        region,
        values,
        round,
        pool,
    }
}
