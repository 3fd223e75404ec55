//! Consent reaches the gateway, end to end through the broker, as separate processes: `zeal
//! serve` (the household's app, publishing signed decisions on `zeal.consent.v1`) and `zeal
//! share --follow` (the gateway, reading its meter's CSV as it grows). A household that joins
//! with the code its gateway shows starts the flow without a restart or a flag; its withdrawal
//! stops every reading after it; a grant the utility forges with the app's own key but without
//! that code starts nothing and is dead-lettered with the reason.

mod common;

use common::{OnBroker, Running, ok, portal_link, zeal};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};
use zeal_connectors::kafka::KeyedProducer;
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_schemas::consent::{ConsentEvent, SCOPE_READINGS};
use zeal_schemas::{DeadLetter, HouseholdReading};
use zeal_tests::http::{Agent, csrf_of};

const REGION: &str = "NL-CS-01";
const METER: &str = "NL-CS-01-m0001";

fn append(csv: &std::path::Path, interval_start_s: i64) {
    let mut f = std::fs::OpenOptions::new().append(true).open(csv).unwrap();
    writeln!(f, "{METER},{},250,0", interval_start_s * 1000).unwrap();
}

/// The interval starts (s) of METER's readings on the readings topic.
async fn shared(readings_topic: &str) -> BTreeSet<i64> {
    zeal_tests::read_topic(&zeal_tests::kafka(), readings_topic)
        .await
        .iter()
        .filter_map(|r| zeal_schemas::decode::<HouseholdReading>(&r.payload).ok())
        .filter(|r| r.household_id == METER)
        .map(|r| r.interval_start / 1000)
        .collect()
}

async fn wait_shared(readings_topic: &str, interval: i64) -> BTreeSet<i64> {
    let started = Instant::now();
    loop {
        let now = shared(readings_topic).await;
        if now.contains(&interval) {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the reading of {interval} was never shared; shared: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_from_the_app_starts_and_stops_the_gateways_sharing() {
    let kafka = zeal_tests::kafka();
    let broker = OnBroker::new("consent");
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-consent"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    ok(zeal()
        .args(["keys", "--state-dir", &p("gateway"), "--meters", METER])
        .output()
        .unwrap());
    ok(zeal()
        .args(["portal", "init", "--key-file", &p("portal.key")])
        .output()
        .unwrap());
    zeal_embedded::store::ParquetStore::open(dir.join("data/store")).unwrap();

    // The app, publishing consent signed with its key (created at start, .pub beside it).
    let (_app, addr) = broker.serve(&dir, &[]).await;
    let ready = zeal_tests::http::send(addr, "GET", "/healthz", &[], "").await;
    assert_eq!(ready.status, 200);
    assert!(dir.join("consent.pub").exists());

    // The gateway: sharing as the consent log allows, following its meter's CSV.
    let csv = dir.join("readings.csv");
    std::fs::write(&csv, "meter,interval_start,import_wh,export_wh\n").unwrap();
    let share_args = |extra: &[&str]| {
        let mut c = broker.zeal();
        c.args(["share", "--region", REGION, "--state-dir", &p("gateway")])
            .args(["--meters", METER, "--consent-app", &p("consent.pub")])
            .args(extra);
        c
    };
    let mut gateway = share_args(&["--readings", csv.to_str().unwrap(), "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Its progress lines: readings judged so far (shared + withheld), to pace the decisions
    // against the readings as they would be in time.
    let (tx, judged) = std::sync::mpsc::channel::<u64>();
    let stdout = gateway.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            println!("share| {line}");
            let n: Vec<u64> = line
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            if line.contains("readings shared,") && n.len() == 2 {
                let _ = tx.send(n[0] + n[1]);
            }
        }
    });
    let _gateway = Running(gateway);
    let wait_judged = |count: u64| loop {
        let n = judged
            .recv_timeout(Duration::from_secs(90))
            .expect("the gateway judges each reading");
        if n >= count {
            break;
        }
    };
    // The gateway's display: the code to share from now on, then the one with the history.
    let codes = || {
        let out = ok(share_args(&["--pairing-code", METER]).output().unwrap());
        let first_word = |l: &str| l.split_whitespace().next().unwrap().to_string();
        let lines: Vec<&str> = out.lines().collect();
        (first_word(lines[0]), first_word(lines[1]))
    };
    let code = || codes().0;
    let readings_topic = broker.topic("zeal.readings.v1");
    // The next quarter-hour: every reading below is of an interval after every decision.
    let t = (zeal_connectors::now_ms() / 1000 / 900 + 1) * 900;

    // Before any consent: nothing is shared.
    append(&csv, t - 3600);
    wait_judged(1);

    // The utility forges a grant with the app's own key (it runs the app), guessing the code.
    let app_key = SigningKey::from_bytes(
        &std::fs::read(dir.join("consent.key"))
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let mut forged = ConsentEvent {
        household_id: METER.into(),
        region: REGION.into(),
        scope: SCOPE_READINGS.into(),
        granted: true,
        decided_at: (t - 7200) * 1000,
        event_id: "forged-by-the-utility-0001".into(),
        pairing_code: "7KQ2M9XD".into(),
        source: "energenies-web".into(),
        signature: vec![],
    };
    zeal_protocol::consent::sign(&app_key, &mut forged);
    let producer = KeyedProducer::new(&kafka).unwrap();
    producer
        .send_message(&broker.topic("zeal.consent.v1"), METER.as_bytes(), &forged)
        .await
        .unwrap();
    append(&csv, t - 1800);
    wait_judged(2);

    // The household signs in from the portal and joins with the code its gateway shows.
    let mut household = Agent::new(addr);
    let link = portal_link(&p("portal.key"), addr, METER, REGION);
    assert_eq!(household.get(&link).await.status, 303);
    let join = |page: &str, code: &str| {
        format!(
            "csrf={}&display_name=Familie+Consent&share_readings=on&pairing_code={code}",
            csrf_of(page)
        )
    };
    let form = household.get("/join").await.body;
    assert!(form.contains("id=\"pairing_code\""), "{form}");
    let a = household.post("/join", &join(&form, "12-34")).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("id=\"error-pairing_code\""));
    let first = code();
    let a = household.post("/join", &join(&form, &first)).await;
    assert_eq!(a.status, 303, "{}", a.body);
    append(&csv, t);
    let seen = wait_shared(&readings_topic, t).await;
    assert_eq!(
        seen,
        BTreeSet::from([t]),
        "only readings after the household's own grant: not before it, not on the forged one"
    );

    // It withdraws: the next reading stays home.
    let page = household.get(&format!("/household/{METER}")).await.body;
    assert!(page.contains("id=\"withdraw\""), "{page}");
    let a = household
        .post("/consent/withdraw", &format!("csrf={}", csrf_of(&page)))
        .await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("You stopped sharing"));
    append(&csv, t + 900);
    wait_judged(4);
    let fresh = code();
    assert_ne!(fresh, first, "a code works once");

    // Sharing again with the first code (kept by the app, or replayed): the gateway refuses it.
    let form = household.get("/join").await.body;
    assert!(
        form.contains("id=\"pairing_code\""),
        "sharing again needs a fresh code"
    );
    let a = household.post("/join", &join(&form, &first)).await;
    assert_eq!(a.status, 303);
    append(&csv, t + 1800);
    wait_judged(5);

    // The app cannot tell a refused code (it never holds the secret): it shows sharing on. The
    // household withdraws and grants again with the code its gateway shows now.
    let page = household.get(&format!("/household/{METER}")).await.body;
    let a = household
        .post("/consent/withdraw", &format!("csrf={}", csrf_of(&page)))
        .await;
    assert_eq!(a.status, 200);
    let form = household.get("/join").await.body;
    let a = household.post("/join", &join(&form, &code())).await;
    assert_eq!(a.status, 303, "{}", a.body);
    append(&csv, t + 2700);
    let seen = wait_shared(&readings_topic, t + 2700).await;
    assert_eq!(
        seen,
        BTreeSet::from([t, t + 2700]),
        "nothing while consent was withdrawn or the code refused"
    );

    // It asks to share its history too: it withdraws (the next reading stays home), then joins
    // again ticking "also share the readings my gateway already holds" with the gateway's
    // second code. At its next reading the gateway shares every reading it held back (before
    // any consent, while withdrawn, under the refused code) and none it had shared already.
    let page = household.get(&format!("/household/{METER}")).await.body;
    let a = household
        .post("/consent/withdraw", &format!("csrf={}", csrf_of(&page)))
        .await;
    assert_eq!(a.status, 200);
    append(&csv, t + 3600);
    wait_judged(7);
    let form = household.get("/join").await.body;
    assert!(form.contains("id=\"share_history\""), "{form}");
    let (forward, history) = codes();
    assert_ne!(forward, history, "a code per scope");
    let a = household
        .post(
            "/join",
            &format!("{}&share_history=on", join(&form, &history)),
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    append(&csv, t + 4500);
    let seen = wait_shared(&readings_topic, t + 4500).await;
    assert_eq!(
        seen,
        (-4..=5)
            .filter(|q| ![-3, -1].contains(q))
            .map(|q| t + q * 900)
            .collect::<BTreeSet<i64>>(),
        "every reading the gateway held"
    );
    let copies = zeal_tests::read_topic(&kafka, &readings_topic)
        .await
        .iter()
        .filter_map(|r| zeal_schemas::decode::<HouseholdReading>(&r.payload).ok())
        .filter(|r| r.household_id == METER)
        .count();
    assert_eq!(copies, seen.len(), "none shared twice");

    // The refused grants are dead letters with their reason, attributed to the household.
    let letters: Vec<DeadLetter> = zeal_tests::read_topic(&kafka, &broker.topic("zeal.dlq.v1"))
        .await
        .iter()
        .filter_map(|r| zeal_schemas::decode::<DeadLetter>(&r.payload).ok())
        .filter(|l| l.origin.as_deref() == Some(METER))
        .collect();
    assert!(
        letters.len() >= 2
            && letters
                .iter()
                .all(|l| l.detail.contains("pairing code") && l.rejected_by == "gateway-consent"),
        "{letters:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
