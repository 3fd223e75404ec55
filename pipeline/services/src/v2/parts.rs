//! The parts a reader fetched from the bundles topic, each hashed once when it arrives: a node
//! chooses the part each sender's notice names on every act, so hashing there would cost the
//! aggregator every part of the round on every record it reads.

use std::collections::BTreeMap;
use zeal_protocol::v2::encoding::Hash;
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::bundle::{BundlePublic, SeatPart, part_hash};
use zeal_protocol::v2::round::log::{Author, Entry, Parts, Verified};

/// Distinct parts kept per (sender, seat): the one whose hash the notice names is used; more
/// are refused (a sender flooding its seat's key buys nothing).
pub const MAX_PARTS_PER_KEY: usize = 4;

/// What [`PartStore::insert`] did with a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A new distinct part.
    New,
    /// An exact copy of one kept already.
    Copy,
    /// [`MAX_PARTS_PER_KEY`] distinct parts from this sender for this seat are kept already.
    Full,
}

/// A sender's part as kept: its hash for the round and its arrival number.
#[derive(Debug)]
struct KeptPart {
    hash: Hash,
    part: SeatPart,
    arrival: u64,
}

/// One round's parts by (sender, seat), each with its hash for the round and its arrival number.
#[derive(Debug, Default)]
pub struct PartStore {
    parts: BTreeMap<(String, String), Vec<KeptPart>>,
    /// Parts kept so far: the next part's arrival number.
    arrivals: u64,
    /// Parts the aggregator posted on the round log, the first per (sender, seat): kept apart,
    /// so a sender that fills its cap on the bundles topic cannot push them out.
    by_aggregator: BTreeMap<(String, String), (Hash, SeatPart)>,
}

impl PartStore {
    /// Keeps `sender`'s part for `seat` in `ctx`'s round, hashed once.
    pub fn insert(
        &mut self,
        ctx: &RoundContext,
        sender: String,
        seat: String,
        part: SeatPart,
    ) -> Kept {
        let hash = part_hash(ctx, &sender, &seat, &part);
        let kept = self.parts.entry((sender, seat)).or_default();
        if kept.iter().any(|k| k.hash == hash) {
            return Kept::Copy;
        }
        if kept.len() >= MAX_PARTS_PER_KEY {
            return Kept::Full;
        }
        kept.push(KeptPart {
            hash,
            part,
            arrival: self.arrivals,
        });
        self.arrivals += 1;
        Kept::New
    }

    /// Whether a part of `sender` for `seat` hashing to `hash` is kept (from the sender or the
    /// aggregator's copy on the log).
    pub fn holds(&self, sender: &str, seat: &str, hash: &Hash) -> bool {
        let key = (sender.to_string(), seat.to_string());
        self.parts
            .get(&key)
            .is_some_and(|kept| kept.iter().any(|k| k.hash == *hash))
            || self.by_aggregator.get(&key).is_some_and(|(h, _)| h == hash)
    }

    /// Parts kept so far from senders (the bundles topic and their own answers): parts kept
    /// later get higher arrival numbers ([`PartStore::choose_held`]).
    pub fn arrivals(&self) -> u64 {
        self.arrivals
    }

    /// Keeps a part posted on the round log (`PartPosted`, its author already checked by the
    /// wire reader): the aggregator's apart from the bundles topic's, a sender's own like a part
    /// it sent to the bundles topic. A reader then judges complaints from the log alone.
    pub fn insert_posted(
        &mut self,
        ctx: &RoundContext,
        by_aggregator: bool,
        sender: String,
        seat: String,
        part: SeatPart,
    ) -> Kept {
        if !by_aggregator {
            return self.insert(ctx, sender, seat, part);
        }
        let key = (sender, seat);
        if self.by_aggregator.contains_key(&key) {
            return Kept::Copy;
        }
        let hash = part_hash(ctx, &key.0, &key.1, &part);
        self.by_aggregator.insert(key, (hash, part));
        Kept::New
    }

    /// Per (sender, seat), the part whose hash the sender's first notice in `log` names (else the
    /// first one read): a sender cannot make a seat judge a part it did not commit to.
    pub fn choose<'a>(&'a self, ctx: &RoundContext, log: &[Verified]) -> Parts<'a> {
        self.choose_held(ctx, log, u64::MAX)
    }

    /// [`PartStore::choose`] among the parts kept before arrival number `before` (and the
    /// aggregator's own copies): what the aggregator answers claims with, so a part a sender
    /// posts only after a seat claimed it cannot spend that seat's answer cap.
    pub fn choose_held<'a>(
        &'a self,
        ctx: &RoundContext,
        log: &[Verified],
        before: u64,
    ) -> Parts<'a> {
        let mut named: BTreeMap<&str, &BundlePublic> = BTreeMap::new();
        for r in log {
            if let (Author::Meter(m), Entry::Notice(p)) = (&r.record().author, &r.record().entry) {
                named.entry(m.as_str()).or_insert(p);
            }
        }
        let keys: std::collections::BTreeSet<&(String, String)> =
            self.parts.keys().chain(self.by_aggregator.keys()).collect();
        keys.into_iter()
            .filter_map(|key| {
                let (sender, seat) = key;
                let kept = self
                    .parts
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter(|k| k.arrival < before)
                    .map(|k| (&k.hash, &k.part));
                let posted = self.by_aggregator.get(key).map(|(h, part)| (h, part));
                let wanted = named.get(sender.as_str()).and_then(|p| {
                    let i = ctx.seats.iter().position(|s| &s.meter == seat)?;
                    p.part_hashes.get(i)
                });
                let (_, part) = match wanted {
                    Some(h) => kept.chain(posted).find(|(k, _)| *k == h)?,
                    None => kept.chain(posted).next()?,
                };
                Some((key.clone(), part))
            })
            .collect()
    }
}
