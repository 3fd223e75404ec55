//! [`RegionNode`]: the parties one process plays in one region's day — any number of meters
//! (each a household gateway: deal, commit, reveal, carry), the committee seats among them
//! (check the column, complain, publish a partial) and optionally the aggregator (markers,
//! range-proof complaints, products, total) — over the round log and the bundles topic.
//!
//! The loop: deal what is due, drain the topics (each message through the wire reader; refusals
//! to the dead-letter topic), then for every round that changed or has a deadline due, replay its
//! log and act. Each meter's ledger and carried values are written to its state file (mode 0600:
//! readings are private) *before* the commitment, notice or carry it records is published, so a
//! restarted gateway repeats at most a step's output and never deals or reveals a round twice.

use super::early::EarlyParts;
use super::parts::{Kept, MAX_PARTS_PER_KEY, PartStore};
use super::topics::{
    Contexts, Incoming, part_key, post_day_record, post_part, post_record, read_part, read_record,
};
use crate::driver::{DRAIN_GAP, Handler, Inbox, Turn, blocking};
use crate::metrics::Metrics;
use crate::{ServiceError, Shutdown, dlq, now_ms};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zeal_connectors::kafka::admin::partition_count;
use zeal_connectors::kafka::{
    AssignedConsumer, KafkaConfig, KeyedProducer, Record as KafkaRecord, StartAt, TopicNames,
    partition_for_key,
};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::crypto::paillier::SeatSecretKey;
use zeal_protocol::v2::day::{DayRecord, KeyJudgements, announce, close_keys};
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::bundle::{Bundle, make_bundle};
use zeal_protocol::v2::round::check::{ColumnEntry, SeatCheck, check_column};
use zeal_protocol::v2::round::ledger::{Ledger, Step};
use zeal_protocol::v2::round::log::{
    Author, Directory, Entry, Outcome, Parts, Record, Replay, RoundView, Verified, sign,
};
use zeal_protocol::v2::round::markers;
use zeal_protocol::v2::round::partial::{PartialRefused, SeatAnswer, seat_answer};

/// The longest a node sleeps with nothing due (it also checks for shutdown this often).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// The keys of the parties a node plays.
#[derive(Clone, Default)]
pub struct Party {
    /// Meters' identity keys (a seat's partials and complaints are signed with its meter's key,
    /// so every seat held is also here).
    pub meters: BTreeMap<String, SigningKey>,
    /// Seats' daily Paillier secret keys, by seat meter id.
    pub seats: BTreeMap<String, SeatSecretKey>,
    /// The aggregator's signing key, when this node aggregates the region.
    pub aggregator: Option<SigningKey>,
}

impl Party {
    /// `meters` of a region set up in-process (demo, tests), with the seats among them.
    pub fn meters_of<'a>(
        region: &zeal_protocol::v2::local::LocalRegion,
        meters: impl IntoIterator<Item = &'a String>,
    ) -> Party {
        let mut party = Party::default();
        for m in meters {
            party.meters.insert(m.clone(), region.identities[m].clone());
            if let Some(i) = region.ctx.seats.iter().position(|s| &s.meter == m) {
                party
                    .seats
                    .insert(m.clone(), region.seat_secrets[i].clone());
            }
        }
        party
    }

    /// The aggregator of a region set up in-process.
    pub fn aggregator_of(region: &zeal_protocol::v2::local::LocalRegion) -> Party {
        Party {
            aggregator: Some(region.aggregator.clone()),
            ..Party::default()
        }
    }
}

/// What a node needs to run a region's day.
#[derive(Clone)]
pub struct RegionSettings {
    /// Broker.
    pub kafka: KafkaConfig,
    /// Topic names.
    pub topics: TopicNames,
    /// The day's context (region, parameters, committee, seats with keys, roster, cutoff); its
    /// `start` is any round of the day. With no seats, the day is set up on the log first: the
    /// node's seats announce their keys, its aggregator closes them (KeysClosed), and every
    /// node takes the seats of the first valid KeysClosed (`day::day_seats`).
    pub day: RoundContext,
    /// Certified identity keys and the aggregator's key.
    pub directory: Directory,
    /// Where each meter's ledger is kept (created if missing).
    pub state_dir: PathBuf,
    /// The aggregator's wait per phase (commit, reveal, complaints, partials) before it closes
    /// the phase with whatever the log holds; phases also close early once everyone answered.
    pub phase: Duration,
    /// Name in dead letters and logs.
    pub name: String,
    /// Counters.
    pub metrics: Metrics,
    /// Counts rounds this node's aggregator saw decided (progress display).
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// Fault drill: return right after posting the commitments, as a gateway that crashes
    /// between commit and reveal (its bundles are lost; its ledger is on disk).
    pub crash_after_commit: bool,
}

/// What a node did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeReport {
    /// Each round's outcome as this node's replay saw it last.
    pub outcomes: BTreeMap<i64, Outcome>,
    /// Commitments posted by this node's meters.
    pub committed: usize,
    /// Reveal notices posted.
    pub revealed: usize,
    /// Withdrawals posted (a committed bundle lost in a restart).
    pub withdrawn: usize,
    /// Values carried to a later round.
    pub carried: usize,
    /// Values dropped (void or abandoned rounds).
    pub dropped: usize,
    /// Complaints posted by this node's seats and aggregator.
    pub complaints: usize,
    /// Parts its seats claimed missing on the log.
    pub claims: usize,
    /// Claimed parts its meters or aggregator posted on the log.
    pub parts_posted: usize,
    /// Partials posted.
    pub partials: usize,
    /// Messages dead-lettered.
    pub dead_letters: usize,
    /// The aggregator's markers and totals posted.
    pub markers: usize,
    /// The day's seats this node served rounds with, in rank order.
    pub seats: Vec<String>,
}

/// A meter's durable state: its ledger, the values of rounds it committed to, and the values it
/// carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct MeterState {
    ledger: Ledger,
    /// Values dealt per committed round, until revealed, carried or dropped.
    dealt: BTreeMap<i64, Vec<u64>>,
    /// Carried values per channel (added into the next round the meter deals).
    carry: Vec<u64>,
}

/// One round's records as this node read them.
struct RoundData {
    ctx: RoundContext,
    /// The round's log as read (every record's signature verified by the wire reader).
    log: Vec<Verified>,
    /// Distinct parts per (sender, seat), at most [`MAX_PARTS_PER_KEY`].
    parts: PartStore,
    /// The aggregator has signed a RevealClosed (valid or not): before one, no party consults
    /// the parts (complaints, columns and products all follow the first valid RevealClosed).
    reveal_closed: bool,
    /// Its meters' bundles (in memory only: lost on restart, then the meter withdraws).
    bundles: BTreeMap<String, Bundle>,
}

/// What this node did in a round and when its current phase began.
struct Marks {
    /// Posted and not to repeat: name → the aggregator's markers of that kind in the log then.
    posted: BTreeMap<String, usize>,
    /// Its seats' check results.
    checks: BTreeMap<String, bool>,
    /// Since when one of its seats lacks a revealed sender's part (after RevealClosed); once
    /// half a phase passed, the seat claims it missing on the log.
    lacking_since: Option<Instant>,
    /// Since when a claim about one of its meters' parts is open: once a quarter phase passed
    /// without the aggregator's answer, the meter answers itself (a fallback: answering at once
    /// would let a lying seat copy the whole column onto the log past its answer cap).
    unanswered_since: Option<Instant>,
    /// Claims (sender, seat) the aggregator answered: counted towards each seat's answer cap
    /// until read back.
    answered: BTreeSet<(String, String)>,
    /// The aggregator answers claims only with parts kept before this arrival number: the
    /// store's count when it first posted (or, after a restart, read) RevealClosed. A part a
    /// sender posts only once a seat claimed it would otherwise spend that seat's answer cap.
    held_at_close: Option<u64>,
    /// Judged complaints whose parts the aggregator already posted (`view.judged.len()` then):
    /// the parts are looked for again only when a complaint was judged since.
    complaint_parts_at: usize,
    /// When this node saw the round's first record.
    began: Instant,
    /// The aggregator's phase (0 commit … 3 partials, 4 decided) and when it began.
    phase: u8,
    phase_since: Instant,
    /// The aggregator already acted on this phase's deadline.
    deadline_acted: bool,
    dirty: bool,
    outcome: Outcome,
    /// Every meter of this node is past Committed in this decided round (read after each act).
    settled: bool,
    /// Senders validly accused and seats disqualified in this round (they carry to the day's
    /// later rounds).
    suspended: BTreeSet<String>,
    disqualified: BTreeSet<String>,
}

struct RoundState {
    data: RoundData,
    marks: Marks,
    /// The round's replay, advanced over each record once (started again when the context
    /// changes).
    replay: Replay,
}

/// The parties of one process in one region.
pub struct RegionNode {
    settings: RegionSettings,
    party: Party,
    /// Readings to deal, by round start and meter.
    due: BTreeMap<i64, BTreeMap<String, Vec<u64>>>,
    /// Rounds the node waits for before `run` returns.
    expect: BTreeSet<i64>,
    /// Each meter's state as last read from or written to its file (the file is written
    /// first: this is a copy, never ahead of the disk).
    states: std::sync::Mutex<BTreeMap<String, MeterState>>,
    /// The day's set-up as read from the log.
    setup: DaySetupState,
    /// Since when dealing the next round waits for an earlier round of one of its meters to
    /// settle (`Ledger::committed_before`).
    deferred_since: Option<Instant>,
    /// The day's round contexts, built once for all the messages read.
    contexts: Contexts,
}

/// Where the day's set-up stands in this node.
struct DaySetupState {
    /// The day's seats are fixed (given, or from the first valid KeysClosed read).
    fixed: bool,
    /// The day's records read, in log order.
    records: Vec<DayRecord>,
    /// This node's seats announced their keys.
    announced: bool,
    /// The aggregator's KeysClosed in the log when it last posted one (re-posted when its own
    /// reads back invalid: a key landed between its view and its marker).
    closed_posted: Option<usize>,
    /// Since when the aggregator waits for the seats' keys.
    since: Instant,
    /// Seat keys judged so far: each is judged once, though the aggregator lists the keys
    /// before its KeysClosed and then reads it back.
    judgements: KeyJudgements,
    /// Bundles-topic messages read before the seats were fixed, judged once they are.
    early_parts: EarlyParts,
}

impl RegionNode {
    /// A node playing `party` in the settings' region.
    pub fn new(settings: RegionSettings, party: Party) -> Self {
        RegionNode {
            party,
            due: BTreeMap::new(),
            deferred_since: None,
            contexts: Contexts::default(),
            expect: BTreeSet::new(),
            states: Default::default(),
            setup: DaySetupState {
                fixed: !settings.day.seats.is_empty(),
                records: Vec::new(),
                announced: false,
                closed_posted: None,
                since: Instant::now(),
                judgements: KeyJudgements::default(),
                early_parts: EarlyParts::default(),
            },
            settings,
        }
    }

    /// Queues a meter's values for the round starting at `start` (one value per interval and
    /// channel, as the protocol file orders them).
    pub fn submit(&mut self, start: i64, meter: &str, values: Vec<u64>) {
        self.due
            .entry(start)
            .or_default()
            .insert(meter.to_string(), values);
        self.expect.insert(start);
    }

    /// Makes `run` wait for the round starting at `start` (the aggregator serves every round it
    /// sees; this only says when it may stop).
    pub fn expect(&mut self, start: i64) {
        self.expect.insert(start);
    }

    fn state_path(&self, meter: &str) -> PathBuf {
        self.settings.state_dir.join(format!("{meter}.json"))
    }

    /// A meter's state: read from its file once, then kept (every change is written through).
    fn load(&self, meter: &str) -> Result<MeterState, ServiceError> {
        if let Some(s) = self.states.lock().expect("state lock").get(meter) {
            return Ok(s.clone());
        }
        let state = self.read_state(meter)?;
        self.states
            .lock()
            .expect("state lock")
            .insert(meter.to_string(), state.clone());
        Ok(state)
    }

    fn read_state(&self, meter: &str) -> Result<MeterState, ServiceError> {
        let path = self.state_path(meter);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ServiceError::State {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MeterState::default()),
            Err(source) => Err(ServiceError::State { path, source }),
        }
    }

    /// Writes a meter's state durably (temporary file, fsync, rename) with mode 0600.
    fn store(&self, meter: &str, state: &MeterState) -> Result<(), ServiceError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.state_path(meter);
        let err = |source| ServiceError::State {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.settings.state_dir).map_err(err)?;
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(&serde_json::to_vec(state).expect("state serialises"))
            .map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        self.states
            .lock()
            .expect("state lock")
            .insert(meter.to_string(), state.clone());
        Ok(())
    }

    /// Serves the region until every expected round reached its outcome (and this node's part in
    /// it is done) or `shutdown` turns true.
    pub async fn run(mut self, shutdown: Shutdown) -> Result<NodeReport, ServiceError> {
        let s = self.settings.clone();
        let producer = KeyedProducer::new(&s.kafka)?;
        let consumer = AssignedConsumer::new(&s.kafka, &format!("{}-v2", s.name))?;
        let log_partitions = partition_count(&s.kafka, &s.topics.rounds).await?;
        let part_partitions = partition_count(&s.kafka, &s.topics.bundles).await?;
        let mut assignment = vec![(
            s.topics.rounds.as_str(),
            partition_for_key(s.day.region.as_bytes(), log_partitions),
            StartAt::Beginning,
        )];
        let mut part_set = BTreeSet::new();
        if self.party.aggregator.is_some() {
            part_set.extend(0..part_partitions);
        }
        for seat in self.party.seats.keys() {
            part_set.insert(partition_for_key(
                part_key(&s.day.region, seat).as_bytes(),
                part_partitions,
            ));
        }
        for p in part_set {
            assignment.push((s.topics.bundles.as_str(), p, StartAt::Beginning));
        }
        consumer.assign(&assignment)?;
        // Nothing is posted before the round log is read up to where it ended at the start: a
        // node restarted mid-day would otherwise post again a marker, seat key or product that
        // is further down the log (a second marker is evidence against the aggregator).
        let (log_topic, log_partition) = (s.topics.rounds.clone(), assignment[0].1);
        let log_end = blocking(|| consumer.watermarks(&log_topic, log_partition))?.1;
        let caught_up = log_end == 0;

        let mut turns = Turns {
            producer,
            log_topic,
            log_end,
            caught_up,
            crashed: false,
            rng: ChaCha20Rng::from_os_rng(),
            report: NodeReport::default(),
            rounds: BTreeMap::new(),
            node: &mut self,
        };
        Inbox::new(&consumer, s.metrics.clone())
            .drive(&shutdown, &mut turns)
            .await?;
        let Turns {
            producer,
            crashed,
            mut report,
            ..
        } = turns;
        if crashed {
            return Ok(report);
        }
        producer.flush(Duration::from_secs(10))?;
        report.seats = self
            .settings
            .day
            .seats
            .iter()
            .map(|s| s.meter.clone())
            .collect();
        Ok(report)
    }

    /// The earliest time at which `run` has something to do without a new message: a phase
    /// deadline, a claim falling due, the seats' keys' deadline or a deferred dealing.
    fn next_due(&self, rounds: &BTreeMap<i64, RoundState>) -> Option<Instant> {
        let phase = self.settings.phase;
        let aggregator = self.party.aggregator.is_some();
        let setup = (aggregator && !self.setup.fixed).then(|| self.setup.since + phase);
        let deferred = self.deferred_since.map(|t| t + phase * 4);
        let rounds = rounds.values().flat_map(|r| {
            let m = &r.marks;
            let deadline = (aggregator && m.outcome == Outcome::Open && !m.deadline_acted)
                .then(|| m.phase_since + phase);
            [
                deadline,
                m.lacking_since.map(|t| t + phase / 2),
                m.unanswered_since.map(|t| t + phase / 4),
            ]
        });
        [setup, deferred].into_iter().chain(rounds).flatten().min()
    }

    /// The day's set-up on the log: this node's seats announce their keys (once); its
    /// aggregator closes the keys once every committee seat announced or the phase deadline
    /// passed, and again if its KeysClosed reads back invalid.
    async fn set_up_day(
        &mut self,
        producer: &KeyedProducer,
        report: &mut NodeReport,
    ) -> Result<(), ServiceError> {
        let day = &self.settings.day;
        let index = Params::day_of(day.start);
        let topic = &self.settings.topics.rounds;
        if !self.setup.announced {
            self.setup.announced = true;
            for (seat, secret) in &self.party.seats {
                let Some(identity) = self.party.meters.get(seat) else {
                    continue;
                };
                let a = announce(identity, &day.region, index, seat, &day.cutoff, secret);
                post_day_record(producer, topic, day, &DayRecord::SeatKey(a)).await?;
                self.settings.metrics.published("seat_key");
            }
        }
        let Some(key) = &self.party.aggregator else {
            return Ok(());
        };
        let closed = self
            .setup
            .records
            .iter()
            .filter(|r| matches!(r, DayRecord::KeysClosed(_)))
            .count();
        if self.setup.closed_posted.is_some_and(|n| closed <= n) {
            return Ok(()); // posted, not read back yet
        }
        let seats: Vec<(String, zeal_protocol::ed25519_dalek::VerifyingKey)> = day
            .committee
            .seats()
            .iter()
            .filter_map(|s| {
                self.settings
                    .directory
                    .meters
                    .get(s)
                    .map(|k| (s.clone(), *k))
            })
            .collect();
        let announcements: Vec<_> = self
            .setup
            .records
            .iter()
            .filter_map(|r| match r {
                DayRecord::SeatKey(a) => Some(a.clone()),
                DayRecord::KeysClosed(_) => None,
            })
            .collect();
        let all = seats
            .iter()
            .all(|(s, _)| announcements.iter().any(|a| a.seat == *s));
        if !all && self.setup.since.elapsed() < self.settings.phase {
            return Ok(());
        }
        let keys = self.setup.judgements.keys_before_close(
            &day.params,
            &day.region,
            index,
            &day.cutoff,
            &seats,
            &announcements,
        );
        let k = close_keys(key, &day.region, index, &day.cutoff, &keys);
        post_day_record(producer, topic, day, &DayRecord::KeysClosed(k)).await?;
        self.settings.metrics.published("keys_closed");
        self.setup.closed_posted = Some(closed);
        report.markers += 1;
        Ok(())
    }

    /// Takes a record of the day's set-up; on a KeysClosed, the day's seats are those of the
    /// first valid one (if this is it, rounds can start).
    fn take_day_record(&mut self, record: DayRecord) {
        let closes = matches!(record, DayRecord::KeysClosed(_));
        self.setup.records.push(record);
        if self.setup.fixed || !closes {
            return;
        }
        let day = &self.settings.day;
        let setup =
            self.setup
                .judgements
                .day_seats_of(day, &self.settings.directory, &self.setup.records);
        if setup.keys_closed_at.is_some() {
            tracing::info!(
                region = %day.region,
                seats = setup.seats.len(),
                "the day's keys are closed"
            );
            self.settings.day.seats = setup.seats;
            self.setup.fixed = true;
            // A seat whose secret is not the day's accepted key (a process restarted after its
            // first announcement and generated another) is absent for the day: it never posts a
            // complaint or partial it cannot stand behind.
            let accepted: BTreeMap<&str, _> = self
                .settings
                .day
                .seats
                .iter()
                .map(|s| (s.meter.as_str(), &s.key))
                .collect();
            self.party.seats.retain(|seat, secret| {
                let keep = accepted.get(seat.as_str()) == Some(&secret.public());
                if !keep {
                    tracing::warn!(%seat, "this seat holds no key of the day: absent for the day");
                }
                keep
            });
        }
    }

    /// Whether this node has nothing left to do in a decided round: its seats posted partials
    /// or never will, its meters' values are settled.
    fn done_with(&self, r: &RoundState) -> bool {
        r.marks.outcome != Outcome::Open && r.marks.settled
    }

    fn context(&self, start: i64) -> RoundContext {
        let mut ctx = self.settings.day.clone();
        ctx.start = start;
        ctx
    }

    fn round<'a>(
        &self,
        rounds: &'a mut BTreeMap<i64, RoundState>,
        start: i64,
    ) -> &'a mut RoundState {
        // The day's context is cloned only for a round not seen yet (this runs per message).
        rounds.entry(start).or_insert_with(|| {
            if self.party.aggregator.is_some() {
                self.settings.metrics.round_opened();
            }
            RoundState {
                data: RoundData {
                    ctx: self.context(start),
                    log: Vec::new(),
                    parts: PartStore::default(),
                    reveal_closed: false,
                    bundles: BTreeMap::new(),
                },
                marks: Marks {
                    posted: BTreeMap::new(),
                    checks: BTreeMap::new(),
                    phase: 0,
                    lacking_since: None,
                    unanswered_since: None,
                    answered: BTreeSet::new(),
                    held_at_close: None,
                    complaint_parts_at: 0,
                    began: Instant::now(),
                    phase_since: Instant::now(),
                    deadline_acted: false,
                    dirty: true,
                    outcome: Outcome::Open,
                    settled: false,
                    suspended: BTreeSet::new(),
                    disqualified: BTreeSet::new(),
                },
                replay: Replay::new(),
            }
        })
    }

    /// Deals the earliest queued round (its meters' bundles in parallel), then commits: ledger
    /// first (durably), then the commitment. One round per call, so the node reads the log and
    /// reveals between dealings.
    async fn deal(
        &mut self,
        producer: &KeyedProducer,
        rounds: &mut BTreeMap<i64, RoundState>,
        report: &mut NodeReport,
        rng: &mut ChaCha20Rng,
    ) -> Result<(), ServiceError> {
        let Some((&start, meters)) = self.due.first_key_value() else {
            return Ok(());
        };
        // A meter whose earlier round is still only committed (after a restart its bundle is
        // lost: it withdraws first) deals once that round settled, so the carry rides this round
        // rather than a later one; at most four phases, then it deals anyway.
        let mut unsettled = false;
        for meter in meters.keys() {
            unsettled |= self.load(meter)?.ledger.committed_before(start);
        }
        if unsettled {
            let since = *self.deferred_since.get_or_insert_with(Instant::now);
            if since.elapsed() < self.settings.phase * 4 {
                return Ok(());
            }
            tracing::warn!(start, "an earlier round has not settled: dealing anyway");
        }
        self.deferred_since = None;
        let Some((start, meters)) = self.due.pop_first() else {
            return Ok(());
        };
        let ctx = self.context(start);
        let mut jobs = Vec::new();
        for (meter, mut values) in meters {
            let Some(key) = self.party.meters.get(&meter).cloned() else {
                return Err(ServiceError::Settings(format!(
                    "{meter} is not a meter of this node"
                )));
            };
            let mut state = self.load(&meter)?;
            add_into(&mut values, &state.carry);
            if let Err(e) = state.ledger.commit(&self.settings.day.params, start) {
                tracing::warn!(%meter, start, error = %e, "not dealing this round");
                continue;
            }
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(rng, &mut seed);
            let (ctx2, m2, v2) = (ctx.clone(), meter.clone(), values.clone());
            let job = tokio::task::spawn_blocking(move || {
                make_bundle(&ctx2, &m2, &v2, &mut ChaCha20Rng::from_seed(seed))
            });
            jobs.push((meter, key, state, values, job));
        }
        for (meter, key, mut state, values, job) in jobs {
            let bundle = job
                .await
                .map_err(|e| ServiceError::Settings(format!("dealing task: {e}")))?
                .map_err(|e| ServiceError::Settings(format!("{meter} cannot deal: {e}")))?;
            state.carry.clear();
            state.dealt.insert(start, values);
            self.store(&meter, &state)?;
            let record = sign(
                &ctx,
                &key,
                Author::Meter(meter.clone()),
                Entry::Commit(bundle.public.commitment(&ctx)),
            );
            self.round(rounds, start)
                .data
                .bundles
                .insert(meter.clone(), bundle);
            post_record(producer, &self.settings.topics.rounds, &ctx, &record).await?;
            self.settings.metrics.published(record.entry.name());
            report.committed += 1;
        }
        Ok(())
    }

    /// Takes one consumed message into its round (or the dead-letter topic).
    async fn take(
        &mut self,
        producer: &KeyedProducer,
        m: &KafkaRecord,
        rounds: &mut BTreeMap<i64, RoundState>,
        report: &mut NodeReport,
    ) -> Result<(), ServiceError> {
        let s = &self.settings;
        if m.topic != s.topics.rounds && !self.setup.fixed && self.setup.early_parts.hold(m) {
            return Ok(());
        }
        let incoming = if m.topic == s.topics.rounds {
            read_record(&mut self.contexts, &s.day, &s.directory, m)
        } else {
            read_part(&mut self.contexts, &s.day, m)
        };
        match incoming {
            Incoming::Skip => {}
            Incoming::Day(record) => self.take_day_record(record),
            Incoming::Record(start, record) => {
                let round = self.round(rounds, start);
                if matches!(
                    (&record.record().author, &record.record().entry),
                    (Author::Aggregator, Entry::RevealClosed(_))
                ) {
                    round.data.reveal_closed = true;
                    let arrivals = round.data.parts.arrivals();
                    round.marks.held_at_close.get_or_insert(arrivals);
                }
                // A seat's product already on the log (posted before a restart) is not posted
                // again.
                if let (Author::Aggregator, Entry::Products { seat, .. }) =
                    (&record.record().author, &record.record().entry)
                    && let Some(i) = round.data.ctx.seats.iter().position(|s| &s.meter == seat)
                {
                    round
                        .marks
                        .posted
                        .entry(format!("products {i}"))
                        .or_insert(0);
                }
                // A part on the log (an answer, or a complaint's part) is a part like any other.
                if let Entry::PartPosted { sender, seat, part } = &record.record().entry {
                    round.data.parts.insert_posted(
                        &round.data.ctx,
                        record.record().author == Author::Aggregator,
                        sender.clone(),
                        seat.clone(),
                        part.clone(),
                    );
                }
                round.data.log.push(record);
                round.marks.dirty = true;
            }
            Incoming::Part(start, sender, seat, part) => {
                let round = self.round(rounds, start);
                let kept = round
                    .data
                    .parts
                    .insert(&round.data.ctx, sender.clone(), seat, part);
                if kept == Kept::Copy {
                    return Ok(());
                }
                if kept == Kept::Full {
                    let detail =
                        format!("more than {MAX_PARTS_PER_KEY} distinct parts from {sender}");
                    return self
                        .dead_letter(
                            producer,
                            m,
                            zeal_schemas::RejectReason::Duplicate,
                            detail,
                            Some(sender),
                            report,
                        )
                        .await;
                }
                round.marks.dirty = true;
            }
            Incoming::Refused(reason, detail, origin) => {
                self.dead_letter(producer, m, reason, detail, origin, report)
                    .await?;
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        producer: &KeyedProducer,
        m: &KafkaRecord,
        reason: zeal_schemas::RejectReason,
        detail: String,
        origin: Option<String>,
        report: &mut NodeReport,
    ) -> Result<(), ServiceError> {
        report.dead_letters += 1;
        // Only the aggregator writes dead letters for the round log (every node refuses the same
        // records; one letter per record is enough). Other nodes count and log them.
        if self.party.aggregator.is_none() && m.topic == self.settings.topics.rounds {
            tracing::debug!(?reason, %detail, "refused round record");
            return Ok(());
        }
        let letter = dlq::letter(
            m,
            reason,
            detail,
            origin,
            Some(self.settings.day.region.clone()),
            &self.settings.name,
            now_ms(),
        );
        dlq::publish(
            producer,
            &self.settings.topics.dlq,
            &letter,
            &self.settings.metrics,
        )
        .await?;
        Ok(())
    }

    /// Replays one round and does what each party of this node should do now.
    async fn act(
        &self,
        producer: &KeyedProducer,
        round: &mut RoundState,
        report: &mut NodeReport,
        rng: &mut ChaCha20Rng,
    ) -> Result<(), ServiceError> {
        round.marks.dirty = false;
        let data = &round.data;
        let ctx = &data.ctx;
        // Per (sender, seat), the part the sender's notice names: a sender cannot make a seat
        // judge a part it did not commit to. Chosen only once they can be consulted.
        let parts = if data.reveal_closed {
            data.parts.choose(ctx, &data.log)
        } else {
            Parts::new()
        };
        // Each record is judged once (the wire reader verified its signature).
        let view = round
            .replay
            .advance_verified(ctx, &self.settings.directory, &data.log, &parts);
        let mut out = Vec::new();
        self.act_meters(producer, data, &mut round.marks, view, &mut out, report)
            .await?;
        self.act_seats(data, &mut round.marks, view, &parts, &mut out, report, rng)?;
        self.act_aggregator(data, &mut round.marks, view, &parts, &mut out, report);
        for record in &out {
            post_record(producer, &self.settings.topics.rounds, ctx, record).await?;
            self.settings.metrics.published(record.entry.name());
        }
        if !out.is_empty() {
            round.marks.dirty = true;
        }
        if self.party.aggregator.is_some()
            && round.marks.outcome == Outcome::Open
            && view.outcome != Outcome::Open
        {
            let m = &self.settings.metrics;
            let seconds = round.marks.began.elapsed().as_secs_f64();
            m.round_closed(outcome_name(&view.outcome), Some(seconds));
            if let (Some((_, revealed)), Some((_, final_set, _))) =
                (&view.revealed, &view.final_set)
            {
                m.excluded(revealed.len().saturating_sub(final_set.len()) as u64);
            }
        }
        round.marks.outcome = view.outcome.clone();
        if view.outcome != Outcome::Open && !round.marks.settled {
            let mut settled = true;
            for m in self.party.meters.keys() {
                settled &= self.load(m)?.ledger.step(ctx.start) != Some(Step::Committed);
            }
            round.marks.settled = settled;
        }
        round.marks.suspended = view.suspended();
        round.marks.disqualified = view.disqualified.keys().cloned().collect();
        Ok(())
    }

    /// Meters: reveal when the first valid CommitClosed lists them (parts first, then the
    /// notice), withdraw when the bundle was lost, carry when the log proves the value was never
    /// revealed, drop when the round is void or abandoned.
    async fn act_meters(
        &self,
        producer: &KeyedProducer,
        data: &RoundData,
        marks: &mut Marks,
        view: &RoundView,
        out: &mut Vec<Record>,
        report: &mut NodeReport,
    ) -> Result<(), ServiceError> {
        let ctx = &data.ctx;
        let start = ctx.start;
        let decided = view.outcome != Outcome::Open;
        // Claims about its own parts the aggregator left open for a quarter phase: post them on
        // the log itself.
        let mut open = false;
        for (seat, sender) in view.open_claims() {
            let (Some(key), Some(bundle), Some(i)) = (
                self.party.meters.get(sender),
                data.bundles.get(sender),
                ctx.seats.iter().position(|s| &s.meter == seat),
            ) else {
                continue;
            };
            if view.final_set.is_some() {
                break;
            }
            let since = *marks.unanswered_since.get_or_insert_with(Instant::now);
            if since.elapsed() < self.settings.phase / 4 {
                open = true;
                continue;
            }
            if marks
                .posted
                .insert(format!("part {sender} {seat}"), 0)
                .is_none()
            {
                report.parts_posted += 1;
                let entry = Entry::PartPosted {
                    sender: sender.clone(),
                    seat: seat.clone(),
                    part: bundle.parts[i].clone(),
                };
                out.push(sign(ctx, key, Author::Meter(sender.clone()), entry));
            }
        }
        if !open {
            marks.unanswered_since = None;
        }
        for (meter, key) in &self.party.meters {
            let mut state = self.load(meter)?;
            match state.ledger.step(start) {
                Some(Step::Committed) => {
                    let answered = format!("answer {meter}");
                    if view.should_reveal(ctx, meter) {
                        if marks.posted.contains_key(&answered) {
                            continue;
                        }
                        marks.posted.insert(answered, 0);
                        let entry = match data.bundles.get(meter) {
                            Some(bundle) => {
                                // Every part acknowledged before the notice.
                                futures::future::try_join_all(
                                    ctx.seats.iter().zip(&bundle.parts).map(|(seat, part)| {
                                        post_part(
                                            producer,
                                            &self.settings.topics.bundles,
                                            ctx,
                                            meter,
                                            &seat.meter,
                                            part,
                                        )
                                    }),
                                )
                                .await?;
                                for _ in &bundle.parts {
                                    self.settings.metrics.published("part");
                                }
                                state.ledger.reveal(start).map_err(ledger_err)?;
                                self.store(meter, &state)?;
                                report.revealed += 1;
                                Entry::Notice(Box::new(bundle.public.clone()))
                            }
                            None => {
                                // Committed before a restart: the bundle is gone, so withdraw.
                                report.withdrawn += 1;
                                Entry::Withdraw
                            }
                        };
                        out.push(sign(ctx, key, Author::Meter(meter.clone()), entry));
                    } else if view.may_carry(meter) {
                        state.ledger.carry(start, meter, view).map_err(ledger_err)?;
                        let values = state.dealt.remove(&start).unwrap_or_default();
                        add_into(&mut state.carry, &values);
                        self.store(meter, &state)?;
                        report.carried += 1;
                    } else if decided {
                        // Listed but never revealed in time: its parts may be out, never carry.
                        state.ledger.drop_values(start);
                        state.dealt.remove(&start);
                        self.store(meter, &state)?;
                        report.dropped += 1;
                    }
                }
                Some(Step::Revealed) if decided => {
                    if matches!(view.outcome, Outcome::Void | Outcome::Abandoned) {
                        state.ledger.drop_values(start);
                        report.dropped += 1;
                    }
                    if state.dealt.remove(&start).is_some() || view.outcome != Outcome::Lapsed {
                        self.store(meter, &state)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Seats: check the column once every revealed part is here (complaints only when the
    /// check fails), then answer the final set with a partial (recorded durably first).
    #[allow(clippy::too_many_arguments)]
    fn act_seats(
        &self,
        data: &RoundData,
        marks: &mut Marks,
        view: &RoundView,
        parts: &Parts<'_>,
        out: &mut Vec<Record>,
        report: &mut NodeReport,
        rng: &mut ChaCha20Rng,
    ) -> Result<(), ServiceError> {
        let ctx = &data.ctx;
        let mut lacking = false;
        for (seat, secret) in &self.party.seats {
            let (Some(i), Some(key)) = (
                ctx.seats.iter().position(|s| &s.meter == seat),
                self.party.meters.get(seat),
            ) else {
                continue;
            };
            let author = || Author::Meter(seat.clone());
            if view.revealed.is_some() && !marks.checks.contains_key(seat) {
                let column = markers::column(ctx, view, parts, i);
                if markers::column_complete(view, &column) {
                    let entries: Vec<ColumnEntry<'_>> = column.values().copied().collect();
                    let passed = match check_column(ctx, i, secret, &entries, rng) {
                        SeatCheck::Passed => true,
                        SeatCheck::Failed(found) => {
                            report.complaints += found.len();
                            out.extend(
                                found
                                    .into_iter()
                                    .map(|c| sign(ctx, key, author(), Entry::Complaint(c))),
                            );
                            false
                        }
                    };
                    marks.checks.insert(seat.clone(), passed);
                } else if view.final_set.is_none() {
                    // A part missing: claim it on the log once half a phase passed (it may be
                    // on its way); the sender or the aggregator answers with it, or FinalSet
                    // leaves the sender out.
                    let claimed = format!("claims {seat}");
                    if !marks.posted.contains_key(&claimed) {
                        let since = *marks.lacking_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.settings.phase / 2 {
                            marks.posted.insert(claimed, 0);
                            let claims = markers::claims(ctx, view, &column, i);
                            report.claims += claims.len();
                            out.extend(claims.into_iter().map(|e| sign(ctx, key, author(), e)));
                        } else {
                            lacking = true;
                        }
                    }
                }
            }
            let answered = format!("partial {seat}");
            if let Some((_, _, hash)) = &view.final_set
                && !marks.posted.contains_key(&answered)
            {
                // A seat that never checked (a part was missing) re-checks the final set.
                let passed = marks.checks.get(seat).copied().unwrap_or(false);
                let column = markers::column(ctx, view, parts, i);
                match seat_answer(ctx, view, i, secret, passed, &column, rng) {
                    SeatAnswer::Partial(sums) => {
                        if !self.record_partial(seat, ctx.start, hash)? {
                            continue;
                        }
                        report.partials += 1;
                        out.push(sign(
                            ctx,
                            key,
                            author(),
                            Entry::Partial {
                                final_set: *hash,
                                sums,
                            },
                        ));
                    }
                    SeatAnswer::Complaints(found) => {
                        report.complaints += found.len();
                        out.extend(
                            found
                                .into_iter()
                                .map(|c| sign(ctx, key, author(), Entry::Complaint(c))),
                        );
                    }
                    // A final-set member's part is still on its way: answer when it arrives.
                    SeatAnswer::Nothing(PartialRefused::MissingPart(_)) => continue,
                    SeatAnswer::Nothing(_) => {}
                }
                marks.posted.insert(answered, 0);
            }
        }
        // Woken again when a seat's claim falls due (the loop's `claim_due`).
        if !lacking {
            marks.lacking_since = None;
        }
        Ok(())
    }

    /// Records durably that `seat` publishes its partial of round `start` over `final_set`;
    /// `false` when it already published one over another set (it never publishes two).
    fn record_partial(
        &self,
        seat: &str,
        start: i64,
        final_set: &zeal_protocol::v2::encoding::Hash,
    ) -> Result<bool, ServiceError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.settings.state_dir.join(format!("{seat}.partials"));
        let err = |source| ServiceError::State {
            path: path.clone(),
            source,
        };
        let line = format!("{start} {}", hex(&final_set.0));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for l in text.lines() {
                    if l.split_whitespace().next() == Some(&start.to_string()) {
                        return Ok(l == line);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        std::fs::create_dir_all(&self.settings.state_dir).map_err(err)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        writeln!(f, "{line}").map_err(err)?;
        f.sync_all().map_err(err)?;
        Ok(true)
    }

    /// The aggregator: each marker once the phase's answers are in or its deadline passed;
    /// range-proof complaints and products after RevealClosed; the total with d + 1 valid
    /// partials, ABANDONED at the partial deadline. A marker of its own that reads back invalid
    /// (a record landed between its view and its marker) is posted again from the new view.
    fn act_aggregator(
        &self,
        data: &RoundData,
        marks: &mut Marks,
        view: &RoundView,
        parts: &Parts<'_>,
        out: &mut Vec<Record>,
        report: &mut NodeReport,
    ) {
        let Some(key) = &self.party.aggregator else {
            return;
        };
        let ctx = &data.ctx;
        let phase = if view.outcome != Outcome::Open {
            4
        } else if view.commit_closed.is_none() {
            0
        } else if view.revealed.is_none() {
            1
        } else if view.final_set.is_none() {
            2
        } else {
            3
        };
        if phase != marks.phase {
            marks.phase = phase;
            marks.phase_since = Instant::now();
            marks.deadline_acted = false;
        }
        let due = marks.phase_since.elapsed() >= self.settings.phase;
        if due {
            marks.deadline_acted = true;
        }
        // The part of every judged seat complaint goes on the log: the log alone then judges it.
        // Looked for only when a complaint was judged since the last time (not on every act).
        let complaint_parts = if view.judged.len() != marks.complaint_parts_at {
            marks.complaint_parts_at = view.judged.len();
            markers::complaint_parts(ctx, view, parts)
        } else {
            Vec::new()
        };
        for e in complaint_parts {
            if let Entry::PartPosted { sender, seat, .. } = &e
                && marks
                    .posted
                    .insert(format!("complaint part {sender} {seat}"), 0)
                    .is_none()
            {
                report.parts_posted += 1;
                out.push(sign(ctx, key, Author::Aggregator, e));
            }
        }
        let post = |marks: &mut Marks,
                    out: &mut Vec<Record>,
                    report: &mut NodeReport,
                    name: &str,
                    entry: Entry| {
            // Posted before and not yet read back: wait. Read back and still not valid: again.
            let mine = own_markers(&data.log, name);
            if marks.posted.get(name).is_some_and(|&n| mine <= n) {
                return;
            }
            marks.posted.insert(name.to_string(), mine);
            report.markers += 1;
            out.push(sign(ctx, key, Author::Aggregator, entry));
        };
        match phase {
            0 => {
                let eligible = ctx
                    .roster
                    .iter()
                    .filter(|m| !ctx.suspended.contains(*m))
                    .count();
                if view.commits.len() >= eligible || due {
                    post(
                        marks,
                        out,
                        report,
                        "CommitClosed",
                        markers::commit_closed(view),
                    );
                }
            }
            // Early only once every revealed sender's parts are in (honest senders post them
            // before their notice): the parts held then are what claims are answered with.
            1 if (markers::all_answered(view) && holds_every_part(data, view)) || due => {
                marks.held_at_close.get_or_insert(data.parts.arrivals());
                post(
                    marks,
                    out,
                    report,
                    "RevealClosed",
                    markers::reveal_closed(view),
                );
            }
            2 => {
                if !marks.posted.contains_key("ranges") {
                    marks.posted.insert("ranges".into(), 0);
                    for e in markers::range_complaints(ctx, view) {
                        report.complaints += 1;
                        out.push(sign(ctx, key, Author::Aggregator, e));
                    }
                }
                // At most the seat's answer cap, counting answers posted and not yet read back,
                // and only with parts held when the reveals closed.
                let cap = Some(ctx.answer_cap());
                let held = match marks.held_at_close {
                    Some(before) if view.open_claims().next().is_some() => {
                        data.parts.choose_held(ctx, &data.log, before)
                    }
                    _ => Parts::new(),
                };
                for e in markers::answers(ctx, view, &held, cap, &marks.answered) {
                    if let Entry::PartPosted { sender, seat, .. } = &e {
                        marks.answered.insert((sender.clone(), seat.clone()));
                        // The same key as a gateway's own answer: one answer per claim.
                        if marks
                            .posted
                            .insert(format!("part {sender} {seat}"), 0)
                            .is_none()
                        {
                            report.parts_posted += 1;
                            out.push(sign(ctx, key, Author::Aggregator, e));
                        }
                    }
                }
                for i in 0..ctx.seats.len() {
                    let name = format!("products {i}");
                    if !marks.posted.contains_key(&name)
                        && let Some(e) = markers::products(ctx, view, parts, i)
                    {
                        if let Some((_, senders)) = &view.revealed {
                            self.settings.metrics.folded(senders.len() as u64);
                        }
                        marks.posted.insert(name, 0);
                        out.push(sign(ctx, key, Author::Aggregator, e));
                    }
                }
                if due && let Some(e) = markers::final_set(view) {
                    post(marks, out, report, "FinalSet", e);
                }
            }
            3 => {
                if let Some(e) = markers::region_total(ctx, view) {
                    post(marks, out, report, "RegionTotal", e);
                } else if due {
                    post(marks, out, report, "ABANDONED", Entry::Abandoned);
                }
            }
            _ => {}
        }
    }
}

/// Runs a blocking client call (a watermark request) off the async workers where the runtime
/// has others; in place on a current-thread runtime (the demo runs its aggregators on one).
/// The outcome's label on `zeal_aggregator_rounds_closed`.
fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Open => "open",
        Outcome::Lapsed => "lapsed",
        Outcome::Void => "void",
        Outcome::Abandoned => "abandoned",
        Outcome::Total(_) => "total",
    }
}

/// Whether the store holds, for every notice in `view`, the part its hash names for each seat.
fn holds_every_part(data: &RoundData, view: &RoundView) -> bool {
    view.notices.iter().all(|(sender, notice)| {
        data.ctx
            .seats
            .iter()
            .zip(&notice.part_hashes)
            .all(|(seat, hash)| data.parts.holds(sender, &seat.meter, hash))
    })
}

/// Whether a meter of this node dealt an open round and has not answered it yet.
fn awaiting_answers(rounds: &BTreeMap<i64, RoundState>) -> bool {
    rounds.values().any(|r| {
        r.marks.outcome == Outcome::Open
            && r.data
                .bundles
                .keys()
                .any(|m| !r.marks.posted.contains_key(&format!("answer {m}")))
    })
}

/// How many markers of kind `name` the aggregator has in the log.
fn own_markers(log: &[Verified], name: &str) -> usize {
    log.iter()
        .map(Verified::record)
        .filter(|r| {
            r.author == Author::Aggregator
                && matches!(
                    (&r.entry, name),
                    (Entry::CommitClosed(_), "CommitClosed")
                        | (Entry::RevealClosed(_), "RevealClosed")
                        | (Entry::FinalSet(_), "FinalSet")
                        | (Entry::RegionTotal { .. }, "RegionTotal" | "ABANDONED")
                        | (Entry::Abandoned, "RegionTotal" | "ABANDONED")
                )
        })
        .count()
}

fn add_into(acc: &mut Vec<u64>, values: &[u64]) {
    if acc.len() < values.len() {
        acc.resize(values.len(), 0);
    }
    for (a, v) in acc.iter_mut().zip(values) {
        *a += v;
    }
}

fn ledger_err(e: zeal_protocol::v2::round::ledger::LedgerRefusal) -> ServiceError {
    ServiceError::Settings(format!("ledger: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A node's handlers around [`RegionNode`]: before receiving, the day's set-up and dealing;
/// each record taken into its round; after them, every changed or due round acted on once.
struct Turns<'a> {
    node: &'a mut RegionNode,
    producer: KeyedProducer,
    /// The round log's topic, and its end when the node started: nothing is posted before the
    /// node has read the log up to there (`caught_up`).
    log_topic: String,
    log_end: i64,
    caught_up: bool,
    /// Ended by the `crash_after_commit` drill.
    crashed: bool,
    rng: ChaCha20Rng,
    report: NodeReport,
    rounds: BTreeMap<i64, RoundState>,
}

impl Handler for Turns<'_> {
    /// Drained before acting: a round's records are acted on once, not one by one.
    const DRAIN: usize = 1000;

    async fn before(&mut self) -> Result<Turn, ServiceError> {
        let node = &mut *self.node;
        if self.caught_up && !node.setup.fixed {
            node.set_up_day(&self.producer, &mut self.report).await?;
        }
        let dealt = self.report.committed;
        // A gateway deals its next round only once its meters answered the open ones (as a
        // meter deals one round an hour): dealing never starves a reveal past its deadline.
        if self.caught_up && node.setup.fixed && !awaiting_answers(&self.rounds) {
            node.deal(
                &self.producer,
                &mut self.rounds,
                &mut self.report,
                &mut self.rng,
            )
            .await?;
        }
        if node.settings.crash_after_commit && self.report.committed > dealt {
            self.producer.flush(Duration::from_secs(10))?;
            self.crashed = true;
            return Ok(Turn::Done);
        }
        Ok(Turn::Continue)
    }

    /// Until a message or the next deadline. A deadline still due after acting (dealing
    /// deferred while answers are open, a KeysClosed not read back yet) is looked at again
    /// after DRAIN_GAP, never in a tight loop.
    fn wait(&self) -> Duration {
        self.node
            .next_due(&self.rounds)
            .map_or(IDLE_WAIT, |t| t.saturating_duration_since(Instant::now()))
            .clamp(DRAIN_GAP, IDLE_WAIT)
    }

    async fn record(&mut self, m: zeal_connectors::kafka::Record) -> Result<(), ServiceError> {
        let node = &mut *self.node;
        self.caught_up |= m.topic == self.log_topic && m.offset + 1 >= self.log_end;
        node.take(&self.producer, &m, &mut self.rounds, &mut self.report)
            .await?;
        if node.setup.fixed && !node.setup.early_parts.is_empty() {
            for early in node.setup.early_parts.release() {
                node.take(&self.producer, &early, &mut self.rounds, &mut self.report)
                    .await?;
            }
        }
        Ok(())
    }

    async fn turn(&mut self, stop: bool) -> Result<Turn, ServiceError> {
        if stop {
            return Ok(Turn::Done);
        }
        if !self.caught_up {
            return Ok(Turn::Continue);
        }
        let node = &*self.node;
        // Rounds in order: a suspension or disqualification holds for the rest of the day.
        let mut suspended = node.settings.day.suspended.clone();
        let mut disqualified = node.settings.day.disqualified.clone();
        for (start, round) in self.rounds.iter_mut() {
            if round.data.ctx.suspended != suspended || round.data.ctx.disqualified != disqualified
            {
                round.data.ctx.suspended = suspended.clone();
                round.data.ctx.disqualified = disqualified.clone();
                round.replay.restart();
                round.marks.dirty = true;
            }
            let deadline = node.party.aggregator.is_some()
                && round.marks.outcome == Outcome::Open
                && !round.marks.deadline_acted
                && round.marks.phase_since.elapsed() >= node.settings.phase;
            // A seat lacking a part claims it once half a phase passed.
            let claim_due = round
                .marks
                .lacking_since
                .is_some_and(|t| t.elapsed() >= node.settings.phase / 2)
                || round
                    .marks
                    .unanswered_since
                    .is_some_and(|t| t.elapsed() >= node.settings.phase / 4);
            if round.marks.dirty || deadline || claim_due {
                let was_open = round.marks.outcome == Outcome::Open;
                node.act(&self.producer, round, &mut self.report, &mut self.rng)
                    .await?;
                self.report
                    .outcomes
                    .insert(*start, round.marks.outcome.clone());
                if was_open
                    && round.marks.outcome != Outcome::Open
                    && node.party.aggregator.is_some()
                    && let Some(p) = &node.settings.progress
                {
                    p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            suspended.extend(round.marks.suspended.iter().cloned());
            disqualified.extend(round.marks.disqualified.iter().cloned());
        }
        if !node.expect.is_empty()
            && node.expect.iter().all(|start| {
                self.rounds
                    .get(start)
                    .is_some_and(|r| r.marks.outcome != Outcome::Open && node.done_with(r))
            })
        {
            return Ok(Turn::Done);
        }
        Ok(Turn::Continue)
    }
}
