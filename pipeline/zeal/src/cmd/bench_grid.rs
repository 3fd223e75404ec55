//! `zeal bench grid`: the grid-balance detector on simulated regions (the appliance-level
//! household simulator, technical losses, a class 0.5 feeder meter): false alarms per week with
//! losses only, and for each theft size the share of thefts detected and the median delay.

use clap::Args;
use std::io::Write;
use zeal_grid::eval::evaluate;

#[derive(Args)]
pub struct GridArgs {
    /// Households per region (one row each).
    #[arg(long, value_delimiter = ',', default_value = "50,200")]
    homes: Vec<usize>,
    /// Theft sizes in watts (one column each).
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000")]
    watts: Vec<f64>,
    /// Hours each theft lasts.
    #[arg(long, default_value_t = 6.0)]
    hours: f64,
    /// Weeks tested per region (after two weeks that only train the loss model).
    #[arg(long, default_value_t = 8)]
    weeks: usize,
    /// First simulated day.
    #[arg(long, default_value = "2020-07-01")]
    start: String,
    /// Residual share of the net load counted as explained (the meters' accuracy class).
    #[arg(long, default_value_t = zeal_grid::detect::Detector::CLASS_ALLOWANCE)]
    allowance: f64,
    #[arg(long, default_value_t = 2020)]
    seed: u64,
}

pub fn run(a: GridArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.weeks >= 1 && !a.homes.is_empty(), "--weeks and --homes");
    let start = super::common::parse_time(&a.start)?;
    let days = (a.weeks + 2) * 7;
    let end = start + days as i64 * 86_400_000;
    println!(
        "grid balance: {} weeks tested per region (2 more train the loss model), thefts of {} h",
        a.weeks, a.hours
    );
    print!("{:>6} {:>12}", "homes", "false/week");
    for w in &a.watts {
        print!(" {:>16}", format!("{w} W found"));
    }
    println!();
    for &homes in &a.homes {
        eprint!("simulating {homes} households for {days} days ...");
        let _ = std::io::stderr().flush();
        let fleet = zeal_meters::sim::fleet(&["NL-G01".to_string()], homes, a.seed);
        let mut totals: Vec<(i64, f64)> = Vec::new();
        for (i, m) in fleet.iter().enumerate() {
            for (k, r) in m.readings(start, end).iter().enumerate() {
                if i == 0 {
                    totals.push((r.interval_start, 0.0));
                }
                totals[k].1 += r.import_wh as f64 - r.export_wh as f64;
            }
        }
        eprintln!(" done");
        let e = evaluate(
            &totals,
            2,
            &a.watts,
            a.hours,
            a.allowance,
            a.seed ^ homes as u64,
        );
        print!(
            "{homes:>6} {:>12.2}",
            e.false_alarms.len() as f64 / e.weeks.max(1) as f64
        );
        for t in &e.thefts {
            let delay = t
                .median_delay_h()
                .map_or("-".to_string(), |d| format!("{d:.1} h"));
            print!(" {:>16}", format!("{}/{} {delay}", t.detected, t.weeks));
        }
        println!();
        for f in &e.false_alarms {
            println!(
                "       false alarm {} .. {}: {:.0} Wh, z {:.1}",
                super::common::format_time(f.first_ms),
                super::common::format_time(f.last_ms + 900_000),
                f.unexplained_wh,
                f.z
            );
        }
    }
    println!(
        "(found: thefts with an alert overlapping them / thefts; median hours from the theft's start to the alarm)"
    );
    Ok(())
}
