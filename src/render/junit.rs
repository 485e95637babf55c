//! `--format junit`: the Report as a JUnit XML test suite, one testcase per phase plus a final
//! `verdict` testcase, so CI systems (GitLab, Jenkins, GitHub test reporters) show mail
//! delivery as tests that pass or fail with the diagnosis as the failure text.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Render;
use crate::report::{Phase, PhaseReport, Report, Verdict};

/// The JUnit XML renderer.
pub struct Junit;

/// One `<failure>`: the attributes and the body text, unescaped.
struct Failure {
    message: String,
    kind: String,
    body: String,
}

impl Render for Junit {
    fn render(&self, r: &Report, out: &mut dyn Write) -> io::Result<()> {
        let out_text = document(r);
        out.write_all(out_text.as_bytes())
    }
}

/// The whole XML document. Built as a string first: the counts in the suite header depend
/// on the testcases after it.
fn document(r: &Report) -> String {
    let carrier = failure_carrier(r);
    let mut cases = Vec::with_capacity(r.phases.len() + 1);
    for p in &r.phases {
        let failure = phase_failure(r, p, carrier);
        cases.push((p.name.as_str(), seconds(p.ms), failure));
    }
    cases.push(("verdict", seconds(0.0), verdict_failure(r)));
    let tests = cases.len();
    let failures = cases.iter().filter(|(_, _, f)| f.is_some()).count();
    let time = seconds(r.total_ms);

    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"mailtrip\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\" timestamp=\"{}\">",
        escape_attr(&format!("mailtrip check {} → {}", r.from, r.to)),
        escape_attr(&timestamp(&r.started_at)),
    );
    x.push_str("    <properties>\n");
    let tls = if r.tls_verified { "true" } else { "false" };
    for (name, value) in [
        ("probe_id", r.probe_id.as_str()),
        ("run_id", r.run_id.as_str()),
        ("smtp", r.smtp.as_str()),
        ("imap", r.imap.as_str()),
        ("verdict", r.verdict.as_str()),
        ("tls_verified", tls),
        ("alias_of", r.alias_of.as_deref().unwrap_or("")),
    ]
    .into_iter()
    .filter(|(name, value)| *name != "alias_of" || !value.is_empty())
    {
        let _ = writeln!(
            x,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape_attr(value)
        );
    }
    x.push_str("    </properties>\n");
    for (name, time, failure) in &cases {
        let open =
            format!("    <testcase classname=\"mailtrip.check\" name=\"{name}\" time=\"{time}\"");
        match failure {
            None => {
                let _ = writeln!(x, "{open}/>");
            }
            Some(f) => {
                let _ = writeln!(x, "{open}>");
                let _ = writeln!(
                    x,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    escape_attr(&f.message),
                    escape_attr(&f.kind),
                    escape(&f.body)
                );
                x.push_str("    </testcase>\n");
            }
        }
    }
    let system_out = system_out(r);
    if !system_out.is_empty() {
        let _ = writeln!(x, "    <system-out>{}</system-out>", escape(&system_out));
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// The phase that carries a failed verdict when no phase failed on its own: the error's phase
/// if there is one, otherwise delivery for `not_delivered` and verify for `content_mismatch`.
fn failure_carrier(r: &Report) -> Option<Phase> {
    if r.verdict.is_delivered() || r.phases.iter().any(|p| !p.ok) {
        return None;
    }
    let wanted = match (&r.error, r.verdict) {
        (Some(e), _) => e.phase,
        (None, Verdict::ContentMismatch) => Phase::Verify,
        (None, _) => Phase::Delivery,
    };
    r.phase(wanted).map(|p| p.name)
}

fn phase_failure(r: &Report, p: &PhaseReport, carrier: Option<Phase>) -> Option<Failure> {
    if p.ok && carrier != Some(p.name) {
        return None;
    }
    if let Some(e) = r.error.as_ref().filter(|e| e.phase == p.name) {
        let d = &e.diagnosis;
        let mut body = String::new();
        if let Some(text) = &d.server_text {
            let _ = writeln!(body, "server said: {text}");
        }
        let _ = writeln!(body, "hint: {}", d.hint);
        if let Some(link) = &d.link {
            let _ = writeln!(body, "see: {link}");
        }
        return Some(Failure {
            message: format!("{}: {}", d.code, d.summary),
            kind: d.code.as_str().to_string(),
            body,
        });
    }
    let detail = if p.detail.is_empty() {
        format!("{} failed", p.name)
    } else {
        p.detail.clone()
    };
    Some(Failure {
        message: format!("{}: {detail}", r.verdict.as_str()),
        kind: r.verdict.as_str().to_string(),
        body: String::new(),
    })
}

/// The final testcase fails unless the probe reached the inbox.
fn verdict_failure(r: &Report) -> Option<Failure> {
    let message = match (r.verdict, &r.error) {
        (Verdict::Delivered, _) => return None,
        (Verdict::DeliveredToSpam, _) => match &r.evidence.mailbox {
            Some(m) => format!("delivered_to_spam: the probe arrived in {m}"),
            None => "delivered_to_spam: the probe arrived in the spam folder".to_string(),
        },
        (v, Some(e)) => format!("{}: {} at {}", v.as_str(), e.diagnosis.code, e.phase),
        (v, None) => v.as_str().to_string(),
    };
    Some(Failure {
        message,
        kind: r.verdict.as_str().to_string(),
        body: String::new(),
    })
}

/// Evidence and warnings, for the suite's `<system-out>`.
fn system_out(r: &Report) -> String {
    let mut s = String::new();
    let e = &r.evidence;
    if !e.message_id.is_empty() {
        let _ = writeln!(s, "message_id: {}", e.message_id);
    }
    if let Some(reply) = &e.smtp_reply {
        let _ = writeln!(s, "smtp_reply: {reply}");
    }
    if let Some(mailbox) = &e.mailbox {
        let _ = writeln!(s, "mailbox: {mailbox}");
    }
    if e.copies > 1 {
        let _ = writeln!(s, "duplicate: {} copies arrived", e.copies);
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

/// Milliseconds as JUnit seconds with millisecond precision.
fn seconds(ms: f64) -> String {
    format!("{:.3}", ms / 1000.0)
}

/// The JUnit schema's timestamp is ISO 8601 without a zone, so the RFC 3339 start time is
/// converted to UTC; anything unparseable is passed through unchanged.
fn timestamp(started_at: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(started_at) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        Err(_) => started_at.to_string(),
    }
}

/// Escapes XML 1.0 character data: the five markup characters become entities, CR becomes a
/// character reference (a parser would fold CRLF into LF), and characters XML 1.0 forbids
/// (most C0 controls, U+FFFE, U+FFFF) are dropped.
pub fn escape(s: &str) -> String {
    escape_with(s, false)
}

/// Like [`escape`], for attribute values: tab and LF also become character references, since
/// attribute-value normalization would otherwise turn them into spaces.
pub fn escape_attr(s: &str) -> String {
    escape_with(s, true)
}

fn escape_with(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            // Terminal controls (and characters XML forbids) shown as escapes, not passed on.
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&super::text::clean(&c.to_string())),
            c if is_xml_char(c) => out.push_str(&super::text::clean(&c.to_string())),
            _ => {}
        }
    }
    out
}

/// XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Format;
    use crate::render::samples::{self, auth_failed, delivered, render};
    use crate::report::Placement;

    #[test]
    fn escapes_markup_and_drops_illegal_characters() {
        assert_eq!(
            escape(r#"a & b < c > d "e" 'f'"#),
            "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;"
        );
        assert_eq!(
            escape("bell\u{7}nul\0esc\u{1b}end\u{9b}"),
            "bell\\x07nul\\x00esc\\x1bend\\x9b"
        );
        assert_eq!(escape("\u{FFFE}\u{FFFF}ok\u{10000}"), "ok\u{10000}");
        assert_eq!(escape("tab\tcr\rlf\n"), "tab\tcr&#13;lf\n");
        assert_eq!(escape_attr("tab\tcr\rlf\n"), "tab&#9;cr&#13;lf&#10;");
        assert_eq!(escape("→ ü"), "→ ü");
    }

    #[test]
    fn timestamp_is_utc_without_zone() {
        assert_eq!(
            timestamp("2025-03-14T15:09:26.535+01:00"),
            "2025-03-14T14:09:26"
        );
        assert_eq!(timestamp("yesterday"), "yesterday");
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

    /// Testcase `case`'s failure, asserted to be of type `kind` with `message`.
    fn assert_failure<'a>(root: &'a Node, case: &str, kind: &str, message: &str) -> &'a Node {
        let f = failure(root, case).unwrap_or_else(|| panic!("{case} carries no failure"));
        assert_eq!(f.attr("type"), kind, "{case}");
        assert_eq!(f.attr("message"), message, "{case}");
        f
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
        let f = assert_failure(
            &root,
            "smtp_auth",
            "app_password_required",
            "app_password_required: Google wants an app password, not your account password.",
        );
        // The server's two lines survive escaping and parsing unchanged.
        assert!(f.text.contains(samples::GMAIL_534), "{}", f.text);
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
        assert_failure(
            &root,
            "delivery",
            "not_delivered",
            "not_delivered: not seen in INBOX or Junk within 60s",
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
        assert_failure(
            &root,
            "verdict",
            "delivered_to_spam",
            "delivered_to_spam: the probe arrived in Junk",
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
}
