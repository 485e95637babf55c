//! Human output for `mailtrip verify`: per protocol a table of steps with ✓/✗ and times, the
//! certificate and capabilities, then the diagnosis, hint and link of a failure and the warnings.

use std::io::{self, Write};

use super::Style;
use super::human::duration;
use super::text::{clean, clean_lines};
use super::verify::RenderVerify;
use crate::report::verify::{CertificateInfo, ProtocolReport, Status, VerifyReport};

/// The human renderer for `verify`.
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

    fn mark(&self, ok: bool) -> String {
        if ok {
            self.paint("32", "✓")
        } else {
            self.paint("31", "✗")
        }
    }

    fn certificate(&self, c: &CertificateInfo, out: &mut dyn Write) -> io::Result<()> {
        let state = match (c.verified, c.problem) {
            (true, _) => self.paint("32", "verified"),
            (false, Some(p)) => self.paint("31", &format!("NOT valid: {p}")),
            (false, None) => self.paint("33", "not verified"),
        };
        writeln!(out, "    certificate  {} ({state})", clean(&c.subject))?;
        writeln!(out, "                 issued by {}", clean(&c.issuer))?;
        let left = if c.days_left < 0 {
            self.paint("31", &format!("expired {} days ago", -c.days_left))
        } else if c.days_left < crate::report::verify::EXPIRY_WARNING_DAYS {
            self.paint("33", &format!("{} days left", c.days_left))
        } else {
            format!("{} days left", c.days_left)
        };
        writeln!(
            out,
            "                 expires {} ({left})",
            clean(&c.not_after)
        )?;
        if !c.names.is_empty() {
            writeln!(out, "                 names {}", clean(&c.names.join(", ")))?;
        }
        Ok(())
    }

    fn protocol(&self, name: &str, p: &ProtocolReport, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "  {}  {}", self.paint("1", name), clean(&p.endpoint))?;
        for s in &p.steps {
            // A failed step's diagnosis follows in full; the table shows its code.
            let detail = match (&p.error, s.ok) {
                (Some(e), false) => e.diagnosis.code.to_string(),
                _ => clean(&s.detail).into_owned(),
            };
            writeln!(
                out,
                "    {} {:<8} {:>10}  {detail}",
                self.mark(s.ok),
                s.name.as_str(),
                duration(s.ms),
            )?;
        }
        if let Some(c) = &p.certificate {
            self.certificate(c, out)?;
        }
        if !p.features.is_empty() {
            let features: Vec<String> = p
                .features
                .iter()
                .map(|f| match &f.detail {
                    Some(d) => {
                        format!("{} {} ({})", self.mark(f.present), clean(&f.name), clean(d))
                    }
                    None => format!("{} {}", self.mark(f.present), clean(&f.name)),
                })
                .collect();
            writeln!(out, "    capabilities {}", features.join("  "))?;
        }
        if let Some(e) = &p.error {
            writeln!(
                out,
                "    {} at {}: {}",
                self.paint("1", e.diagnosis.code.as_str()),
                e.step,
                clean(&e.diagnosis.summary)
            )?;
            if let Some(text) = &e.diagnosis.server_text {
                for line in clean_lines(text) {
                    writeln!(out, "    server said: {line}")?;
                }
            }
            writeln!(out, "    hint: {}", clean(&e.diagnosis.hint))?;
            if let Some(link) = &e.diagnosis.link {
                writeln!(out, "    see: {}", clean(link))?;
            }
        }
        Ok(())
    }
}

impl RenderVerify for Human {
    fn render(&self, r: &VerifyReport, out: &mut dyn Write) -> io::Result<()> {
        let target = if r.embedded { " (embedded server)" } else { "" };
        let provider = r
            .provider
            .as_deref()
            .map(|p| format!(", provider {}", clean(p)))
            .unwrap_or_default();
        writeln!(
            out,
            "mailtrip verify: {} ({}{provider}){target}",
            clean(&r.user),
            r.auth
        )?;
        if let Some(t) = &r.oauth2 {
            let left = (t.expires_at - chrono::Utc::now()).num_minutes();
            writeln!(
                out,
                "  oauth2 access token expires {} (in {left} min{}); scopes: {}",
                t.expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                if t.refreshed {
                    ", refreshed just now"
                } else {
                    ""
                },
                t.scopes.join(" ")
            )?;
        }
        self.protocol("smtp", &r.smtp, out)?;
        self.protocol("imap", &r.imap, out)?;
        if r.junk_checked {
            match &r.junk_folder {
                Some(j) => writeln!(out, "  {} junk folder {}", self.mark(true), clean(j))?,
                None => writeln!(out, "  {} no \\Junk folder", self.mark(false))?,
            }
        }
        let total = duration(r.total_ms);
        let headline = match r.status {
            Status::Ok => self.paint("1;32", "OK: SMTP and IMAP login work"),
            Status::Warning => self.paint("1;33", "OK WITH WARNINGS: SMTP and IMAP login work"),
            Status::Failed => {
                let failed: Vec<String> = r
                    .protocols()
                    .iter()
                    .filter_map(|(name, p)| {
                        p.error
                            .as_ref()
                            .map(|e| format!("{} {}", name.to_ascii_uppercase(), e.diagnosis.code))
                    })
                    .collect();
                self.paint("1;31", &format!("FAILED: {}", failed.join(", ")))
            }
        };
        writeln!(out, "{headline} (total {total})")?;
        super::human::warnings_footer(out, self.style, r.tls_verified, &r.warnings)
    }
}
