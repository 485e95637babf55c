//! Output for `mailtrip load`: a human summary (counts, throughput, latency percentiles, send
//! failures, cleanup, harness cost) or the [`LoadReport`] as pretty JSON, plus the live
//! progress line.

use std::fmt::Write as _;

use super::Style;
use super::text::clean as safe;
use crate::load::{LoadProgress, LoadReport};

/// The report as pretty JSON with a trailing newline.
pub fn json(r: &LoadReport) -> serde_json::Result<String> {
    let mut s = super::text::clean_json(&serde_json::to_string_pretty(r)?).into_owned();
    s.push('\n');
    Ok(s)
}

/// The human summary.
pub fn human(r: &LoadReport, style: Style) -> String {
    let mut o = String::new();
    let target = if r.embedded { " (embedded server)" } else { "" };
    let _ = writeln!(
        o,
        "mailtrip load: {} → {}{target}",
        safe(&r.from),
        safe(&r.to.join(", "))
    );
    let s = &r.settings;
    let rate = s
        .rate_per_sec
        .map(|x| format!(", at most {x:.3}/s"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "  {} in flight over {} SMTP connection(s){rate}; {} per target folder; deadline {:.1} s",
        s.concurrency,
        s.smtp_connections,
        if r.idle { "IDLE" } else { "polling" },
        s.timeout_s
    );
    let clean = r.lost == 0 && r.duplicated == 0 && r.send_failed == 0 && r.misplaced == 0;
    let mark = style.mark(clean);
    let _ = writeln!(
        o,
        "{mark} sent {} · delivered {} · lost {} · duplicated {} · in spam/misplaced {} · send failures {}",
        r.sent, r.delivered, r.lost, r.duplicated, r.misplaced, r.send_failed
    );
    let _ = writeln!(
        o,
        "  {:.1} round trips/s over {:.2} s",
        r.throughput_per_sec,
        r.elapsed_ms / 1000.0
    );
    let l = &r.latency_ms;
    if l.count > 0 {
        let _ = writeln!(
            o,
            "  latency (DATA → matched): p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
            l.p50, l.p90, l.p99, l.max
        );
    }
    for f in &r.send_failures {
        let _ = writeln!(
            o,
            "  send failure {:?} ×{}: {}",
            f.code,
            f.count,
            safe(&f.example)
        );
    }
    if r.late > 0 {
        let _ = writeln!(o, "  {} lost probe(s) arrived after the deadline", r.late);
    }
    if r.cleanup.ran {
        let _ = writeln!(o, "  cleanup: deleted {} message(s)", r.cleanup.deleted);
    } else {
        let _ = writeln!(o, "  cleanup: skipped (--keep)");
    }
    if let Some(h) = &r.harness {
        let _ = writeln!(
            o,
            "  harness: {:.3} ms CPU per probe ({:.2} s user + {:.2} s sys), peak RSS {:.1} MiB{}",
            h.cpu_ms_per_probe,
            h.cpu_user_s,
            h.cpu_sys_s,
            h.peak_rss_mib,
            if r.embedded {
                " (includes the embedded server)"
            } else {
                ""
            }
        );
    }
    for w in &r.warnings {
        let _ = writeln!(o, "  {} {}", style.paint("33", "warning:"), safe(w));
    }
    o
}

/// One progress line for stderr (without the carriage return).
pub fn progress(p: &LoadProgress) -> String {
    format!(
        "  {:.1} s · sent {} · delivered {} · lost {} · failed {} · in flight {} · p50 {:.1} ms",
        p.elapsed_s, p.sent, p.delivered, p.lost, p.send_failed, p.in_flight, p.p50_ms
    )
}
