//! What docker-compose.yml runs, without Docker: `deploy/setup-day.sh` sets a day up on the test
//! broker (topics, authority, identity keys and certificates, the aggregator's key, Cutoff,
//! beacon, simulated readings), then the compose file's `zeal` commands run as processes with
//! its flags (shorter phases): a region's gateway, its aggregator and, after it, the audit into
//! ClickHouse, and the gateway's sharing of the two households that consented in setup. Every stored total equals the sum of the
//! simulated readings, and setting the day up again changes nothing.

mod common;

use common::{ok, zeal};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const REGION: &str = "NL-DP-01";

/// `deploy/setup-day.sh` with this test's broker, topics and directory.
fn setup(dir: &Path, prefix: &str) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/setup-day.sh");
    Command::new("sh")
        .arg(script)
        .env("ZEAL", env!("CARGO_BIN_EXE_zeal"))
        .env("DIR", dir)
        .env("REGIONS", REGION)
        .env("METERS_PER_REGION", "6")
        .env("PARTITIONS", "2")
        .env("SHARE", "NL-DP-01-m0001,NL-DP-01-m0002")
        .env("ZEAL_KAFKA_BOOTSTRAP", &zeal_tests::kafka().bootstrap)
        .env("ZEAL_TOPIC_PREFIX", prefix)
        .env("RUST_LOG", "warn")
        .output()
        .expect("sh runs")
}

/// The compose file's v2 command for the region, with the day's arguments.
fn v2(dir: &Path, prefix: &str, args: &[&str]) -> Command {
    let file = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let mut c = zeal();
    c.args(args)
        .args(["--region", REGION, "--day", "2020-07-01"])
        .args(["--authority", &file("authority.pub")])
        .args(["--beacon-anchor", &file("beacon.anchor")])
        .args(["--phase-secs", "4"])
        .env("ZEAL_KAFKA_BOOTSTRAP", &zeal_tests::kafka().bootstrap)
        .env("ZEAL_TOPIC_PREFIX", prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Sums of the readings CSV per (interval start in s, channel).
fn sums(csv: &str) -> BTreeMap<(u32, &'static str), u64> {
    let mut out = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let t = (f[1].parse::<i64>().unwrap() / 1000) as u32;
        *out.entry((t, "import_wh")).or_default() += f[2].parse::<u64>().unwrap();
        *out.entry((t, "export_wh")).or_default() += f[3].parse::<u64>().unwrap();
    }
    out
}

#[test]
fn the_compose_deployment_sets_its_day_up_and_stores_exact_totals() {
    let dir: PathBuf = std::env::temp_dir().join(zeal_tests::unique("zeal-deploy"));
    let prefix = format!("{}.", zeal_tests::unique("deploy"));
    let said = ok(setup(&dir, &prefix));
    assert!(said.contains("day 2020-07-01 set up"), "{said}");
    // Secrets stay private: the directory and every key in it.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("."), 0o700);
    assert_eq!(mode("authority.key"), 0o600);
    assert_eq!(mode("aggregator/aggregator.key"), 0o600);
    assert_eq!(mode(&format!("readings-{REGION}.csv")), 0o600);
    assert_eq!(mode("portal.key"), 0o600);
    assert_eq!(mode("consent.key"), 0o600);
    assert_eq!(mode("operator.token"), 0o600);
    let token = std::fs::read_to_string(dir.join("operator.token")).unwrap();
    assert_eq!(token.len(), 64, "32 random bytes, hex: {token:?}");
    let csv = std::fs::read_to_string(dir.join(format!("readings-{REGION}.csv"))).unwrap();
    let want = sums(&csv);
    assert_eq!(want.len(), 8 * 2, "10:00-12:00: 8 intervals x 2 channels");

    let file = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let gateway = v2(
        &dir,
        &prefix,
        &[
            "gateway",
            "--state-dir",
            &file("meters"),
            "--readings",
            &file(&format!("readings-{REGION}.csv")),
            "--aggregator",
            &file("aggregator/aggregator.pub"),
        ],
    )
    .spawn()
    .unwrap();
    let aggregator = v2(
        &dir,
        &prefix,
        &[
            "aggregate",
            "--key-file",
            &file("aggregator/aggregator.key"),
            "--round",
            "2020-07-01T10:00Z",
            "--round",
            "2020-07-01T11:00Z",
        ],
    )
    .spawn()
    .unwrap();
    let gw = gateway.wait_with_output().unwrap();
    if !gw.status.success() {
        // Its rounds will never come: the aggregator would wait for them forever.
        let mut aggregator = aggregator;
        let _ = aggregator.kill();
        panic!("the gateway failed: {gw:?}");
    }
    let agg = aggregator.wait_with_output().unwrap();
    ok(gw);
    ok(agg);
    // The compose file's `share-dp`: the two households that consented (with their history,
    // setup's SHARE) have their 8 readings each shared, the other four households none.
    let shared = ok(zeal()
        .args(["share", "--region", REGION])
        .args(["--state-dir", &file("meters")])
        .args(["--readings", &file(&format!("readings-{REGION}.csv"))])
        .args(["--consent-app", &file("consent.pub")])
        .env("ZEAL_KAFKA_BOOTSTRAP", &zeal_tests::kafka().bootstrap)
        .env("ZEAL_TOPIC_PREFIX", &prefix)
        .output()
        .unwrap());
    assert!(
        shared.contains("done: 16 readings shared, 32 withheld"),
        "{shared}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, warehouse) = runtime.block_on(zeal_tests::fresh_database_url("zt_deploy"));
    let out = ok(v2(
        &dir,
        &prefix,
        &[
            "audit",
            "--aggregator",
            &file("aggregator/aggregator.pub"),
            "--clickhouse",
            &url,
        ],
    )
    .output()
    .unwrap());
    assert!(
        out.contains("stored 16 verified totals and 2 round events"),
        "{out}"
    );
    let stored = common::stored_totals(&runtime, &warehouse);
    let got: BTreeMap<(u32, &str), u64> = stored
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let channel = if f[1] == "import_wh" {
                "import_wh"
            } else {
                "export_wh"
            };
            ((f[0].parse().unwrap(), channel), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(got, want);

    // Set up again: nothing is re-published, no key replaced.
    let key = std::fs::read(dir.join("authority.key")).unwrap();
    let again = ok(setup(&dir, &prefix));
    assert!(again.contains("already set up"), "{again}");
    assert_eq!(std::fs::read(dir.join("authority.key")).unwrap(), key);
    let _ = std::fs::remove_dir_all(&dir);
}
