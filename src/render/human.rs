//! Human output: a line per phase with its time, then the verdict, and on failure what the
//! server said and what to do next.

use std::io::{self, Write};

use super::{Render, Style};
use crate::report::{Placement, Report, Verdict};

/// The human renderer.
pub struct Human {
    pub style: Style,
}

impl Human {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.style.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
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
        writeln!(out, "mailtrip check: {} → {}{target}", r.from, r.to)?;
        writeln!(out, "  smtp {}   imap {}", r.smtp, r.imap)?;
        for p in &r.phases {
            let mark = if p.ok {
                self.paint("32", "✓")
            } else {
                self.paint("31", "✗")
            };
            writeln!(
                out,
                "  {mark} {:<13} {:>10}  {}",
                p.name.as_str(),
                duration(p.ms),
                p.detail
            )?;
        }
        let delivery = r
            .phase(crate::report::Phase::Delivery)
            .filter(|p| p.ok)
            .map(|p| format!(" after {}", duration(p.ms)))
            .unwrap_or_default();
        let headline = match (r.verdict, r.placement) {
            (Verdict::Delivered, _) | (_, Some(Placement::Inbox)) => {
                self.paint("1;32", &format!("DELIVERED to inbox{delivery}"))
            }
            (Verdict::DeliveredToSpam, _) => {
                self.paint("1;33", &format!("DELIVERED TO SPAM{delivery}"))
            }
            (v, _) => self.paint("1;31", &v.as_str().to_uppercase().replace('_', " ")),
        };
        writeln!(
            out,
            "{headline} — total {} (probe {})",
            duration(r.total_ms),
            r.probe_id
        )?;
        if r.evidence.copies > 1 {
            writeln!(out, "  duplicate: {} copies arrived", r.evidence.copies)?;
        }
        if let Some(e) = &r.error {
            writeln!(
                out,
                "  {} at {}: {}",
                self.paint("1", e.diagnosis.code.as_str()),
                e.phase,
                e.diagnosis.summary
            )?;
            if let Some(text) = &e.diagnosis.server_text {
                for line in text.lines() {
                    writeln!(out, "  server said: {line}")?;
                }
            }
            writeln!(out, "  hint: {}", e.diagnosis.hint)?;
            if let Some(link) = &e.diagnosis.link {
                writeln!(out, "  see: {link}")?;
            }
        }
        if !r.tls_verified {
            writeln!(
                out,
                "{}",
                self.paint(
                    "1;31",
                    "WARNING: TLS certificates were NOT verified (--insecure-skip-verify)"
                )
            )?;
        }
        for w in &r.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        Ok(())
    }
}
