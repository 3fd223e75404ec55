//! Sign-in as a household meets it, in headless Chromium on a phone-sized screen (390 px): the
//! portal's link opens its own page; an expired, forged or other household's link opens a page
//! that says so and shows no data; signed in, another household's page and the operator page
//! stay closed; a form posted without the session's CSRF token is refused. Every page met on the
//! way passes axe-core's WCAG 2.1 A/AA rules with no serious or critical violation. The whole
//! walk runs twice, with a browser asking for English and one asking for Dutch: every page is
//! in the language asked for (`<html lang>` and its words), and the switch on the household's
//! page shows it in the other language and back. Screenshots go to
//! `target/tmp/signin-screenshots/{en,nl}/`.

use ed25519_dalek::SigningKey;
use zeal_embedded::store::ParquetStore;
use zeal_tables::Store as Tables;
use zeal_tests::browser::Browser;
use zeal_web::portal::{AUDIENCE, Claims, issue};
use zeal_web::store::Store;
use zeal_web::{WebSettings, serve};

const OPERATOR: &str = "operator-token-of-the-browser-test-0123456789";

fn link(base: &str, key: &SigningKey, household: &str, iat_ago: i64) -> String {
    let now = (zeal_connectors::now_ms() / 1000) as i64;
    let claims = Claims {
        iss: "test portal".into(),
        aud: AUDIENCE.into(),
        sub: household.into(),
        region: "NL-A".into(),
        iat: now - iat_ago,
        exp: now - iat_ago + 300,
        jti: zeal_web::session::random_hex(),
    };
    format!("{base}/signin?token={}", issue(key, &claims))
}

/// Fills the join form with `name` and consent, and submits it.
fn join_js(name: &str) -> String {
    format!(
        "document.getElementById('display_name').value = '{name}';
         document.getElementById('share_readings').checked = true;
         document.getElementById('join').submit();"
    )
}

/// The language a walk asks for: `en` or `nl`.
#[derive(Clone, Copy, PartialEq)]
struct Lang(&'static str);

impl Lang {
    /// `en` or `nl`, in this language.
    fn t(self, en: &'static str, nl: &'static str) -> &'static str {
        if self.0 == "nl" { nl } else { en }
    }

    /// A browser on a phone-sized screen asking for this language.
    async fn browser(self) -> Browser {
        let mut b = Browser::launch().await.unwrap();
        b.set_viewport(390, 844, true).await.unwrap();
        b.set_accept_language(self.t("en-US,en;q=0.9", "nl-NL,nl;q=0.9,en;q=0.4"))
            .await
            .unwrap();
        b
    }

    /// The page shown is in this language and has no serious or critical accessibility
    /// violation.
    async fn accessible(self, b: &mut Browser, what: &str) {
        let lang = b.eval("document.documentElement.lang").await.unwrap();
        assert_eq!(lang, serde_json::json!(self.0), "{what}: <html lang>");
        let found = b.accessibility_violations().await.unwrap();
        assert!(found.is_empty(), "{what} ({}): {found:?}", self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_household_signs_in_by_its_link_and_sees_only_its_own_page_in_english() {
    walk(Lang("en")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_household_signs_in_by_its_link_and_sees_only_its_own_page_in_dutch() {
    walk(Lang("nl")).await;
}

async fn walk(lang: Lang) {
    let t = |en, nl| lang.t(en, nl);
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-signin-browser"));
    let portal = SigningKey::from_bytes(&[5; 32]);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
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
    let base = format!("http://{addr}");
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("signin-screenshots")
        .join(lang.0);
    let mut browser = lang.browser().await;
    // B joins first, so that there is another household's data to not see.
    browser
        .goto(&link(&base, &portal, "NL-A-m2", 0))
        .await
        .unwrap();
    // Without the consent box ticked the form comes back with the problem next to it.
    browser
        .submit_form("#join", &[("display_name", "Buren Geheim")])
        .await
        .unwrap();
    assert!(
        browser
            .text("#error-share_readings")
            .await
            .unwrap()
            .is_some()
    );
    lang.accessible(&mut browser, "the join form with a problem")
        .await;
    browser
        .click_and_wait_navigation(&join_js("Buren Geheim"))
        .await
        .unwrap();
    assert_eq!(
        browser.text("#household-id").await.unwrap().as_deref(),
        Some("NL-A-m2")
    );

    // A valid link: A's own page (after joining), phone-sized.
    browser
        .goto(&link(&base, &portal, "NL-A-m1", 0))
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/join"));
    browser.screenshot(&shots.join("1-join.png")).await.unwrap();
    lang.accessible(&mut browser, "the join form").await;
    browser
        .click_and_wait_navigation(&join_js("Anna"))
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/household/NL-A-m1"));
    assert_eq!(
        browser.text("#household-id").await.unwrap().as_deref(),
        Some("NL-A-m1")
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
        .screenshot_full_page(&shots.join("2-own-page.png"))
        .await
        .unwrap();
    lang.accessible(&mut browser, "the household's page").await;
    // The switch shows the same page in the other language (kept in a cookie), and back.
    let other = Lang(t("nl", "en"));
    browser
        .click_and_wait_navigation("document.getElementById('lang-switch').click()")
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/household/NL-A-m1"));
    other
        .accessible(&mut browser, "the household's page, switched")
        .await;
    assert_eq!(
        browser.text("#withdraw button").await.unwrap().as_deref(),
        Some(other.t(
            "Stop sharing my readings",
            "Stop met delen van mijn meterstanden"
        ))
    );
    browser
        .goto(&format!("{base}/leaderboard/NL-A"))
        .await
        .unwrap();
    other
        .accessible(&mut browser, "the leaderboard, switched")
        .await;
    browser
        .click_and_wait_navigation("document.getElementById('lang-switch').click()")
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/leaderboard/NL-A"));
    lang.accessible(&mut browser, "the leaderboard, switched back")
        .await;
    browser
        .goto(&format!("{base}/leaderboard/NL-A"))
        .await
        .unwrap();
    lang.accessible(&mut browser, "the leaderboard").await;

    // Signed in as A: B's page and the operator page are closed, and show nothing of B.
    for path in ["/household/NL-A-m2", "/operator"] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        assert_eq!(
            browser.text("#problem h1").await.unwrap().as_deref(),
            Some(t("Not your page", "Niet jouw pagina")),
            "{path}"
        );
        let text = browser.page_text().await.unwrap();
        assert!(
            !text.contains("Buren Geheim") && !text.contains(t("Rounds", "Rondes")),
            "{path}: {text}"
        );
    }
    browser
        .screenshot(&shots.join("3-not-yours.png"))
        .await
        .unwrap();
    lang.accessible(&mut browser, "a problem page").await;

    // A form without the session's CSRF token (as another site would post it) is refused, and
    // the settings stay as they were.
    browser.goto(&format!("{base}/join")).await.unwrap();
    browser
        .click_and_wait_navigation(
            "document.querySelector('#join input[name=csrf]').remove();
             document.getElementById('display_name').value = 'Overgenomen';
             document.getElementById('join').submit();",
        )
        .await
        .unwrap();
    assert_eq!(
        browser.text("#problem h1").await.unwrap().as_deref(),
        Some(t(
            "This form was not accepted",
            "Dit formulier is niet geaccepteerd"
        ))
    );
    browser
        .goto(&format!("{base}/household/NL-A-m1"))
        .await
        .unwrap();
    let text = browser.page_text().await.unwrap();
    assert!(
        text.contains("Anna") && !text.contains("Overgenomen"),
        "{text}"
    );

    // Links that are not the portal's, or no longer valid, in a fresh browser (no session).
    drop(browser);
    let mut browser = lang.browser().await;
    let mallory = SigningKey::from_bytes(&[6; 32]);
    for (what, url, title) in [
        (
            "expired",
            link(&base, &portal, "NL-A-m2", 3600),
            t(
                "This sign-in link has expired",
                "Deze aanmeldlink is verlopen",
            ),
        ),
        (
            "forged",
            link(&base, &mallory, "NL-A-m2", 0),
            t(
                "This sign-in link is not valid",
                "Deze aanmeldlink is niet geldig",
            ),
        ),
    ] {
        browser.goto(&url).await.unwrap();
        assert_eq!(
            browser.text("#problem h1").await.unwrap().as_deref(),
            Some(title),
            "{what}"
        );
        browser
            .screenshot(&shots.join(format!("4-{what}.png")))
            .await
            .unwrap();
        lang.accessible(&mut browser, what).await;
        browser
            .goto(&format!("{base}/household/NL-A-m2"))
            .await
            .unwrap();
        assert_eq!(
            browser.text("#problem h1").await.unwrap().as_deref(),
            Some(t("Please sign in", "Meld je eerst aan")),
            "{what}"
        );
        assert!(!browser.page_text().await.unwrap().contains("Buren Geheim"));
    }
    browser.goto(&format!("{base}/")).await.unwrap();
    lang.accessible(&mut browser, "the start page").await;
    browser.goto(&format!("{base}/operator")).await.unwrap();
    assert!(browser.text("#operator-signin").await.unwrap().is_some());
    lang.accessible(&mut browser, "the operator's sign-in")
        .await;
    // Another household's valid link signs in as that household, never as the one in the
    // address: it opens B's page, and A's stays closed.
    browser
        .goto(&link(&base, &portal, "NL-A-m2", 0))
        .await
        .unwrap();
    assert_eq!(
        browser.text("#household-id").await.unwrap().as_deref(),
        Some("NL-A-m2")
    );
    browser
        .goto(&format!("{base}/household/NL-A-m1"))
        .await
        .unwrap();
    assert_eq!(
        browser.text("#problem h1").await.unwrap().as_deref(),
        Some(t("Not your page", "Niet jouw pagina"))
    );
    // The operator's page, signed in with its token.
    browser.goto(&format!("{base}/operator")).await.unwrap();
    assert_eq!(
        browser.text("#problem h1").await.unwrap().as_deref(),
        Some(t("Not your page", "Niet jouw pagina")),
        "a household session first: signed out below"
    );
    browser
        .click_and_wait_navigation("document.querySelector('form.signout').submit()")
        .await
        .unwrap();
    browser.goto(&format!("{base}/operator")).await.unwrap();
    browser
        .submit_form("#operator-signin", &[("token", OPERATOR)])
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/operator"));
    assert!(browser.text("#problem h1").await.unwrap().is_none());
    lang.accessible(&mut browser, "the operator page").await;
    // B asks for its data to be erased: what it means, then the erasure; it is signed out.
    browser
        .click_and_wait_navigation("document.querySelector('form.signout').submit()")
        .await
        .unwrap();
    browser
        .goto(&link(&base, &portal, "NL-A-m2", 0))
        .await
        .unwrap();
    browser
        .click_and_wait_navigation("document.getElementById('erase-link').click()")
        .await
        .unwrap();
    assert!(browser.text("#erase-form").await.unwrap().is_some());
    lang.accessible(&mut browser, "the erasure page").await;
    browser
        .click_and_wait_navigation("document.getElementById('erase-form').submit()")
        .await
        .unwrap();
    assert_eq!(
        browser.text("#erased h1").await.unwrap().as_deref(),
        Some(t("Your data was erased", "Je gegevens zijn gewist"))
    );
    lang.accessible(&mut browser, "the page after the erasure")
        .await;
    browser
        .goto(&format!("{base}/household/NL-A-m2"))
        .await
        .unwrap();
    assert_eq!(
        browser.text("#problem h1").await.unwrap().as_deref(),
        Some(t("Please sign in", "Meld je eerst aan"))
    );
    // The check can fail: an image without a text alternative is a critical violation.
    browser
        .eval("document.body.insertAdjacentHTML('beforeend', '<img src=\"data:,\">')")
        .await
        .unwrap();
    let found = browser.accessibility_violations().await.unwrap();
    assert!(
        found.iter().any(|v| v.starts_with("image-alt")),
        "axe must see it: {found:?}"
    );
    for shot in ["1-join", "2-own-page", "3-not-yours", "4-expired"] {
        let bytes = std::fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
            "{shot}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
