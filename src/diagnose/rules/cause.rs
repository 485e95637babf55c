//! The rules that read the cause from the reply's own words (greylisting, throttling, relay,
//! quota, sender authentication, blocklists, spam) or from an enhanced status that names it.

use super::{ANY, IMAP, LOGIN_REQUIRED, Rule, SENDER_REJECTED, SMTP, When, enh, enh_any};
use crate::diagnose::{Code, Stage};

const SMTP_TLS_HINT: &str =
    "Connect with TLS: use smtp+starttls://host:587 or smtps://host:465 instead of plain smtp://.";

/// A full mailbox, whether an enhanced status or the text says so.
const OVER_QUOTA: Rule = Rule {
    code: Code::OverQuota,
    summary: "The mailbox is over its storage quota.",
    hint: "Free up space in the mailbox (empty Trash and Spam, delete large messages) or raise its quota, then retry.",
    ..ANY
};

/// A message refused for failing SPF, DKIM or DMARC, by enhanced status 5.7.26 or by its words.
const SENDER_AUTHENTICATION: Rule = Rule {
    code: Code::MessageRejected,
    summary: "The receiving server rejected the message because it failed sender authentication (SPF, DKIM or DMARC) for the From domain.",
    hint: "Send through the From domain's own SMTP server, and make sure the domain publishes SPF and DKIM (and DMARC) that cover that server.",
    ..ANY
};

/// Texts (and enhanced statuses) that name the cause, in the order they are tried.
pub(super) static RULES: &[Rule] = &[
    Rule {
        when: When::SmtpClass(4),
        text: &["greylist", "graylist", "postgrey"],
        code: Code::Greylisted,
        summary: "The receiving server greylisted the message: it defers the first attempt from an unknown sender.",
        hint: "Nothing is broken; retry the same send in 5 to 15 minutes, as a real mail server would, and it is normally accepted.",
        ..ANY
    },
    Rule {
        text: &[
            "[unavailable]",
            "temporary authentication failure",
            "[inuse]",
        ],
        code: Code::ServerError,
        summary: "The server reported a temporary internal failure (for example its authentication or storage backend is unavailable).",
        hint: "Retry in a few minutes; if it persists, the server's administrator needs to look at its backend.",
        ..ANY
    },
    Rule {
        text: &[
            "too many simultaneous connections",
            "[limit]",
            "maximum number of connections",
            "too many connections",
        ],
        code: Code::TooManyConnections,
        summary: "The server refused because this account or your IP already has too many open connections.",
        hint: "Close other mail clients and sync tools using this account, or wait for idle connections to time out, then retry; Gmail allows at most 15 IMAP connections per account.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        text: &[
            "must issue a starttls",
            "starttls command first",
            "encryption required",
            "tls required",
            "requires tls",
        ],
        code: Code::StarttlsUnavailable,
        summary: "The server refuses to continue over an unencrypted connection; it wants STARTTLS first.",
        hint: SMTP_TLS_HINT,
        ..ANY
    },
    Rule {
        protocol: SMTP,
        enhanced: enh(5, 7, 11),
        code: Code::StarttlsUnavailable,
        summary: "The server requires an encrypted connection for this authentication mechanism.",
        hint: SMTP_TLS_HINT,
        ..ANY
    },
    Rule {
        protocol: IMAP,
        text: &["[privacyrequired]", "plaintext authentication disallowed"],
        code: Code::StarttlsUnavailable,
        summary: "The server refuses to authenticate over an unencrypted connection.",
        hint: "Connect with TLS: use imaps://host:993 or imap+starttls://host:143 instead of plain imap://.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::StartTls],
        code: Code::StarttlsUnavailable,
        summary: "The server did not start TLS when asked (STARTTLS is not offered or failed on the server).",
        hint: "Use smtps://host:465 (implicit TLS) if the server offers it, or fix the server's TLS setup; do not fall back to sending credentials in plaintext.",
        ..ANY
    },
    Rule {
        text: &[
            "authentication required",
            "p=wantautherror",
            "not authenticated",
        ],
        ..LOGIN_REQUIRED
    },
    Rule {
        protocol: SMTP,
        text: &[
            "relay access denied",
            "relaying denied",
            "relay not permitted",
            "not permitted to relay",
            "unable to relay",
            "relaying not allowed",
        ],
        code: Code::RecipientRejected,
        summary: "The server refused to relay to this recipient: without a login it only accepts mail for its own domains.",
        hint: "Authenticate (configure SMTP credentials) so the server relays for you, or check that the recipient's domain is really hosted on this server.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        text: &["not owned by user"],
        code: Code::SenderRejected,
        summary: "The server only lets this login send from addresses that belong to it.",
        hint: "Use a sender (From and MAIL FROM) address owned by the login, or log in as the owner of that address.",
        ..ANY
    },
    Rule {
        text: &["sender address rejected"],
        ..SENDER_REJECTED
    },
    // Rate limits come before "unsolicited": Gmail's 4.7.28 text mentions unsolicited mail.
    Rule {
        protocol: SMTP,
        enhanced: enh_any(7, 28),
        code: Code::RateLimited,
        summary: "Gmail is rate-limiting mail from your sending IP because of an unusual volume.",
        hint: "Slow down and retry later; make sure the sending domain passes SPF and DKIM, and send through your provider's submission server rather than from an unknown IP.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        text: &[
            "too quickly",
            "at a rate that",
            "rate limit",
            "too many messages",
            "unusual rate",
            "sending limit",
        ],
        code: Code::RateLimited,
        summary: "The server is throttling: too many messages or connections in a short time.",
        hint: "Back off: wait several minutes before retrying and lower the probe rate (limits apply per account and per sending IP).",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(421),
        text: &["try again later"],
        code: Code::RateLimited,
        summary: "The server is turning you away for now and closing the connection (usually a rate limit).",
        hint: "Back off: wait several minutes before retrying and lower the probe rate.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(421),
        text: &["timeout", "timed out"],
        code: Code::Timeout,
        summary: "The server gave up waiting for the client and closed the connection.",
        hint: "Retry; if it recurs, a slow network or a stalled step is delaying commands past the server's timeout.",
        ..ANY
    },
    Rule {
        protocol: IMAP,
        when: When::Imap("BYE"),
        text: &[
            "autologout",
            "inactivity",
            "idle for too long",
            "timeout",
            "timed out",
        ],
        code: Code::Timeout,
        summary: "The server closed the session because it was idle for too long.",
        hint: "Retry; long waits should use IDLE or periodic NOOPs so the server does not log the session out.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        enhanced: enh_any(3, 4),
        code: Code::MessageRejected,
        summary: "The message is larger than the server accepts.",
        hint: "Send a smaller message (drop attachments) or raise the server's size limit.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        enhanced: enh(4, 3, 1),
        code: Code::ServerError,
        summary: "The server is temporarily out of storage space.",
        hint: "Retry later; the server's administrator needs to free disk space.",
        ..ANY
    },
    Rule {
        enhanced: enh_any(2, 2),
        ..OVER_QUOTA
    },
    Rule {
        text: &[
            "[overquota]",
            "over quota",
            "quota exceeded",
            "mailbox is full",
            "mailbox full",
        ],
        ..OVER_QUOTA
    },
    Rule {
        protocol: SMTP,
        enhanced: enh(5, 7, 26),
        ..SENDER_AUTHENTICATION
    },
    Rule {
        protocol: SMTP,
        when: When::SmtpClass(5),
        text: &["spf", "dkim", "dmarc", "authentication checks"],
        ..SENDER_AUTHENTICATION
    },
    Rule {
        protocol: SMTP,
        when: When::SmtpClass(5),
        text: &[
            "spamhaus",
            "blocklist",
            "blacklist",
            "block list",
            "dnsbl",
            "spamcop",
            "barracuda",
        ],
        code: Code::MessageRejected,
        summary: "The receiving server refused mail from your sending IP because the IP is on a DNS blocklist.",
        hint: "Look the sending IP up on the named blocklist and request delisting, or send through your provider's submission server instead of directly to the recipient's MX.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::SmtpClass(5),
        text: &["unsolicited", "spam"],
        code: Code::MessageRejected,
        summary: "The receiving server judged the message to be spam and rejected it.",
        hint: "Check the sending IP's reputation and the domain's SPF, DKIM and DMARC; a small plain probe from a properly authenticated domain should not be rejected.",
        ..ANY
    },
];
