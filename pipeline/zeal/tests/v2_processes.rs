//! Protocol v2 as a utility runs it: every party a separate OS process of the `zeal` binary,
//! against the real broker. The authority enrols six meters on the registry topic and signs the
//! day's Cutoff, the beacon stand-in posts its round, and gateway, aggregator and audit processes
//! derive the day from the registry topic alone and run an hourly round (four 15-minute
//! intervals): every process reports the plaintext sum. A rogue gateway is its own process too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const REGION: &str = "NL-PROC-01";
/// 2020-07-01T10:00Z, the round's start.
const ROUND_MS: i64 = 1_593_597_600_000;

fn zeal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zeal"));
    c.env_remove("ZEAL_TOPIC_PREFIX").env("RUST_LOG", "warn");
    c
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Waits for a spawned process, killing it after `limit`.
fn finish(mut child: Child, limit: Duration) -> Output {
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.wait_with_output().unwrap()
}

fn reading(i: usize, interval: usize) -> (u64, u64) {
    (
        120 + 17 * i as u64 + 3 * interval as u64,
        (i as u64 * 7 + interval as u64) % 40,
    )
}

/// The round's 8 values (4 intervals × import, export) summed over `meters` (roster indices).
fn total_line(meters: &[usize]) -> String {
    let mut per_value = vec![0u64; 8];
    for &i in meters {
        for q in 0..4 {
            let (imp, exp) = reading(i, q);
            per_value[2 * q] += imp;
            per_value[2 * q + 1] += exp;
        }
    }
    format!("round 2020-07-01T10:00Z: total {per_value:?}")
}

/// A region of six meters enrolled on a fresh registry topic, with its Cutoff and beacon round.
struct Region {
    dir: PathBuf,
    broker: Vec<String>,
    meters: Vec<String>,
    anchor: String,
    aggregator_pub: String,
}

impl Region {
    /// `gateways`: each gateway's name and the roster indices of its meters.
    fn enrol(gateways: &[(&str, &[usize])]) -> Region {
        let kafka = zeal_tests::kafka();
        let prefix = format!("{}.", zeal_tests::unique("v2-procs"));
        let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-v2-procs"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Region {
            dir,
            broker: vec![
                "--bootstrap".into(),
                kafka.bootstrap.clone(),
                "--topic-prefix".into(),
                prefix,
            ],
            meters: (0..6).map(|i| format!("{REGION}-m{i:04}")).collect(),
            anchor: String::new(),
            aggregator_pub: String::new(),
        };
        r.call(&["topics", "create", "--partitions", "2"], true);
        r.call(
            &["authority", "init", "--key-file", &r.path("authority.key")],
            false,
        );
        for (gw, indices) in gateways {
            let ids: Vec<&str> = indices.iter().map(|&i| r.meters[i].as_str()).collect();
            let out = r.call(
                &[
                    "v2",
                    "keys",
                    "--state-dir",
                    &r.path(gw),
                    "--meters",
                    &ids.join(","),
                ],
                false,
            );
            for line in out.lines() {
                let (meter, public) = line.split_once(' ').unwrap();
                r.call(
                    &[
                        "enrol",
                        "--key-file",
                        &r.path("authority.key"),
                        "--meter",
                        meter,
                        "--region",
                        REGION,
                        "--identity",
                        public,
                        "--valid-from",
                        "2020-06-01",
                        "--publish",
                    ],
                    true,
                );
            }
        }
        let agg = r.call(
            &[
                "v2",
                "keys",
                "--state-dir",
                &r.path("aggregator"),
                "--meters",
                "aggregator",
            ],
            false,
        );
        r.aggregator_pub = agg.split_whitespace().nth(1).unwrap().to_string();
        r.call(
            &[
                "authority",
                "cutoff",
                "--key-file",
                &r.path("authority.key"),
                "--day",
                "2020-07-01",
            ],
            true,
        );
        let beacon = r.call(
            &[
                "authority",
                "beacon",
                "--seed-file",
                &r.path("beacon.seed"),
                "--day",
                "2020-07-01",
            ],
            true,
        );
        r.anchor = beacon
            .lines()
            .find_map(|l| l.strip_prefix("beacon anchor: "))
            .unwrap()
            .to_string();
        std::fs::write(
            r.dir.join("protocol.toml"),
            "min_roster = 3\nparticipation = { num = 1, den = 2 }\n",
        )
        .unwrap();
        r
    }

    fn path(&self, p: &str) -> String {
        self.dir.join(p).to_str().unwrap().to_string()
    }

    fn args(&self, args: &[&str], broker: bool) -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if broker {
            v.extend(self.broker.iter().cloned());
        }
        v
    }

    fn call(&self, args: &[&str], broker: bool) -> String {
        ok(zeal().args(self.args(args, broker)).output().unwrap())
    }

    /// A v2 command with the day's arguments (broker, region, day, authority, anchor, protocol).
    fn day(&self, args: &[&str]) -> Command {
        let mut c = zeal();
        c.args(self.args(args, true)).args([
            "--region",
            REGION,
            "--day",
            "2020-07-01",
            "--authority",
            &self.path("authority.pub"),
            "--beacon-anchor",
            &self.anchor,
            "--protocol-file",
            &self.path("protocol.toml"),
            "--phase-secs",
            "4",
        ]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// A gateway process for the meters at `indices`, with one round of readings.
    fn gateway(&self, name: &str, indices: &[usize]) -> Child {
        let mut csv = String::from("meter,interval_start,import_wh,export_wh\n");
        for &i in indices {
            for q in 0..4 {
                let (imp, exp) = reading(i, q);
                let at = ROUND_MS + q as i64 * 900_000;
                csv += &format!("{},{at},{imp},{exp}\n", self.meters[i]);
            }
        }
        let file = self.dir.join(format!("{name}.csv"));
        std::fs::write(&file, csv).unwrap();
        self.day(&[
            "v2",
            "gateway",
            "--state-dir",
            &self.path(name),
            "--aggregator",
            &self.aggregator_pub,
            "--readings",
            file.to_str().unwrap(),
        ])
        .spawn()
        .unwrap()
    }

    fn aggregator(&self) -> Child {
        self.day(&[
            "v2",
            "aggregate",
            "--key-file",
            &self.path("aggregator/aggregator.key"),
            "--round",
            "2020-07-01T10:00Z",
        ])
        .spawn()
        .unwrap()
    }

    fn audit(&self, aggregator: &str) -> Output {
        self.day(&["v2", "audit", "--aggregator", aggregator])
            .output()
            .unwrap()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_all(children: Vec<(&str, Child)>) -> BTreeMap<String, Output> {
    children
        .into_iter()
        .map(|(name, child)| (name.to_string(), finish(child, Duration::from_secs(300))))
        .collect()
}

#[test]
fn gateways_aggregator_and_audit_as_separate_processes_total_exactly() {
    let r = Region::enrol(&[("gw-a", &[0, 1, 2]), ("gw-b", &[3, 4, 5])]);
    let outputs = wait_all(vec![
        ("gw-a", r.gateway("gw-a", &[0, 1, 2])),
        ("gw-b", r.gateway("gw-b", &[3, 4, 5])),
        ("aggregator", r.aggregator()),
    ]);
    let total = total_line(&[0, 1, 2, 3, 4, 5]);
    for (name, out) in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {out:?}");
        assert!(
            stdout.contains(&total),
            "{name} printed:\n{stdout}\nwant: {total}"
        );
    }
    let out = ok(r.audit(&r.aggregator_pub));
    assert!(out.contains(&total), "{out}");
    assert!(out.contains("0 evidence"), "{out}");

    // An audit trusting another aggregator key verifies nothing and says so (exit 1).
    let other = zeal_protocol::v2::enrolment::key_to_hex(
        &zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
    );
    let out = r.audit(&other);
    assert!(!out.status.success(), "{out:?}");
}

/// Issue 11 attack 2 through the broker with the rogue gateway as its own OS process: it copies
/// an honest meter's commitment as its own, reveals that meter's notice relabelled, and forges a
/// Withdraw in the target's name and a FinalSet in the aggregator's. The total is the honest
/// meters' exactly; the audit names the rogue's notice as refused and finds no evidence.
#[test]
fn a_rogue_gateway_process_cannot_copy_or_forge() {
    let r = Region::enrol(&[("gw-honest", &[0, 1, 2, 3, 4]), ("gw-rogue", &[5])]);
    let rogue = r
        .day(&[
            "v2",
            "drill-rogue",
            "--aggregator",
            &r.aggregator_pub,
            "--state-dir",
            &r.path("gw-rogue"),
            "--meter",
            &r.meters[5],
            "--target",
            &r.meters[0],
            "--round",
            "2020-07-01T10:00Z",
        ])
        .spawn()
        .unwrap();
    let outputs = wait_all(vec![
        ("gw-honest", r.gateway("gw-honest", &[0, 1, 2, 3, 4])),
        ("aggregator", r.aggregator()),
        ("rogue", rogue),
    ]);
    let total = total_line(&[0, 1, 2, 3, 4]);
    for (name, out) in &outputs {
        assert!(out.status.success(), "{name}: {out:?}");
    }
    let rogue_out = String::from_utf8_lossy(&outputs["rogue"].stdout);
    assert!(rogue_out.contains("revealed"), "{rogue_out}");
    for name in ["gw-honest", "aggregator"] {
        let stdout = String::from_utf8_lossy(&outputs[name].stdout);
        assert!(stdout.contains(&total), "{name}:\n{stdout}\nwant: {total}");
    }
    let out = ok(r.audit(&r.aggregator_pub));
    assert!(out.contains(&total), "{out}");
    assert!(
        out.contains("5 in the final set, 1 excluded, 0 evidence"),
        "{out}"
    );
}
