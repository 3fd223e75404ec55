//! The names of the pipeline's topics in one deployment: DESIGN §3's names behind an optional
//! prefix, so several deployments (or parallel test runs) can share a cluster.

use std::time::Duration;
use zeal_schemas::topics;

/// Topic names of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicNames {
    /// Opted-in households' signed readings (key = meter id).
    pub readings: String,
    /// Dead letters: every refused input with its reason (key = region when known).
    pub dlq: String,
    /// Protocol v2's round log (key = region).
    pub rounds: String,
    /// Protocol v2's encrypted parts (key = `region/seat`).
    pub bundles: String,
    /// Protocol v2's registry (certificates, Cutoffs, beacon rounds): one partition, kept.
    pub registry_v2: String,
    /// The utility's feeder meters (key = region).
    pub feeder: String,
    /// The meters' billing-register deltas (key = region).
    pub billing: String,
    /// The balance job's alerts (key = region).
    pub grid_alerts: String,
    /// Households' consent decisions (key = household id): one partition, kept (the record of
    /// consent, and the log every gateway folds its consent state from).
    pub consent: String,
    /// The record of households' erasures (key = household id): one partition, kept.
    pub erasure: String,
}

impl TopicNames {
    /// `prefix` + the standard names (`""` gives exactly DESIGN's names).
    pub fn with_prefix(prefix: &str) -> Self {
        let n = |t: &str| format!("{prefix}{t}");
        TopicNames {
            readings: n(topics::READINGS),
            dlq: n(topics::DLQ),
            rounds: n(topics::ROUNDS),
            bundles: n(topics::BUNDLES),
            registry_v2: n(topics::REGISTRY_V2),
            feeder: n(topics::FEEDER),
            billing: n(topics::BILLING),
            grid_alerts: n(topics::GRID_ALERTS),
            consent: n(topics::CONSENT),
            erasure: n(topics::ERASURE),
        }
    }

    /// Topic specs to create under the default [`TopicPolicy`]: the keyed topics share
    /// `partitions`; the registry is one partition, kept forever.
    pub fn specs(&self, partitions: i32, replication: i32) -> Vec<super::TopicSpec> {
        self.specs_with(partitions, replication, &TopicPolicy::default())
    }

    /// [`Self::specs`] with each topic's retention from `policy` (by what the topic holds) and
    /// `min.insync.replicas`.
    pub fn specs_with(
        &self,
        partitions: i32,
        replication: i32,
        policy: &TopicPolicy,
    ) -> Vec<super::TopicSpec> {
        let insync = policy
            .min_insync_replicas
            .unwrap_or(replication.min(2))
            .to_string();
        let t = |name: &str, partitions: i32, retention: Option<Duration>| {
            let ms = retention.map_or("-1".to_string(), |d| d.as_millis().to_string());
            super::TopicSpec::new(name, partitions, replication)
                .config("retention.ms", &ms)
                .config("min.insync.replicas", &insync)
        };
        let (audit, bulk, personal) = (
            policy.audit_retention,
            Some(policy.bulk_retention),
            Some(policy.personal_retention),
        );
        vec![
            t(&self.dlq, partitions, personal),
            t(&self.readings, partitions, personal),
            t(&self.rounds, partitions, audit),
            t(&self.bundles, partitions, bulk),
            t(&self.feeder, partitions, audit),
            t(&self.billing, partitions, audit),
            t(&self.grid_alerts, partitions, audit),
            t(&self.registry_v2, 1, None),
            t(&self.consent, 1, None),
            t(&self.erasure, 1, None),
        ]
    }
}

/// How long each kind of topic keeps its records, and how many replicas a write needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPolicy {
    /// The audit trail: the round log, feeder readings, billing registers, grid alerts (`None`:
    /// forever). The balance job rebuilds from the feeder topic, so this must cover its history.
    pub audit_retention: Option<Duration>,
    /// The encrypted parts (~100 kB per meter-round, most of the bytes): needed until a round is
    /// decided and audited; a judged complaint's part is also kept on the round log.
    pub bulk_retention: Duration,
    /// Personal data: opted-in households' readings, and the dead letters that may carry them.
    pub personal_retention: Duration,
    /// `min.insync.replicas` (`None`: 2, or the replication factor when it is smaller).
    pub min_insync_replicas: Option<i32>,
}

impl TopicPolicy {
    /// The default retentions, in days: audit trail, parts, personal data.
    pub const DEFAULT_DAYS: (u64, u64, u64) = (400, 14, 30);

    /// Retentions in days (audit trail 0: forever) and `min.insync.replicas`.
    pub fn from_days(audit: u64, bulk: u64, personal: u64, min_insync: Option<i32>) -> Self {
        let days = |d: u64| Duration::from_secs(d.saturating_mul(86_400));
        TopicPolicy {
            audit_retention: (audit > 0).then(|| days(audit)),
            bulk_retention: days(bulk),
            personal_retention: days(personal),
            min_insync_replicas: min_insync,
        }
    }
}

impl Default for TopicPolicy {
    fn default() -> Self {
        let (audit, bulk, personal) = Self::DEFAULT_DAYS;
        Self::from_days(audit, bulk, personal, None)
    }
}

impl Default for TopicNames {
    fn default() -> Self {
        Self::with_prefix("")
    }
}
