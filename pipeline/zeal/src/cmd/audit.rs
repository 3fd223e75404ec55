//! `zeal audit`: re-verify every round of a time range from the log, without secrets.

use super::common::{KafkaArgs, ProtocolArgs, format_time, parse_time};
use anyhow::Context;
use clap::Args;
use serde_json::json;
use zeal_connectors::clickhouse::{ClickHouseConfig, Warehouse};
use zeal_protocol::round::crypto::AggregatorPublic;
use zeal_services::audit::{AuditSettings, run_audit};

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// First interval start to audit (e.g. 2020-07-01T00:00Z).
    #[arg(long)]
    from: String,
    /// Last interval start to audit.
    #[arg(long)]
    to: String,
    /// Only this region.
    #[arg(long)]
    region: Option<String>,
    /// Aggregator public key (hex or a file) whose signatures are required; repeatable.
    #[arg(long)]
    trust: Vec<String>,
    /// Also compare the verified totals with this ClickHouse (HTTP URL).
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the audit; returns whether it passed (the caller sets the exit code).
pub fn run(a: AuditArgs) -> anyhow::Result<bool> {
    let trusted = a
        .trust
        .iter()
        .map(|t| {
            let hex = std::fs::read_to_string(t).unwrap_or_else(|_| t.clone());
            AggregatorPublic::from_hex("trusted", &hex).with_context(|| format!("--trust {t}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let settings = AuditSettings {
        kafka: a.kafka.config("zeal-audit"),
        topics: a.kafka.topics(),
        group_id: format!("zeal-audit-{}", std::process::id()),
        protocol: a.protocol.load()?,
        from: parse_time(&a.from)?,
        to: parse_time(&a.to)?,
        region: a.region.clone(),
        trusted,
    };
    let report = super::runtime()?.block_on(async {
        let warehouse = match &a.clickhouse {
            Some(url) => Some(Warehouse::connect(&ClickHouseConfig::from_url(url)?).await?),
            None => None,
        };
        anyhow::Ok(run_audit(&settings, warehouse.as_ref()).await?)
    })?;
    if a.json {
        let rounds: Vec<_> = report
            .rounds
            .iter()
            .map(|r| {
                json!({
                    "region": r.region, "interval_start": format_time(r.interval_start),
                    "attempts": r.attempts, "status": r.status.map(|s| format!("{s:?}").to_uppercase()),
                    "published": r.published, "verified": r.recomputed, "ok": r.ok(),
                    "findings": r.findings.iter().map(|f| json!({"check": f.check, "detail": f.detail})).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "ok": report.ok(), "messages": report.messages, "rounds": rounds,
                "carry_findings": report.carry,
                "pending_carry": report.pending_carry.iter().map(|(r, i)| json!({"region": r, "interval_start": format_time(*i)})).collect::<Vec<_>>(),
                "clickhouse_checked": report.clickhouse_checked, "clickhouse_findings": report.clickhouse,
                "dead_letters": report.dead_letters,
            }))?
        );
        return Ok(report.ok());
    }
    println!(
        "{:<12} {:<18} {:>3} {:<10} {:>22}  checks",
        "region", "interval", "att", "status", "total (import/export)"
    );
    for r in &report.rounds {
        let status = r
            .status
            .map(|s| format!("{s:?}").to_uppercase())
            .unwrap_or_else(|| "OPEN".into());
        let total = r
            .published
            .as_ref()
            .map(|t| {
                t.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| "-".into());
        let checks = if r.ok() {
            "ok".to_string()
        } else {
            r.findings
                .iter()
                .map(|f| format!("{}: {}", f.check, f.detail))
                .collect::<Vec<_>>()
                .join("; ")
        };
        println!(
            "{:<12} {:<18} {:>3} {:<10} {:>22}  {checks}",
            r.region,
            format_time(r.interval_start),
            r.attempts,
            status,
            total
        );
    }
    let count = |s: &str| {
        report
            .rounds
            .iter()
            .filter(|r| r.status.map(|x| format!("{x:?}").to_uppercase()).as_deref() == Some(s))
            .count()
    };
    println!(
        "\n{} rounds ({} completed, {} deferred, {} abandoned) from {} messages; {} with findings",
        report.rounds.len(),
        count("COMPLETED"),
        count("DEFERRED"),
        count("ABANDONED"),
        report.messages,
        report.rounds.iter().filter(|r| !r.ok()).count()
    );
    for c in &report.carry {
        println!("carry-forward: {c}");
    }
    if !report.pending_carry.is_empty() {
        println!(
            "{} deferred intervals not yet carried into a total",
            report.pending_carry.len()
        );
    }
    if report.clickhouse_checked {
        if report.clickhouse.is_empty() {
            println!("ClickHouse holds exactly the verified totals");
        }
        for c in &report.clickhouse {
            println!("clickhouse: {c}");
        }
    }
    if !report.dead_letters.is_empty() {
        println!("dead letters: {:?}", report.dead_letters);
    }
    println!(
        "{}",
        if report.ok() {
            "AUDIT PASSED"
        } else {
            "AUDIT FAILED"
        }
    );
    Ok(report.ok())
}
