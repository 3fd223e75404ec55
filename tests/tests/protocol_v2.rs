//! Protocol v2 through the real broker: the aggregator, honest gateways (meters and committee
//! seats) and a rogue gateway as separate Kafka clients over one region's round log and bundles
//! topic. Every total is checked against the plaintext sum, and re-verified by an independent
//! replay of the round log read back from the broker (what the audit does).
//!
//! Attacks from the protocol issue, each through the broker:
//! 1. cancellation: the rogue commits to a copy of an honest meter's commitment, or posts a
//!    commitment derived from revealed bundles after CommitClosed — refused;
//! 2. copying: the rogue re-posts an honest meter's bundle of an earlier round (re-signed as its
//!    own) — its proofs are bound to round and sender, so it is not revealed and nobody decrypts
//!    it; forged records (another meter's id, the aggregator's) are dead-lettered with a reason;
//! 3. differencing: a second, conflicting CommitClosed is not adopted by any gateway; a gateway
//!    that crashes between commit and reveal and restarts never deals the interval twice: it
//!    withdraws, carries the value into the next round, and the window total stays exact.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;
use zeal_connectors::kafka::{KeyedProducer, TopicNames, ensure_topics};
use zeal_protocol::v2::local::LocalRegion;
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::bundle::{Bundle, SeatPart, make_bundle};
use zeal_protocol::v2::round::log::{
    Answer, Author, Entry, Outcome, Parts, Record, RoundView, replay, sign,
};
use zeal_protocol::v2::wire;
use zeal_schemas::v2 as w;
use zeal_schemas::{DeadLetter, RejectReason, decode, encode};
use zeal_services::metrics::{Metrics, Role};
use zeal_services::v2::audit::rows;
use zeal_services::v2::topics::post_part;
use zeal_services::v2::{
    AuditReport, Exclusion, NodeReport, Party, RegionNode, RegionSettings, audit_day,
};
use zeal_tests::{kafka, unique};

/// 2020-07-01 10:00 UTC: an hourly round start.
const START: i64 = 1_593_597_600;
const HOUR: i64 = 3600;

fn params() -> Params {
    zeal_protocol::v2::local::small_params()
}

/// Six meters, five seats (d = 1): keys generated once per test binary.
fn region() -> &'static LocalRegion {
    static R: OnceLock<LocalRegion> = OnceLock::new();
    R.get_or_init(|| {
        LocalRegion::generate(
            params(),
            "NL-V2-01",
            6,
            START,
            b"e2e beacon",
            &mut ChaCha20Rng::seed_from_u64(7),
            |_| {},
        )
    })
}

/// The roster meter that holds no seat (the one the rogue and crash tests play).
fn non_seat(r: &LocalRegion) -> String {
    r.ctx
        .roster
        .iter()
        .find(|m| r.ctx.seat(m).is_none())
        .expect("six meters, five seats")
        .clone()
}

/// The roster without `meter`.
fn all_but(r: &LocalRegion, meter: &str) -> Vec<String> {
    r.ctx
        .roster
        .iter()
        .filter(|m| *m != meter)
        .cloned()
        .collect()
}

fn reading(i: usize, round: i64) -> Vec<u64> {
    vec![
        100 + 37 * i as u64 + 5 * round as u64,
        (i as u64 * 11 + round as u64) % 50,
    ]
}

fn sum(values: &[Vec<u64>]) -> Vec<u64> {
    let mut out = vec![0; 2];
    for v in values {
        for (o, x) in out.iter_mut().zip(v) {
            *o += x;
        }
    }
    out
}

struct Deployment {
    kafka: zeal_connectors::kafka::KafkaConfig,
    topics: TopicNames,
    state: std::path::PathBuf,
    stop: tokio::sync::watch::Receiver<bool>,
    _stop_tx: tokio::sync::watch::Sender<bool>,
    /// Nodes start without the day's seats and set the day up on the log.
    keys_on_log: bool,
}

/// The meters' state directory goes with the deployment (it held their keystores).
impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

impl Deployment {
    async fn new() -> Deployment {
        let kafka = kafka();
        let topics = TopicNames::with_prefix(&format!("{}.", unique("v2")));
        ensure_topics(&kafka, &topics.specs(3, 1)).await.unwrap();
        let (tx, stop) = tokio::sync::watch::channel(false);
        Deployment {
            kafka,
            topics,
            state: std::env::temp_dir().join(unique("zeal-v2")),
            stop,
            _stop_tx: tx,
            keys_on_log: false,
        }
    }

    fn settings(&self, name: &str, phase_secs: u64) -> RegionSettings {
        let r = region();
        let mut day = r.ctx.clone();
        if self.keys_on_log {
            day.seats.clear();
        }
        RegionSettings {
            phase: Duration::from_secs(phase_secs),
            ..self
                .services()
                .region(name, Role::Gateway, day, r.directory.clone())
        }
    }

    /// The services' view of this deployment (their settings with the defaults).
    fn services(&self) -> zeal_services::deployment::Deployment {
        zeal_services::deployment::Deployment::new(self.kafka.clone(), self.topics.clone())
            .with_state_dir(&self.state)
    }

    /// A gateway node for `meters` (with the seats among them).
    fn gateway(&self, name: &str, meters: &[String], phase_secs: u64) -> RegionNode {
        RegionNode::new(
            self.settings(name, phase_secs),
            Party::meters_of(region(), meters),
        )
    }

    fn aggregator(&self, phase_secs: u64) -> RegionNode {
        let mut s = self.settings("aggregator", phase_secs);
        s.metrics = Metrics::new(Role::Aggregator);
        RegionNode::new(s, Party::aggregator_of(region()))
    }

    fn run(&self, node: RegionNode) -> tokio::task::JoinHandle<NodeReport> {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(240), node.run(stop))
                .await
                .expect("node finished within 4 minutes")
                .expect("node ran")
        })
    }

    /// Every message of a topic, in partition order.
    async fn read(&self, topic: &str) -> Vec<zeal_connectors::kafka::Record> {
        zeal_tests::read_topic(&self.kafka, topic).await
    }

    /// The audit's view: the round log and parts read back from the broker, every record through
    /// the wire reader, replayed without any party's secrets.
    async fn audit(&self, start: i64) -> (RoundView, Vec<Record>) {
        let r = region();
        let mut ctx: RoundContext = r.ctx.clone();
        ctx.start = start;
        let mut log = Vec::new();
        for m in self.read(&self.topics.rounds).await {
            // What no wire reader can read is dead-lettered, never judged.
            let Ok(rec) = decode::<w::RoundRecord>(&m.payload) else {
                continue;
            };
            if rec.round_start != start * 1000 {
                continue;
            }
            if let Ok(x) = wire::decode_record(&ctx, &r.directory, &rec) {
                log.push(x);
            }
        }
        let mut parts_owned = BTreeMap::new();
        for m in self.read(&self.topics.bundles).await {
            let Ok(p) = decode::<w::SeatPart>(&m.payload) else {
                continue;
            };
            if p.round_start == start * 1000
                && let Ok(part) = wire::part_from_wire(&ctx, &p)
            {
                parts_owned
                    .entry((p.sender.clone(), p.seat.clone()))
                    .or_insert(part);
            }
        }
        let parts: Parts<'_> = parts_owned.iter().map(|(k, v)| (k.clone(), v)).collect();
        let view = replay(&ctx, &r.directory, &log, &parts);
        (view, log)
    }

    /// The library audit of the whole day (what `zeal audit` and the sink use).
    async fn audit_day(&self) -> AuditReport {
        let r = region();
        let log = self.read(&self.topics.rounds).await;
        let parts = self.read(&self.topics.bundles).await;
        audit_day(&r.ctx, &r.directory, &log, &parts)
    }

    /// Reads the round log back until `found` holds for the round's records; returns them.
    async fn until(&self, start: i64, found: impl Fn(&[Record]) -> bool) -> Vec<Record> {
        loop {
            let log = self.audit(start).await.1;
            if found(&log) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads the round log back until one of the round's records gives `find`'s answer.
    async fn until_found<T>(&self, start: i64, find: impl Fn(&Record) -> Option<T>) -> T {
        let log = self
            .until(start, |log| log.iter().any(|x| find(x).is_some()))
            .await;
        log.iter().find_map(find).unwrap()
    }

    /// An honest gateway (`gw-honest`) with `members`' readings of round `round` due at `start`,
    /// and the aggregator expecting that round; neither started.
    fn honest_round(
        &self,
        members: &[String],
        start: i64,
        round: i64,
        phase_secs: u64,
    ) -> (RegionNode, RegionNode) {
        let mut g = self.gateway("gw-honest", members, phase_secs);
        for m in members {
            g.submit(start, m, reading_of(m, round));
        }
        let mut agg = self.aggregator(phase_secs);
        agg.expect(start);
        (g, agg)
    }

    /// [`Self::honest_round`], started: the gateway's and the aggregator's tasks.
    fn run_honest_round(
        &self,
        members: &[String],
        start: i64,
        phase_secs: u64,
    ) -> (
        tokio::task::JoinHandle<NodeReport>,
        tokio::task::JoinHandle<NodeReport>,
    ) {
        let (g, agg) = self.honest_round(members, start, 0, phase_secs);
        (self.run(g), self.run(agg))
    }

    /// The whole roster on two gateways (`gw-1`, `gw-2`, three meters each) with the readings of
    /// round `i` due at `START + i h` for each `i` in `rounds`, and the aggregator expecting
    /// them: run to the end, their reports (aggregator, gw-1, gw-2).
    async fn run_two_gateways(&self, rounds: &[i64]) -> (NodeReport, NodeReport, NodeReport) {
        let roster = &region().ctx.roster;
        let (a, b) = roster.split_at(3);
        let mut g1 = self.gateway("gw-1", a, 3);
        let mut g2 = self.gateway("gw-2", b, 3);
        let mut agg = self.aggregator(3);
        for &round in rounds {
            let start = START + round * HOUR;
            agg.expect(start);
            for (i, m) in roster.iter().enumerate() {
                let g = if i < 3 { &mut g1 } else { &mut g2 };
                g.submit(start, m, reading(i, round));
            }
        }
        let (ha, h1, h2) = (self.run(agg), self.run(g1), self.run(g2));
        (ha.await.unwrap(), h1.await.unwrap(), h2.await.unwrap())
    }

    async fn dead_letters(&self) -> Vec<DeadLetter> {
        self.read(&self.topics.dlq)
            .await
            .iter()
            .map(|m| decode(&m.payload).unwrap())
            .collect()
    }
}

/// Posts a signed record as the rogue's own Kafka client.
async fn post(p: &KeyedProducer, topics: &TopicNames, ctx: &RoundContext, record: &Record) {
    let bytes = encode(&wire::record_to_wire(ctx, record)).unwrap();
    p.send(&topics.rounds, ctx.region.as_bytes(), &bytes, None)
        .await
        .unwrap();
}

/// Waits until the round's commit phase is closed on the log.
async fn commit_closed(d: &Deployment, start: i64) {
    d.until_found(start, |x| {
        matches!(x.entry, Entry::CommitClosed(_)).then_some(())
    })
    .await;
}

fn ctx_at(start: i64) -> RoundContext {
    let mut ctx = region().ctx.clone();
    ctx.start = start;
    ctx
}

/// The plaintext total of `members`' readings in round `round` (what the protocol must reach).
fn total_of(members: &[String], round: i64) -> Vec<u64> {
    sum(&members
        .iter()
        .map(|m| reading_of(m, round))
        .collect::<Vec<_>>())
}

/// `meter`'s reading in round `round`.
fn reading_of(meter: &str, round: i64) -> Vec<u64> {
    let roster = &region().ctx.roster;
    reading(roster.iter().position(|x| x == meter).unwrap(), round)
}

/// The aggregator's report and the broker's audit of round `start` both total exactly
/// `expected`; returns the audit's view and the round's log.
async fn assert_total(
    d: &Deployment,
    report: &NodeReport,
    start: i64,
    expected: &[u64],
) -> (RoundView, Vec<Record>) {
    let total = Outcome::Total(expected.to_vec());
    assert_eq!(report.outcomes[&start], total, "the aggregator's total");
    let (audited, log) = d.audit(start).await;
    assert_eq!(audited.outcome, total, "the audit re-derives the total");
    (audited, log)
}

/// A meter gateway of the region played by the attacker: its own Kafka client, its own identity
/// key, signing and posting whatever it likes for one round.
struct Rogue<'a> {
    d: &'a Deployment,
    producer: KeyedProducer,
    ctx: RoundContext,
    meter: String,
}

impl<'a> Rogue<'a> {
    fn new(d: &'a Deployment, meter: &str, start: i64) -> Rogue<'a> {
        Rogue {
            d,
            producer: KeyedProducer::new(&d.kafka).unwrap(),
            ctx: ctx_at(start),
            meter: meter.to_string(),
        }
    }

    /// Signs `entry` with the rogue's key, in `author`'s name (its own or a forged one).
    fn sign_as(&self, author: Author, entry: Entry) -> Record {
        sign(&self.ctx, &region().identities[&self.meter], author, entry)
    }

    /// Posts `entry` on the round log under the rogue's own name.
    async fn post(&self, entry: Entry) {
        self.post_as(Author::Meter(self.meter.clone()), entry).await;
    }

    /// Posts `entry` on the round log in `author`'s name, signed with the rogue's key.
    async fn post_as(&self, author: Author, entry: Entry) {
        post(
            &self.producer,
            &self.d.topics,
            &self.ctx,
            &self.sign_as(author, entry),
        )
        .await;
    }

    /// An honestly dealt bundle of the rogue's own reading.
    fn bundle(&self, seed: u64) -> Bundle {
        make_bundle(
            &self.ctx,
            &self.meter,
            &reading_of(&self.meter, 0),
            &mut ChaCha20Rng::seed_from_u64(seed),
        )
        .unwrap()
    }

    /// Commits to `bundle`.
    async fn commit(&self, bundle: &Bundle) {
        self.post(Entry::Commit(bundle.public.commitment(&self.ctx)))
            .await;
    }

    /// Commits to `bundle` and waits until the aggregator closed the commit phase.
    async fn commit_until_closed(&self, bundle: &Bundle) {
        self.commit(bundle).await;
        commit_closed(self.d, self.ctx.start).await;
    }

    /// Posts `bundle`'s parts to the bundles topic for the seats `to` accepts.
    async fn deliver(&self, bundle: &Bundle, to: impl Fn(&str) -> bool) {
        for (seat, part) in self.ctx.seats.iter().zip(&bundle.parts) {
            if to(&seat.meter) {
                self.deliver_part(&seat.meter, part).await;
            }
        }
    }

    /// Posts one part addressed to `seat` to the bundles topic.
    async fn deliver_part(&self, seat: &str, part: &SeatPart) {
        post_part(
            &self.producer,
            &self.d.topics.bundles,
            &self.ctx,
            &self.meter,
            seat,
            part,
        )
        .await
        .unwrap();
    }

    /// Reveals `bundle` (its notice on the round log).
    async fn reveal(&self, bundle: &Bundle) {
        self.post(Entry::Notice(Box::new(bundle.public.clone())))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn honest_rounds_through_the_broker_total_exactly_and_audit_clean() {
    let r = region();
    let d = Deployment::new().await;
    let (ra, r1, r2) = d.run_two_gateways(&[0, 1]).await;
    for round in 0..2 {
        let start = START + round * HOUR;
        let (audited, log) = assert_total(&d, &ra, start, &total_of(&r.ctx.roster, round)).await;
        assert!(audited.evidence.is_empty(), "{:?}", audited.evidence);
        // Every seat checked its own fold against the aggregator's products: both are on the log.
        let products = log
            .iter()
            .filter(|x| matches!(x.entry, Entry::Products { .. }))
            .count();
        assert_eq!(products, r.ctx.seats.len());
    }
    assert_eq!(r1.committed + r2.committed, 12);
    assert_eq!(r1.revealed + r2.revealed, 12);
    assert_eq!(r1.complaints + r2.complaints + ra.complaints, 0);
    assert!(r1.partials + r2.partials >= 4, "d + 1 partials per round");
    assert_eq!(ra.dead_letters, 0);
    // The audit stores only verified totals: into the real ClickHouse, read back exactly.
    let day = d.audit_day().await;
    assert_eq!(day.refused, 0);
    assert!(day.exclusions.is_empty(), "{:?}", day.exclusions);
    let warehouse = zeal_tests::fresh_database("zt_v2").await;
    zeal_tables::migrate(&warehouse).await.unwrap();
    let (totals, events, _) = rows(&r.ctx, &day, "v2-e2e", 0)
        .write_to(&warehouse)
        .await
        .unwrap();
    assert_eq!(
        (totals, events),
        (4, 2),
        "2 rounds x 2 channels, 2 round events"
    );
    let text = warehouse
        .query_text(
            "SELECT toUInt32(interval_start), channel, total FROM region_totals FINAL \
             ORDER BY interval_start, channel",
        )
        .await
        .unwrap();
    let mut expected_rows = Vec::new();
    for round in 0..2 {
        let e = total_of(&r.ctx.roster, round);
        let t = START + round * HOUR;
        expected_rows.push(format!("{t}\texport_wh\t{}", e[1]));
        expected_rows.push(format!("{t}\timport_wh\t{}", e[0]));
    }
    assert_eq!(text.lines().collect::<Vec<_>>(), expected_rows);
    // Readings are private: the meters' state files are not world-readable.
    use std::os::unix::fs::PermissionsExt;
    let state = std::fs::read_dir(d.state.join("gw-1")).unwrap();
    for f in state {
        let mode = f.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rogue_gateway_cannot_cancel_copy_or_forge_through_the_broker() {
    let r = region();
    let d = Deployment::new().await;
    let rogue_id = non_seat(r);
    let honest = all_but(r, &rogue_id);
    let target = honest[0].clone();
    let by_target = |x: &Record| x.author == Author::Meter(target.clone());

    // Round 1: the rogue waits for the target's commitment and posts a copy as its own.
    let start1 = START;
    let (hg, ha) = d.run_honest_round(&honest, start1, 4);
    let rogue = Rogue::new(&d, &rogue_id, start1);
    let target_commit = d
        .until_found(start1, |x| match &x.entry {
            Entry::Commit(h) if by_target(x) => Some(*h),
            _ => None,
        })
        .await;
    rogue.post(Entry::Commit(target_commit)).await;
    // Then, once the target revealed, the rogue reveals the target's public part as its own.
    let target_notice = d
        .until_found(start1, |x| match &x.entry {
            Entry::Notice(n) if by_target(x) => Some(n.clone()),
            _ => None,
        })
        .await;
    // Relabelled as its own (a notice signed over the target's commitment would not even pass
    // the wire reader: it recomputes the commitment for the author).
    let mut relabelled = target_notice.clone();
    relabelled.sender = rogue_id.clone();
    rogue.post(Entry::Notice(relabelled.clone())).await;
    // Forgeries: a commitment in the target's name and a FinalSet in the aggregator's, both
    // signed with the rogue's key.
    rogue
        .post_as(Author::Meter(target.clone()), Entry::Withdraw)
        .await;
    rogue
        .post_as(Author::Aggregator, Entry::FinalSet(vec![target.clone()]))
        .await;
    // And a RegionTotal in the aggregator's name with made-up values.
    let contributors: Vec<String> = r
        .ctx
        .seats
        .iter()
        .take(2)
        .map(|s| s.meter.clone())
        .collect();
    rogue
        .post_as(
            Author::Aggregator,
            Entry::RegionTotal {
                values: vec![1, 1],
                contributors,
                final_set: zeal_protocol::v2::encoding::Hash([0; 32]),
            },
        )
        .await;
    let (rg, ra) = (hg.await.unwrap(), ha.await.unwrap());

    // The copied bundle counts for no one.
    let honest_sum1 = total_of(&honest, 0);
    let (audited, log) = assert_total(&d, &ra, start1, &honest_sum1).await;
    assert!(
        matches!(audited.answers.get(&rogue_id), Some(Answer::Refused(_))),
        "the stolen notice does not open the rogue's copied commitment: {:?}",
        audited.answers.get(&rogue_id)
    );
    // No seat ever complained, so no decryption of anyone's ciphertext was published.
    assert!(!log.iter().any(|x| matches!(x.entry, Entry::Complaint(_))));
    assert_eq!(rg.complaints, 0);

    // Round 2: the rogue commits on time to a bundle that is the target's round-1 bundle (its
    // notice re-signed), hoping to have the seats decrypt round 1's shares again.
    let start2 = START + HOUR;
    let (g, agg) = d.honest_round(&honest, start2, 1, 4);
    let rogue = Rogue::new(&d, &rogue_id, start2);
    // The commitment matches the relabelled notice exactly; only the proofs (bound to round 1 and
    // the target) can refuse it.
    rogue
        .post(Entry::Commit(relabelled.commitment(&rogue.ctx)))
        .await;
    let (hg, ha) = (d.run(g), d.run(agg));
    commit_closed(&d, start2).await;
    rogue.post(Entry::Notice(relabelled)).await;
    // And a late commitment dealt after seeing the honest notices (the cancellation attack's
    // first move): CommitClosed already fixed the set.
    let late = make_bundle(
        &rogue.ctx,
        &rogue_id,
        &[0, 0],
        &mut ChaCha20Rng::seed_from_u64(1),
    )
    .unwrap();
    rogue.commit(&late).await;
    let (rg, ra) = (hg.await.unwrap(), ha.await.unwrap());
    let (audited, log) = assert_total(&d, &ra, start2, &total_of(&honest, 1)).await;
    assert!(
        matches!(audited.answers.get(&rogue_id), Some(Answer::Refused(_))),
        "a replayed bundle's proofs do not verify for the new round and sender: {:?}",
        audited.answers.get(&rogue_id)
    );
    let final_set = log
        .iter()
        .find_map(|x| match &x.entry {
            Entry::FinalSet(m) if x.author == Author::Aggregator => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        !final_set.contains(&rogue_id),
        "a replayed bundle is never revealed"
    );
    assert_eq!(final_set.len(), honest.len(), "no honest meter excluded");
    assert_eq!(rg.complaints, 0);

    // The audit counts the rogue's exclusions, never an honest meter's.
    let day = d.audit_day().await;
    for start in [start1, start2] {
        assert_eq!(
            day.rounds[&start].excluded.get(&rogue_id),
            Some(&Exclusion::Refused)
        );
    }
    assert_eq!(day.exclusions.keys().collect::<Vec<_>>(), vec![&rogue_id]);
    assert!(
        day.refused >= 2,
        "the forgeries are refused by the audit's reader too"
    );
    // The forgeries are dead letters with their reasons.
    let letters = d.dead_letters().await;
    let bad_sig = letters
        .iter()
        .filter(|l| l.reason == RejectReason::BadSignature)
        .count();
    assert!(bad_sig >= 3, "forged records dead-lettered: {letters:?}");
    // Only verified totals become rows: the forged RegionTotal is stored nowhere.
    let batch = rows(&r.ctx, &day, "v2-e2e", 0);
    let stored: Vec<i64> = batch
        .totals
        .iter()
        .filter(|t| i64::from(t.interval_start) == start1)
        .map(|t| t.total)
        .collect();
    assert_eq!(stored, vec![honest_sum1[0] as i64, honest_sum1[1] as i64]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_restarted_mid_round_never_deals_twice_and_carries_exactly() {
    let r = region();
    let d = Deployment::new().await;
    let crashed = non_seat(r);
    let others = all_but(r, &crashed);
    let (s1, s2) = (START, START + HOUR);

    // The crashing gateway commits round 1 and dies before revealing.
    let mut settings_crash = d.settings("gw-x", 6);
    settings_crash.crash_after_commit = true;
    let mut party = Party::default();
    party
        .meters
        .insert(crashed.clone(), r.identities[&crashed].clone());
    let mut x = RegionNode::new(settings_crash, party);
    x.submit(s1, &crashed, reading_of(&crashed, 0));
    let rx = d.run(x).await.unwrap();
    assert_eq!(rx.committed, 1);
    assert_eq!(rx.revealed, 0);

    let (hg, ha) = d.run_honest_round(&others, s1, 6);
    // Restarted: the operator re-submits the same interval (refused by the ledger, never dealt
    // twice); the lost bundle makes it withdraw, and the log proves the value unrevealed.
    let mut x = d.gateway("gw-x", std::slice::from_ref(&crashed), 6);
    x.submit(s1, &crashed, reading_of(&crashed, 0));
    let rx = d.run(x).await.unwrap();
    assert_eq!(rx.committed, 0, "the interval is never dealt twice");
    assert_eq!(rx.withdrawn, 1);
    assert_eq!(rx.carried, 1);
    let (_, ra) = (hg.await.unwrap(), ha.await.unwrap());
    let sum1 = total_of(&others, 0);
    assert_eq!(ra.outcomes[&s1], Outcome::Total(sum1.clone()));

    // Round 2: the carried value rides along; across the two rounds the window total is exact.
    let (g, agg) = d.honest_round(&others, s2, 1, 6);
    let mut x = d.gateway("gw-x", std::slice::from_ref(&crashed), 6);
    x.submit(s2, &crashed, reading_of(&crashed, 1));
    let (hg, ha, hx) = (d.run(g), d.run(agg), d.run(x));
    let (_, ra, rx) = (hg.await.unwrap(), ha.await.unwrap(), hx.await.unwrap());
    assert_eq!(rx.committed, 1);
    let Outcome::Total(sum2) = ra.outcomes[&s2].clone() else {
        panic!("round 2 totals: {:?}", ra.outcomes[&s2]);
    };
    let all: Vec<Vec<u64>> = (0..6)
        .flat_map(|i| [reading(i, 0), reading(i, 1)])
        .collect();
    assert_eq!(
        sum(&[sum1, sum2]),
        sum(&all),
        "every value counted exactly once"
    );
    let (audited, _) = d.audit(s2).await;
    assert!(matches!(audited.outcome, Outcome::Total(_)));
    let (audited1, _) = d.audit(s1).await;
    assert!(
        matches!(audited1.answers.get(&crashed), Some(Answer::Withdrew(_))),
        "the restarted gateway withdrew round 1 before RevealClosed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_conflicting_commit_closed_is_not_adopted() {
    let r = region();
    let d = Deployment::new().await;
    let roster = r.ctx.roster.clone();
    let start = START;
    // A re-opened commit phase: after the honest CommitClosed, the aggregator's key signs a
    // second one that drops a meter (the differencing attack's set for a second total).
    let (g, agg) = d.honest_round(&roster, start, 0, 4);
    // A decision planted before the aggregator (re)starts: a CommitClosed listing nobody, in the
    // aggregator's name but signed by a meter. Not adopted (dead-lettered), not stored.
    let meter = Rogue::new(&d, &roster[0], start);
    meter
        .post_as(Author::Aggregator, Entry::CommitClosed(Vec::new()))
        .await;
    let (hg, ha) = (d.run(g), d.run(agg));
    let first = d
        .until_found(start, |x| match &x.entry {
            Entry::CommitClosed(l) => Some(l.clone()),
            _ => None,
        })
        .await;
    let mut fewer = first.clone();
    fewer.pop();
    let second = sign(
        &meter.ctx,
        &r.aggregator,
        Author::Aggregator,
        Entry::CommitClosed(fewer),
    );
    post(&meter.producer, &d.topics, &meter.ctx, &second).await;
    let (rg, ra) = (hg.await.unwrap(), ha.await.unwrap());
    let (audited, log) = assert_total(&d, &ra, start, &total_of(&roster, 0)).await;
    assert_eq!(rg.revealed, 6, "every listed meter revealed once");
    let closes = log
        .iter()
        .filter(|x| matches!(x.entry, Entry::CommitClosed(_)))
        .count();
    assert_eq!(
        closes, 2,
        "the second marker is on the log for the audit to name"
    );
    let letters = d.dead_letters().await;
    assert_eq!(
        letters
            .iter()
            .filter(|l| l.reason == RejectReason::BadSignature)
            .count(),
        1,
        "the planted decision is a dead letter: {letters:?}"
    );
    assert!(
        audited.evidence.iter().any(|e| matches!(
            e,
            zeal_protocol::v2::round::log::Evidence::SecondMarker(_, _)
                | zeal_protocol::v2::round::log::Evidence::InvalidMarker(_, _)
        )),
        "the audit names the second CommitClosed: {:?}",
        audited.evidence
    );
}

/// The aggregator's process stops mid-round (right after closing the commit phase) and a new
/// one with the same key takes over from the log alone: it posts none of the first one's markers
/// again, the round completes with the exact total, and the audit finds nothing against either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_aggregator_stopped_mid_round_is_replaced_from_the_log() {
    replaced_mid_round(false).await;
}

/// The same with the day set up on the log (as the `zeal` processes run it), the replacement
/// started once every meter revealed. A node reads the day's KeysClosed on the round log and the
/// parts on the bundles topic side by side, and a part read first has no round context yet.
/// Found by the nemesis soak (2026-12-05, 1 aggregator restart in 5): the replacement refused
/// every such part as of an unknown round (30 dead letters, each part then claimed again). Made
/// certain here with a valid part on the bundles topic before the day is set up; every node
/// now holds such parts until the day's seats are fixed: the total exact. Holding launders
/// nothing: a part addressed to a meter that turns out to hold no seat, and bytes that are no
/// part, posted before the day too, are each dead-lettered once the seats are fixed, and no
/// other message is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replacement_holds_the_parts_it_reads_before_the_days_seats() {
    replaced_mid_round(true).await;
}

async fn replaced_mid_round(keys_on_log: bool) {
    let r = region();
    let mut d = Deployment::new().await;
    d.keys_on_log = keys_on_log;
    let roster = r.ctx.roster.clone();
    // The junk posted before the day (offset on the bundles topic, the reason it is refused).
    let mut junk: Vec<(i32, i64, RejectReason)> = Vec::new();
    if keys_on_log {
        // A node started mid-day reads the bundles topic and the round log side by side, so a
        // part can reach it before the day's KeysClosed. Made certain here: a valid part for
        // seat 0 is on the bundles topic before anyone set the day up (a bundle of meter 0's
        // that it never commits to; its gateway deals its own).
        let meter0 = Rogue::new(&d, &roster[0], START);
        let early = meter0.bundle(5);
        meter0
            .deliver_part(&r.ctx.seats[0].meter, &early.parts[0])
            .await;
        // Judgeable only once the seats are fixed: a part to a meter that holds none.
        let to_no_seat = encode(&wire::part_to_wire(
            &meter0.ctx,
            &roster[0],
            &non_seat(r),
            &early.parts[1],
        ))
        .unwrap();
        let producer = &meter0.producer;
        let posted = producer
            .send(&d.topics.bundles, b"NL-EARLY", &to_no_seat, None)
            .await
            .unwrap();
        junk.push((posted.partition, posted.offset, RejectReason::UnknownSender));
        let posted = producer
            .send(&d.topics.bundles, b"NL-EARLY", b"no part at all", None)
            .await
            .unwrap();
        junk.push((posted.partition, posted.offset, RejectReason::Malformed));
    }
    let start = START;
    let (g, first) = d.honest_round(&roster, start, 0, 4);
    let (stop_first, first_stop) = tokio::sync::watch::channel(false);
    let hg = d.run(g);
    let h1 = tokio::spawn(first.run(first_stop));
    commit_closed(&d, start).await;
    stop_first.send(true).unwrap();
    let r1 = h1.await.unwrap().unwrap();
    assert_eq!(
        r1.outcomes.get(&start),
        Some(&Outcome::Open),
        "stopped before the round was decided"
    );
    if keys_on_log {
        // Every meter revealed: its notice on the log, its parts on the bundles topic.
        d.until(start, |log| {
            log.iter()
                .filter(|x| matches!(x.entry, Entry::Notice(_)))
                .count()
                == roster.len()
        })
        .await;
    }
    let mut second = d.aggregator(4);
    second.expect(start);
    let r2 = d.run(second).await.unwrap();
    let rg = hg.await.unwrap();

    let expected = total_of(&roster, 0);
    let (audited, log) = assert_total(&d, &r2, start, &expected).await;
    assert_eq!(rg.outcomes[&start], Outcome::Total(expected));
    assert_eq!(rg.revealed, 6, "every meter revealed once");
    assert!(audited.evidence.is_empty(), "{:?}", audited.evidence);
    let by_aggregator = |kind: fn(&Entry) -> bool| {
        log.iter()
            .filter(|x| x.author == Author::Aggregator && kind(&x.entry))
            .count()
    };
    assert_eq!(
        by_aggregator(|e| matches!(e, Entry::CommitClosed(_))),
        1,
        "the replacement adopts the first CommitClosed, never posts another"
    );
    assert_eq!(by_aggregator(|e| matches!(e, Entry::RevealClosed(_))), 1);
    assert_eq!(by_aggregator(|e| matches!(e, Entry::FinalSet(_))), 1);
    assert_eq!(by_aggregator(|e| matches!(e, Entry::RegionTotal { .. })), 1);
    assert_eq!(
        by_aggregator(|e| matches!(e, Entry::Products { .. })),
        r.ctx.seats.len(),
        "one product per seat"
    );
    let letters = d.dead_letters().await;
    for l in &letters {
        assert!(
            l.topic == d.topics.bundles && junk.contains(&(l.partition, l.offset, l.reason)),
            "only the junk is dead-lettered, with its reason: {l:?}"
        );
    }
    for (partition, offset, reason) in &junk {
        assert!(
            letters
                .iter()
                .any(|l| (l.partition, l.offset) == (*partition, *offset)),
            "the held junk at {partition}/{offset} ({reason:?}) is refused once the seats are fixed"
        );
    }
}

/// The day is set up on the log (DESIGN §4, "Enrolment"): every node starts knowing the committee
/// but no seat key; the seats' gateways announce their keys on the round log, the aggregator
/// closes them (KeysClosed), and every node — and the audit, from the topics alone — takes the
/// seats of the first valid KeysClosed. A KeysClosed a meter signed, posted first, is refused by
/// every reader (dead-lettered BAD_SIGNATURE) and fixes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_day_is_set_up_on_the_log_and_a_forged_keys_closed_fixes_nothing() {
    use zeal_protocol::ed25519_dalek::Signer as _;
    use zeal_protocol::v2::day::{KeysClosed, key_hash, keys_closed_signing_bytes};
    let r = region();
    let mut d = Deployment::new().await;
    d.keys_on_log = true;
    let day = Params::day_of(START);
    // The rogue lists only the first two seats under its own signature, before anyone speaks.
    let rogue = non_seat(r);
    let keys: Vec<(String, _)> = r.ctx.seats[..2]
        .iter()
        .map(|s| (s.meter.clone(), key_hash(&s.key.to_bytes())))
        .collect();
    let signature = r.identities[&rogue].sign(&keys_closed_signing_bytes(
        &r.ctx.region,
        day,
        &r.ctx.cutoff,
        &keys,
    ));
    let forged = wire::keys_closed_to_wire(&r.ctx.region, day, &KeysClosed { keys, signature });
    let producer = KeyedProducer::new(&d.kafka).unwrap();
    producer
        .send(
            &d.topics.rounds,
            r.ctx.region.as_bytes(),
            &encode(&forged).unwrap(),
            None,
        )
        .await
        .unwrap();

    let (ra, r1, r2) = d.run_two_gateways(&[0]).await;
    let expected = total_of(&r.ctx.roster, 0);
    assert_eq!(ra.outcomes[&START], Outcome::Total(expected.clone()));
    let seats: Vec<String> = r.ctx.seats.iter().map(|s| s.meter.clone()).collect();
    for report in [&ra, &r1, &r2] {
        assert_eq!(
            report.seats, seats,
            "every node took all five announced seats"
        );
    }
    // The audit, given no seats either, derives the same ones and the same total.
    let mut bare = r.ctx.clone();
    bare.seats.clear();
    let log = d.read(&d.topics.rounds).await;
    let parts = d.read(&d.topics.bundles).await;
    let audited = audit_day(&bare, &r.directory, &log, &parts);
    assert_eq!(audited.seats, seats);
    assert!(
        audited.day_evidence.is_empty(),
        "{:?}",
        audited.day_evidence
    );
    assert_eq!(audited.refused, 1, "the forged KeysClosed");
    assert_eq!(audited.rounds[&START].outcome, Outcome::Total(expected));
    let letters = d.dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].reason, RejectReason::BadSignature);
}

/// Liveness through the broker: a rogue meter (its own Kafka client) commits, delivers its part
/// to one seat only and reveals. Before the missing-part rule its silent seats never checked and
/// every round it revealed in was ABANDONED; now the other seats claim the part missing on the
/// log, nobody can post it, and the final set leaves the rogue out: the honest total is exact,
/// the audit names the exclusion (PartMissing), nobody is suspended or disqualified.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_meter_withholding_its_parts_is_left_out_through_the_broker() {
    use zeal_services::metrics::serve;
    use zeal_tests::env::{http_get, sample};
    let r = region();
    let d = Deployment::new().await;
    let rogue_id = non_seat(r);
    let honest = all_but(r, &rogue_id);
    let start = START;
    // The operator's view: both nodes' Prometheus endpoints.
    let (gw_metrics, agg_metrics) = (Metrics::new(Role::Gateway), Metrics::new(Role::Aggregator));
    // 8 s phases, as the other claim tests: with 4 s the round ended ABANDONED once in ten
    // runs of the whole suite on 2 cores (a seat's partial past its deadline while claims and
    // answers were in flight), never alone.
    let mut settings = d.settings("gw-honest", 8);
    settings.metrics = gw_metrics.clone();
    let mut g = RegionNode::new(settings, Party::meters_of(r, &honest));
    let mut settings = d.settings("aggregator", 8);
    settings.metrics = agg_metrics.clone();
    let mut agg = RegionNode::new(settings, Party::aggregator_of(r));
    let any = "127.0.0.1:0".parse().unwrap();
    let gw_addr = serve(any, gw_metrics, d.stop.clone()).await.unwrap();
    let agg_addr = serve(any, agg_metrics, d.stop.clone()).await.unwrap();
    for m in &honest {
        g.submit(start, m, reading_of(m, 0));
    }
    agg.expect(start);
    let (hg, ha) = (d.run(g), d.run(agg));
    let rogue = Rogue::new(&d, &rogue_id, start);
    // A record nobody can read on the round log: dead-lettered (once, by the aggregator).
    rogue
        .producer
        .send(&d.topics.rounds, r.ctx.region.as_bytes(), b"not avro", None)
        .await
        .unwrap();
    let bundle = rogue.bundle(99);
    rogue.commit_until_closed(&bundle).await;
    rogue
        .deliver_part(&r.ctx.seats[0].meter, &bundle.parts[0])
        .await;
    rogue.reveal(&bundle).await;
    let (rg, ra) = (hg.await.unwrap(), ha.await.unwrap());

    let (audited, log) = assert_total(&d, &ra, start, &total_of(&honest, 0)).await;
    assert!(matches!(
        audited.answers.get(&rogue_id),
        Some(Answer::Revealed(_))
    ));
    let claimants: Vec<&String> = audited
        .missing
        .keys()
        .filter(|(_, sender)| *sender == rogue_id)
        .map(|(seat, _)| seat)
        .collect();
    assert_eq!(
        claimants.len(),
        r.ctx.seats.len() - 1,
        "every seat but the one that got its part claims it"
    );
    assert_eq!(rg.claims, r.ctx.seats.len() - 1);
    assert_eq!(ra.parts_posted, 0, "the aggregator holds none of them");
    assert!(
        !log.iter()
            .any(|x| matches!(x.entry, Entry::PartPosted { .. }))
    );
    assert!(audited.evidence.is_empty(), "{:?}", audited.evidence);
    assert!(audited.suspended().is_empty() && audited.disqualified.is_empty());
    let day = d.audit_day().await;
    assert_eq!(
        day.rounds[&start].excluded.get(&rogue_id),
        Some(&Exclusion::PartMissing)
    );
    assert_eq!(day.exclusions.get(&rogue_id), Some(&1));

    // The endpoints count what the log holds.
    let gw = http_get(gw_addr, "/metrics").await;
    let published = |text: &str, family: &str, kind: &str| {
        sample(text, &format!("{family}{{kind=\"{kind}\"}}")).unwrap_or(0.0) as usize
    };
    let gw_family = "zeal_gateway_messages_published_total";
    assert_eq!(published(&gw, gw_family, "commit"), honest.len(), "{gw}");
    assert_eq!(published(&gw, gw_family, "notice"), honest.len());
    assert_eq!(
        published(&gw, gw_family, "part"),
        honest.len() * r.ctx.seats.len()
    );
    assert_eq!(published(&gw, gw_family, "partial"), rg.partials);
    assert_eq!(published(&gw, gw_family, "part_missing"), rg.claims);
    assert!(!gw.contains("zeal_aggregator_"), "{gw}");
    assert!(!gw.contains("zeal_dead_letters_total{"), "{gw}");
    let agg = http_get(agg_addr, "/metrics").await;
    let agg_family = "zeal_aggregator_markers_published_total";
    for kind in [
        "commit_closed",
        "reveal_closed",
        "final_set",
        "region_total",
    ] {
        assert_eq!(published(&agg, agg_family, kind), 1, "{kind}: {agg}");
    }
    let products = log
        .iter()
        .filter(|x| matches!(x.entry, Entry::Products { .. }))
        .count();
    assert_eq!(published(&agg, agg_family, "products"), products);
    assert_eq!(
        sample(&agg, "zeal_aggregator_parts_folded_total"),
        Some((products * r.ctx.roster.len()) as f64),
        "every revealed sender's part in each seat's product"
    );
    assert_eq!(
        sample(&agg, "zeal_aggregator_rounds_opened_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &agg,
            "zeal_aggregator_rounds_closed_total{status=\"total\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&agg, "zeal_aggregator_round_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(&agg, "zeal_aggregator_senders_excluded_total"),
        Some(1.0),
        "the withholding meter"
    );
    assert_eq!(
        sample(&agg, "zeal_dead_letters_total{reason=\"malformed\"}"),
        Some(1.0),
        "{agg}"
    );
    assert!(agg.contains("zeal_consumer_lag_messages{"), "{agg}");
}

/// Claim amplification through the broker: a lying seat (its own Kafka client, the seat's
/// signing key) claims every revealed sender's part missing. The aggregator answers its cap (one
/// part for six meters) and no more; the seat's other claims lapse, so no honest gateway copies
/// its parts onto the log and nobody is left out: the total is every honest reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_seat_gets_at_most_its_cap_copied_onto_the_log_through_the_broker() {
    let r = region();
    let d = Deployment::new().await;
    let liar = r.ctx.seats[0].meter.clone();
    let honest = all_but(r, &liar);
    let start = START;
    let (hg, ha) = d.run_honest_round(&honest, start, 8);
    let seat = Rogue::new(&d, &liar, start);
    let revealed = d
        .until_found(start, |x| match &x.entry {
            Entry::RevealClosed(set) => Some(set.clone()),
            _ => None,
        })
        .await;
    assert_eq!(revealed, honest);
    for sender in &revealed {
        seat.post(Entry::PartMissing(sender.clone())).await;
    }
    let (rg, ra) = (hg.await.unwrap(), ha.await.unwrap());

    let (audited, log) = assert_total(&d, &ra, start, &total_of(&honest, 0)).await;
    assert_eq!(
        audited.missing.len(),
        honest.len(),
        "every claim is on the log"
    );
    assert_eq!(seat.ctx.answer_cap(), 1);
    let posted_by = |aggregator: bool| {
        log.iter()
            .filter(|x| {
                matches!(&x.entry, Entry::PartPosted { seat, .. } if *seat == liar)
                    && (x.author == Author::Aggregator) == aggregator
            })
            .count()
    };
    assert_eq!(posted_by(true), 1, "the aggregator answers the cap");
    assert_eq!(ra.parts_posted, 1);
    assert_eq!(posted_by(false), 0, "the lapsed claims are not answered");
    assert_eq!(rg.parts_posted, 0);
    assert!(audited.capped.contains(&liar));
    assert!(audited.unanswered().is_empty());
    assert!(audited.evidence.is_empty(), "{:?}", audited.evidence);
    assert!(audited.suspended().is_empty() && audited.disqualified.is_empty());
}

/// An audit of the round log alone (the bundles topic is bulk, and its retention can be short):
/// a rogue meter (its own Kafka client) deals one seat an inconsistent share; that seat
/// complains, the rogue is excluded, and the aggregator posts the complaint's part on the log.
/// `audit_day` given no bundles at all reaches the same total, excludes the rogue as accused
/// and names no evidence; without the part on the log it could not judge the complaint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_log_alone_audits_a_complaint_through_the_broker() {
    use zeal_protocol::v2::round::bundle::{Tamper, make_bundle_with};
    let r = region();
    let d = Deployment::new().await;
    let rogue_id = non_seat(r);
    let honest = all_but(r, &rogue_id);
    let start = START;
    let (hg, ha) = d.run_honest_round(&honest, start, 4);
    let rogue = Rogue::new(&d, &rogue_id, start);
    let mut tamper = |t: Tamper<'_>| {
        if let Tamper::Share {
            seat: 1,
            value: 0,
            share,
        } = t
        {
            let f = share.0;
            share.0 += f; // f(j) doubled: inconsistent with the commitments
        }
    };
    let bundle = make_bundle_with(
        &rogue.ctx,
        &rogue_id,
        &reading_of(&rogue_id, 0),
        &mut tamper,
        &mut ChaCha20Rng::seed_from_u64(98),
    )
    .unwrap();
    rogue.commit_until_closed(&bundle).await;
    rogue.deliver(&bundle, |_| true).await;
    rogue.reveal(&bundle).await;
    let (_, ra) = (hg.await.unwrap(), ha.await.unwrap());

    let honest_sum = total_of(&honest, 0);
    let (audited, log) = assert_total(&d, &ra, start, &honest_sum).await;
    assert!(audited.accused.contains_key(&rogue_id));
    let seat1 = &r.ctx.seats[1].meter;
    assert!(log.iter().any(|x| x.author == Author::Aggregator
        && matches!(&x.entry, Entry::PartPosted { sender, seat, .. }
            if *sender == rogue_id && seat == seat1)));
    assert_eq!(ra.parts_posted, 1, "one judged complaint, one part");
    let logs = d.read(&d.topics.rounds).await;
    let with_parts = d.audit_day().await;
    let log_only = audit_day(&r.ctx, &r.directory, &logs, &[]);
    for day in [&with_parts, &log_only] {
        let round = &day.rounds[&start];
        assert_eq!(round.outcome, Outcome::Total(honest_sum.clone()));
        assert_eq!(round.excluded.get(&rogue_id), Some(&Exclusion::Accused));
        assert!(round.evidence.is_empty(), "{:?}", round.evidence);
    }
    assert_eq!(format!("{with_parts:?}"), format!("{log_only:?}"));
}

/// Identities on the log (issue 11 attack 7 through the broker): the authority publishes six
/// certificates, its Cutoff(D) and the beacon round on the registry topic; an attacker publishes
/// a self-signed sybil, a takeover of a certified meter id under its own key, and a move and a
/// retirement of certified meters that it signs itself. The aggregator folds the partition: the
/// four forgeries are dead-lettered `BAD_SIGNATURE` with the meter they name, and the day it
/// derives (roster, identity keys, committee, H(Cutoff)) is the authority's. Gateways that take
/// nothing but their own identity keys and that day set the seats up on the round log, and the
/// round totals exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_on_the_registry_topic_set_up_the_day_through_the_broker() {
    use zeal_protocol::ed25519_dalek::SigningKey;
    use zeal_protocol::v2::committee::Committee;
    use zeal_protocol::v2::crypto::paillier::SeatSecretKey;
    use zeal_protocol::v2::day::key_context;
    use zeal_protocol::v2::enrolment::{BeaconRound, Certificate, Cutoff, Registry, Status};
    use zeal_protocol::v2::params::DAY_SECONDS;
    use zeal_services::v2::registry::{
        load_day, publish_beacon, publish_certificate, publish_cutoff,
    };

    let d = Deployment::new().await;
    let producer = KeyedProducer::new(&d.kafka).unwrap();
    let topic = &d.topics.registry_v2;
    let region = "NL-REG-01";
    let day = START.div_euclid(DAY_SECONDS);
    let mut g = ChaCha20Rng::seed_from_u64(2026);
    let mut key = || {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut g, &mut seed);
        SigningKey::from_bytes(&seed)
    };
    let authority = key();
    let attacker = key();
    let valid_from = (day - 30) * DAY_SECONDS;
    let meters: BTreeMap<String, SigningKey> = (0..6)
        .map(|i| (format!("{region}-m{i:04}"), key()))
        .collect();
    let ids: Vec<String> = meters.keys().cloned().collect();
    let mut authority_view = Registry::new(authority.verifying_key());
    for (m, k) in &meters {
        let cert = Certificate::issue(
            &authority,
            m,
            region,
            &k.verifying_key(),
            valid_from,
            Status::Active,
        );
        publish_certificate(&producer, topic, &cert).await.unwrap();
        authority_view.admit(cert).unwrap();
    }
    let forged = [
        // a sybil, self-signed
        ("NL-REG-01-sybil", region, valid_from, Status::Active),
        // a takeover of m0000 from the day before the Cutoff
        (
            ids[0].as_str(),
            region,
            valid_from + DAY_SECONDS,
            Status::Active,
        ),
        // a move of m0001 to another region
        (
            ids[1].as_str(),
            "NL-REG-02",
            valid_from + DAY_SECONDS,
            Status::Active,
        ),
        // a retirement of m0002
        (
            ids[2].as_str(),
            region,
            valid_from + DAY_SECONDS,
            Status::Retired,
        ),
    ];
    for (meter, r, from, status) in forged {
        let cert = Certificate::issue(&attacker, meter, r, &attacker.verifying_key(), from, status);
        publish_certificate(&producer, topic, &cert).await.unwrap();
    }
    let cutoff = Cutoff::issue(&authority, &authority_view, day);
    publish_cutoff(&producer, topic, &cutoff).await.unwrap();
    let seed = [42u8; 32];
    let anchor = BeaconRound::anchor(&seed);
    let beacon = BeaconRound::produce(&seed, cutoff.beacon_round);
    publish_beacon(&producer, topic, &beacon).await.unwrap();

    let metrics = Metrics::new(Role::Aggregator);
    let (derived, refused) = load_day(
        &d.kafka,
        &d.topics,
        &params(),
        region,
        day,
        &authority.verifying_key(),
        &anchor,
        Some(("aggregator", &metrics)),
    )
    .await
    .unwrap();
    assert_eq!(refused.len(), 4);
    assert_eq!(derived.ctx.roster, ids);
    for (m, k) in &meters {
        assert_eq!(derived.directory.meters[m], k.verifying_key());
    }
    let shape = params().committee_shape(6).unwrap();
    let drawn = Committee::draw(
        &beacon.output(&anchor).unwrap(),
        day,
        region,
        &ids,
        shape.seats,
    );
    assert_eq!(derived.ctx.committee, drawn);
    assert_eq!(derived.ctx.cutoff, cutoff.hash());
    let letters: Vec<DeadLetter> = d
        .dead_letters()
        .await
        .into_iter()
        .filter(|l| l.topic == *topic)
        .collect();
    assert_eq!(letters.len(), 4, "{letters:?}");
    assert!(
        letters
            .iter()
            .all(|l| l.reason == RejectReason::BadSignature)
    );
    let mut named: Vec<&str> = letters.iter().filter_map(|l| l.origin.as_deref()).collect();
    named.sort(); // the dead-letter topic is keyed, several partitions
    assert_eq!(named, [&ids[0], &ids[1], &ids[2], "NL-REG-01-sybil"]);

    // The round: seat keys generated by the seats themselves, announced on the log.
    let mut directory = derived.directory.clone();
    let aggregator_key = key();
    directory.aggregator = Some(aggregator_key.verifying_key());
    let settings = |name: &str| RegionSettings {
        phase: Duration::from_secs(4),
        ..d.services()
            .region(name, Role::Gateway, derived.ctx.clone(), directory.clone())
    };
    let mut party = Party::default();
    for (m, k) in &meters {
        party.meters.insert(m.clone(), k.clone());
        if derived.ctx.committee.rank(m).is_some() {
            let ctx = key_context(region, day, m, &derived.ctx.cutoff);
            party.seats.insert(
                m.clone(),
                SeatSecretKey::generate(params().modulus_bits, &ctx, &mut g),
            );
        }
    }
    let mut gateway = RegionNode::new(settings("gw"), party);
    let mut aggregator = RegionNode::new(
        settings("aggregator"),
        Party {
            aggregator: Some(aggregator_key),
            ..Party::default()
        },
    );
    for (i, m) in ids.iter().enumerate() {
        gateway.submit(START, m, reading(i, 0));
    }
    aggregator.expect(START);
    let (hg, ha) = (d.run(gateway), d.run(aggregator));
    let (_, ra) = (hg.await.unwrap(), ha.await.unwrap());
    let plain = sum(&(0..ids.len()).map(|i| reading(i, 0)).collect::<Vec<_>>());
    assert_eq!(ra.outcomes[&START], Outcome::Total(plain.clone()));
    let mut audit_ctx = derived.ctx.clone();
    audit_ctx.start = START;
    let logs = d.read(&d.topics.rounds).await;
    let parts = d.read(&d.topics.bundles).await;
    let audited = audit_day(&audit_ctx, &directory, &logs, &parts);
    assert_eq!(audited.rounds[&START].outcome, Outcome::Total(plain));
    assert!(audited.rounds[&START].evidence.is_empty());
}

/// Cap exhaustion by late parts: two colluding senders (their own Kafka client) reveal without
/// their parts for one honest seat, wait for that seat's claims, and then one of them posts its
/// part to the bundles topic. An aggregator that copied any part it held would spend the seat's
/// answer cap (one at six meters) on that late part; the seat's claim on the other sender would
/// lapse, the other sender would stay in the final set, and the seat, lacking its part, could
/// publish no partial (with k − d seats so attacked the round is ABANDONED). The aggregator
/// answers only with parts it held when it closed the reveals: the seat keeps its cap, both
/// claims stay open, both colluders are left out, and the seat publishes its partial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_parts_cannot_spend_an_honest_seats_answer_cap_through_the_broker() {
    let r = region();
    let d = Deployment::new().await;
    let target = r.ctx.seats[0].meter.clone();
    // One colluder holds no seat; the other holds the last seat (and leaves it silent: d = 1).
    let late = non_seat(r);
    let silent = r.ctx.seats[r.ctx.seats.len() - 1].meter.clone();
    let honest: Vec<String> = r
        .ctx
        .roster
        .iter()
        .filter(|m| **m != late && **m != silent)
        .cloned()
        .collect();
    let start = START;
    let (hg, ha) = d.run_honest_round(&honest, start, 4);
    let mut colluders = Vec::new();
    for (i, meter) in [&late, &silent].into_iter().enumerate() {
        let rogue = Rogue::new(&d, meter, start);
        let bundle = rogue.bundle(90 + i as u64);
        rogue.commit(&bundle).await;
        colluders.push((rogue, bundle));
    }
    commit_closed(&d, start).await;
    for (rogue, bundle) in &colluders {
        rogue.deliver(bundle, |seat| seat != target).await;
        rogue.reveal(bundle).await;
    }
    // The target claims both; then the late colluder posts its part.
    d.until(start, |log| {
        let claimed = |sender: &String| {
            log.iter().any(|x| {
                x.author == Author::Meter(target.clone())
                    && matches!(&x.entry, Entry::PartMissing(s) if s == sender)
            })
        };
        claimed(&late) && claimed(&silent)
    })
    .await;
    let (rogue, bundle) = &colluders[0];
    rogue.deliver_part(&target, &bundle.parts[0]).await;
    let (_, ra) = (hg.await.unwrap(), ha.await.unwrap());

    let (audited, log) = assert_total(&d, &ra, start, &total_of(&honest, 0)).await;
    assert_eq!(
        ra.parts_posted, 0,
        "the late part is not copied onto the log"
    );
    assert!(
        !log.iter()
            .any(|x| matches!(x.entry, Entry::PartPosted { .. })),
        "nothing answered the claims"
    );
    assert!(
        !audited.capped.contains(&target),
        "the target keeps its cap"
    );
    let day = d.audit_day().await;
    for rogue in [&late, &silent] {
        assert_eq!(
            day.rounds[&start].excluded.get(rogue),
            Some(&Exclusion::PartMissing),
            "{rogue} is left out"
        );
    }
    assert!(
        audited.partials.contains_key(&target),
        "the target seat checked its column and published its partial"
    );
    assert!(audited.evidence.is_empty(), "{:?}", audited.evidence);
}
