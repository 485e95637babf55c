//! The rules that go by codes alone: enhanced status codes (RFC 3463) and basic reply codes,
//! then what a refusal at each stage usually means. They come last, after every text rule.

use super::{ANY, IMAP, LOGIN_REQUIRED, Rule, SENDER_REJECTED, SMTP, When, enh, enh_any};
use crate::diagnose::{Code, Stage};

const AUTH_HINT: &str = "Check the username (usually the full email address) and password; \
     Gmail, iCloud, Yahoo and Fastmail need an app password for SMTP and IMAP, and Microsoft \
     365 usually needs OAuth2.";

const GREYLIST_HINT: &str = "Retry the same send in 5 to 15 minutes; a second attempt from the \
     same server is normally accepted.";

/// An AUTH mechanism the server does not offer, by reply 504 or enhanced status 5.5.4 / x.7.4.
const MECHANISM_UNSUPPORTED: Rule = Rule {
    code: Code::AuthMechanismUnsupported,
    summary: "The server does not support the authentication mechanism that was tried.",
    hint: "Use a mechanism the server lists in its EHLO AUTH line; PLAIN and LOGIN are usually offered only after TLS, and some providers accept only XOAUTH2.",
    ..ANY
};

/// Refused credentials, by enhanced status x.7.8 or reply 535.
const BAD_CREDENTIALS: Rule = Rule {
    code: Code::AuthRejected,
    summary: "The server rejected the username or password.",
    hint: AUTH_HINT,
    ..ANY
};

/// Enhanced status and reply codes, then stage and class fallbacks, in the order they are tried.
pub(super) static RULES: &[Rule] = &[
    Rule {
        protocol: SMTP,
        enhanced: enh(5, 1, 1),
        code: Code::RecipientRejected,
        summary: "The recipient address does not exist on the receiving server.",
        hint: "Check the recipient address for typos; the probe must go to a mailbox you can read over IMAP.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::SmtpClass(4),
        enhanced: enh(4, 7, 1),
        text: &[
            "try again later",
            "try later",
            "retry later",
            "temporarily",
            "deferred",
        ],
        code: Code::Greylisted,
        summary: "The receiving server deferred the message for now, most likely greylisting.",
        hint: GREYLIST_HINT,
        ..ANY
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::RcptTo],
        when: When::SmtpClass(4),
        text: &["try again later", "try later", "retry later"],
        code: Code::Greylisted,
        summary: "The receiving server deferred the recipient for now, most likely greylisting.",
        hint: GREYLIST_HINT,
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(504),
        stages: &[Stage::Auth],
        ..MECHANISM_UNSUPPORTED
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::Auth],
        enhanced: enh(5, 5, 4),
        ..MECHANISM_UNSUPPORTED
    },
    Rule {
        enhanced: enh_any(7, 4),
        ..MECHANISM_UNSUPPORTED
    },
    Rule {
        text: &[
            "unrecognized authentication type",
            "authentication mechanism",
            "mechanism not supported",
            "unsupported authentication mechanism",
        ],
        code: Code::AuthMechanismUnsupported,
        summary: "The server does not support (or considers too weak) the authentication mechanism that was tried.",
        hint: "Use a mechanism the server advertises; PLAIN and LOGIN are usually offered only after TLS, and some providers accept only XOAUTH2.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        enhanced: enh_any(7, 8),
        ..BAD_CREDENTIALS
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(535),
        ..BAD_CREDENTIALS
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(534),
        code: Code::AuthRejected,
        summary: "The server refused this login; it wants a different kind of authentication (often a stronger mechanism or an app password).",
        hint: AUTH_HINT,
        ..ANY
    },
    Rule {
        when: When::Smtp(530),
        ..LOGIN_REQUIRED
    },
    Rule {
        protocol: IMAP,
        text: &[
            "[authenticationfailed]",
            "invalid credentials",
            "authentication failed",
        ],
        code: Code::AuthRejected,
        summary: "The IMAP server rejected the username or password.",
        hint: AUTH_HINT,
        ..ANY
    },
    Rule {
        protocol: IMAP,
        text: &["[authorizationfailed]"],
        code: Code::AuthRejected,
        summary: "The login worked but this identity is not allowed to open the requested mailbox.",
        hint: "Log in as the mailbox owner, or get access to the mailbox granted to this login.",
        ..ANY
    },
    Rule {
        protocol: IMAP,
        text: &["[expired]"],
        code: Code::AuthRejected,
        summary: "The account's password or credentials have expired.",
        hint: "Change the password (or renew the token) through the provider's web interface, then use the new one.",
        ..ANY
    },
    Rule {
        protocol: IMAP,
        text: &[
            "[nonexistent]",
            "doesn't exist",
            "does not exist",
            "no such mailbox",
        ],
        code: Code::ServerError,
        summary: "The folder does not exist on the server.",
        hint: "List the account's folders and use one that exists; junk folder names differ by provider and language, so prefer the one flagged \\Junk.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(421),
        code: Code::ConnectionClosed,
        summary: "The server is closing the connection (421 service not available), usually temporarily.",
        hint: "Retry in a few minutes; if it persists, the server is overloaded, in maintenance, or refusing your IP (see its text).",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(552),
        code: Code::OverQuota,
        summary: "The server refused the message for lack of storage (552), usually a full mailbox.",
        hint: "Free up space in the recipient mailbox or raise its quota, then retry.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(452),
        code: Code::RateLimited,
        summary: "The server temporarily refused more recipients or messages (452).",
        hint: "Retry later with fewer recipients per message and a lower rate.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::Greeting],
        when: When::SmtpClass(5),
        code: Code::ServerError,
        summary: "The server refused the SMTP session as soon as you connected.",
        hint: "The server does not accept mail from your IP or network; send through your provider's submission server, or ask the server's postmaster why.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::Auth],
        when: When::SmtpClass(5),
        code: Code::AuthRejected,
        summary: "The server rejected the login.",
        hint: AUTH_HINT,
        ..ANY
    },
    Rule {
        stages: &[Stage::MailFrom],
        when: When::SmtpClass(5),
        ..SENDER_REJECTED
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::RcptTo],
        when: When::SmtpClass(5),
        code: Code::RecipientRejected,
        summary: "The server rejected the recipient address.",
        hint: "Check the recipient address; the server's text says whether the mailbox is unknown or the server will not accept mail for it.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::Data],
        when: When::SmtpClass(5),
        code: Code::MessageRejected,
        summary: "The server refused the message after receiving it.",
        hint: "Read the server's text for the reason (content policy, authentication of the From domain, size) and fix the message or the sending setup.",
        ..ANY
    },
    Rule {
        protocol: IMAP,
        stages: &[Stage::Login],
        when: When::Imap("NO"),
        code: Code::AuthRejected,
        summary: "The IMAP server refused the login.",
        hint: AUTH_HINT,
        ..ANY
    },
    Rule {
        protocol: IMAP,
        stages: &[Stage::Select],
        when: When::Imap("NO"),
        code: Code::ServerError,
        summary: "The IMAP server could not open the folder.",
        hint: "Check that the folder exists and that this login may read it; the server's text gives the reason.",
        ..ANY
    },
    Rule {
        protocol: IMAP,
        when: When::Imap("BYE"),
        code: Code::ConnectionClosed,
        summary: "The IMAP server closed the connection.",
        hint: "Retry; if it recurs, the server's text says why it hung up (shutdown, limits, or a problem with this account).",
        ..ANY
    },
];
