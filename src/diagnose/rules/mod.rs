//! The classification table as data, and its matcher: one [`Rule`] per known reply, tried in
//! order until the first one whose conditions all hold. The rows live in three files, tried in
//! this order: a provider's own words, words that name the cause, then codes alone.

mod cause;
mod code;
#[cfg(test)]
mod fixtures;
mod provider;

use super::{Code, Diagnosis, Protocol, Stage, contains_ci, server_text};

/// The tables in the order they are tried; within each, order matters too (first match wins).
const TABLES: [&[Rule]; 3] = [provider::RULES, cause::RULES, code::RULES];

/// Which reply a rule applies to.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Any reply of the rule's protocol.
    Any,
    /// An SMTP reply with exactly this basic code.
    Smtp(u16),
    /// An SMTP reply in this class (4 = transient, 5 = permanent).
    SmtpClass(u16),
    /// An IMAP response with this status (case-insensitive).
    Imap(&'static str),
}

/// An enhanced status code pattern; `class: None` matches both 4.x.y and 5.x.y.
#[derive(Debug, Clone, Copy)]
struct Enhanced {
    class: Option<u8>,
    subject: u16,
    detail: u16,
}

const fn enh(class: u8, subject: u16, detail: u16) -> Option<Enhanced> {
    Some(Enhanced {
        class: Some(class),
        subject,
        detail,
    })
}

const fn enh_any(subject: u16, detail: u16) -> Option<Enhanced> {
    Some(Enhanced {
        class: None,
        subject,
        detail,
    })
}

/// One classification rule. All present conditions must hold; `text` matches when any one of
/// its substrings occurs in the reply, compared ASCII case-insensitively.
#[derive(Debug)]
struct Rule {
    protocol: Option<Protocol>,
    stages: &'static [Stage],
    when: When,
    enhanced: Option<Enhanced>,
    text: &'static [&'static str],
    code: Code,
    summary: &'static str,
    hint: &'static str,
    link: Option<&'static str>,
}

/// The base every rule starts from; a rule with only these fields would match everything.
const ANY: Rule = Rule {
    protocol: None,
    stages: &[],
    when: When::Any,
    enhanced: None,
    text: &[],
    code: Code::ServerError,
    summary: "",
    hint: "",
    link: None,
};

const SMTP: Option<Protocol> = Some(Protocol::Smtp);
const IMAP: Option<Protocol> = Some(Protocol::Imap);

/// What "log in first" means, for the rules that recognise it by text and by code 530.
const LOGIN_REQUIRED: Rule = Rule {
    protocol: SMTP,
    code: Code::AuthRejected,
    summary: "The server requires you to log in before it accepts mail.",
    hint: "Configure SMTP credentials for this endpoint; submission servers (ports 465 and 587) only accept mail from authenticated users.",
    ..ANY
};

/// What a refused MAIL FROM means, for the rule on its text and the fallback by stage.
const SENDER_REJECTED: Rule = Rule {
    protocol: SMTP,
    code: Code::SenderRejected,
    summary: "The server rejected the envelope sender (MAIL FROM) address.",
    hint: "Send from an address in a domain that exists and that this server lets you use; the server's text names the check that failed.",
    ..ANY
};

/// One reply as seen by the rule matcher.
pub(super) struct Observed<'a> {
    pub protocol: Protocol,
    pub stage: Stage,
    pub smtp_code: Option<u16>,
    pub imap_status: Option<&'a str>,
    pub enhanced: Option<(u8, u16, u16)>,
    pub text: &'a str,
}

impl Rule {
    fn matches(&self, o: &Observed<'_>) -> bool {
        let when = match self.when {
            When::Any => true,
            When::Smtp(code) => o.smtp_code == Some(code),
            When::SmtpClass(class) => o.smtp_code.is_some_and(|c| c / 100 == class),
            When::Imap(status) => o
                .imap_status
                .is_some_and(|s| s.eq_ignore_ascii_case(status)),
        };
        let enhanced = self.enhanced.is_none_or(|want| {
            o.enhanced.is_some_and(|(class, subject, detail)| {
                want.class.is_none_or(|c| c == class)
                    && want.subject == subject
                    && want.detail == detail
            })
        });
        self.protocol.is_none_or(|p| p == o.protocol)
            && (self.stages.is_empty() || self.stages.contains(&o.stage))
            && when
            && enhanced
            && (self.text.is_empty() || self.text.iter().any(|n| contains_ci(o.text, n)))
    }
}

/// Every rule, in the order they are tried.
fn rules() -> impl Iterator<Item = &'static Rule> {
    TABLES.into_iter().flatten()
}

/// The diagnosis of the first rule that matches `o`, if any does.
pub(super) fn classify(o: &Observed<'_>) -> Option<Diagnosis> {
    rules().find(|r| r.matches(o)).map(|r| Diagnosis {
        code: r.code,
        summary: r.summary.to_owned(),
        hint: r.hint.to_owned(),
        link: r.link.map(str::to_owned),
        server_text: server_text(o.text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_text_and_a_condition() {
        for (i, rule) in rules().enumerate() {
            assert!(
                !rule.summary.is_empty() && !rule.hint.is_empty(),
                "rule {i}"
            );
            let unconditional = rule.stages.is_empty()
                && matches!(rule.when, When::Any)
                && rule.enhanced.is_none()
                && rule.text.is_empty();
            assert!(
                !unconditional,
                "rule {i} ({}) matches everything",
                rule.code
            );
            assert!(
                rule.text.iter().all(|t| !t.is_empty()),
                "rule {i} has an empty needle"
            );
        }
    }
}
