//! The test ClickHouse as a process a test may kill and restart. `tests/run.sh` started it in
//! `$ZEAL_TEST_SERVICES_DIR/clickhouse` with its config there and its pid in `pid`; a restart
//! writes the new pid there, so run.sh stops that one on exit. The two replicas of the test
//! cluster (`zeal`: one shard, two replicas, with ZooKeeper) are in `clickhouse-r1` and
//! `clickhouse-r2` ([`TestClickHouse::replica`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to stop and start the test ClickHouse.
pub struct TestClickHouse {
    dir: PathBuf,
    /// `host:port` of its HTTP interface.
    http: String,
}

impl TestClickHouse {
    /// From the variables tests/run.sh exports.
    pub fn from_env() -> Self {
        let url = crate::required("ZEAL_TEST_CLICKHOUSE_URL");
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        TestClickHouse {
            dir: PathBuf::from(crate::required("ZEAL_TEST_SERVICES_DIR")).join("clickhouse"),
            http: rest.split('/').next().unwrap_or(rest).to_string(),
        }
    }

    /// Replica `n` (1 or 2) of the test cluster `zeal` (`ZEAL_TEST_CLICKHOUSE_CLUSTER_URLS`).
    pub fn replica(n: usize) -> Self {
        let urls = crate::required("ZEAL_TEST_CLICKHOUSE_CLUSTER_URLS");
        let url = urls
            .split(',')
            .nth(n - 1)
            .unwrap_or_else(|| panic!("no replica {n} in {urls}"));
        TestClickHouse {
            dir: PathBuf::from(crate::required("ZEAL_TEST_SERVICES_DIR"))
                .join(format!("clickhouse-r{n}")),
            http: url.trim_start_matches("http://").to_string(),
        }
    }

    /// Its HTTP URL (`http://host:port`).
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// SIGTERM (a clean shutdown); returns once it no longer answers.
    pub fn stop(&self) {
        let pid = std::fs::read_to_string(self.dir.join("pid")).expect("ClickHouse's pid file");
        crate::env::signal(pid.trim(), "TERM");
        self.wait(false, Duration::from_secs(30));
        // Gone (or a zombie of this test's own restart), so that a restart can bind its ports.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|stat| !stat.contains(") Z "))
        {
            assert!(Instant::now() < deadline, "ClickHouse {pid} did not exit");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether it answers `GET /ping` with `Ok.`.
    pub fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(&self.http) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = format!(
            "GET /ping HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        );
        let mut out = String::new();
        s.write_all(req.as_bytes()).is_ok()
            && s.read_to_string(&mut out).is_ok()
            && out.starts_with("HTTP/1.1 200")
    }

    fn wait(&self, up: bool, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.answers() != up {
            assert!(
                Instant::now() < deadline,
                "ClickHouse still {} after {limit:?}",
                if up { "down" } else { "up" }
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL (a crash, not a clean shutdown); returns once it no longer answers.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("pid")).expect("ClickHouse's pid file");
        crate::env::signal(pid.trim(), "KILL");
        self.wait(false, Duration::from_secs(10));
    }

    /// Starts it again on the same config, ports and data; returns once it answers.
    // The server must outlive this test (later tests use it); tests/run.sh stops it by pid.
    #[allow(clippy::zombie_processes)]
    pub fn start(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stdout.log"))
            .unwrap();
        let child = std::process::Command::new("clickhouse-server")
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .current_dir(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("restart clickhouse-server");
        std::fs::write(self.dir.join("pid"), child.id().to_string()).unwrap();
        self.wait(true, Duration::from_secs(60));
    }
}

/// Kills the test ClickHouse now and starts it again when dropped (also when the test fails),
/// so the test binaries after this one find it up.
pub struct Outage(TestClickHouse);

impl Outage {
    /// Kills the server.
    pub fn begin() -> Self {
        let server = TestClickHouse::from_env();
        server.kill();
        Outage(server)
    }

    /// Starts it again.
    pub fn end(self) {}
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.0.answers() {
            self.0.start();
        }
    }
}
