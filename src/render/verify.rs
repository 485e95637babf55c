//! Output formats over a [`VerifyReport`] (`mailtrip verify`): the human table lives in
//! `verify_human`; JSON, JUnit, Nagios and Prometheus are here, behind [`RenderVerify`].

use std::fmt::Write as _;
use std::io::{self, Write};

pub use super::RenderVerify;
use super::prometheus::{Family, bool, escape_label, seconds};
use super::{Format, Style, junit, verify_human};
use crate::report::verify::{Status, StepReport, VerifyReport};

/// The `verify` renderer for a format.
pub fn renderer(format: Format, style: Style) -> Box<dyn RenderVerify> {
    match format {
        Format::Human => Box::new(verify_human::Human { style }),
        Format::Json => Box::new(Json),
        Format::Junit => Box::new(Junit),
        Format::Nagios => Box::new(Nagios),
        Format::Prometheus => Box::new(Prometheus),
    }
}

/// `--format json`: the VerifyReport as one JSON object on one line (`"schema": 1`).
pub struct Json;

impl RenderVerify for Json {
    fn render(&self, report: &VerifyReport, out: &mut dyn Write) -> io::Result<()> {
        let json = serde_json::to_string(report)?;
        writeln!(out, "{}", super::text::clean_json(&json))
    }
}

/// The first problem of a protocol, as `code at step: summary`.
fn problem(r: &VerifyReport) -> Vec<String> {
    r.protocols()
        .iter()
        .filter_map(|(name, p)| {
            p.error.as_ref().map(|e| {
                format!(
                    "{name} {} at {}: {}",
                    e.diagnosis.code, e.step, e.diagnosis.summary
                )
            })
        })
        .collect()
}

/// `--format nagios`: one plugin line with per-step timings; exit 0/1/2 as the status.
pub struct Nagios;

impl RenderVerify for Nagios {
    fn render(&self, r: &VerifyReport, out: &mut dyn Write) -> io::Result<()> {
        let text = match r.status {
            Status::Ok => format!("SMTP and IMAP login as {} work", r.user),
            Status::Warning => r.warnings.join("; "),
            Status::Failed => problem(r).join("; "),
        };
        let state = match r.status {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Failed => "CRITICAL",
        };
        let mut perf = Vec::new();
        for (name, p) in r.protocols() {
            for s in &p.steps {
                perf.push(format!("{name}_{}={:.3}s;;;0;", s.name, s.ms / 1000.0));
            }
            if let Some(c) = &p.certificate {
                perf.push(format!("{name}_cert_days={};14:;0:;;", c.days_left));
            }
        }
        perf.push(format!("total={:.3}s;;;0;", r.total_ms / 1000.0));
        let text = if r.tls_verified || r.status == Status::Warning {
            text
        } else {
            format!("{text} - WARNING: TLS certificates NOT verified (--insecure-skip-verify)")
        };
        let text = text
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let text = super::text::clean(&text).replace('|', "/");
        writeln!(out, "MAILTRIP VERIFY {state} - {text} | {}", perf.join(" "))
    }
}

/// `--format prometheus`: gauges for the textfile collector.
pub struct Prometheus;

impl RenderVerify for Prometheus {
    fn render(&self, r: &VerifyReport, out: &mut dyn Write) -> io::Result<()> {
        let common = format!("user=\"{}\"", escape_label(&r.user));
        let mut t = String::new();
        let mut f = Family::new(&mut t, &common);
        f.head(
            "mailtrip_verify_success",
            "Whether SMTP and IMAP connect, TLS and login all worked (1) or not (0).",
        );
        let ok = r.status != Status::Failed;
        f.sample("mailtrip_verify_success", &[], bool(ok));
        f.head(
            "mailtrip_verify_warnings",
            "Number of warnings (certificate expiring, missing capabilities or \\Junk folder).",
        );
        f.sample(
            "mailtrip_verify_warnings",
            &[],
            &r.warnings.len().to_string(),
        );
        f.head(
            "mailtrip_verify_tls_verified",
            "Whether TLS certificates were verified (0 only with --insecure-skip-verify).",
        );
        f.sample("mailtrip_verify_tls_verified", &[], bool(r.tls_verified));
        per_step(
            &mut f,
            r,
            "mailtrip_verify_step_ok",
            "Whether each step that ran succeeded (1) or failed (0).",
            |s| bool(s.ok).into(),
        );
        per_step(
            &mut f,
            r,
            "mailtrip_verify_step_duration_seconds",
            "Wall time of each step that ran, in seconds.",
            |s| seconds(s.ms),
        );
        f.head(
            "mailtrip_verify_certificate_days_left",
            "Whole days until the server certificate expires (negative once expired).",
        );
        for (name, p) in r.protocols() {
            if let Some(c) = &p.certificate {
                let days = c.days_left.to_string();
                f.sample(
                    "mailtrip_verify_certificate_days_left",
                    &[("protocol", name)],
                    &days,
                );
            }
        }
        out.write_all(t.as_bytes())
    }
}

/// A family with one sample per step that ran, labelled by its protocol and its name.
fn per_step(
    f: &mut Family<'_>,
    r: &VerifyReport,
    name: &str,
    help: &str,
    value: impl Fn(&StepReport) -> String,
) {
    f.head(name, help);
    for (protocol, p) in r.protocols() {
        for s in &p.steps {
            let labels = [("protocol", protocol), ("step", s.name.as_str())];
            f.sample(name, &labels, &value(s));
        }
    }
}

/// `--format junit`: one testcase per step, named `smtp.connect` etc.
pub struct Junit;

impl RenderVerify for Junit {
    fn render(&self, r: &VerifyReport, out: &mut dyn Write) -> io::Result<()> {
        let mut cases = String::new();
        let mut tests = 0;
        let mut failures = 0;
        for (name, p) in r.protocols() {
            for s in &p.steps {
                tests += 1;
                let _ = write!(
                    cases,
                    "    <testcase classname=\"mailtrip.verify.{name}\" name=\"{name}.{}\" time=\"{:.3}\"",
                    s.name,
                    s.ms / 1000.0
                );
                match (&p.error, s.ok) {
                    (Some(e), false) => {
                        failures += 1;
                        let mut body = e.diagnosis.summary.clone();
                        if let Some(text) = &e.diagnosis.server_text {
                            let _ = write!(body, "\nserver said: {text}");
                        }
                        let _ = write!(body, "\nhint: {}", e.diagnosis.hint);
                        let _ = writeln!(
                            cases,
                            ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                            e.diagnosis.code,
                            junit::escape_attr(&e.diagnosis.summary),
                            junit::escape(&body)
                        );
                    }
                    _ => {
                        let _ = writeln!(cases, "/>");
                    }
                }
            }
        }
        let mut system_out = String::new();
        for w in &r.warnings {
            let _ = writeln!(system_out, "warning: {w}");
        }
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites name=\"mailtrip verify\" tests=\"{tests}\" failures=\"{failures}\" time=\"{:.3}\">",
            r.total_ms / 1000.0
        )?;
        writeln!(
            out,
            "  <testsuite name=\"mailtrip verify {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
            junit::escape_attr(&r.user),
            r.total_ms / 1000.0
        )?;
        writeln!(
            out,
            "    <properties>\n      <property name=\"tls_verified\" value=\"{}\"/>\n    </properties>",
            r.tls_verified
        )?;
        out.write_all(cases.as_bytes())?;
        if !system_out.is_empty() {
            writeln!(
                out,
                "    <system-out>{}</system-out>",
                junit::escape(&system_out)
            )?;
        }
        writeln!(out, "  </testsuite>")?;
        writeln!(out, "</testsuites>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::verify::{ProtocolReport, Step};

    fn step(name: Step, ok: bool, ms: f64) -> StepReport {
        StepReport {
            name,
            ok,
            ms,
            detail: String::new(),
        }
    }

    fn report() -> VerifyReport {
        let mut smtp = ProtocolReport::new("smtps://smtp.example.com:465".into());
        smtp.steps = vec![
            step(Step::Connect, true, 12.0),
            step(Step::Tls, true, 30.5),
            step(Step::Auth, false, 100.25),
        ];
        let mut imap = ProtocolReport::new("imaps://imap.example.com:993".into());
        imap.steps = vec![step(Step::Connect, true, 5.0)];
        VerifyReport {
            schema: 1,
            status: Status::Failed,
            user: "a@example.com".into(),
            auth: "password".into(),
            oauth2: None,
            provider: None,
            embedded: false,
            started_at: "2025-03-14T15:09:26Z".into(),
            total_ms: 150.0,
            smtp,
            imap,
            junk_folder: None,
            junk_checked: false,
            warnings: Vec::new(),
            tls_verified: true,
        }
    }

    #[test]
    fn prometheus_writes_one_sample_per_step_of_each_protocol() {
        let mut out = Vec::new();
        Prometheus.render(&report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let steps: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("mailtrip_verify_step_"))
            .collect();
        assert_eq!(
            steps,
            [
                "# HELP mailtrip_verify_step_ok Whether each step that ran succeeded (1) or failed (0).",
                "# TYPE mailtrip_verify_step_ok gauge",
                "mailtrip_verify_step_ok{protocol=\"smtp\",step=\"connect\",user=\"a@example.com\"} 1",
                "mailtrip_verify_step_ok{protocol=\"smtp\",step=\"tls\",user=\"a@example.com\"} 1",
                "mailtrip_verify_step_ok{protocol=\"smtp\",step=\"auth\",user=\"a@example.com\"} 0",
                "mailtrip_verify_step_ok{protocol=\"imap\",step=\"connect\",user=\"a@example.com\"} 1",
                "# HELP mailtrip_verify_step_duration_seconds Wall time of each step that ran, in seconds.",
                "# TYPE mailtrip_verify_step_duration_seconds gauge",
                "mailtrip_verify_step_duration_seconds{protocol=\"smtp\",step=\"connect\",user=\"a@example.com\"} 0.012",
                "mailtrip_verify_step_duration_seconds{protocol=\"smtp\",step=\"tls\",user=\"a@example.com\"} 0.0305",
                "mailtrip_verify_step_duration_seconds{protocol=\"smtp\",step=\"auth\",user=\"a@example.com\"} 0.10025",
                "mailtrip_verify_step_duration_seconds{protocol=\"imap\",step=\"connect\",user=\"a@example.com\"} 0.005",
            ]
        );
    }
}
