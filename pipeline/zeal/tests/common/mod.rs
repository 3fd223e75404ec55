//! What the `zeal` CLI tests share: the built binary as a command, run to completion, and its
//! success checked with the whole output in the failure message.

#![allow(dead_code)] // each test binary uses its own subset

use std::process::{Command, Output};

/// The built `zeal` binary; the caller's `ZEAL_TOPIC_PREFIX` removed (tests name their own
/// topics) and logs at `warn`.
pub fn zeal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zeal"));
    c.env_remove("ZEAL_TOPIC_PREFIX")
        .env_remove("ZEAL_KAFKA_CONFIG")
        .env("RUST_LOG", "warn");
    c
}

/// Runs `zeal args` to completion.
pub fn run(args: &[&str]) -> Output {
    zeal().args(args).output().expect("the zeal binary runs")
}

/// Runs `zeal args` to completion in the working directory `dir`.
pub fn run_in(dir: &std::path::Path, args: &[&str]) -> Output {
    zeal()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the zeal binary runs")
}

/// A fresh working directory `zeal-{name}-{pid}` under the temporary directory.
pub fn workdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zeal-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `zeal enrol`: the authority's `key` file certifies `identity` for `meter` in `region`
/// from `valid_from`, then `extra` arguments (`--out DIR`, `--publish ...`, `--retire`).
pub fn enrol(
    key: &str,
    meter: &str,
    region: &str,
    identity: &zeal_protocol::ed25519_dalek::VerifyingKey,
    valid_from: &str,
    extra: &[&str],
) -> Output {
    let id = zeal_protocol::v2::enrolment::key_to_hex(identity);
    let args = [
        "enrol",
        "--key-file",
        key,
        "--meter",
        meter,
        "--region",
        region,
        "--identity",
        &id,
        "--valid-from",
        valid_from,
    ];
    run(&[&args[..], extra].concat())
}

/// Asserts the run succeeded (printing everything it said if not) and returns its stdout.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// `region_totals` as stored (FINAL): one `interval_start (s)\tchannel\ttotal` line per row,
/// ordered by interval and channel.
pub fn stored_totals(
    runtime: &tokio::runtime::Runtime,
    warehouse: &zeal_connectors::clickhouse::Warehouse,
) -> String {
    runtime.block_on(async {
        warehouse
            .query_text(
                "SELECT toUInt32(interval_start), channel, total FROM region_totals FINAL \
                 ORDER BY interval_start, channel",
            )
            .await
            .unwrap()
    })
}

/// Kills a child process however the test ends.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A deployment of its own on the test broker: `zeal` commands with its topic prefix.
pub struct OnBroker {
    pub prefix: String,
    pub bootstrap: String,
}

impl OnBroker {
    /// A fresh prefix (`<name>_<unique>.`) with its topics created (two partitions).
    pub fn new(name: &str) -> OnBroker {
        let d = OnBroker {
            prefix: format!("{}.", zeal_tests::unique(name)),
            bootstrap: zeal_tests::kafka().bootstrap,
        };
        ok(d.zeal()
            .args(["topics", "create", "--partitions", "2"])
            .output()
            .unwrap());
        d
    }

    /// `zeal` against this deployment's topics.
    pub fn zeal(&self) -> Command {
        let mut c = zeal();
        c.env("ZEAL_TOPIC_PREFIX", &self.prefix)
            .env("ZEAL_KAFKA_BOOTSTRAP", &self.bootstrap);
        c
    }

    /// The full name of `topic` (e.g. `zeal.consent.v1`) in this deployment.
    pub fn topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// `zeal serve` on this deployment, from `dir`'s layout (`data/`, `portal.pub`,
    /// `consent.key`) with `extra` arguments, once it listens.
    pub async fn serve(
        &self,
        dir: &std::path::Path,
        extra: &[&str],
    ) -> (Running, std::net::SocketAddr) {
        let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
        let addr = zeal_tests::fault_proxy::free_addr();
        let app = Running(
            self.zeal()
                .args(["serve", "--data-dir", &p("data"), "--portal-key"])
                .args([&p("portal.pub"), "--consent-key", &p("consent.key")])
                .args(["--addr", &addr.to_string()])
                .args(extra)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_listening(addr).await;
        (app, addr)
    }
}

/// Waits (up to a minute) until something listens on `addr`: a `zeal serve` starting.
pub async fn wait_listening(addr: std::net::SocketAddr) {
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "nothing listens on {addr}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The path (with its query) of `household`'s sign-in link to the app at `addr`, signed with
/// the portal key in `key_file` (`zeal portal link`).
pub fn portal_link(
    key_file: &str,
    addr: std::net::SocketAddr,
    household: &str,
    region: &str,
) -> String {
    let base = format!("http://{addr}");
    let out = ok(zeal()
        .args(["portal", "link", "--key-file", key_file])
        .args(["--household", household, "--region", region, "--url", &base])
        .output()
        .unwrap());
    out.trim().trim_start_matches(&base).to_string()
}
