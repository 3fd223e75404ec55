//! The aggregation round (DESIGN §4) as deterministic state machines.
//!
//! - [`aggregator::Aggregator`] opens rounds, checks and folds share bundles, redistributes the
//!   products, verifies partials and publishes totals. It holds no secret that protects privacy
//!   and uses no randomness: fed the same inputs it produces the same outputs, byte for byte, so a
//!   replacement instance that replays the log reaches the same decisions.
//! - [`gateway::MeterAgent`] acts for one meter: it shares its readings, and decrypts only a
//!   product it recomputed itself from ciphertexts signed for it by every other roster member.
//! - [`verify`] holds the checks both sides and the audit run on public data.
//! - [`directory::Directory`] is the registry as a party sees it: enrolled meters, their public
//!   keys, quarantined meters.
//!
//! Inputs are messages and clock ticks (`now` in milliseconds since the epoch); outputs are
//! messages to publish. Nothing here does I/O.

pub mod aggregator;
pub mod audit;
pub mod crypto;
pub mod directory;
pub mod gateway;
pub mod local;
pub mod verify;

use zeal_schemas::RejectReason;

/// Identifies one attempt of a round.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoundKey {
    pub region: String,
    /// Start of the round's first interval, milliseconds since the epoch.
    pub interval_start: i64,
    /// 1 for the first attempt.
    pub attempt: i32,
}

impl RoundKey {
    /// The canonical text form, used inside per-ciphertext signatures: `region/start/attempt`.
    pub fn canonical(&self) -> String {
        format!("{}/{}/{}", self.region, self.interval_start, self.attempt)
    }
}

impl std::fmt::Display for RoundKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} @{} attempt {}",
            self.region, self.interval_start, self.attempt
        )
    }
}

/// An input message refused with a reason, attributed to its claimed sender when readable.
/// Services turn these into `zeal.dlq.v1` dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
    /// The claimed sender (unverified unless the reason says otherwise).
    pub origin: Option<String>,
    pub region: Option<String>,
}

impl Rejection {
    pub(crate) fn new(
        reason: RejectReason,
        origin: Option<&str>,
        region: Option<&str>,
        detail: impl Into<String>,
    ) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
            origin: origin.map(str::to_string),
            region: region.map(str::to_string),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.reason, self.detail)?;
        if let Some(o) = &self.origin {
            write!(f, " (from {o})")?;
        }
        Ok(())
    }
}
