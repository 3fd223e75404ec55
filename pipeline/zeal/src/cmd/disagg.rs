//! `zeal train`, `zeal eval`, `zeal disaggregate`: the disaggregation model from the command
//! line — train it on simulated households, score it against the baselines on households it
//! never saw, and run it on one household's CSV.

use super::common::{format_time, parse_time};
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use zeal_disaggregation::Disaggregator;
use zeal_disaggregation::appliances::{PREDICTED, claimed};
use zeal_disaggregation::augment::Randomisation;
use zeal_disaggregation::crossgen::{self, CrossSelection};
use zeal_disaggregation::dataset::build;
use zeal_disaggregation::eval::{default_test_selection, evaluate_both};
use zeal_disaggregation::features::{Day, complete_days, neighbours};
use zeal_disaggregation::model::Architecture;
use zeal_disaggregation::train::{Progress, TrainConfig, train};
use zeal_services::disaggregate::usage_rows;

/// Where the shipped model lives in the repository (what `zeal train` writes by default).
const DEFAULT_STEM: &str = "jobs/disaggregation/model/default";

#[derive(Args)]
pub struct TrainArgs {
    /// Output: writes STEM.safetensors and STEM.json.
    #[arg(long, default_value = DEFAULT_STEM)]
    out: PathBuf,
    /// Simulated training households.
    #[arg(long, default_value_t = TrainConfig::default().households)]
    households: u64,
    /// Weeks per household, spread over 2020.
    #[arg(long, default_value_t = TrainConfig::default().weeks)]
    weeks: usize,
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Seed of initialisation and shuffling.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// Version written into the model and every row it produces.
    #[arg(long, default_value_t = TrainConfig::default().version)]
    version: String,
    /// Domain randomisation of the training days: all, none, or some of power, stretch,
    /// shift, base, distractors (comma-separated; README shows what each buys).
    #[arg(long, default_value = "distractors", value_parser = Randomisation::parse)]
    randomise: Randomisation,
    /// Hidden layers: mlp (dense, shipped) or cnn (temporal convolutions over the day;
    /// README: it needs --learning-rate 3e-4 and did not beat the MLP).
    #[arg(long, default_value = "mlp", value_parser = parse_architecture)]
    architecture: Architecture,
    /// AdamW learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    learning_rate: f64,
}

fn parse_architecture(s: &str) -> Result<Architecture, String> {
    match s {
        "mlp" => Ok(Architecture::Mlp),
        "cnn" => Ok(Architecture::Cnn),
        _ => Err(format!("{s:?}: expected mlp or cnn")),
    }
}

/// Training progress: a bar on a terminal (plain lines otherwise) while households are
/// simulated, a line per epoch.
#[derive(Default)]
struct Shown(Option<super::progress::Progress>);

impl Shown {
    fn show(&mut self, p: Progress) {
        match p {
            Progress::Simulating { done, total } => {
                let bar = self.0.get_or_insert_with(|| {
                    super::progress::Progress::new(
                        "simulating and extracting features",
                        "households",
                        total as u64,
                    )
                });
                bar.set(done as u64, total as u64);
                if done == total
                    && let Some(bar) = self.0.take()
                {
                    bar.finish();
                }
            }
            Progress::Epoch {
                epoch,
                epochs,
                loss,
            } => eprintln!("epoch {epoch}/{epochs}: loss {loss:.4}"),
        }
    }
}

pub fn train_cmd(a: TrainArgs) -> anyhow::Result<()> {
    let config = TrainConfig {
        households: a.households,
        weeks: a.weeks,
        epochs: a.epochs,
        seed: a.seed,
        version: a.version,
        augment: a.randomise,
        architecture: a.architecture,
        learning_rate: a.learning_rate,
        ..TrainConfig::default()
    };
    let started = std::time::Instant::now();
    let mut shown = Shown::default();
    let (model, ds) = train(&config, |p| shown.show(p))?;
    if let Some(dir) = a.out.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    model.save(&a.out)?;
    println!(
        "trained {} on {} intervals of {} households in {:.0} s; wrote {}.safetensors and {}.json",
        model.meta.version,
        ds.len(),
        ds.households.len(),
        started.elapsed().as_secs_f64(),
        a.out.display(),
        a.out.display()
    );
    println!("next: zeal eval --model {}", a.out.display());
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// Model stem (STEM.safetensors + STEM.json); the shipped model when absent.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Seed of the independent generator's homes, decimal or 0x-hex (the tests also check
    /// 0xbeef and 0xf00d).
    #[arg(long, default_value_t = CrossSelection::default().seed, value_parser = parse_seed)]
    cross_seed: u64,
}

/// A seed as decimal or `0x` hexadecimal.
fn parse_seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s:?} is not a seed (decimal or 0x-hex): {e}"))
}

fn load(model: &Option<PathBuf>) -> anyhow::Result<Disaggregator> {
    Ok(match model {
        Some(stem) => Disaggregator::load(stem)?,
        None => Disaggregator::embedded()?,
    })
}

pub fn eval_cmd(a: EvalArgs) -> anyhow::Result<()> {
    let model = load(&a.model)?;
    // The baselines learn from the same data the model was trained on.
    let config: TrainConfig = serde_json::from_value(model.meta.training["config"].clone())
        .context("the model's metadata lacks its training configuration")?;
    let started = std::time::Instant::now();
    eprintln!("rebuilding the training set for the baselines ...");
    let mut shown = Shown::default();
    let train_ds = build(&config.selection(), |d, t| {
        shown.show(Progress::Simulating { done: d, total: t })
    })?;
    eprintln!("building the same-simulator test set (other seed, households and weeks) ...");
    let sel = default_test_selection();
    let same = build(&sel, |d, t| {
        shown.show(Progress::Simulating { done: d, total: t })
    })?;
    eprintln!("building the cross-generator test set (independent homes, never trained on) ...");
    let cross_sel = CrossSelection {
        seed: a.cross_seed,
        ..CrossSelection::default()
    };
    let cross = crossgen::build(&cross_sel, |d, t| {
        shown.show(Progress::Simulating { done: d, total: t })
    })?;
    let t = std::time::Instant::now();
    let report = evaluate_both(&model, &train_ds, &same, &cross)?;
    let scored = t.elapsed().as_secs_f64();
    println!(
        "model {}: same = {} unseen simulator households ({} intervals, seed {}, weeks of 2021); \
         cross = {} homes of the independent generator ({} intervals, {} days each, 2022, seed {:#x})\n",
        model.meta.version,
        report.same.households,
        report.same.intervals,
        sel.seed,
        report.cross.households,
        report.cross.intervals,
        cross_sel.days,
        cross_sel.seed,
    );
    // Markdown reads well in a terminal and pastes into README as is.
    print!("{}", report.markdown());
    println!(
        "\nscored in {scored:.1} s incl. CO: features were extracted while building the sets ({:.0} s in all)",
        started.elapsed().as_secs_f64()
    );
    let speed = inference_speed(&model)?;
    println!(
        "inference: {speed:.0} household-days/s on one core (SSA + SSD features and the network)"
    );
    println!(
        "beating Mean on interval MAE, F1 and daily MAE cross-generator (claimable): {}",
        report.supported().join(", ")
    );
    let failing = report.failing_claims();
    if !failing.is_empty() {
        bail!("claimed appliances not beating the Mean baseline in both columns: {failing:?}");
    }
    println!(
        "every claimed appliance beats Mean on interval MAE, F1 and daily MAE in both columns"
    );
    Ok(())
}

/// Household-days per second for features + prediction, single-threaded.
fn inference_speed(model: &Disaggregator) -> anyhow::Result<f64> {
    let hh = zeal_meters::household::Household::new(5, 77);
    let days: Vec<Day> = hh
        .simulate(18_700, 30)
        .map(|t| Day::from_trace(&t))
        .collect();
    let t = std::time::Instant::now();
    for w in days.windows(3) {
        std::hint::black_box(usage_rows(
            model,
            "hh",
            "r",
            Some(&w[0]),
            &w[1],
            Some(&w[2]),
            0,
        )?);
    }
    Ok((days.len() - 2) as f64 / t.elapsed().as_secs_f64())
}

#[derive(Args)]
pub struct DisaggregateArgs {
    /// CSV with a header: timestamp,import_wh[,export_wh] (15-minute intervals; timestamps as
    /// 2020-07-01T00:15Z or milliseconds since the epoch, UTC).
    #[arg(long)]
    input: PathBuf,
    /// Model stem; the shipped model when absent.
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn disaggregate_cmd(a: DisaggregateArgs) -> anyhow::Result<()> {
    let model = load(&a.model)?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&a.input)
        .with_context(|| format!("opening {}", a.input.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(ts), Some(imp)) = (col("timestamp"), col("import_wh")) else {
        bail!(
            "{}: expected a header with timestamp,import_wh[,export_wh]; found {:?}",
            a.input.display(),
            headers.iter().collect::<Vec<_>>()
        );
    };
    let exp = col("export_wh");
    let mut readings = Vec::new();
    for (line, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{} line {}", a.input.display(), line + 2))?;
        let at = |i: usize| rec.get(i).unwrap_or("");
        let t = parse_time(at(ts)).with_context(|| format!("line {}: timestamp", line + 2))?;
        if t.rem_euclid(900_000) != 0 {
            bail!(
                "line {}: {} is not on a 15-minute boundary",
                line + 2,
                at(ts)
            );
        }
        let num = |s: &str, what: &str| -> anyhow::Result<f64> {
            let v: f64 = s
                .parse()
                .with_context(|| format!("line {}: {what} {s:?} is not a number", line + 2))?;
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "line {}: {what} must be >= 0, got {v}",
                line + 2
            );
            Ok(v)
        };
        let import = num(at(imp), "import_wh")?;
        let export = match exp {
            Some(i) if !at(i).is_empty() => num(at(i), "export_wh")?,
            _ => 0.0,
        };
        readings.push((t, import, export));
    }
    let (complete, skipped) = complete_days(readings);
    if complete.is_empty() {
        bail!(
            "{}: no complete day (96 intervals of 15 minutes, UTC)",
            a.input.display()
        );
    }
    println!(
        "{}: {} complete days{}; model {}",
        a.input.display(),
        complete.len(),
        if skipped > 0 {
            format!(" ({skipped} incomplete days skipped)")
        } else {
            String::new()
        },
        model.meta.version
    );
    let mut totals = vec![0f64; PREDICTED.len()];
    let mut on_days = vec![0usize; PREDICTED.len()];
    print!("{:<12}", "day");
    for a in PREDICTED {
        print!(" {:>10}", short(a.name()));
    }
    println!("  (kWh; * = not claimed at 15 minutes)");
    for (i, d) in complete.iter().enumerate() {
        let (prev, next) = neighbours(&complete, i);
        let rows = usage_rows(&model, "csv", "", prev, d, next, 0)?;
        print!("{:<12}", &format_time(d.day * 86_400_000)[..10]);
        for (k, r) in rows.iter().enumerate() {
            print!(" {:>10.2}", r.energy_wh / 1000.0);
            totals[k] += r.energy_wh / 1000.0;
            if r.on_intervals > 0 {
                on_days[k] += 1;
            }
        }
        println!();
    }
    println!("\n{:<16} {:>10} {:>8}", "appliance", "kWh", "days on");
    for (k, a) in PREDICTED.iter().enumerate() {
        println!(
            "{:<16} {:>10.1} {:>8}{}",
            a.name(),
            totals[k],
            on_days[k],
            if claimed(*a) { "" } else { "  *" }
        );
    }
    Ok(())
}

fn short(name: &str) -> String {
    name.chars().take(10).collect()
}
