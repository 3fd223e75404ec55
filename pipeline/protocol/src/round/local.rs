//! A whole region in one process: every meter, the directory and the aggregator, run stage by
//! stage with each stage timed. Used by `zeal round` and the Performance numbers; no I/O.

use super::aggregator::{Aggregator, Output};
use super::crypto::{AggregatorKey, MeterSecrets};
use super::directory::Directory;
use super::gateway::MeterAgent;
use crate::config::ProtocolConfig;
use rand::{CryptoRng, RngCore};
use std::time::{Duration, Instant};
use zeal_schemas::{RegionTotal, RoundOutcome, encode};

/// Wall time spent in each stage of one round, summed over all parties.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageTimes {
    /// Meters: split readings, pack, encrypt for every other member, sign.
    pub share: Duration,
    /// Aggregator: check bundles (signatures, ciphertext validity), fold, redistribute.
    pub check_and_fold: Duration,
    /// Meters: check the column's signatures, recompute the product, decrypt, recover r.
    pub decrypt: Duration,
    /// Aggregator: verify every decryption proof, compute the total.
    pub verify: Duration,
}

impl StageTimes {
    /// Sum of all stages.
    pub fn total(&self) -> Duration {
        self.share + self.check_and_fold + self.decrypt + self.verify
    }
}

/// The result of one round run locally.
#[derive(Debug, Clone)]
pub struct LocalRound {
    pub total: Option<RegionTotal>,
    pub outcomes: Vec<RoundOutcome>,
    pub times: StageTimes,
    /// Bytes published: bundles, redistributions and partials (single-object encoded).
    pub bytes: usize,
}

/// Every party of one region.
pub struct LocalRegion {
    pub region: String,
    pub dir: Directory,
    pub aggregator: Aggregator,
    pub meters: Vec<MeterAgent>,
}

impl LocalRegion {
    /// Generates keys for `meters` meters (the slow part: report progress through `progress`)
    /// and enrols them.
    pub fn generate<R: RngCore + CryptoRng>(
        region: &str,
        meters: usize,
        config: &ProtocolConfig,
        rng: &mut R,
        mut progress: impl FnMut(usize),
    ) -> Self {
        let key = AggregatorKey::generate("local-aggregator", rng);
        let trusted = vec![key.public()];
        let mut dir = Directory::new(config.key_bits.min(2048));
        let mut agents = Vec::with_capacity(meters);
        for i in 0..meters {
            let secrets =
                MeterSecrets::generate(config.key_bits, rng).expect("config validated key size");
            let id = format!("{region}-m{i:04}");
            dir.enrol(&secrets.enrolment(&id, region, 0))
                .expect("fresh keys enrol");
            agents.push(MeterAgent::new(
                id,
                region,
                secrets,
                config.clone(),
                trusted.clone(),
            ));
            progress(i + 1);
        }
        LocalRegion {
            region: region.to_string(),
            dir,
            aggregator: Aggregator::new(key, config.clone()),
            meters: agents,
        }
    }

    /// Runs the round of `interval_start`, meters sharing the readings they recorded, with no
    /// faults; `now` is the opening time.
    pub fn run_round<R: RngCore + CryptoRng>(
        &mut self,
        interval_start: i64,
        now: i64,
        rng: &mut R,
    ) -> LocalRound {
        let mut times = StageTimes::default();
        let mut bytes = 0usize;
        let mut outcomes = Vec::new();
        let mut total = None;
        let mut pending = self
            .aggregator
            .open_round(&self.dir, &self.region, interval_start, now);
        while !pending.is_empty() {
            let mut next = Vec::new();
            let mut opens = Vec::new();
            let mut redistributions = Vec::new();
            for o in pending {
                match o {
                    Output::Open(m) => opens.push(m),
                    Output::Redistribute(m) => redistributions.push(m),
                    Output::Outcome(m) => {
                        for agent in &mut self.meters {
                            let _ = agent.on_outcome(&m);
                        }
                        outcomes.push(m);
                    }
                    Output::Total(t) => total = Some(t),
                    Output::Quarantine(_) | Output::Reject(_) => {}
                }
            }
            for open in opens {
                let start = Instant::now();
                let bundles: Vec<_> = self
                    .meters
                    .iter_mut()
                    .filter_map(|m| m.on_round_open(&self.dir, &open, now, rng).ok().flatten())
                    .collect();
                times.share += start.elapsed();
                for b in bundles {
                    let raw = encode(&b).expect("encodes");
                    bytes += raw.len();
                    let start = Instant::now();
                    next.extend(self.aggregator.on_share_bundle(&mut self.dir, b, &raw, now));
                    times.check_and_fold += start.elapsed();
                }
            }
            for r in redistributions {
                bytes += encode(&r).expect("encodes").len();
                let start = Instant::now();
                let partial = self
                    .meters
                    .iter_mut()
                    .find(|m| m.meter_id() == r.recipient)
                    .and_then(|m| m.on_redistribution(&self.dir, &r).ok().flatten());
                times.decrypt += start.elapsed();
                if let Some(p) = partial {
                    let raw = encode(&p).expect("encodes");
                    bytes += raw.len();
                    let start = Instant::now();
                    next.extend(self.aggregator.on_partial(&mut self.dir, p, &raw, now));
                    times.verify += start.elapsed();
                }
            }
            pending = next;
        }
        LocalRound {
            total,
            outcomes,
            times,
            bytes,
        }
    }
}
