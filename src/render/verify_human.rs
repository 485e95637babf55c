//! Human output for `mailtrip verify`: per protocol a table of steps with ✓/✗ and times, the
//! certificate and capabilities, then the diagnosis, hint and link of a failure and the warnings.

use std::io::{self, Write};

use super::human::{diagnosis, duration, warnings_footer};
use super::text::clean;
use super::{RenderVerify, Style};
use crate::report::verify::{CertificateInfo, ProtocolReport, Status, VerifyReport};

/// The human renderer for `verify`.
pub struct Human {
    pub style: Style,
}

impl Human {
    fn certificate(&self, c: &CertificateInfo, out: &mut dyn Write) -> io::Result<()> {
        let state = match (c.verified, c.problem) {
            (true, _) => self.style.paint("32", "verified"),
            (false, Some(p)) => self.style.paint("31", &format!("NOT valid: {p}")),
            (false, None) => self.style.paint("33", "not verified"),
        };
        writeln!(out, "    certificate  {} ({state})", clean(&c.subject))?;
        writeln!(out, "                 issued by {}", clean(&c.issuer))?;
        let left = if c.days_left < 0 {
            self.style
                .paint("31", &format!("expired {} days ago", -c.days_left))
        } else if c.days_left < crate::report::verify::EXPIRY_WARNING_DAYS {
            self.style
                .paint("33", &format!("{} days left", c.days_left))
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
        writeln!(
            out,
            "  {}  {}",
            self.style.paint("1", name),
            clean(&p.endpoint)
        )?;
        for s in &p.steps {
            // A failed step's diagnosis follows in full; the table shows its code.
            let detail = match (&p.error, s.ok) {
                (Some(e), false) => e.diagnosis.code.to_string(),
                _ => clean(&s.detail).into_owned(),
            };
            writeln!(
                out,
                "    {} {:<8} {:>10}  {detail}",
                self.style.mark(s.ok),
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
                        format!(
                            "{} {} ({})",
                            self.style.mark(f.present),
                            clean(&f.name),
                            clean(d)
                        )
                    }
                    None => format!("{} {}", self.style.mark(f.present), clean(&f.name)),
                })
                .collect();
            writeln!(out, "    capabilities {}", features.join("  "))?;
        }
        if let Some(e) = &p.error {
            diagnosis(out, self.style, "    ", &e.step, &e.diagnosis)?;
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
                Some(j) => writeln!(out, "  {} junk folder {}", self.style.mark(true), clean(j))?,
                None => writeln!(out, "  {} no \\Junk folder", self.style.mark(false))?,
            }
        }
        let total = duration(r.total_ms);
        let headline = match r.status {
            Status::Ok => self.style.paint("1;32", "OK: SMTP and IMAP login work"),
            Status::Warning => self
                .style
                .paint("1;33", "OK WITH WARNINGS: SMTP and IMAP login work"),
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
                self.style
                    .paint("1;31", &format!("FAILED: {}", failed.join(", ")))
            }
        };
        writeln!(out, "{headline} (total {total})")?;
        warnings_footer(out, self.style, r.tls_verified, &r.warnings)
    }
}
