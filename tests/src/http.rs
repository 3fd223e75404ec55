//! A minimal HTTP/1.1 client for the tests (one request per connection, `Connection: close`):
//! enough to fetch pages, probes and APIs from the servers under test.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a server answered.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    /// The header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header named `name` (lower case), or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// One request with extra header lines and a form body (empty for GET).
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: &str,
) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// One request with a form body (empty for GET); returns (status, location header, body).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    form: &str,
) -> (u16, String, String) {
    let a = send(addr, method, path, &[], form).await;
    (a.status, a.header("location").to_string(), a.body)
}

/// A client that keeps the cookie a server sets, as a browser would (one cookie: the app has
/// one).
#[derive(Debug, Clone)]
pub struct Agent {
    pub addr: SocketAddr,
    /// `name=value` of the cookie last set (empty before any).
    pub cookie: String,
}

impl Agent {
    /// A client without cookies.
    pub fn new(addr: SocketAddr) -> Agent {
        Agent {
            addr,
            cookie: String::new(),
        }
    }

    /// Sends a request with the cookie, and keeps any cookie the answer sets (an expired one
    /// clears it).
    pub async fn send(&mut self, method: &str, path: &str, form: &str) -> Answer {
        let cookie = self.cookie.clone();
        let headers: Vec<(&str, &str)> = if cookie.is_empty() {
            vec![]
        } else {
            vec![("Cookie", cookie.as_str())]
        };
        let a = send(self.addr, method, path, &headers, form).await;
        let set = a.header("set-cookie");
        if !set.is_empty() {
            let pair = set.split(';').next().unwrap_or_default().to_string();
            self.cookie = if set.contains("Max-Age=0") {
                String::new()
            } else {
                pair
            };
        }
        a
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, "").await
    }

    /// POST a form to `path`.
    pub async fn post(&mut self, path: &str, form: &str) -> Answer {
        self.send("POST", path, form).await
    }
}

/// The value of the hidden `csrf` field in a page's form ("" when none).
pub fn csrf_of(page: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    page.find(key)
        .map(|i| {
            let rest = &page[i + key.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .unwrap_or_default()
}

/// GET `path`: (status, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = request(addr, "GET", path, "").await;
    (status, body)
}
