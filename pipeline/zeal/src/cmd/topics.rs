//! `zeal topics`: create the pipeline's topics idempotently.

use super::common::KafkaArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use zeal_connectors::kafka::{TopicStatus, ensure_topics};

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
}

pub fn run(cmd: TopicsCommand) -> anyhow::Result<()> {
    match cmd {
        TopicsCommand::Create(a) => {
            anyhow::ensure!(a.partitions > 0, "--partitions must be at least 1");
            anyhow::ensure!(a.replication > 0, "--replication must be at least 1");
            let cfg = a.kafka.config("zeal-topics");
            let specs = a.kafka.topics().specs(a.partitions, a.replication);
            let result = super::runtime()?
                .block_on(ensure_topics(&cfg, &specs))
                .with_context(|| format!("creating topics on {}", cfg.servers()))?;
            for (name, status) in result {
                let what = match status {
                    TopicStatus::Created => "created",
                    TopicStatus::AlreadyExisted => "exists",
                };
                // Each topic's own count: the registry has one partition whatever --partitions.
                let partitions = specs
                    .iter()
                    .find(|s| s.name == name)
                    .map_or(a.partitions, |s| s.partitions);
                println!("{what:8} {name} ({partitions} partitions)");
            }
            Ok(())
        }
    }
}
