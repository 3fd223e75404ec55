//! A service's own lines on standard error (startup, summaries, the final error) in the chosen
//! log format: plain text, or with `--log-format json` one JSON object per line shaped as the
//! tracing subscriber writes its events, so a log shipper parses every line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Switches the lines to JSON (`main`, from `--log-format`).
pub fn use_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// One line at `level` (`INFO`, `ERROR`); a line that cannot be written is lost, never a panic.
pub fn line(level: &str, message: &str) {
    let text = if JSON.load(Ordering::Relaxed) {
        json_line(level, message, std::time::SystemTime::now())
    } else {
        message.to_string()
    };
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// `{"timestamp":…,"level":…,"fields":{"message":…},"target":"zeal"}`.
fn json_line(level: &str, message: &str, at: std::time::SystemTime) -> String {
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (y, m, d) = zeal_civil::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let timestamp = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        since.subsec_micros()
    );
    serde_json::json!({
        "timestamp": timestamp,
        "level": level,
        "fields": { "message": message },
        "target": "zeal",
    })
    .to_string()
}

/// An `INFO` line, formatted as `format!`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cmd::say::line("INFO", &format!($($arg)*))
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_object_as_the_subscriber_writes_it() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_593_597_600_123_456);
        let text = json_line("INFO", "metrics on \"http\"\nsecond", at);
        assert!(!text.contains('\n'), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["timestamp"], "2020-07-01T10:00:00.123456Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields"]["message"], "metrics on \"http\"\nsecond");
    }
}
