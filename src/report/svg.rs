//! Charts as inline SVG, drawn by hand: the page must work offline and with
//! scripts off, so no charting library, no CDN. Each chart is a fixed
//! 760 × 280 viewBox that scales with the page.

use std::fmt::Write as _;

use super::html::escape;

const W: f64 = 760.0;
const H: f64 = 280.0;
/// Room for the axis labels: left, right, top, bottom.
const PAD: (f64, f64, f64, f64) = (56.0, 16.0, 16.0, 40.0);

/// Colors of the series, in order; the first is the "all calls" line.
pub const PALETTE: [&str; 7] = [
    "#222222", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// One line of a line chart: runs of points, a new run where data is missing.
#[derive(Debug)]
pub struct Line {
    /// Shown in the legend.
    pub label: String,
    /// Stroke color.
    pub color: &'static str,
    /// `(x, y)` runs; `y` in 0..=1.
    pub runs: Vec<Vec<(f64, f64)>>,
}

fn open(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{}" class="chart">"#,
        escape(title)
    );
}

fn frame(out: &mut String) {
    let (l, r, t, b) = PAD;
    let _ = write!(
        out,
        r##"<line x1="{l}" y1="{y}" x2="{x2}" y2="{y}" stroke="#888"/><line x1="{l}" y1="{t}" x2="{l}" y2="{y}" stroke="#888"/>"##,
        y = H - b,
        x2 = W - r,
    );
}

/// Horizontal grid lines with labels at `ticks` (values in `0..=max`).
fn y_grid(out: &mut String, max: f64, ticks: &[f64], label: impl Fn(f64) -> String) {
    let (l, r, t, b) = PAD;
    for &v in ticks {
        let y = H - b - (H - b - t) * v / max;
        let _ = write!(
            out,
            r##"<line x1="{l}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11" fill="#555">{}</text>"##,
            escape(&label(v)),
            x2 = W - r,
            tx = l - 6.0,
            ty = y + 4.0,
        );
    }
}

fn legend(out: &mut String, items: &[(&str, &str)]) {
    let mut x = PAD.0;
    for (label, color) in items {
        let _ = write!(
            out,
            r##"<rect x="{x}" y="{y}" width="10" height="10" fill="{color}"/><text x="{tx}" y="{ty}" font-size="11" fill="#333">{}</text>"##,
            escape(label),
            y = H - 14.0,
            tx = x + 14.0,
            ty = H - 5.0,
        );
        x += 24.0 + 6.5 * label.chars().count() as f64;
    }
}

/// A hit-ratio line chart over time: `x` in seconds since the epoch,
/// labelled as minutes from `x_min`.
pub fn line_chart(title: &str, lines: &[Line], x_min: f64, x_max: f64) -> String {
    let mut out = String::new();
    open(&mut out, title);
    y_grid(&mut out, 1.0, &[0.0, 0.25, 0.5, 0.75, 1.0], |v| {
        format!("{:.0}%", v * 100.0)
    });
    frame(&mut out);
    let (l, r, t, b) = PAD;
    let span = (x_max - x_min).max(1.0);
    let px = |x: f64| l + (W - l - r) * (x - x_min) / span;
    let py = |y: f64| H - b - (H - b - t) * y.clamp(0.0, 1.0);
    for i in 0..=4 {
        let x = x_min + span * f64::from(i) / 4.0;
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="{anchor}" font-size="11" fill="#555">+{:.0} min</text>"##,
            px(x),
            H - b + 14.0,
            (x - x_min) / 60.0
        );
    }
    for line in lines {
        for run in &line.runs {
            if let [(x, y)] = run.as_slice() {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                    px(*x),
                    py(*y),
                    line.color
                );
                continue;
            }
            let points: Vec<String> = run
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                line.color,
                points.join(" ")
            );
        }
    }
    let items: Vec<(&str, &str)> = lines.iter().map(|l| (l.label.as_str(), l.color)).collect();
    legend(&mut out, &items);
    out.push_str("</svg>");
    out
}

/// Grouped bars: one group per category, one bar per series.
pub fn bar_chart(
    title: &str,
    categories: &[String],
    series: &[(&str, &'static str, Vec<f64>)],
    label: impl Fn(f64) -> String,
) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    let ticks: Vec<f64> = (0..=4).map(|i| max / 1.1 * f64::from(i) / 4.0).collect();
    y_grid(&mut out, max, &ticks, &label);
    frame(&mut out);
    let (l, r, t, b) = PAD;
    let group = (W - l - r) / categories.len().max(1) as f64;
    let bar = (group * 0.8 / series.len().max(1) as f64).min(60.0);
    for (c, category) in categories.iter().enumerate() {
        let x0 = l + group * c as f64 + (group - bar * series.len() as f64) / 2.0;
        for (s, (name, color, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0.0).max(0.0);
            let h = (H - b - t) * v / max;
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{color}"><title>{}: {}</title></rect>"#,
                x0 + bar * s as f64,
                H - b - h,
                bar - 2.0,
                escape(&format!("{category} {name}")),
                escape(&label(v)),
            );
        }
        let short: String = category.chars().take(40).collect();
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11" fill="#333">{}</text>"##,
            l + group * (c as f64 + 0.5),
            H - b + 14.0,
            escape(&short)
        );
    }
    let items: Vec<(&str, &str)> = series.iter().map(|s| (s.0, s.1)).collect();
    legend(&mut out, &items);
    out.push_str("</svg>");
    out
}
