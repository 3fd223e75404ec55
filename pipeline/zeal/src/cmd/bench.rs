//! `zeal bench`: measured ratios, baseline and candidate in the same run.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use zeal_protocol::bench::{BenchRow, bench_crypto};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Paillier and packing ops/s against python-phe (with gmpy2), measured side by side.
    Crypto(CryptoArgs),
    /// Protocol v2's aggregator through a real broker (one `zeal aggregate` process per
    /// region), against the protocol core in-process on the same bundles; projects the cores
    /// needed for 1M meters. Ends with `aggregator CPU per meter-round: <ms> ms`.
    Pipeline(super::bench_pipeline::PipelineArgs),
    /// The grid-balance detector on simulated regions: false alarms per week, and detection
    /// rate and delay by theft size (a table for README).
    Grid(super::bench_grid::GridArgs),
}

#[derive(Args)]
pub struct CryptoArgs {
    /// Paillier modulus size.
    #[arg(long, default_value_t = 2048)]
    key_bits: u32,
    /// Time spent on each operation, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    budget_ms: u64,
    /// Skip the python-phe baseline.
    #[arg(long)]
    no_python: bool,
}

const PHE_BENCH: &str = include_str!("../../scripts/phe_bench.py");

/// The venv with phe and gmpy2: reused, created on first use (PyPI).
fn phe_python() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let venv = PathBuf::from(home).join(".cache/zebra-zeal/venv-phe");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import phe, gmpy2"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ready {
        eprintln!("installing phe and gmpy2 into {} (once)", venv.display());
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 -m venv")?
            .success()
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "phe", "gmpy2"])
                .status()
                .context("pip install phe gmpy2")?
                .success();
        anyhow::ensure!(ok, "could not install phe and gmpy2");
    }
    Ok(python)
}

struct Phe {
    encrypt: f64,
    decrypt: f64,
    add: f64,
    accelerator: String,
}

fn run_phe(bits: u32, budget: Duration) -> anyhow::Result<Phe> {
    let python = phe_python()?;
    let script = std::env::temp_dir().join(format!("zeal-phe-bench-{}.py", std::process::id()));
    std::fs::write(&script, PHE_BENCH)?;
    let out = Command::new(python)
        .arg(&script)
        .arg(bits.to_string())
        .arg(budget.as_secs_f64().to_string())
        .output()
        .context("running the phe benchmark")?;
    let _ = std::fs::remove_file(&script);
    anyhow::ensure!(
        out.status.success(),
        "phe benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let f = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("phe result lacks {k}"))
    };
    Ok(Phe {
        encrypt: f("encrypt")?,
        decrypt: f("decrypt")?,
        add: f("add")?,
        accelerator: v["accelerator"].as_str().unwrap_or("?").to_string(),
    })
}

fn find<'a>(rows: &'a [BenchRow], name: &str) -> &'a BenchRow {
    rows.iter().find(|r| r.name == name).expect("measured row")
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let args = match cmd {
        BenchCommand::Crypto(args) => args,
        BenchCommand::Pipeline(args) => return super::bench_pipeline::run(args),
        BenchCommand::Grid(args) => return super::bench_grid::run(args),
    };
    let budget = Duration::from_millis(args.budget_ms);
    eprintln!("measuring our operations at {} bits ...", args.key_bits);
    let rows = bench_crypto(args.key_bits, budget);
    let phe = if args.no_python {
        None
    } else {
        eprintln!("measuring python-phe at {} bits ...", args.key_bits);
        match run_phe(args.key_bits, budget) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("python-phe baseline unavailable: {e:#}");
                None
            }
        }
    };
    let baseline = |name: &str| -> Option<f64> {
        let p = phe.as_ref()?;
        match name {
            "encrypt (plain r^n)" | "encrypt (DJN fixed-base)" | "encrypt (pooled mask)" => {
                Some(p.encrypt)
            }
            "decrypt (lambda)" | "decrypt (CRT)" => Some(p.decrypt),
            "fold (ciphertext add)" => Some(p.add),
            _ => None,
        }
    };
    println!(
        "{:<26} {:>12} {:>11} {:>12} {:>8}",
        "operation", "ours ops/s", "µs/op", "phe ops/s", "ratio"
    );
    for r in &rows {
        let (b, ratio) = match baseline(r.name) {
            Some(b) => (format!("{b:.0}"), format!("{:.1}x", r.ops_per_sec / b)),
            None => ("".into(), "".into()),
        };
        println!(
            "{:<26} {:>12.0} {:>11.1} {:>12} {:>8}",
            r.name,
            r.ops_per_sec,
            r.micros(),
            b,
            ratio
        );
    }
    let fold = find(&rows, "fold (ciphertext add)").ops_per_sec;
    let raw = find(&rows, "raw mul mod n^2").ops_per_sec;
    println!(
        "\nfolding runs at {:.0}% of the raw multiplication-mod-n^2 rate (target: within 10%)",
        100.0 * fold / raw
    );
    if let Some(p) = &phe {
        let djn = find(&rows, "encrypt (DJN fixed-base)").ops_per_sec;
        println!(
            "DJN encryption is {:.1}x python-phe's ({} accelerated; target: at least 15x)",
            djn / p.encrypt,
            p.accelerator
        );
    }
    Ok(())
}
