//! Renderers: each output format turns a [`Report`] into bytes on a writer. The style
//! (colour, symbols) is decided once by the caller, never here.
//!
//! The binary's formats (feature `cli`), hidden from the library's API: a library user gets
//! the plain [`Report`] (Serialize) and picks its own format.

pub mod human;
pub mod json;
pub mod junit;
pub mod load;
pub mod load_html;
pub mod nagios;
pub mod nagios_range;
pub mod prometheus;
pub mod providers;
pub mod server;
pub mod text;
pub mod verify;
pub mod verify_human;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::report::Report;

/// Output formats for `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per phase, then the verdict.
    Human,
    /// The Report as one JSON object (`"schema": 1`).
    Json,
    /// JUnit XML: one testcase per phase plus `verdict`, for CI test reports.
    Junit,
    /// One Nagios/Icinga plugin line with performance data; exit 0/1/2/3.
    Nagios,
    /// Prometheus text exposition, for node_exporter's textfile collector.
    Prometheus,
}

/// How human output looks; decided once from `is_terminal`, `NO_COLOR` and `--color`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

/// One output format.
pub trait Render {
    fn render(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
}

/// The renderer for a format, with no Nagios thresholds.
pub fn renderer(format: Format, style: Style) -> Box<dyn Render> {
    renderer_with(format, style, nagios::Nagios::default())
}

/// The renderer for a format; `thresholds` apply to `Format::Nagios` only.
pub fn renderer_with(format: Format, style: Style, thresholds: nagios::Nagios) -> Box<dyn Render> {
    match format {
        Format::Human => Box::new(human::Human { style }),
        Format::Json => Box::new(json::Json),
        Format::Junit => Box::new(junit::Junit),
        Format::Nagios => Box::new(thresholds),
        Format::Prometheus => Box::new(prometheus::Prometheus),
    }
}

/// Replaces `path` with `bytes` so that a reader (node_exporter's textfile collector, a CI
/// job) sees either the old file or the whole new one, never a partial write: the bytes go to
/// a temporary file in the same directory (hidden, not ending in `.prom`), are fsynced, and
/// the file is renamed over `path`. The directory is then synced, best effort.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let tmp = dir.join(tmp_name);

    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Two representative reports with fixed timings and start time, shared by the per-format
/// tests (`fixtures/output/` holds real runs instead: tests/docs keeps them current).
#[cfg(test)]
pub(crate) mod samples {
    use crate::diagnose::{Stage, classify_smtp};
    use crate::report::{
        ErrorReport, Evidence, Phase, PhaseReport, Placement, Report, SCHEMA, Verdict,
    };

    /// Gmail's reply to AUTH with an account password when 2-Step Verification is on
    /// (fixtures/replies/gmail-smtp-app-password-required.txt).
    pub const GMAIL_534: &str = "534-5.7.9 Application-specific password required. For more information, go to\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d2e1a72fcca58-7390a5d9e5fsm1234567b3a.72 - gsmtp";

    fn phase(name: Phase, ok: bool, ms: f64, detail: &str) -> PhaseReport {
        PhaseReport {
            name,
            ok,
            ms,
            detail: detail.to_string(),
        }
    }

    /// A round trip to the inbox with all ten phases, in the order a run takes them (IMAP
    /// watermarks first, then the send).
    pub fn delivered() -> Report {
        Report {
            schema: SCHEMA,
            verdict: Verdict::Delivered,
            placement: Some(Placement::Inbox),
            probe_id: "0193ab12-3c4d-7e5f-8a9b-0c1d2e3f4a5b".into(),
            run_id: "0193ab12-3c40-7000-8000-00000000a001".into(),
            from: "alice@example.com".into(),
            to: "bob@example.net".into(),
            alias_of: None,
            smtp: "smtps://smtp.example.com:465".into(),
            imap: "imaps://imap.example.net:993".into(),
            embedded: false,
            started_at: "2025-03-14T15:09:26.535Z".into(),
            total_ms: 1030.5,
            phases: vec![
                phase(Phase::ImapConnect, true, 60.75, "* OK Dovecot ready."),
                phase(Phase::ImapAuth, true, 40.0, "LOGIN ok; INBOX UIDNEXT 4242, Junk UIDNEXT 17"),
                phase(Phase::SmtpConnect, true, 12.0, "220 smtp.example.com ESMTP Postfix"),
                phase(Phase::SmtpTls, true, 45.25, "TLSv1.3 TLS_AES_256_GCM_SHA384"),
                phase(Phase::SmtpAuth, true, 80.5, "235 2.7.0 Authentication successful"),
                phase(Phase::SmtpSubmit, true, 110.0, "250 2.0.0 Ok: queued as 4F2A1B3C9D"),
                phase(Phase::Delivery, true, 640.0, "INBOX UID 4242 via IDLE"),
                phase(Phase::Fetch, true, 15.5, "2148 bytes"),
                phase(Phase::Verify, true, 1.25, "tag, Message-ID and digest match"),
                phase(Phase::Cleanup, true, 20.0, "UID 4242 expunged"),
            ],
            error: None,
            evidence: Evidence {
                message_id: "<mailtrip.0193ab12-3c4d-7e5f-8a9b-0c1d2e3f4a5b@example.com>".into(),
                subject: "mailtrip probe 0193ab12".into(),
                smtp_reply: Some("250 2.0.0 Ok: queued as 4F2A1B3C9D".into()),
                mailbox: Some("INBOX".into()),
                uid: Some(4242),
                copies: 1,
                digest_ok: Some(true),
                received_hops: Some(3),
                authentication_results: vec![
                    "mx.example.net; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=example.com"
                        .into(),
                ],
                idle: Some(true),
                ..Evidence::default()
            },
            timeline: None,
            auth: None,
            warnings: vec![],
            tls_verified: true,
        }
    }

    /// Gmail refusing the account password at SMTP AUTH; the receiving account's IMAP login
    /// (another provider) had already worked.
    pub fn auth_failed() -> Report {
        Report {
            schema: SCHEMA,
            verdict: Verdict::AuthFailed,
            placement: None,
            probe_id: "0193ab12-9f00-7e5f-8a9b-0c1d2e3f4a5c".into(),
            run_id: "0193ab12-9f00-7000-8000-00000000a002".into(),
            from: "alice.probe@gmail.com".into(),
            to: "bob.probe@example.net".into(),
            alias_of: None,
            smtp: "smtp+starttls://smtp.gmail.com:587".into(),
            imap: "imaps://imap.example.net:993".into(),
            embedded: false,
            started_at: "2025-03-14T15:12:00.250+01:00".into(),
            total_ms: 512.25,
            phases: vec![
                phase(Phase::ImapConnect, true, 95.5, "* OK Dovecot ready."),
                phase(Phase::ImapAuth, true, 180.0, "LOGIN ok; INBOX UIDNEXT 88, no \\Junk folder"),
                phase(Phase::SmtpConnect, true, 30.25, "220 smtp.gmail.com ESMTP - gsmtp"),
                phase(Phase::SmtpTls, true, 60.0, "STARTTLS, TLSv1.3"),
                phase(Phase::SmtpAuth, false, 140.5, "534 5.7.9 Application-specific password required."),
            ],
            error: Some(ErrorReport {
                phase: Phase::SmtpAuth,
                diagnosis: classify_smtp(Stage::Auth, 534, GMAIL_534),
            }),
            evidence: Evidence {
                message_id: "<mailtrip.0193ab12-9f00-7e5f-8a9b-0c1d2e3f4a5c@gmail.com>".into(),
                subject: "mailtrip probe 0193ab12".into(),
                copies: 0,
                ..Evidence::default()
            },
            timeline: None,
            auth: None,
            warnings: vec![
                "no folder has the \\Junk attribute; spam placement can't be detected (looked for \"Junk\" & \"Spam\")".into(),
            ],
            tls_verified: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::samples::{auth_failed, delivered};
    use super::*;
    use crate::report::{Placement, Verdict};

    /// The thresholds the Nagios samples are rendered with.
    const THRESHOLDS: nagios::Nagios = nagios::Nagios {
        warning: Some(nagios_range::Range::upto(10.0)),
        critical: Some(nagios_range::Range::upto(30.0)),
    };

    fn render(format: Format, report: &Report) -> String {
        let mut out = Vec::new();
        renderer_with(format, Style::default(), THRESHOLDS)
            .render(report, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// A minimal element tree, built with a real XML parser so that the test does not trust
    /// the escaper it checks.
    #[derive(Debug, Default)]
    struct Node {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
        text: String,
    }

    impl Node {
        fn attr(&self, name: &str) -> &str {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("<{}> has no {name}", self.name))
        }

        fn all(&self, name: &str) -> Vec<&Node> {
            self.children.iter().filter(|c| c.name == name).collect()
        }

        fn one(&self, name: &str) -> &Node {
            let all = self.all(name);
            assert_eq!(all.len(), 1, "<{}> should have one <{name}>", self.name);
            all[0]
        }
    }

    fn parse_xml(xml: &str) -> Node {
        use quick_xml::XmlVersion;
        use quick_xml::events::{BytesStart, Event};

        for c in xml.chars() {
            assert!(
                matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..),
                "character {c:?} is not allowed in XML 1.0"
            );
        }
        let open = |e: &BytesStart| Node {
            name: e.name().as_ref().to_string(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.expect("well-formed, unique attribute");
                    let key = a.key.as_ref().to_string();
                    let value = a.normalized_value(XmlVersion::Explicit1_0).unwrap();
                    (key, value.into_owned())
                })
                .collect(),
            ..Node::default()
        };
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut stack = vec![Node::default()];
        let mut saw_decl = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Decl(_) => saw_decl = true,
                Event::Start(e) => stack.push(open(&e)),
                Event::Empty(e) => {
                    let node = open(&e);
                    stack.last_mut().unwrap().children.push(node);
                }
                Event::End(_) => {
                    let node = stack.pop().unwrap();
                    stack.last_mut().unwrap().children.push(node);
                }
                Event::Text(t) => {
                    let text = t.xml10_content();
                    stack.last_mut().unwrap().text.push_str(&text);
                }
                Event::GeneralRef(r) => {
                    let c = match r.resolve_char_ref().expect("valid character reference") {
                        Some(c) => c.to_string(),
                        None => quick_xml::escape::resolve_predefined_entity(&r)
                            .unwrap_or_else(|| panic!("undefined entity &{};", &*r))
                            .to_string(),
                    };
                    stack.last_mut().unwrap().text.push_str(&c);
                }
                Event::Eof => break,
                other => panic!("unexpected XML event {other:?}"),
            }
        }
        assert!(saw_decl, "no XML declaration");
        assert_eq!(stack.len(), 1, "unclosed elements");
        let mut document = stack.pop().unwrap();
        assert_eq!(document.children.len(), 1, "one root element");
        document.children.pop().unwrap()
    }

    /// The JUnit structure a CI system reads: counts that match the testcases, one testcase
    /// per phase plus `verdict`, failures where they belong.
    fn check_junit(report: &Report) -> Node {
        let root = parse_xml(&render(Format::Junit, report));
        assert_eq!(root.name, "testsuites");
        let suite = root.one("testsuite");
        assert_eq!(
            suite.attr("name"),
            format!("mailtrip check {} → {}", report.from, report.to)
        );
        let cases = suite.all("testcase");
        let names: Vec<&str> = cases.iter().map(|c| c.attr("name")).collect();
        let mut expected: Vec<&str> = report.phases.iter().map(|p| p.name.as_str()).collect();
        expected.push("verdict");
        assert_eq!(names, expected);
        let failed = cases
            .iter()
            .filter(|c| !c.all("failure").is_empty())
            .count();
        for node in [&root, suite] {
            assert_eq!(node.attr("tests"), cases.len().to_string());
            assert_eq!(node.attr("failures"), failed.to_string());
            assert_eq!(node.attr("errors"), "0");
        }
        for c in &cases {
            assert_eq!(c.attr("classname"), "mailtrip.check");
            c.attr("time").parse::<f64>().unwrap();
            assert!(c.all("failure").len() <= 1);
        }
        let props: Vec<(&str, &str)> = suite
            .one("properties")
            .all("property")
            .iter()
            .map(|p| (p.attr("name"), p.attr("value")))
            .collect();
        let tls = report.tls_verified.to_string();
        assert_eq!(
            props,
            [
                ("probe_id", report.probe_id.as_str()),
                ("run_id", report.run_id.as_str()),
                ("smtp", report.smtp.as_str()),
                ("imap", report.imap.as_str()),
                ("verdict", report.verdict.as_str()),
                ("tls_verified", tls.as_str()),
            ]
        );
        root
    }

    fn failure<'a>(root: &'a Node, case: &str) -> Option<&'a Node> {
        let suite = root.one("testsuite");
        let case = suite
            .all("testcase")
            .into_iter()
            .find(|c| c.attr("name") == case)
            .unwrap_or_else(|| panic!("no testcase {case}"));
        case.all("failure").into_iter().next()
    }

    #[test]
    fn junit_delivered_passes_every_testcase() {
        let root = check_junit(&delivered());
        assert_eq!(root.attr("tests"), "11");
        assert_eq!(root.attr("failures"), "0");
    }

    #[test]
    fn junit_auth_failed_fails_smtp_auth_and_verdict() {
        let report = auth_failed();
        let root = check_junit(&report);
        assert_eq!(root.attr("tests"), "6");
        assert_eq!(root.attr("failures"), "2");
        let f = failure(&root, "smtp_auth").expect("smtp_auth fails");
        assert_eq!(f.attr("type"), "app_password_required");
        assert_eq!(
            f.attr("message"),
            "app_password_required: Google wants an app password, not your account password."
        );
        // The server's two lines survive escaping and parsing unchanged.
        assert!(f.text.contains(super::samples::GMAIL_534), "{}", f.text);
        assert!(
            f.text
                .contains("https://support.google.com/accounts/answer/185833")
        );
        assert_eq!(
            failure(&root, "verdict").unwrap().attr("type"),
            "auth_failed"
        );
        let out = root.one("testsuite").one("system-out");
        assert!(out.text.contains(
            r#"\Junk attribute; spam placement can't be detected (looked for "Junk" & "Spam")"#
        ));
    }

    #[test]
    fn junit_failed_verdict_without_failed_phase_fails_delivery() {
        let mut report = delivered();
        report.verdict = Verdict::NotDelivered;
        report.placement = None;
        report.phases.truncate(7);
        report.phases[6].detail = "not seen in INBOX or Junk within 60s".into();
        let root = check_junit(&report);
        assert_eq!(root.attr("failures"), "2");
        let f = failure(&root, "delivery").expect("delivery carries the failure");
        assert_eq!(f.attr("type"), "not_delivered");
        assert_eq!(
            f.attr("message"),
            "not_delivered: not seen in INBOX or Junk within 60s"
        );

        let mut report = delivered();
        report.verdict = Verdict::ContentMismatch;
        let root = check_junit(&report);
        assert_eq!(
            failure(&root, "verify").unwrap().attr("type"),
            "content_mismatch"
        );
        assert!(failure(&root, "delivery").is_none());
    }

    #[test]
    fn junit_spam_fails_only_the_verdict() {
        let mut report = delivered();
        report.verdict = Verdict::DeliveredToSpam;
        report.placement = Some(Placement::Spam);
        report.evidence.mailbox = Some("Junk".into());
        let root = check_junit(&report);
        assert_eq!(root.attr("failures"), "1");
        let f = failure(&root, "verdict").unwrap();
        assert_eq!(f.attr("type"), "delivered_to_spam");
        assert_eq!(
            f.attr("message"),
            "delivered_to_spam: the probe arrived in Junk"
        );
    }

    #[test]
    fn junit_survives_hostile_text() {
        let mut report = auth_failed();
        report.from = "\"Q&A\" <qa@example.com>".into();
        report.phases[4].detail = "bell\u{7} nul\0 <tag> & 'quote'\r\nline two\u{FFFE}".into();
        report.error = None;
        report.warnings = vec!["]]> --> <!-- &amp;".into()];
        let root = check_junit(&report);
        let f = failure(&root, "smtp_auth").unwrap();
        // Terminal controls are shown as escapes (issue #13 item 12); U+FFFE, which XML
        // cannot hold, is dropped.
        assert_eq!(
            f.attr("message"),
            "auth_failed: bell\\x07 nul\\x00 <tag> & 'quote'\r\nline two"
        );
        assert!(
            root.one("testsuite")
                .one("system-out")
                .text
                .contains("]]> --> <!-- &amp;")
        );
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

    #[test]
    fn nagios_status_and_thresholds() {
        use nagios::{NagiosStatus as S, status};
        let t = THRESHOLDS;
        assert_eq!(status(&delivered(), &t), (S::Ok, 0));
        assert_eq!(status(&auth_failed(), &t), (S::Critical, 2));

        let slow = |secs: f64, verdict: Verdict| {
            let mut r = delivered();
            r.verdict = verdict;
            r.phases[6].ms = secs * 1000.0;
            r
        };
        assert_eq!(status(&slow(10.0, Verdict::Delivered), &t).0, S::Ok);
        assert_eq!(status(&slow(10.5, Verdict::Delivered), &t), (S::Warning, 1));
        assert_eq!(
            status(&slow(31.0, Verdict::Delivered), &t),
            (S::Critical, 2)
        );
        assert_eq!(
            status(&slow(1.0, Verdict::DeliveredToSpam), &t),
            (S::Warning, 1)
        );
        assert_eq!(
            status(&slow(31.0, Verdict::DeliveredToSpam), &t),
            (S::Critical, 2)
        );
        assert_eq!(
            status(&slow(31.0, Verdict::Delivered), &nagios::Nagios::default()).0,
            S::Ok
        );

        let line = render(Format::Nagios, &slow(12.5, Verdict::Delivered));
        assert!(
            line.starts_with(
                "MAILTRIP WARNING - delivered to inbox in 12.50s (over warning 10s) | "
            ),
            "{line}"
        );
        assert!(line.contains(" delivery=12.500s;10;30;0; "), "{line}");
        assert_eq!(S::Unknown.exit_code(), 3);

        let mut lost = delivered();
        lost.verdict = Verdict::NotDelivered;
        lost.phases.truncate(7);
        lost.phases[6].detail = "not seen in INBOX or Junk within 60s".into();
        let line = render(Format::Nagios, &lost);
        assert!(
            line.starts_with(
                "MAILTRIP CRITICAL - not_delivered at delivery: not seen in INBOX or Junk within 60s | "
            ),
            "{line}"
        );
    }

    #[test]
    fn nagios_output_is_one_line_with_valid_perfdata() {
        for report in [delivered(), auth_failed()] {
            let line = render(Format::Nagios, &report);
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            let (text, perf) = line.trim_end().split_once(" | ").unwrap();
            assert!(!text.contains('|'));
            assert!(text.starts_with("MAILTRIP "));
            let labels: Vec<&str> = perf
                .split(' ')
                .map(|item| {
                    let (label, data) = item.split_once('=').unwrap();
                    let fields: Vec<&str> = data.split(';').collect();
                    assert_eq!(fields.len(), 5, "{item}");
                    let value = fields[0].strip_suffix('s').unwrap();
                    value.parse::<f64>().unwrap();
                    for f in &fields[1..4] {
                        assert!(f.is_empty() || f.parse::<f64>().is_ok(), "{item}");
                    }
                    label
                })
                .collect();
            let mut expected: Vec<&str> = report.phases.iter().map(|p| p.name.as_str()).collect();
            expected.push("total");
            assert_eq!(labels, expected);
        }
    }

    #[test]
    fn write_atomically_replaces_the_whole_file() {
        let dir =
            std::env::temp_dir().join(format!("mailtrip-render-{:016x}", rand::random::<u64>()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mailtrip.prom");
        write_atomically(&path, b"old\n").unwrap();
        write_atomically(&path, b"new contents\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents\n");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mailtrip.prom"], "temporary file left behind");

        let missing = dir.join("no-such-dir").join("x.prom");
        assert!(write_atomically(&missing, b"x").is_err());
        assert!(write_atomically(Path::new("/"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
