//! A whole region in one process: directory, aggregator and meters, with the message passing
//! between them and hooks to misbehave at every step.
#![allow(dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::aggregator::{Aggregator, Output};
use zeal_protocol::round::audit::RoundLog;
use zeal_protocol::round::crypto::{AggregatorKey, AggregatorPublic, MeterSecrets};
use zeal_protocol::round::directory::Directory;
use zeal_protocol::round::gateway::{MeterAgent, Refusal};
use zeal_schemas::*;

pub const T0: i64 = 1_593_561_600_000;
pub const REGION: &str = "NL-UT-01";

/// 2048-bit keys are slow to generate; tests share a pool made once per test binary.
pub fn key_pool() -> &'static [MeterSecrets] {
    static POOL: OnceLock<Vec<MeterSecrets>> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = 64;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..2u64)
                .map(|t| {
                    s.spawn(move || {
                        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed + t);
                        (0..n / 2)
                            .map(|_| MeterSecrets::generate(2048, &mut rng).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        })
    })
}

pub fn meter_id(i: usize) -> String {
    format!("{REGION}-m{i:04}")
}

/// Everything one round produced, by kind: the published messages (what the audit reads; the
/// log derefs to them) and what was refused on the way.
#[derive(Debug, Default)]
pub struct Log {
    pub round: RoundLog,
    pub rejections: Vec<zeal_protocol::round::Rejection>,
    pub refusals: Vec<(String, Refusal)>,
}

impl std::ops::Deref for Log {
    type Target = RoundLog;
    fn deref(&self) -> &RoundLog {
        &self.round
    }
}

impl std::ops::DerefMut for Log {
    fn deref_mut(&mut self) -> &mut RoundLog {
        &mut self.round
    }
}

impl Log {
    fn absorb(&mut self, outputs: Vec<Output>) -> Vec<Output> {
        for o in &outputs {
            match o {
                Output::Open(m) => self.opens.push(m.clone()),
                Output::Redistribute(m) => self.redistributions.push(m.clone()),
                Output::Outcome(m) => self.outcomes.push(m.clone()),
                Output::Total(m) => self.totals.push(m.clone()),
                Output::Quarantine(m) => self.quarantines.push(m.clone()),
                Output::Reject(r) => self.rejections.push(r.clone()),
            }
        }
        outputs
    }

    /// The status of each attempt's outcome, in order.
    pub fn statuses(&self) -> Vec<RoundStatus> {
        self.outcomes.iter().map(|o| o.status).collect()
    }

    /// Whether a message from `origin` was rejected for `reason`.
    pub fn rejected(&self, reason: RejectReason, origin: &str) -> bool {
        self.rejections
            .iter()
            .any(|r| r.reason == reason && r.origin.as_deref() == Some(origin))
    }
}

/// Rewrites a bundle in flight; returns false to drop it.
pub type BundleHook = Box<dyn FnMut(&mut ShareBundle, &[MeterSecrets]) -> bool>;
/// Rewrites a partial in flight.
pub type PartialHook = Box<dyn FnMut(&mut Partial, &[MeterSecrets])>;

/// Hooks that make parties misbehave; the default is an honest world.
#[derive(Default)]
pub struct Faults {
    /// Meters that never send their share bundle (dropouts), per attempt number.
    pub silent_in_share_phase: BTreeMap<i32, Vec<String>>,
    /// Meters that never send a partial.
    pub silent_in_partial_phase: Vec<String>,
    /// Change a bundle before the aggregator sees it.
    pub tamper_bundle: Option<BundleHook>,
    /// Change a partial before the aggregator sees it.
    pub tamper_partial: Option<PartialHook>,
    /// Deliver some bundles twice (replay).
    pub replay_bundles: bool,
}

impl Faults {
    /// An otherwise honest world in which `tamper` rewrites every bundle of `sender` before the
    /// aggregator sees it.
    pub fn tampering_bundles_of(
        sender: String,
        mut tamper: impl FnMut(&mut ShareBundle, &[MeterSecrets]) + 'static,
    ) -> Faults {
        Faults {
            tamper_bundle: Some(Box::new(move |b, secrets| {
                if b.sender == sender {
                    tamper(b, secrets);
                }
                true
            })),
            ..Faults::default()
        }
    }
}

pub struct World {
    pub config: ProtocolConfig,
    pub dir: Directory,
    pub aggregator: Aggregator,
    pub aggregator_public: AggregatorPublic,
    pub meters: Vec<MeterAgent>,
    pub secrets: Vec<MeterSecrets>,
    pub rng: ChaCha20Rng,
    pub now: i64,
}

impl World {
    pub fn new(meters: usize, seed: u64) -> World {
        Self::with_config(meters, seed, ProtocolConfig::default())
    }

    pub fn with_config(meters: usize, seed: u64, config: ProtocolConfig) -> World {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let key = AggregatorKey::generate("agg-1", &mut rng);
        let aggregator_public = key.public();
        let mut dir = Directory::new(2048);
        let pool = key_pool();
        let secrets: Vec<MeterSecrets> =
            (0..meters).map(|i| pool[i % pool.len()].clone()).collect();
        let mut agents = Vec::new();
        for (i, s) in secrets.iter().enumerate() {
            dir.enrol(&s.enrolment(&meter_id(i), REGION, T0)).unwrap();
            agents.push(MeterAgent::new(
                meter_id(i),
                REGION,
                s.clone(),
                config.clone(),
                vec![aggregator_public.clone()],
            ));
        }
        World {
            aggregator: Aggregator::new(key, config.clone()),
            config,
            dir,
            aggregator_public,
            meters: agents,
            secrets,
            rng,
            now: T0,
        }
    }

    pub fn index_of(&self, id: &str) -> usize {
        self.meters.iter().position(|m| m.meter_id() == id).unwrap()
    }

    /// Records one reading per meter for `interval`.
    pub fn record(&mut self, interval: i64, readings: &[Vec<u64>]) {
        for (m, r) in self.meters.iter_mut().zip(readings) {
            m.record_reading(interval, r.clone());
        }
    }

    fn deliver_control(&mut self, log: &mut Log, outputs: Vec<Output>, faults: &mut Faults) {
        // Messages to meters, in publication order (one control partition per region).
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        while let Some(o) = queue.pop_front() {
            match o {
                Output::Open(open) => {
                    let silent = faults
                        .silent_in_share_phase
                        .get(&open.attempt)
                        .cloned()
                        .unwrap_or_default();
                    let mut bundles = Vec::new();
                    for m in self.meters.iter_mut() {
                        if silent.iter().any(|s| s == m.meter_id()) {
                            continue;
                        }
                        match m.on_round_open(&self.dir, &open, self.now, &mut self.rng) {
                            Ok(Some(b)) => bundles.push(b),
                            Ok(None) => {}
                            Err(r) => log.refusals.push((m.meter_id().to_string(), r)),
                        }
                    }
                    self.now += 1_000;
                    for mut b in bundles {
                        if let Some(t) = faults.tamper_bundle.as_mut()
                            && !t(&mut b, &self.secrets)
                        {
                            continue;
                        }
                        log.bundles.push(b.clone());
                        let raw = encode(&b).unwrap();
                        let out = self.aggregator.on_share_bundle(
                            &mut self.dir,
                            b.clone(),
                            &raw,
                            self.now,
                        );
                        queue.extend(log.absorb(out));
                        if faults.replay_bundles {
                            let out =
                                self.aggregator
                                    .on_share_bundle(&mut self.dir, b, &raw, self.now);
                            queue.extend(log.absorb(out));
                        }
                    }
                }
                Output::Redistribute(r) => {
                    let i = self.index_of(&r.recipient);
                    if faults.silent_in_partial_phase.contains(&r.recipient) {
                        continue;
                    }
                    match self.meters[i].on_redistribution(&self.dir, &r) {
                        Ok(Some(mut p)) => {
                            if let Some(t) = faults.tamper_partial.as_mut() {
                                t(&mut p, &self.secrets);
                            }
                            log.partials.push(p.clone());
                            let raw = encode(&p).unwrap();
                            self.now += 10;
                            let out = self.aggregator.on_partial(&mut self.dir, p, &raw, self.now);
                            queue.extend(log.absorb(out));
                        }
                        Ok(None) => {}
                        Err(e) => log.refusals.push((r.recipient.clone(), e)),
                    }
                }
                Output::Outcome(o) => {
                    for m in self.meters.iter_mut() {
                        if let Err(e) = m.on_outcome(&o) {
                            log.refusals.push((m.meter_id().to_string(), e));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs the round of `interval` to its end, advancing the clock past deadlines as needed.
    pub fn run_round(&mut self, interval: i64, faults: &mut Faults) -> Log {
        let mut log = Log::default();
        let out = self
            .aggregator
            .open_round(&self.dir, REGION, interval, self.now);
        let out = log.absorb(out);
        self.deliver_control(&mut log, out, faults);
        // Let deadlines pass until the round is closed.
        for _ in 0..10 {
            if !self.aggregator.knows(REGION, interval)
                || self
                    .aggregator
                    .round_open_message(REGION, interval)
                    .is_none()
            {
                break;
            }
            self.now += self.config.share_deadline.as_millis() as i64
                + self.config.partial_deadline.as_millis() as i64
                + 1;
            let out = self.aggregator.on_tick(&mut self.dir, self.now);
            let out = log.absorb(out);
            self.deliver_control(&mut log, out, faults);
        }
        log
    }
}

/// Deterministic readings: meter i, interval k -> [import, export].
pub fn readings(meters: usize, k: u64) -> Vec<Vec<u64>> {
    (0..meters as u64)
        .map(|i| vec![100 + (i * 37 + k * 11) % 900, (i * 13 + k) % 200])
        .collect()
}

/// The plain sum of the readings of `members` (indices into `readings`).
pub fn plain_sum(readings: &[Vec<u64>], members: &[usize]) -> Vec<u64> {
    let mut sum = vec![0u64; readings[0].len()];
    for &i in members {
        for (s, v) in sum.iter_mut().zip(&readings[i]) {
            *s += v;
        }
    }
    sum
}

/// The plain sum of every meter's readings.
pub fn sum_all(readings: &[Vec<u64>]) -> Vec<u64> {
    plain_sum(readings, &(0..readings.len()).collect::<Vec<_>>())
}
