//! `zeal topics`: create the pipeline's topics idempotently.

use super::common::KafkaArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use zeal_connectors::kafka::{TopicPolicy, TopicStatus, ensure_topics, topic_configs};

#[derive(Subcommand)]
pub enum TopicsCommand {
    /// Create every missing topic and check the partition count of existing ones.
    Create(CreateArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Partitions of every keyed topic (the registry has one).
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Replication factor.
    #[arg(long, default_value_t = 1)]
    replication: i32,
    /// Days the audit trail is kept: the round log, feeder readings, billing registers, grid
    /// alerts (0: forever). The grid-balance job rebuilds from the feeder topic.
    #[arg(long, default_value_t = TopicPolicy::DEFAULT_DAYS.0)]
    audit_retention_days: u64,
    /// Days the encrypted parts are kept (most of the bytes; needed until a round is decided
    /// and audited).
    #[arg(long, default_value_t = TopicPolicy::DEFAULT_DAYS.1, value_parser = clap::value_parser!(u64).range(1..))]
    bulk_retention_days: u64,
    /// Days personal data is kept: opted-in households' readings and the dead letters.
    #[arg(long, default_value_t = TopicPolicy::DEFAULT_DAYS.2, value_parser = clap::value_parser!(u64).range(1..))]
    personal_retention_days: u64,
    /// `min.insync.replicas` of every topic [default: 2, or the replication factor if smaller].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    min_insync_replicas: Option<i32>,
}

impl CreateArgs {
    fn policy(&self) -> anyhow::Result<TopicPolicy> {
        if let Some(n) = self.min_insync_replicas {
            anyhow::ensure!(
                n <= self.replication,
                "--min-insync-replicas {n} is more than --replication {}: no write could succeed",
                self.replication
            );
        }
        Ok(TopicPolicy::from_days(
            self.audit_retention_days,
            self.bulk_retention_days,
            self.personal_retention_days,
            self.min_insync_replicas,
        ))
    }
}

/// A `retention.ms` value in words: `30 d`, `forever`.
fn retention(ms: Option<&str>) -> String {
    match ms.map(str::parse::<i64>) {
        Some(Ok(-1)) => "forever".into(),
        Some(Ok(ms)) if ms % 86_400_000 == 0 => format!("{} d", ms / 86_400_000),
        Some(Ok(ms)) => format!("{ms} ms"),
        _ => "broker default".into(),
    }
}

pub fn run(cmd: TopicsCommand) -> anyhow::Result<()> {
    match cmd {
        TopicsCommand::Create(a) => {
            anyhow::ensure!(a.partitions > 0, "--partitions must be at least 1");
            anyhow::ensure!(a.replication > 0, "--replication must be at least 1");
            let policy = a.policy()?;
            let cfg = a.kafka.config("zeal-topics");
            let specs = a
                .kafka
                .topics()
                .specs_with(a.partitions, a.replication, &policy);
            super::runtime()?.block_on(async {
                let result = ensure_topics(&cfg, &specs)
                    .await
                    .with_context(|| format!("creating topics on {}", cfg.servers()))?;
                let names: Vec<&str> = result.iter().map(|(name, _)| name.as_str()).collect();
                let configs = topic_configs(&cfg, &names)
                    .await
                    .context("reading the topics' configs")?;
                for (name, status) in &result {
                    let name = name.as_str();
                    let spec = specs.iter().find(|s| s.name == name);
                    // Each topic's own count: the registry has one partition whatever --partitions.
                    let partitions = spec.map_or(a.partitions, |s| s.partitions);
                    let want = spec.and_then(|s| {
                        let r = s.configs.iter().find(|(k, _)| k == "retention.ms");
                        r.map(|(_, v)| v.as_str())
                    });
                    let on_broker = configs.get(name).cloned().unwrap_or_default();
                    let have = on_broker.get("retention.ms").map(String::as_str);
                    let what = match status {
                        TopicStatus::Created => "created",
                        TopicStatus::AlreadyExisted => "exists",
                    };
                    let kept = retention(have);
                    let note = if have == want {
                        String::new()
                    } else {
                        // An existing topic keeps its configs; say what this policy would set.
                        format!(
                            "; this policy: {}, not applied to an existing topic",
                            retention(want)
                        )
                    };
                    let insync = on_broker
                        .get("min.insync.replicas")
                        .map_or("default", |v| v);
                    println!(
                        "{what:8} {name} ({partitions} partitions, retention {kept}{note}, \
                         min.insync.replicas {insync})"
                    );
                }
                anyhow::Ok(())
            })
        }
    }
}
