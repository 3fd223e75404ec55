//! Server-rendered SVG charts (no script, nothing loaded from elsewhere); they scale to the
//! width of the screen through their `viewBox`.

use crate::html::{esc, intervals};
use crate::lang::{self, tr};
use crate::model::{HouseholdDay, RegionBalance, format_day, format_time};
use std::fmt::Write;

const W: f64 = 320.0;
const H: f64 = 170.0;
const LEFT: f64 = 30.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 10.0;

/// The household's daily use (bars) against the region's average household (dots on a line)
/// and the efficient neighbours' mark (dashed), over `days` (oldest first).
pub fn daily_chart(days: &[HouseholdDay]) -> String {
    if days.is_empty() {
        return String::new();
    }
    let max = days
        .iter()
        .flat_map(|d| [Some(d.import_kwh), d.region_average_kwh, d.efficient_kwh])
        .flatten()
        .fold(0.1_f64, f64::max)
        * 1.1;
    let plot_h = H - BOTTOM - TOP;
    let slot = (W - LEFT) / days.len() as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / max);
    let mut s = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        tr(
            "Daily use against the neighbours",
            "Dagelijks verbruik naast dat van de buren"
        )
    );
    // Axis and a few gridlines with labels.
    for k in 0..=2 {
        let v = max / 1.1 * f64::from(k) / 2.0;
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{W}\" y1=\"{0:.1}\" y2=\"{0:.1}\" class=\"grid\"/><text x=\"{1:.1}\" y=\"{2:.1}\" class=\"tick\">{3:.0}</text>",
            y(v),
            LEFT - 3.0,
            y(v) + 3.0,
            v
        );
    }
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let top = y(d.import_kwh);
        let _ = write!(
            s,
            "<rect class=\"own\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {} kWh</title></rect>",
            x + slot * 0.15,
            slot * 0.7,
            (H - BOTTOM - top).max(0.0),
            format_day(d.day),
            lang::number(d.import_kwh, 2)
        );
        if i == 0 || i + 1 == days.len() || days.len() <= 7 {
            let label = format_day(d.day);
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"day\">{}</text>",
                x + slot / 2.0,
                H - 6.0,
                esc(label.get(5..).unwrap_or(&label))
            );
        }
    }
    let line = |f: &dyn Fn(&HouseholdDay) -> Option<f64>, class: &str| -> String {
        let pts: Vec<String> = days
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                f(d).map(|v| format!("{:.1},{:.1}", LEFT + slot * (i as f64 + 0.5), y(v)))
            })
            .collect();
        if pts.is_empty() {
            return String::new();
        }
        let dots: String = pts
            .iter()
            .map(|p| {
                let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
                format!("<circle class=\"{class}\" cx=\"{cx}\" cy=\"{cy}\" r=\"2.5\"/>")
            })
            .collect();
        format!(
            "<polyline class=\"{class}\" points=\"{}\"/>{dots}",
            pts.join(" ")
        )
    };
    s.push_str(&line(&|d| d.region_average_kwh, "average"));
    s.push_str(&line(&|d| d.efficient_kwh, "efficient"));
    s.push_str("</svg>");
    s
}

/// Horizontal bars of energy per appliance (kWh), largest first.
pub fn breakdown_chart(appliances: &[(String, f64, f64)]) -> String {
    if appliances.is_empty() {
        return String::new();
    }
    let row = 22.0;
    let h = row * appliances.len() as f64 + 4.0;
    let max = appliances.iter().map(|a| a.1).fold(0.01_f64, f64::max);
    let label_w = 110.0;
    let bar_w = W - label_w - 60.0;
    let mut s = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\">",
        tr("Energy per appliance", "Energie per apparaat")
    );
    for (i, (name, kwh, _)) in appliances.iter().enumerate() {
        let y = 2.0 + row * i as f64;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"device\" x=\"{label_w}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{value} kWh</text>",
            y + 14.0,
            esc(&crate::words::appliance(name)),
            y + 3.0,
            (bar_w * kwh / max).max(1.0),
            row - 8.0,
            label_w + (bar_w * kwh / max).max(1.0) + 4.0,
            y + 14.0,
            value = lang::number(*kwh, 2)
        );
    }
    s.push_str("</svg>");
    s
}

/// A region's unexplained energy summed per hour over its last 7 days (a line, broken where
/// hours are missing) with the alert intervals marked three ways: a shaded band, a bar on the
/// time axis and a dot on each alert hour. Its title and description are `{id}-title` and
/// `{id}-desc`; it is also described by `{id}-summary`, the page's text alternative.
pub fn balance_chart(id: &str, b: &RegionBalance) -> String {
    let hours = b.hourly();
    if hours.is_empty() {
        return String::new();
    }
    let left = 38.0;
    let plot_h = H - BOTTOM - TOP;
    let (from, to) = b.window();
    let lo = hours.iter().map(|h| h.1).fold(0.0_f64, f64::min);
    let hi = hours.iter().map(|h| h.1).fold(0.0_f64, f64::max);
    let pad = (hi - lo).max(1.0) * 0.08;
    let (bottom, top) = (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad);
    let y = |v: f64| TOP + plot_h * (top - v) / (top - bottom);
    let x = |t: i64| left + (W - left) * (t - from) as f64 / (to - from).max(1) as f64;
    let id = esc(id);
    let (region, from_s, to_s) = (esc(&b.region), format_time(from), format_time(to));
    let mut s = format!(
        "<svg class=\"chart balance\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc {id}-summary\">{}",
        lang::current().pick(
            format!(
                "<title id=\"{id}-title\">Grid balance of {region}</title><desc id=\"{id}-desc\">Unexplained energy \
                 (feeder minus the households' total minus expected losses) per hour in Wh, from {from_s} to {to_s} UTC. \
                 Alert intervals: shaded, with a bar on the time axis and dots on the line.</desc>"
            ),
            format!(
                "<title id=\"{id}-title\">Netbalans van {region}</title><desc id=\"{id}-desc\">Onverklaarde energie \
                 (voedingsmeter min het totaal van de huishoudens min de verwachte verliezen) per uur in Wh, van {from_s} tot {to_s} UTC. \
                 Meldingsintervallen: gearceerd, met een balk op de tijdas en stippen op de lijn.</desc>"
            )
        )
    );
    for run in &b.runs {
        let (x0, x1) = (x(run.first), x(run.end()));
        let _ = write!(
            s,
            "<g class=\"alert\"><title>{} {} {} {} UTC: {}, {:.0} Wh</title>\
             <rect class=\"alertband\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{plot_h}\"/>\
             <rect class=\"alertbar\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"4\"/></g>",
            tr("Alert", "Melding"),
            format_time(run.first),
            tr("to", "tot"),
            format_time(run.end()),
            intervals(run.intervals as usize),
            run.unexplained_wh,
            (x1 - x0).max(1.5),
            H - BOTTOM + 1.0,
            (x1 - x0).max(1.5)
        );
    }
    // The zero line, and the extremes where their labels do not collide with its.
    let extremes = [hi, lo]
        .into_iter()
        .filter(|v| (y(*v) - y(0.0)).abs() >= 10.0);
    for (v, class) in std::iter::once((0.0, "zero")).chain(extremes.map(|v| (v, "grid"))) {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{W}\" y1=\"{0:.1}\" y2=\"{0:.1}\" class=\"{class}\"/><text x=\"{1:.1}\" y=\"{2:.1}\" class=\"tick\">{3}</text>",
            y(v),
            left - 3.0,
            y(v) + 3.0,
            wh_tick(v)
        );
    }
    // A label at noon of every day shown.
    let mut day = from.div_euclid(86_400);
    while day * 86_400 < to {
        let noon = day * 86_400 + 43_200;
        if (from..to).contains(&noon) {
            let label = format_day(day);
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"day\">{}</text>",
                x(noon),
                H - 6.0,
                label.get(5..).unwrap_or(&label)
            );
        }
        day += 1;
    }
    // The line, one piece per run of hours without a gap.
    let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut previous: Option<i64> = None;
    for &(hour, wh, _) in &hours {
        let p = (x(hour + 1_800), y(wh));
        match pieces.last_mut() {
            Some(piece) if previous == Some(hour - 3_600) => piece.push(p),
            _ => pieces.push(vec![p]),
        }
        previous = Some(hour);
    }
    for piece in &pieces {
        match piece.as_slice() {
            [(cx, cy)] => {
                let _ = write!(
                    s,
                    "<circle class=\"bal\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"1.5\"/>"
                );
            }
            points => {
                let points: Vec<String> = points
                    .iter()
                    .map(|(px, py)| format!("{px:.1},{py:.1}"))
                    .collect();
                let _ = write!(
                    s,
                    "<polyline class=\"bal\" points=\"{}\"/>",
                    points.join(" ")
                );
            }
        }
    }
    for &(hour, wh, _) in hours.iter().filter(|h| h.2) {
        let _ = write!(
            s,
            "<circle class=\"alertpt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"><title>{} UTC: {wh:.0} Wh, {}</title></circle>",
            x(hour + 1_800),
            y(wh),
            format_time(hour),
            tr("alert", "melding")
        );
    }
    s.push_str("</svg>");
    s
}

/// An axis label in Wh (thousands as `k` from 10 000 on).
fn wh_tick(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

/// A thin progress bar, `fraction` in [0, 1].
pub fn progress(fraction: f64) -> String {
    let f = fraction.clamp(0.0, 1.0);
    format!(
        "<svg class=\"bar\" viewBox=\"0 0 100 6\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{:.0} %\"><rect class=\"track\" width=\"100\" height=\"6\" rx=\"3\"/><rect class=\"fill\" width=\"{:.1}\" height=\"6\" rx=\"3\"/></svg>",
        f * 100.0,
        f * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: i64, kwh: f64, avg: Option<f64>) -> HouseholdDay {
        HouseholdDay {
            household_id: "h".into(),
            day: d,
            region: "R".into(),
            import_kwh: kwh,
            export_kwh: 0.0,
            generation_kwh: None,
            peak_kwh: 0.0,
            solar_hours_kwh: 0.0,
            baseline_kwh: None,
            region_average_kwh: avg,
            efficient_kwh: None,
        }
    }

    #[test]
    fn one_bar_per_day_and_a_line_only_where_known() {
        let s = daily_chart(&[day(18_000, 5.0, Some(8.0)), day(18_001, 9.0, None)]);
        assert_eq!(s.matches("<rect class=\"own\"").count(), 2);
        assert_eq!(s.matches("<circle class=\"average\"").count(), 1);
        assert!(!s.contains("class=\"efficient\""));
        assert!(s.contains("9.00 kWh"));
        assert!(daily_chart(&[]).is_empty());
    }

    #[test]
    fn the_balance_chart_marks_alerts_and_breaks_the_line_at_gaps() {
        use crate::model::{Balance, BalanceRow};
        let t0 = 18_444 * 86_400;
        let row = |region: &str, k: i64, wh: f64, alert: bool| BalanceRow {
            region: region.into(),
            start: t0 + k * 900,
            unexplained_wh: wh,
            z: 1.0,
            alert,
        };
        // Hours 0 and 1, a missing hour, then hour 3 with an alert interval.
        let b = Balance::build(vec![
            row("R<1>", 0, 10.0, false),
            row("R<1>", 4, -20.0, false),
            row("R<1>", 12, 300.0, true),
            row("R<1>", 13, 50.0, false),
        ]);
        let s = balance_chart("balance-0", &b.regions[0]);
        assert!(s.contains("<title id=\"balance-0-title\">Grid balance of R&lt;1&gt;</title>"));
        assert!(s.contains("<desc id=\"balance-0-desc\">"));
        assert!(s.contains("aria-describedby=\"balance-0-desc balance-0-summary\""));
        assert_eq!(s.matches("class=\"alertband\"").count(), 1);
        assert_eq!(s.matches("class=\"alertbar\"").count(), 1);
        assert_eq!(s.matches("<circle class=\"alertpt\"").count(), 1);
        assert_eq!(s.matches("<polyline class=\"bal\"").count(), 1, "hours 0-1");
        assert_eq!(
            s.matches("<circle class=\"bal\"").count(),
            1,
            "hour 3 alone"
        );
        assert!(s.contains("class=\"zero\""), "negative hours: a zero line");
        assert!(s.contains("Alert 2020-07-01 03:00 to 2020-07-01 03:15 UTC: 1 interval, 300 Wh"));
        // Seven days up to 03:30 on 07-01: labelled at noon, 06-24 to 06-30.
        assert!(s.contains(">06-24</text>") && s.contains(">06-30</text>"));
        assert!(!s.contains(">07-01</text>") && !s.contains(">06-23</text>"));
    }

    #[test]
    fn bars_scale_to_the_largest_and_names_are_escaped() {
        let s = breakdown_chart(&[("ev<x>".into(), 10.0, 0.9), ("dryer".into(), 5.0, 0.8)]);
        assert!(s.contains("ev&lt;x&gt;"));
        assert!(s.contains("10.00 kWh") && s.contains("5.00 kWh"));
        assert!(progress(2.0).contains("width=\"100.0\""));
    }
}
