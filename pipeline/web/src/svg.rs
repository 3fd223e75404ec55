//! Server-rendered SVG charts (no script, nothing loaded from elsewhere); they scale to the
//! width of the screen through their `viewBox`.

use crate::html::esc;
use crate::model::{HouseholdDay, format_day};
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
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Daily use against the neighbours\">"
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
            "<rect class=\"own\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {:.2} kWh</title></rect>",
            x + slot * 0.15,
            slot * 0.7,
            (H - BOTTOM - top).max(0.0),
            format_day(d.day),
            d.import_kwh
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
        "<svg class=\"chart\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"Energy per appliance\">"
    );
    for (i, (name, kwh, _)) in appliances.iter().enumerate() {
        let y = 2.0 + row * i as f64;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"device\" x=\"{label_w}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{kwh:.2} kWh</text>",
            y + 14.0,
            esc(&name.replace('_', " ")),
            y + 3.0,
            (bar_w * kwh / max).max(1.0),
            row - 8.0,
            label_w + (bar_w * kwh / max).max(1.0) + 4.0,
            y + 14.0
        );
    }
    s.push_str("</svg>");
    s
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
    fn bars_scale_to_the_largest_and_names_are_escaped() {
        let s = breakdown_chart(&[("ev<x>".into(), 10.0, 0.9), ("dryer".into(), 5.0, 0.8)]);
        assert!(s.contains("ev&lt;x&gt;"));
        assert!(s.contains("10.00 kWh") && s.contains("5.00 kWh"));
        assert!(progress(2.0).contains("width=\"100.0\""));
    }
}
