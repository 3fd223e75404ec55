//! One deployment's settings in one place: the broker, its topics and where state is kept, and
//! from them every service's settings with documented defaults. The commands, the demo, the
//! benchmark and the tests take a service's settings from here and change only what they mean
//! to change (`SinkSettings { batch_rows: 20_000, ..deployment.sink() }`).

use crate::balance::BalanceSettings;
use crate::disaggregate::DisaggregateSettings;
use crate::gamify::GamifySettings;
use crate::metrics::{Metrics, Role};
use crate::sink::SinkSettings;
use crate::v2::RegionSettings;
use std::path::PathBuf;
use std::time::Duration;
use zeal_connectors::kafka::{KafkaConfig, TopicNames};
use zeal_protocol::ed25519_dalek::VerifyingKey;
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::log::Directory;

/// What the services of one deployment share.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The broker.
    pub kafka: KafkaConfig,
    /// The topics (a prefix keeps deployments on one broker apart).
    pub topics: TopicNames,
    /// Gateways keep their meters' ledgers in `state_dir/<node name>`.
    pub state_dir: PathBuf,
}

impl Deployment {
    /// The aggregator's default wait per protocol phase. Phases close early once everyone
    /// answered; the deadline only matters when a party is slow or gone.
    pub const PHASE: Duration = Duration::from_secs(30);

    /// A deployment on `kafka` with `topics`, keeping state in `./zeal-state`.
    pub fn new(kafka: KafkaConfig, topics: TopicNames) -> Self {
        Deployment {
            kafka,
            topics,
            state_dir: PathBuf::from("zeal-state"),
        }
    }

    /// The same, keeping state in `dir`.
    pub fn with_state_dir(self, dir: impl Into<PathBuf>) -> Self {
        Deployment {
            state_dir: dir.into(),
            ..self
        }
    }

    /// The dead-letter sink: group `zeal-sink-clickhouse`, inserts of up to 50,000 rows, none
    /// waiting longer than a second.
    pub fn sink(&self) -> SinkSettings {
        SinkSettings {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            group_id: "zeal-sink-clickhouse".into(),
            batch_rows: 50_000,
            max_delay: Duration::from_secs(1),
            metrics: Metrics::new(Role::Sink),
        }
    }

    /// The disaggregation job, counting readings certified by `authority`: group
    /// `zeal-disaggregate`, running until stopped.
    pub fn disaggregate(&self, authority: VerifyingKey) -> DisaggregateSettings {
        DisaggregateSettings {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            group_id: "zeal-disaggregate".into(),
            idle_exit: None,
            authority,
            consent_apps: Vec::new(),
            metrics: Metrics::new(Role::Sink),
        }
    }

    /// The game job for days `from_day..=to_day` (since 1970-01-01), counting readings certified
    /// by `authority`.
    pub fn gamify(&self, authority: VerifyingKey, from_day: i64, to_day: i64) -> GamifySettings {
        GamifySettings {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            from_day,
            to_day,
            authority,
            consent_apps: Vec::new(),
            metrics: Metrics::new(Role::Sink),
        }
    }

    /// The grid-balance job, checking the utility's measurements under `metering_key`: group
    /// `zeal-balance`, losses fitted on 14 days, judging every 5 s, running until stopped.
    pub fn balance(&self, metering_key: VerifyingKey) -> BalanceSettings {
        BalanceSettings {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            group_id: "zeal-balance".into(),
            metering_key,
            history_days: 14,
            judge_every: std::time::Duration::from_secs(5),
            idle_exit: None,
            metrics: Metrics::new(Role::Balance),
        }
    }

    /// A region node named `name` (in logs and dead letters; its ledgers in
    /// `state_dir/name`) for the day `day` with `directory`, counting as `role`: phases of
    /// [`Deployment::PHASE`], no progress counter, no fault drill.
    pub fn region(
        &self,
        name: &str,
        role: Role,
        day: RoundContext,
        directory: Directory,
    ) -> RegionSettings {
        RegionSettings {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            day,
            directory,
            state_dir: self.state_dir.join(name),
            phase: Self::PHASE,
            name: name.into(),
            metrics: Metrics::new(role),
            progress: None,
            crash_after_commit: false,
        }
    }
}
