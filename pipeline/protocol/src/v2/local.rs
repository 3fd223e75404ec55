//! A whole region of protocol v2 in one process: the day's seats and keys, the meters and an
//! honest aggregator, run step by step over one in-memory ordered log. Tests drive the steps one
//! at a time (and replace any with an attack); `zeal round` and the benchmarks run them all. No
//! I/O, no clock: every party decides from [`replay`] of the same log.

use super::committee::Committee;
use super::crypto::paillier::SeatSecretKey;
use super::day::key_context;
use super::encoding::Hash;
use super::params::{Params, Ratio, RegionRefused};
use super::round::bundle::{Bundle, make_bundle};
use super::round::check::{ColumnEntry, SeatCheck, check_column};
use super::round::log::{
    Author, Directory, Entry, Outcome, Parts, Record, RoundView, replay, sign,
};
use super::round::markers;
use super::round::partial::{SeatAnswer, seat_answer};
use super::round::{RoundContext, Seat};
use ed25519_dalek::SigningKey;
use rand::{CryptoRng, RngCore};
use std::collections::BTreeMap;

/// Every party of one region for one day.
#[derive(Clone)]
pub struct LocalRegion {
    /// The round's shared context.
    pub ctx: RoundContext,
    /// Seats' daily secret keys, in the order of `ctx.seats`.
    pub seat_secrets: Vec<SeatSecretKey>,
    /// Meters' identity keys.
    pub identities: BTreeMap<String, SigningKey>,
    /// The aggregator's signing key.
    pub aggregator: SigningKey,
    /// Identity keys for replay.
    pub directory: Directory,
}

/// One round's log and the bundles the meters dealt (their parts are on the bundles topic).
#[derive(Default, Clone)]
pub struct LocalRound {
    /// The region partition's records, in order.
    pub log: Vec<Record>,
    /// Each committing meter's bundle.
    pub bundles: BTreeMap<String, Bundle>,
}

/// Parameters of the small regions the tests set up (six meters or so): k = 5 seats, d = 1,
/// θ = 1/2, hourly rounds of one interval (two values a round).
pub fn small_params() -> Params {
    Params {
        committee_size: 5,
        threshold: 1,
        intervals_per_round: 1,
        interval_seconds: 3600,
        min_roster: 3,
        participation: Ratio { num: 1, den: 2 },
        ..Params::default()
    }
}

impl LocalRegion {
    /// A region of `meters` meters (ids `<region>-m0000`…) with a committee drawn from `beacon`;
    /// `progress` is told each seat key generated (the slow part).
    pub fn generate<R: RngCore + CryptoRng>(
        params: Params,
        region: &str,
        meters: usize,
        start: i64,
        beacon: &[u8],
        rng: &mut R,
        progress: impl FnMut(usize),
    ) -> Self {
        let roster: Vec<String> = (0..meters).map(|i| format!("{region}-m{i:04}")).collect();
        Self::with_roster(params, region, roster, start, beacon, rng, progress)
            .expect("region large enough")
    }

    /// [`LocalRegion::generate`] for the given meter ids (sorted here: the roster's order);
    /// refused for a region the protocol file does not allow.
    pub fn with_roster<R: RngCore + CryptoRng>(
        params: Params,
        region: &str,
        mut roster: Vec<String>,
        start: i64,
        beacon: &[u8],
        rng: &mut R,
        mut progress: impl FnMut(usize),
    ) -> Result<Self, RegionRefused> {
        roster.sort();
        roster.dedup();
        let meters = roster.len();
        let day = Params::day_of(start);
        let shape = params.committee_shape(meters)?;
        let committee = Committee::draw(beacon, day, region, &roster, shape.seats);
        let cutoff = Hash([7; 32]);
        let mut identities = BTreeMap::new();
        let mut directory = Directory::default();
        for m in &roster {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let key = SigningKey::from_bytes(&seed);
            directory.meters.insert(m.clone(), key.verifying_key());
            identities.insert(m.clone(), key);
        }
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let aggregator = SigningKey::from_bytes(&seed);
        directory.aggregator = Some(aggregator.verifying_key());
        let mut seats = Vec::new();
        let mut seat_secrets = Vec::new();
        for (i, s) in committee.seats().iter().enumerate() {
            let sk = SeatSecretKey::generate(
                params.modulus_bits,
                &key_context(region, day, s, &cutoff),
                rng,
            );
            seats.push(Seat {
                meter: s.clone(),
                rank: i as u64 + 1,
                key: sk.public().clone(),
            });
            seat_secrets.push(sk);
            progress(i + 1);
        }
        let ctx = RoundContext {
            params,
            region: region.into(),
            start,
            committee,
            seats,
            degree: shape.degree,
            roster,
            cutoff,
            suspended: Default::default(),
            disqualified: Default::default(),
        };
        Ok(LocalRegion {
            ctx,
            seat_secrets,
            identities,
            aggregator,
            directory,
        })
    }

    /// Each seat's honest announcement of its day key, in rank order (the key proofs are made
    /// here: the slow part).
    pub fn announcements(&self) -> Vec<super::day::SeatKeyAnnouncement> {
        let day = Params::day_of(self.ctx.start);
        self.ctx
            .seats
            .iter()
            .zip(&self.seat_secrets)
            .map(|(s, sk)| {
                super::day::announce(
                    &self.identities[&s.meter],
                    &self.ctx.region,
                    day,
                    &s.meter,
                    &self.ctx.cutoff,
                    sk,
                )
            })
            .collect()
    }

    /// The honest aggregator's KeysClosed after `announcements`.
    pub fn keys_closed(
        &self,
        announcements: &[super::day::SeatKeyAnnouncement],
    ) -> super::day::KeysClosed {
        let day = Params::day_of(self.ctx.start);
        let identities: Vec<_> = self
            .ctx
            .committee
            .seats()
            .iter()
            .map(|s| (s.clone(), self.directory.meters[s]))
            .collect();
        let keys = super::day::keys_before_close(
            &self.ctx.params,
            &self.ctx.region,
            day,
            &self.ctx.cutoff,
            &identities,
            announcements,
        );
        super::day::close_keys(
            &self.aggregator,
            &self.ctx.region,
            day,
            &self.ctx.cutoff,
            &keys,
        )
    }

    /// The same parties (same day, keys and committee) in the next round.
    pub fn next_round(&self) -> LocalRegion {
        let mut next = self.clone();
        next.ctx.start += next.ctx.params.round_seconds();
        next
    }

    /// A record signed by `author`'s key.
    pub fn record(&self, author: Author, entry: Entry) -> Record {
        let key = match &author {
            Author::Meter(m) => &self.identities[m],
            Author::Aggregator => &self.aggregator,
        };
        sign(&self.ctx, key, author, entry)
    }

    /// The parts on the bundles topic, as a reader fetches them.
    pub fn parts<'a>(&self, round: &'a LocalRound) -> Parts<'a> {
        let mut parts = Parts::new();
        for (sender, b) in &round.bundles {
            for (seat, part) in self.ctx.seats.iter().zip(&b.parts) {
                parts.insert((sender.clone(), seat.meter.clone()), part);
            }
        }
        parts
    }

    /// Replays the round's log.
    pub fn view(&self, round: &LocalRound) -> RoundView {
        replay(&self.ctx, &self.directory, &round.log, &self.parts(round))
    }

    /// A meter deals its values and posts its commitment.
    pub fn commit<R: RngCore + CryptoRng>(
        &self,
        round: &mut LocalRound,
        meter: &str,
        values: &[u64],
        rng: &mut R,
    ) {
        let bundle = make_bundle(&self.ctx, meter, values, rng).expect("valid values");
        self.post_commit(round, bundle);
    }

    /// A meter posts its commitment to `bundle` (dealt by [`make_bundle`] or a fault drill).
    pub fn post_commit(&self, round: &mut LocalRound, bundle: Bundle) {
        let meter = bundle.public.sender.clone();
        let record = self.record(
            Author::Meter(meter.clone()),
            Entry::Commit(bundle.public.commitment(&self.ctx)),
        );
        round.log.push(record);
        round.bundles.insert(meter, bundle);
    }

    /// The honest aggregator closes the commit phase with the commitments before it.
    pub fn close_commits(&self, round: &mut LocalRound) {
        let entry = markers::commit_closed(&self.view(round));
        round.log.push(self.record(Author::Aggregator, entry));
    }

    /// A meter reveals (only if the log says it should).
    pub fn reveal(&self, round: &mut LocalRound, meter: &str) -> bool {
        if !self.view(round).should_reveal(&self.ctx, meter) {
            return false;
        }
        let public = round.bundles[meter].public.clone();
        round
            .log
            .push(self.record(Author::Meter(meter.into()), Entry::Notice(Box::new(public))));
        true
    }

    /// The honest aggregator closes the reveal phase with the meters revealed before it.
    pub fn close_reveals(&self, round: &mut LocalRound) {
        let entry = markers::reveal_closed(&self.view(round));
        round.log.push(self.record(Author::Aggregator, entry));
    }

    /// The column of seat `seat_index`: each revealed sender's notice and its part for the seat
    /// whose hash matches the notice.
    pub fn column<'a>(
        &self,
        view: &'a RoundView,
        round: &'a LocalRound,
        seat_index: usize,
    ) -> BTreeMap<String, ColumnEntry<'a>> {
        markers::column(&self.ctx, view, &self.parts(round), seat_index)
    }

    /// The aggregator checks every revealed bundle's range proof and complains about failures.
    pub fn range_checks(&self, round: &mut LocalRound) {
        for entry in markers::range_complaints(&self.ctx, &self.view(round)) {
            round.log.push(self.record(Author::Aggregator, entry));
        }
    }

    /// Every seat claims the parts it lacks (after the grace period a service waits).
    pub fn claim_missing(&self, round: &mut LocalRound) {
        let v = self.view(round);
        let mut out = Vec::new();
        for (i, seat) in self.ctx.seats.iter().enumerate() {
            let column = self.column(&v, round, i);
            for entry in markers::claims(&self.ctx, &v, &column, i) {
                out.push(self.record(Author::Meter(seat.meter.clone()), entry));
            }
        }
        round.log.extend(out);
    }

    /// The honest aggregator answers open claims with the parts it fetched.
    pub fn answer_claims(&self, round: &mut LocalRound) {
        let entries = markers::answers(
            &self.ctx,
            &self.view(round),
            &self.parts(round),
            Some(self.ctx.answer_cap()),
            &Default::default(),
        );
        for entry in entries {
            round.log.push(self.record(Author::Aggregator, entry));
        }
    }

    /// The honest aggregator posts the parts of the seats' complaints on the log.
    pub fn post_complaint_parts(&self, round: &mut LocalRound) {
        let entries = markers::complaint_parts(&self.ctx, &self.view(round), &self.parts(round));
        for entry in entries {
            round.log.push(self.record(Author::Aggregator, entry));
        }
    }

    /// Every seat whose column is complete checks it and posts its complaints; returns whether
    /// each passed (a seat with a part missing has not checked: it re-checks the final set).
    pub fn seat_checks<R: RngCore + CryptoRng>(
        &self,
        round: &mut LocalRound,
        rng: &mut R,
    ) -> Vec<bool> {
        let v = self.view(round);
        let mut passed = Vec::new();
        let mut complaints = Vec::new();
        for (i, seat) in self.ctx.seats.iter().enumerate() {
            let column = self.column(&v, round, i);
            if !markers::column_complete(&v, &column) {
                passed.push(false);
                continue;
            }
            let entries: Vec<ColumnEntry<'_>> = column.values().copied().collect();
            match check_column(&self.ctx, i, &self.seat_secrets[i], &entries, rng) {
                SeatCheck::Passed => passed.push(true),
                SeatCheck::Failed(found) => {
                    passed.push(false);
                    complaints.extend(found.into_iter().map(|c| (seat.meter.clone(), c)));
                }
            }
        }
        for (seat, c) in complaints {
            round
                .log
                .push(self.record(Author::Meter(seat), Entry::Complaint(c)));
        }
        passed
    }

    /// The honest aggregator posts the final set the log determines.
    pub fn close_final(&self, round: &mut LocalRound) {
        if let Some(entry) = markers::final_set(&self.view(round)) {
            round.log.push(self.record(Author::Aggregator, entry));
        }
    }

    /// Every seat that may publishes its partial. A seat whose own check failed re-checks the
    /// final set (its accused senders are out of it) before publishing.
    pub fn partials<R: RngCore + CryptoRng>(
        &self,
        round: &mut LocalRound,
        passed: &[bool],
        rng: &mut R,
    ) {
        let v = self.view(round);
        let Some((_, _, hash)) = v.final_set.clone() else {
            return;
        };
        let mut out = Vec::new();
        for (i, seat) in self.ctx.seats.iter().enumerate() {
            let column = self.column(&v, round, i);
            let author = || Author::Meter(seat.meter.clone());
            match seat_answer(
                &self.ctx,
                &v,
                i,
                &self.seat_secrets[i],
                passed[i],
                &column,
                rng,
            ) {
                SeatAnswer::Partial(sums) => out.push(self.record(
                    author(),
                    Entry::Partial {
                        final_set: hash,
                        sums,
                    },
                )),
                SeatAnswer::Complaints(found) => out.extend(
                    found
                        .into_iter()
                        .map(|c| self.record(author(), Entry::Complaint(c))),
                ),
                SeatAnswer::Nothing(_) => {}
            }
        }
        round.log.extend(out);
    }

    /// The honest aggregator interpolates d + 1 valid partials and posts the total, or ABANDONED.
    pub fn publish_total(&self, round: &mut LocalRound) -> Outcome {
        let v = self.view(round);
        if v.final_set.is_none() {
            return v.outcome;
        }
        let entry = markers::region_total(&self.ctx, &v).unwrap_or(Entry::Abandoned);
        round.log.push(self.record(Author::Aggregator, entry));
        self.view(round).outcome
    }

    /// A whole honest round: every meter in `values` commits and reveals.
    pub fn run<R: RngCore + CryptoRng>(
        &self,
        values: &BTreeMap<String, Vec<u64>>,
        rng: &mut R,
    ) -> (LocalRound, RoundView) {
        let mut round = LocalRound::default();
        for (m, vals) in values {
            self.commit(&mut round, m, vals, rng);
        }
        self.close_commits(&mut round);
        for m in values.keys() {
            self.reveal(&mut round, m);
        }
        self.close_reveals(&mut round);
        self.range_checks(&mut round);
        self.claim_missing(&mut round);
        self.answer_claims(&mut round);
        let passed = self.seat_checks(&mut round, rng);
        self.close_final(&mut round);
        self.partials(&mut round, &passed, rng);
        self.publish_total(&mut round);
        let view = self.view(&round);
        (round, view)
    }
}
