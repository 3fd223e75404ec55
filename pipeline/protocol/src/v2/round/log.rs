//! The region's ordered log, replayed (DESIGN §4: "every set is defined by its order").
//!
//! No validity depends on a clock: a marker is valid iff its content equals what the log before it
//! determines, and "the first X" is the first *valid* X in the partition. Meters, seats, the
//! aggregator and the audit all call [`replay`]; they differ only in what they then do. A record
//! whose signature does not verify is skipped before any curve or bignum work on it. Invalid
//! aggregator markers and second conflicting markers are kept as [`Evidence`] for the audit.

use super::RoundContext;
use super::bundle::{BundlePublic, SeatPart, part_hash};
use super::complaint::{Complainant, Complaint, is_valid};
use crate::v2::crypto::vss::{
    Commitments, interpolate_pair_at_zero, scalar_to_u64, sum_commitments, verify_share,
};
use crate::v2::encoding::{Hash, Kind, Transcript};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use std::collections::{BTreeMap, BTreeSet};

/// Who wrote a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Author {
    /// A meter (as sender or as seat), by meter id.
    Meter(String),
    /// The aggregator.
    Aggregator,
}

/// What a record says.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A meter's commitment to its bundle.
    Commit(Hash),
    /// The aggregator's list of the commitments before it.
    CommitClosed(Vec<(String, Hash)>),
    /// An on-time meter's objection to a CommitClosed that omits it.
    Objection(Hash),
    /// A meter's reveal notice: its bundle's public part.
    Notice(Box<BundlePublic>),
    /// A meter's withdrawal.
    Withdraw,
    /// The aggregator's list of revealed meters.
    RevealClosed(Vec<String>),
    /// The aggregator's product for a seat (evidence only: seats fold themselves).
    Products {
        /// The seat.
        seat: String,
        /// Ciphertext bytes.
        ciphertexts: Vec<Vec<u8>>,
    },
    /// A complaint.
    Complaint(Complaint),
    /// The aggregator's final set.
    FinalSet(Vec<String>),
    /// A seat's partial over the final set: per value (F(j), R(j)).
    Partial {
        /// H(FinalSet) it is bound to.
        final_set: Hash,
        /// Per value.
        sums: Vec<(Scalar, Scalar)>,
    },
    /// The aggregator's total.
    RegionTotal {
        /// Per value.
        values: Vec<u64>,
        /// The seats whose partials were interpolated.
        contributors: Vec<String>,
        /// H(FinalSet).
        final_set: Hash,
    },
    /// The aggregator gives the round up (fewer than d + 1 partials); values are dropped.
    Abandoned,
    /// A seat's claim that the part a revealed sender's notice names for it never arrived
    /// (round_record v3). Unless the part is posted on the log before FinalSet, the sender is
    /// left out of the final set (not suspended: absence cannot be proven).
    PartMissing(String),
    /// A revealed sender's part for a seat, posted on the log in answer to the seat's claim, by
    /// the sender or the aggregator (round_record v3); it counts iff it hashes to what the
    /// sender's notice names.
    PartPosted {
        /// The sender.
        sender: String,
        /// The seat.
        seat: String,
        /// The part.
        part: SeatPart,
    },
}

/// A signed record of the region's partition.
#[derive(Debug, Clone)]
pub struct Record {
    /// The author.
    pub author: Author,
    /// The content.
    pub entry: Entry,
    /// Ed25519 over [`signing_bytes`].
    pub signature: Signature,
}

impl Entry {
    /// The entry's kind in snake case (`commit_closed`), for counters and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Entry::Commit(_) => "commit",
            Entry::CommitClosed(_) => "commit_closed",
            Entry::Objection(_) => "objection",
            Entry::Notice(_) => "notice",
            Entry::Withdraw => "withdraw",
            Entry::RevealClosed(_) => "reveal_closed",
            Entry::Products { .. } => "products",
            Entry::Complaint(_) => "complaint",
            Entry::FinalSet(_) => "final_set",
            Entry::Partial { .. } => "partial",
            Entry::RegionTotal { .. } => "region_total",
            Entry::Abandoned => "abandoned",
            Entry::PartMissing(_) => "part_missing",
            Entry::PartPosted { .. } => "part_posted",
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Entry::Commit(_) => Kind::Commit,
            Entry::CommitClosed(_) => Kind::CommitClosed,
            Entry::Objection(_) => Kind::Objection,
            Entry::Notice(_) => Kind::Notice,
            Entry::Withdraw => Kind::Withdraw,
            Entry::RevealClosed(_) => Kind::RevealClosed,
            Entry::Products { .. } => Kind::Products,
            Entry::Complaint(_) => Kind::Complaint,
            Entry::FinalSet(_) => Kind::FinalSet,
            Entry::Partial { .. } => Kind::Partial,
            Entry::RegionTotal { .. } => Kind::RegionTotal,
            Entry::Abandoned => Kind::Abandoned,
            Entry::PartMissing(_) => Kind::PartMissing,
            Entry::PartPosted { .. } => Kind::PartPosted,
        }
    }
}

/// The bytes a record's author signs: bound to (version, kind, region, round, cutoff), the author
/// and every field.
pub fn signing_bytes(ctx: &RoundContext, author: &Author, entry: &Entry) -> Vec<u8> {
    let mut t: Transcript = ctx.transcript(entry.kind());
    match author {
        Author::Meter(m) => t.str("meter").str(m),
        Author::Aggregator => t.str("aggregator"),
    };
    match entry {
        Entry::Commit(h) | Entry::Objection(h) => {
            t.field(&h.0);
        }
        Entry::CommitClosed(list) => {
            t.u64(list.len() as u64);
            for (m, h) in list {
                t.str(m).field(&h.0);
            }
        }
        Entry::Notice(public) => {
            t.field(&public.commitment(ctx).0);
        }
        Entry::Withdraw | Entry::Abandoned => {}
        Entry::RevealClosed(list) | Entry::FinalSet(list) => {
            t.list(list.iter().map(|m| m.as_bytes()));
        }
        Entry::Products { seat, ciphertexts } => {
            t.str(seat).list(ciphertexts.iter().map(Vec::as_slice));
        }
        Entry::Complaint(c) => {
            match &c.complainant {
                Complainant::Seat(s) => t.str("seat").str(s),
                Complainant::Aggregator => t.str("aggregator"),
            };
            t.str(&c.sender)
                .u64(c.kind as u64)
                .u64(c.index as u64)
                .u64(c.openings.len() as u64);
            for (m, rho) in &c.openings {
                t.field(&m.to_digits::<u8>(rug::integer::Order::Msf))
                    .field(&rho.to_digits::<u8>(rug::integer::Order::Msf));
            }
        }
        Entry::Partial { final_set, sums } => {
            t.field(&final_set.0);
            for (f, r) in sums {
                t.field(f.as_bytes()).field(r.as_bytes());
            }
        }
        Entry::RegionTotal {
            values,
            contributors,
            final_set,
        } => {
            t.list(
                values
                    .iter()
                    .map(|v| v.to_be_bytes())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|b| b.as_slice()),
            );
            t.list(contributors.iter().map(|m| m.as_bytes()))
                .field(&final_set.0);
        }
        Entry::PartMissing(sender) => {
            t.str(sender);
        }
        Entry::PartPosted { sender, seat, part } => {
            t.str(sender)
                .str(seat)
                .field(&part_hash(ctx, sender, seat, part).0);
        }
    }
    t.as_bytes().to_vec()
}

/// [`signing_bytes`] of `meter`'s notice whose bundle commitment is `commitment`, for a verifier
/// that has computed the commitment already (it is the costly part).
pub fn notice_signing_bytes(ctx: &RoundContext, meter: &str, commitment: &Hash) -> Vec<u8> {
    let mut t = ctx.transcript(Kind::Notice);
    t.str("meter").str(meter).field(&commitment.0);
    t.as_bytes().to_vec()
}

/// Signs an entry as `author` (tests, gateways, the aggregator).
pub fn sign(ctx: &RoundContext, key: &SigningKey, author: Author, entry: Entry) -> Record {
    let signature = key.sign(&signing_bytes(ctx, &author, &entry));
    Record {
        author,
        entry,
        signature,
    }
}

/// The identity keys replay checks signatures against: meters' certified keys and the
/// aggregator's key.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Certified identity keys by meter id (as of the day's cutoff).
    pub meters: BTreeMap<String, VerifyingKey>,
    /// The aggregator's signing key.
    pub aggregator: Option<VerifyingKey>,
}

impl Directory {
    fn verifies(&self, ctx: &RoundContext, r: &Record) -> bool {
        self.signed(
            &r.author,
            &signing_bytes(ctx, &r.author, &r.entry),
            &r.signature,
        )
    }

    /// Whether `author` signed `bytes`. Strict (no small-order keys or non-canonical R): the same
    /// rule as the wire reader and the aggregator, so no record is valid for one party and not
    /// for another.
    fn signed(&self, author: &Author, bytes: &[u8], signature: &Signature) -> bool {
        let key = match author {
            Author::Meter(m) => self.meters.get(m),
            Author::Aggregator => self.aggregator.as_ref(),
        };
        key.is_some_and(|k| k.verify_strict(bytes, signature).is_ok())
    }
}

/// What the audit is shown: signed aggregator markers that are invalid or conflict with the
/// first valid one, invalid complaints, products that differ from the log's fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A signed marker whose content is not what the log before it determines (position, kind).
    InvalidMarker(usize, &'static str),
    /// A second signed marker of a kind after the first valid one (position, kind).
    SecondMarker(usize, &'static str),
    /// A complaint whose evidence fails: the seat is disqualified from this position on.
    InvalidComplaint(usize, String),
    /// Evidence was capped at [`MAX_EVIDENCE`] from this position.
    TooMuch(usize),
    /// A valid complaint that arrived after FinalSet: the sender is suspended.
    LateComplaint(usize, String),
    /// A partial that fails the public check or comes from a disqualified seat.
    InvalidPartial(usize, String),
    /// The aggregator's products for a seat differ from the fold of the log's revealed set
    /// (position, seat); named by [`super::markers::wrong_products`], not by replay.
    WrongProducts(usize, String),
}

impl std::fmt::Display for Evidence {
    /// One line for an operator: what, and at which record of the round log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::InvalidMarker(pos, kind) => write!(f, "invalid {kind} at record {pos}"),
            Evidence::SecondMarker(pos, kind) => {
                write!(
                    f,
                    "second {kind} at record {pos} (the first valid one stands)"
                )
            }
            Evidence::InvalidComplaint(pos, what) => {
                write!(f, "invalid complaint ({what}) at record {pos}")
            }
            Evidence::TooMuch(pos) => write!(f, "evidence capped from record {pos} on"),
            Evidence::LateComplaint(pos, sender) => {
                write!(
                    f,
                    "valid complaint against {sender} after FinalSet, at record {pos}"
                )
            }
            Evidence::InvalidPartial(pos, seat) => {
                write!(f, "invalid partial by {seat} at record {pos}")
            }
            Evidence::WrongProducts(pos, seat) => write!(
                f,
                "products for {seat} at record {pos} differ from the fold of the log"
            ),
        }
    }
}

/// How the round stands after the records read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still running.
    Open,
    /// The first valid CommitClosed held fewer than the quorum: every meter carries.
    Lapsed,
    /// The final set would fall below the quorum: no partial, values dropped (counted).
    Void,
    /// Given up with fewer than d + 1 partials: values dropped (counted).
    Abandoned,
    /// A valid RegionTotal.
    Total(Vec<u64>),
}

/// A meter's first valid answer after the first valid CommitClosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A valid reveal notice at this position.
    Revealed(usize),
    /// A Withdraw at this position.
    Withdrew(usize),
    /// A signed notice that does not match the commitment or whose proofs fail: not revealed,
    /// and no carry (the meter's parts may be out).
    Refused(usize),
}

/// The replayed state of one round.
#[derive(Debug, Clone)]
pub struct RoundView {
    /// First commit per roster meter before the first valid CommitClosed, in log order.
    pub commits: Vec<(String, Hash)>,
    /// The first valid CommitClosed: (position, its list).
    pub commit_closed: Option<(usize, Vec<(String, Hash)>)>,
    /// First valid answer of each listed meter.
    pub answers: BTreeMap<String, Answer>,
    /// Valid notices by meter (the public parts revealed).
    pub notices: BTreeMap<String, BundlePublic>,
    /// Position of the first aggregator-signed RevealClosed, valid or not (no meter carries a
    /// value withdrawn after it). Only the first is kept: a flood of invalid ones costs no memory.
    pub first_reveal_closed: Option<usize>,
    /// The first valid RevealClosed: (position, revealed set in listing order).
    pub revealed: Option<(usize, Vec<String>)>,
    /// Senders validly accused, with the position of the first valid complaint.
    pub accused: BTreeMap<String, usize>,
    /// Valid complaints by (seat, sender).
    pub complaints: BTreeSet<(Complainant, String)>,
    /// Seats disqualified for the day, from this position on.
    pub disqualified: BTreeMap<String, usize>,
    /// Claims that a part never arrived, (seat, sender) → position of the first valid one
    /// (after RevealClosed, before FinalSet, by a seat not disqualified, about a revealed sender).
    pub missing: BTreeMap<(String, String), usize>,
    /// Parts posted on the log in answer to a claim, (sender, seat) → the part (the first that
    /// hashes to what the sender's notice names; only before FinalSet).
    pub posted: BTreeMap<(String, String), SeatPart>,
    /// Claims of each seat the aggregator answered, up to the seat's answer cap.
    pub aggregator_answers: BTreeMap<String, usize>,
    /// Seats whose answer cap the aggregator reached: their open and later claims lapse (they
    /// leave no one out), and no more answers to them count.
    pub capped: BTreeSet<String>,
    /// The first valid FinalSet: (position, members, hash).
    pub final_set: Option<(usize, Vec<String>, Hash)>,
    /// Valid partials by seat.
    pub partials: BTreeMap<String, Vec<(Scalar, Scalar)>>,
    /// A complaint whose sender part is not available yet: replay stopped there (no verifier
    /// ever concludes that a record is missing; it waits).
    pub waiting_at: Option<usize>,
    /// The outcome so far.
    pub outcome: Outcome,
    /// Σ C over the final set, per value (computed once, when the final set is accepted).
    pub aggregate: Vec<Commitments>,
    /// (complainant, sender) pairs already judged, valid or not: each is judged once.
    pub judged: BTreeSet<(Complainant, String)>,
    /// Seats whose first partial was judged (a second one is never looked at).
    pub judged_partials: BTreeSet<String>,
    /// Signatures of records whose judgement is settled: an exact copy costs a lookup.
    seen: std::collections::HashSet<[u8; 64]>,
    /// (signature, valid partials seen) of RegionTotals judged invalid.
    judged_totals: std::collections::HashSet<([u8; 64], usize)>,
    /// For the audit.
    pub evidence: Vec<Evidence>,
    /// The expensive steps this replay ran.
    pub work: Work,
}

/// The expensive steps of a replay, counted; every other step is a comparison or a lookup. A
/// flood of records must not multiply them: each is bounded by the round's roster and committee,
/// except signatures, which are at most one per record (and none for a record refused by role,
/// set or duplicate first). Bounds tests assert on it; the audit may report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Ed25519 signature verifications.
    pub signatures: usize,
    /// Reveal notices whose proofs were verified: at most one per listed meter.
    pub notices: usize,
    /// Complaints whose evidence was judged: at most one per (complainant, sender).
    pub complaints: usize,
    /// Partials checked against the final set's commitments: at most one per seat.
    pub partials: usize,
    /// RegionTotals interpolated: at most one per signed total and set of valid partials.
    pub totals: usize,
}

/// The parts a reader has fetched from the bundles topic: (sender, seat) → part.
pub type Parts<'a> = BTreeMap<(String, String), &'a SeatPart>;

/// The parts posted on the log itself (`PartPosted`, by their sender or the aggregator: answers
/// to claims and the parts of seats' complaints), each kept only if it hashes to what its
/// sender's first notice in `log` names for that seat. A reader that holds the round log and
/// none of the bundles topic can judge every complaint from these.
pub fn parts_on_log<'a>(
    ctx: &RoundContext,
    log: impl IntoIterator<Item = &'a Record> + Clone,
) -> Parts<'a> {
    let mut named: BTreeMap<&str, &BundlePublic> = BTreeMap::new();
    for r in log.clone() {
        if let (Author::Meter(m), Entry::Notice(p)) = (&r.author, &r.entry) {
            named.entry(m.as_str()).or_insert(p);
        }
    }
    let mut parts = Parts::new();
    for r in log {
        let Entry::PartPosted { sender, seat, part } = &r.entry else {
            continue;
        };
        let by = match &r.author {
            Author::Meter(m) => m == sender,
            Author::Aggregator => true,
        };
        let matches = || {
            let index = ctx.seat_index(seat)?;
            let named = named.get(sender.as_str())?.part_hashes.get(index)?;
            (part_hash(ctx, sender, seat, part) == *named).then_some(())
        };
        let key = (sender.clone(), seat.clone());
        if by && !parts.contains_key(&key) && matches().is_some() {
            parts.insert(key, part);
        }
    }
    parts
}

/// What a [`Replay`] keeps when it starts again: each reveal notice's judgement (its signature
/// and its proofs), keyed by (meter, commitment, signature). The commitment hashes the whole
/// public part for this round and meter, so a record with other content under the same
/// signature misses the cache and is judged afresh. Holds at most one entry per roster meter
/// (only signed notices that became answers).
#[derive(Debug, Default, Clone)]
struct ReplayCache {
    notices: std::collections::HashMap<(String, Hash, [u8; 64]), NoticeJudgement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoticeJudgement {
    Unsigned,
    Valid,
    Invalid,
}

/// Replays `records` (the region partition's records for this round, in order). Work per record
/// is bounded: cheap structural checks (duplicates, roles, sets) come first, then the
/// signature, and only then any curve or bignum work.
pub fn replay<'r>(
    ctx: &RoundContext,
    directory: &Directory,
    records: impl IntoIterator<Item = &'r Record>,
    parts: &Parts<'_>,
) -> RoundView {
    let mut view = RoundView::empty();
    let mut cache = ReplayCache::default();
    for (pos, r) in records.into_iter().enumerate() {
        let input = Input {
            record: r,
            checked: false,
            commitment: None,
        };
        if step(&mut view, ctx, directory, pos, input, parts, &mut cache) == Flow::Wait {
            break;
        }
    }
    view
}

/// A record whose author's signature verified for one round against one [`Directory`]: made
/// only by [`verify`] and the wire reader (`wire::decode_verified`), so a replay over verified
/// records checks no signature twice. A notice keeps its bundle commitment (the costly hash the
/// signature covers).
#[derive(Debug, Clone)]
pub struct Verified {
    record: Record,
    commitment: Option<Hash>,
}

impl Verified {
    /// Wraps a record whose signature the caller verified; `commitment` is a notice's.
    pub(crate) fn checked(record: Record, commitment: Option<Hash>) -> Self {
        Verified { record, commitment }
    }

    /// The record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The record, giving up the proof that it verified.
    pub fn into_record(self) -> Record {
        self.record
    }
}

/// Checks `record`'s signature for `ctx`'s round against `directory` (the same strict rule as
/// replay); `None` when it does not verify.
pub fn verify(ctx: &RoundContext, directory: &Directory, record: Record) -> Option<Verified> {
    let (ok, commitment) = match (&record.author, &record.entry) {
        (Author::Meter(m), Entry::Notice(public)) => {
            let c = public.commitment(ctx);
            let ok = directory.signed(
                &record.author,
                &notice_signing_bytes(ctx, m, &c),
                &record.signature,
            );
            (ok, Some(c))
        }
        _ => (directory.verifies(ctx, &record), None),
    };
    ok.then(|| Verified::checked(record, commitment))
}

/// A replay that reads a growing log once: each [`Replay::advance`] judges only the records
/// appended since the last (and a complaint that waited for its sender's part), so a reader
/// that replays a round on every new record does work linear in the log, not quadratic. The
/// view after any sequence of advances is the view of one [`replay`] of the whole log with the
/// parts then at hand (only [`RoundView::work`] differs): the log is a fold, and a complaint
/// whose part is missing stops the fold where a fresh replay would stop.
#[derive(Debug, Clone)]
pub struct Replay {
    view: RoundView,
    next: usize,
    cache: ReplayCache,
}

impl Default for Replay {
    fn default() -> Self {
        Replay {
            view: RoundView::empty(),
            next: 0,
            cache: ReplayCache::default(),
        }
    }
}

impl Replay {
    /// A replay that has read nothing.
    pub fn new() -> Self {
        Replay::default()
    }

    /// The view after the records read so far.
    pub fn view(&self) -> &RoundView {
        &self.view
    }

    /// Starts again from the first record (the round's context changed: suspensions and
    /// disqualifications carried from earlier rounds); notice judgements are kept, so the
    /// replay verifies no notice twice.
    pub fn restart(&mut self) {
        self.view = RoundView::empty();
        self.next = 0;
    }

    /// Reads `log` from where the last advance stopped; `log` must be the log of the last
    /// advance with records appended (a shorter log starts the replay again).
    pub fn advance(
        &mut self,
        ctx: &RoundContext,
        directory: &Directory,
        log: &[Record],
        parts: &Parts<'_>,
    ) -> &RoundView {
        self.run(ctx, directory, log.len(), parts, |i| Input {
            record: &log[i],
            checked: false,
            commitment: None,
        })
    }

    /// [`Replay::advance`] over records whose signatures verified for `ctx`'s round against
    /// `directory` already.
    pub fn advance_verified(
        &mut self,
        ctx: &RoundContext,
        directory: &Directory,
        log: &[Verified],
        parts: &Parts<'_>,
    ) -> &RoundView {
        self.run(ctx, directory, log.len(), parts, |i| Input {
            record: &log[i].record,
            checked: true,
            commitment: log[i].commitment,
        })
    }

    fn run<'r>(
        &mut self,
        ctx: &RoundContext,
        directory: &Directory,
        len: usize,
        parts: &Parts<'_>,
        input: impl Fn(usize) -> Input<'r>,
    ) -> &RoundView {
        if len < self.next {
            self.restart();
        }
        let view = &mut self.view;
        if let Some(at) = view.waiting_at.take() {
            self.next = at;
        }
        while self.next < len {
            let pos = self.next;
            if step(
                view,
                ctx,
                directory,
                pos,
                input(pos),
                parts,
                &mut self.cache,
            ) == Flow::Wait
            {
                break;
            }
            self.next += 1;
        }
        view
    }
}

impl Replay {
    /// Whether the aggregator's `marker`, read right after the records read so far, would be
    /// accepted (it moves the round on); `self` is left as it was. `None` while a complaint
    /// waits for its part (the replay would read an earlier record next).
    fn would_accept(
        &self,
        ctx: &RoundContext,
        directory: &Directory,
        marker: &Verified,
        parts: &Parts<'_>,
    ) -> Option<bool> {
        if self.view.waiting_at.is_some() {
            return None;
        }
        let before = progress(&self.view);
        let mut trial = self.clone();
        let at = trial.next;
        let view = trial.run(ctx, directory, at + 1, parts, |_| Input {
            record: &marker.record,
            checked: true,
            commitment: marker.commitment,
        });
        Some(view.waiting_at.is_none() && progress(view) != before)
    }
}

/// How many records before an invalid marker [`raced`] looks back for a point where it held.
pub const RACE_WINDOW: usize = 256;

/// Whether the aggregator's record at `pos` of `log`, a marker the replay judged invalid, is
/// what the log determined at one of the [`RACE_WINDOW`] points before it: a marker that lost a
/// race with records that landed between the aggregator's read of the log and its write, as an
/// honest aggregator's does on a slow or flaky network. Such a marker is ignored all the same
/// (the round waits for one that holds); the audit reports it apart from misbehaviour. A marker
/// that held at no earlier point (one that leaves out a meter answered before another it lists,
/// or names what the log never held) is not raced. [`Replay::raced`] does the same reusing a
/// replay's notice judgements.
pub fn raced(
    ctx: &RoundContext,
    directory: &Directory,
    log: &[Verified],
    parts: &Parts<'_>,
    pos: usize,
) -> bool {
    Replay::new().raced(ctx, directory, log, parts, pos)
}

impl Replay {
    /// [`raced`], judging no notice this replay judged already (the costly proofs): one replay
    /// of `log[..pos]` over the cached judgements and one trial step per point of the window.
    pub fn raced(
        &self,
        ctx: &RoundContext,
        directory: &Directory,
        log: &[Verified],
        parts: &Parts<'_>,
        pos: usize,
    ) -> bool {
        let Some(marker) = log
            .get(pos)
            .filter(|r| r.record.author == Author::Aggregator)
        else {
            return false;
        };
        let from = pos.saturating_sub(RACE_WINDOW);
        let mut base = Replay {
            view: RoundView::empty(),
            next: 0,
            cache: self.cache.clone(),
        };
        base.advance_verified(ctx, directory, &log[..from], parts);
        for q in from..pos {
            if base.next == q && base.would_accept(ctx, directory, marker, parts) == Some(true) {
                return true;
            }
            base.advance_verified(ctx, directory, &log[..=q], parts);
        }
        false
    }
}

/// One record as replay reads it.
#[derive(Clone, Copy)]
struct Input<'r> {
    record: &'r Record,
    /// Its signature verified already ([`Verified`]).
    checked: bool,
    /// A verified notice's commitment.
    commitment: Option<Hash>,
}

/// Whether replay goes on after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    /// A complaint's part is missing: stop here and read this record again later.
    Wait,
}

/// Judges the record at `pos` into `v`. Work per record is bounded: cheap structural checks
/// (duplicates, roles, sets) come first, then the signature, and only then any curve or bignum
/// work.
fn step(
    v: &mut RoundView,
    ctx: &RoundContext,
    directory: &Directory,
    pos: usize,
    input: Input<'_>,
    parts: &Parts<'_>,
    cache: &mut ReplayCache,
) -> Flow {
    let Input {
        record: r,
        checked,
        commitment,
    } = input;
    let quorum = ctx.quorum();
    // An exact copy of a record already interpreted costs a lookup. Complaints and notices
    // are checked for signature after their cheap checks (duplicates, roles, sets); every
    // other record before anything else.
    if v.seen.contains(&r.signature.to_bytes()) {
        return Flow::Next;
    }
    if !checked
        && !matches!(r.entry, Entry::Complaint(_) | Entry::Notice(_))
        && !signature_holds(&mut v.work, ctx, directory, r)
    {
        return Flow::Next; // unsigned or forged: never interpreted
    }
    if matches!(v.outcome, Outcome::Lapsed | Outcome::Void) && r.author == Author::Aggregator {
        invalid_marker(v, pos, "marker after a lapsed or void round");
        return Flow::Next;
    }
    let before = progress(v);
    match (&r.author, &r.entry) {
        (Author::Meter(m), Entry::Commit(h))
            if v.commit_closed.is_none()
                && ctx.on_roster(m)
                && !ctx.suspended.contains(m)
                && !v.commits.iter().any(|(c, _)| c == m) =>
        {
            v.commits.push((m.clone(), *h));
        }
        (Author::Aggregator, Entry::CommitClosed(list)) => {
            if v.commit_closed.is_some() {
                return second_marker(v, r, pos, "CommitClosed");
            } else if *list == v.commits {
                v.commit_closed = Some((pos, list.clone()));
                if list.len() < quorum {
                    v.outcome = Outcome::Lapsed;
                }
            } else {
                invalid_marker(v, pos, "CommitClosed");
            }
        }
        (Author::Meter(m), Entry::Notice(public)) => {
            let Some((_, list)) = &v.commit_closed else {
                return Flow::Next;
            };
            let Some((_, committed)) = list.iter().find(|(c, _)| c == m) else {
                return Flow::Next;
            };
            if v.answers.contains_key(m) || public.sender != *m {
                return Flow::Next;
            }
            // Hashed once: what the meter signed is this commitment.
            let commitment = commitment.unwrap_or_else(|| public.commitment(ctx));
            let key = (m.clone(), commitment, r.signature.to_bytes());
            let judged = match cache.notices.get(&key) {
                Some(j) => *j,
                None => {
                    let signed = checked || {
                        v.work.signatures += 1;
                        directory.signed(
                            &r.author,
                            &notice_signing_bytes(ctx, m, &commitment),
                            &r.signature,
                        )
                    };
                    let j = if !signed {
                        NoticeJudgement::Unsigned
                    } else {
                        v.work.notices += 1;
                        if public.verify(ctx).is_ok() {
                            NoticeJudgement::Valid
                        } else {
                            NoticeJudgement::Invalid
                        }
                    };
                    // Only signed notices are kept: at most one per meter reaches
                    // here (its first signed notice is its answer), so the cache is
                    // bounded by the roster; forgeries cost their signature check each time.
                    if j != NoticeJudgement::Unsigned {
                        cache.notices.insert(key, j);
                    }
                    j
                }
            };
            if judged == NoticeJudgement::Unsigned {
                return Flow::Next;
            }
            // The meter's first signed notice is its answer, valid or not.
            if commitment == *committed && judged == NoticeJudgement::Valid {
                v.answers.insert(m.clone(), Answer::Revealed(pos));
                v.notices.insert(m.clone(), (**public).clone());
            } else {
                v.answers.insert(m.clone(), Answer::Refused(pos));
            }
        }
        (Author::Meter(m), Entry::Withdraw) => {
            let Some((_, list)) = &v.commit_closed else {
                return Flow::Next;
            };
            if list.iter().any(|(c, _)| c == m) && !v.answers.contains_key(m) {
                v.answers.insert(m.clone(), Answer::Withdrew(pos));
            }
        }
        (Author::Aggregator, Entry::RevealClosed(list)) => {
            v.first_reveal_closed.get_or_insert(pos);
            if v.revealed.is_some() {
                return second_marker(v, r, pos, "RevealClosed");
            }
            let expected: Vec<String> = match &v.commit_closed {
                Some((_, l)) => l
                    .iter()
                    .filter(|(m, _)| matches!(v.answers.get(m), Some(Answer::Revealed(_))))
                    .map(|(m, _)| m.clone())
                    .collect(),
                None => {
                    invalid_marker(v, pos, "RevealClosed before CommitClosed");
                    return Flow::Next;
                }
            };
            if *list == expected {
                if list.len() < quorum {
                    v.outcome = Outcome::Void;
                }
                v.revealed = Some((pos, list.clone()));
            } else {
                invalid_marker(v, pos, "RevealClosed");
            }
        }
        (author, Entry::Complaint(c)) => {
            let Some((_, revealed)) = &v.revealed else {
                return Flow::Next;
            };
            let by_author = match (&c.complainant, author) {
                (Complainant::Seat(s), Author::Meter(m)) => s == m && ctx.seat(s).is_some(),
                (Complainant::Aggregator, Author::Aggregator) => true,
                _ => false,
            };
            if !by_author || !revealed.contains(&c.sender) {
                return Flow::Next;
            }
            if let Complainant::Seat(s) = &c.complainant
                && (v.disqualified.contains_key(s) || ctx.disqualified.contains(s))
            {
                return Flow::Next;
            }
            let key = (c.complainant.clone(), c.sender.clone());
            if v.judged.contains(&key) {
                return Flow::Next; // one complaint per complainant and sender is judged
            }
            if !checked && !signature_holds(&mut v.work, ctx, directory, r) {
                return Flow::Next; // forged ones never
            }
            let public = &v.notices[&c.sender];
            let part = match &c.complainant {
                Complainant::Seat(s) => {
                    let index = ctx.seat_index(s).expect("seat checked");
                    let key = (c.sender.clone(), s.clone());
                    match parts.get(&key).copied() {
                        Some(p) if part_hash(ctx, &c.sender, s, p) == public.part_hashes[index] => {
                            Some(p)
                        }
                        // A part posted on the log matched the notice when it was accepted.
                        _ if v.posted.contains_key(&key) => v.posted.get(&key),
                        _ => {
                            v.waiting_at = Some(pos);
                            return Flow::Wait;
                        }
                    }
                }
                Complainant::Aggregator => None,
            };
            v.judged.insert(key.clone());
            v.work.complaints += 1;
            if is_valid(ctx, c, public, part) {
                v.complaints.insert(key);
                if v.final_set.is_some() {
                    note(
                        &mut v.evidence,
                        pos,
                        Evidence::LateComplaint(pos, c.sender.clone()),
                    );
                } else {
                    v.accused.entry(c.sender.clone()).or_insert(pos);
                    let left = revealed
                        .iter()
                        .filter(|m| !v.accused.contains_key(*m))
                        .count();
                    if left < quorum {
                        v.outcome = Outcome::Void;
                    }
                }
            } else {
                note(
                    &mut v.evidence,
                    pos,
                    Evidence::InvalidComplaint(pos, format!("{:?} against {}", c.kind, c.sender)),
                );
                if let Complainant::Seat(s) = &c.complainant {
                    v.disqualified.insert(s.clone(), pos);
                }
            }
        }
        (Author::Aggregator, Entry::FinalSet(members)) => {
            if v.final_set.is_some() {
                return second_marker(v, r, pos, "FinalSet");
            }
            let Some((_, revealed)) = &v.revealed else {
                invalid_marker(v, pos, "FinalSet before RevealClosed");
                return Flow::Next;
            };
            let unanswered = v.unanswered();
            let expected: Vec<String> = revealed
                .iter()
                .filter(|m| !v.accused.contains_key(*m) && !unanswered.contains(*m))
                .cloned()
                .collect();
            if *members == expected && expected.len() >= quorum {
                v.aggregate =
                    aggregate_commitments(&expected, &v.notices, ctx.params.values_per_round());
                v.final_set = Some((pos, expected, final_set_hash(ctx, members)));
            } else if *members == expected {
                // Parts still missing at FinalSet leave too few members: the round is void.
                v.outcome = Outcome::Void;
            } else {
                invalid_marker(v, pos, "FinalSet");
            }
        }
        (Author::Meter(seat), Entry::Partial { final_set, sums }) => {
            let Some((_, _, hash)) = &v.final_set else {
                return Flow::Next;
            };
            if v.judged_partials.contains(seat) || ctx.seat(seat).is_none() {
                return Flow::Next;
            }
            v.judged_partials.insert(seat.clone());
            v.work.partials += 1;
            if v.disqualified.contains_key(seat)
                || ctx.disqualified.contains(seat)
                || final_set != hash
                || !holds_against(ctx, seat, &v.aggregate, sums)
            {
                // A seat's first partial is final: a bad one disqualifies it for the day.
                note(
                    &mut v.evidence,
                    pos,
                    Evidence::InvalidPartial(pos, seat.clone()),
                );
                v.disqualified.entry(seat.clone()).or_insert(pos);
                return Flow::Next;
            }
            v.partials.insert(seat.clone(), sums.clone());
        }
        (
            Author::Aggregator,
            Entry::RegionTotal {
                values,
                contributors,
                final_set,
            },
        ) => {
            if matches!(v.outcome, Outcome::Total(_) | Outcome::Abandoned) {
                return second_marker(v, r, pos, "RegionTotal");
            }
            let key = (r.signature.to_bytes(), v.partials.len());
            if v.judged_totals.contains(&key) {
                return Flow::Next; // judged against these very partials already
            }
            v.judged_totals.insert(key);
            v.work.totals += 1;
            match (&v.final_set, total_from(ctx, v, contributors)) {
                (Some((_, _, h)), Some(t)) if h == final_set && t == *values => {
                    v.outcome = Outcome::Total(t)
                }
                _ => invalid_marker(v, pos, "RegionTotal"),
            }
        }
        (Author::Meter(seat), Entry::PartMissing(sender)) => {
            let Some((_, revealed)) = &v.revealed else {
                return Flow::Next;
            };
            let key = (seat.clone(), sender.clone());
            if v.final_set.is_none()
                && ctx.seat(seat).is_some()
                && !v.capped.contains(seat)
                && !v.disqualified.contains_key(seat)
                && !ctx.disqualified.contains(seat)
                && revealed.contains(sender)
                && !v.missing.contains_key(&key)
            {
                v.missing.insert(key, pos);
            }
        }
        (author, Entry::PartPosted { sender, seat, part }) => {
            let by_sender_or_aggregator = match author {
                Author::Meter(m) => m == sender,
                Author::Aggregator => true,
            };
            let key = (sender.clone(), seat.clone());
            if !by_sender_or_aggregator
                || v.final_set.is_some()
                || !v.missing.contains_key(&(seat.clone(), sender.clone()))
                || v.posted.contains_key(&key)
                || v.capped.contains(seat)
            {
                return Flow::Next;
            }
            let index = ctx.seat_index(seat).expect("only seats' claims are kept");
            if part_hash(ctx, sender, seat, part) == v.notices[sender].part_hashes[index] {
                v.posted.insert(key, part.clone());
                if *author == Author::Aggregator {
                    let n = v.aggregator_answers.entry(seat.clone()).or_default();
                    *n += 1;
                    if *n >= ctx.answer_cap() {
                        v.capped.insert(seat.clone());
                    }
                }
            }
        }
        (Author::Aggregator, Entry::Abandoned) => {
            if matches!(v.outcome, Outcome::Total(_) | Outcome::Abandoned) {
                return second_marker(v, r, pos, "ABANDONED");
            } else if v.final_set.is_none() || v.partials.len() > ctx.degree {
                // Valid only after the final set, with fewer than d + 1 partials before it.
                invalid_marker(v, pos, "ABANDONED");
            } else {
                v.outcome = Outcome::Abandoned;
            }
        }
        _ => {} // products: `markers::wrong_products` (the audit); objections are counted by the audit
    }
    // Records whose judgement can never change are not judged again when copied: accepted
    // ones, second markers, and the judged notices, complaints and partials. An invalid
    // marker may become valid later in the log (its content is compared with the log before
    // it), so a copy of it is judged again; that costs comparisons, or for a RegionTotal one
    // interpolation per change in the partials seen (`judged_totals`).
    let after = progress(v);
    if after != before {
        v.seen.insert(r.signature.to_bytes());
    }
    Flow::Next
}

/// Counts in `work` and checks `r`'s signature (records not checked by the wire reader).
fn signature_holds(work: &mut Work, ctx: &RoundContext, directory: &Directory, r: &Record) -> bool {
    work.signatures += 1;
    directory.verifies(ctx, r)
}

/// Notes an invalid `what` marker at `pos`.
fn invalid_marker(v: &mut RoundView, pos: usize, what: &'static str) {
    note(&mut v.evidence, pos, Evidence::InvalidMarker(pos, what));
}

/// Notes a second `what` marker at `pos`; its judgement never changes, so copies are skipped.
fn second_marker(v: &mut RoundView, r: &Record, pos: usize, what: &'static str) -> Flow {
    note(&mut v.evidence, pos, Evidence::SecondMarker(pos, what));
    v.seen.insert(r.signature.to_bytes());
    Flow::Next
}

/// What a record can change; a record that changed none of it (and is no second marker) may be
/// judged again when copied.
type Progress = (
    usize,
    bool,
    usize,
    bool,
    usize,
    usize,
    usize,
    bool,
    usize,
    Outcome,
);

fn progress(v: &RoundView) -> Progress {
    (
        v.commits.len(),
        v.commit_closed.is_some(),
        v.answers.len(),
        v.revealed.is_some(),
        v.judged.len(),
        v.missing.len(),
        v.posted.len(),
        v.final_set.is_some(),
        v.judged_partials.len(),
        v.outcome.clone(),
    )
}

/// Evidence entries kept per round; past it the audit reads the log itself.
pub const MAX_EVIDENCE: usize = 1024;

/// Keeps `e` for the audit, at most [`MAX_EVIDENCE`] entries in all: the last slot then says
/// from which position on evidence was dropped, and nothing more is kept, whatever the log holds.
pub(crate) fn note(evidence: &mut Vec<Evidence>, pos: usize, e: Evidence) {
    match evidence.len() + 1 {
        n if n < MAX_EVIDENCE => evidence.push(e),
        n if n == MAX_EVIDENCE => evidence.push(Evidence::TooMuch(pos)),
        _ => {}
    }
}

/// H(FinalSet): partials and totals name the set by it.
pub fn final_set_hash(ctx: &RoundContext, members: &[String]) -> Hash {
    ctx.transcript(Kind::FinalSet)
        .list(members.iter().map(|m| m.as_bytes()))
        .hash()
}

/// The aggregate commitments of a set, per value.
pub fn aggregate_commitments(
    members: &[String],
    notices: &BTreeMap<String, BundlePublic>,
    values: usize,
) -> Vec<Commitments> {
    (0..values)
        .map(|v| {
            sum_commitments(
                &members
                    .iter()
                    .map(|m| &notices[m].commitments[v])
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

/// The public check of a partial: F(j)·G + R(j)·H = Σ_l j^l·C̄_l for every value.
pub fn partial_holds(
    ctx: &RoundContext,
    seat: &str,
    members: &[String],
    notices: &BTreeMap<String, BundlePublic>,
    sums: &[(Scalar, Scalar)],
) -> bool {
    let Some(seat) = ctx.seat(seat) else {
        return false;
    };
    let values = ctx.params.values_per_round();
    if sums.len() != values || members.is_empty() {
        return false;
    }
    holds_against(
        ctx,
        &seat.meter,
        &aggregate_commitments(members, notices, values),
        sums,
    )
}

/// The public check of a partial against the final set's aggregate commitments.
fn holds_against(
    ctx: &RoundContext,
    seat: &str,
    aggregate: &[Commitments],
    sums: &[(Scalar, Scalar)],
) -> bool {
    let Some(seat) = ctx.seat(seat) else {
        return false;
    };
    sums.len() == aggregate.len()
        && !aggregate.is_empty()
        && aggregate
            .iter()
            .zip(sums)
            .all(|(c, (f, r))| verify_share(c, seat.rank, f, r))
}

/// Interpolates the total from exactly d + 1 distinct valid partials and checks it against C̄_0.
pub fn total_from(ctx: &RoundContext, v: &RoundView, contributors: &[String]) -> Option<Vec<u64>> {
    let (_, members, _) = v.final_set.as_ref()?;
    let unique: BTreeSet<&String> = contributors.iter().collect();
    if contributors.len() != ctx.degree + 1 || unique.len() != contributors.len() {
        return None;
    }
    let values = ctx.params.values_per_round();
    let aggregate = if v.aggregate.len() == values {
        v.aggregate.clone()
    } else {
        aggregate_commitments(members, &v.notices, values)
    };
    let mut out = Vec::with_capacity(values);
    for (value, c) in aggregate.iter().enumerate() {
        let points: Vec<(u64, Scalar, Scalar)> = contributors
            .iter()
            .map(|s| {
                let p = v.partials.get(s)?;
                Some((ctx.seat(s)?.rank, p[value].0, p[value].1))
            })
            .collect::<Option<_>>()?;
        let (f0, r0) = interpolate_pair_at_zero(&points).ok()?;
        if !verify_share(c, 0, &f0, &r0) {
            return None;
        }
        out.push(scalar_to_u64(&f0)?);
    }
    Some(out)
}

impl RoundView {
    fn empty() -> Self {
        RoundView {
            commits: Vec::new(),
            commit_closed: None,
            answers: BTreeMap::new(),
            notices: BTreeMap::new(),
            first_reveal_closed: None,
            revealed: None,
            accused: BTreeMap::new(),
            complaints: BTreeSet::new(),
            disqualified: BTreeMap::new(),
            missing: BTreeMap::new(),
            posted: BTreeMap::new(),
            aggregator_answers: BTreeMap::new(),
            capped: BTreeSet::new(),
            final_set: None,
            partials: BTreeMap::new(),
            waiting_at: None,
            outcome: Outcome::Open,
            evidence: Vec::new(),
            aggregate: Vec::new(),
            judged: BTreeSet::new(),
            judged_partials: BTreeSet::new(),
            seen: Default::default(),
            judged_totals: Default::default(),
            work: Work::default(),
        }
    }

    /// Whether `meter` reveals: the first valid CommitClosed lists it and meets the quorum.
    pub fn should_reveal(&self, ctx: &RoundContext, meter: &str) -> bool {
        self.outcome == Outcome::Open
            && self.first_reveal_closed.is_none()
            && matches!(&self.commit_closed, Some((_, l)) if l.len() >= ctx.quorum() && l.iter().any(|(m, _)| m == meter))
    }

    /// Whether the log proves `meter`'s value was never revealed, so it may carry it: a lapsed
    /// commit phase, a CommitClosed that omits it, or its own Withdraw first with no
    /// aggregator-signed RevealClosed (valid or not) before it.
    pub fn may_carry(&self, meter: &str) -> bool {
        let Some((_, list)) = &self.commit_closed else {
            return false;
        };
        if self.outcome == Outcome::Lapsed || !list.iter().any(|(m, _)| m == meter) {
            return true;
        }
        match self.answers.get(meter) {
            Some(Answer::Withdrew(pos)) => self.first_reveal_closed.is_none_or(|rc| rc > *pos),
            _ => false,
        }
    }

    /// Whether `seat` may publish its partial now: a valid final set, the seat not disqualified,
    /// its own check passed, and it holds no valid complaint against a final-set member.
    pub fn seat_may_publish(&self, seat: &str, own_check_passed: bool) -> bool {
        let Some((_, members, _)) = &self.final_set else {
            return false;
        };
        own_check_passed
            && !self.disqualified.contains_key(seat)
            && !self.partials.contains_key(seat)
            && !members.iter().any(|m| {
                self.complaints
                    .contains(&(Complainant::Seat(seat.to_string()), m.clone()))
            })
            && !matches!(
                self.outcome,
                Outcome::Void | Outcome::Lapsed | Outcome::Abandoned
            )
    }

    /// Senders with a claimed missing part that no part posted on the log answers yet: a
    /// FinalSet now leaves them out.
    pub fn unanswered(&self) -> BTreeSet<String> {
        self.open_claims()
            .map(|(_, sender)| sender.clone())
            .collect()
    }

    /// Claims `(seat, sender)` not answered yet whose seat is not at its answer cap (a capped
    /// seat's open claims lapse: they leave no one out).
    pub fn open_claims(&self) -> impl Iterator<Item = &(String, String)> {
        self.missing.keys().filter(|(seat, sender)| {
            !self.capped.contains(seat)
                && !self.posted.contains_key(&(sender.clone(), seat.clone()))
        })
    }

    /// The senders validly accused (excluded before FinalSet, or suspended after it).
    pub fn suspended(&self) -> BTreeSet<String> {
        self.complaints.iter().map(|(_, s)| s.clone()).collect()
    }
}
