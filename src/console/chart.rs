//! Charts drawn on the server as SVG: stacked bars (the aged balance at several dates) and a
//! line (DSO over twelve months). Each page shows the same figures as a table beside the chart,
//! so the chart only needs to be seen, never read by a machine.

use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::Decimal;

/// One bar: its label and its stacked values (in the order of the series).
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// One value per series.
    pub values: Vec<Decimal>,
}

/// The colours of the series, in order (not due, then older and older buckets).
pub const PALETTE: &[&str] = &[
    "#7fb77e", "#f2d16b", "#f0a04b", "#e8743b", "#d1453b", "#8e2a2a",
];

fn f(v: Decimal) -> f64 {
    v.to_f64().unwrap_or(0.0)
}

/// A stacked bar chart of `bars`, one colour per series (negative values are drawn as zero:
/// the table beside the chart gives them).
pub fn stacked(title: &str, series: &[&str], bars: &[Bar]) -> Markup {
    let (w, h, left, bottom, top) = (560.0, 240.0, 10.0, 40.0, 10.0);
    let max = bars
        .iter()
        .map(|b| b.values.iter().map(|v| f(*v).max(0.0)).sum::<f64>())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = bars.len().max(1) as f64;
    let slot = (w - left) / n;
    let bw = (slot * 0.6).max(4.0);
    let plot = h - bottom - top;
    let mut rects = Vec::new();
    let mut labels = Vec::new();
    for (i, b) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bw) / 2.0;
        let mut y = h - bottom;
        for (k, v) in b.values.iter().enumerate() {
            let hgt = f(*v).max(0.0) / max * plot;
            if hgt > 0.0 {
                y -= hgt;
                rects.push((x, y, hgt, k));
            }
        }
        labels.push((x + bw / 2.0, b.label.as_str()));
    }
    html! {
        svg class="chart" role="img" viewBox={"0 0 " (w) " " (h)} width="100%" {
            title { (title) }
            @for (x, y, hgt, k) in &rects {
                rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{bw:.1}"))
                    height=(format!("{hgt:.1}")) fill=(PALETTE[k % PALETTE.len()]) {
                    title { (series.get(*k).copied().unwrap_or("")) }
                }
            }
            @for (x, label) in &labels {
                text x=(format!("{x:.1}")) y=(format!("{:.1}", h - bottom + 16.0))
                    text-anchor="middle" font-size="11" { (label) }
            }
            line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#555" {}
            @for (k, name) in series.iter().enumerate() {
                rect x=(format!("{:.1}", left + k as f64 * 92.0)) y=(h - 14.0) width="10" height="10"
                    fill=(PALETTE[k % PALETTE.len()]) {}
                text x=(format!("{:.1}", left + 14.0 + k as f64 * 92.0)) y=(h - 5.0) font-size="10" { (name) }
            }
        }
    }
}

/// A line chart of `points` (label, value; `None` where there is no value).
pub fn line(title: &str, points: &[(String, Option<Decimal>)]) -> Markup {
    let (w, h, left, bottom, top) = (560.0, 200.0, 36.0, 30.0, 12.0);
    let max = points
        .iter()
        .filter_map(|(_, v)| v.map(f))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = points.len().max(2) as f64 - 1.0;
    let plot = h - bottom - top;
    let xy = |i: usize, v: f64| {
        (
            left + (w - left - 10.0) * i as f64 / n,
            h - bottom - v / max * plot,
        )
    };
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(i, (_, v))| v.map(|v| xy(i, f(v))))
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    html! {
        svg class="chart" role="img" viewBox={"0 0 " (w) " " (h)} width="100%" {
            title { (title) }
            line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#555" {}
            line x1=(left) y1=(top) x2=(left) y2=(h - bottom) stroke="#555" {}
            text x="2" y=(top + 4.0) font-size="10" { (format!("{max:.0}")) }
            text x="2" y=(h - bottom) font-size="10" { "0" }
            @if path.len() > 1 {
                polyline points=(path.join(" ")) fill="none" stroke="#2a5d8f" stroke-width="2" {}
            }
            @for (i, (label, v)) in points.iter().enumerate() {
                @if let Some(v) = v {
                    @let (x, y) = xy(i, f(*v));
                    circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" fill="#2a5d8f" {}
                }
                @if i % 2 == 0 || points.len() <= 6 {
                    @let (x, _) = xy(i, 0.0);
                    text x=(format!("{x:.1}")) y=(h - bottom + 14.0) text-anchor="middle" font-size="10" { (label) }
                }
            }
        }
    }
}
