//! The demo's daily edge round: a second deployment of protocol v2 (own topics, the daily
//! protocol of `docs/edge-daily.toml`) in which every household's gateway runs the model on its
//! own day and contributes the day's energy per appliance category and a one-hot vector of its
//! consumption bucket. Each region learns its appliance mix and its consumption histogram (the
//! game's efficient-neighbour mark); nobody learns one household's values. Every audited total
//! is checked against the sum of the values the households computed.

use super::demo_v2::{Households, PrivateTotals, Reading, private_totals};
use std::collections::BTreeMap;
use zeal_connectors::kafka::ensure_topics;
use zeal_disaggregation::Disaggregator;
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::round::log::Outcome;
use zeal_services::deployment::Deployment;
use zeal_services::edge::{daily_params, daily_values};

/// What the daily round needs from the demo.
pub struct DailyRound<'a> {
    /// The daily deployment: its own topics and state directory.
    pub deployment: Deployment,
    /// The 15-minute deployment's parameters (committee shape, thresholds).
    pub base: &'a Params,
    /// `(meter_id, region)` of every household.
    pub meters: Vec<(String, String)>,
    /// Each meter's `(interval_start, import_wh, export_wh)`.
    pub readings: BTreeMap<String, Vec<(i64, u64, u64)>>,
    /// The enrolment authority and the households' identity keys (the same as the 15-minute
    /// deployment's, certified again on this deployment's registry topic).
    pub households: &'a Households,
}

/// What it did.
pub struct DailyReport {
    pub households: usize,
    pub days: usize,
    /// Audited region-day totals.
    pub totals: usize,
    /// The audited rounds, with the rows to store.
    pub rounds: PrivateTotals,
    /// Region-day totals that differ from the households' plaintext sum (none, or a bug).
    pub mismatches: Vec<String>,
}

/// Runs the daily round of the demo's complete day through the broker and audits it.
pub async fn run(r: DailyRound<'_>) -> anyhow::Result<DailyReport> {
    let params = daily_params(r.base);
    params.validate()?;
    let model = Disaggregator::embedded()?;
    let region: BTreeMap<&str, &str> = r
        .meters
        .iter()
        .map(|(m, g)| (m.as_str(), g.as_str()))
        .collect();
    let mut values: Vec<Reading> = Vec::new();
    // (region, day start s) -> the plaintext sum of the households' daily values.
    let mut plain: BTreeMap<(String, i64), Vec<u64>> = BTreeMap::new();
    for (id, rs) in &r.readings {
        let g = region[id.as_str()].to_string();
        for (day, v) in daily_values(&model, rs)? {
            let sum = plain
                .entry((g.clone(), day / 1000))
                .or_insert_with(|| vec![0; v.len()]);
            sum.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
            values.push((id.clone(), g.clone(), day, v));
        }
    }
    let days: std::collections::BTreeSet<i64> = values.iter().map(|v| v.2).collect();
    anyhow::ensure!(!days.is_empty(), "no complete day to aggregate");
    let d = &r.deployment;
    ensure_topics(&d.kafka, &d.topics.specs(4, 1)).await?;
    let regions: Vec<String> = plain
        .keys()
        .map(|k| k.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let rounds = private_totals(d, &params, &regions, &values, r.households).await?;
    let mut totals = 0;
    let mut mismatches = Vec::new();
    for ((g, day), want) in &plain {
        let outcome = rounds.audits.get(g).and_then(|a| a.rounds.get(day));
        match outcome.map(|r| &r.outcome) {
            Some(Outcome::Total(got)) if got == want => totals += 1,
            other => mismatches.push(format!(
                "{g} day {day}: private {other:?}, plaintext {want:?}"
            )),
        }
    }
    Ok(DailyReport {
        households: r.meters.len(),
        days: days.len(),
        totals,
        rounds,
        mismatches,
    })
}
