//! What one turn of `zeal jobs balance --follow` costs the ledger once it holds a lot: R regions
//! of D days (feeder readings and totals), then turns in which nothing, one region or every
//! region got a new interval. Before judging became incremental every turn cost what the last
//! line does (every region joined, refitted and scanned again) and read every total of the span
//! from the store; the totals read per turn are printed for both.
//! `cargo run --release -p zeal-grid --example follow_cost [REGIONS DAYS]` (default 50 90).

use std::time::Instant;
use zeal_grid::billing::Tolerance;
use zeal_grid::ledger::{Ledger, Published};
use zeal_grid::sim::{Rng, followed_region};

const DAY_MS: i64 = 86_400_000;
const T0: i64 = 18_444 * DAY_MS;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("REGIONS DAYS are integers"))
        .collect();
    let (regions, days) = match args[..] {
        [r, d] => (r, d),
        [] => (50, 90),
        _ => panic!("usage: follow_cost [REGIONS DAYS]"),
    };
    let mut rng = Rng::new(1);
    let data: Vec<Vec<(i64, Published, i64)>> = (0..regions)
        .map(|_| followed_region(50, T0, days + 1, None, &mut rng))
        .collect();
    let mut ledger = Ledger::new(14, Tolerance::default());
    let name = |r: usize| format!("R{r:03}");
    let held = days * 96;
    for (r, series) in data.iter().enumerate() {
        for &(t, p, f) in &series[..held] {
            ledger.feeder(&name(r), t, f).unwrap();
            ledger.total(&name(r), t, p).unwrap();
        }
    }
    let start = Instant::now();
    let first = ledger.judge();
    println!(
        "{regions} regions x {days} days: first judgement {:.0} ms ({} rows)",
        start.elapsed().as_secs_f64() * 1e3,
        first.rows.len()
    );
    let span_totals = 2 * regions * held;
    let mut next = held;
    let mut turn = |label: &str, changed: usize| {
        for (r, series) in data.iter().enumerate().take(changed) {
            let (t, p, f) = series[next];
            ledger.feeder(&name(r), t, f).unwrap();
            ledger.total(&name(r), t, p).unwrap();
        }
        next += 1;
        let start = Instant::now();
        let j = ledger.judge();
        let ms = start.elapsed().as_secs_f64() * 1e3;
        println!(
            "turn, {label}: {ms:.2} ms ({} regions judged, {} rows)",
            j.rejudged,
            j.rows.len()
        );
        ms
    };
    let idle = turn("nothing new", 0);
    let one = turn("one region new", 1);
    let all = turn("every region new (every turn before)", regions);
    println!(
        "every region / one region: {:.0}x; every region / nothing new: {:.0}x",
        all / one,
        all / idle.max(1e-3)
    );
    println!(
        "totals read per turn: before {span_totals} rows (the whole span), now the intervals \
         still lacking one (0 rows when every reading has its total)"
    );
}
