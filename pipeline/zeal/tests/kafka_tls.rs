//! Kafka over TLS: a broker of the test's own advertises a TLS port where stunnel (Debian's)
//! terminates TLS with the run's certificate for 127.0.0.1 (tansu 0.6 has no TLS listener of
//! its own). `zeal topics create` with `-X security.protocol=ssl -X ssl.ca.location=CA` creates
//! the topics through it, the library's producer and replay write and read back through it, a
//! plaintext client gets nothing from the TLS port, nor a TLS client from the plaintext one, and
//! a client that does not trust the CA is refused on the certificate: each told what to check.

mod common;

use common::ok;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, Replay, TopicSpec, ensure_topics};
use zeal_tests::fault_proxy::{PrivateBroker, free_addr};

/// A stunnel process, stopped when dropped.
struct Stunnel(Child);

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tls_config(bootstrap: &str, ca: &str) -> KafkaConfig {
    let mut c = KafkaConfig::new(bootstrap, "zt-tls");
    c.extra = vec![
        ("security.protocol".into(), "ssl".into()),
        ("ssl.ca.location".into(), ca.into()),
    ];
    c
}

#[test]
fn clients_reach_the_broker_through_tls_and_only_with_the_trusted_ca() {
    let stunnel = std::env::var("ZEAL_TEST_STUNNEL").expect("ZEAL_TEST_STUNNEL (tests/run.sh)");
    let cert = std::env::var("ZEAL_TEST_TLS_CERT").expect("ZEAL_TEST_TLS_CERT");
    let key = std::env::var("ZEAL_TEST_TLS_KEY").expect("ZEAL_TEST_TLS_KEY");
    let ca = std::env::var("ZEAL_TEST_CLICKHOUSE_CA").expect("ZEAL_TEST_CLICKHOUSE_CA");
    let (listen, tls) = (free_addr(), free_addr());
    let _broker = PrivateBroker::start(listen, tls);
    let dir = PrivateBroker::fresh_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("stunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\n[kafka]\naccept = {tls}\nconnect = {listen}\n\
             cert = {cert}\nkey = {key}\n"
        ),
    )
    .unwrap();
    let _stunnel = Stunnel(
        Command::new(&stunnel)
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {stunnel}: {e}")),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(tls).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "stunnel never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let bootstrap = tls.to_string();

    // The CLI, with librdkafka's own properties.
    let prefix = format!("{}.", zeal_tests::unique("tls"));
    let out = ok(common::run(&[
        "topics",
        "create",
        "--bootstrap",
        &bootstrap,
        "--topic-prefix",
        &prefix,
        "--partitions",
        "1",
        "-X",
        "security.protocol=ssl",
        "-X",
        &format!("ssl.ca.location={ca}"),
    ]));
    assert!(
        out.contains(&format!("created  {prefix}zeal.rounds.v2")),
        "{out}"
    );

    // The library: write and read back through TLS.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let topic = format!("{prefix}tls-check");
    let config = tls_config(&bootstrap, &ca);
    let got = runtime.block_on(async {
        ensure_topics(&config, &[TopicSpec::new(&topic, 1, 1)])
            .await
            .unwrap();
        let producer = KeyedProducer::new(&config).unwrap();
        for i in 0..3 {
            producer
                .send(&topic, b"NL-TLS", format!("m{i}").as_bytes(), None)
                .await
                .unwrap();
        }
        Replay::start(&config, "zt-tls-read", &[&topic], 0, i64::MAX)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let payloads: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect();
    assert_eq!(payloads, ["m0", "m1", "m2"]);

    // Plaintext to the TLS port, TLS without the CA, and TLS to the plaintext port: nothing,
    // and the error says what to check (librdkafka itself reports only a time-out).
    for (port, extra) in [
        (&bootstrap, vec![]),
        // The system's CAs only: the run's CA is not among them.
        (
            &bootstrap,
            vec!["-X".to_string(), "security.protocol=ssl".to_string()],
        ),
        (
            &listen.to_string(),
            vec![
                "-X".to_string(),
                "security.protocol=ssl".to_string(),
                "-X".to_string(),
                format!("ssl.ca.location={ca}"),
            ],
        ),
    ] {
        let mut args = vec![
            "topics".to_string(),
            "create".into(),
            "--bootstrap".into(),
            port.clone(),
            "--topic-prefix".into(),
            format!("{prefix}x."),
            "-X".into(),
            "socket.timeout.ms=5000".into(),
        ];
        args.extend(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let refused = common::run(&args);
        assert!(!refused.status.success(), "{args:?}: {refused:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("hint: no broker answered") && stderr.contains("security.protocol"),
            "{args:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
