//! The web app on ClickHouse, as an orchestrator and Prometheus see it: `/readyz` is 200 while
//! the store answers and 503 once it does not (its database dropped under it), `/healthz` stays
//! ok (the process answers), and `/metrics` counts requests by route pattern and status class,
//! with no household id in any label.

use zeal_tables::Store as Tables;
use zeal_tests::http::{Agent, get};
use zeal_web::store::Store;
use zeal_web::{WebSettings, serve};

const OPERATOR: &str = "operator-token-of-the-ready-test-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_store_and_metrics_count_requests_by_route() {
    let (_, warehouse) = zeal_tests::fresh_database_url("zt_web_ready").await;
    zeal_tables::migrate(&warehouse).await.unwrap();
    let db = warehouse.config().database.clone();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let addr = serve(
        "127.0.0.1:0".parse().unwrap(),
        Store::from(Tables::ClickHouse(Box::new(warehouse.clone()))),
        WebSettings {
            operator_token: Some(OPERATOR.into()),
            ..WebSettings::default()
        },
        stop,
    )
    .await
    .unwrap();

    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".into()));
    let (status, _) = get(addr, "/household/NL-SECRET-m0007").await;
    assert_eq!(status, 401, "not signed in");
    let mut operator = Agent::new(addr);
    let signed_in = operator
        .post("/operator/signin", &format!("token={OPERATOR}"))
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(operator.get("/leaderboard").await.status, 200);

    // The store goes away: not ready (503), still alive.
    warehouse
        .execute(&format!("DROP DATABASE {db}"))
        .await
        .unwrap();
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(operator.get("/leaderboard").await.status, 503);

    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"zeal_web_requests_total{route="/readyz",status="2xx"} 1"#,
        r#"zeal_web_requests_total{route="/readyz",status="5xx"} 1"#,
        r#"zeal_web_requests_total{route="/household/{id}",status="4xx"} 1"#,
        r#"zeal_web_requests_total{route="/leaderboard",status="2xx"} 1"#,
        r#"zeal_web_requests_total{route="/leaderboard",status="5xx"} 1"#,
        r#"zeal_web_request_seconds_count{route="/leaderboard"} 2"#,
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(
        !text.contains("NL-SECRET"),
        "a household id in a label:\n{text}"
    );
}
