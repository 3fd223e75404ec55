//! A minimal headless-Chromium driver for end-to-end tests of the web app, speaking the Chrome
//! DevTools Protocol (CDP) over one websocket.
//!
//! [`Browser::launch`] starts `$ZEAL_TEST_CHROMIUM` (exported by `tests/run.sh`) or `chromium`
//! from `PATH` with a fresh profile, opens a tab and attaches to it. Every page method then goes
//! to that tab. Navigations wait for the new document's `load` event, matched by its loader id,
//! so a slow or same-URL navigation is never mistaken for the previous page.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zeal_tests::browser::BrowserError> {
//! use zeal_tests::browser::Browser;
//! let mut browser = Browser::launch().await?;
//! browser.set_viewport(390, 844, true).await?;
//! browser.goto("http://127.0.0.1:8080/").await?;
//! browser.submit_form("form#login", &[("user", "ada")]).await?;
//! assert_eq!(browser.text("h1").await?.as_deref(), Some("Welcome"));
//! browser.screenshot("target/screenshots/welcome.png").await?;
//! browser.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! The browser process is killed and its profile directory removed when the [`Browser`] is
//! dropped; [`Browser::close`] asks it to exit first.

use base64::Engine as _;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStderr, Command};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long [`Browser::launch`] waits for Chromium to print its DevTools address.
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(90);
/// The default for each command and navigation; see [`Browser::set_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The window size Chromium starts with (CSS pixels), before any [`Browser::set_viewport`].
pub const WINDOW_SIZE: (u32, u32) = (1280, 800);

/// Chromium's stderr kept for error messages (the last this many bytes).
const STDERR_TAIL: usize = 8 * 1024;
/// Unconsumed protocol events kept (the oldest are dropped beyond this).
const MAX_EVENTS: usize = 1000;

/// What went wrong driving the browser.
#[derive(Debug)]
pub enum BrowserError {
    /// No Chromium: neither `ZEAL_TEST_CHROMIUM` nor `chromium` on `PATH`.
    NotFound,
    /// Chromium did not start or did not print its DevTools address; has its stderr.
    Launch(String),
    /// The websocket to Chromium failed or closed.
    Connection(String),
    /// Chromium answered a command with an error.
    Protocol {
        /// The CDP method, e.g. `Page.navigate`.
        method: String,
        /// Chromium's error code.
        code: i64,
        /// Chromium's error message.
        message: String,
    },
    /// A navigation failed (e.g. `net::ERR_CONNECTION_REFUSED`).
    Navigation(String),
    /// The evaluated JavaScript threw; has the exception's description.
    JavaScript(String),
    /// Nothing arrived in time; says what was awaited.
    Timeout(String),
    /// The page crashed or its tab went away.
    PageGone(String),
    /// Reading or writing a local file (profile directory, screenshot).
    Io(std::io::Error),
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserError::NotFound => write!(
                f,
                "chromium not found: set ZEAL_TEST_CHROMIUM or put `chromium` on PATH \
                 (`bash tests/run.sh` installs it: apt-get install chromium)"
            ),
            BrowserError::Launch(m) => write!(f, "launching chromium: {m}"),
            BrowserError::Connection(m) => write!(f, "devtools connection: {m}"),
            BrowserError::Protocol {
                method,
                code,
                message,
            } => write!(f, "{method} failed: {message} (code {code})"),
            BrowserError::Navigation(m) => write!(f, "navigation failed: {m}"),
            BrowserError::JavaScript(m) => write!(f, "javascript exception: {m}"),
            BrowserError::Timeout(m) => write!(f, "timed out {m}"),
            BrowserError::PageGone(m) => write!(f, "page gone: {m}"),
            BrowserError::Io(e) => write!(f, "i/o: {e}"),
        }
    }
}

impl std::error::Error for BrowserError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BrowserError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for BrowserError {
    fn from(e: std::io::Error) -> Self {
        BrowserError::Io(e)
    }
}

/// The result of every browser operation.
pub type Result<T, E = BrowserError> = std::result::Result<T, E>;

/// The Chromium executable: `$ZEAL_TEST_CHROMIUM` if set and non-empty, else the first
/// executable `chromium` on `PATH`, else `None`.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ZEAL_TEST_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromium"))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The Chromium process and its profile directory: killed and removed on drop.
struct Process {
    child: Child,
    profile: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Process {
    fn stderr_tail(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Blocking briefly is fine in a test: the profile is only removable once Chromium and
        // its helpers stopped writing to it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn push_tail(buf: &Mutex<String>, line: &str) {
    if let Ok(mut buf) = buf.lock() {
        buf.push_str(line);
        buf.push('\n');
        if buf.len() > STDERR_TAIL {
            let mut cut = buf.len() - STDERR_TAIL;
            while !buf.is_char_boundary(cut) {
                cut += 1;
            }
            buf.drain(..cut);
        }
    }
}

/// Reads Chromium's stderr until the `DevTools listening on ws://…` line and returns the
/// address; keeps draining stderr in the background afterwards (a full pipe would block it).
async fn devtools_address(
    stderr: ChildStderr,
    tail: Arc<Mutex<String>>,
    child: &mut Child,
) -> Result<String> {
    let mut lines = BufReader::new(stderr).lines();
    let found = tokio::time::timeout(LAUNCH_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            push_tail(&tail, &line);
            if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                return Ok(Some(rest.trim().to_string()));
            }
        }
        Ok::<_, std::io::Error>(None)
    })
    .await;
    let seen = || tail.lock().map(|s| s.clone()).unwrap_or_default();
    match found {
        Ok(Ok(Some(address))) => {
            let tail = tail.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    push_tail(&tail, &line);
                }
            });
            Ok(address)
        }
        Ok(Ok(None)) => {
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_default();
            Err(BrowserError::Launch(format!(
                "chromium exited ({status}) before printing its DevTools address; stderr:\n{}",
                seen()
            )))
        }
        Ok(Err(e)) => Err(BrowserError::Launch(format!("reading stderr: {e}"))),
        Err(_) => Err(BrowserError::Launch(format!(
            "no `DevTools listening on` line within {LAUNCH_TIMEOUT:?}; stderr so far:\n{}",
            seen()
        ))),
    }
}

/// One headless Chromium with one tab. Methods take `&mut self`: one command at a time.
pub struct Browser {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The CDP session of the tab (flattened sessions: one websocket for all).
    session: String,
    /// The tab's main frame.
    frame: String,
    next_id: u64,
    /// Events received while waiting for something else, oldest first.
    events: VecDeque<Value>,
    timeout: Duration,
    // Last: dropped after the websocket.
    process: Process,
}

impl Browser {
    /// Starts Chromium headless with a fresh profile in the temp directory, a
    /// [`WINDOW_SIZE`] window and DevTools on a free port, then opens and attaches to a blank
    /// tab. Fails with [`BrowserError::NotFound`] when there is no Chromium
    /// ([`chromium_path`]) and with Chromium's stderr when it does not come up within
    /// [`LAUNCH_TIMEOUT`].
    pub async fn launch() -> Result<Browser> {
        let bin = chromium_path().ok_or(BrowserError::NotFound)?;
        let profile = std::env::temp_dir().join(crate::unique("zeal-chromium"));
        std::fs::create_dir_all(&profile)?;
        let (width, height) = WINDOW_SIZE;
        let spawned = Command::new(&bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--metrics-recording-only",
                "--mute-audio",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&profile);
                return Err(BrowserError::Launch(format!("{}: {e}", bin.display())));
            }
        };
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut process = Process {
            child,
            profile,
            stderr: Arc::new(Mutex::new(String::new())),
        };
        let address = devtools_address(stderr, process.stderr.clone(), &mut process.child).await?;

        let config = WebSocketConfig::default()
            .max_message_size(Some(512 << 20))
            .max_frame_size(Some(512 << 20));
        let connect = tokio_tungstenite::connect_async_with_config(&address, Some(config), true);
        let (ws, _) = tokio::time::timeout(DEFAULT_TIMEOUT, connect)
            .await
            .map_err(|_| BrowserError::Timeout(format!("connecting to {address}")))?
            .map_err(|e| BrowserError::Connection(format!("{address}: {e}")))?;

        let mut browser = Browser {
            ws,
            session: String::new(),
            frame: String::new(),
            next_id: 0,
            events: VecDeque::new(),
            timeout: DEFAULT_TIMEOUT,
            process,
        };
        let target = browser
            .command(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await?;
        let target = str_field(&target, "targetId")?;
        let attached = browser
            .command(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await?;
        browser.session = str_field(&attached, "sessionId")?;
        browser.call("Page.enable", json!({})).await?;
        browser
            .call("Page.setLifecycleEventsEnabled", json!({ "enabled": true }))
            .await?;
        let tree = browser.call("Page.getFrameTree", json!({})).await?;
        browser.frame = tree["frameTree"]["frame"]["id"]
            .as_str()
            .ok_or_else(|| BrowserError::Connection(format!("Page.getFrameTree: {tree}")))?
            .to_string();
        Ok(browser)
    }

    /// Sets how long each command, and each wait for a navigation, may take
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Chromium's recent stderr (up to 8 KiB), for diagnosing a failed test.
    pub fn stderr_tail(&self) -> String {
        self.process.stderr_tail()
    }

    /// Sends a raw CDP command to the tab and returns its `result`; the escape hatch for what
    /// this driver does not wrap.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let session = self.session.clone();
        self.command(Some(&session), method, params).await
    }

    /// Emulates a `width`×`height` CSS-pixel viewport (device scale 1); `mobile` also
    /// emulates a phone's meta-viewport handling and overlay scrollbars
    /// (`Emulation.setDeviceMetricsOverride`). E.g. `set_viewport(390, 844, true)`. Like a
    /// real phone, a mobile viewport lays out a page without
    /// `<meta name="viewport" content="width=device-width">` 980 px wide.
    pub async fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": width,
                "height": height,
                "deviceScaleFactor": 1,
                "mobile": mobile,
            }),
        )
        .await?;
        Ok(())
    }

    /// Sends `accept` as the `Accept-Language` of every request the tab makes, keeping its user
    /// agent (`Emulation.setUserAgentOverride`), e.g. `set_accept_language("nl-NL,nl;q=0.9")`.
    pub async fn set_accept_language(&mut self, accept: &str) -> Result<()> {
        let agent = self.eval("navigator.userAgent").await?;
        let agent = agent.as_str().unwrap_or_default().to_string();
        self.call(
            "Emulation.setUserAgentOverride",
            json!({ "userAgent": agent, "acceptLanguage": accept }),
        )
        .await?;
        Ok(())
    }

    /// Navigates the tab to `url` and waits until the new document has fired `load`.
    /// A network failure (refused connection, bad host) is [`BrowserError::Navigation`];
    /// an HTTP error status is not an error (the error page loads like any other).
    pub async fn goto(&mut self, url: &str) -> Result<()> {
        self.events.clear();
        let started = Instant::now();
        let nav = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(BrowserError::Navigation(format!("{url}: {error}")));
        }
        // No loader id: a same-document navigation (only the fragment changed); nothing loads.
        let Some(loader) = nav["loaderId"].as_str().map(str::to_string) else {
            return Ok(());
        };
        self.wait_load(&loader, started, url).await
    }

    /// Evaluates `js` in the page (as an expression, awaiting it if it is a promise) and
    /// returns its value as JSON; `undefined` and non-serialisable values (DOM nodes,
    /// functions) come back as `null` or `{}`. A thrown exception or rejected promise is
    /// [`BrowserError::JavaScript`].
    pub async fn eval(&mut self, js: &str) -> Result<Value> {
        let reply = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": js,
                    "returnByValue": true,
                    "awaitPromise": true,
                    "userGesture": true,
                }),
            )
            .await?;
        if let Some(details) = reply.get("exceptionDetails") {
            let description = details["exception"]["description"]
                .as_str()
                .or_else(|| details["exception"]["value"].as_str())
                .or_else(|| details["text"].as_str())
                .unwrap_or("unknown exception");
            return Err(BrowserError::JavaScript(description.to_string()));
        }
        Ok(reply["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Runs `js`, which must make the tab navigate (e.g.
    /// `document.querySelector('form').requestSubmit()`, `document.querySelector('a.next')
    /// .click()`, `location.href = '/x'`), and waits until the main frame has committed a new
    /// document and that document has fired `load`. Redirects (POST, then 303 to a GET) are
    /// followed: it returns on the final page. The URL may stay the same. A navigation must
    /// begin within the timeout ([`Browser::set_timeout`]), else [`BrowserError::Timeout`];
    /// an exception in `js` is [`BrowserError::JavaScript`].
    pub async fn click_and_wait_navigation(&mut self, js: &str) -> Result<()> {
        self.events.clear();
        let started = Instant::now();
        match self.eval(js).await {
            Ok(_) => {}
            // The navigation may replace the document before the evaluation reports back.
            Err(BrowserError::Protocol { message, .. })
                if message.contains("Execution context was destroyed")
                    || message.contains("Inspected target navigated")
                    || message.contains("Cannot find context") => {}
            Err(e) => return Err(e),
        }
        let deadline = started + self.timeout;
        let frame = self.frame.clone();
        let navigated = self
            .wait_event(deadline, "a navigation after the script", |e| {
                e["method"] == "Page.frameNavigated"
                    && e["params"]["frame"]["id"] == frame.as_str()
                    && e["params"]["frame"].get("parentId").is_none()
            })
            .await?;
        let loader = str_field(&navigated["params"]["frame"], "loaderId")?;
        let url = navigated["params"]["frame"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.wait_load(&loader, started, &url).await
    }

    /// Fills the named fields of the form matching `form_selector` (`name` → value, via
    /// `form.elements`; a radio group takes the value of the button to check; `input` and
    /// `change` events fire) and submits it like its submit button would (`requestSubmit`:
    /// validation and submit handlers run), then waits for the resulting page as
    /// [`Browser::click_and_wait_navigation`] does. A missing form or field is
    /// [`BrowserError::JavaScript`]. Checkboxes and file inputs: set them with [`Browser::eval`].
    pub async fn submit_form(
        &mut self,
        form_selector: &str,
        fields: &[(&str, &str)],
    ) -> Result<()> {
        let fields: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(name, value)| (name.to_string(), Value::from(*value)))
            .collect();
        let js = format!(
            r#"(() => {{
                const selector = {selector};
                const form = document.querySelector(selector);
                if (!(form instanceof HTMLFormElement)) throw new Error("no form matches " + selector);
                for (const [name, value] of Object.entries({fields})) {{
                    const field = form.elements.namedItem(name);
                    if (!field) throw new Error("form " + selector + " has no field " + name);
                    field.value = value;
                    const targets = field instanceof RadioNodeList ? Array.from(field) : [field];
                    for (const t of targets) {{
                        t.dispatchEvent(new Event("input", {{ bubbles: true }}));
                        t.dispatchEvent(new Event("change", {{ bubbles: true }}));
                    }}
                }}
                form.requestSubmit();
            }})()"#,
            selector = Value::from(form_selector),
            fields = Value::Object(fields),
        );
        self.click_and_wait_navigation(&js).await
    }

    /// The `textContent` of the first element matching the CSS `selector`, or `None` when
    /// nothing matches.
    pub async fn text(&mut self, selector: &str) -> Result<Option<String>> {
        let js = format!(
            "document.querySelector({})?.textContent ?? null",
            Value::from(selector)
        );
        Ok(self.eval(&js).await?.as_str().map(str::to_string))
    }

    /// The `textContent` of every element matching the CSS `selector`, in document order.
    pub async fn texts(&mut self, selector: &str) -> Result<Vec<String>> {
        let js = format!(
            "Array.from(document.querySelectorAll({}), e => e.textContent)",
            Value::from(selector)
        );
        let value = self.eval(&js).await?;
        Ok(value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    /// Runs axe-core (the file `$ZEAL_TEST_AXE`, installed by `tests/run.sh`) on the current
    /// page against WCAG 2.1 A and AA and returns its serious and critical violations, each as
    /// `rule: selector, ...` (empty: none). A missing `ZEAL_TEST_AXE` is [`BrowserError::Io`].
    pub async fn accessibility_violations(&mut self) -> Result<Vec<String>> {
        if self.eval("typeof axe").await? != json!("object") {
            let path = std::env::var_os("ZEAL_TEST_AXE").ok_or_else(|| {
                BrowserError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "ZEAL_TEST_AXE is not set (tests/run.sh installs axe-core)",
                ))
            })?;
            let source = std::fs::read_to_string(path).map_err(BrowserError::Io)?;
            self.eval(&source).await?;
        }
        let found = self
            .eval(
                "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                   .then(r => r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))",
            )
            .await?;
        Ok(found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The page's visible text as rendered (`document.body.innerText`: hidden elements left
    /// out, block elements on their own lines); empty without a body.
    pub async fn page_text(&mut self) -> Result<String> {
        let value = self.eval("document.body?.innerText ?? ''").await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// The tab's current URL (`location.href`).
    pub async fn url(&mut self) -> Result<String> {
        let value = self.eval("location.href").await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// The current DOM serialised (`document.documentElement.outerHTML`; no doctype).
    pub async fn html(&mut self) -> Result<String> {
        let value = self.eval("document.documentElement.outerHTML").await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// Saves a PNG of the viewport to `path`, creating its parent directories.
    pub async fn screenshot(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.capture(path.as_ref(), json!({ "format": "png" }))
            .await
    }

    /// Saves a PNG of the whole page, beyond the viewport, to `path`, creating its parent
    /// directories.
    pub async fn screenshot_full_page(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let (width, height) = (
            size["width"].as_f64().unwrap_or(0.0).ceil().max(1.0),
            size["height"].as_f64().unwrap_or(0.0).ceil().max(1.0),
        );
        let params = json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
        });
        self.capture(path.as_ref(), params).await
    }

    /// Asks Chromium to exit (`Browser.close`) and waits up to 5 s for it; dropping the
    /// [`Browser`] then removes the profile (and kills Chromium if it is still running).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.command(None, "Browser.close", json!({})),
        )
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.process.child.wait()).await;
    }

    async fn capture(&mut self, path: &Path, params: Value) -> Result<()> {
        let shot = self.call("Page.captureScreenshot", params).await?;
        let data = shot["data"].as_str().unwrap_or_default();
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Connection(format!("screenshot is not base64: {e}")))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Waits for the main frame's `load` lifecycle event of the document loaded by `loader`.
    async fn wait_load(&mut self, loader: &str, started: Instant, url: &str) -> Result<()> {
        let frame = self.frame.clone();
        let what = format!("waiting for {url} to load");
        self.wait_event(started + self.timeout, &what, |e| {
            e["method"] == "Page.lifecycleEvent"
                && e["params"]["name"] == "load"
                && e["params"]["frameId"] == frame.as_str()
                && e["params"]["loaderId"] == loader
        })
        .await?;
        Ok(())
    }

    /// Sends `method` (to the tab's session, or to the browser with `None`) and waits for the
    /// reply with its id, keeping the events that arrive meanwhile.
    async fn command(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            request["sessionId"] = Value::from(session);
        }
        let deadline = Instant::now() + self.timeout;
        let send = self.ws.send(Message::Text(request.to_string().into()));
        tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| BrowserError::Timeout(format!("sending {method}")))?
            .map_err(|e| BrowserError::Connection(format!("sending {method}: {e}")))?;
        loop {
            let message = self.receive(deadline, method).await?;
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    return Err(BrowserError::Protocol {
                        method: method.to_string(),
                        code: error["code"].as_i64().unwrap_or_default(),
                        message: error["message"].as_str().unwrap_or_default().to_string(),
                    });
                }
                return Ok(message.get("result").cloned().unwrap_or(Value::Null));
            }
            if message.get("method").is_some() {
                self.check_alive(&message)?;
                self.keep(message);
            }
            // Anything else is a late reply to a command that timed out: dropped.
        }
    }

    /// Returns the first event matching `matches`, from those kept or as it arrives.
    async fn wait_event(
        &mut self,
        deadline: Instant,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        if let Some(at) = self.events.iter().position(&matches) {
            return Ok(self.events.remove(at).expect("position is in range"));
        }
        loop {
            let message = self.receive(deadline, what).await?;
            if message.get("method").is_none() {
                continue;
            }
            self.check_alive(&message)?;
            if matches(&message) {
                return Ok(message);
            }
            self.keep(message);
        }
    }

    fn keep(&mut self, event: Value) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Fails on events saying the tab crashed or was detached from this session.
    fn check_alive(&self, event: &Value) -> Result<()> {
        let ours = event["sessionId"] == self.session.as_str()
            || event["params"]["sessionId"] == self.session.as_str();
        match event["method"].as_str() {
            Some("Inspector.targetCrashed") if ours => Err(BrowserError::PageGone(format!(
                "the tab crashed; chromium stderr:\n{}",
                self.stderr_tail()
            ))),
            Some("Target.detachedFromTarget") if ours => {
                Err(BrowserError::PageGone("the tab was detached".to_string()))
            }
            _ => Ok(()),
        }
    }

    /// The next protocol message, as JSON.
    async fn receive(&mut self, deadline: Instant, what: &str) -> Result<Value> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| BrowserError::Timeout(format!("after {:?}: {what}", self.timeout)))?;
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    return Err(BrowserError::Connection(format!(
                        "chromium closed the websocket ({frame:?}); stderr:\n{}",
                        self.stderr_tail()
                    )));
                }
                Some(Ok(_)) => continue, // ping/pong/binary: Chromium sends text only
                Some(Err(e)) => {
                    return Err(BrowserError::Connection(format!(
                        "{e}; chromium stderr:\n{}",
                        self.stderr_tail()
                    )));
                }
                None => {
                    return Err(BrowserError::Connection(format!(
                        "websocket ended; chromium stderr:\n{}",
                        self.stderr_tail()
                    )));
                }
            };
            return serde_json::from_str(text.as_str())
                .map_err(|e| BrowserError::Connection(format!("bad message from chromium: {e}")));
        }
    }
}

fn str_field(value: &Value, field: &str) -> Result<String> {
    value[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BrowserError::Connection(format!("no {field} in {value}")))
}
