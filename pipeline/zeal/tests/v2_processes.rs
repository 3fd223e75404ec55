//! Protocol v2 as a utility runs it: every party a separate OS process of the `zeal` binary,
//! against the real broker. The authority enrols six meters on the registry topic and signs the
//! day's Cutoff, the beacon stand-in posts its round, two gateway processes (three households
//! each, the seats among them) and an aggregator process derive the day from the registry topic
//! alone and run an hourly round; every process reports the plaintext sum, and `zeal v2 audit`
//! re-verifies it from the topics.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn gateways_aggregator_and_audit_as_separate_processes_total_exactly() {
    let kafka = zeal_tests::kafka();
    let prefix = format!("{}.", zeal_tests::unique("v2-procs"));
    let broker: Vec<String> = vec![
        "--bootstrap".into(),
        kafka.bootstrap.clone(),
        "--topic-prefix".into(),
        prefix.clone(),
    ];
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-v2-procs"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |p: &str| dir.join(p).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut c = zeal();
        c.args(args);
        ok(c.output().unwrap())
    };
    let with_broker = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|s| s.to_string())
            .chain(broker.iter().cloned())
            .collect()
    };
    let call = |args: Vec<String>| {
        let mut c = zeal();
        c.args(&args);
        ok(c.output().unwrap())
    };

    call(with_broker(&["topics", "create", "--partitions", "2"]));
    run(&["authority", "init", "--key-file", &path("authority.key")]);
    let authority = path("authority.pub");
    let region = "NL-PROC-01";
    let meters: Vec<String> = (0..6).map(|i| format!("{region}-m{i:04}")).collect();
    let gateways = [("gw-a", &meters[..3]), ("gw-b", &meters[3..])];
    for (gw, ms) in &gateways {
        let out = run(&[
            "v2",
            "keys",
            "--state-dir",
            &path(gw),
            "--meters",
            &ms.join(","),
        ]);
        for line in out.lines() {
            let (meter, public) = line.split_once(' ').unwrap();
            call(with_broker(&[
                "enrol",
                "--key-file",
                &path("authority.key"),
                "--meter",
                meter,
                "--region",
                region,
                "--identity",
                public,
                "--valid-from",
                "2020-06-01",
                "--publish",
            ]));
        }
    }
    let agg = run(&[
        "v2",
        "keys",
        "--state-dir",
        &path("aggregator"),
        "--meters",
        "aggregator",
    ]);
    let aggregator_pub = agg.split_whitespace().nth(1).unwrap().to_string();
    call(with_broker(&[
        "authority",
        "cutoff",
        "--key-file",
        &path("authority.key"),
        "--day",
        "2020-07-01",
    ]));
    let beacon = call(with_broker(&[
        "authority",
        "beacon",
        "--seed-file",
        &path("beacon.seed"),
        "--day",
        "2020-07-01",
    ]));
    let anchor = beacon
        .lines()
        .find_map(|l| l.strip_prefix("beacon anchor: "))
        .unwrap()
        .to_string();
    std::fs::write(
        dir.join("protocol.toml"),
        "min_roster = 3\nparticipation = { num = 1, den = 2 }\n",
    )
    .unwrap();
    let day_args = |extra: &[&str]| -> Vec<String> {
        let mut v = with_broker(extra);
        v.extend(
            [
                "--region",
                region,
                "--day",
                "2020-07-01",
                "--authority",
                &authority,
                "--beacon-anchor",
                &anchor,
                "--protocol-file",
                &path("protocol.toml"),
                "--phase-secs",
                "4",
            ]
            .map(String::from),
        );
        v
    };

    // The readings of one hourly round (four 15-minute intervals), one CSV per gateway.
    let mut expected = [0u64; 2];
    let mut children = Vec::new();
    for (gw, ms) in &gateways {
        let mut csv = String::from("meter,interval_start,import_wh,export_wh\n");
        for m in ms.iter() {
            let i = meters.iter().position(|x| x == m).unwrap();
            for q in 0..4 {
                let (imp, exp) = reading(i, q);
                expected[0] += imp;
                expected[1] += exp;
                csv += &format!(
                    "{m},{},{imp},{exp}\n",
                    1_593_597_600_000i64 + q as i64 * 900_000
                );
            }
        }
        let file = dir.join(format!("{gw}.csv"));
        std::fs::write(&file, csv).unwrap();
        let mut c = zeal();
        c.args(day_args(&[
            "v2",
            "gateway",
            "--state-dir",
            &path(gw),
            "--aggregator",
            &aggregator_pub,
            "--readings",
            file.to_str().unwrap(),
        ]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        children.push((gw.to_string(), c.spawn().unwrap()));
    }
    let mut c = zeal();
    c.args(day_args(&[
        "v2",
        "aggregate",
        "--key-file",
        &path("aggregator/aggregator.key"),
        "--round",
        "2020-07-01T10:00Z",
    ]))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    children.push(("aggregator".into(), c.spawn().unwrap()));

    let outputs: BTreeMap<String, Output> = children
        .into_iter()
        .map(|(name, child)| (name, finish(child, Duration::from_secs(300))))
        .collect();
    // Per value of the round: 4 intervals × (import, export), summed over the six meters.
    let mut per_value = vec![0u64; 8];
    for (i, _) in meters.iter().enumerate() {
        for q in 0..4 {
            let (imp, exp) = reading(i, q);
            per_value[2 * q] += imp;
            per_value[2 * q + 1] += exp;
        }
    }
    let total = format!("round 2020-07-01T10:00Z: total {per_value:?}");
    for (name, out) in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {out:?}");
        assert!(
            stdout.contains(&total),
            "{name} printed:\n{stdout}\nwant: {total}"
        );
    }
    assert_eq!(per_value.iter().step_by(2).sum::<u64>(), expected[0]);

    let out = call(day_args(&["v2", "audit", "--aggregator", &aggregator_pub]));
    assert!(out.contains(&total), "{out}");
    assert!(out.contains("0 evidence"), "{out}");

    // An audit trusting another aggregator key verifies nothing and says so (exit 1).
    let mut c = zeal();
    let other = zeal_protocol::v2::enrolment::key_to_hex(
        &zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
    );
    c.args(day_args(&["v2", "audit", "--aggregator", &other]));
    let out = c.output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
