//! README's crate layout and dependency table against `cargo metadata`: a crate added, moved or
//! given a new dependency on one of ours without its README line fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the workspace")
        .to_path_buf()
}

/// Each workspace crate: (its directory relative to the root with a trailing `/`, its normal
/// dependencies on workspace crates).
fn metadata() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = v["packages"].as_array().expect("packages");
    let ours: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            let dir = manifest
                .parent()
                .unwrap()
                .strip_prefix(&root)
                .expect("inside the workspace")
                .to_string_lossy()
                .into_owned();
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .filter(|n| ours.contains(n))
                .collect();
            (
                p["name"].as_str().unwrap().to_string(),
                (format!("{dir}/"), deps),
            )
        })
        .collect()
}

/// The cells of a markdown table row, backticks removed.
fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace('`', ""))
        .collect()
}

/// The rows of the README table whose header row is exactly `header`.
fn table(readme: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = readme.lines().skip_while(|l| l.trim() != header);
    assert!(lines.next().is_some(), "README has no table `{header}`");
    lines
        .skip(1) // the |---| row
        .take_while(|l| l.starts_with('|'))
        .map(cells)
        .collect()
}

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

#[test]
fn readme_dependency_table_is_cargo_metadata() {
    let meta = metadata();
    let written: BTreeMap<String, BTreeSet<String>> = table(&readme(), "| crate | depends on |")
        .into_iter()
        .map(|row| {
            let deps = match row[1].as_str() {
                "—" => BTreeSet::new(),
                list => list.split(',').map(|d| d.trim().to_string()).collect(),
            };
            (row[0].clone(), deps)
        })
        .collect();
    let actual: BTreeMap<String, BTreeSet<String>> = meta
        .iter()
        .map(|(name, (_, deps))| (name.clone(), deps.clone()))
        .collect();
    for (name, deps) in &actual {
        assert_eq!(
            written.get(name),
            Some(deps),
            "README's dependency row for {name} (cargo metadata says {deps:?})"
        );
    }
    for name in written.keys() {
        assert!(
            actual.contains_key(name),
            "README lists {name}, not a workspace crate"
        );
    }
}

#[test]
fn readme_layout_names_every_crate_where_it_is() {
    let meta = metadata();
    let layout = table(&readme(), "| path | crate | what it is |");
    for (name, (dir, _)) in &meta {
        let row = layout
            .iter()
            .find(|r| r[1] == *name)
            .unwrap_or_else(|| panic!("README's layout has no row for {name}"));
        assert_eq!(row[0], *dir, "README's layout puts {name} elsewhere");
    }
}

#[test]
fn the_web_app_and_the_game_rules_use_no_stream_processor_or_simulator() {
    // The dependencies issue 15 removed: the web app took the stream processors (and Candle) for
    // three helpers, the game rules took the simulator for one calendar function.
    let meta = metadata();
    let web = &meta["zeal-web"].1;
    assert!(!web.contains("zeal-services") && !web.contains("zeal-disaggregation"));
    assert!(!meta["zeal-game"].1.contains("zeal-meters"));
    for pure in ["zeal-protocol", "zeal-game", "zeal-spectrum", "zeal-civil"] {
        assert!(
            !meta[pure].1.contains("zeal-connectors"),
            "{pure} must stay free of I/O"
        );
    }
}
