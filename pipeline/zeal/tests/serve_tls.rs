//! `zeal serve --tls-cert/--tls-key`: the app over HTTPS with a certificate from the run's own
//! CA. A client trusting that CA gets the pages; the session cookie set by a sign-in link is
//! `Secure` and `__Host-` prefixed and the answers carry HSTS; plain HTTP to the port gets no
//! page; a key file that is not a key is refused at start, naming it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl").args(args).output().unwrap()
}

#[test]
fn the_app_serves_https_with_secure_cookies() {
    let cert = std::env::var("ZEAL_TEST_TLS_CERT").expect("ZEAL_TEST_TLS_CERT (tests/run.sh)");
    let key = std::env::var("ZEAL_TEST_TLS_KEY").expect("ZEAL_TEST_TLS_KEY");
    let ca = std::env::var("ZEAL_TEST_CLICKHOUSE_CA").expect("ZEAL_TEST_CLICKHOUSE_CA");
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-serve-tls"));
    zeal_embedded::store::ParquetStore::open(dir.join("store")).unwrap();
    let portal_key = dir.join("portal.key");
    let init = common::zeal()
        .args(["portal", "init", "--key-file"])
        .arg(&portal_key)
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");

    let port = zeal_tests::fault_proxy::free_addr().port();
    let mut serve = common::zeal()
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--tls-cert", &cert, "--tls-key", &key, "--portal-key"])
        .arg(portal_key.with_extension("pub"))
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let out = curl(&["-fsS", "--cacert", &ca, &format!("{url}/healthz")]);
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
            break;
        }
        assert!(serve.try_wait().unwrap().is_none(), "zeal serve exited");
        assert!(started.elapsed() < Duration::from_secs(60), "never served");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A portal link over HTTPS: a Secure, __Host- cookie, HSTS.
    let link = common::zeal()
        .args(["portal", "link", "--key-file"])
        .arg(&portal_key)
        .args(["--household", "NL-A-m1", "--region", "NL-A", "--url", &url])
        .output()
        .unwrap();
    assert!(link.status.success(), "{link:?}");
    let link = String::from_utf8(link.stdout).unwrap();
    let out = curl(&[
        "-sS",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--cacert",
        &ca,
        link.trim(),
    ]);
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 303"), "{head}");
    let cookie = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{head}"));
    assert!(
        cookie.contains("__host-energenies=") && cookie.contains("; secure"),
        "{cookie}"
    );
    assert!(cookie.contains("httponly") && cookie.contains("samesite=lax"));
    assert!(
        head.contains("strict-transport-security: max-age="),
        "{head}"
    );

    // Not trusted, or not TLS: no page.
    let out = curl(&["-sS", &format!("{url}/healthz")]);
    assert!(!out.status.success(), "a client without the CA refuses");
    let out = curl(&[
        "-sS",
        "--max-time",
        "5",
        &format!("http://127.0.0.1:{port}/healthz"),
    ]);
    assert!(
        !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("ok"),
        "plain HTTP gets no page: {out:?}"
    );
    // The app still serves after those.
    assert!(
        curl(&["-fsS", "--cacert", &ca, &format!("{url}/healthz")])
            .status
            .success()
    );
    let _ = serve.kill();
    let _ = serve.wait();

    // A key file that is not a key: refused at start, named.
    let bad = dir.join("not-a-key.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let out = common::zeal()
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--tls-cert", &cert, "--tls-key"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-key.pem"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
