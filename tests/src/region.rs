//! A protocol v2 region run as a utility runs it: every party a separate OS process of the `zeal`
//! binary, against a real broker. The authority enrols six meters on a fresh registry topic and
//! signs the day's Cutoff (2020-07-01), the beacon stand-in posts its round, and gateway,
//! aggregator and audit processes derive the day from the registry topic alone and run hourly
//! rounds (four 15-minute intervals each) from 10:00. Used by the process tests
//! (`pipeline/zeal/tests/v2_processes.rs`) and the nemesis soak (`src/bin/zeal-chaos.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::env::{http_response, sample};

/// The region's id.
pub const REGION: &str = "NL-PROC-01";
/// 2020-07-01T10:00Z, the first round's start.
pub const ROUND_MS: i64 = 1_593_597_600_000;
/// One round.
pub const HOUR_MS: i64 = 3_600_000;
/// The test region's protocol file: small regions seat every meter.
pub const SMALL: &str = "min_roster = 3\nparticipation = { num = 1, den = 2 }\n";
/// Five seats of six meters, a threshold of 1 (two partials decrypt): one meter has no seat,
/// and a round survives a seat that is down.
pub const FIVE_SEATS: &str =
    "min_roster = 3\ncommittee_size = 5\nthreshold = 1\nparticipation = { num = 1, den = 2 }\n";

/// Waits for a spawned process, killing it after `limit`.
pub fn finish(mut child: Child, limit: Duration) -> Output {
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

/// Meter `i`'s (import, export) reading in interval `interval` of round `round` (0 = 10:00, 1 = 11:00).
pub fn reading(i: usize, round: usize, interval: usize) -> (u64, u64) {
    (
        120 + 17 * i as u64 + 3 * interval as u64 + 50 * round as u64,
        (i as u64 * 7 + interval as u64 + round as u64) % 40,
    )
}

/// A round's 8 values (4 intervals × import, export) summed over `meters` (roster indices).
pub fn sums(meters: &[usize], round: usize) -> Vec<u64> {
    assert!(round < 3);
    let mut per_value = vec![0u64; 8];
    for &i in meters {
        for q in 0..4 {
            let (imp, exp) = reading(i, round, q);
            per_value[2 * q] += imp;
            per_value[2 * q + 1] += exp;
        }
    }
    per_value
}

pub fn total_line(meters: &[usize]) -> String {
    format!("round 2020-07-01T10:00Z: total {:?}", sums(meters, 0))
}

/// The totals a process printed, by round start as printed.
pub fn totals(out: &Output) -> BTreeMap<String, Vec<u64>> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (round, total) = l.split_once(": round ")?.1.split_once(": total ")?;
            let values = total
                .trim_matches(['[', ']'])
                .split(", ")
                .map(|v| v.parse().unwrap())
                .collect();
            Some((round.to_string(), values))
        })
        .collect()
}

/// The number of round values a gateway dropped, from its summary line
/// (`gateway: … committed, …, N dropped, …`); `None` without a summary.
pub fn dropped(gateway_stdout: &str) -> Option<usize> {
    let summary = gateway_stdout
        .lines()
        .find(|l| l.starts_with("gateway: ") && l.contains(" committed, "))?;
    summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" dropped")?.parse().ok())
}

/// What the printed `totals` lack of every reading of meters `0..meters` over rounds
/// `0..rounds`, per value; an error if they hold more (a reading in two totals).
pub fn unaccounted(
    totals: &BTreeMap<String, Vec<u64>>,
    meters: usize,
    rounds: usize,
) -> Result<Vec<u64>, String> {
    let add = |a: Vec<u64>, b: &Vec<u64>| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
    let all: Vec<usize> = (0..meters).collect();
    let every = (0..rounds).fold(vec![0; 8], |acc, round| add(acc, &sums(&all, round)));
    let printed = totals.values().fold(vec![0; 8], add);
    if printed.iter().zip(&every).any(|(p, e)| p > e) {
        return Err(format!("a reading in two totals: {printed:?} > {every:?}"));
    }
    Ok(every.iter().zip(&printed).map(|(e, p)| e - p).collect())
}

/// Accounts for every reading of meters `0..meters` over rounds `0..rounds` in the printed
/// `totals` (as [`totals`] parses them): no reading is in two totals, and what is in none is
/// exactly what `victim` may lack by DESIGN §4 — the values of `dropped` of its rounds (listed,
/// but neither revealed nor withdrawn before RevealClosed: its parts may be out) plus a suffix
/// of its rounds still carried when the run ended (a gateway resumed behind may miss later
/// commit phases, and a round whose CommitClosed omits it carries everything it holds). Without
/// a victim nothing may be missing. Returns what is missing, or why the accounting fails.
pub fn account(
    totals: &BTreeMap<String, Vec<u64>>,
    meters: usize,
    rounds: usize,
    victim: Option<usize>,
    dropped: usize,
) -> Result<Vec<u64>, String> {
    let add = |a: Vec<u64>, b: &Vec<u64>| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
    let missing = unaccounted(totals, meters, rounds)?;
    let Some(victim) = victim else {
        return match missing.iter().all(|&m| m == 0) {
            true => Ok(missing),
            false => Err(format!("readings in no total: {missing:?}")),
        };
    };
    // Every set of the victim's rounds made of `dropped` rounds before a carried suffix.
    let allowed: Vec<Vec<u64>> = (0..1u32 << rounds)
        .filter(|set| {
            (0..=rounds).any(|k| {
                let suffix = ((1u32 << rounds) - 1) & !((1u32 << k) - 1);
                set & suffix == suffix && (set & !suffix).count_ones() as usize == dropped
            })
        })
        .map(|set| {
            (0..rounds)
                .filter(|r| set & (1 << r) != 0)
                .fold(vec![0; 8], |acc, r| add(acc, &sums(&[victim], r)))
        })
        .collect();
    match allowed.contains(&missing) {
        true => Ok(missing),
        false => Err(format!(
            "missing from the totals {missing:?}, allowed {allowed:?}"
        )),
    }
}

/// A region of six meters enrolled on a fresh registry topic, with its Cutoff and beacon round.
pub struct Region {
    /// The `zeal` binary every party runs.
    bin: PathBuf,
    /// Keys, readings, ledgers and the protocol file (removed when dropped).
    pub dir: PathBuf,
    broker: Vec<String>,
    /// The meters' ids, by roster index.
    pub meters: Vec<String>,
    /// The beacon's anchor.
    pub anchor: String,
    /// The aggregator's public key (hex).
    pub aggregator_pub: String,
}

impl Region {
    /// Six meters enrolled by `bin` on the broker at `bootstrap`, whose identity keys are all in
    /// `keys/` (gateways serving disjoint meters share it: ledgers are per meter), under the
    /// protocol file `protocol`.
    pub fn enrol(bin: &Path, protocol: &str, bootstrap: &str) -> Region {
        let prefix = format!("{}.", crate::unique("v2-procs"));
        let dir = std::env::temp_dir().join(crate::unique("zeal-v2-procs"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Region {
            bin: bin.to_path_buf(),
            dir,
            broker: vec![
                "--bootstrap".into(),
                bootstrap.to_string(),
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
        {
            let out = r.call(
                &[
                    "keys",
                    "--state-dir",
                    &r.path("keys"),
                    "--meters",
                    &r.meters.join(","),
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
        std::fs::write(r.dir.join("protocol.toml"), protocol).unwrap();
        r
    }

    /// `p` inside the region's directory.
    pub fn path(&self, p: &str) -> String {
        self.dir.join(p).to_str().unwrap().to_string()
    }

    /// `args`, with the broker's arguments (bootstrap, topic prefix) if `broker`.
    pub fn args(&self, args: &[&str], broker: bool) -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if broker {
            v.extend(self.broker.iter().cloned());
        }
        v
    }

    /// The `zeal` binary as a command: the caller's `ZEAL_TOPIC_PREFIX` removed, logs at `warn`.
    pub fn zeal(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env_remove("ZEAL_TOPIC_PREFIX").env("RUST_LOG", "warn");
        c
    }

    /// Runs `zeal args` (with the broker's arguments if `broker`); its stdout, or a panic with
    /// everything it said.
    pub fn call(&self, args: &[&str], broker: bool) -> String {
        let out = self.zeal().args(self.args(args, broker)).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// A v2 command with the day's arguments (broker, region, day, authority, anchor, protocol).
    pub fn day(&self, args: &[&str]) -> Command {
        self.day_with_phase(args, "4")
    }

    /// [`Region::day`] with `phase` seconds a protocol phase.
    pub fn day_with_phase(&self, args: &[&str], phase: &str) -> Command {
        let mut c = self.zeal();
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
            phase,
        ]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// A gateway process for the meters at `indices`, with one round of readings.
    pub fn gateway(&self, name: &str, indices: &[usize]) -> Child {
        self.gateway_with(name, indices, 1, &[], "4")
    }

    /// A gateway process for the meters at `indices` with `rounds` hourly rounds of readings
    /// from 10:00, `extra` arguments and `phase` seconds a phase, on the shared `keys/`.
    pub fn gateway_with(
        &self,
        name: &str,
        indices: &[usize],
        rounds: usize,
        extra: &[&str],
        phase: &str,
    ) -> Child {
        self.gateway_in(&self.path("keys"), name, indices, rounds, extra, phase)
    }

    /// [`Region::gateway_with`] on the state directory `state`.
    pub fn gateway_in(
        &self,
        state: &str,
        name: &str,
        indices: &[usize],
        rounds: usize,
        extra: &[&str],
        phase: &str,
    ) -> Child {
        let mut csv = String::from("meter,interval_start,import_wh,export_wh\n");
        for &i in indices {
            for round in 0..rounds {
                for q in 0..4 {
                    let (imp, exp) = reading(i, round, q);
                    let at = ROUND_MS + round as i64 * HOUR_MS + q as i64 * 900_000;
                    csv += &format!("{},{at},{imp},{exp}\n", self.meters[i]);
                }
            }
        }
        let file = self.dir.join(format!("{name}.csv"));
        std::fs::write(&file, csv).unwrap();
        let mut args = vec![
            "gateway",
            "--state-dir",
            state,
            "--aggregator",
            &self.aggregator_pub,
            "--readings",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.day_with_phase(&args, phase).spawn().unwrap()
    }

    /// Household `index` grants consent to share its readings including its gateway's history,
    /// as a household at the utility's desk would: it reads the history code off its gateway
    /// (`zeal share --pairing-code`) and the consent app (`zeal consent grant --history`, its key
    /// made on first use) publishes the grant. The app's public key is `consent.pub`.
    pub fn grant_history(&self, index: usize) {
        let meter = self.meters[index].as_str();
        let (key, public) = (self.path("consent.key"), self.path("consent.pub"));
        self.call(&["consent", "init", "--key-file", &key], false);
        let codes = self.call(
            &[
                "share",
                "--region",
                REGION,
                "--state-dir",
                &self.path("keys"),
                "--meters",
                meter,
                "--consent-app",
                &public,
                "--pairing-code",
                meter,
            ],
            true,
        );
        let code = codes
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no history code in {codes:?}"));
        self.call(
            &[
                "consent",
                "grant",
                "--consent-key",
                &key,
                "--household",
                meter,
                "--region",
                REGION,
                "--code",
                code,
                "--history",
            ],
            true,
        );
    }

    /// `zeal share` over the readings CSV of gateway `name` (once, to its end), trusting the
    /// consent app of [`Region::grant_history`]: its stdout.
    pub fn share(&self, name: &str) -> String {
        let key = self.path("consent.key");
        self.call(&["consent", "init", "--key-file", &key], false);
        self.call(
            &[
                "share",
                "--region",
                REGION,
                "--state-dir",
                &self.path("keys"),
                "--readings",
                &self.path(&format!("{name}.csv")),
                "--consent-app",
                &self.path("consent.pub"),
            ],
            true,
        )
    }

    /// An aggregator process for round 10:00 with 4 s phases.
    pub fn aggregator(&self) -> Child {
        self.aggregator_with(&["2020-07-01T10:00Z"], "4")
    }

    /// An aggregator process for `rounds` with `phase` seconds a phase.
    pub fn aggregator_with(&self, rounds: &[&str], phase: &str) -> Child {
        self.aggregator_args(rounds, phase, &[])
    }

    /// An aggregator process for `rounds` with `extra` arguments.
    pub fn aggregator_args(&self, rounds: &[&str], phase: &str, extra: &[&str]) -> Child {
        let key = self.path("aggregator/aggregator.key");
        let mut args = vec!["aggregate", "--key-file", &key];
        for r in rounds {
            args.extend(["--round", r]);
        }
        args.extend_from_slice(extra);
        self.day_with_phase(&args, phase).spawn().unwrap()
    }

    /// The rogue drill as its own process: meter `rogue` attacks `target`.
    pub fn rogue(&self, attack: &str, rogue: usize, target: usize) -> Child {
        self.day(&[
            "drill-rogue",
            "--attack",
            attack,
            "--aggregator",
            &self.aggregator_pub,
            "--state-dir",
            &self.path("keys"),
            "--meter",
            &self.meters[rogue],
            "--target",
            &self.meters[target],
            "--round",
            "2020-07-01T10:00Z",
        ])
        .spawn()
        .unwrap()
    }

    /// The audit of the day, trusting the aggregator key `aggregator` (hex).
    pub fn audit(&self, aggregator: &str) -> Output {
        self.day(&["audit", "--aggregator", aggregator])
            .output()
            .unwrap()
    }
}

impl Region {
    /// The region's dead letters, counted by who refused them, why and the start of the detail
    /// with digits masked (`aggregator: Duplicate (more than # distinct parts …)`).
    pub fn dead_letters(&self) -> BTreeMap<String, usize> {
        let kafka = zeal_connectors::kafka::KafkaConfig::new(self.broker[1].clone(), "zt-letters");
        let topic = zeal_connectors::kafka::TopicNames::with_prefix(&self.broker[3]).dlq;
        let records = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(crate::read_topic(&kafka, &topic));
        let mut by = BTreeMap::new();
        for r in records {
            let key = match zeal_schemas::decode::<zeal_schemas::DeadLetter>(&r.payload) {
                Ok(d) => {
                    // The detail without what differs per record (numbers, ids).
                    let detail: String = d
                        .detail
                        .chars()
                        .take(60)
                        .map(|c| if c.is_ascii_digit() { '#' } else { c })
                        .collect();
                    format!("{}: {:?} ({detail})", d.rejected_by, d.reason)
                }
                Err(e) => format!("undecodable letter: {e}"),
            };
            *by.entry(key).or_insert(0) += 1;
        }
        by
    }

    /// Copies meter `i`'s identity key into the state directory `state` (a gateway of its own).
    pub fn copy_identity(&self, i: usize, state: &Path) {
        let key = format!("{}.key", self.meters[i]);
        std::fs::copy(self.dir.join("keys").join(&key), state.join(&key)).unwrap();
    }

    /// The roster indices of the meters that hold a seat on a committee of `size` (drawn from
    /// the day's beacon round, as every process draws it).
    pub fn seated(&self, size: usize) -> Vec<usize> {
        use zeal_protocol::v2::committee::Committee;
        use zeal_protocol::v2::enrolment::{BeaconRound, beacon_round_of};
        let seed: [u8; 32] = std::fs::read(self.path("beacon.seed"))
            .unwrap()
            .try_into()
            .unwrap();
        let day = ROUND_MS / 1000 / 86_400;
        let beacon = BeaconRound::produce(&seed, beacon_round_of(day))
            .output(&BeaconRound::anchor(&seed))
            .unwrap();
        let committee = Committee::draw(&beacon, day, REGION, &self.meters, size);
        (0..self.meters.len())
            .filter(|&i| committee.rank(&self.meters[i]).is_some())
            .collect()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn wait_all(children: Vec<(&str, Child)>) -> BTreeMap<String, Output> {
    children
        .into_iter()
        .map(|(name, child)| (name.to_string(), finish(child, Duration::from_secs(300))))
        .collect()
}

/// A small tmpfs mounted on a directory (unmounted when dropped), to be filled.
pub struct TinyDisk(PathBuf);

impl TinyDisk {
    /// Mounts 256 KiB on `dir`, or `None` where this process may not mount.
    pub fn mount(dir: &Path) -> Option<TinyDisk> {
        Self::mount_sized(dir, "256k")
    }

    /// Mounts `size` (as `mount -o size=` takes it) on `dir`, or `None` where this process may
    /// not mount.
    pub fn mount_sized(dir: &Path, size: &str) -> Option<TinyDisk> {
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyDisk(dir.to_path_buf()))
    }

    /// Writes a filler file until the disk is full.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = [0u8; 4096];
        while f.write_all(&chunk).and_then(|_| f.sync_all()).is_ok() {}
    }

    /// Removes the filler.
    pub fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Waits until the metrics at `addr` show `series` at 1 or more, failing after 180 s or when
/// `child`, if given, exits first.
pub fn wait_for_metric(child: Option<&mut Child>, addr: std::net::SocketAddr, series: &str) {
    if let Err(e) = metric_reached(child, addr, series, Duration::from_secs(180)) {
        panic!("{e}");
    }
}

/// Waits until the metrics at `addr` show `series` at 1 or more; why not, when `child`, if
/// given, exits first or `limit` passes.
pub fn metric_reached(
    mut child: Option<&mut Child>,
    addr: std::net::SocketAddr,
    series: &str,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(c) = child.as_mut()
            && let Some(status) = c.try_wait().unwrap()
        {
            return Err(format!("exited ({status}) before {series} reached 1"));
        }
        let value = http_response(addr, "/metrics")
            .ok()
            .and_then(|(_, text)| sample(&text, series))
            .unwrap_or(0.0);
        if value >= 1.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{series} not 1 within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
