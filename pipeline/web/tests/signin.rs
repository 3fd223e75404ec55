//! Who may see what, tried as an attacker would over HTTP: no page of a household without its
//! portal sign-in, no sign-in with a forged, altered, expired or replayed link, no other
//! household's page, no operator page for a household, no form post without the session's CSRF
//! token, no session after sign-out. Each refusal is checked to carry no household data. An
//! erasure signs out every device of the household and sweeps rows a job wrote meanwhile.

use ed25519_dalek::SigningKey;
use std::net::SocketAddr;
use zeal_embedded::store::ParquetStore;
use zeal_tables::Store as Tables;
use zeal_tests::http::{Agent, csrf_of, send};
use zeal_web::portal::{AUDIENCE, Claims, issue};
use zeal_web::store::Store;
use zeal_web::{WebSettings, serve};

const OPERATOR: &str = "operator-token-for-the-signin-test-0123456789abcdef";

fn claims(household: &str, region: &str, iat_ago: i64, lifetime: i64) -> Claims {
    let now = (zeal_connectors::now_ms() / 1000) as i64;
    Claims {
        iss: "test".into(),
        aud: AUDIENCE.into(),
        sub: household.into(),
        region: region.into(),
        iat: now - iat_ago,
        exp: now - iat_ago + lifetime,
        jti: zeal_web::session::random_hex(),
    }
}

fn link(key: &SigningKey, c: &Claims) -> String {
    format!("/signin?token={}", issue(key, c))
}

/// Signs in and joins `household` named `name`; returns its signed-in client.
async fn joined(addr: SocketAddr, portal: &SigningKey, household: &str, name: &str) -> Agent {
    let mut agent = Agent::new(addr);
    let a = agent
        .get(&link(portal, &claims(household, "NL-A", 0, 120)))
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let csrf = csrf_of(&agent.get("/join").await.body);
    assert_eq!(csrf.len(), 64);
    let a = agent
        .post(
            "/join",
            &format!("csrf={csrf}&display_name={name}&share_readings=on&leaderboard=on"),
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    agent
}

async fn app(dir: &std::path::Path, settings: WebSettings) -> SocketAddr {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    std::mem::forget(stop_tx); // serve until the test process ends
    serve(
        "127.0.0.1:0".parse().unwrap(),
        Store::from(Tables::Embedded(ParquetStore::open(dir).unwrap())),
        settings,
        stop,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_signed_in_household_sees_its_page() {
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-web-signin"));
    let portal = SigningKey::from_bytes(&[3; 32]);
    let addr = app(
        &dir,
        WebSettings {
            portal_key: Some(portal.verifying_key()),
            operator_token: Some(OPERATOR.into()),
            ..WebSettings::default()
        },
    )
    .await;
    let mut m1 = joined(addr, &portal, "NL-A-m1", "Anna").await;
    let mut m2 = joined(addr, &portal, "NL-A-m2", "Bram+Secret").await;
    let own = m2.get("/household/NL-A-m2").await;
    assert_eq!(own.status, 200);
    assert!(own.body.contains("Bram Secret") && own.body.contains("id=\"points\""));
    let no_data = |a: &zeal_tests::http::Answer| {
        assert!(
            !a.body.contains("Bram Secret") && !a.body.contains("id=\"points\""),
            "{}",
            a.body
        );
    };

    // Nobody signed in: no household page, no form, no leaderboard, the operator's sign-in.
    let mut anonymous = Agent::new(addr);
    for path in [
        "/household/NL-A-m2",
        "/join",
        "/leaderboard/NL-A",
        "/leaderboard",
    ] {
        let a = anonymous.get(path).await;
        assert_eq!(a.status, 401, "{path}");
        assert!(a.body.contains("Please sign in"), "{path}");
        no_data(&a);
    }
    let a = anonymous.get("/operator").await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("id=\"operator-signin\"") && !a.body.contains("completed"));
    assert_eq!(
        anonymous
            .post("/join", "display_name=x&share_readings=on")
            .await
            .status,
        401
    );

    // Links the portal did not sign as they are: another key, another household's claims under
    // a valid signature, expired, issued for a year, used twice. None signs in.
    let mallory = SigningKey::from_bytes(&[4; 32]);
    let valid = issue(&portal, &claims("NL-A-m1", "NL-A", 0, 120));
    let parts: Vec<&str> = valid.split('.').collect();
    let swapped = {
        use base64::Engine as _;
        let payload = serde_json::to_vec(&claims("NL-A-m2", "NL-A", 0, 120)).unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        format!("/signin?token={}.{payload}.{}", parts[0], parts[2])
    };
    for (what, path, title) in [
        (
            "another key",
            link(&mallory, &claims("NL-A-m2", "NL-A", 0, 120)),
            "not valid",
        ),
        ("swapped claims", swapped, "not valid"),
        (
            "expired",
            link(&portal, &claims("NL-A-m2", "NL-A", 900, 300)),
            "expired",
        ),
        (
            "a year long",
            link(&portal, &claims("NL-A-m2", "NL-A", 0, 365 * 86_400)),
            "not valid",
        ),
        ("no token", "/signin".to_string(), "not valid"),
    ] {
        let mut attacker = Agent::new(addr);
        let a = attacker.get(&path).await;
        assert_eq!(a.status, 401, "{what}");
        assert!(a.body.contains(title), "{what}: {}", a.body);
        assert_eq!(a.header("set-cookie"), "", "{what}: no session");
        let a = attacker.get("/household/NL-A-m2").await;
        assert_eq!(a.status, 401, "{what}");
        no_data(&a);
    }
    let once = link(&portal, &claims("NL-A-m2", "NL-A", 0, 120));
    assert_eq!(Agent::new(addr).get(&once).await.status, 303);
    let mut replayer = Agent::new(addr);
    let a = replayer.get(&once).await;
    assert_eq!(a.status, 401, "a link from a browser history or a log");
    assert!(a.body.contains("used already"));
    no_data(&replayer.get("/household/NL-A-m2").await);

    // Signed in as m1: not m2's page, not another region's board, not the operator page.
    for (path, status) in [
        ("/household/NL-A-m2", 403),
        ("/leaderboard/NL-B", 403),
        ("/operator", 403),
    ] {
        let a = m1.get(path).await;
        assert_eq!(a.status, status, "{path}");
        no_data(&a);
        assert!(!a.body.contains("data-event"), "{path}");
    }
    assert_eq!(m1.get("/leaderboard/NL-A").await.status, 200);

    // Form posts without this session's CSRF token are refused and change nothing: none, a
    // guessed one, and m2's (a page of m2's session cannot post into m1's).
    let m2_csrf = csrf_of(&m2.get("/join").await.body);
    for form in [
        "display_name=Hacked&share_readings=on".to_string(),
        format!(
            "csrf={}&display_name=Hacked&share_readings=on",
            "0".repeat(64)
        ),
        format!("csrf={m2_csrf}&display_name=Hacked&share_readings=on"),
    ] {
        let a = m1.post("/join", &form).await;
        assert_eq!(a.status, 403, "{form}");
        assert!(a.body.contains("This form was not accepted"));
    }
    let page = m1.get("/household/NL-A-m1").await.body;
    assert!(page.contains("Anna") && !page.contains("Hacked"));
    assert_eq!(
        m1.post("/signout", "").await.status,
        403,
        "sign-out is a form too"
    );

    // Every answer keeps the page out of frames, caches and referrers.
    let a = m1.get("/household/NL-A-m1").await;
    assert_eq!(a.header("referrer-policy"), "no-referrer");
    assert_eq!(a.header("x-frame-options"), "DENY");
    assert_eq!(a.header("cache-control"), "no-store");
    assert!(
        a.header("content-security-policy")
            .contains("default-src 'none'")
    );
    assert_eq!(a.header("strict-transport-security"), "", "plain HTTP here");

    // Signing out ends the session on the server: the old cookie opens nothing.
    let cookie = m1.cookie.clone();
    let csrf = csrf_of(&m1.get("/household/NL-A-m1").await.body);
    let a = m1.post("/signout", &format!("csrf={csrf}")).await;
    assert_eq!((a.status, a.header("location")), (303, "/"));
    assert!(a.header("set-cookie").contains("Max-Age=0"));
    let a = send(
        addr,
        "GET",
        "/household/NL-A-m1",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(a.status, 401);

    // The operator: a wrong token is refused; the right one by form or Bearer header.
    let mut op = Agent::new(addr);
    let a = op.post("/operator/signin", "token=guess").await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("id=\"error-token\""));
    assert_eq!(op.get("/operator").await.status, 401);
    let a = op
        .post("/operator/signin", &format!("token={OPERATOR}"))
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(op.get("/operator").await.status, 200);
    assert_eq!(
        op.get("/household/NL-A-m2").await.status,
        403,
        "not households' pages"
    );
    let bearer = format!("Bearer {OPERATOR}");
    let a = send(addr, "GET", "/operator", &[("Authorization", &bearer)], "").await;
    assert_eq!(a.status, 200);
    let a = send(
        addr,
        "GET",
        "/operator",
        &[("Authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(a.status, 401);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_portal_key_nobody_signs_in_and_without_a_token_no_operator_page() {
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-web-nokey"));
    let addr = app(&dir, WebSettings::default()).await;
    let portal = SigningKey::from_bytes(&[3; 32]);
    let mut a = Agent::new(addr);
    let answer = a
        .get(&link(&portal, &claims("NL-A-m1", "NL-A", 0, 60)))
        .await;
    assert_eq!(answer.status, 503);
    assert!(answer.body.contains("Sign-in is not set up"));
    assert_eq!(a.get("/household/NL-A-m1").await.status, 401);
    let answer = a.post("/operator/signin", "token=anything-at-all").await;
    assert_eq!(answer.status, 404);
    assert_eq!(a.get("/operator").await.status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A page's language is the switch's cookie, else the browser's `Accept-Language`, else
/// English; the switch keeps the choice and returns to the page it was on, never to another
/// site (an open redirect would let a phishing link borrow the app's address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_speak_the_language_asked_for_and_the_switch_stays_on_this_site() {
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-web-lang"));
    let addr = app(&dir, WebSettings::default()).await;
    let en = send(addr, "GET", "/", &[], "").await;
    assert!(en.body.contains("<html lang=\"en\">"), "{}", en.body);
    assert!(en.body.contains("Your energy, your journey"));
    assert_eq!(en.header("content-language"), "en");
    let dutch = [("Accept-Language", "de-DE,nl;q=0.8,en;q=0.5")];
    let nl = send(addr, "GET", "/", &dutch, "").await;
    assert!(nl.body.contains("<html lang=\"nl\">"), "{}", nl.body);
    assert!(nl.body.contains("Jouw energie, jouw reis") && !nl.body.contains("Your energy"));
    assert_eq!(nl.header("content-language"), "nl");
    assert!(
        nl.body
            .contains("href=\"/language/en?back=/\" lang=\"en\" hreflang=\"en\">English</a>"),
        "the switch names the other language in itself"
    );
    // The choice (the cookie) wins over the browser's header.
    let chosen = send(
        addr,
        "GET",
        "/",
        &[("Accept-Language", "nl"), ("Cookie", "zeal_lang=en")],
        "",
    )
    .await;
    assert!(chosen.body.contains("<html lang=\"en\">"));
    // The switch keeps the choice and shows the page again.
    let switched = send(
        addr,
        "GET",
        "/language/nl?back=%2Fhousehold%2FNL-A-m1",
        &[],
        "",
    )
    .await;
    assert_eq!(switched.status, 303);
    assert_eq!(switched.header("location"), "/household/NL-A-m1");
    assert!(
        switched
            .header("set-cookie")
            .starts_with("zeal_lang=nl; Path=/; SameSite=Lax")
    );
    let refused = send(
        addr,
        "GET",
        "/household/NL-A-m1",
        &[("Cookie", "zeal_lang=nl")],
        "",
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("<h1>Meld je eerst aan</h1>"));
    assert!(
        refused
            .body
            .contains("/language/en?back=/household/NL-A-m1")
    );
    // A sign-in link is used once: its page's switch returns to the start, not to the link.
    let link_page = send(addr, "GET", "/signin?token=x", &dutch, "").await;
    assert!(link_page.body.contains("/language/en?back=/\""));
    // Never to another site, however the address is dressed up.
    for back in [
        "%2F%2Fevil.example%2Fx",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
        "%2Fok%0D%0ASet-Cookie%3A%20x%3D1",
        "evil.example",
    ] {
        let a = send(addr, "GET", &format!("/language/en?back={back}"), &[], "").await;
        assert_eq!((a.status, a.header("location")), (303, "/"), "{back}");
    }
    assert_eq!(send(addr, "GET", "/language/de", &[], "").await.status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A household erases its data from its phone: its laptop's session ends too, and a row a job
/// writes just after the erasure (it looked at the erasure log a moment before the record
/// arrived) is swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_signs_out_every_device_and_sweeps_late_rows() {
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-web-erase"));
    let portal = SigningKey::from_bytes(&[4; 32]);
    let addr = app(
        &dir,
        WebSettings {
            portal_key: Some(portal.verifying_key()),
            erase_sweep_after: std::time::Duration::from_millis(300),
            ..WebSettings::default()
        },
    )
    .await;
    let mut phone = joined(addr, &portal, "NL-A-m1", "Anna").await;
    let mut laptop = Agent::new(addr);
    let a = laptop
        .get(&link(&portal, &claims("NL-A-m1", "NL-A", 0, 120)))
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(laptop.get("/household/NL-A-m1").await.status, 200);
    let form = phone.get("/erase").await.body;
    let a = phone
        .post("/erase", &format!("csrf={}", csrf_of(&form)))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Your data was erased"));
    // The job's late write.
    let store = ParquetStore::open(&dir).unwrap();
    zeal_tables::row::append(
        &store,
        &[zeal_tables::GameEventRow {
            household_id: "NL-A-m1".into(),
            day: 18_500,
            kind: "points".into(),
            code: "below_baseline".into(),
            points: 10,
            reason: "late".into(),
            computed_at: 1_700_000_000,
        }],
    )
    .unwrap();
    assert!(store.has_rows("gamification_events"));
    let page = laptop.get("/household/NL-A-m1").await;
    assert_eq!(page.status, 401, "the laptop is signed out too");
    assert!(!page.body.contains("Anna"));
    let started = std::time::Instant::now();
    while store.has_rows("gamification_events") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the late row was never swept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!store.has_rows("households"));
    let _ = std::fs::remove_dir_all(&dir);
}
