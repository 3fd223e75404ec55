//! Reading and writing v2's two region topics: the round log (key = region, one
//! [`w::RoundRecord`] per record) and the bundles topic (key = `region/seat`, one [`w::SeatPart`]
//! per sender and seat). Reading applies the wire reader's order of checks (bounds, signature,
//! then parsing); whatever it refuses comes back with a dead-letter reason.

use crate::ServiceError;
use std::collections::BTreeMap;
use zeal_connectors::kafka::{KeyedProducer, Record as KafkaRecord};
use zeal_protocol::v2::day::DayRecord;
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::bundle::SeatPart;
use zeal_protocol::v2::round::log::{Directory, Record, Verified};
use zeal_protocol::v2::wire::{self, WireError};
use zeal_schemas::v2 as w;
use zeal_schemas::{RejectReason, decode, encode};

/// The bundles topic's key for a seat's parts.
pub fn part_key(region: &str, seat: &str) -> String {
    format!("{region}/{seat}")
}

/// The dead-letter reason for a wire refusal.
pub fn reason(e: &WireError) -> RejectReason {
    match e {
        WireError::Signature(_) => RejectReason::BadSignature,
        WireError::Author(_) => RejectReason::UnknownSender,
        WireError::WrongRound { .. } => RejectReason::UnknownRound,
        WireError::Unknown(_) => RejectReason::UnknownSchema,
        WireError::Count { .. } | WireError::Length { .. } | WireError::Malformed { .. } => {
            RejectReason::Malformed
        }
    }
}

/// What one consumed message turned out to be.
pub enum Incoming {
    /// A round-log record of the node's region, its signature verified: (round start in
    /// seconds, record).
    Record(i64, Verified),
    /// A part from the bundles topic: (round start, sender, seat, part).
    Part(i64, String, String, SeatPart),
    /// A record of the day's set-up: a seat's key announcement (shape checked; judged by
    /// `day::day_seats`) or the aggregator's KeysClosed (signature verified).
    Day(DayRecord),
    /// Another region's message sharing the partition: not this node's to judge.
    Skip,
    /// Refused: (reason, detail, claimed author).
    Refused(RejectReason, String, Option<String>),
}

/// The context of the round starting at `start_ms` for the day `day` holds, or why not.
fn round_context(
    day: &RoundContext,
    start_ms: i64,
) -> Result<RoundContext, (RejectReason, String)> {
    if start_ms.rem_euclid(1000) != 0 {
        return Err((
            RejectReason::UnknownRound,
            format!("round start {start_ms} ms is not whole seconds"),
        ));
    }
    let start = start_ms / 1000;
    if Params::day_of(start) != Params::day_of(day.start) {
        return Err((
            RejectReason::UnknownRound,
            format!("round {start} is not in the day this node serves"),
        ));
    }
    let mut ctx = day.clone();
    ctx.start = start;
    ctx.validate()
        .map_err(|e| (RejectReason::UnknownRound, e.to_string()))?;
    Ok(ctx)
}

/// The day's round contexts, each built and checked once: a reader takes thousands of messages
/// a round, and building the context (a copy of the day's committee, seats and roster) for
/// every one of them cost the aggregator about a tenth of its round work.
#[derive(Debug, Default)]
pub struct Contexts {
    built: BTreeMap<i64, RoundContext>,
}

impl Contexts {
    /// The context of the round starting at `start_ms` in `day`, or why there is none. Only
    /// valid contexts are kept (at most the day's rounds); a context built before the day's
    /// seats were fixed is built again.
    fn get(
        &mut self,
        day: &RoundContext,
        start_ms: i64,
    ) -> Result<&RoundContext, (RejectReason, String)> {
        let fresh = self
            .built
            .get(&start_ms)
            .is_some_and(|c| c.seats.len() == day.seats.len());
        if !fresh {
            let ctx = round_context(day, start_ms)?;
            self.built.insert(start_ms, ctx);
        }
        Ok(&self.built[&start_ms])
    }
}

/// Reads a round-log message for `day`'s region.
pub fn read_record(
    contexts: &mut Contexts,
    day: &RoundContext,
    directory: &Directory,
    m: &KafkaRecord,
) -> Incoming {
    let r: w::RoundRecord = match decode(&m.payload) {
        Ok(r) => r,
        Err(e) => return Incoming::Refused(RejectReason::Malformed, e.to_string(), None),
    };
    if r.region != day.region {
        return Incoming::Skip;
    }
    if matches!(
        r.entry,
        w::RoundEntry::SeatKey(_) | w::RoundEntry::KeysClosed(_)
    ) {
        let Some(aggregator) = &directory.aggregator else {
            return Incoming::Refused(
                RejectReason::UnknownSender,
                "no aggregator key to check the day's set-up against".into(),
                r.author.clone(),
            );
        };
        let day_index = Params::day_of(day.start);
        return match wire::day_record_from_wire(
            &day.params,
            &day.region,
            day_index,
            &day.cutoff,
            aggregator,
            &r,
        ) {
            Ok(d) => Incoming::Day(d),
            Err(e) => Incoming::Refused(reason(&e), e.to_string(), r.author.clone()),
        };
    }
    let ctx = match contexts.get(day, r.round_start) {
        Ok(c) => c,
        Err((reason, detail)) => return Incoming::Refused(reason, detail, r.author.clone()),
    };
    match wire::decode_verified(ctx, directory, &r) {
        Ok(rec) => Incoming::Record(ctx.start, rec),
        Err(e) => Incoming::Refused(reason(&e), e.to_string(), r.author.clone()),
    }
}

/// Reads a bundles-topic message for `day`'s region.
pub fn read_part(contexts: &mut Contexts, day: &RoundContext, m: &KafkaRecord) -> Incoming {
    let p: w::SeatPart = match decode(&m.payload) {
        Ok(p) => p,
        Err(e) => return Incoming::Refused(RejectReason::Malformed, e.to_string(), None),
    };
    if p.region != day.region {
        return Incoming::Skip;
    }
    let ctx = match contexts.get(day, p.round_start) {
        Ok(c) => c,
        Err((reason, detail)) => return Incoming::Refused(reason, detail, Some(p.sender.clone())),
    };
    match wire::part_from_wire(ctx, &p) {
        Ok(part) => Incoming::Part(ctx.start, p.sender.clone(), p.seat.clone(), part),
        Err(e) => Incoming::Refused(reason(&e), e.to_string(), Some(p.sender.clone())),
    }
}

/// Posts a record to the round log (key = region) and waits for the broker's acknowledgement.
pub async fn post_record(
    producer: &KeyedProducer,
    topic: &str,
    ctx: &RoundContext,
    record: &Record,
) -> Result<(), ServiceError> {
    let bytes = encode(&wire::record_to_wire(ctx, record)).map_err(encode_err)?;
    producer
        .send(topic, ctx.region.as_bytes(), &bytes, None)
        .await?;
    Ok(())
}

/// Posts a record of the day's set-up (a seat key or KeysClosed; key = region).
pub async fn post_day_record(
    producer: &KeyedProducer,
    topic: &str,
    day: &RoundContext,
    record: &DayRecord,
) -> Result<(), ServiceError> {
    let day_index = Params::day_of(day.start);
    let wire = match record {
        DayRecord::SeatKey(a) => wire::seat_key_to_wire(&day.region, day_index, a),
        DayRecord::KeysClosed(k) => wire::keys_closed_to_wire(&day.region, day_index, k),
    };
    let bytes = encode(&wire).map_err(encode_err)?;
    producer
        .send(topic, day.region.as_bytes(), &bytes, None)
        .await?;
    Ok(())
}

/// Writes a sender's part for a seat to the bundles topic and waits for the acknowledgement.
pub async fn post_part(
    producer: &KeyedProducer,
    topic: &str,
    ctx: &RoundContext,
    sender: &str,
    seat: &str,
    part: &SeatPart,
) -> Result<(), ServiceError> {
    let bytes = encode(&wire::part_to_wire(ctx, sender, seat, part)).map_err(encode_err)?;
    producer
        .send(topic, part_key(&ctx.region, seat).as_bytes(), &bytes, None)
        .await?;
    Ok(())
}

fn encode_err(e: zeal_schemas::EncodeError) -> ServiceError {
    ServiceError::Settings(format!("encoding a v2 message: {e}"))
}
