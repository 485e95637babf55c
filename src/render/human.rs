//! Human output: a line per phase with its time, then the verdict, and on failure what the
//! server said and what to do next.

use std::fmt::Display;
use std::io::{self, Write};

use super::text::{clean, clean_lines};
use super::{Render, Style};
use crate::diagnose::Diagnosis;
use crate::report::{Placement, Report, Verdict};

/// The human renderer.
pub struct Human {
    pub style: Style,
}

/// Milliseconds as `12.3 ms` or `1.24 s`.
pub fn duration(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

impl Render for Human {
    fn render(&self, r: &Report, out: &mut dyn Write) -> io::Result<()> {
        let target = if r.embedded { " (embedded server)" } else { "" };
        let alias = match &r.alias_of {
            Some(m) => format!(" (an alias: watching {}'s mailbox)", clean(m)),
            None => String::new(),
        };
        writeln!(
            out,
            "mailtrip check: {} → {}{alias}{target}",
            clean(&r.from),
            clean(&r.to)
        )?;
        writeln!(out, "  smtp {}   imap {}", clean(&r.smtp), clean(&r.imap))?;
        for p in &r.phases {
            let mark = self.style.mark(p.ok);
            writeln!(
                out,
                "  {mark} {:<13} {:>10}  {}",
                p.name.as_str(),
                duration(p.ms),
                clean(&p.detail)
            )?;
        }
        let delivery = r
            .phase(crate::report::Phase::Delivery)
            .filter(|p| p.ok)
            .map(|p| format!(" after {}", duration(p.ms)))
            .unwrap_or_default();
        let headline = match (r.verdict, r.placement) {
            (Verdict::Delivered, Some(Placement::Archive)) => {
                let folder = clean(r.evidence.mailbox.as_deref().unwrap_or("the archive"));
                self.style.paint(
                    "1;33",
                    &format!("DELIVERED TO ARCHIVE ({folder}), not INBOX{delivery}"),
                )
            }
            (Verdict::Delivered, _) => self
                .style
                .paint("1;32", &format!("DELIVERED to inbox{delivery}")),
            (Verdict::DeliveredToSpam, _) => self
                .style
                .paint("1;33", &format!("DELIVERED TO SPAM{delivery}")),
            // Found, but the verdict is a failure: say where it was, never "DELIVERED".
            (Verdict::ContentMismatch, Some(_)) => {
                let folder = clean(r.evidence.mailbox.as_deref().unwrap_or("the mailbox"));
                self.style.paint(
                    "1;31",
                    &format!("CONTENT MISMATCH: arrived in {folder}{delivery}, but changed"),
                )
            }
            (v, _) => self
                .style
                .paint("1;31", &v.as_str().to_uppercase().replace('_', " ")),
        };
        writeln!(
            out,
            "{headline} — total {} (probe {})",
            duration(r.total_ms),
            clean(&r.probe_id)
        )?;
        if r.evidence.copies > 1 {
            writeln!(out, "  duplicate: {} copies arrived", r.evidence.copies)?;
        }
        for c in &r.evidence.changes {
            writeln!(out, "  changed: {}", clean(c))?;
        }
        if let Some(b) = &r.evidence.bounce {
            let status = clean(b.status.as_deref().unwrap_or("no status"));
            writeln!(
                out,
                "  bounce: {status} in {} UID {}",
                clean(&b.mailbox),
                b.uid
            )?;
            if let Some(d) = &b.diagnostic {
                writeln!(out, "  bounce said: {}", clean(d))?;
            }
        }
        if let Some(t) = &r.timeline {
            timeline(t, out)?;
        }
        if let Some(a) = &r.auth {
            let o = |o: crate::analyze::auth_results::Outcome| {
                serde_json::to_value(o)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            writeln!(
                out,
                "  auth: spf={} dkim={} dmarc={} arc={}{}",
                o(a.spf),
                o(a.dkim),
                o(a.dmarc),
                o(a.arc),
                match a.headers.first() {
                    Some(h) if !h.authserv_id.is_empty() => {
                        format!(" (by {})", clean(&h.authserv_id))
                    }
                    _ => String::new(),
                }
            )?;
        }
        if let Some(e) = &r.error {
            diagnosis(out, self.style, "  ", &e.phase, &e.diagnosis)?;
        }
        warnings_footer(out, self.style, r.tls_verified, &r.warnings)
    }
}

/// A failure's diagnosis, every line indented by `indent`: `code at STEP: summary`, the
/// server's own words line by line, the hint, and the provider's help link.
pub(super) fn diagnosis(
    out: &mut dyn Write,
    style: Style,
    indent: &str,
    at: &dyn Display,
    d: &Diagnosis,
) -> io::Result<()> {
    writeln!(
        out,
        "{indent}{} at {at}: {}",
        style.paint("1", d.code.as_str()),
        clean(&d.summary)
    )?;
    if let Some(text) = &d.server_text {
        for line in clean_lines(text) {
            writeln!(out, "{indent}server said: {line}")?;
        }
    }
    writeln!(out, "{indent}hint: {}", clean(&d.hint))?;
    if let Some(link) = &d.link {
        writeln!(out, "{indent}see: {}", clean(link))?;
    }
    Ok(())
}

/// The end of every human report: a loud banner when certificates were not verified, then
/// the other warnings, one per line (the insecure one is the banner, so it is not repeated).
pub fn warnings_footer(
    out: &mut dyn Write,
    style: Style,
    tls_verified: bool,
    warnings: &[String],
) -> io::Result<()> {
    if !tls_verified {
        let banner = "WARNING: TLS certificates were NOT verified (--insecure-skip-verify)";
        let banner = style.paint("1;31", banner);
        writeln!(out, "{banner}")?;
    }
    for w in warnings
        .iter()
        .filter(|w| *w != crate::report::INSECURE_WARNING)
    {
        writeln!(out, "  warning: {}", clean(w))?;
    }
    Ok(())
}

/// Seconds for a hop delay: `+2 s`, or `?` when unknown.
fn delay(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("+{} s", ms / 1000),
        None => "?".to_string(),
    }
}

/// The hop list: submission, each `Received:` hop oldest first, arrival; then clock warnings.
fn timeline(t: &crate::analyze::hops::Timeline, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "  hops:")?;
    if let Some(s) = &t.submitted {
        writeln!(out, "    {:>6}  submitted {}", "", clean(s))?;
    }
    for h in &t.hops {
        let from = clean(h.from.as_deref().unwrap_or("?"));
        let by = clean(h.by.as_deref().unwrap_or("?"));
        let with = h
            .with
            .as_deref()
            .map(|w| format!(" with {}", clean(w)))
            .unwrap_or_default();
        writeln!(
            out,
            "    {:>6}  {}. {from} → {by}{with}",
            delay(h.delay_ms),
            h.index
        )?;
    }
    if let Some(a) = &t.arrived {
        writeln!(
            out,
            "    {:>6}  arrived {} (INTERNALDATE)",
            delay(t.final_delay_ms),
            clean(a)
        )?;
    }
    for w in &t.warnings {
        writeln!(out, "    warning: {}", clean(w))?;
    }
    Ok(())
}
