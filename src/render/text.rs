//! Text from servers and mail, made safe for a terminal: control characters (C0 but TAB, DEL,
//! C1) and the bidirectional overrides are shown as escapes (`\x1b`, `\u{202e}`), so a
//! hostile reply cannot move the cursor, recolour, retitle or clear the terminal, or hide
//! text. Every renderer passes what it did not write itself through [`clean`].

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as is.
pub fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_into(out: &mut String, c: char) {
    let n = c as u32;
    if n < 0x100 {
        out.push_str(&format!("\\x{n:02x}"));
    } else {
        out.push_str(&format!("\\u{{{n:x}}}"));
    }
}

/// `s` with every unsafe character escaped (line breaks too: the result is one line).
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The lines of `s`, each cleaned (for multi-line server text printed line by line).
pub fn clean_lines(s: &str) -> impl Iterator<Item = Cow<'_, str>> {
    s.lines().map(clean)
}

/// `s` with every unsafe character escaped but its line breaks kept (for a whole human
/// report built by a command, which holds no colour of its own).
pub fn clean_block(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && unsafe_char(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c != '\n' && unsafe_char(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON as serde writes it escapes C0 controls but not DEL or C1 (`\u{9b}` is a CSI on some
/// terminals): those become `\u` escapes too, which is the same JSON value.
pub fn clean_json(json: &str) -> Cow<'_, str> {
    // serde escapes every C0 control inside strings, so a raw line break is layout (pretty).
    let unsafe_char = |c: char| c != '\n' && unsafe_char(c);
    if !json.chars().any(unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::auth_results::{AuthResults, AuthSummary, Outcome};
    use crate::analyze::hops::{Hop, Timeline};
    use crate::render::{Format, Style, renderer, samples};
    use crate::report::{Bounce, Report};

    const HOSTILE: &str = "x\x1b[2J\x1b]0;t\x07\0\u{9b}31m\u{7f}\u{202e}";

    /// A report whose every string field holds terminal escapes.
    fn hostile() -> Report {
        let h = || HOSTILE.to_string();
        let mut r = samples::auth_failed();
        r.from = h();
        r.to = h();
        r.alias_of = Some(h());
        r.smtp = h();
        r.imap = h();
        r.probe_id = h();
        r.run_id = h();
        r.started_at = h();
        for p in &mut r.phases {
            p.detail = h();
        }
        if let Some(e) = r.error.as_mut() {
            e.diagnosis.summary = h();
            e.diagnosis.hint = h();
            e.diagnosis.link = Some(h());
            e.diagnosis.server_text = Some(format!("{}\n{}", h(), h()));
        }
        let ev = &mut r.evidence;
        ev.message_id = h();
        ev.subject = h();
        ev.smtp_reply = Some(h());
        ev.mailbox = Some(h());
        ev.authentication_results = vec![h()];
        ev.changes = vec![h()];
        ev.copies = 2;
        ev.bounce = Some(Bounce {
            mailbox: h(),
            uid: 1,
            status: Some(h()),
            diagnostic: Some(h()),
            reporting_mta: Some(h()),
            recipient: Some(h()),
        });
        r.timeline = Some(Timeline {
            submitted: Some(h()),
            hops: vec![Hop {
                index: 1,
                from: Some(h()),
                by: Some(h()),
                with: Some(h()),
                id: Some(h()),
                date: Some(h()),
                delay_ms: Some(1000),
            }],
            arrived: Some(h()),
            final_delay_ms: Some(0),
            warnings: vec![h()],
        });
        r.auth = Some(AuthSummary {
            spf: Outcome::Pass,
            dkim: Outcome::Pass,
            dmarc: Outcome::Pass,
            arc: Outcome::Pass,
            headers: vec![AuthResults {
                authserv_id: h(),
                results: Vec::new(),
            }],
        });
        r.warnings = vec![h()];
        r
    }

    #[test]
    fn no_renderer_passes_terminal_controls_on() {
        for verdict in [
            crate::report::Verdict::AuthFailed,
            crate::report::Verdict::Delivered,
        ] {
            let mut r = hostile();
            r.verdict = verdict;
            for format in [
                Format::Human,
                Format::Json,
                Format::Junit,
                Format::Nagios,
                Format::Prometheus,
            ] {
                let mut out = Vec::new();
                renderer(format, Style { color: false })
                    .render(&r, &mut out)
                    .expect("render");
                let text = String::from_utf8(out).expect("utf-8");
                let bad: Vec<char> = text
                    .chars()
                    .filter(|c| (c.is_control() && !matches!(c, '\n' | '\t')) || *c == '\u{202e}')
                    .collect();
                assert!(bad.is_empty(), "{format:?} passed {bad:?} on:\n{text}");
                assert!(text.contains("2J"), "{format:?} dropped the text:\n{text}");
            }
        }
    }

    #[test]
    fn controls_are_escaped_and_text_kept() {
        assert_eq!(clean("ok → ü\tx"), "ok → ü\tx");
        assert_eq!(clean("a\x1b[2Jb\x07\0"), "a\\x1b[2Jb\\x07\\x00");
        assert_eq!(clean("c1\u{9b}31m rtl\u{202e}"), "c1\\x9b31m rtl\\u{202e}");
        assert_eq!(clean("two\r\nlines"), "two\\x0d\\x0alines");
        assert_eq!(clean_block("a\x1b\nb\r\n"), "a\\x1b\nb\\x0d\n");
        let lines: Vec<_> = clean_lines("a\x1b\nb").collect();
        assert_eq!(lines, ["a\\x1b", "b"]);
        let json = clean_json("{\"a\":\"\u{9b}\u{7f}\"}");
        assert_eq!(json, "{\"a\":\"\\u009b\\u007f\"}");
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid json");
        assert_eq!(v["a"], "\u{9b}\u{7f}");
    }
}
