//! Two representative reports with fixed timings and start time, and the thresholds and
//! `render` helper the per-format tests render them with (tests only; `fixtures/output/`
//! holds real runs instead: tests/docs keeps them current).

use super::nagios::Nagios;
use super::nagios_range::Range;
use super::{Format, Style, renderer_with};
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
            phase(
                Phase::ImapAuth,
                true,
                40.0,
                "LOGIN ok; INBOX UIDNEXT 4242, Junk UIDNEXT 17",
            ),
            phase(
                Phase::SmtpConnect,
                true,
                12.0,
                "220 smtp.example.com ESMTP Postfix",
            ),
            phase(
                Phase::SmtpTls,
                true,
                45.25,
                "TLSv1.3 TLS_AES_256_GCM_SHA384",
            ),
            phase(
                Phase::SmtpAuth,
                true,
                80.5,
                "235 2.7.0 Authentication successful",
            ),
            phase(
                Phase::SmtpSubmit,
                true,
                110.0,
                "250 2.0.0 Ok: queued as 4F2A1B3C9D",
            ),
            phase(Phase::Delivery, true, 640.0, "INBOX UID 4242 via IDLE"),
            phase(Phase::Fetch, true, 15.5, "2148 bytes"),
            phase(
                Phase::Verify,
                true,
                1.25,
                "tag, Message-ID and digest match",
            ),
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

/// The thresholds the Nagios fixtures are rendered with.
pub const THRESHOLDS: Nagios = Nagios {
    warning: Some(Range::upto(10.0)),
    critical: Some(Range::upto(30.0)),
};

/// `report` in `format`, as the golden fixtures hold it.
pub fn render(format: Format, report: &Report) -> String {
    let mut out = Vec::new();
    renderer_with(format, Style::default(), THRESHOLDS)
        .render(report, &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}
