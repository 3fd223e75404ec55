//! docker-compose.yml checked without Docker: parsed (a duplicate key is an error, as Compose
//! makes it), every `zeal` command line of every service (its command, a shell loop's `zeal …`
//! and healthchecks) run as `zeal <subcommand> --help` with every flag it uses found there,
//! every `ZEAL_*` variable a flag's environment name, a healthcheck on every long-running
//! service, every named volume declared and every mounted file present, and Prometheus scraping
//! only services that serve metrics. `zeal healthcheck` itself is run against a live endpoint.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A YAML file as JSON, through PyYAML with merge keys, refusing duplicate keys.
fn yaml(path: &Path) -> Value {
    const SCRIPT: &str = r#"
import json, sys, yaml
class Loader(yaml.SafeLoader):
    pass
def mapping(loader, node, deep=False):
    seen = set()
    for key, _ in node.value:
        if key.tag == "tag:yaml.org,2002:merge":
            continue
        if key.value in seen:
            sys.exit(f"duplicate key {key.value!r} at line {key.start_mark.line + 1}")
        seen.add(key.value)
    return loader.construct_mapping(node, deep=True)
Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
json.dump(yaml.load(open(sys.argv[1]), Loader=Loader), sys.stdout)
"#;
    let python = std::env::var("ZEAL_TEST_PYTHON")
        .expect("ZEAL_TEST_PYTHON: python with PyYAML (tests/run.sh makes the venv)");
    let out = std::process::Command::new(python)
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The `zeal` argument vectors a service of the zebra-zeal image runs: its command (the
/// image's entrypoint is `zeal`), each `zeal …` of a `sh -c` loop, and its healthcheck's.
fn zeal_invocations(service: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if service["image"] != "zebra-zeal" {
        return out;
    }
    let command = strings(&service["command"]);
    match strings(&service["entrypoint"]).as_slice() {
        [] => out.push(command),
        [sh, c] if sh == "/bin/sh" && c == "-c" => {
            for part in command.join(" ").split([';', '&', '|']) {
                let words: Vec<String> = part.split_whitespace().map(String::from).collect();
                // `do zeal …`: the invocation starts at the word `zeal`.
                if let Some(i) = words.iter().position(|w| w == "zeal") {
                    out.push(words[i + 1..].to_vec());
                }
            }
            assert!(!out.is_empty(), "a shell loop without zeal: {command:?}");
        }
        _ => {} // a script (deploy/setup-day.sh: run by pipeline/zeal/tests/deploy.rs)
    }
    let test = strings(&service["healthcheck"]["test"]);
    if test.len() > 2 && test[0] == "CMD" && test[1] == "zeal" {
        out.push(test[2..].to_vec());
    }
    out
}

/// `zeal <subcommands> --help` for an argument vector: the subcommand words are those before
/// the first flag that name a subcommand (a positional like a URL is not one).
fn help_for(args: &[String]) -> (Vec<String>, String) {
    let mut path: Vec<String> = Vec::new();
    for w in args.iter().take_while(|w| !w.starts_with('-')) {
        let mut probe = path.clone();
        probe.push(w.clone());
        probe.push("--help".into());
        let out = common::zeal().args(&probe).output().unwrap();
        if !out.status.success() {
            break;
        }
        path.push(w.clone());
    }
    assert!(!path.is_empty(), "no zeal subcommand in {args:?}");
    let mut with_help = path.clone();
    with_help.push("--help".into());
    let out = common::zeal().args(&with_help).output().unwrap();
    assert!(out.status.success(), "zeal {with_help:?}: {out:?}");
    (path, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn every_service_runs_a_real_zeal_command_with_a_healthcheck_volumes_and_files() {
    let compose = yaml(&repo().join("docker-compose.yml"));
    let services = compose["services"].as_object().unwrap();
    let declared: BTreeSet<&str> = compose["volumes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut env_names: BTreeSet<String> = BTreeSet::new();
    let mut helps = String::new();
    let mut checked = 0;
    for (name, s) in services {
        // A healthcheck on every long-running service; none on one-shots, which end.
        let one_shot = s["labels"]["io.zebrazeal.one-shot"] == "true";
        let disabled = s["healthcheck"]["disable"] == true;
        if one_shot {
            assert!(disabled, "{name}: a one-shot service with a healthcheck");
            assert!(
                s["restart"].is_null(),
                "{name}: a one-shot service restarts"
            );
        } else {
            assert!(
                !disabled && !strings(&s["healthcheck"]["test"]).is_empty(),
                "{name}: no healthcheck"
            );
        }
        // Volumes: named ones declared, mounted files present.
        for v in strings(&s["volumes"]) {
            let source = v.split(':').next().unwrap();
            if source.starts_with("./") {
                assert!(repo().join(source).exists(), "{name}: {source} is missing");
            } else {
                assert!(
                    declared.contains(source),
                    "{name}: volume {source} undeclared"
                );
            }
        }
        for (key, _) in s["environment"].as_object().into_iter().flatten() {
            if key.starts_with("ZEAL_") {
                env_names.insert(key.clone());
            }
        }
        for args in zeal_invocations(s) {
            let (path, help) = help_for(&args);
            for flag in args.iter().filter(|a| a.starts_with("--")) {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                    "{name}: zeal {} has no {flag}:\n{help}",
                    path.join(" ")
                );
            }
            helps.push_str(&help);
            checked += 1;
        }
    }
    assert!(checked >= 14, "zeal command lines checked: {checked}");
    for v in ["kafka", "clickhouse", "prometheus", "grafana", "keys"] {
        assert!(declared.contains(v), "no {v} volume");
    }
    // Every ZEAL_* variable is some checked command's flag environment name.
    for e in &env_names {
        assert!(helps.contains(&format!("[env: {e}=")), "{e} is no flag's");
    }
    // The jobs the household pages need run: disaggregation and the game.
    let commands: Vec<String> = services
        .values()
        .flat_map(zeal_invocations)
        .map(|a| a.join(" "))
        .collect();
    for job in [
        "jobs disaggregate",
        "jobs gamify",
        "serve",
        "sink clickhouse",
        "audit",
    ] {
        assert!(
            commands.iter().any(|c| c.starts_with(job)),
            "no service runs zeal {job}"
        );
    }

    // Prometheus scrapes services of this file that serve metrics (their own port 9464, or
    // the web app's 8080).
    let prometheus = yaml(&repo().join("deploy/prometheus/prometheus.yml"));
    let mut targets = BTreeMap::new();
    for job in prometheus["scrape_configs"].as_array().unwrap() {
        for t in strings(&job["static_configs"][0]["targets"]) {
            let (host, port) = t.split_once(':').unwrap();
            targets.insert(host.to_string(), port.to_string());
        }
    }
    for (host, port) in &targets {
        let s = &services[host.as_str()];
        let args = zeal_invocations(s).concat().join(" ");
        let serves = match port.as_str() {
            "9464" => s["environment"]["ZEAL_METRICS_ADDR"] == "0.0.0.0:9464",
            "8080" => args.contains("--addr 0.0.0.0:8080"),
            _ => false,
        };
        assert!(
            serves,
            "prometheus scrapes {host}:{port}, which serves no metrics"
        );
    }
    assert!(targets.contains_key("web") && targets.contains_key("aggregator-ut"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeal_healthcheck_passes_a_live_endpoint_and_fails_a_stalled_or_absent_one() {
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let metrics = zeal_services::metrics::Metrics::new(zeal_services::metrics::Role::Sink);
    let addr = zeal_services::metrics::serve("127.0.0.1:0".parse().unwrap(), metrics.clone(), stop)
        .await
        .unwrap();
    let probe = |url: String| async move {
        tokio::task::spawn_blocking(move || {
            common::zeal()
                .args(["healthcheck", &url, "--timeout-secs", "3"])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    metrics.turned();
    let ok = probe(format!("http://{addr}/healthz")).await;
    assert!(ok.status.success(), "{ok:?}");
    // A loop that stopped turning: 503, exit 1.
    metrics.set_stall_limit(std::time::Duration::from_millis(1));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let stalled = probe(format!("http://{addr}/healthz")).await;
    assert_eq!(stalled.status.code(), Some(1), "{stalled:?}");
    assert!(
        String::from_utf8_lossy(&stalled.stderr).contains("503"),
        "{stalled:?}"
    );
    // Nothing listening: exit 1 with the reason.
    let port = zeal_tests::fault_proxy::free_addr().port();
    let absent = probe(format!("http://127.0.0.1:{port}/healthz")).await;
    assert_eq!(absent.status.code(), Some(1), "{absent:?}");
    assert!(
        String::from_utf8_lossy(&absent.stderr).contains("connecting"),
        "{absent:?}"
    );
}

/// Compose sets `ZEAL_LOG_FORMAT=json`: then every line a command writes to stderr — its own
/// startup lines and its final error, not only tracing's events — is one JSON object.
#[test]
fn with_json_logs_every_stderr_line_is_a_json_object() {
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-json-lines"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("authority.key");
    let json_lines = |out: &std::process::Output| -> Vec<Value> {
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
            .collect()
    };
    let started = common::zeal()
        .env("ZEAL_LOG_FORMAT", "json")
        .args(["authority", "init", "--key-file", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(started.status.success(), "{started:?}");
    let lines = json_lines(&started);
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("created authority key"))),
        "{lines:?}"
    );
    let failed = common::zeal()
        .env("ZEAL_LOG_FORMAT", "json")
        .args(["healthcheck", "ftp://nowhere/"])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let lines = json_lines(&failed);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("only http:// URLs"),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
