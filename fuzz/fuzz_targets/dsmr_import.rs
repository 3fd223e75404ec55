//! The DSMR register importer on arbitrary CSV: refused or read, never a panic; what it reads
//! is sorted by time and turns into 15-minute intervals without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeal_meters::dsmr::{ReadOptions, read_registers, to_intervals};

fuzz_target!(|data: &[u8]| {
    for skip_malformed in [false, true] {
        if let Ok((readings, _)) = read_registers(data, ReadOptions { skip_malformed }) {
            assert!(readings.windows(2).all(|w| w[0].utc_secs <= w[1].utc_secs));
            let _ = to_intervals(&readings, 900);
        }
    }
});
