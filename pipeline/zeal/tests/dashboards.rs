//! The shipped Grafana dashboards (`deploy/grafana/dashboards/*.json`) query what exists: every
//! ClickHouse panel's SQL runs, as the shipped read-only `grafana` user, against the tables the
//! migrations make (with the data source's time macro expanded as the plugin does) and returns
//! the seeded rows; every Prometheus panel's PromQL runs against a real Prometheus scraping a
//! zeal aggregator's metrics endpoint and the web app's, and returns series.

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zeal_connectors::clickhouse::{ClickHouseConfig, Warehouse};
use zeal_schemas::RejectReason;
use zeal_services::metrics::{Metrics, Role};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every panel query of the shipped dashboards: (dashboard, panel, data source type, query).
fn queries() -> Vec<(String, String, String, String)> {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "operators and data engineers: {files:?}");
    let mut out = Vec::new();
    for f in files {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let title = d["title"].as_str().unwrap().to_string();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let kind = t["datasource"]["type"].as_str().unwrap().to_string();
                let q = t["expr"].as_str().or(t["rawSql"].as_str()).unwrap();
                out.push((
                    title.clone(),
                    p["title"].as_str().unwrap().to_string(),
                    kind,
                    q.to_string(),
                ));
            }
        }
    }
    out
}

/// GET `path` (with its query) from `addr`: (status, body), a chunked body cut to its JSON
/// object (Prometheus answers in chunks).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = zeal_tests::http::get(addr, path).await;
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a < b => body[a..=b].to_string(),
        _ => body,
    };
    (status, body)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The ClickHouse data source's `$__timeFilter(column)`, as the plugin expands it for a range.
fn expand_macros(sql: &str) -> String {
    let mut out = sql.to_string();
    while let Some(i) = out.find("$__timeFilter(") {
        let close = i + out[i..].find(')').expect("closed macro");
        let column = out[i + "$__timeFilter(".len()..close].to_string();
        out.replace_range(
            i..=close,
            &format!("{column} >= toDateTime(1500000000) AND {column} <= toDateTime(2000000000)"),
        );
    }
    assert!(!out.contains('$'), "an unexpanded macro in {sql}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_panels_run_as_the_shipped_read_only_user() {
    let (url, admin) = zeal_tests::fresh_database_url("zt_dash").await;
    zeal_tables::migrate(&admin).await.unwrap();
    for insert in [
        "INSERT INTO region_totals (region, interval_start, interval_seconds, channel, total, \
         contributors, attempt, carried_intervals, published_at, aggregator_id) VALUES \
         ('NL-D-01', toDateTime(1593597600), 900, 'import_wh', 12000, 6, 1, [], toDateTime(1593600000), 'agg'), \
         ('NL-D-01', toDateTime(1593597600), 900, 'export_wh', 3000, 6, 1, [], toDateTime(1593600000), 'agg')",
        "INSERT INTO round_events (region, interval_start, attempt, event, meter_id, reason, \
         roster_size, missing, culprits, decided_at, aggregator_id) VALUES \
         ('NL-D-01', toDateTime(1593597600), 1, 'COMPLETED', '', '', 8, ['NL-D-01-m0006', 'NL-D-01-m0007'], [], toDateTime(1593600000), 'agg')",
        "INSERT INTO dead_letters (topic, partition, offset, reason, detail, origin, region, \
         rejected_by, rejected_at) VALUES \
         ('zeal.rounds.v2', 0, 5, 'bad_signature', 'forged', 'gw', 'NL-D-01', 'aggregator', toDateTime(1593600000))",
        "INSERT INTO households (household_id, region, display_name, share_readings, \
         leaderboard, joined_at) VALUES ('NL-D-01-m0001', 'NL-D-01', 'Ada', 1, 1, toDateTime(1593600000))",
    ] {
        admin.execute(insert).await.unwrap();
    }
    let mut config = ClickHouseConfig::from_url(&url)
        .unwrap()
        .with_credentials("grafana", "grafana");
    config.database = admin.config().database.clone();
    let grafana = Warehouse::connect(&config)
        .await
        .expect("the shipped grafana user connects");

    let mut answers = BTreeMap::new();
    for (dashboard, panel, kind, sql) in queries() {
        if kind != "grafana-clickhouse-datasource" {
            continue;
        }
        let text = grafana
            .query_text(&expand_macros(&sql))
            .await
            .unwrap_or_else(|e| panic!("{dashboard} / {panel}: {e}\n{sql}"));
        assert!(!text.trim().is_empty(), "{dashboard} / {panel}: no rows");
        answers.insert(panel, text);
    }
    assert_eq!(answers.len(), 7, "{:?}", answers.keys());
    let line = |panel: &str| answers[panel].trim().to_string();
    assert_eq!(
        line("Region totals, import (kWh)"),
        "2020-07-01 10:00:00\tNL-D-01\t12"
    );
    assert_eq!(
        line("Participation: share of the roster in each verified total"),
        "2020-07-01 10:00:00\tNL-D-01\t0.75"
    );
    assert_eq!(line("Stored dead letters by reason"), "bad_signature\t1");
    assert_eq!(
        line("Households sharing their readings, by region"),
        "NL-D-01\t1"
    );

    // Read-only: no writes, no DDL.
    assert!(
        grafana
            .execute("INSERT INTO households (household_id) VALUES ('x')")
            .await
            .is_err()
    );
    assert!(
        grafana
            .execute("CREATE TABLE t (x UInt8) ENGINE = Memory")
            .await
            .is_err()
    );
}

/// A Prometheus process, stopped when dropped.
struct Prometheus(Child, PathBuf);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Runs `query` until it returns at least one series (the scrapes it needs may not have
/// happened yet) or 60 s pass; panics on a query error.
async fn until_series(prometheus: SocketAddr, what: &str, query: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(
            prometheus,
            &format!("/api/v1/query?query={}", percent_encode(query)),
        )
        .await;
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {status} {e}: {body}"));
        assert_eq!(v["status"], "success", "{what}: {query}\n{body}");
        let result = &v["data"]["result"];
        if result.as_array().is_some_and(|r| !r.is_empty()) {
            return result.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: no series after 60 s: {query}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_panels_return_series_from_zeal_metrics() {
    let bin = std::env::var("ZEAL_TEST_PROMETHEUS")
        .expect("ZEAL_TEST_PROMETHEUS: the prometheus binary (tests/run.sh installs it)");
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let metrics = Metrics::new(Role::Aggregator);
    let services = zeal_services::metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        metrics.clone(),
        stop.clone(),
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-dash-prom"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = zeal_embedded::store::ParquetStore::open(dir.join("store")).unwrap();
    let web = zeal_web::serve(
        "127.0.0.1:0".parse().unwrap(),
        zeal_web::store::Store::from(zeal_tables::Store::Embedded(store)),
        zeal_web::WebSettings::default(),
        stop,
    )
    .await
    .unwrap();
    let record = |n: u64| {
        metrics.round_closed("total", Some(1.5));
        metrics.dead_letter(RejectReason::BadSignature);
        metrics.lag("zeal.rounds.v2", 0, 7);
        metrics.folded(100 * n);
        metrics.retried("consume");
    };
    record(1);
    assert_eq!(get(web, "/readyz").await.0, 200);

    let port = zeal_tests::fault_proxy::free_addr().port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: zeal\n    \
             static_configs: [{{targets: ['{services}']}}]\n  - job_name: zeal-web\n    \
             static_configs: [{{targets: ['{web}']}}]\n"
        ),
    )
    .unwrap();
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    let _prometheus = Prometheus(child, dir);
    let prometheus: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Up once it answers /-/ready (its TSDB opened).
    let started = Instant::now();
    while tokio::net::TcpStream::connect(prometheus).await.is_err()
        || get(prometheus, "/-/ready").await.0 != 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus never ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both targets scraped and up, then more of everything, so rates have two samples apart.
    let up = until_series(prometheus, "up", "sum(up) == 2").await;
    assert_eq!(up[0]["value"][1], "2", "{up}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    record(2);
    assert_eq!(get(web, "/readyz").await.0, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut ran = 0;
    for (dashboard, panel, kind, query) in queries() {
        if kind != "prometheus" {
            continue;
        }
        let what = format!("{dashboard} / {panel}");
        until_series(prometheus, &what, &query).await;
        ran += 1;
    }
    assert_eq!(ran, 8, "PromQL targets in the operators' dashboard");
    let by_status = until_series(
        prometheus,
        "rounds",
        "sum by (status) (increase(zeal_aggregator_rounds_closed_total[1h]))",
    )
    .await;
    assert_eq!(by_status[0]["metric"]["status"], "total", "{by_status}");
}
