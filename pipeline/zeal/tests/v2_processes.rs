//! Protocol v2 as a utility runs it: every party a separate OS process of the `zeal` binary,
//! against the real broker. The authority enrols six meters on the registry topic and signs the
//! day's Cutoff, the beacon stand-in posts its round, and gateway, aggregator and audit processes
//! derive the day from the registry topic alone and run an hourly round (four 15-minute
//! intervals): every process reports the plaintext sum. Rogue and crashing gateways are their
//! own processes too.

mod common;

use common::{ok, zeal};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use zeal_tests::env::signal;
use zeal_tests::fault_proxy::{FaultProxy, PrivateBroker, free_addr};
use zeal_tests::region::{
    FIVE_SEATS, ROUND_MS, Region, SMALL, TinyDisk, account, dropped, finish, sums, total_line,
    totals, wait_all, wait_for_metric,
};

/// A region of six meters enrolled on a fresh registry topic of the test broker.
fn region(protocol: &str) -> Region {
    Region::enrol(
        Path::new(env!("CARGO_BIN_EXE_zeal")),
        protocol,
        &zeal_tests::kafka().bootstrap,
    )
}

#[test]
fn gateways_aggregator_and_audit_as_separate_processes_total_exactly() {
    let r = region(SMALL);
    let began = zeal_services::now_ms();
    let outputs = wait_all(vec![
        ("gw-a", r.gateway_with("gw-a", &[0, 1, 2], 1, &[], "4")),
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
    let everything = read_count(&out);

    // By log time: the window from before the gateways started holds the day's set-up and its
    // round (verified, every message read again); one that begins after the set-up is refused
    // (exit status 2), not half-verified; and it says how many messages it read.
    let audit_from = |from: i64| {
        r.day(&[
            "audit",
            "--aggregator",
            &r.aggregator_pub,
            "--from",
            &from.to_string(),
        ])
        .output()
        .unwrap()
    };
    let out = ok(audit_from(began));
    assert!(out.contains(&total), "{out}");
    assert_eq!(read_count(&out), everything, "{out}");
    let late = audit_from(zeal_services::now_ms());
    let stderr = String::from_utf8_lossy(&late.stderr);
    assert_eq!(late.status.code(), Some(2), "{late:?}");
    assert!(
        stderr.contains("must begin before the day's first record"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&late.stdout).contains("audit: read 0 messages"),
        "{late:?}"
    );

    // The audit stores the verified totals in the real ClickHouse (twice: the same rows).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, warehouse) = runtime.block_on(zeal_tests::fresh_database_url("zt_v2_audit"));
    for _ in 0..2 {
        let out = ok(r
            .day(&[
                "audit",
                "--aggregator",
                &r.aggregator_pub,
                "--clickhouse",
                &url,
            ])
            .output()
            .unwrap());
        assert!(
            out.contains("stored 8 verified totals and 1 round events"),
            "{out}"
        );
    }
    let stored = common::stored_totals(&runtime, &warehouse);
    let want = sums(&[0, 1, 2, 3, 4, 5], 0);
    let mut expected = Vec::new();
    for q in 0..4 {
        let t = ROUND_MS / 1000 + q * 900;
        expected.push(format!("{t}\texport_wh\t{}", want[2 * q as usize + 1]));
        expected.push(format!("{t}\timport_wh\t{}", want[2 * q as usize]));
    }
    assert_eq!(stored.lines().collect::<Vec<_>>(), expected);

    // An audit trusting another aggregator key verifies nothing and says so (exit status 1).
    let other = zeal_protocol::v2::enrolment::key_to_hex(
        &zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
    );
    let out = r.audit(&other);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // An audit that cannot run (no such key file) says so with exit status 2, not 1.
    let out = r.audit(&r.path("no-such-aggregator.pub"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // Meter 0's household consents to share its readings, its gateway's history included;
    // the gateway's sharing (`zeal share`, the only way a reading leaves it) then shares its
    // four readings and withholds the other households'. Signed with its certified identity
    // key, they count for the disaggregation job under the authority that certified it, and
    // under no other.
    let before = r.share("gw-a");
    assert!(
        before.contains("done: 0 readings shared, 12 withheld"),
        "{before}"
    );
    r.grant_history(0);
    let shared = r.share("gw-a");
    assert!(
        shared.contains("done: 4 readings shared, 8 withheld"),
        "{shared}"
    );
    let job = |authority: &str, store: &str| {
        let args = [
            "jobs",
            "disaggregate",
            "--authority",
            authority,
            "--idle-exit-ms",
            "2000",
            "--group",
            store,
            "--data-dir",
            &r.path(store),
        ];
        let out = zeal().args(r.args(&args, true)).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let counted = job(&r.path("authority.pub"), "store-a");
    assert!(counted.contains("readings 4, "), "{counted}");
    assert!(counted.contains("dead letters 0,"), "{counted}");
    let refused = job(&other, "store-b");
    assert!(refused.contains("readings 0, "), "{refused}");
    assert!(refused.contains("dead letters 4,"), "{refused}");
}

/// The number of messages `zeal audit` says it read (`audit: read N messages of …`).
fn read_count(out: &str) -> u64 {
    out.lines()
        .find_map(|l| {
            l.strip_prefix("audit: read ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no read count in:\n{out}"))
}

/// Issue 11 attack 2 through the broker with the rogue gateway as its own OS process: it copies
/// an honest meter's commitment as its own, reveals that meter's notice relabelled, and forges a
/// Withdraw in the target's name and a FinalSet in the aggregator's. The total is the honest
/// meters' exactly; the audit names the rogue's notice as refused and finds no evidence.
#[test]
fn a_rogue_gateway_process_cannot_copy_or_forge() {
    rogue_process_counts_for_nothing("copy", "revealed");
}

/// Issue 11 attack 1 (cancellation) through the broker with the rogue as its own OS process: it
/// waits until an honest meter revealed, then commits to a bundle built from that meter's
/// revealed public part and reveals it. A commitment after CommitClosed is no commitment: the
/// total is the honest meters' exactly and the rogue is excluded, with no evidence.
#[test]
fn a_rogue_process_committing_after_the_reveals_counts_for_nothing() {
    rogue_process_counts_for_nothing("late-commit", "committed after");
}

/// Meter 5 runs `zeal drill-rogue --attack <attack>` against meter 0 as its own process,
/// beside an honest gateway of meters 0–4 and the aggregator: the rogue says `did`, every
/// process exits cleanly, the total is the honest meters' exactly, and the audit excludes the
/// rogue with no evidence.
fn rogue_process_counts_for_nothing(attack: &str, did: &str) {
    let r = region(SMALL);
    let rogue = r.rogue(attack, 5, 0);
    let outputs = wait_all(vec![
        ("gw-honest", r.gateway("gw-honest", &[0, 1, 2, 3, 4])),
        ("aggregator", r.aggregator()),
        ("rogue", rogue),
    ]);
    for (name, out) in &outputs {
        assert!(out.status.success(), "{name}: {out:?}");
    }
    let rogue_out = String::from_utf8_lossy(&outputs["rogue"].stdout);
    assert!(rogue_out.contains(did), "{rogue_out}");
    let total = total_line(&[0, 1, 2, 3, 4]);
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

/// Issue 11 attack 3 (a restart) with the gateway as its own OS process: the gateway of the one
/// meter without a seat exits right after committing round 10:00 (its bundle is lost, its
/// ledger is on disk) and is started again with the same readings. It never deals 10:00 again:
/// it withdraws and carries the value into 11:00 (it deals 11:00 only once 10:00 settled, so the
/// carry is on its ledger). Across the three rounds each reading enters exactly one total.
#[test]
fn a_gateway_process_killed_after_commit_never_deals_twice_and_carries_exactly() {
    killed_after_commit_and_restarted(false, |outputs, _| {
        let lone_out = String::from_utf8_lossy(&outputs["gw-victim"].stdout);
        assert!(lone_out.contains("1 withdrawn, 1 carried"), "{lone_out}");
    });
}

/// The same crash, of a gateway whose meter holds a seat: its seat's daily key is on disk
/// (0600), so the restarted process holds the key the day's KeysClosed names and keeps its seat
/// (it posts partials); a new key would leave the seat absent for the rest of the day.
#[test]
fn a_seat_killed_after_commit_keeps_its_seat_when_restarted() {
    killed_after_commit_and_restarted(true, |outputs, state| {
        let out = &outputs["gw-victim"];
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stdout.contains("1 withdrawn, 1 carried"), "{stdout}");
        assert!(!stderr.contains("absent for the day"), "{stderr}");
        let partials: usize = stdout
            .lines()
            .filter(|l| l.starts_with("gateway: ") && l.contains(" partials"))
            .find_map(|l| {
                l.split(" partials")
                    .next()?
                    .rsplit(", ")
                    .next()?
                    .parse()
                    .ok()
            })
            .expect("the gateway's summary");
        assert!(partials >= 1, "the restarted seat posts partials: {stdout}");
        use std::os::unix::fs::PermissionsExt;
        let seats: Vec<_> = std::fs::read_dir(state.join("seats"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(seats.len(), 1, "{seats:?}");
        assert_eq!(
            std::fs::metadata(&seats[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
    });
}

/// Issue 14, a full disk: the gateway of the one meter without a seat has its state directory
/// on a 256 KiB tmpfs filled to the last byte (the test says SKIPPED where it may not mount).
/// It cannot write its ledger (written before anything is published), so it exits with the
/// error and 10:00 totals without it; once 10:00's commitments closed and the space is freed,
/// it is started again and carries its 10:00 value: no reading enters two totals, and what is
/// in none is still carried when the test ends.
#[test]
fn a_gateway_whose_disk_is_full_publishes_nothing_and_carries_once_freed() {
    one_gateway_faulted(Fault::DiskFull, false, |_, _| {});
}

/// Issue 14, a zombie gateway: the gateway of the one meter without a seat is paused right
/// after it committed 10:00 and resumed once 10:00 has its total. Found 2026-12-04 (the test
/// then expected a carry): by DESIGN §4's carry rule its 10:00 value is dropped, not carried —
/// it neither revealed nor withdrew before RevealClosed — so the value is in no total and is
/// counted as dropped by the gateway and excluded by the audit; 11:00 and 12:00 are exact.
#[test]
fn a_gateway_paused_past_the_reveals_drops_that_round_and_counts_it() {
    one_gateway_faulted(Fault::Pause, false, |_, _| {});
}

/// What happens to the victim gateway.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// It exits right after committing round 10:00 (`--drill-crash-after-commit`) and is
    /// started again.
    Crash,
    /// Its state directory is full: it fails; it is started again once 10:00's commitments
    /// closed and the space is freed.
    DiskFull,
    /// It is paused (SIGSTOP) right after committing round 10:00 and resumed (SIGCONT) once
    /// 10:00 has its total.
    Pause,
}

/// [`one_gateway_faulted`] with [`Fault::Crash`].
fn killed_after_commit_and_restarted(
    seated: bool,
    check: impl FnOnce(&BTreeMap<String, Output>, &Path),
) {
    one_gateway_faulted(Fault::Crash, seated, check)
}

/// Issue 11 attack 3 from the process side: the gateway of one meter (holding a seat or not)
/// exits right after committing round 10:00 (its bundle is lost, its ledger is on disk) and is
/// started again with the same readings, or cannot write its ledger at all. It never
/// deals 10:00 again: it carries the value into 11:00 (it deals 11:00 only once 10:00 settled,
/// so the carry is on its ledger), or is paused past the reveals and drops it. Across the
/// three rounds no reading enters two totals; a crashed victim's every reading enters one,
/// others may still carry some when the test ends (checked exactly). `check` is then given every process's output (the victim's as `gw-victim`) and the
/// victim's state directory.
fn one_gateway_faulted(
    fault: Fault,
    seated: bool,
    check: impl FnOnce(&BTreeMap<String, Output>, &Path),
) {
    let r = region(FIVE_SEATS);
    let seats = r.seated(5);
    let victim = (0..6).find(|i| seats.contains(i) == seated).unwrap();
    let others: Vec<usize> = (0..6).filter(|&i| i != victim).collect();
    // The victim's own state directory: its identity key copied in, its ledger and seat key
    // there alone.
    let state = r.dir.join("victim");
    std::fs::create_dir_all(&state).unwrap();
    let disk = match fault {
        Fault::DiskFull => match TinyDisk::mount(&state) {
            Some(disk) => Some(disk),
            None => {
                eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
                return;
            }
        },
        _ => None,
    };
    r.copy_identity(victim, &state);
    if let Some(disk) = &disk {
        disk.fill();
    }
    let victim_dir = state.to_str().unwrap().to_string();

    let phase = "6";
    let hours = [
        "2020-07-01T10:00Z",
        "2020-07-01T11:00Z",
        "2020-07-01T12:00Z",
    ];
    let agg_metrics = free_addr();
    let aggregator =
        r.aggregator_args(&hours, phase, &["--metrics-addr", &agg_metrics.to_string()]);
    let rest = r.gateway_with("gw-rest", &others, 3, &[], phase);
    let restarted = match fault {
        Fault::Crash => {
            let crash = ["--drill-crash-after-commit"];
            let crashed = r.gateway_in(&victim_dir, "gw-victim", &[victim], 3, &crash, phase);
            let first = finish(crashed, Duration::from_secs(120));
            let first_out = String::from_utf8_lossy(&first.stdout);
            assert!(first.status.success(), "{first:?}");
            assert!(first_out.contains("1 committed, 0 revealed"), "{first_out}");
            r.gateway_in(&victim_dir, "gw-victim", &[victim], 3, &[], phase)
        }
        Fault::DiskFull => {
            let full = r.gateway_in(&victim_dir, "gw-victim", &[victim], 3, &[], phase);
            let first = finish(full, Duration::from_secs(120));
            let said = String::from_utf8_lossy(&first.stderr);
            assert!(!first.status.success(), "{first:?}");
            assert!(said.contains("No space left on device"), "{said}");
            let closed = "zeal_aggregator_markers_published_total{kind=\"commit_closed\"}";
            wait_for_metric(None, agg_metrics, closed);
            disk.as_ref().expect("mounted").free();
            r.gateway_in(&victim_dir, "gw-victim", &[victim], 3, &[], phase)
        }
        Fault::Pause => {
            let addr = free_addr();
            let extra = ["--metrics-addr", &addr.to_string()];
            let mut paused = r.gateway_in(&victim_dir, "gw-victim", &[victim], 3, &extra, phase);
            let commit = "zeal_gateway_messages_published_total{kind=\"commit\"}";
            wait_for_metric(Some(&mut paused), addr, commit);
            signal(&paused.id().to_string(), "STOP");
            let closed = "zeal_aggregator_rounds_closed_total{status=\"total\"}";
            wait_for_metric(None, agg_metrics, closed);
            signal(&paused.id().to_string(), "CONT");
            paused
        }
    };
    let outputs = wait_all(vec![
        ("gw-rest", rest),
        ("aggregator", aggregator),
        ("gw-victim", restarted),
    ]);
    for (name, out) in &outputs {
        assert!(out.status.success(), "{name}: {out:?}");
    }
    let t = totals(&outputs["aggregator"]);
    assert_eq!(t.len(), 3, "{t:?}");
    assert_eq!(
        t["2020-07-01T10:00Z"],
        sums(&others, 0),
        "10:00 without the withdrawn value"
    );
    let all: Vec<usize> = (0..6).collect();
    let add = |a: Vec<u64>, b: &Vec<u64>| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
    // A crashed victim withdraws 10:00 at once and deals 11:00 with the carry; a full one
    // learns it missed 10:00 only from the log, possibly after 11:00 closed too, so its values
    // may arrive one round later (still each in exactly one total).
    if fault == Fault::Crash {
        assert_eq!(
            t["2020-07-01T11:00Z"],
            add(sums(&all, 1), &sums(&[victim], 0)),
            "11:00 with the value carried from 10:00"
        );
        assert_eq!(t["2020-07-01T12:00Z"], sums(&all, 2));
    }
    // What is missing from the totals: for a paused victim its 10:00 value (DESIGN §4: a listed
    // meter carries only after its own Withdraw before any RevealClosed; it neither revealed
    // nor withdrew, so the value is dropped, its parts may be out), and for any victim the
    // values it still carries when the test ends: resumed behind, it can miss 11:00's and
    // 12:00's commit phases too (seen on a loaded machine), and a round whose CommitClosed
    // omits it carries everything it holds into the next (checked by `account`).
    let victim_out = String::from_utf8_lossy(&outputs["gw-victim"].stdout);
    let dropped = dropped(&victim_out).unwrap_or_else(|| panic!("no summary: {victim_out}"));
    assert_eq!(dropped, usize::from(fault == Fault::Pause), "{victim_out}");
    if let Err(e) = account(&t, 6, 3, Some(victim), dropped) {
        panic!("{e}: {victim_out}");
    }
    if fault == Fault::Pause {
        let audit = ok(r.audit(&r.aggregator_pub));
        assert!(audit.contains("5 in the final set, 1 excluded"), "{audit}");
    }
    check(&outputs, &state);
}

/// Issue 14, zombie fencing, paused during the reveals: see [`zombie_aggregator`].
#[test]
fn a_zombie_aggregator_paused_during_the_reveals_changes_no_total() {
    zombie_aggregator("commit_closed");
}

/// Issue 14, zombie fencing, paused after the redistribution: see [`zombie_aggregator`].
#[test]
fn a_zombie_aggregator_paused_after_its_products_changes_no_total() {
    zombie_aggregator("products");
}

/// The aggregator process is paused (SIGSTOP) as soon as its metrics count a posted `kind`; a
/// replacement with the same key finishes the round from the log; then the first resumes
/// (SIGCONT) with its timers long past due. No consumer group fences an aggregator (it reads
/// assigned partitions, and a session timeout would not stop a process that wakes up and
/// produces), so the log does: the first valid marker of each kind stands. The resumed process
/// reads the replacement's markers, reports the same total and exits; the audit verifies one
/// total equal to the plaintext sum, and whatever the zombie posted late is named as a second
/// marker, never counted.
fn zombie_aggregator(kind: &str) {
    let r = region(SMALL);
    let addr = free_addr();
    let metrics = addr.to_string();
    let round = "2020-07-01T10:00Z";
    let mut zombie = r.aggregator_args(&[round], "4", &["--metrics-addr", &metrics]);
    let gw_a = r.gateway("gw-a", &[0, 1, 2]);
    let gw_b = r.gateway("gw-b", &[3, 4, 5]);
    let series = format!("zeal_aggregator_markers_published_total{{kind=\"{kind}\"}}");
    wait_for_metric(Some(&mut zombie), addr, &series);
    signal(&zombie.id().to_string(), "STOP");
    let outputs = wait_all(vec![
        ("gw-a", gw_a),
        ("gw-b", gw_b),
        ("replacement", r.aggregator()),
    ]);
    signal(&zombie.id().to_string(), "CONT");
    let resumed = finish(zombie, Duration::from_secs(120));
    let total = total_line(&[0, 1, 2, 3, 4, 5]);
    for (name, out) in outputs.iter().chain([(&"zombie".to_string(), &resumed)]) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {out:?}");
        assert!(stdout.contains(&total), "{name}:\n{stdout}\nwant: {total}");
    }
    let audit = r.audit(&r.aggregator_pub);
    let out = String::from_utf8_lossy(&audit.stdout);
    assert!(out.contains(&total), "{out}");
    assert!(out.contains("6 in the final set, 0 excluded"), "{out}");
    let evidence: Vec<&str> = out.lines().filter(|l| l.contains("evidence: ")).collect();
    assert!(
        evidence.iter().all(|l| l.contains("second ")),
        "only late markers may be named: {out}"
    );
    assert_eq!(audit.status.success(), evidence.is_empty(), "{audit:?}");
}

/// Issue 14, network faults: the region's broker is reached only through a TCP proxy that
/// delays every chunk by 30 ms each way and drops every connection every 2 s while two gateway
/// processes and the aggregator run the round (clients reconnect, and producers retry what was
/// in flight; a record that lands twice is an exact copy the replay ignores). Every process
/// reports the plaintext sum and the audit finds no evidence. Found 2026-12-04: the honest
/// aggregator's markers then landed after records it had not read (invalid by the replay, and
/// ignored), and the audit named them as evidence in one run of two; the audit now reports such
/// markers as raced (`log::raced`), apart from evidence.
#[test]
fn a_round_through_a_slow_connection_dropped_every_two_seconds_totals_exactly() {
    let listen = free_addr();
    let proxy = FaultProxy::start(listen);
    let _broker = PrivateBroker::start(listen, proxy.addr());
    let r = Region::enrol(
        Path::new(env!("CARGO_BIN_EXE_zeal")),
        SMALL,
        &proxy.addr().to_string(),
    );
    proxy.set_latency(Duration::from_millis(30));
    let connections = proxy.connections();
    // Phases of 15 s, not 4: a client cut off reconnects with librdkafka's backoff (up to
    // seconds), and a seat that misses the partial deadline leaves an honest ABANDONED (seen
    // once with 4 s phases), a liveness outcome this test is not about.
    let phase = "15";
    let children = vec![
        ("gw-a", r.gateway_with("gw-a", &[0, 1, 2], 1, &[], phase)),
        ("gw-b", r.gateway_with("gw-b", &[3, 4, 5], 1, &[], phase)),
        (
            "aggregator",
            r.aggregator_with(&["2020-07-01T10:00Z"], phase),
        ),
    ];
    let outputs = std::thread::scope(|scope| {
        let waited = scope.spawn(|| wait_all(children));
        loop {
            std::thread::sleep(Duration::from_secs(2));
            if waited.is_finished() {
                break;
            }
            proxy.drop_connections();
        }
        waited.join().unwrap()
    });
    assert!(proxy.drops() >= 3, "{} drops only", proxy.drops());
    assert!(
        proxy.connections() >= connections + proxy.drops(),
        "the processes reconnected after every drop"
    );
    let total = total_line(&[0, 1, 2, 3, 4, 5]);
    for (name, out) in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {out:?}");
        assert!(stdout.contains(&total), "{name}:\n{stdout}\nwant: {total}");
    }
    proxy.set_latency(Duration::ZERO);
    let out = ok(r.audit(&r.aggregator_pub));
    assert!(out.contains(&total), "{out}");
    assert!(
        out.contains("6 in the final set, 0 excluded, 0 evidence"),
        "{out}"
    );
}
