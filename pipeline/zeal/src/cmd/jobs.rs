//! `zeal jobs ...`: downstream jobs over the pipeline's topics.

use super::common::{KafkaArgs, MetricsArgs, public_key, public_keys, shutdown_on_signals};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use zeal_disaggregation::Disaggregator;
use zeal_services::disaggregate::{DisaggregateJob, DisaggregateSettings};
use zeal_services::gamify::run_gamify;
use zeal_services::metrics::{Metrics, Role};

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Opted-in households' readings to per-appliance daily usage (`appliance_usage`).
    Disaggregate(DisaggregateJobArgs),
    /// The game's daily metrics and awards (`household_daily`, `gamification_events`) for a
    /// range of days, from readings and the regions' private aggregates.
    Gamify(GamifyArgs),
    /// Each region's verified totals against its feeder meter (a CSV): technical losses fitted
    /// on the history, alerts for energy they do not explain (theft, a tapped line).
    Balance(super::balance::BalanceArgs),
}

#[derive(Args)]
pub struct GamifyArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Write to (and read region totals from) this ClickHouse; otherwise the embedded store.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: Option<String>,
    /// The embedded store's directory (as written by `zeal demo`).
    #[arg(long, default_value = "zeal-data")]
    data_dir: PathBuf,
    /// First day to compute (UTC date, e.g. 2020-07-01).
    #[arg(long)]
    from: String,
    /// Last day to compute (inclusive); the first day when absent.
    #[arg(long)]
    to: Option<String>,
    /// The enrolment authority's public key (64 hex digits, or a file holding it, e.g. the
    /// `.pub` beside `zeal authority init`'s key): readings count only under the identity keys
    /// it certified on `zeal.registry.v2`.
    #[arg(long, env = "ZEAL_AUTHORITY")]
    authority: String,
    /// Consent apps whose erasures (`zeal.erasure.v1`) count: public keys (64 hex digits or a
    /// file, as `zeal serve --consent-key` writes `<key>.pub`). Repeatable; without it every
    /// erasure on the topic is honoured unchecked.
    #[arg(long)]
    consent_app: Vec<String>,
}

fn gamify(a: GamifyArgs) -> anyhow::Result<()> {
    let day = |s: &str| -> anyhow::Result<i64> {
        Ok(super::common::parse_time(s)?.div_euclid(86_400_000))
    };
    let from_day = day(&a.from)?;
    let to_day = match &a.to {
        Some(t) => day(t)?,
        None => from_day,
    };
    anyhow::ensure!(to_day >= from_day, "--to is before --from");
    let authority = public_key("authority", &a.authority)?;
    let consent_apps = public_keys("consent-app", &a.consent_app)?;
    super::runtime()?.block_on(async move {
        let settings = zeal_services::gamify::GamifySettings {
            consent_apps,
            ..a.kafka
                .deployment("zeal-gamify")
                .gamify(authority, from_day, to_day)
        };
        let store =
            super::common::store(a.clickhouse.as_deref(), &a.data_dir.join("store")).await?;
        let report = run_gamify(&settings, &store).await?;
        println!(
            "readings {}, households {}, household-days {}, events {}, dead letters {}, erased readings {}",
            report.readings,
            report.households,
            report.days,
            report.events,
            report.dead_letters,
            report.erased
        );
        anyhow::Ok(())
    })
}

#[derive(Args)]
pub struct DisaggregateJobArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
    /// Write to this ClickHouse (HTTP URL); otherwise to the embedded store in --data-dir.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: Option<String>,
    /// The embedded store's directory (as written by `zeal demo`).
    #[arg(long, default_value = "zeal-data")]
    data_dir: PathBuf,
    /// Model stem (STEM.safetensors + STEM.json); the shipped model when absent.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Consumer group.
    #[arg(long, default_value = "zeal-disaggregate")]
    group: String,
    /// Stop once no reading has arrived for this many milliseconds (replays); runs until
    /// stopped when absent.
    #[arg(long)]
    idle_exit_ms: Option<u64>,
    /// The enrolment authority's public key (64 hex digits, or a file holding it, e.g. the
    /// `.pub` beside `zeal authority init`'s key): readings count only under the identity keys
    /// it certified on `zeal.registry.v2`.
    #[arg(long, env = "ZEAL_AUTHORITY")]
    authority: String,
    /// Consent apps whose erasures (`zeal.erasure.v1`) count: public keys (64 hex digits or a
    /// file, as `zeal serve --consent-key` writes `<key>.pub`). Repeatable; without it every
    /// erasure on the topic is honoured unchecked.
    #[arg(long)]
    consent_app: Vec<String>,
}

pub fn run(cmd: JobsCommand) -> anyhow::Result<()> {
    let a = match cmd {
        JobsCommand::Disaggregate(a) => a,
        JobsCommand::Gamify(a) => return gamify(a),
        JobsCommand::Balance(a) => return super::balance::run(a),
    };
    let model = match &a.model {
        Some(stem) => Disaggregator::load(stem)?,
        None => Disaggregator::embedded()?,
    };
    let authority = public_key("authority", &a.authority)?;
    let consent_apps = public_keys("consent-app", &a.consent_app)?;
    super::say::say!("model {}", model.meta.version);
    super::runtime()?.block_on(async move {
        let shutdown = shutdown_on_signals();
        let metrics = Metrics::new(Role::Sink);
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let settings = DisaggregateSettings {
            group_id: a.group,
            idle_exit: a.idle_exit_ms.map(std::time::Duration::from_millis),
            metrics,
            consent_apps,
            ..a.kafka
                .deployment("zeal-disaggregate")
                .disaggregate(authority)
        };
        let store =
            super::common::store(a.clickhouse.as_deref(), &a.data_dir.join("store")).await?;
        let report = DisaggregateJob::new(settings, model, store)
            .run(shutdown)
            .await?;
        super::say::say!(
            "readings {}, days disaggregated {}, rows {}, dead letters {}, incomplete days {}, erased days {}",
            report.readings,
            report.days,
            report.rows,
            report.dead_letters,
            report.incomplete_days,
            report.erased_days
        );
        anyhow::Ok(())
    })
}
