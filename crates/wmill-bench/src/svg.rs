//! Plots as hand-written SVG: line charts (linear, log or "nines" axes for latency
//! percentiles) and horizontal grouped bar charts. No plotting crate needed.

use std::fmt::Write;

const W: f64 = 760.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    Log,
    /// Percentiles on a log-of-the-tail axis: 50, 90, 99, 99.9 … equally spaced.
    Nines,
}

impl Scale {
    fn t(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.max(1e-12).log10(),
            Scale::Nines => -(1.0 - v.min(99.999) / 100.0).log10(),
        }
    }

    /// Domain (in transformed units) covering `lo..hi`, and its ticks as (t, label).
    fn ticks(self, lo: f64, hi: f64) -> ((f64, f64), Vec<(f64, String)>) {
        match self {
            Scale::Linear => {
                let lo = lo.min(0.0);
                let hi = if hi > lo { hi } else { lo + 1.0 };
                let raw = (hi - lo) / 5.0;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .map(|m| m * mag)
                    .find(|s| (hi - lo) / s <= 6.0)
                    .unwrap_or(10.0 * mag);
                let top = (hi / step).ceil() * step;
                let mut ticks = Vec::new();
                let mut v = (lo / step).floor() * step;
                while v <= top + step * 1e-9 {
                    ticks.push((v, short(v)));
                    v += step;
                }
                ((lo, top), ticks)
            }
            Scale::Log => {
                let a = lo.max(1e-12).log10().floor();
                let b = hi.max(1e-12).log10().ceil().max(a + 1.0);
                let ticks = (a as i32..=b as i32)
                    .map(|e| (e as f64, short(10f64.powi(e))))
                    .collect();
                ((a, b), ticks)
            }
            Scale::Nines => {
                let ticks: Vec<(f64, String)> = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
                    .iter()
                    .map(|p| (self.t(*p), format!("{p}")))
                    .filter(|(t, _)| *t <= self.t(hi) + 1e-9)
                    .collect();
                let top = ticks.last().map_or(1.0, |t| t.0).max(self.t(hi));
                ((0.0, top), ticks)
            }
        }
    }
}

/// A number for an axis: 1k, 2.5M, 0.1.
fn short(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line of a line chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    /// Index into the palette (lines that belong together share a colour).
    pub color: usize,
}

/// A line chart.
pub struct Line {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: Scale,
    pub y: Scale,
    pub series: Vec<Series>,
}

fn header(out: &mut String, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
<rect width="{W}" height="{h}" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
"#,
        W / 2.0,
        esc(title)
    );
}

/// Renders a line chart.
pub fn line(c: &Line) -> String {
    // The legend goes under the plot, two entries a row; unnamed lines have none.
    let named = c.series.iter().filter(|s| !s.name.is_empty()).count();
    let legend_rows = named.div_ceil(2) as f64;
    let (l, r, t, b) = (70.0, 30.0, 40.0, 60.0 + 20.0 * legend_rows);
    let h = 380.0 + 20.0 * legend_rows;
    let (pw, ph) = (W - l - r, h - t - b);
    let pts = c.series.iter().flat_map(|s| s.points.iter());
    let fin = |v: &f64| v.is_finite() && (*v > 0.0 || !matches!(c.y, Scale::Log));
    let xs: Vec<f64> = pts.clone().map(|p| p.0).filter(|v| v.is_finite()).collect();
    let ys: Vec<f64> = pts.map(|p| p.1).filter(fin).collect();
    let span = |v: &[f64]| {
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let (x0, x1) = span(&xs);
    let (y0, y1) = span(&ys);
    let ((xa, xb), xt) = c.x.ticks(x0, x1);
    let ((ya, yb), yt) = c.y.ticks(y0, y1);
    let px = |v: f64| l + (c.x.t(v) - xa) / (xb - xa).max(1e-12) * pw;
    let py = |v: f64| t + ph - (c.y.t(v) - ya) / (yb - ya).max(1e-12) * ph;
    let mut out = String::new();
    header(&mut out, h, &c.title);
    for (tv, label) in &xt {
        let x = l + (tv - xa) / (xb - xa).max(1e-12) * pw;
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            t + ph,
            t + ph + 16.0,
            esc(label)
        );
    }
    for (tv, label) in &yt {
        let y = t + ph - (tv - ya) / (yb - ya).max(1e-12) * ph;
        let _ = writeln!(
            out,
            r##"<line x1="{l}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            l + pw,
            l - 6.0,
            y + 4.0,
            esc(label)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
        l + pw / 2.0,
        t + ph + 34.0,
        esc(&c.x_label),
        t + ph / 2.0,
        esc(&c.y_label)
    );
    let mut entry = 0;
    for s in &c.series {
        let color = COLORS[s.color % COLORS.len()];
        let dash = if s.dashed {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && fin(&p.1))
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
            path.join(" ")
        );
        if s.points.len() <= 12 {
            for p in s.points.iter().filter(|p| p.0.is_finite() && fin(&p.1)) {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"/>"#,
                    px(p.0),
                    py(p.1)
                );
            }
        }
        if s.name.is_empty() {
            continue;
        }
        let lx = l + (entry % 2) as f64 * (pw / 2.0);
        let ly = t + ph + 52.0 + (entry / 2) as f64 * 20.0;
        entry += 1;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            esc(&s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A horizontal grouped bar chart: one row per group, one bar per series.
pub struct Bars {
    pub title: String,
    pub value_label: String,
    pub log: bool,
    pub series: Vec<String>,
    /// (group label, one value per series; NaN = no bar).
    pub groups: Vec<(String, Vec<f64>)>,
    /// Formats a value for its label.
    pub fmt: fn(f64) -> String,
}

/// Renders a bar chart.
pub fn bars(c: &Bars) -> String {
    let n = c.series.len().max(1) as f64;
    let bar = 16.0;
    let group_h = n * bar + 14.0;
    let (l, r, t, b) = (190.0, 90.0, 60.0, 45.0);
    let ph = group_h * c.groups.len() as f64;
    let h = t + ph + b;
    let pw = W - l - r;
    let vals: Vec<f64> = c
        .groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let scale = if c.log { Scale::Log } else { Scale::Linear };
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ((a, bb), ticks) = scale.ticks(if c.log { lo } else { 0.0 }, hi);
    let px = |v: f64| l + (scale.t(v) - a) / (bb - a).max(1e-12) * pw;
    let mut out = String::new();
    header(&mut out, h, &c.title);
    let mut x = l;
    for (i, s) in c.series.iter().enumerate() {
        let y = 40.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{}" width="14" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 2.0,
            COLORS[i % COLORS.len()],
            x + 20.0,
            y + 8.0,
            esc(s)
        );
        x += 40.0 + 7.0 * s.chars().count() as f64;
    }
    for (tv, label) in &ticks {
        let x = l + (tv - a) / (bb - a).max(1e-12) * pw;
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            t + ph,
            t + ph + 16.0,
            esc(label)
        );
    }
    for (gi, (label, values)) in c.groups.iter().enumerate() {
        let gy = t + gi as f64 * group_h + 7.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            l - 8.0,
            gy + n * bar / 2.0 + 4.0,
            esc(label)
        );
        for (si, v) in values.iter().enumerate() {
            if !(v.is_finite() && *v > 0.0) {
                continue;
            }
            let y = gy + si as f64 * bar;
            let x1 = px(*v).max(l + 1.0);
            let _ = writeln!(
                out,
                r#"<rect x="{l}" y="{y:.1}" width="{:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                x1 - l,
                bar - 2.0,
                COLORS[si % COLORS.len()],
                x1 + 4.0,
                y + bar - 5.0,
                esc(&(c.fmt)(*v))
            );
        }
    }
    let _ = writeln!(
        out,
        r##"<line x1="{l}" y1="{t}" x2="{l}" y2="{}" stroke="#444"/><text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        t + ph,
        l + pw / 2.0,
        h - 10.0,
        esc(&c.value_label)
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed() {
        let l = line(&Line {
            title: "t <x>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x: Scale::Nines,
            y: Scale::Log,
            series: vec![Series {
                name: "a".into(),
                points: vec![(50.0, 1.0), (99.0, 10.0), (100.0, 30.0)],
                dashed: false,
                color: 0,
            }],
        });
        assert!(l.starts_with("<svg") && l.trim_end().ends_with("</svg>"));
        assert!(l.contains("t &lt;x&gt;"));
        let b = bars(&Bars {
            title: "b".into(),
            value_label: "v".into(),
            log: true,
            series: vec!["s1".into(), "s2".into()],
            groups: vec![("g".into(), vec![1.0, 1000.0])],
            fmt: |v| format!("{v}"),
        });
        assert!(b.contains("1k"));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(1000.0), "1k");
        assert_eq!(short(2_500_000.0), "2.5M");
        assert_eq!(short(0.1), "0.1");
    }
}
