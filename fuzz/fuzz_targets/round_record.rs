//! The v2 wire reader on arbitrary records: a round record (its region and round set to the
//! test region's, so bounds, parsing and the signature check are reached), a day record and a
//! seat part are refused or read, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeal_fuzz::region;
use zeal_protocol::v2::wire::{day_record_from_wire, decode_verified, part_from_wire};
use zeal_schemas::{AnyMessage, decode_any};

fuzz_target!(|data: &[u8]| {
    let ctx = &region().region.ctx;
    let r = &region().region;
    match decode_any(data) {
        Ok(AnyMessage::RoundRecord(mut rec)) => {
            let _ = day_record_from_wire(
                &ctx.params,
                &ctx.region,
                zeal_protocol::v2::params::Params::day_of(ctx.start),
                &ctx.cutoff,
                &r.aggregator.verifying_key(),
                &rec,
            );
            rec.region = ctx.region.clone();
            rec.round_start = ctx.start * 1000;
            let _ = decode_verified(ctx, &r.directory, &rec);
        }
        Ok(AnyMessage::SeatPart(part)) => {
            let _ = part_from_wire(ctx, &part);
        }
        _ => {}
    }
});
