//! `mailtrip load --html FILE`: the [`LoadReport`] as one self-contained HTML page — inline
//! SVG charts (latency histogram, latency over time with losses marked, sends and arrivals
//! per second) and the summary numbers. No script, no network: its own CSP forbids both.

use std::fmt::Write as _;

use super::junit::escape as esc;
use crate::load::{LoadReport, Timeline};

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 260.0;
/// Left, right, top, bottom margins around the plot area.
const MARGIN: (f64, f64, f64, f64) = (64.0, 16.0, 16.0, 40.0);
const BINS: usize = 40;

/// The page.
pub fn html(r: &LoadReport) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let title = format!("mailtrip load: {} → {}", r.from, r.to.join(", "));
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let s = &r.settings;
    let _ = writeln!(
        o,
        "<p class=\"sub\">run {} · started {} · {} in flight over {} SMTP connection(s) · \
         deadline {:.1} s{}{}</p>",
        esc(&r.run_id),
        esc(&r.started_at),
        s.concurrency,
        s.smtp_connections,
        s.timeout_s,
        s.rate_per_sec
            .map(|x| format!(" · at most {x:.3}/s"))
            .unwrap_or_default(),
        if r.embedded {
            " · embedded server"
        } else {
            ""
        }
    );
    summary(&mut o, r);
    match &r.timeline {
        Some(t) => {
            section(&mut o, "Latency distribution", &histogram(r, t));
            section(&mut o, "Latency over time", &scatter(r, t));
            section(&mut o, "Sends and arrivals per second", &rates(t));
            if t.stride > 1 {
                let _ = writeln!(
                    o,
                    "<p class=\"note\">One probe in {} is drawn in “latency over time”; the \
                     histogram and the per-second counts include every probe.</p>",
                    t.stride
                );
            }
        }
        None => o.push_str("<p class=\"note\">This report was made without a timeline.</p>\n"),
    }
    if !r.lost_probes.is_empty() {
        o.push_str("<h2>Lost probes</h2>\n<ul class=\"tags\">\n");
        for tag in &r.lost_probes {
            let _ = writeln!(o, "<li><code>{}</code></li>", esc(tag));
        }
        o.push_str("</ul>\n");
    }
    if !r.send_failures.is_empty() {
        o.push_str("<h2>Send failures</h2>\n<ul>\n");
        for f in &r.send_failures {
            let _ = writeln!(
                o,
                "<li><code>{}</code> ×{}: {}</li>",
                esc(&format!("{:?}", f.code)),
                f.count,
                esc(&f.example)
            );
        }
        o.push_str("</ul>\n");
    }
    if !r.warnings.is_empty() {
        o.push_str("<h2>Warnings</h2>\n<ul>\n");
        for w in &r.warnings {
            let _ = writeln!(o, "<li>{}</li>", esc(w));
        }
        o.push_str("</ul>\n");
    }
    let _ = writeln!(
        o,
        "<footer>mailtrip {} · <code>{}</code> · no scripts, no network</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        crate::load::LOAD_SCHEMA
    );
    o
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;color:#1d2330;margin:1.5rem auto;max-width:900px;padding:0 1rem}\
h1{font-size:1.3rem;margin:0 0 .25rem}h2{font-size:1.05rem;margin:1.5rem 0 .5rem}\
.sub,.note,footer{color:#6b7280}footer{margin-top:2rem;font-size:.85rem}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:.5rem}\
.card{border:1px solid #e5e7eb;border-radius:6px;padding:.5rem .75rem;background:#fff}\
.card b{display:block;font-size:1.25rem;font-variant-numeric:tabular-nums}.card span{color:#6b7280;font-size:.8rem}\
.card.bad b{color:#b91c1c}svg{background:#fff;border:1px solid #e5e7eb;border-radius:6px;max-width:100%;height:auto}\
svg text{font:11px system-ui,sans-serif;fill:#374151}.grid{stroke:#eef0f3}.axis{stroke:#9ca3af}\
.bar{fill:#3b82f6}.pt{fill:#2563eb;fill-opacity:.55}.loss{stroke:#dc2626;stroke-width:1.6}\
.sent{fill:none;stroke:#2563eb;stroke-width:1.6}.arrived{fill:none;stroke:#16a34a;stroke-width:1.6}\
.lostbar{fill:#dc2626}.failbar{fill:#f59e0b}.pct{stroke:#111827;stroke-dasharray:4 3}\
.deadline{stroke:#dc2626;stroke-dasharray:6 4}ul.tags{columns:2;font-size:.85rem}";

fn summary(o: &mut String, r: &LoadReport) {
    let l = &r.latency_ms;
    let cards: Vec<(String, &str, bool)> = vec![
        (r.sent.to_string(), "sent", false),
        (r.delivered.to_string(), "delivered", false),
        (r.lost.to_string(), "lost", r.lost > 0),
        (r.duplicated.to_string(), "duplicated", r.duplicated > 0),
        (
            r.misplaced.to_string(),
            "in spam / misplaced",
            r.misplaced > 0,
        ),
        (
            r.send_failed.to_string(),
            "send failures",
            r.send_failed > 0,
        ),
        (
            format!("{:.1}/s", r.throughput_per_sec),
            "round trips",
            false,
        ),
        (ms(l.p50), "p50 latency", false),
        (ms(l.p90), "p90 latency", false),
        (ms(l.p99), "p99 latency", false),
        (ms(l.max), "max latency", false),
        (format!("{:.2} s", r.elapsed_ms / 1000.0), "elapsed", false),
    ];
    o.push_str("<div class=\"cards\" id=\"summary\">\n");
    for (value, label, bad) in cards {
        let _ = writeln!(
            o,
            "<div class=\"card{}\"><b>{}</b><span>{}</span></div>",
            if bad { " bad" } else { "" },
            esc(&value),
            label
        );
    }
    o.push_str("</div>\n");
}

fn section(o: &mut String, title: &str, svg: &str) {
    let _ = write!(o, "<h2>{title}</h2>\n{svg}");
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// A linear or logarithmic scale from data values to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    min: f64,
    max: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(min: f64, max: f64, log: bool, from: f64, to: f64) -> Scale {
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

    fn at(&self, v: f64) -> f64 {
        let f = if self.log {
            (v.max(self.min).ln() - self.min.ln()) / (self.max.ln() - self.min.ln())
        } else {
            (v - self.min) / (self.max - self.min)
        };
        self.from + f.clamp(0.0, 1.0) * (self.to - self.from)
    }

    /// Tick values: 1-2-5 steps, or powers of ten on a log scale.
    fn ticks(&self) -> Vec<f64> {
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
fn svg_open(o: &mut String, id: &str, label: &str) {
    let _ = writeln!(
        o,
        "<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{label}\"><title>{label}</title>"
    );
}

/// Grid lines, tick labels and axis titles.
fn axes(
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

fn number(v: f64) -> String {
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

fn histogram(r: &LoadReport, t: &Timeline) -> String {
    let mut o = String::new();
    svg_open(&mut o, "histogram", "Latency histogram");
    let (l, rm, top, b) = MARGIN;
    let lo = t
        .histogram
        .iter()
        .map(|p| p[0])
        .fold(f64::INFINITY, f64::min);
    let hi = t.histogram.iter().map(|p| p[0]).fold(0.0, f64::max);
    if t.histogram.is_empty() || !lo.is_finite() {
        empty(&mut o, "no probe was delivered");
        return o;
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
    axes(&mut o, &x, &y, "latency (ms)", "probes", number);
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
    o.push_str("</svg>\n");
    o
}

fn scatter(r: &LoadReport, t: &Timeline) -> String {
    let mut o = String::new();
    svg_open(
        &mut o,
        "latency-over-time",
        "Latency of each probe by its send time",
    );
    let (l, rm, top, b) = MARGIN;
    if t.latencies.is_empty() && t.losses.is_empty() {
        empty(&mut o, "no probe was sent");
        return o;
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
    axes(&mut o, &x, &y, "send time (s)", "latency (ms)", number);
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
    o.push_str("</svg>\n");
    o
}

fn rates(t: &Timeline) -> String {
    let mut o = String::new();
    svg_open(
        &mut o,
        "per-second",
        "Sends, arrivals, losses and failures per second",
    );
    let (l, rm, top, b) = MARGIN;
    let n = t.buckets.len();
    if n == 0 || t.bucket_s <= 0.0 {
        empty(&mut o, "nothing was sent");
        return o;
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
    axes(
        &mut o,
        &x,
        &y,
        "seconds since the start",
        "per second",
        number,
    );
    let w = (x.at(t.bucket_s) - x.at(0.0)).max(1.0);
    for (i, s) in t.buckets.iter().enumerate() {
        let x0 = x.at(i as f64 * t.bucket_s);
        let mut base = HEIGHT - b;
        for (count, class, what) in [(s.lost, "lostbar", "lost"), (s.failed, "failbar", "failed")] {
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
    o.push_str("</svg>\n");
    o
}

fn empty(o: &mut String, why: &str) {
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
    use crate::load::timeline::Bucket;
    use crate::load::{Cleanup, FailureCount, Latency, Settings};

    fn report() -> LoadReport {
        LoadReport {
            schema: crate::load::LOAD_SCHEMA,
            run_id: "run-1".into(),
            started_at: "2024-05-01T12:00:00.000Z".into(),
            from: "a@x.test".into(),
            to: vec!["<b>@x.test".into()],
            smtp: "smtp://127.0.0.1:25".into(),
            imap: vec!["imaps://127.0.0.1:993".into()],
            embedded: true,
            settings: Settings {
                probes: Some(5),
                concurrency: 2,
                smtp_connections: 1,
                rate_per_sec: None,
                duration_s: None,
                timeout_s: 2.0,
            },
            idle: true,
            attempted: 6,
            sent: 5,
            delivered: 3,
            lost: 2,
            late: 0,
            duplicated: 0,
            misplaced: 0,
            send_failed: 1,
            send_failures: vec![FailureCount {
                code: crate::diagnose::Code::Greylisted,
                count: 1,
                example: "450 <try> later".into(),
            }],
            elapsed_ms: 3000.0,
            throughput_per_sec: 1.0,
            latency_ms: Latency {
                count: 3,
                min: 5.0,
                mean: 10.0,
                p50: 8.0,
                p90: 17.0,
                p99: 17.0,
                max: 17.0,
            },
            seen_by: Default::default(),
            cleanup: Cleanup::default(),
            lost_probes: vec!["tag-1".into(), "tag-2".into()],
            harness: None,
            warnings: vec!["a <warning>".into()],
            timeline: Some(Timeline {
                bucket_s: 1.0,
                buckets: vec![
                    Bucket {
                        sent: 3,
                        delivered: 2,
                        lost: 1,
                        failed: 1,
                    },
                    Bucket {
                        sent: 2,
                        delivered: 1,
                        lost: 1,
                        failed: 0,
                    },
                ],
                latencies: vec![[0.1, 5.0], [0.5, 8.0], [1.2, 17.0]],
                losses: vec![0.7, 1.5],
                stride: 1,
                histogram: vec![[5.0, 1.0], [8.0, 1.0], [17.0, 1.0]],
            }),
        }
    }

    #[test]
    fn issue16_the_html_report_has_its_charts_marks_losses_and_escapes_text() {
        let page = html(&report());
        for id in ["histogram", "latency-over-time", "per-second"] {
            assert!(page.contains(&format!("<svg id=\"{id}\"")), "{id}");
        }
        assert_eq!(
            page.matches("class=\"loss\"").count(),
            2,
            "one mark per lost probe"
        );
        assert_eq!(page.matches("class=\"pt\"").count(), 3);
        assert!(page.contains("class=\"lostbar\""));
        assert!(page.contains("class=\"failbar\""));
        assert!(page.contains("&lt;b&gt;@x.test"), "addresses are escaped");
        assert!(!page.contains("<b>@x.test"));
        assert!(page.contains("a &lt;warning&gt;"));
        assert!(page.contains("450 &lt;try&gt; later"));
        assert!(!page.contains("<script"), "no script");
        assert!(
            !page.contains("src=\"http"),
            "nothing loaded from the network"
        );
        assert!(page.contains("default-src 'none'"));
        // Without a timeline, the numbers are still there.
        let mut bare = report();
        bare.timeline = None;
        let page = html(&bare);
        assert!(page.contains("without a timeline") && page.contains("id=\"summary\""));
    }

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
