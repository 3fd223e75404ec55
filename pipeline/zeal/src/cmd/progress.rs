//! Progress of long work on standard error: a bar on a terminal (indicatif); from a script or
//! into a log, a plain line now and then (every [`LINE_EVERY`]) and one at the end, never a
//! stream of `\r` updates.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a plain progress line is written when standard error is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// One piece of long work's progress.
pub struct Progress {
    label: String,
    unit: &'static str,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    done: u64,
    total: u64,
}

impl Progress {
    /// Progress of `label` over `total` `unit`s (0: not known yet), drawn as a bar only when
    /// standard error is a terminal.
    pub fn new(label: &str, unit: &'static str, total: u64) -> Progress {
        Progress::with_terminal(label, unit, total, std::io::stderr().is_terminal())
    }

    fn with_terminal(label: &str, unit: &'static str, total: u64, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template =
                format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}}, eta {{eta}})");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_string());
            bar
        });
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            unit,
            bar,
            started: now,
            last_line: now,
            done: 0,
            total,
        }
    }

    /// Work done so far, and the total if it changed.
    pub fn set(&mut self, done: u64, total: u64) {
        self.done = done;
        self.total = total;
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
            }
            None if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                super::say::line("INFO", &self.line());
            }
            None => {}
        }
    }

    /// The plain line: `label: done/total unit (pct%, seconds)`.
    pub fn line(&self) -> String {
        let pct = if self.total > 0 {
            format!("{:.0}%, ", 100.0 * self.done as f64 / self.total as f64)
        } else {
            String::new()
        };
        format!(
            "{}: {}/{} {} ({pct}{:.0} s)",
            self.label,
            self.done,
            self.total,
            self.unit,
            self.started.elapsed().as_secs_f64()
        )
    }

    /// Ends the work: clears the bar, and writes the final line.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        super::say::line("INFO", &self.line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_terminal_the_line_says_how_far_and_of_what() {
        let mut p = Progress::with_terminal("audit", "messages", 0, false);
        assert!(p.bar.is_none());
        p.set(50, 200);
        assert!(
            p.line().starts_with("audit: 50/200 messages (25%, "),
            "{}",
            p.line()
        );
        // An unknown total gives no percentage.
        p.set(7, 0);
        assert!(
            p.line().starts_with("audit: 7/0 messages ("),
            "{}",
            p.line()
        );
        assert!(!p.line().contains('%'), "{}", p.line());
    }
}
