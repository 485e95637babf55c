//! The three charts of the load report: the latency histogram (log scale, percentiles marked),
//! latency over time (one point per probe, a red mark per loss, the deadline), and sends and
//! arrivals per second with lost and failed probes as bars.

use std::fmt::Write as _;

use super::ms;
use super::plot::{HEIGHT, MARGIN, Scale, WIDTH, axes, empty, number, svg_open};
use crate::load::{LoadReport, Timeline};
use crate::render::junit::escape as esc;

const BINS: usize = 40;

/// A chart: the `<svg>` open tag, what `draw` writes, the close tag. When there is nothing to
/// plot, `draw` writes nothing and returns why, and the chart says that instead.
fn chart(
    id: &str,
    label: &str,
    draw: impl FnOnce(&mut String) -> Result<(), &'static str>,
) -> String {
    let mut o = String::new();
    svg_open(&mut o, id, label);
    match draw(&mut o) {
        Ok(()) => o.push_str("</svg>\n"),
        Err(why) => empty(&mut o, why),
    }
    o
}

pub(super) fn histogram(r: &LoadReport, t: &Timeline) -> String {
    chart("histogram", "Latency histogram", |o| {
        let (l, rm, top, b) = MARGIN;
        let lo = t
            .histogram
            .iter()
            .map(|p| p[0])
            .fold(f64::INFINITY, f64::min);
        let hi = t.histogram.iter().map(|p| p[0]).fold(0.0, f64::max);
        if t.histogram.is_empty() || !lo.is_finite() {
            return Err("no probe was delivered");
        }
        let log = hi / lo.max(1e-3) > 20.0;
        let x = Scale::new(if log { lo } else { 0.0 }, hi * 1.02, log, l, WIDTH - rm);
        let mut counts = vec![0u64; BINS];
        for p in &t.histogram {
            let f = (x.at(p[0]) - l) / (WIDTH - rm - l);
            let i = ((f * BINS as f64) as usize).min(BINS - 1);
            counts[i] += p[1] as u64;
        }
        let peak = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let y = Scale::new(0.0, peak * 1.1, false, HEIGHT - b, top);
        axes(o, &x, &y, "latency (ms)", "probes", number);
        let w = (WIDTH - rm - l) / BINS as f64;
        for (i, c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let py = y.at(*c as f64);
            let _ = writeln!(
                o,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{py:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{c} probe(s)</title></rect>",
                l + i as f64 * w + 0.5,
                (w - 1.0).max(0.5),
                (HEIGHT - b - py).max(0.0)
            );
        }
        let lat = &r.latency_ms;
        for (row, (name, v)) in [("p50", lat.p50), ("p90", lat.p90), ("p99", lat.p99)]
            .into_iter()
            .enumerate()
        {
            let px = x.at(v);
            let label_y = top + 10.0 + 12.0 * row as f64;
            let _ = writeln!(
                o,
                "<line class=\"pct\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{top}\" y2=\"{:.1}\"/>\
                 <text x=\"{:.1}\" y=\"{label_y:.1}\">{name} {}</text>",
                HEIGHT - b,
                px + 3.0,
                esc(&ms(v))
            );
        }
        Ok(())
    })
}

pub(super) fn scatter(r: &LoadReport, t: &Timeline) -> String {
    chart(
        "latency-over-time",
        "Latency of each probe by its send time",
        |o| {
            let (l, rm, top, b) = MARGIN;
            if t.latencies.is_empty() && t.losses.is_empty() {
                return Err("no probe was sent");
            }
            let x_max = t
                .latencies
                .iter()
                .map(|p| p[0])
                .chain(t.losses.iter().copied())
                .fold(r.elapsed_ms / 1000.0, f64::max);
            let deadline = r.settings.timeout_s * 1000.0;
            let y_top = t.latencies.iter().map(|p| p[1]).fold(0.0, f64::max);
            let y_top = if t.losses.is_empty() {
                y_top * 1.1
            } else {
                deadline * 1.08
            };
            let x = Scale::new(0.0, x_max.max(0.001), false, l, WIDTH - rm);
            let y = Scale::new(0.0, y_top.max(0.001), false, HEIGHT - b, top);
            axes(o, &x, &y, "send time (s)", "latency (ms)", number);
            o.push_str("<g class=\"points\">\n");
            for p in &t.latencies {
                let _ = writeln!(
                    o,
                    "<circle class=\"pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.8\"/>",
                    x.at(p[0]),
                    y.at(p[1])
                );
            }
            o.push_str("</g>\n");
            if !t.losses.is_empty() {
                let dy = y.at(deadline);
                let _ = writeln!(
                    o,
                    "<line class=\"deadline\" x1=\"{l}\" x2=\"{:.1}\" y1=\"{dy:.1}\" y2=\"{dy:.1}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">deadline {}: lost ✕</text>",
                    WIDTH - rm,
                    WIDTH - rm - 4.0,
                    dy - 6.0,
                    esc(&ms(deadline))
                );
                o.push_str("<g class=\"losses\">\n");
                for s in &t.losses {
                    let (cx, cy) = (x.at(*s), dy);
                    let _ = writeln!(
                        o,
                        "<path class=\"loss\" d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\"><title>lost: sent at {:.3} s</title></path>",
                        cx - 4.0,
                        cy - 4.0,
                        cx + 4.0,
                        cy + 4.0,
                        cx - 4.0,
                        cy + 4.0,
                        cx + 4.0,
                        cy - 4.0,
                        s
                    );
                }
                o.push_str("</g>\n");
            }
            Ok(())
        },
    )
}

pub(super) fn rates(t: &Timeline) -> String {
    chart(
        "per-second",
        "Sends, arrivals, losses and failures per second",
        |o| {
            let (l, rm, top, b) = MARGIN;
            let n = t.buckets.len();
            if n == 0 || t.bucket_s <= 0.0 {
                return Err("nothing was sent");
            }
            // Counts per bucket as rates per second.
            let rate = |c: u64| c as f64 / t.bucket_s;
            let peak = t
                .buckets
                .iter()
                .map(|s| rate(s.sent.max(s.delivered).max(s.lost + s.failed)))
                .fold(1.0, f64::max);
            let x = Scale::new(0.0, n as f64 * t.bucket_s, false, l, WIDTH - rm);
            let y = Scale::new(0.0, peak * 1.15, false, HEIGHT - b, top);
            axes(o, &x, &y, "seconds since the start", "per second", number);
            let w = (x.at(t.bucket_s) - x.at(0.0)).max(1.0);
            for (i, s) in t.buckets.iter().enumerate() {
                let x0 = x.at(i as f64 * t.bucket_s);
                let mut base = HEIGHT - b;
                for (count, class, what) in
                    [(s.lost, "lostbar", "lost"), (s.failed, "failbar", "failed")]
                {
                    if count == 0 {
                        continue;
                    }
                    let h = (HEIGHT - b) - y.at(rate(count));
                    let _ = writeln!(
                        o,
                        "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{:.2} s: {count} {what}</title></rect>",
                        x0 + w * 0.1,
                        base - h,
                        (w * 0.8).max(1.0),
                        i as f64 * t.bucket_s
                    );
                    base -= h;
                }
            }
            for (class, get) in [
                (
                    "sent",
                    (|s: &crate::load::timeline::Bucket| s.sent) as fn(&_) -> u64,
                ),
                ("arrived", |s| s.delivered),
            ] {
                let points: Vec<String> = t
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        format!(
                            "{:.1},{:.1}",
                            x.at((i as f64 + 0.5) * t.bucket_s),
                            y.at(rate(get(s)))
                        )
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "<polyline class=\"{class}\" points=\"{}\"/>",
                    points.join(" ")
                );
            }
            let legend = [
                ("sent", "#2563eb"),
                ("arrived", "#16a34a"),
                ("lost (by send second)", "#dc2626"),
                ("send failed", "#f59e0b"),
            ];
            let mut lx = l + 8.0;
            for (name, color) in legend {
                let _ = writeln!(
                    o,
                    "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
                    top + 2.0,
                    lx + 14.0,
                    top + 11.0
                );
                lx += 14.0 + name.len() as f64 * 6.2 + 16.0;
            }
            Ok(())
        },
    )
}
