//! `zeal healthcheck`: an HTTP probe for container healthchecks, so the image needs no curl.

use anyhow::{Context, bail};
use clap::Args;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Args)]
pub struct HealthcheckArgs {
    /// What to probe: http://HOST:PORT/PATH (plain HTTP, as the services serve it).
    #[arg(default_value = "http://127.0.0.1:9464/healthz")]
    url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
}

/// Exits 0 when the URL answers 2xx, 1 otherwise (saying what it got).
pub fn run(a: HealthcheckArgs) -> anyhow::Result<()> {
    let rest = a
        .url
        .strip_prefix("http://")
        .with_context(|| format!("{:?}: only http:// URLs are probed", a.url))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let status_line = super::runtime()?.block_on(async {
        tokio::time::timeout(Duration::from_secs(a.timeout_secs), async {
            let mut s = tokio::net::TcpStream::connect(authority)
                .await
                .with_context(|| format!("connecting to {authority}"))?;
            let request =
                format!("GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
            s.write_all(request.as_bytes()).await?;
            let mut head = Vec::new();
            s.read_to_end(&mut head).await?;
            let text = String::from_utf8_lossy(&head);
            anyhow::Ok(text.lines().next().unwrap_or_default().to_string())
        })
        .await
        .with_context(|| format!("{} did not answer within {} s", a.url, a.timeout_secs))?
    })?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{}: not an HTTP answer: {status_line:?}", a.url))?;
    if !(200..300).contains(&status) {
        bail!("{} answered {status_line}", a.url);
    }
    println!("{}: {status_line}", a.url);
    Ok(())
}
