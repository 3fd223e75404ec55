//! What the `zeal` CLI tests share: the built binary as a command, run to completion, and its
//! success checked with the whole output in the failure message.

#![allow(dead_code)] // each test binary uses its own subset

use std::process::{Command, Output};

/// The built `zeal` binary; the caller's `ZEAL_TOPIC_PREFIX` removed (tests name their own
/// topics) and logs at `warn`.
pub fn zeal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zeal"));
    c.env_remove("ZEAL_TOPIC_PREFIX").env("RUST_LOG", "warn");
    c
}

/// Runs `zeal args` to completion.
pub fn run(args: &[&str]) -> Output {
    zeal().args(args).output().expect("the zeal binary runs")
}

/// Asserts the run succeeded (printing everything it said if not) and returns its stdout.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}
