//! The web app on ClickHouse, as an orchestrator and Prometheus see it: `/readyz` is 200 while
//! the store answers and 503 once it does not (its database dropped under it), `/healthz` stays
//! ok (the process answers), and `/metrics` counts requests by route pattern and status class,
//! with no household id in any label.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeal_tables::Store as Tables;
use zeal_web::store::Store;
use zeal_web::{WebSettings, serve};

/// GET `path`; returns (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_store_and_metrics_count_requests_by_route() {
    let (_, warehouse) = zeal_tests::fresh_database_url("zt_web_ready").await;
    zeal_tables::migrate(&warehouse).await.unwrap();
    let db = warehouse.config().database.clone();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let addr = serve(
        "127.0.0.1:0".parse().unwrap(),
        Store::from(Tables::ClickHouse(Box::new(warehouse.clone()))),
        WebSettings { demo: false },
        stop,
    )
    .await
    .unwrap();

    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".into()));
    let (status, _) = get(addr, "/household/NL-SECRET-m0007").await;
    assert_eq!(status, 404, "no such household");
    assert_eq!(get(addr, "/leaderboard").await.0, 200);

    // The store goes away: not ready (503), still alive.
    warehouse
        .execute(&format!("DROP DATABASE {db}"))
        .await
        .unwrap();
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(get(addr, "/leaderboard").await.0, 503);

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
