//! The web app over the embedded Parquet store (what `zeal demo` leaves behind): rows written by
//! the pipeline's own writers, pages fetched over HTTP, numbers checked against those rows.
//! No services needed.

use ed25519_dalek::SigningKey;
use zeal_embedded::store::ParquetStore;
use zeal_tables::Store as Tables;
use zeal_tables::{
    DailyRow, Destination, GameEventRow, GridBalanceRow, RoundEventRow, TotalRow, UsageRow,
};
use zeal_tests::http::{Agent, csrf_of};
use zeal_web::portal::{AUDIENCE, Claims, issue};
use zeal_web::store::Store;
use zeal_web::{WebSettings, serve};

const OPERATOR: &str = "operator-token-for-the-embedded-test-0123456789";

/// A client signed in as `household` of NL-A by a fresh portal link.
async fn sign_in(addr: std::net::SocketAddr, portal: &SigningKey, household: &str) -> Agent {
    let now = (zeal_connectors::now_ms() / 1000) as i64;
    let token = issue(
        portal,
        &Claims {
            iss: "test".into(),
            aud: AUDIENCE.into(),
            sub: household.into(),
            region: "NL-A".into(),
            iat: now,
            exp: now + 120,
            jti: zeal_web::session::random_hex(),
        },
    );
    let mut agent = Agent::new(addr);
    let a = agent.get(&format!("/signin?token={token}")).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.header("location"), format!("/household/{household}"));
    agent
}

fn value<'a>(page: &'a str, id: &str) -> &'a str {
    let key = format!("id=\"{id}\">");
    let start = page.find(&key).map(|i| i + key.len()).unwrap_or(page.len());
    let end = page[start..].find('<').map(|i| start + i).unwrap_or(start);
    &page[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_over_the_embedded_store_show_its_rows() {
    let dir = std::env::temp_dir().join(format!("zeal-web-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = ParquetStore::open(&dir).unwrap();
    let day: u16 = 18_444; // 2020-07-01
    let t0 = u32::from(day) * 86_400;
    let total = |region: &str, k: u32, channel: &str, total: i64, secs: u32| TotalRow {
        region: region.into(),
        interval_start: t0 + k * secs,
        interval_seconds: secs,
        channel: channel.into(),
        total,
        contributors: 4,
        attempt: 1,
        carried_intervals: vec![],
        published_at: 0,
        aggregator_id: "agg".into(),
    };
    let round = |region: &str, k: u32, event: &str| RoundEventRow {
        region: region.into(),
        interval_start: t0 + k * 3_600,
        attempt: 1,
        event: event.into(),
        meter_id: String::new(),
        reason: String::new(),
        roster_size: 4,
        missing: vec![],
        culprits: vec![],
        decided_at: 0,
        aggregator_id: "agg".into(),
    };
    store
        .write(&[
            total("NL-A", 0, "import_wh", 1000, 900),
            total("NL-B", 0, "import_wh", 2000, 900),
        ])
        .await
        .unwrap();
    store
        .write(&[
            round("NL-A", 0, "COMPLETED"),
            round("NL-A", 1, "COMPLETED"),
            round("NL-A", 2, "DEFERRED"),
        ])
        .await
        .unwrap();
    // m1 has an inverter (5 kWh generated, 1.25 exported); m2 a meter only.
    let daily = |id: &str, import: f64, generation: f64| DailyRow {
        household_id: id.into(),
        region: "NL-A".into(),
        day,
        import_kwh: import,
        export_kwh: 1.25,
        generation_kwh: generation,
        self_consumption: (generation - 1.25) / generation,
        self_sufficiency: (generation - 1.25) / (import + generation - 1.25),
        peak_kwh: 0.5,
        solar_hours_kwh: 2.0,
        baseline_kwh: f64::NAN,
        savings_kwh: f64::NAN,
        region_average_kwh: 9.5,
        efficient_kwh: 6.0,
        computed_at: 1,
    };
    let event = |id: &str, kind: &str, code: &str, points: u32| GameEventRow {
        household_id: id.into(),
        day,
        kind: kind.into(),
        code: code.into(),
        points,
        reason: format!("{code}!"),
        computed_at: 1,
    };
    store
        .write(&[daily("NL-A-m1", 5.5, 5.0), daily("NL-A-m2", 12.0, f64::NAN)])
        .await
        .unwrap();
    store
        .write(&[
            event("NL-A-m1", "points", "below_average", 5),
            event("NL-A-m1", "points", "efficient_neighbour", 10),
            event("NL-A-m1", "badge", "efficient_neighbour", 0),
            event("NL-A-m2", "points", "low_peak", 5),
        ])
        .await
        .unwrap();
    // A device found surely, one it cannot tell about and one surely not run.
    let usage = |appliance: &str, energy_wh: f64, confidence: f32| UsageRow {
        household_id: "NL-A-m1".into(),
        region: "NL-A".into(),
        day,
        appliance: appliance.into(),
        energy_wh,
        on_intervals: 12,
        confidence,
        model_version: "m".into(),
        computed_at: 1,
    };
    store
        .write(&[
            usage("heat_pump", 2500.0, 0.9),
            usage("dishwasher", 800.0, 0.6),
            usage("oven", 0.0, 0.97),
        ])
        .await
        .unwrap();

    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let portal = SigningKey::from_bytes(&[7; 32]);
    let addr = serve(
        "127.0.0.1:0".parse().unwrap(),
        Store::from(Tables::Embedded(ParquetStore::open(&dir).unwrap())),
        WebSettings {
            portal_key: Some(portal.verifying_key()),
            operator_token: Some(OPERATOR.into()),
            ..WebSettings::default()
        },
        stop,
    )
    .await
    .unwrap();

    // m1 arrives from the portal; not joined yet, it is sent to the join form, which names its
    // household and region from the sign-in. A bad form is answered with its problems.
    let mut m1 = sign_in(addr, &portal, "NL-A-m1").await;
    let a = m1.get("/household/NL-A-m1").await;
    assert_eq!((a.status, a.header("location")), (303, "/join"));
    let a = m1.get("/join").await;
    assert_eq!(a.status, 200);
    assert!(
        a.body.contains("<b id=\"join-region\">NL-A</b>"),
        "{}",
        a.body
    );
    let csrf = csrf_of(&a.body);
    let a = m1
        .post("/join", &format!("csrf={csrf}&display_name="))
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body.contains("id=\"error-display_name\"")
            && a.body.contains("id=\"error-share_readings\"")
    );
    let a = m1
        .post(
            "/join",
            &format!("csrf={csrf}&display_name=Anna+%3Cb%3E&share_readings=on&leaderboard=on"),
        )
        .await;
    assert_eq!(
        (a.status, a.header("location")),
        (303, "/household/NL-A-m1")
    );
    // m2 joins without being named.
    let mut m2 = sign_in(addr, &portal, "NL-A-m2").await;
    let csrf2 = csrf_of(&m2.get("/join").await.body);
    let a = m2
        .post(
            "/join",
            &format!("csrf={csrf2}&display_name=Quiet&share_readings=on"),
        )
        .await;
    assert_eq!(a.header("location"), "/household/NL-A-m2");

    let page = m1.get("/household/NL-A-m1").await;
    let (status, page) = (page.status, page.body);
    assert_eq!(status, 200);
    assert!(page.contains("Anna &lt;b&gt;"), "escaped display name");
    assert_eq!(value(&page, "points"), "15");
    assert_eq!(value(&page, "level"), "1");
    assert_eq!(value(&page, "stage"), "aware");
    assert_eq!(value(&page, "today-kwh"), "5.50");
    assert_eq!(value(&page, "today-average"), "9.50");
    assert_eq!(value(&page, "today-efficient"), "6.00");
    assert_eq!(value(&page, "today-export"), "1.25");
    assert_eq!(value(&page, "today-generation"), "5.00");
    assert_eq!(value(&page, "today-self-consumption"), "75");
    assert_eq!(value(&page, "today-self-sufficiency"), "41"); // 3.75 of 9.25 kWh
    assert_eq!(value(&page, "month-self-sufficiency"), "41");
    assert!(!page.contains("id=\"no-generation\""));
    assert_eq!(value(&page, "today-day"), "2020-07-01");
    let row = |appliance: &str| {
        let at = page
            .find(&format!("<tr data-appliance=\"{appliance}\">"))
            .unwrap_or_else(|| panic!("no {appliance} row"));
        page[at..at + page[at..].find("</tr>").unwrap()].to_string()
    };
    assert!(row("heat_pump").contains(">2.50<"));
    // Not sure: no energy shown, no bar drawn; surely not run: not listed.
    assert!(row("dishwasher").contains(">not sure<") && !row("dishwasher").contains("0.80"));
    assert!(!page.contains("dishwasher</text>") && page.contains("heat pump</text>"));
    assert!(!page.contains("data-appliance=\"oven\""));
    assert!(page.contains("Among the most efficient 20 %"));
    // The same page in Dutch writes its numbers with a decimal comma.
    let nl = zeal_tests::http::send(
        addr,
        "GET",
        "/household/NL-A-m1",
        &[("Cookie", m1.cookie.as_str()), ("Accept-Language", "nl")],
        "",
    )
    .await;
    assert_eq!(nl.status, 200);
    assert_eq!(value(&nl.body, "today-kwh"), "5,50");
    assert_eq!(value(&nl.body, "today-export"), "1,25");
    assert_eq!(value(&nl.body, "today-generation"), "5,00");
    assert!(nl.body.contains(">2,50<") && nl.body.contains("2,50 kWh</text>"));
    // A household without inverter data gets no shares, and is told why.
    let page = m2.get("/household/NL-A-m2").await;
    assert_eq!(page.status, 200);
    let page = page.body;
    // It may stop sharing; the page then says so (this app publishes no consent: it says who
    // must pass the withdrawal on).
    assert!(page.contains("id=\"withdraw\""));
    let a = m2.post("/consent/withdraw", &format!("csrf={csrf2}")).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("You stopped sharing") && a.body.contains("not connected"));
    let after = m2.get("/household/NL-A-m2").await.body;
    assert!(after.contains("does not share") && !after.contains("id=\"withdraw\""));
    assert!(page.contains("id=\"no-generation\"") && !page.contains("today-self-consumption"));

    let board = m2.get("/leaderboard/NL-A").await.body;
    assert!(
        board.contains("Anna &lt;b&gt;") && !board.contains("Quiet"),
        "{board}"
    );
    let mut operator = Agent::new(addr);
    let a = operator
        .post("/operator/signin", &format!("token={OPERATOR}"))
        .await;
    assert_eq!((a.status, a.header("location")), (303, "/operator"));
    assert_eq!(operator.get("/leaderboard/NL-Q").await.status, 404);

    let ops = operator.get("/operator").await.body;
    assert!(ops.contains("data-event=\"completed\">2<"), "{ops}");
    assert!(ops.contains("data-event=\"deferred\">1<"), "{ops}");
    assert!(
        ops.contains("No grid balance yet"),
        "before `zeal jobs balance`: {ops}"
    );

    // Two days of grid balance from 2020-07-01: NL-A without alerts (and one row ten days
    // earlier, outside the 7 days shown), NL-B with a run on the first day (closed: quiet
    // intervals followed it) and one 22:00-23:30 on the second (open: two quiet ones since).
    let balance = |region: &str, k: i64, alert: bool| GridBalanceRow {
        region: region.into(),
        interval_start: (i64::from(t0) + k * 900) as u32,
        total_wh: 5_000,
        feeder_wh: 5_200.0,
        expected_loss_wh: 190.0,
        unexplained_wh: if alert { 500.0 } else { 4.0 },
        z: if alert { 5.0 + k as f64 / 100.0 } else { 0.2 },
        alert: u8::from(alert),
        computed_at: 1,
    };
    let open_run = 96 + 88..96 + 94;
    let mut rows: Vec<GridBalanceRow> = (0..192)
        .flat_map(|k| {
            [
                balance("NL-A", k, false),
                balance("NL-B", k, (8..12).contains(&k) || open_run.contains(&k)),
            ]
        })
        .collect();
    rows.push(balance("NL-A", -960, true));
    store.write(&rows).await.unwrap();
    let ops = operator.get("/operator").await;
    assert_eq!(ops.status, 200);
    let ops = ops.body;
    for region in ["NL-A", "NL-B"] {
        assert!(
            ops.contains(&format!(
                "data-region=\"{region}\"><h3>{region}</h3><svg class=\"chart balance\""
            )),
            "{region}'s chart: {ops}"
        );
    }
    assert!(
        ops.contains(
            "192 intervals from 2020-07-01 00:00 to 2020-07-03 00:00 UTC; unexplained energy per \
             hour from 16 to 16 Wh; no alert intervals."
        ),
        "NL-A: two days, the old row left out: {ops}"
    );
    assert_eq!(
        ops.matches("class=\"alertband\"").count(),
        2,
        "NL-B's two runs"
    );
    assert!(!ops.contains("No open alerts"));
    assert_eq!(
        ops.matches("<tr data-region=\"NL-B\"><td>NL-B</td><td class=\"from\">")
            .count(),
        1
    );
    assert!(
        ops.contains(
            "<tr data-region=\"NL-B\"><td>NL-B</td><td class=\"from\">2020-07-02 22:00</td>\
             <td class=\"to\">2020-07-02 23:30</td><td class=\"n intervals\">6</td>\
             <td class=\"n wh\">3000</td><td class=\"n z\">6.9</td></tr>"
        ),
        "the open alert: {ops}"
    );
    assert!(
        !ops.contains("<td>NL-A</td><td class=\"from\">"),
        "NL-A has no alert"
    );

    let mut m9 = sign_in(addr, &portal, "NL-A-m9").await;
    let a = m9.get("/household/NL-A-m9").await;
    assert_eq!(
        (a.status, a.header("location")),
        (303, "/join"),
        "signed in, not joined"
    );
    assert_eq!(m1.get("/household/a%27b").await.status, 400);
    let _ = std::fs::remove_dir_all(&dir);
}
