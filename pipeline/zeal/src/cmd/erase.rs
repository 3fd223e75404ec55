//! `zeal erase`: a household's data erased on the operator's command, for a request that
//! reached the utility another way than the app (a letter, or a household that moved away and
//! can no longer sign in from the portal). The same steps as the app's `/erase`
//! (`zeal_web::rights::erase`: withdraw, delete, record), then a sweep a while later.

use super::common::KafkaArgs;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EraseArgs {
    /// The household (its meter id).
    #[arg(long)]
    household: String,
    /// Its region.
    #[arg(long)]
    region: String,
    /// The consent app's key, as `zeal serve --consent-key` made it: it signs the withdrawal
    /// and the record of the erasure, so gateways and jobs trust them.
    #[arg(long, env = "ZEAL_CONSENT_KEY")]
    consent_key: PathBuf,
    /// Erase from this ClickHouse (HTTP URL); otherwise from the embedded store in --data-dir.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: Option<String>,
    /// The embedded store's directory (as written by `zeal demo`).
    #[arg(long, default_value = "zeal-data")]
    data_dir: PathBuf,
    /// Delete once more after this many seconds: rows a job that had not yet seen the record
    /// wrote meanwhile (0: no sweep).
    #[arg(long, default_value_t = 60)]
    sweep_after: u64,
    #[command(flatten)]
    kafka: KafkaArgs,
}

pub fn run(a: EraseArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        zeal_web::join::valid_id(&a.household) && zeal_web::join::valid_id(&a.region),
        "--household and --region take 1-64 letters, digits, '.', '_' or '-'"
    );
    anyhow::ensure!(
        a.consent_key.exists(),
        "{} does not exist: give the consent app's key (`zeal serve --consent-key` makes it)",
        a.consent_key.display()
    );
    let key = super::common::existing_signing_key(&a.consent_key, "zeal serve --consent-key")?;
    super::runtime()?.block_on(async move {
        let sink = a.kafka.consent_sink("zeal-erase", key)?;
        let store = super::serve::open_store(a.clickhouse.as_deref(), &a.data_dir).await?;
        let tables = zeal_web::rights::erase(&store, Some(&sink), &a.household, &a.region)
            .await
            .with_context(|| {
                format!("erasing {} (run the command again to finish)", a.household)
            })?;
        for (table, rows) in &tables {
            println!("{table}: {rows} rows deleted");
        }
        println!(
            "{} erased: withdrawal and record published on {} and {}",
            a.household, sink.topic, sink.erasure_topic
        );
        if a.sweep_after > 0 {
            super::say::say!("sweeping again in {} s", a.sweep_after);
            let after = std::time::Duration::from_secs(a.sweep_after);
            let n = zeal_web::rights::sweep(&store, &a.household, after).await?;
            println!("swept {n} rows written during the erasure");
        }
        anyhow::Ok(())
    })
}
