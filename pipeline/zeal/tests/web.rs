//! The Energenies web app end to end, as a household and an operator use it: `zeal demo` on the
//! real broker and ClickHouse serves the app at the end; headless Chromium on a phone-sized
//! screen arrives by the demo's portal links, joins two households, reads the household page,
//! the leaderboard and (signed in with the operator token) the operator page
//! (with grid-balance rows written to ClickHouse by the pipeline's own writer), and every number
//! it reads equals the README's SQL run against ClickHouse. Screenshots go to
//! `target/tmp/web-screenshots/`.

use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use zeal_connectors::clickhouse::Warehouse;
use zeal_tables::{Destination, GridBalanceRow};
use zeal_tests::browser::Browser;

/// Stops the demo however the test ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Standing {
    total_points: u64,
    level: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Day {
    day: u16,
    import_kwh: f64,
    export_kwh: f64,
    region_average_kwh: f64,
    efficient_kwh: f64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Count {
    n: u64,
}

/// The text of the first element matching `selector` (empty when none).
async fn text(b: &mut Browser, selector: &str) -> String {
    b.text(selector).await.unwrap().unwrap_or_default()
}

fn kwh(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "–".to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_household_joins_and_its_page_matches_clickhouse() {
    // A fresh database for this run; the demo creates its tables there.
    let (url, ch) = zeal_tests::fresh_database_url("zt_web").await;
    let bootstrap = zeal_tests::kafka().bootstrap;
    let data = std::env::temp_dir().join(zeal_tests::unique("zeal-web-demo"));
    std::fs::create_dir_all(&data).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_zeal"))
        .args([
            "demo",
            "--kafka",
            &bootstrap,
            "--clickhouse",
            &url,
            "--regions",
            "2",
            "--meters",
            "5",
            "--opt-in-every",
            "1",
            "--web",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let demo = Demo(child);
    // The demo prints its summary, then the web app's address and sign-in links for two
    // households of each region, and serves until stopped.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut addr = None;
        let mut links = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("demo| {line}");
            if let Some(rest) = line.split("web app: http://").nth(1) {
                addr = Some(rest.split('/').next().unwrap_or_default().to_string());
            }
            if let Some((household, link)) = line.trim().split_once(": http://")
                && link.contains("/signin?token=")
            {
                links.push((household.to_string(), format!("http://{link}")));
            }
            if line.starts_with("Operator page: ") {
                let _ = tx.send((addr.take().unwrap_or_default(), std::mem::take(&mut links)));
            }
        }
    });
    let (addr, links) =
        tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(1200)))
            .await
            .unwrap()
            .expect("the demo finishes and prints the web app's address and sign-in links");
    let base = format!("http://{addr}");
    let portal_key = data.join("portal.key");
    let portal_link = |household: &str, region: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_zeal"))
            .args(["portal", "link", "--key-file"])
            .arg(&portal_key)
            .args(["--household", household, "--region", region, "--url", &base])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let r01: Vec<&(String, String)> = links
        .iter()
        .filter(|(h, _)| h.starts_with("NL-R01-"))
        .collect();
    assert_eq!(r01.len(), 2, "two links per region: {links:?}");
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let mut browser = Browser::launch().await.unwrap();
    browser.set_viewport(390, 844, true).await.unwrap();

    // The first household arrives from the portal: not joined yet, it gets the join form.
    // A bad form first: every problem is named on the page, nothing is saved.
    browser.goto(&r01[0].1).await.unwrap();
    assert!(browser.url().await.unwrap().ends_with("/join"));
    assert_eq!(
        browser.text("#join-household").await.unwrap().as_deref(),
        Some(r01[0].0.as_str()),
        "the portal named the household"
    );
    browser.screenshot(&shots.join("1-join.png")).await.unwrap();
    browser
        .click_and_wait_navigation(
            "document.getElementById('display_name').value = '';
             document.getElementById('join').submit();",
        )
        .await
        .unwrap();
    assert!(browser.text("#error-display_name").await.unwrap().is_some());
    assert!(
        browser
            .text("#error-share_readings")
            .await
            .unwrap()
            .is_some()
    );
    browser
        .screenshot(&shots.join("2-join-problems.png"))
        .await
        .unwrap();

    // A household that wants to be named, then one that does not.
    let join = |name: &str, named: bool| {
        format!(
            "document.getElementById('display_name').value = '{name}';
             document.getElementById('share_readings').checked = true;
             document.getElementById('leaderboard').checked = {named};
             document.getElementById('join').submit();"
        )
    };
    browser
        .click_and_wait_navigation(&join("Familie Jansen", true))
        .await
        .unwrap();
    let page_url = browser.url().await.unwrap();
    assert!(
        page_url.ends_with(&format!("/household/{}", r01[0].0)),
        "{page_url}"
    );
    let id = browser.text("#household-id").await.unwrap().unwrap();
    assert_eq!(id, r01[0].0);
    assert_eq!(
        browser.eval("window.innerWidth").await.unwrap(),
        serde_json::json!(390),
        "phone-sized"
    );
    assert_eq!(
        browser
            .eval("document.documentElement.scrollWidth <= window.innerWidth")
            .await
            .unwrap(),
        serde_json::json!(true),
        "nothing wider than the phone's screen"
    );
    browser
        .screenshot_full_page(&shots.join("3-household.png"))
        .await
        .unwrap();

    // The page's numbers are the README's SQL.
    let standing = ch
        .fetch_all::<Standing>(&format!(
            "SELECT sum(points) AS total_points, intDiv(sum(points), 100) + 1 AS level \
             FROM gamification_events FINAL WHERE household_id = '{id}'"
        ))
        .await
        .unwrap();
    assert_eq!(
        text(&mut browser, "#points").await,
        standing[0].total_points.to_string()
    );
    assert_eq!(
        text(&mut browser, "#level").await,
        standing[0].level.to_string()
    );
    let stage = ch
        .query_text(&format!(
            "SELECT argMax(code, day) AS stage FROM gamification_events FINAL \
             WHERE household_id = '{id}' AND kind = 'stage'"
        ))
        .await
        .unwrap();
    let stage = stage.trim();
    assert_eq!(
        text(&mut browser, "#stage").await,
        if stage.is_empty() { "aware" } else { stage }
    );
    let days = ch
        .fetch_all::<Day>(&format!(
            "SELECT day, import_kwh, export_kwh, region_average_kwh, efficient_kwh \
             FROM household_daily FINAL WHERE household_id = '{id}' ORDER BY day"
        ))
        .await
        .unwrap();
    let today = days.last().expect("the demo's day is in household_daily");
    assert_eq!(
        text(&mut browser, "#today-kwh").await,
        kwh(today.import_kwh)
    );
    assert_eq!(
        text(&mut browser, "#today-average").await,
        kwh(today.region_average_kwh)
    );
    assert_eq!(
        text(&mut browser, "#today-efficient").await,
        kwh(today.efficient_kwh)
    );
    assert_eq!(
        text(&mut browser, "#today-export").await,
        kwh(today.export_kwh)
    );
    assert!(
        today.region_average_kwh > 0.0,
        "the region's average comes from the private totals"
    );
    assert!(
        today.efficient_kwh > 0.0,
        "the efficient neighbours' mark comes from the private daily histogram"
    );
    let month: f64 = days.iter().map(|d| d.import_kwh).sum();
    assert_eq!(text(&mut browser, "#month-kwh").await, kwh(month));
    assert_eq!(
        text(&mut browser, "#month-days").await,
        days.len().to_string()
    );
    let devices = ch
        .fetch_all::<Count>(&format!(
            "SELECT count() AS n FROM appliance_usage FINAL WHERE household_id = '{id}' \
             AND day = toDate({}) AND (energy_wh > 0 OR confidence < {})",
            i64::from(today.day) * 86_400,
            zeal_tables::appliance_usage::CONFIDENT
        ))
        .await
        .unwrap();
    let shown = browser
        .eval("document.querySelectorAll('#devices tr[data-appliance]').length")
        .await
        .unwrap();
    assert_eq!(
        shown,
        serde_json::json!(devices[0].n),
        "device breakdown rows"
    );
    assert!(devices[0].n > 0, "the demo disaggregated the household");

    browser.goto(&r01[1].1).await.unwrap();
    browser
        .click_and_wait_navigation(&join("Stille Buren", false))
        .await
        .unwrap();
    let quiet = browser.text("#household-id").await.unwrap().unwrap();
    assert_eq!(quiet, r01[1].0, "the second link's household");
    // Signed in as it, the first household's page is not open to it.
    browser
        .goto(&format!("{base}/household/{id}"))
        .await
        .unwrap();
    assert_eq!(
        browser.text("#problem h1").await.unwrap().as_deref(),
        Some("Not your page")
    );
    assert!(browser.text("#points").await.unwrap().is_none());

    // A prosumer whose inverter reports generation joins by meter id: its page shows
    // self-consumption and self-sufficiency as README's SQL computes them.
    let prosumers = ch
        .query_text(&format!(
            "SELECT household_id, region FROM household_daily FINAL \
             WHERE NOT isNaN(generation_kwh) AND generation_kwh > 1 \
             AND household_id NOT IN ('{id}', '{quiet}') ORDER BY household_id LIMIT 1"
        ))
        .await
        .unwrap();
    let (pv, pv_region) = prosumers
        .trim()
        .split_once('\t')
        .expect("a demo household with PV generation on a July day");
    // Its link from `zeal portal link`, as a portal team would try it.
    browser.goto(&portal_link(pv, pv_region)).await.unwrap();
    browser
        .click_and_wait_navigation(
            "document.getElementById('display_name').value = 'Zonnige Buren';
             document.getElementById('share_readings').checked = true;
             document.getElementById('join').submit();",
        )
        .await
        .unwrap();
    assert_eq!(
        browser.text("#household-id").await.unwrap().as_deref(),
        Some(pv)
    );
    let shares = ch
        .query_text(&format!(
            "SELECT generation_kwh, self_consumption, self_sufficiency FROM household_daily FINAL \
             WHERE household_id = '{pv}' ORDER BY day DESC LIMIT 1"
        ))
        .await
        .unwrap();
    let shares: Vec<f64> = shares
        .trim()
        .split('\t')
        .map(|v| v.parse().unwrap())
        .collect();
    let month = ch
        .query_text(&format!(
            "SELECT sumIf(greatest(generation_kwh - export_kwh, 0), NOT isNaN(generation_kwh)) \
             / sumIf(import_kwh + greatest(generation_kwh - export_kwh, 0), NOT isNaN(generation_kwh)) \
             FROM household_daily FINAL WHERE household_id = '{pv}' \
             AND toStartOfMonth(day) = (SELECT toStartOfMonth(max(day)) FROM household_daily FINAL WHERE household_id = '{pv}')"
        ))
        .await
        .unwrap();
    let month: f64 = month.trim().parse().unwrap();
    let pct = |v: f64| format!("{:.0}", v * 100.0);
    assert_eq!(
        text(&mut browser, "#today-generation").await,
        kwh(shares[0])
    );
    assert_eq!(
        text(&mut browser, "#today-self-consumption").await,
        pct(shares[1])
    );
    assert_eq!(
        text(&mut browser, "#today-self-sufficiency").await,
        pct(shares[2])
    );
    assert_eq!(
        text(&mut browser, "#month-self-sufficiency").await,
        pct(month)
    );
    assert!(
        (0.0..=1.0).contains(&shares[1]) && shares[2] > 0.0,
        "{shares:?}"
    );
    browser
        .screenshot_full_page(&shots.join("3b-prosumer.png"))
        .await
        .unwrap();

    // The leaderboard names only the household that opted in (seen by the quiet one, signed
    // in again: it joined already, so the link opens its page).
    browser.goto(&portal_link(&quiet, "NL-R01")).await.unwrap();
    assert_eq!(
        browser.text("#household-id").await.unwrap().as_deref(),
        Some(quiet.as_str())
    );
    browser
        .goto(&format!("{base}/leaderboard/NL-R01"))
        .await
        .unwrap();
    let board = browser.text("#leaderboard").await.unwrap().unwrap();
    assert!(board.contains("Familie Jansen"), "{board}");
    assert!(!board.contains("Stille Buren"), "{board}");
    assert!(!board.contains(&quiet), "{board}");
    let points = browser
        .eval(&format!(
            "document.querySelector('tr[data-household=\"{id}\"] .points').textContent"
        ))
        .await
        .unwrap();
    assert_eq!(
        points,
        serde_json::json!(standing[0].total_points.to_string())
    );
    // README's leaderboard SQL gives the same table.
    let sql = ch
        .query_text(
            "SELECT display_name, sum(points) AS total_points \
             FROM (SELECT household_id, display_name FROM households FINAL WHERE region = 'NL-R01' AND leaderboard = 1) \
             ALL LEFT JOIN (SELECT household_id, points FROM gamification_events FINAL) USING household_id \
             GROUP BY display_name ORDER BY total_points DESC, display_name"
        )
        .await
        .unwrap();
    let rows = browser
        .eval("Array.from(document.querySelectorAll('#leaderboard tr[data-household]')).map(r => r.querySelector('.name').textContent + '\\t' + r.querySelector('.points').textContent).join('\\n')")
        .await
        .unwrap();
    assert_eq!(rows.as_str().unwrap_or_default(), sql.trim_end());
    browser
        .screenshot(&shots.join("4-leaderboard.png"))
        .await
        .unwrap();

    // A household cannot open the operator page; the operator signs in with its token.
    browser.goto(&format!("{base}/operator")).await.unwrap();
    assert_eq!(
        browser.text("#problem h1").await.unwrap().as_deref(),
        Some("Not your page")
    );
    let token = std::fs::read_to_string(data.join("operator.token")).unwrap();
    browser
        .click_and_wait_navigation("document.querySelector('form.signout').submit()")
        .await
        .unwrap();
    browser.goto(&format!("{base}/operator")).await.unwrap();
    browser
        .click_and_wait_navigation(&format!(
            "document.getElementById('token').value = '{}';
             document.getElementById('operator-signin').submit();",
            token.trim()
        ))
        .await
        .unwrap();
    // The operator page counts what ClickHouse holds. The demo's feeder study (NL-GRID) wrote
    // grid balance: its chart lists the theft's alert intervals as ClickHouse has them.
    let marked = ch
        .query_text(
            "SELECT toUnixTimestamp(interval_start), unexplained_wh FROM grid_balance FINAL \
             WHERE region = 'NL-GRID' AND alert = 1 ORDER BY interval_start",
        )
        .await
        .unwrap();
    // Its runs of consecutive alert intervals: (last start, intervals, Wh).
    let mut runs: Vec<(i64, u32, f64)> = Vec::new();
    for line in marked.lines() {
        let (t, wh) = line.split_once('\t').unwrap();
        let (t, wh): (i64, f64) = (t.parse().unwrap(), wh.parse().unwrap());
        match runs.last_mut() {
            Some(run) if run.0 + 900 == t => *run = (t, run.1 + 1, run.2 + wh),
            _ => runs.push((t, 1, wh)),
        }
    }
    assert!(
        runs.iter().any(|r| r.1 >= 20),
        "the demo's 6 h theft is marked: {runs:?}"
    );
    let summary = text(&mut browser, "#balance div[data-region=\"NL-GRID\"] p").await;
    for (_, n, wh) in &runs {
        let intervals = if *n == 1 { "interval" } else { "intervals" };
        assert!(
            summary.contains(&format!("({n} {intervals}, {wh:.0} Wh)")),
            "{summary}"
        );
    }
    // Then two days of it for two more regions: NL-R01 without alerts, NL-R02 with a run on the
    // first day (closed: quiet intervals followed it) and one 22:00-23:30 on the second (open:
    // only two quiet intervals since), written by the pipeline's own writer.
    let t0: i64 = 1_593_561_600; // 2020-07-01 00:00 UTC
    let open_run = 96 + 88..96 + 94;
    let balance: Vec<GridBalanceRow> = (0..192)
        .flat_map(|k: i64| {
            ["NL-R01", "NL-R02"].map(|region| {
                let alert = region == "NL-R02" && ((8..12).contains(&k) || open_run.contains(&k));
                GridBalanceRow {
                    region: region.into(),
                    interval_start: (t0 + k * 900) as u32,
                    total_wh: 5_000,
                    feeder_wh: 5_200.0,
                    expected_loss_wh: 190.0,
                    unexplained_wh: if alert { 500.0 + k as f64 } else { 4.0 },
                    z: if alert { 5.0 + k as f64 / 100.0 } else { 0.2 },
                    alert: u8::from(alert),
                    computed_at: 1,
                }
            })
        })
        .collect();
    ch.write(&balance).await.unwrap();
    browser.goto(&format!("{base}/operator")).await.unwrap();
    for region in ["NL-R01", "NL-R02"] {
        let charts = browser
            .eval(&format!(
                "document.querySelectorAll('#balance div[data-region=\"{region}\"] svg.chart.balance title').length"
            ))
            .await
            .unwrap();
        assert_ne!(charts, serde_json::json!(0), "{region}'s balance chart");
    }
    let alerts = browser
        .eval("Array.from(document.querySelectorAll('#alerts tr[data-region^=\"NL-R0\"]')).map(r => Array.from(r.cells).map(c => c.textContent).join('\\t'))")
        .await
        .unwrap();
    // The open run as README's SQL over grid_balance gives it.
    let run = ch
        .query_text(&format!(
            "SELECT region, count() AS n, sum(unexplained_wh) AS wh, max(z) AS z \
             FROM grid_balance FINAL WHERE region = 'NL-R02' AND alert = 1 \
             AND interval_start >= toDateTime({}) GROUP BY region",
            t0 + 96 * 900
        ))
        .await
        .unwrap();
    let run: Vec<&str> = run.trim().split('\t').collect();
    let (wh, z): (f64, f64) = (run[2].parse().unwrap(), run[3].parse().unwrap());
    assert_eq!(
        alerts,
        serde_json::json!([format!(
            "NL-R02\t2020-07-02 22:00\t2020-07-02 23:30\t{}\t{wh:.0}\t{z:.1}",
            run[1]
        )]),
        "one open alert in NL-R01 and NL-R02"
    );
    assert_eq!((run[0], run[1]), ("NL-R02", "6"));
    let completed = ch
        .fetch_all::<Count>(
            "SELECT count() AS n FROM round_events FINAL WHERE region = 'NL-R01' AND event = 'COMPLETED'",
        )
        .await
        .unwrap();
    let shown = browser
        .eval("document.querySelector('tr[data-region=\"NL-R01\"] td[data-event=\"completed\"]').textContent")
        .await
        .unwrap();
    assert_eq!(shown, serde_json::json!(completed[0].n.to_string()));
    assert_eq!(completed[0].n, 24, "a day of hourly rounds");
    browser
        .screenshot_full_page(&shots.join("5-operator.png"))
        .await
        .unwrap();

    // Bad addresses get a page that says what is wrong.
    for (path, title) in [
        ("household/NL-R09-m9999", "Not your page"),
        ("household/not%20an%20id", "Not a household id"),
    ] {
        browser.goto(&format!("{base}/{path}")).await.unwrap();
        assert!(
            browser
                .text("#problem h1")
                .await
                .unwrap()
                .is_some_and(|t| t.contains(title)),
            "{path}"
        );
    }
    browser
        .screenshot(&shots.join("6-problem.png"))
        .await
        .unwrap();
    for shot in [
        "1-join",
        "3-household",
        "3b-prosumer",
        "4-leaderboard",
        "5-operator",
    ] {
        let bytes = std::fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{shot}"
        );
    }
    println!("screenshots in {}", shots.display());

    // The joins are rows of `households`, and the SQL in README reads them.
    let joined = ch
        .fetch_all::<Count>("SELECT count() AS n FROM households FINAL WHERE region = 'NL-R01'")
        .await
        .unwrap();
    assert_eq!(joined[0].n, 2 + u64::from(pv_region == "NL-R01"));
    drop(browser);
    drop(demo);
    let _ = std::fs::remove_dir_all(&data);
    let db = url.rsplit('/').next().unwrap();
    let admin = Warehouse::connect(&zeal_tests::clickhouse()).await.unwrap();
    admin.execute(&format!("DROP DATABASE {db}")).await.unwrap();
}
