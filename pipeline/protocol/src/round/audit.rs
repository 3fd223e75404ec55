//! Re-verification of rounds from the log alone, without any secret key: what `zeal audit`
//! runs for every round it replays. It applies the same checks as the aggregator
//! ([`super::verify`]) to the published messages and compares the result with what was
//! published.

use super::crypto::{AggregatorPublic, Ciphertext, verify_aggregator};
use super::directory::Directory;
use super::verify::{
    PartialVerdict, check_bundle, check_open, fold_column, layout_for, region_total,
    values_per_meter, verify_partial,
};
use crate::config::ProtocolConfig;
use std::collections::BTreeMap;
use zeal_schemas::{
    MeterStatus, Partial, QuarantineEvent, Redistribution, RegionTotal, RoundOpen, RoundOutcome,
    RoundStatus, ShareBundle,
};

/// Every published message of one round (all attempts), in log order.
#[derive(Debug, Clone, Default)]
pub struct RoundLog {
    pub opens: Vec<RoundOpen>,
    pub bundles: Vec<ShareBundle>,
    pub redistributions: Vec<Redistribution>,
    pub partials: Vec<Partial>,
    pub outcomes: Vec<RoundOutcome>,
    pub totals: Vec<RegionTotal>,
    pub quarantines: Vec<QuarantineEvent>,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which rule: `signature`, `roster`, `bundles`, `fold`, `proof`, `arithmetic`,
    /// `one-total`, `outcome`, `quarantine`.
    pub check: &'static str,
    pub detail: String,
}

/// The audit of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundAudit {
    pub region: String,
    pub interval_start: i64,
    pub attempts: usize,
    /// Outcome of the last attempt, `None` while the round is still open in the log.
    pub status: Option<RoundStatus>,
    /// The published total, if any.
    pub published: Option<Vec<i64>>,
    /// The total recomputed from the published partials, if the round completed.
    pub recomputed: Option<Vec<i64>>,
    pub findings: Vec<Finding>,
}

impl RoundAudit {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Audits one round. `dir` is the registry as of the round (quarantines applied up to it);
/// `trusted` are the aggregator keys whose signatures are expected (empty: not checked).
pub fn audit_round(
    log: &RoundLog,
    dir: &Directory,
    config: &ProtocolConfig,
    trusted: &[AggregatorPublic],
) -> RoundAudit {
    let mut findings = Vec::new();
    let mut find = |check: &'static str, detail: String| findings.push(Finding { check, detail });
    let first = log.opens.first();
    let mut audit = RoundAudit {
        region: first.map(|o| o.region.clone()).unwrap_or_default(),
        interval_start: first.map(|o| o.interval_start).unwrap_or_default(),
        attempts: log.opens.len(),
        status: None,
        published: log.totals.first().map(|t| t.totals.clone()),
        recomputed: None,
        findings: Vec::new(),
    };
    if !trusted.is_empty() {
        let signed = |ok: bool, what: String, find: &mut dyn FnMut(&'static str, String)| {
            if !ok {
                find(
                    "signature",
                    format!("{what} is not signed by a trusted aggregator"),
                );
            }
        };
        let t = |m: &dyn Fn(&AggregatorPublic) -> bool| trusted.iter().any(m);
        for o in &log.opens {
            signed(
                t(&|a| verify_aggregator(a, o)),
                format!("RoundOpen attempt {}", o.attempt),
                &mut find,
            );
        }
        for o in &log.outcomes {
            signed(
                t(&|a| verify_aggregator(a, o)),
                format!("RoundOutcome attempt {}", o.attempt),
                &mut find,
            );
        }
        for x in &log.totals {
            signed(
                t(&|a| verify_aggregator(a, x)),
                format!("RegionTotal attempt {}", x.attempt),
                &mut find,
            );
        }
        for r in &log.redistributions {
            signed(
                t(&|a| verify_aggregator(a, r)),
                format!("Redistribution to {}", r.recipient),
                &mut find,
            );
        }
    }
    let Some(open) = log.opens.iter().max_by_key(|o| o.attempt) else {
        if !log.totals.is_empty() {
            find(
                "one-total",
                "a total was published for a round that was never opened".into(),
            );
        }
        audit.findings = findings;
        return audit;
    };
    if let Err(e) = check_open(open, config.min_roster) {
        find("roster", e);
    }
    for m in &open.roster {
        match dir.get(m) {
            None => find("roster", format!("{m} is not enrolled")),
            Some(e) if e.status != MeterStatus::Active => {
                find("roster", format!("{m} is not active"))
            }
            Some(_) => {}
        }
    }
    let outcome = log.outcomes.iter().find(|o| o.attempt == open.attempt);
    audit.status = outcome.map(|o| o.status);
    let totals_for_attempt: Vec<&RegionTotal> = log.totals.iter().collect();
    if totals_for_attempt.len() > 1 {
        find(
            "one-total",
            format!(
                "{} totals published for one interval",
                totals_for_attempt.len()
            ),
        );
    }
    match audit.status {
        Some(RoundStatus::Completed) => {
            // Bundles: the first valid one of every roster member.
            let mut accepted = BTreeMap::new();
            for b in log.bundles.iter().filter(|b| b.attempt == open.attempt) {
                if accepted.contains_key(&b.sender) {
                    continue;
                }
                if let Ok(c) = check_bundle(open, dir, b) {
                    accepted.insert(b.sender.clone(), c);
                }
            }
            let missing: Vec<&String> = open
                .roster
                .iter()
                .filter(|m| !accepted.contains_key(*m))
                .collect();
            if !missing.is_empty() {
                find(
                    "bundles",
                    format!("completed without a valid bundle from {missing:?}"),
                );
            }
            // Folds, recomputed, against the published redistributions.
            let mut products = BTreeMap::new();
            for recipient in &open.roster {
                let Some(m) = dir.get(recipient) else {
                    continue;
                };
                let k = layout_for(open, m.keys.modulus_bits()).plaintexts();
                let columns: Vec<Vec<Ciphertext>> = accepted
                    .values()
                    .filter_map(|b| b.shares.get(recipient))
                    .map(|col| col.iter().map(|s| s.ciphertext.clone()).collect())
                    .collect();
                let folded = fold_column(&m.keys, columns.iter().map(Vec::as_slice), k);
                if let Some(r) = log
                    .redistributions
                    .iter()
                    .find(|r| r.attempt == open.attempt && &r.recipient == recipient)
                {
                    let bytes: Vec<Vec<u8>> = folded.iter().map(|c| c.to_bytes(&m.keys)).collect();
                    if bytes != r.products {
                        find(
                            "fold",
                            format!(
                                "products handed to {recipient} are not the fold of the signed bundles"
                            ),
                        );
                    }
                }
                products.insert(recipient.clone(), folded);
            }
            // Partials and their proofs, then the arithmetic.
            let mut contributions = Vec::new();
            for member in &open.roster {
                let Some(p) = log
                    .partials
                    .iter()
                    .find(|p| p.attempt == open.attempt && &p.sender == member)
                else {
                    find(
                        "proof",
                        format!("completed without a partial from {member}"),
                    );
                    continue;
                };
                let Some(prods) = products.get(member) else {
                    continue;
                };
                let shares: BTreeMap<String, Vec<Ciphertext>> = accepted
                    .iter()
                    .filter_map(|(s, b)| {
                        b.shares
                            .get(member)
                            .map(|c| (s.clone(), c.iter().map(|x| x.ciphertext.clone()).collect()))
                    })
                    .collect();
                match verify_partial(open, dir, prods, p, &shares) {
                    PartialVerdict::Valid { column, retained } => {
                        contributions.push((column, retained))
                    }
                    other => find(
                        "proof",
                        format!("partial of {member} does not verify: {other:?}"),
                    ),
                }
            }
            if contributions.len() == open.roster.len() {
                let total: Vec<i64> = region_total(&contributions, open.value_bits as u32)
                    .into_iter()
                    .map(|v| v as i64)
                    .collect();
                audit.recomputed = Some(total.clone());
                match totals_for_attempt.first() {
                    None => find("one-total", "completed but no total was published".into()),
                    Some(t) => {
                        if t.totals != total {
                            find(
                                "arithmetic",
                                format!(
                                    "published total {:?} differs from the partials' sum {total:?}",
                                    t.totals
                                ),
                            );
                        }
                        if t.contributors as usize != open.roster.len() {
                            find(
                                "arithmetic",
                                format!(
                                    "{} contributors published, roster has {}",
                                    t.contributors,
                                    open.roster.len()
                                ),
                            );
                        }
                        if t.carried_intervals != open.carried_intervals {
                            find(
                                "arithmetic",
                                "carried intervals differ from the round's".into(),
                            );
                        }
                        if t.totals.len() != values_per_meter(open) {
                            find("arithmetic", "wrong number of values".into());
                        }
                    }
                }
            }
        }
        Some(RoundStatus::Deferred) | Some(RoundStatus::Abandoned) => {
            if !totals_for_attempt.is_empty() {
                find(
                    "one-total",
                    format!(
                        "a total was published for a {:?} round",
                        audit.status.unwrap()
                    ),
                );
            }
            if let Some(o) = outcome {
                for c in &o.culprits {
                    if !log.quarantines.iter().any(|q| &q.meter_id == c) {
                        find("quarantine", format!("culprit {c} has no quarantine event"));
                    }
                }
            }
        }
        Some(_) | None => {
            if !totals_for_attempt.is_empty() && audit.status.is_none() {
                find(
                    "outcome",
                    "a total was published but the round has no outcome".into(),
                );
            }
        }
    }
    audit.findings = findings;
    audit
}
