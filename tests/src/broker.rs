//! The test broker as a process the tests may kill and restart (`tests/run.sh` exports how it
//! was started). A restarted broker's pid goes to `$ZEAL_TEST_SERVICES_DIR/tansu.pid`, which
//! run.sh kills on exit.

use std::path::PathBuf;
use std::time::Duration;

/// How to stop and start the test broker.
pub struct TestBroker {
    bin: String,
    dir: PathBuf,
    storage: String,
    bootstrap: String,
    services_dir: PathBuf,
}

impl TestBroker {
    /// From the variables tests/run.sh exports.
    pub fn from_env() -> Self {
        TestBroker {
            bin: crate::required("ZEAL_TEST_TANSU_BIN"),
            dir: PathBuf::from(crate::required("ZEAL_TEST_TANSU_DIR")),
            storage: crate::required("ZEAL_TEST_TANSU_STORAGE"),
            bootstrap: crate::required("ZEAL_TEST_KAFKA_BOOTSTRAP"),
            services_dir: PathBuf::from(crate::required("ZEAL_TEST_SERVICES_DIR")),
        }
    }

    fn pid_file(&self) -> PathBuf {
        self.services_dir.join("tansu.pid")
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(self.pid_file())
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| crate::required("ZEAL_TEST_TANSU_PID"))
    }

    /// SIGKILL: a crash, not a clean shutdown.
    pub fn kill(&self) {
        crate::env::signal(&self.pid(), "KILL");
        for _ in 0..50 {
            if std::net::TcpStream::connect(&self.bootstrap).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the broker still answers after SIGKILL");
    }

    /// Starts the broker again on the same port and storage and waits until it answers.
    // The broker must outlive this test (later tests use it); tests/run.sh kills it by pid.
    #[allow(clippy::zombie_processes)]
    pub fn start(&self) {
        let url = format!("tcp://{}", self.bootstrap);
        let log = std::fs::File::create(self.dir.join("tansu-restarted.log")).unwrap();
        let child = std::process::Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", &self.storage])
            .current_dir(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("restart tansu");
        std::fs::write(self.pid_file(), child.id().to_string()).unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(&self.bootstrap).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the restarted broker does not answer on {}", self.bootstrap);
    }
}
