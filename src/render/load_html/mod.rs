//! `mailtrip load --html FILE`: the [`LoadReport`] as one self-contained HTML page — inline
//! SVG charts (latency histogram, latency over time with losses marked, sends and arrivals
//! per second) and the summary numbers. No script, no network: its own CSP forbids both.

use std::fmt::Write as _;

mod charts;
mod plot;

use super::junit::escape as esc;
use crate::load::LoadReport;
use charts::{histogram, rates, scatter};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Timeline;
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
}
