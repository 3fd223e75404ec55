//! ClickHouse over HTTPS (the test server's `https_port`, its certificate signed by a CA made
//! for the run): `zeal serve --clickhouse https://…` migrates the tables and answers `/readyz`
//! through TLS when the CA is trusted (SSL_CERT_FILE, as an operator points at their own CA),
//! and refuses to start, naming the certificate, when it is not: there is no fallback to an
//! unverified connection.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn readyz(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    Some(raw)
}

#[test]
fn the_web_app_reads_clickhouse_over_https_only_with_a_trusted_certificate() {
    let https = std::env::var("ZEAL_TEST_CLICKHOUSE_HTTPS_URL")
        .expect("ZEAL_TEST_CLICKHOUSE_HTTPS_URL (tests/run.sh)");
    let ca = std::env::var("ZEAL_TEST_CLICKHOUSE_CA").expect("ZEAL_TEST_CLICKHOUSE_CA");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, warehouse) = runtime.block_on(zeal_tests::fresh_database_url("zt_tls"));
    let db = warehouse.config().database.clone();
    let url_tls = format!("{https}/{db}");
    assert!(url.starts_with("http://") && url_tls.starts_with("https://"));
    let empty = std::env::temp_dir().join(zeal_tests::unique("zeal-no-roots"));
    std::fs::create_dir_all(&empty).unwrap();

    // Trusted: the tables are made over TLS and the app is ready.
    let port = zeal_tests::fault_proxy::free_addr().port();
    let mut serve = common::zeal()
        .env("SSL_CERT_FILE", &ca)
        .env("SSL_CERT_DIR", &empty)
        .args(["serve", "--clickhouse", &url_tls, "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let answer = loop {
        if let Some(a) = readyz(port) {
            break a;
        }
        if let Some(status) = serve.try_wait().unwrap() {
            let mut err = String::new();
            serve
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("zeal serve exited ({status}) over HTTPS:\n{err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never listened"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let tables = runtime
        .block_on(warehouse.query_text("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'households'"))
        .unwrap();
    assert_eq!(tables.trim(), "1", "the migrations ran over HTTPS");

    // Not trusted (no CA, no system roots that know it): refused, and said why.
    let out = common::zeal()
        .env("SSL_CERT_FILE", empty.join("none.pem"))
        .env("SSL_CERT_DIR", &empty)
        .args(["serve", "--clickhouse", &url_tls, "--addr"])
        .arg(format!(
            "127.0.0.1:{}",
            zeal_tests::fault_proxy::free_addr().port()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let _ = std::fs::remove_dir_all(&empty);
}
