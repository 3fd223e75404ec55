//! Bundles-topic messages a node holds until the day's seats are fixed.
//!
//! A node started mid-day reads the bundles topic and the round log side by side, so the day's
//! parts can come before the KeysClosed that gives them a context; judged then, every honest
//! part was refused as of an unknown round (found by the nemesis soak, 2026-12-05: 30 dead
//! letters for one aggregator restart, and every part claimed again). Held parts are judged
//! like any other once the seats are fixed: holding refuses nothing and admits nothing.

use zeal_connectors::kafka::Record;

/// Most payload bytes held (about 13,000 parts of 8 values under 2048-bit keys): a flood of
/// early junk cannot grow memory past it; a message beyond it is judged at once.
pub const MAX_EARLY_BYTES: usize = 64 << 20;

/// The held messages, in the order read, and their payload bytes.
#[derive(Debug, Default)]
pub struct EarlyParts {
    held: Vec<Record>,
    bytes: usize,
}

impl EarlyParts {
    /// Holds a copy of `m` if it fits under [`MAX_EARLY_BYTES`]; `false`: judge it now.
    pub fn hold(&mut self, m: &Record) -> bool {
        if self.bytes + m.payload.len() > MAX_EARLY_BYTES {
            return false;
        }
        self.bytes += m.payload.len();
        self.held.push(m.clone());
        true
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Everything held, in the order read; nothing is held afterwards.
    pub fn release(&mut self) -> Vec<Record> {
        self.bytes = 0;
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(offset: i64, len: usize) -> Record {
        Record {
            topic: "bundles".into(),
            partition: 0,
            offset,
            key: None,
            payload: vec![7; len],
            timestamp_ms: None,
        }
    }

    #[test]
    fn holds_up_to_the_bound_and_releases_in_order() {
        let mut early = EarlyParts::default();
        let mib = 1 << 20;
        for i in 0..64 {
            assert!(early.hold(&part(i, mib)), "part {i} fits");
        }
        assert!(!early.hold(&part(64, 1)), "one byte past the bound");
        let held = early.release();
        assert_eq!(
            held.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..64).collect::<Vec<_>>()
        );
        assert!(early.is_empty());
        assert!(early.hold(&part(65, mib)), "released bytes count no more");
    }

    #[test]
    fn one_oversized_message_is_judged_at_once_and_smaller_ones_still_held() {
        let mut early = EarlyParts::default();
        assert!(!early.hold(&part(0, MAX_EARLY_BYTES + 1)));
        assert!(early.is_empty());
        assert!(early.hold(&part(1, 10)));
        assert_eq!(early.release().len(), 1);
    }
}
