//! `--format prometheus`: the Report as Prometheus text exposition format, meant to be written
//! with `--output` into node_exporter's textfile collector directory. No sample timestamps,
//! since the textfile collector rejects them; `mailtrip_last_run_timestamp_seconds` says when.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Render;
use crate::report::{Phase, PhaseReport, Placement, Report, Verdict};

/// The Prometheus renderer.
pub struct Prometheus;

/// Every verdict, in declaration order, for the one-series-per-verdict gauge.
const VERDICTS: [Verdict; 8] = [
    Verdict::Delivered,
    Verdict::DeliveredToSpam,
    Verdict::NotDelivered,
    Verdict::ContentMismatch,
    Verdict::SendFailed,
    Verdict::AuthFailed,
    Verdict::Error,
    Verdict::Bounced,
];

/// Writes metric families: `# HELP`, `# TYPE gauge`, then the samples (check's and verify's).
pub(super) struct Family<'a> {
    out: &'a mut String,
    /// The labels every series carries (`from`, `to`), already rendered.
    common: &'a str,
}

impl<'a> Family<'a> {
    /// A writer into `out` whose every sample carries the `common` labels (already rendered).
    pub(super) fn new(out: &'a mut String, common: &'a str) -> Family<'a> {
        Family { out, common }
    }

    pub(super) fn head(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} gauge");
    }

    /// One sample; `labels` come before the common ones.
    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        let mut l = String::new();
        for (k, v) in labels {
            let _ = write!(l, "{k}=\"{}\",", escape_label(v));
        }
        let _ = writeln!(self.out, "{name}{{{l}{}}} {value}", self.common);
    }
}

impl Render for Prometheus {
    fn render(&self, r: &Report, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(exposition(r).as_bytes())
    }
}

fn exposition(r: &Report) -> String {
    let mut common = format!(
        "from=\"{}\",to=\"{}\"",
        escape_label(&r.from),
        escape_label(&r.to)
    );
    if let Some(m) = &r.alias_of {
        // `to` is an alias: the mailbox that was watched for it.
        common.push_str(&format!(",mailbox=\"{}\"", escape_label(m)));
    }
    let mut text = String::new();
    let mut f = Family::new(&mut text, &common);

    f.head(
        "mailtrip_check_success",
        "Whether the probe was delivered to the inbox (1) or not (0; spam counts as not).",
    );
    f.sample(
        "mailtrip_check_success",
        &[],
        bool(r.verdict == Verdict::Delivered && r.placement != Some(Placement::Archive)),
    );

    f.head(
        "mailtrip_check_verdict",
        "The check's verdict: 1 for the actual verdict, 0 for the others.",
    );
    for v in VERDICTS {
        f.sample(
            "mailtrip_check_verdict",
            &[("verdict", v.as_str())],
            bool(v == r.verdict),
        );
    }

    if !r.phases.is_empty() {
        per_phase(
            &mut f,
            &r.phases,
            "mailtrip_phase_duration_seconds",
            "Wall time of each phase that ran, in seconds.",
            |p| seconds(p.ms),
        );
        per_phase(
            &mut f,
            &r.phases,
            "mailtrip_phase_ok",
            "Whether each phase that ran succeeded (1) or failed (0).",
            |p| bool(p.ok).into(),
        );
    }

    if let Some(p) = r.phase(Phase::Delivery).filter(|p| p.ok) {
        f.head(
            "mailtrip_delivery_seconds",
            "Time from SMTP acceptance until the probe was seen over IMAP; absent when it was not delivered.",
        );
        f.sample("mailtrip_delivery_seconds", &[], &seconds(p.ms));
    }

    f.head(
        "mailtrip_total_seconds",
        "Time from the start of the check to its verdict, in seconds.",
    );
    f.sample("mailtrip_total_seconds", &[], &seconds(r.total_ms));

    f.head(
        "mailtrip_copies",
        "How many copies of the probe arrived (more than 1 is a duplicate).",
    );
    f.sample("mailtrip_copies", &[], &r.evidence.copies.to_string());

    f.head(
        "mailtrip_tls_verified",
        "Whether TLS certificates were verified (0 only with --insecure-skip-verify).",
    );
    f.sample("mailtrip_tls_verified", &[], bool(r.tls_verified));

    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&r.started_at) {
        let ts = t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1000.0;
        f.head(
            "mailtrip_last_run_timestamp_seconds",
            "Unix time at which the last check started.",
        );
        f.sample(
            "mailtrip_last_run_timestamp_seconds",
            &[],
            &trim_float(format!("{ts:.3}")),
        );
    }

    if let Some((phase, code)) = failure(r) {
        f.head(
            "mailtrip_failure",
            "Present with value 1 when the check failed: the phase and the diagnosis code.",
        );
        f.sample(
            "mailtrip_failure",
            &[("phase", phase.as_str()), ("code", code)],
            "1",
        );
    }
    text
}

/// A family with one sample per phase that ran, labelled by the phase.
fn per_phase(
    f: &mut Family<'_>,
    phases: &[PhaseReport],
    name: &str,
    help: &str,
    value: impl Fn(&PhaseReport) -> String,
) {
    f.head(name, help);
    for p in phases {
        f.sample(name, &[("phase", p.name.as_str())], &value(p));
    }
}

/// Where and why the check failed: the diagnosed error, else the first failed phase (or the
/// delivery/verify phase) with the verdict as the code.
fn failure(r: &Report) -> Option<(Phase, &'static str)> {
    if r.verdict.is_delivered() {
        return None;
    }
    if let Some(e) = &r.error {
        return Some((e.phase, e.diagnosis.code.as_str()));
    }
    let phase = match r.phases.iter().find(|p| !p.ok) {
        Some(p) => p.name,
        None if r.verdict == Verdict::ContentMismatch => Phase::Verify,
        None => Phase::Delivery,
    };
    Some((phase, r.verdict.as_str()))
}

/// A yes/no gauge's value.
pub(super) fn bool(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Milliseconds as seconds, to the microsecond, without trailing zeros.
pub(super) fn seconds(ms: f64) -> String {
    trim_float(format!("{:.6}", ms / 1000.0))
}

fn trim_float(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            // Other controls as visible escapes: a label value is read on terminals too.
            c if super::text::unsafe_char(c) => {
                out.push_str(&super::text::clean(&c.to_string()).replace('\\', "\\\\"))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Format;
    use crate::render::samples::{auth_failed, delivered, render};

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn seconds_are_trimmed() {
        assert_eq!(seconds(640.0), "0.64");
        assert_eq!(seconds(12.3), "0.0123");
        assert_eq!(seconds(2000.0), "2");
        assert_eq!(seconds(0.0), "0");
    }

    /// A parsed exposition sample: metric name, labels in order, value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// Checks a Prometheus text exposition (format 0.0.4) line by line: `# HELP` / `# TYPE`
    /// before each family's samples, `name{label="value",...} value`, valid names and escapes,
    /// no timestamps (the textfile collector rejects them) and no duplicate series.
    fn check_exposition(text: &str) -> Vec<Sample> {
        fn is_name(s: &str, colon: bool) -> bool {
            let mut chars = s.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
        }
        assert!(text.ends_with('\n'), "exposition must end with a newline");
        let mut typed = std::collections::HashSet::new();
        let mut seen = std::collections::HashSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let (kind, name, tail) = (parts.next(), parts.next().unwrap(), parts.next());
                assert!(is_name(name, true), "{line}");
                match kind {
                    Some("HELP") => assert!(tail.is_some_and(|t| !t.is_empty()), "{line}"),
                    Some("TYPE") => {
                        assert_eq!(tail, Some("gauge"), "{line}");
                        assert!(typed.insert(name.to_string()), "family typed twice: {line}");
                    }
                    _ => panic!("unknown comment: {line}"),
                }
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{line}"));
            let name = &line[..name_end];
            assert!(is_name(name, true), "bad metric name: {line}");
            assert!(typed.contains(name), "sample before its # TYPE: {line}");
            let mut rest = &line[name_end..];
            let mut labels = Vec::new();
            if let Some(body) = rest.strip_prefix('{') {
                let mut chars = body.char_indices().peekable();
                loop {
                    let (start, c) = chars.next().unwrap_or_else(|| panic!("unclosed: {line}"));
                    if c == '}' {
                        rest = &body[start + 1..];
                        break;
                    }
                    let eq = body[start..]
                        .find("=\"")
                        .unwrap_or_else(|| panic!("{line}"));
                    let label = &body[start..start + eq];
                    assert!(is_name(label, false), "bad label name {label:?}: {line}");
                    while chars.peek().is_some_and(|&(i, _)| i < start + eq + 2) {
                        chars.next();
                    }
                    let mut value = String::new();
                    loop {
                        match chars
                            .next()
                            .unwrap_or_else(|| panic!("unterminated: {line}"))
                        {
                            (_, '"') => break,
                            (_, '\\') => match chars.next() {
                                Some((_, '\\')) => value.push('\\'),
                                Some((_, '"')) => value.push('"'),
                                Some((_, 'n')) => value.push('\n'),
                                other => panic!("bad escape {other:?}: {line}"),
                            },
                            (_, c) => value.push(c),
                        }
                    }
                    labels.push((label.to_string(), value));
                    match chars.peek() {
                        Some((_, ',')) => {
                            chars.next();
                        }
                        Some((_, '}')) => {}
                        other => panic!("expected , or }} after a label, got {other:?}: {line}"),
                    }
                }
            }
            let value = rest
                .strip_prefix(' ')
                .unwrap_or_else(|| panic!("no space before the value: {line}"));
            assert!(!value.contains(' '), "no timestamps: {line}");
            let v: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
            };
            let mut key = labels.clone();
            key.sort();
            assert!(
                seen.insert((name.to_string(), key)),
                "duplicate series: {line}"
            );
            samples.push((name.to_string(), labels, v));
        }
        samples
    }

    fn sample(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        samples
            .iter()
            .find(|(n, labels, _)| {
                n == name
                    && label.is_none_or(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
    }

    #[test]
    fn prometheus_delivered_follows_the_grammar() {
        let s = check_exposition(&render(Format::Prometheus, &delivered()));
        assert_eq!(sample(&s, "mailtrip_check_success", None), Some(1.0));
        let verdicts: Vec<_> = s
            .iter()
            .filter(|(n, _, _)| n == "mailtrip_check_verdict")
            .collect();
        assert_eq!(verdicts.len(), 8);
        assert_eq!(verdicts.iter().map(|(_, _, v)| v).sum::<f64>(), 1.0);
        assert_eq!(
            sample(&s, "mailtrip_check_verdict", Some(("verdict", "delivered"))),
            Some(1.0)
        );
        let phases = s
            .iter()
            .filter(|(n, _, _)| n == "mailtrip_phase_duration_seconds")
            .count();
        assert_eq!(phases, 10);
        assert_eq!(sample(&s, "mailtrip_delivery_seconds", None), Some(0.64));
        assert_eq!(
            sample(
                &s,
                "mailtrip_phase_duration_seconds",
                Some(("phase", "smtp_connect"))
            ),
            Some(0.012)
        );
        assert_eq!(
            sample(&s, "mailtrip_last_run_timestamp_seconds", None),
            Some(1741964966.535)
        );
        assert_eq!(sample(&s, "mailtrip_failure", None), None);
    }

    #[test]
    fn prometheus_auth_failed_names_phase_and_code() {
        let s = check_exposition(&render(Format::Prometheus, &auth_failed()));
        assert_eq!(sample(&s, "mailtrip_check_success", None), Some(0.0));
        assert_eq!(
            sample(
                &s,
                "mailtrip_check_verdict",
                Some(("verdict", "auth_failed"))
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&s, "mailtrip_phase_ok", Some(("phase", "smtp_auth"))),
            Some(0.0)
        );
        assert_eq!(sample(&s, "mailtrip_delivery_seconds", None), None);
        let failure = s.iter().find(|(n, _, _)| n == "mailtrip_failure").unwrap();
        assert!(failure.1.contains(&("phase".into(), "smtp_auth".into())));
        assert!(
            failure
                .1
                .contains(&("code".into(), "app_password_required".into()))
        );
        assert_eq!(
            sample(&s, "mailtrip_last_run_timestamp_seconds", None),
            Some(1741961520.25)
        );
    }

    #[test]
    fn prometheus_escapes_label_values() {
        let mut report = delivered();
        report.from = "\"Q\\A\"\n<qa@example.com>".into();
        let s = check_exposition(&render(Format::Prometheus, &report));
        assert!(
            s.iter()
                .all(|(_, labels, _)| labels.contains(&("from".into(), report.from.clone())))
        );
    }
}
