//! The names of the pipeline's topics in one deployment: DESIGN §3's names behind an optional
//! prefix, so several deployments (or parallel test runs) can share a cluster.

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
        }
    }

    /// Topic specs to create: the keyed topics share `partitions`; the registry is one
    /// partition, kept forever.
    pub fn specs(&self, partitions: i32, replication: i32) -> Vec<super::TopicSpec> {
        let t = |name: &str| super::TopicSpec::new(name, partitions, replication);
        vec![
            t(&self.dlq),
            t(&self.readings),
            t(&self.rounds),
            t(&self.bundles),
            t(&self.feeder),
            t(&self.billing),
            t(&self.grid_alerts),
            super::TopicSpec::new(&self.registry_v2, 1, replication).config("retention.ms", "-1"),
        ]
    }
}

impl Default for TopicNames {
    fn default() -> Self {
        Self::with_prefix("")
    }
}
