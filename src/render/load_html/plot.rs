//! The chart kit of the load report: the SVG canvas (size, margins, accessible title), scales
//! from values to pixels with 1-2-5 or power-of-ten ticks, axes with labels, and the
//! placeholder for a chart with nothing to draw.

use std::fmt::Write as _;

use crate::render::junit::escape as esc;

pub(super) const WIDTH: f64 = 860.0;
pub(super) const HEIGHT: f64 = 260.0;
/// Left, right, top, bottom margins around the plot area.
pub(super) const MARGIN: (f64, f64, f64, f64) = (64.0, 16.0, 16.0, 40.0);

/// A linear or logarithmic scale from data values to pixels.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scale {
    min: f64,
    max: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    pub(super) fn new(min: f64, max: f64, log: bool, from: f64, to: f64) -> Scale {
        let (min, max) = if log {
            (min.max(1e-3), max.max(min.max(1e-3) * 10.0))
        } else if max > min {
            (min, max)
        } else {
            (min, min + 1.0)
        };
        Scale {
            min,
            max,
            log,
            from,
            to,
        }
    }

    pub(super) fn at(&self, v: f64) -> f64 {
        let f = if self.log {
            (v.max(self.min).ln() - self.min.ln()) / (self.max.ln() - self.min.ln())
        } else {
            (v - self.min) / (self.max - self.min)
        };
        self.from + f.clamp(0.0, 1.0) * (self.to - self.from)
    }

    /// Tick values: 1-2-5 steps, or powers of ten on a log scale.
    pub(super) fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut t = Vec::new();
            let mut p = 10f64.powf(self.min.log10().floor());
            while p <= self.max * 1.0001 {
                for m in [1.0, 2.0, 5.0] {
                    let v = p * m;
                    if v >= self.min * 0.9999 && v <= self.max * 1.0001 {
                        t.push(v);
                    }
                }
                p *= 10.0;
            }
            return t;
        }
        let span = self.max - self.min;
        let raw = span / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * mag)
            .find(|s| span / s <= 6.0)
            .unwrap_or(mag * 10.0);
        let mut v = (self.min / step).ceil() * step;
        let mut t = Vec::new();
        while v <= self.max + step * 1e-9 {
            t.push(v);
            v += step;
        }
        t
    }
}

/// Opens an SVG with its accessible name.
pub(super) fn svg_open(o: &mut String, id: &str, label: &str) {
    let _ = writeln!(
        o,
        "<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{label}\"><title>{label}</title>"
    );
}

/// Grid lines, tick labels and axis titles.
pub(super) fn axes(
    o: &mut String,
    x: &Scale,
    y: &Scale,
    x_label: &str,
    y_label: &str,
    fmt_x: fn(f64) -> String,
) {
    let (l, r, t, b) = MARGIN;
    for v in y.ticks() {
        let py = y.at(v);
        let _ = writeln!(
            o,
            "<line class=\"grid\" x1=\"{l}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - r,
            l - 6.0,
            py + 4.0,
            esc(&number(v))
        );
    }
    for v in x.ticks() {
        let px = x.at(v);
        let _ = writeln!(
            o,
            "<line class=\"axis\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - b,
            HEIGHT - b + 4.0,
            HEIGHT - b + 16.0,
            esc(&fmt_x(v))
        );
    }
    let _ = writeln!(
        o,
        "<line class=\"axis\" x1=\"{l}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{x_label}</text>\
         <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{y_label}</text>",
        WIDTH - r,
        HEIGHT - b,
        HEIGHT - b,
        (l + WIDTH - r) / 2.0,
        HEIGHT - 6.0,
        (t + HEIGHT - b) / 2.0
    );
}

pub(super) fn number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        format!("{:.0}", v)
    } else if v.abs() >= 1.0 {
        let s = format!("{v:.1}");
        s.trim_end_matches(".0").to_string()
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Closes an SVG with one line saying why it has nothing to draw.
pub(super) fn empty(o: &mut String, why: &str) {
    let _ = writeln!(
        o,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{why}</text></svg>",
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_ticks() {
        let s = Scale::new(0.0, 100.0, false, 0.0, 1000.0);
        assert_eq!(s.at(50.0), 500.0);
        assert_eq!(s.ticks(), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let log = Scale::new(1.0, 1000.0, true, 0.0, 300.0);
        assert!((log.at(10.0) - 100.0).abs() < 1e-9);
        assert_eq!(log.ticks().first(), Some(&1.0));
        assert!(log.ticks().contains(&500.0));
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(40.0), "40");
    }
}
