//! The headless-Chromium driver (`zeal_tests::browser`) against a tiny HTTP server started here:
//! no web app, no services. Needs Chromium (`ZEAL_TEST_CHROMIUM` or `chromium` on PATH;
//! `bash tests/run.sh` installs it) and fails without it, like the tests that need services.

use std::path::PathBuf;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use zeal_tests::browser::{Browser, BrowserError};

const FORM_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign up</title></head>
<body style="font-family: sans-serif; background: #e8f4ea">
<h1>Sign up</h1>
<form id="signup" method="post" action="/done">
  <label>Name <input name="name" required></label>
  <label><input type="radio" name="plan" value="basic" checked> Basic</label>
  <label><input type="radio" name="plan" value="green"> Green</label>
  <button type="submit">Send</button>
</form>
<ul><li>one</li><li>two</li></ul>
</body></html>"#;

/// Serves `GET /` (the form) and `POST /done` (echoes the fields) until the test ends.
async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    format!("http://{address}")
}

async fn handle(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return, // e.g. a preconnect that never sent anything
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let body = String::from_utf8_lossy(&request[head_end..head_end + length]).to_string();
    let (status, page) = match head.split_whitespace().take(2).collect::<Vec<_>>()[..] {
        ["GET", "/"] => ("200 OK", FORM_PAGE.to_string()),
        ["POST", "/done"] => {
            let field = |name: &str| {
                body.split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| escape(&url_decode(v)))
                    .unwrap_or_default()
            };
            let page = format!(
                "<!doctype html><html><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width\"><title>Done</title></head>\
                 <body><h1>Thanks</h1><p id=\"result\">Hello, {}!</p>\
                 <p id=\"plan\">{}</p><div style=\"height: 1500px\"></div></body></html>",
                field("name"),
                field("plan")
            );
            ("200 OK", page)
        }
        _ => ("404 Not Found", "not found".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// `application/x-www-form-urlencoded` value → text.
fn url_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn screenshot_dir() -> PathBuf {
    option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("screenshots")
}

/// Asserts `path` is a non-trivial PNG; returns its (width, height).
fn assert_png(path: &std::path::Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        png.len() > 2000,
        "{} is only {} bytes",
        path.display(),
        png.len()
    );
    let dimension = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    (dimension(16), dimension(20)) // IHDR, the first chunk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drives_a_form_on_a_phone_viewport() {
    let base = serve().await;
    let mut browser = Browser::launch().await.unwrap_or_else(|e| panic!("{e}"));

    browser
        .set_viewport(390, 844, true)
        .await
        .expect("viewport");
    browser.goto(&format!("{base}/")).await.expect("goto /");
    assert_eq!(browser.eval("window.innerWidth").await.expect("eval"), 390);
    assert_eq!(
        browser.text("h1").await.expect("text").as_deref(),
        Some("Sign up")
    );
    assert_eq!(browser.text("#missing").await.expect("text"), None);
    assert_eq!(browser.texts("li").await.expect("texts"), ["one", "two"]);
    assert!(
        browser
            .html()
            .await
            .expect("html")
            .contains("<form id=\"signup\"")
    );
    assert_eq!(browser.url().await.expect("url"), format!("{base}/"));
    match browser.eval("null.boom").await {
        Err(BrowserError::JavaScript(m)) => assert!(m.contains("TypeError"), "{m}"),
        other => panic!("expected a JavaScript error, got {other:?}"),
    }
    assert_eq!(
        browser
            .eval("Promise.resolve(6 * 7)")
            .await
            .expect("promise"),
        42
    );

    // Fill with eval, submit by clicking the button.
    let name = "Zoë & <Zeal>";
    let fill = format!(
        "document.querySelector('input[name=name]').value = {}",
        serde_json::Value::from(name)
    );
    browser.eval(&fill).await.expect("fill");
    browser
        .click_and_wait_navigation("document.querySelector('button[type=submit]').click()")
        .await
        .expect("submit");
    assert_eq!(browser.url().await.expect("url"), format!("{base}/done"));
    let result = browser.text("#result").await.expect("text");
    assert_eq!(result.as_deref(), Some(format!("Hello, {name}!").as_str()));
    assert!(
        browser
            .page_text()
            .await
            .expect("page text")
            .contains("Thanks")
    );
    assert_eq!(browser.eval("window.innerWidth").await.expect("eval"), 390);

    let shot = screenshot_dir().join("driver.png");
    browser.screenshot(&shot).await.expect("screenshot");
    assert_eq!(assert_png(&shot), (390, 844), "the viewport");

    // The same form again with submit_form; the radio group takes a value.
    browser
        .goto(&format!("{base}/"))
        .await
        .expect("goto / again");
    browser
        .submit_form("#signup", &[("name", "Ada"), ("plan", "green")])
        .await
        .expect("submit_form");
    assert_eq!(
        browser.text("#result").await.expect("text").as_deref(),
        Some("Hello, Ada!")
    );
    assert_eq!(
        browser.text("#plan").await.expect("text").as_deref(),
        Some("green")
    );
    let full = screenshot_dir().join("driver-full.png");
    browser
        .screenshot_full_page(&full)
        .await
        .expect("full-page screenshot");
    let (width, height) = assert_png(&full);
    assert!(
        width == 390 && height > 1500,
        "full page is {width}x{height}"
    );

    // A script that does not navigate times out instead of hanging.
    browser.set_timeout(std::time::Duration::from_secs(2));
    match browser.click_and_wait_navigation("1 + 1").await {
        Err(BrowserError::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    browser.set_timeout(zeal_tests::browser::DEFAULT_TIMEOUT);
    // A refused connection is a navigation error.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = format!("http://{}/", closed.local_addr().expect("address"));
    drop(closed);
    match browser.goto(&dead).await {
        Err(BrowserError::Navigation(m)) => assert!(m.contains("ERR_CONNECTION_REFUSED"), "{m}"),
        other => panic!("expected a navigation error, got {other:?}"),
    }

    browser.close().await;
}
