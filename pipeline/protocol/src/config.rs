//! Every protocol parameter in one place, with validated defaults.

use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Parameters of the aggregation protocol (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolConfig {
    /// b: values and shares are taken mod 2^b.
    pub value_bits: u32,
    /// Paillier modulus size of newly generated keys: 2048 or 3072.
    pub key_bits: u32,
    /// No round is opened, and no meter takes part in one, with fewer members.
    pub min_roster: usize,
    /// Attempts per interval (share-phase dropouts reopen with a smaller roster).
    pub max_attempts: usize,
    /// Time from opening to the share deadline.
    #[serde(with = "duration_ms")]
    pub share_deadline: Duration,
    /// Time from the share deadline to the partial deadline.
    #[serde(with = "duration_ms")]
    pub partial_deadline: Duration,
    /// Value channels per interval.
    pub channels: Vec<String>,
    /// Consecutive intervals batched in one round.
    pub intervals_per_round: u32,
    /// Interval length.
    pub interval_seconds: u32,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            value_bits: 40,
            key_bits: 2048,
            min_roster: 5,
            max_attempts: 3,
            share_deadline: Duration::from_secs(60),
            partial_deadline: Duration::from_secs(60),
            channels: vec!["import_wh".into(), "export_wh".into()],
            intervals_per_round: 1,
            interval_seconds: 900,
        }
    }
}

impl ProtocolConfig {
    /// Checks every parameter; the message says which one and why.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |m: String| Err(ProtocolError::BadConfig(m));
        if !(8..=62).contains(&self.value_bits) {
            return bad(format!("value_bits {} outside 8..=62", self.value_bits));
        }
        if !matches!(self.key_bits, 2048 | 3072) {
            return bad(format!("key_bits {} is not 2048 or 3072", self.key_bits));
        }
        if self.min_roster < 3 {
            return bad(format!(
                "min_roster {} below 3: with two members each learns the other's reading",
                self.min_roster
            ));
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1".into());
        }
        if self.share_deadline.is_zero() || self.partial_deadline.is_zero() {
            return bad("deadlines must be positive".into());
        }
        if self.channels.is_empty() || self.channels.iter().any(|c| c.is_empty()) {
            return bad("at least one named channel is needed".into());
        }
        if self.intervals_per_round == 0 || self.interval_seconds == 0 {
            return bad("intervals_per_round and interval_seconds must be positive".into());
        }
        Ok(())
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ProtocolConfig::default().validate().unwrap();
    }

    #[test]
    fn each_bad_value_is_named() {
        type Breaker = fn(&mut ProtocolConfig);
        let cases: Vec<(Breaker, &str)> = vec![
            (|c| c.value_bits = 63, "value_bits"),
            (|c| c.key_bits = 1024, "key_bits"),
            (|c| c.min_roster = 2, "min_roster"),
            (|c| c.max_attempts = 0, "max_attempts"),
            (|c| c.share_deadline = Duration::ZERO, "deadlines"),
            (|c| c.channels.clear(), "channel"),
            (|c| c.intervals_per_round = 0, "intervals_per_round"),
        ];
        for (break_it, word) in cases {
            let mut c = ProtocolConfig::default();
            break_it(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(word), "{err} should mention {word}");
        }
    }
}
