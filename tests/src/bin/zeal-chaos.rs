//! The nemesis soak (issue 14): protocol v2 regions run as separate `zeal` processes, one after
//! another for `--minutes`, each under one fault drawn at random, each ended by the same exact
//! accounting. Run it with the services up:
//!
//! ```text
//! bash tests/run.sh -- target/debug/zeal-chaos --minutes 60 [--seed N] [--zeal PATH]
//! ```
//!
//! An episode enrols six meters on fresh topics (five seats, threshold 1), starts the
//! aggregator and two gateways (five meters, and a victim meter of its own) for three hourly
//! rounds, and injects its fault at a protocol step it observes on the processes' metrics:
//! a gateway SIGKILLed after its commitment, its notice or (a seat) its first partial and
//! started again; a gateway crashing after committing (`--drill-crash-after-commit`), paused past
//! the reveals, or whose disk is full; the aggregator SIGKILLed after a marker and replaced, or
//! paused past its deadlines while a replacement runs and then resumed (a zombie); the broker
//! SIGKILLed mid-round and restarted; every connection through a slow proxy dropped every 2 s.
//! Then: every round has exactly one outcome; totals account for every reading exactly
//! (`zeal_tests::region::account`: none in two totals, what is in none is what DESIGN §4 lets
//! the victim drop or still carry); the audit reports the same outcomes with no evidence beyond
//! late (second) markers. Prints one line per episode and a table by fault; exits 1 if any
//! episode broke the accounting (its processes' output is kept under `--keep DIR`, default
//! `chaos-failures/`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zeal_tests::env::signal;
use zeal_tests::fault_proxy::{FaultProxy, PrivateBroker, free_addr};
use zeal_tests::region::{
    FIVE_SEATS, Region, TinyDisk, account, dropped, finish, metric_reached, totals, unaccounted,
};

/// The rounds of an episode.
const HOURS: [&str; 3] = [
    "2020-07-01T10:00Z",
    "2020-07-01T11:00Z",
    "2020-07-01T12:00Z",
];
/// Longest an episode's process may run.
const LIMIT: Duration = Duration::from_secs(420);

/// One fault, at one protocol step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Nemesis {
    /// No fault: the control.
    Calm,
    /// The victim gateway (a seat or not) SIGKILLed once its metrics count a published `kind`
    /// (commit, notice, partial), and started again.
    KillGateway { seat: bool, after: &'static str },
    /// The victim gateway exits right after committing 10:00 and is started again.
    CrashAfterCommit { seat: bool },
    /// The victim gateway SIGSTOPped after committing, SIGCONTed after 10:00's total.
    PauseGateway,
    /// The victim gateway's state directory full until 10:00's commitments closed.
    DiskFull,
    /// The aggregator SIGKILLed after posting `after` (a marker kind); a replacement starts.
    KillAggregator { after: &'static str },
    /// The aggregator SIGSTOPped after posting `after`; a replacement finishes; then SIGCONT.
    ZombieAggregator { after: &'static str },
    /// The region's own broker SIGKILLed after the aggregator's first CommitClosed and
    /// restarted 3 s later on the same storage.
    KillBroker,
    /// The region's own broker's disk (a 64 MiB tmpfs) filled after the aggregator's first
    /// CommitClosed and freed 10 s later.
    BrokerDiskFull,
    /// The region's own broker behind a proxy adding 30 ms each way and dropping every
    /// connection every 2 s.
    DropConnections,
}

impl Nemesis {
    fn draw(rng: &mut ChaCha8Rng) -> Nemesis {
        let markers = ["commit_closed", "reveal_closed", "products", "region_total"];
        let pick =
            |rng: &mut ChaCha8Rng, from: &[&'static str]| from[rng.random_range(0..from.len())];
        match rng.random_range(0..11) {
            0 => Nemesis::Calm,
            1 => {
                let seat = rng.random_bool(0.5);
                let steps: &[&'static str] = match seat {
                    true => &["commit", "notice", "partial"],
                    false => &["commit", "notice"],
                };
                Nemesis::KillGateway {
                    seat,
                    after: pick(rng, steps),
                }
            }
            2 => Nemesis::KillGateway {
                seat: true,
                after: "partial",
            },
            3 => Nemesis::CrashAfterCommit {
                seat: rng.random_bool(0.5),
            },
            4 => Nemesis::PauseGateway,
            5 => Nemesis::DiskFull,
            6 => Nemesis::KillAggregator {
                after: pick(rng, &markers),
            },
            7 => Nemesis::ZombieAggregator {
                after: pick(rng, &markers[..3]),
            },
            8 => Nemesis::KillBroker,
            9 => Nemesis::BrokerDiskFull,
            _ => Nemesis::DropConnections,
        }
    }

    /// Its kind, for the table.
    fn kind(self) -> String {
        match self {
            Nemesis::Calm => "none".into(),
            Nemesis::KillGateway { seat, after } => {
                format!("gateway SIGKILL after {after} ({})", seat_word(seat))
            }
            Nemesis::CrashAfterCommit { seat } => {
                format!("gateway exits after commit ({})", seat_word(seat))
            }
            Nemesis::PauseGateway => "gateway SIGSTOP past the reveals".into(),
            Nemesis::DiskFull => "gateway disk full".into(),
            Nemesis::KillAggregator { after } => format!("aggregator SIGKILL after {after}"),
            Nemesis::ZombieAggregator { after } => format!("aggregator zombie after {after}"),
            Nemesis::KillBroker => "broker SIGKILL + restart".into(),
            Nemesis::BrokerDiskFull => "broker disk full for 10 s".into(),
            Nemesis::DropConnections => "connections dropped every 2 s".into(),
        }
    }

    /// Whether the victim gateway is a seat.
    fn seat(self) -> bool {
        matches!(
            self,
            Nemesis::KillGateway { seat: true, .. } | Nemesis::CrashAfterCommit { seat: true }
        )
    }

    /// Seconds a protocol phase: longer where clients must reconnect.
    fn phase(self) -> &'static str {
        match self {
            Nemesis::DropConnections => "15",
            Nemesis::KillBroker | Nemesis::BrokerDiskFull => "10",
            _ => "6",
        }
    }
}

fn seat_word(seat: bool) -> &'static str {
    if seat { "a seat" } else { "no seat" }
}

/// What one episode showed.
#[derive(Default)]
struct Outcome {
    /// Rounds with a total.
    totals: usize,
    /// Rounds with another outcome (ABANDONED, …), agreed by the audit.
    other: usize,
    /// The region's dead letters, by who refused them and why.
    letters: BTreeMap<String, usize>,
    /// Late markers of a zombie the audit named.
    late_markers: usize,
    /// Markers the audit reported as raced.
    raced: usize,
    /// Meter-round values the gateways dropped (DESIGN §4), and whether the victim still
    /// carried some at the end.
    dropped: usize,
    carried_at_end: bool,
}

struct Args {
    minutes: f64,
    seed: u64,
    zeal: PathBuf,
    keep: PathBuf,
    /// Only faults whose kind contains this.
    only: Option<String>,
}

fn args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut a = Args {
        minutes: 60.0,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs(),
        zeal: exe.with_file_name("zeal"),
        keep: PathBuf::from("chaos-failures"),
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--minutes" => a.minutes = value()?.parse().map_err(|e| format!("--minutes: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--zeal" => a.zeal = PathBuf::from(value()?),
            "--keep" => a.keep = PathBuf::from(value()?),
            "--only" => a.only = Some(value()?),
            "-h" | "--help" => {
                println!(
                    "zeal-chaos [--minutes N (60)] [--seed N] [--zeal PATH] [--keep DIR] [--only TEXT]\n\
                     --only: draw only faults whose kind (as printed) contains TEXT\n\
                     Run with the services up: bash tests/run.sh -- target/debug/zeal-chaos ..."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    if !a.zeal.is_file() {
        return Err(format!(
            "{} is not the zeal binary: build it (cargo build -p zeal) or pass --zeal PATH",
            a.zeal.display()
        ));
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("zeal-chaos: {e}");
            std::process::exit(2);
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    println!(
        "zeal-chaos: seed {}, {} minutes, {}",
        a.seed,
        a.minutes,
        a.zeal.display()
    );
    let start = Instant::now();
    let budget = Duration::from_secs_f64(a.minutes * 60.0);
    // Per kind: episodes, rounds totalled, other outcomes, letters, late markers, raced,
    // values dropped, failures.
    let mut table: BTreeMap<String, [u64; 8]> = BTreeMap::new();
    let mut reasons: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut failures = 0;
    let mut episode = 0;
    while start.elapsed() < budget {
        episode += 1;
        let nemesis = loop {
            let n = Nemesis::draw(&mut rng);
            if a.only
                .as_ref()
                .is_none_or(|only| n.kind().contains(only.as_str()))
            {
                break n;
            }
        };
        let t = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&a.zeal, nemesis, episode, &a.keep)
        }));
        let row = table.entry(nemesis.kind()).or_default();
        row[0] += 1;
        let said = match result {
            Ok(Ok(o)) => {
                row[1] += o.totals as u64;
                row[2] += o.other as u64;
                row[3] += o.letters.values().sum::<usize>() as u64;
                for (why, n) in &o.letters {
                    *reasons.entry((nemesis.kind(), why.clone())).or_default() += *n as u64;
                }
                row[4] += o.late_markers as u64;
                row[5] += o.raced as u64;
                row[6] += o.dropped as u64;
                let mut s = format!("{} totals exact", o.totals);
                if o.other > 0 {
                    let _ = write!(s, ", {} other outcomes agreed by the audit", o.other);
                }
                if o.dropped > 0 || o.carried_at_end {
                    let _ = write!(
                        s,
                        ", {} values dropped{}",
                        o.dropped,
                        if o.carried_at_end {
                            ", the victim still carries"
                        } else {
                            ""
                        }
                    );
                }
                let _ = write!(s, ", dead letters {:?}, audit clean", o.letters);
                if o.late_markers > 0 {
                    let _ = write!(s, " (named {} late markers)", o.late_markers);
                }
                s
            }
            Ok(Err(e)) => {
                row[7] += 1;
                failures += 1;
                format!("FAILED: {e}")
            }
            Err(_) => {
                row[7] += 1;
                failures += 1;
                "FAILED: the harness panicked (above)".into()
            }
        };
        println!(
            "episode {episode} [{:>5.1} min] {}: {said} ({:.0} s)",
            start.elapsed().as_secs_f64() / 60.0,
            nemesis.kind(),
            t.elapsed().as_secs_f64()
        );
    }
    println!(
        "\n| fault | episodes | rounds totalled exactly | other outcomes (audit agrees) | dead letters | late markers named | raced markers | values dropped (DESIGN §4) | accounting failures |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut sum = [0u64; 8];
    for (kind, row) in &table {
        let cells: Vec<String> = row.iter().map(u64::to_string).collect();
        println!("| {kind} | {} |", cells.join(" | "));
        for (s, v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
    let cells: Vec<String> = sum.iter().map(u64::to_string).collect();
    println!("| **all** | {} |", cells.join(" | "));
    println!("\n| fault | dead letters: refused by, reason | count |\n|---|---|---|");
    for ((kind, why), n) in &reasons {
        println!("| {kind} | {why} | {n} |");
    }
    println!(
        "zeal-chaos: {episode} episodes in {:.1} min, seed {}, {failures} failed",
        start.elapsed().as_secs_f64() / 60.0,
        a.seed
    );
    std::process::exit(i32::from(failures > 0));
}

/// The running processes of an episode, by name; a process replaced keeps its output under
/// `name#1`, `name#2`, ….
struct Procs {
    running: Vec<(String, Child)>,
    done: BTreeMap<String, Output>,
}

impl Procs {
    fn take(&mut self, name: &str) -> Child {
        let i = self
            .running
            .iter()
            .position(|(n, _)| n == name)
            .expect("a running process");
        self.running.remove(i).1
    }

    /// Keeps a stopped process's output under a fresh name.
    fn retire(&mut self, name: &str, out: Output) {
        let n = (1..).find(|n| !self.done.contains_key(&format!("{name}#{n}")));
        self.done.insert(format!("{name}#{}", n.unwrap()), out);
    }

    fn kill_and_retire(&mut self, name: &str) {
        let mut child = self.take(name);
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        self.retire(name, out);
    }

    fn pid(&self, name: &str) -> String {
        let (_, c) = self.running.iter().find(|(n, _)| n == name).unwrap();
        c.id().to_string()
    }

    fn child(&mut self, name: &str) -> &mut Child {
        &mut self.running.iter_mut().find(|(n, _)| n == name).unwrap().1
    }

    fn wait_all(mut self) -> BTreeMap<String, Output> {
        for (name, child) in std::mem::take(&mut self.running) {
            self.done.insert(name, finish(child, LIMIT));
        }
        std::mem::take(&mut self.done)
    }
}

/// An episode that ends early (an error or a panic) leaves no process behind.
impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One episode under `nemesis`; its accounting, or why it failed (outputs kept under `keep`).
fn run(zeal: &Path, nemesis: Nemesis, episode: u32, keep: &Path) -> Result<Outcome, String> {
    let limit = Duration::from_secs(240);
    // Declared first, dropped last: the broker stops before its disk is unmounted.
    let mut broker_disk = None;
    let mut private = None;
    let mut proxy = None;
    let bootstrap = match nemesis {
        Nemesis::BrokerDiskFull => {
            let listen = free_addr();
            let dir = PrivateBroker::fresh_dir();
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            broker_disk =
                Some(TinyDisk::mount_sized(&dir, "64m").ok_or("cannot mount a tmpfs here")?);
            private = Some(PrivateBroker::start_in(dir, listen, listen));
            listen.to_string()
        }
        Nemesis::KillBroker => {
            let listen = free_addr();
            private = Some(PrivateBroker::start(listen, listen));
            listen.to_string()
        }
        Nemesis::DropConnections => {
            let listen = free_addr();
            let p = FaultProxy::start(listen);
            private = Some(PrivateBroker::start(listen, p.addr()));
            let addr = p.addr().to_string();
            proxy = Some(p);
            addr
        }
        _ => zeal_tests::kafka().bootstrap,
    };
    let r = Region::enrol(zeal, FIVE_SEATS, &bootstrap);
    let seats = r.seated(5);
    let victim = (0..6)
        .find(|i| seats.contains(i) == nemesis.seat())
        .ok_or("no meter of that kind")?;
    let others: Vec<usize> = (0..6).filter(|&i| i != victim).collect();
    let state = r.dir.join("victim");
    std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
    let disk = match nemesis {
        Nemesis::DiskFull => Some(TinyDisk::mount(&state).ok_or("cannot mount a tmpfs here")?),
        _ => None,
    };
    r.copy_identity(victim, &state);
    if let Some(d) = &disk {
        d.fill();
    }
    let victim_dir = state.to_str().unwrap().to_string();
    let phase = nemesis.phase();
    let agg_metrics = free_addr().to_string();
    let gw_metrics = free_addr().to_string();
    let aggregator = || r.aggregator_args(&HOURS, phase, &["--metrics-addr", &agg_metrics]);
    let mut extra = vec!["--metrics-addr", &gw_metrics];
    if let Nemesis::CrashAfterCommit { .. } = nemesis {
        extra.push("--drill-crash-after-commit");
    }
    let victim_gw =
        |extra: &[&str]| r.gateway_in(&victim_dir, "gw-victim", &[victim], 3, extra, phase);
    let mut p = Procs {
        running: vec![
            ("aggregator".into(), aggregator()),
            (
                "gw-rest".into(),
                r.gateway_with("gw-rest", &others, 3, &[], phase),
            ),
            ("gw-victim".into(), victim_gw(&extra)),
        ],
        done: BTreeMap::new(),
    };
    let agg_addr = agg_metrics.parse().unwrap();
    let gw_addr = gw_metrics.parse().unwrap();
    let marker = |kind: &str| format!("zeal_aggregator_markers_published_total{{kind=\"{kind}\"}}");
    // Waits until the (current) aggregator posted a marker of `kind`.
    let posted = |p: &mut Procs, kind: &str| {
        metric_reached(Some(p.child("aggregator")), agg_addr, &marker(kind), limit)
    };
    let published =
        |kind: &str| format!("zeal_gateway_messages_published_total{{kind=\"{kind}\"}}");
    match nemesis {
        Nemesis::Calm => {}
        Nemesis::KillGateway { after, .. } => {
            metric_reached(
                Some(p.child("gw-victim")),
                gw_addr,
                &published(after),
                limit,
            )?;
            p.kill_and_retire("gw-victim");
            p.running.push(("gw-victim".into(), victim_gw(&[])));
        }
        Nemesis::CrashAfterCommit { .. } => {
            let crashed = p.take("gw-victim");
            let out = finish(crashed, limit);
            if !String::from_utf8_lossy(&out.stdout).contains("1 committed, 0 revealed") {
                p.retire("gw-victim", out);
                return Err(failed(
                    keep,
                    episode,
                    &p.wait_all(),
                    "the drill did not crash after commit",
                ));
            }
            p.retire("gw-victim", out);
            p.running.push(("gw-victim".into(), victim_gw(&[])));
        }
        Nemesis::PauseGateway => {
            metric_reached(
                Some(p.child("gw-victim")),
                gw_addr,
                &published("commit"),
                limit,
            )?;
            signal(&p.pid("gw-victim"), "STOP");
            let closed = "zeal_aggregator_rounds_closed_total{status=\"total\"}";
            let reached = metric_reached(None, agg_addr, closed, limit);
            signal(&p.pid("gw-victim"), "CONT");
            reached?;
        }
        Nemesis::DiskFull => {
            let full = p.take("gw-victim");
            let out = finish(full, limit);
            let full_said = !out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("No space left on device");
            p.retire("gw-victim", out);
            if !full_said {
                return Err(failed(
                    keep,
                    episode,
                    &p.wait_all(),
                    "the full disk went unnoticed",
                ));
            }
            metric_reached(None, agg_addr, &marker("commit_closed"), limit)?;
            disk.as_ref().expect("mounted").free();
            p.running.push(("gw-victim".into(), victim_gw(&[])));
        }
        Nemesis::KillAggregator { after } => {
            posted(&mut p, after)?;
            p.kill_and_retire("aggregator");
            p.running.push(("aggregator".into(), aggregator()));
        }
        Nemesis::ZombieAggregator { after } => {
            posted(&mut p, after)?;
            let zombie = p.take("aggregator");
            signal(&zombie.id().to_string(), "STOP");
            p.running
                .push(("aggregator".into(), r.aggregator_args(&HOURS, phase, &[])));
            let mut outputs = p.wait_all();
            signal(&zombie.id().to_string(), "CONT");
            outputs.insert("zombie".into(), finish(zombie, LIMIT));
            return judge(&r, nemesis, victim, outputs, keep, episode);
        }
        Nemesis::KillBroker => {
            posted(&mut p, "commit_closed")?;
            private
                .as_mut()
                .expect("a private broker")
                .crash_and_restart(Duration::from_secs(3));
        }
        Nemesis::BrokerDiskFull => {
            posted(&mut p, "commit_closed")?;
            let disk = broker_disk.as_ref().expect("a broker disk");
            disk.fill();
            std::thread::sleep(Duration::from_secs(10));
            disk.free();
        }
        Nemesis::DropConnections => {
            let proxy = proxy.as_ref().expect("a proxy");
            proxy.set_latency(Duration::from_millis(30));
            let t = Instant::now();
            while t.elapsed() < LIMIT
                && p.running
                    .iter_mut()
                    .any(|(_, c)| c.try_wait().unwrap().is_none())
            {
                std::thread::sleep(Duration::from_secs(2));
                proxy.drop_connections();
            }
            proxy.set_latency(Duration::ZERO);
        }
    }
    let outputs = p.wait_all();
    judge(&r, nemesis, victim, outputs, keep, episode)
}

/// The episode's accounting from every process's output and the audit's.
fn judge(
    r: &Region,
    nemesis: Nemesis,
    victim: usize,
    outputs: BTreeMap<String, Output>,
    keep: &Path,
    episode: u32,
) -> Result<Outcome, String> {
    let fail =
        |outputs: &BTreeMap<String, Output>, why: String| failed(keep, episode, outputs, &why);
    // Processes that were not stopped from outside exit cleanly.
    for (name, out) in &outputs {
        if !name.contains('#') && !out.status.success() {
            return Err(fail(&outputs, format!("{name} failed: {}", out.status)));
        }
    }
    let final_agg = totals(&outputs["aggregator"]);
    let outcomes = outcomes(&outputs["aggregator"].stdout, "aggregator");
    if outcomes.len() != HOURS.len() {
        return Err(fail(
            &outputs,
            format!("the aggregator decided {outcomes:?}"),
        ));
    }
    // Everything any aggregator process printed agrees with the last one.
    for (name, out) in &outputs {
        if name.starts_with("aggregator#") || name == "zombie" {
            for (round, said) in self::outcomes(&out.stdout, "aggregator") {
                if outcomes.get(&round) != Some(&said) {
                    return Err(fail(&outputs, format!("{name} said {round}: {said}")));
                }
            }
        }
    }
    let Some(dropped) = dropped_by(&outputs["gw-victim"]) else {
        return Err(fail(&outputs, "no summary from the victim gateway".into()));
    };
    // With a total for every round, every reading is accounted for exactly. A round without
    // one (ABANDONED, VOID, LAPSED: liveness outcomes, e.g. behind a connection dropped every
    // 2 s) drops or carries its values by DESIGN §4, and the gateways print how many, not
    // which: then no reading may be in two totals, and the audit must agree on every outcome.
    let other = outcomes
        .values()
        .filter(|o| !o.starts_with("total "))
        .count();
    let checked = match other {
        0 => account(&final_agg, 6, HOURS.len(), Some(victim), dropped),
        _ => unaccounted(&final_agg, 6, HOURS.len()),
    };
    let missing = match checked {
        Ok(m) => m,
        Err(e) => return Err(fail(&outputs, e)),
    };
    let audit = r.audit(&r.aggregator_pub);
    let audit_out = String::from_utf8_lossy(&audit.stdout).to_string();
    let audited = self::outcomes(&audit.stdout, "audit");
    if audited != outcomes {
        return Err(fail(
            &outputs,
            format!("the audit saw {audited:?}:\n{audit_out}"),
        ));
    }
    let evidence: Vec<&str> = audit_out
        .lines()
        .filter(|l| l.contains("evidence: "))
        .collect();
    let late = evidence.iter().filter(|l| l.contains("second ")).count();
    let other = outcomes
        .values()
        .filter(|o| !o.starts_with("total "))
        .count();
    if late < evidence.len() {
        return Err(fail(
            &outputs,
            format!("the audit found evidence:\n{audit_out}"),
        ));
    }
    if audit.status.success() != (evidence.is_empty() && other == 0) {
        return Err(fail(
            &outputs,
            format!("the audit's exit status {}:\n{audit_out}", audit.status),
        ));
    }
    if late > 0
        && !matches!(
            nemesis,
            Nemesis::ZombieAggregator { .. } | Nemesis::KillAggregator { .. }
        )
    {
        return Err(fail(
            &outputs,
            format!("late markers without a second aggregator:\n{audit_out}"),
        ));
    }
    // What the region's dead-letter topic holds, by who refused what and why.
    let letters = r.dead_letters();
    Ok(Outcome {
        totals: outcomes.len() - other,
        other,
        letters,
        late_markers: late,
        raced: audit_out.lines().filter(|l| l.contains("raced (")).count(),
        dropped: dropped
            + dropped_by(&outputs["gw-rest"]).ok_or("no summary from the other gateway")?,
        carried_at_end: other == 0 && missing.iter().any(|&m| m > 0) && dropped == 0,
    })
}

/// The values a gateway process says it dropped.
fn dropped_by(gateway: &Output) -> Option<usize> {
    dropped(&String::from_utf8_lossy(&gateway.stdout))
}

/// The round outcomes `who` printed (`who: round R: OUTCOME[, …]`), by round.
fn outcomes(stdout: &[u8], who: &str) -> BTreeMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| {
            let (round, what) = l
                .strip_prefix(who)?
                .strip_prefix(": round ")?
                .split_once(": ")?;
            let what = match what.find(']') {
                Some(end) if what.starts_with("total [") => &what[..=end],
                _ => what.split(", ").next().unwrap_or(what),
            };
            Some((round.to_string(), what.to_string()))
        })
        .collect()
}

/// Keeps every process's output of a failed episode under `keep/episode-N/` and returns `why`
/// with where it is.
fn failed(keep: &Path, episode: u32, outputs: &BTreeMap<String, Output>, why: &str) -> String {
    let dir = keep.join(format!("episode-{episode}"));
    let _ = std::fs::create_dir_all(&dir);
    for (name, out) in outputs {
        let _ = std::fs::write(
            dir.join(format!("{name}.txt")),
            format!(
                "status: {}\n--- stdout\n{}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        );
    }
    format!("{why} (outputs in {})", dir.display())
}
