//! Turns SMTP replies, IMAP NO/BAD/BYE responses and transport failures into a stable [`Code`]
//! with one sentence on what is wrong and one line on what to do next. Pure and table-driven:
//! the first matching entry of `RULES` wins, and a generic fallback by reply class covers the rest.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, machine-readable diagnosis; serialized and displayed in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    DnsFailed,
    ConnectRefused,
    ConnectTimeout,
    TlsHandshakeFailed,
    TlsCertificateInvalid,
    TlsModeMismatch,
    StarttlsUnavailable,
    AuthMechanismUnsupported,
    AuthRejected,
    AppPasswordRequired,
    WebLoginRequired,
    BasicAuthDisabled,
    /// A stored OAuth2 sign-in (`mailtrip login`) is missing, revoked or expired.
    SignInRequired,
    TooManyConnections,
    OverQuota,
    Greylisted,
    RateLimited,
    SenderRejected,
    RecipientRejected,
    MessageRejected,
    Timeout,
    ConnectionClosed,
    ServerError,
    /// The whole message was sent but the reply to its end of DATA never came: the server
    /// may have accepted it (the outcome is unknown).
    DataReplyLost,
    /// The probe arrived, but changed in transit (footer, rewrap, stripped part...).
    ContentMismatch,
    /// The port answers, but not as a mail server (it speaks HTTP).
    NotAMailServer,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: [Code; 26] = [
        Code::DnsFailed,
        Code::ConnectRefused,
        Code::ConnectTimeout,
        Code::TlsHandshakeFailed,
        Code::TlsCertificateInvalid,
        Code::TlsModeMismatch,
        Code::StarttlsUnavailable,
        Code::AuthMechanismUnsupported,
        Code::AuthRejected,
        Code::AppPasswordRequired,
        Code::WebLoginRequired,
        Code::BasicAuthDisabled,
        Code::SignInRequired,
        Code::TooManyConnections,
        Code::OverQuota,
        Code::Greylisted,
        Code::RateLimited,
        Code::SenderRejected,
        Code::RecipientRejected,
        Code::MessageRejected,
        Code::Timeout,
        Code::ConnectionClosed,
        Code::ServerError,
        Code::DataReplyLost,
        Code::ContentMismatch,
        Code::NotAMailServer,
    ];

    /// The snake_case name, identical to the serde form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::DnsFailed => "dns_failed",
            Code::ConnectRefused => "connect_refused",
            Code::ConnectTimeout => "connect_timeout",
            Code::TlsHandshakeFailed => "tls_handshake_failed",
            Code::TlsCertificateInvalid => "tls_certificate_invalid",
            Code::TlsModeMismatch => "tls_mode_mismatch",
            Code::StarttlsUnavailable => "starttls_unavailable",
            Code::AuthMechanismUnsupported => "auth_mechanism_unsupported",
            Code::AuthRejected => "auth_rejected",
            Code::AppPasswordRequired => "app_password_required",
            Code::WebLoginRequired => "web_login_required",
            Code::BasicAuthDisabled => "basic_auth_disabled",
            Code::SignInRequired => "sign_in_required",
            Code::TooManyConnections => "too_many_connections",
            Code::OverQuota => "over_quota",
            Code::Greylisted => "greylisted",
            Code::RateLimited => "rate_limited",
            Code::SenderRejected => "sender_rejected",
            Code::RecipientRejected => "recipient_rejected",
            Code::MessageRejected => "message_rejected",
            Code::Timeout => "timeout",
            Code::ConnectionClosed => "connection_closed",
            Code::ServerError => "server_error",
            Code::DataReplyLost => "data_reply_lost",
            Code::ContentMismatch => "content_mismatch",
            Code::NotAMailServer => "not_a_mail_server",
        }
    }

    /// Whether the same attempt may succeed later without anyone changing anything.
    ///
    /// This is a property of the code alone. A few codes are sometimes transient and sometimes
    /// not (a 452 4.2.2 full mailbox, an IMAP `[UNAVAILABLE]` server error); those are reported
    /// as not transient and their summary says "temporarily" where the server said so.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Code::Greylisted
                | Code::RateLimited
                | Code::TooManyConnections
                | Code::ConnectTimeout
                | Code::Timeout
                | Code::ConnectionClosed
        )
    }

    /// Whether the server refused the credentials themselves. Logging in again with the same
    /// ones cannot help, and providers lock accounts that keep trying, so callers that retry
    /// on their own (`monitor`) hold off for a long while after one of these.
    pub fn is_credential_refusal(&self) -> bool {
        matches!(
            self,
            Code::AuthRejected
                | Code::AppPasswordRequired
                | Code::WebLoginRequired
                | Code::BasicAuthDisabled
                | Code::SignInRequired
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which protocol produced the reply or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Imap,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Smtp => "SMTP",
            Protocol::Imap => "IMAP",
        }
    }

    /// The two TLS endpoint forms for this protocol, for hints.
    fn tls_forms(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtps://host:465 (implicit TLS) or smtp+starttls://host:587",
            Protocol::Imap => "imaps://host:993 (implicit TLS) or imap+starttls://host:143",
        }
    }
}

/// What the client was doing when the server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    Login,
    Select,
    Other,
}

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Stage::Greeting => "the connection (greeting)",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "the login (AUTH)",
            Stage::MailFrom => "the sender (MAIL FROM)",
            Stage::RcptTo => "the recipient (RCPT TO)",
            Stage::Data => "the message (DATA)",
            Stage::Login => "the login",
            Stage::Select => "opening the folder",
            Stage::Other => "the command",
        }
    }
}

/// A classified failure: what is wrong, what to do, and the server's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub code: Code,
    /// One human sentence: what is wrong.
    pub summary: String,
    /// What to do next, one line.
    pub hint: String,
    /// Provider remediation URL, when one is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The server's own words, verbatim (trimmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_text: Option<String>,
}

/// The summary, so a `Diagnosis` returned as an error (e.g. by `Sweep`) works with `?`.
impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Diagnosis {}

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

const GOOGLE_APP_PASSWORD_HELP: &str = "https://support.google.com/accounts/answer/185833";
const GMAIL_BAD_CREDENTIALS: &str = "https://support.google.com/mail/?p=BadCredentials";
const GMAIL_BAD_CREDENTIALS_HINT: &str = "Use the full email address as the username and an app \
     password (16 letters, from https://myaccount.google.com/apppasswords; needs 2-Step \
     Verification) or OAuth2: Google no longer accepts the account password from mail clients. \
     With an app password, the usual causes are a wrong or revoked one, or one pasted with \
     spaces or other extra characters (mailtrip removes the spaces of Google's four-groups form \
     only for the gmail and google-workspace presets): copy it again, or create a new one.";
const GOOGLE_WEB_LOGIN_HELP: &str = "https://support.google.com/mail/answer/78754";
const MS_SMTP_AUTH_DISABLED: &str = "https://aka.ms/smtp_auth_disabled";
const YAHOO_SECURITY: &str = "https://login.yahoo.com/account/security";

const AUTH_HINT: &str = "Check the username (usually the full email address) and password; \
     Gmail, iCloud, Yahoo and Fastmail need an app password for SMTP and IMAP, and Microsoft \
     365 usually needs OAuth2.";

/// The classification table; order matters, the first match wins. Provider-specific texts come
/// first, then texts that name a cause, then enhanced status codes, then stage and code classes.
static RULES: &[Rule] = &[
    // --- Provider-specific texts -------------------------------------------------------------
    Rule {
        protocol: SMTP,
        text: &[
            "smtpclientauthentication is disabled",
            "basic authentication is disabled",
            "basic authentication is not supported",
            "aka.ms/smtp_auth_disabled",
        ],
        code: Code::BasicAuthDisabled,
        summary: "Microsoft 365 has SMTP AUTH with a password (basic authentication) disabled for this mailbox or tenant.",
        hint: "Sign in with OAuth2 instead: `mailtrip login --provider outlook --user ADDRESS --client-id ID` (or `mailtrip login --account NAME` with auth = \"oauth2\"; the README's \"Outlook / Microsoft 365 (OAuth2)\" says how to register the client id), then run the command again. If the reply says SMTP AUTH itself is disabled, a tenant admin must also enable Authenticated SMTP for the mailbox (admin center: Users > Active users > Mail > Manage email apps). Microsoft is retiring basic SMTP AUTH.",
        link: Some(MS_SMTP_AUTH_DISABLED),
        ..ANY
    },
    Rule {
        text: &[
            "application-specific password required",
            "p=invalidsecondfactor",
        ],
        code: Code::AppPasswordRequired,
        summary: "Google wants an app password, not your account password.",
        hint: "Create an app password at https://myaccount.google.com/apppasswords and use it instead of your account password; this needs 2-Step Verification.",
        link: Some(GOOGLE_APP_PASSWORD_HELP),
        ..ANY
    },
    Rule {
        text: &[
            "log in via your web browser",
            "[webalert",
            "mail/answer/78754",
        ],
        code: Code::WebLoginRequired,
        summary: "The provider blocked this sign-in until it is confirmed in a web browser.",
        hint: "Sign in to the account's webmail in a browser (ideally from the same network), approve any security prompt, then retry; for Gmail an app password avoids this.",
        link: Some(GOOGLE_WEB_LOGIN_HELP),
        ..ANY
    },
    Rule {
        protocol: SMTP,
        text: &["p=badcredentials"],
        code: Code::AuthRejected,
        summary: "Gmail did not accept the username and password.",
        hint: GMAIL_BAD_CREDENTIALS_HINT,
        link: Some(GMAIL_BAD_CREDENTIALS),
        ..ANY
    },
    // Gmail's IMAP words for the same thing ("(Failure)" is its suffix; Dovecot and others
    // say "Authentication failed."): the generic IMAP rule below would give generic advice.
    Rule {
        protocol: IMAP,
        text: &["invalid credentials (failure)"],
        code: Code::AuthRejected,
        summary: "Gmail did not accept the username and password.",
        hint: GMAIL_BAD_CREDENTIALS_HINT,
        link: Some(GMAIL_BAD_CREDENTIALS),
        ..ANY
    },
    // Yahoo's lockout after repeated failures. Mapped to AuthRejected rather than RateLimited: the
    // cause is bad credentials, and AuthRejected is not transient, so nothing retries
    // automatically (every retry extends the lockout).
    Rule {
        protocol: SMTP,
        text: &["too many bad auth attempts", "#auth005"],
        code: Code::AuthRejected,
        summary: "Yahoo has temporarily locked out logins for this account after too many failed attempts.",
        hint: "Stop retrying for at least an hour so the lockout lapses, then log in with an app password (Yahoo requires one for SMTP and IMAP).",
        link: Some(YAHOO_SECURITY),
        ..ANY
    },
    Rule {
        text: &[
            "sendasdenied",
            "permissions to send as",
            "not allowed to send as",
        ],
        code: Code::SenderRejected,
        summary: "The mailbox you logged in as is not allowed to send as this From address.",
        hint: "Send from the logged-in mailbox's own address, or have an admin grant it Send As permission for the From address.",
        ..ANY
    },
    Rule {
        protocol: IMAP,
        text: &["user is authenticated but not connected"],
        code: Code::AuthRejected,
        summary: "Exchange Online accepted the login but could not open the mailbox.",
        hint: "Check the password (Exchange reports some wrong passwords this way), that an OAuth2 token was issued for this same mailbox with the IMAP.AccessAsUser.All scope, and that IMAP is enabled for the mailbox.",
        ..ANY
    },
    Rule {
        protocol: IMAP,
        text: &["authenticate failed.", "login failed."],
        code: Code::AuthRejected,
        summary: "The IMAP server rejected the login.",
        hint: "Check the username and password; on Microsoft 365 and Outlook.com, password (basic) authentication for IMAP is disabled almost everywhere, so use OAuth2 (XOAUTH2) and check that IMAP is enabled for the mailbox.",
        ..ANY
    },
    // Gmail's [OVERQUOTA] means command/bandwidth limits, not storage: a throttle.
    Rule {
        text: &["command or bandwidth limits", "bandwidth limit"],
        code: Code::RateLimited,
        summary: "Gmail is throttling this account for exceeding its IMAP command or bandwidth limits.",
        hint: "Wait before retrying (the block can last up to a day), poll less often, and stop other tools that download the whole mailbox.",
        link: Some("https://support.google.com/a/answer/1071518"),
        ..ANY
    },
    // --- Texts that name the cause -----------------------------------------------------------
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
        hint: "Connect with TLS: use smtp+starttls://host:587 or smtps://host:465 instead of plain smtp://.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        enhanced: enh(5, 7, 11),
        code: Code::StarttlsUnavailable,
        summary: "The server requires an encrypted connection for this authentication mechanism.",
        hint: "Connect with TLS: use smtp+starttls://host:587 or smtps://host:465 instead of plain smtp://.",
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
        protocol: SMTP,
        text: &[
            "authentication required",
            "p=wantautherror",
            "not authenticated",
        ],
        code: Code::AuthRejected,
        summary: "The server requires you to log in before it accepts mail.",
        hint: "Configure SMTP credentials for this endpoint; submission servers (ports 465 and 587) only accept mail from authenticated users.",
        ..ANY
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
        protocol: SMTP,
        text: &["sender address rejected"],
        code: Code::SenderRejected,
        summary: "The server rejected the envelope sender (MAIL FROM) address.",
        hint: "Send from an address in a domain that exists and that this server lets you use; the server's text names the check that failed.",
        ..ANY
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
        code: Code::OverQuota,
        summary: "The mailbox is over its storage quota.",
        hint: "Free up space in the mailbox (empty Trash and Spam, delete large messages) or raise its quota, then retry.",
        ..ANY
    },
    Rule {
        text: &[
            "[overquota]",
            "over quota",
            "quota exceeded",
            "mailbox is full",
            "mailbox full",
        ],
        code: Code::OverQuota,
        summary: "The mailbox is over its storage quota.",
        hint: "Free up space in the mailbox (empty Trash and Spam, delete large messages) or raise its quota, then retry.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        enhanced: enh(5, 7, 26),
        code: Code::MessageRejected,
        summary: "The receiving server rejected the message because it failed sender authentication (SPF, DKIM or DMARC) for the From domain.",
        hint: "Send through the From domain's own SMTP server, and make sure the domain publishes SPF and DKIM (and DMARC) that cover that server.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::SmtpClass(5),
        text: &["spf", "dkim", "dmarc", "authentication checks"],
        code: Code::MessageRejected,
        summary: "The receiving server rejected the message because it failed sender authentication (SPF, DKIM or DMARC) for the From domain.",
        hint: "Send through the From domain's own SMTP server, and make sure the domain publishes SPF and DKIM (and DMARC) that cover that server.",
        ..ANY
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
    // --- Enhanced status and reply codes -----------------------------------------------------
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
        hint: "Retry the same send in 5 to 15 minutes; a second attempt from the same server is normally accepted.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::RcptTo],
        when: When::SmtpClass(4),
        text: &["try again later", "try later", "retry later"],
        code: Code::Greylisted,
        summary: "The receiving server deferred the recipient for now, most likely greylisting.",
        hint: "Retry the same send in 5 to 15 minutes; a second attempt from the same server is normally accepted.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(504),
        stages: &[Stage::Auth],
        code: Code::AuthMechanismUnsupported,
        summary: "The server does not support the authentication mechanism that was tried.",
        hint: "Use a mechanism the server lists in its EHLO AUTH line; PLAIN and LOGIN are usually offered only after TLS, and some providers accept only XOAUTH2.",
        ..ANY
    },
    Rule {
        protocol: SMTP,
        stages: &[Stage::Auth],
        enhanced: enh(5, 5, 4),
        code: Code::AuthMechanismUnsupported,
        summary: "The server does not support the authentication mechanism that was tried.",
        hint: "Use a mechanism the server lists in its EHLO AUTH line; PLAIN and LOGIN are usually offered only after TLS, and some providers accept only XOAUTH2.",
        ..ANY
    },
    Rule {
        enhanced: enh_any(7, 4),
        code: Code::AuthMechanismUnsupported,
        summary: "The server does not support the authentication mechanism that was tried.",
        hint: "Use a mechanism the server lists in its EHLO AUTH line; PLAIN and LOGIN are usually offered only after TLS, and some providers accept only XOAUTH2.",
        ..ANY
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
        code: Code::AuthRejected,
        summary: "The server rejected the username or password.",
        hint: AUTH_HINT,
        ..ANY
    },
    Rule {
        protocol: SMTP,
        when: When::Smtp(535),
        code: Code::AuthRejected,
        summary: "The server rejected the username or password.",
        hint: AUTH_HINT,
        ..ANY
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
        protocol: SMTP,
        when: When::Smtp(530),
        code: Code::AuthRejected,
        summary: "The server requires you to log in before it accepts mail.",
        hint: "Configure SMTP credentials for this endpoint; submission servers (ports 465 and 587) only accept mail from authenticated users.",
        ..ANY
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
    // --- Stage and class fallbacks -----------------------------------------------------------
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
        protocol: SMTP,
        stages: &[Stage::MailFrom],
        when: When::SmtpClass(5),
        code: Code::SenderRejected,
        summary: "The server rejected the envelope sender (MAIL FROM) address.",
        hint: "Send from an address in a domain that exists and that this server lets you use; the server's text names the check that failed.",
        ..ANY
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

/// One reply as seen by the rule matcher.
struct Observed<'a> {
    protocol: Protocol,
    stage: Stage,
    smtp_code: Option<u16>,
    imap_status: Option<&'a str>,
    enhanced: Option<(u8, u16, u16)>,
    text: &'a str,
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

/// ASCII case-insensitive substring search.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    needle.is_empty()
        || haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn server_text(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn classify(o: &Observed<'_>) -> Option<Diagnosis> {
    RULES.iter().find(|r| r.matches(o)).map(|r| Diagnosis {
        code: r.code,
        summary: r.summary.to_owned(),
        hint: r.hint.to_owned(),
        link: r.link.map(str::to_owned),
        server_text: server_text(o.text),
    })
}

/// Classifies an SMTP reply: basic `code` (e.g. 535), the full reply `text` (all lines joined
/// with "\n", with or without the "535-" line prefixes, including any enhanced status such as
/// "5.7.8 ..."), and the `stage` the client was in.
pub fn classify_smtp(stage: Stage, code: u16, text: &str) -> Diagnosis {
    let enhanced = enhanced_status(text);
    let observed = Observed {
        protocol: Protocol::Smtp,
        stage,
        smtp_code: Some(code),
        imap_status: None,
        enhanced,
        text,
    };
    classify(&observed).unwrap_or_else(|| {
        let status = match enhanced {
            Some((c, s, d)) => format!("{code} {c}.{s}.{d}"),
            None => code.to_string(),
        };
        let what = stage.describe();
        let (summary, hint) = match code / 100 {
            4 => (
                format!("The SMTP server temporarily refused {what} ({status})."),
                "Retry in a few minutes; if it persists, the server's text below says what it objects to.",
            ),
            5 => (
                format!("The SMTP server rejected {what} ({status})."),
                "Read the server's text for the reason; retrying unchanged will fail the same way.",
            ),
            _ => (
                format!("The SMTP server gave an unexpected reply to {what} ({status})."),
                "Check that the endpoint really is an SMTP server and that the TLS mode matches the port.",
            ),
        };
        Diagnosis {
            code: Code::ServerError,
            summary,
            hint: hint.to_owned(),
            link: None,
            server_text: server_text(text),
        }
    })
}

/// Classifies an IMAP tagged NO/BAD or a BYE: `status` ("NO", "BAD", "BYE"), the `text` after it
/// including any response code such as `[AUTHENTICATIONFAILED]` or `[ALERT]`, and the `stage`.
pub fn classify_imap(stage: Stage, status: &str, text: &str) -> Diagnosis {
    let status = status.trim();
    let observed = Observed {
        protocol: Protocol::Imap,
        stage,
        smtp_code: None,
        imap_status: Some(status),
        enhanced: None,
        text,
    };
    classify(&observed).unwrap_or_else(|| {
        let what = stage.describe();
        let (summary, hint) = if status.eq_ignore_ascii_case("BAD") {
            (
                format!("The IMAP server rejected {what} as invalid (BAD)."),
                "This is usually a client/server incompatibility; the server's text below names the problem.",
            )
        } else {
            (
                format!("The IMAP server refused {what} ({status})."),
                "Read the server's text for the reason; retry only if it says the problem is temporary.",
            )
        };
        Diagnosis {
            code: Code::ServerError,
            summary,
            hint: hint.to_owned(),
            link: None,
            server_text: server_text(text),
        }
    })
}

/// Parses an enhanced status code ("5.7.8", RFC 3463) from an SMTP reply text: the first line
/// that starts with one, after an optional "535-" / "535 " reply-code prefix.
pub fn enhanced_status(text: &str) -> Option<(u8, u16, u16)> {
    text.lines().find_map(|line| {
        let line = line.trim_start();
        let rest = match line.as_bytes() {
            [a, b, c, sep, ..]
                if a.is_ascii_digit()
                    && b.is_ascii_digit()
                    && c.is_ascii_digit()
                    && (*sep == b'-' || *sep == b' ') =>
            {
                line.get(4..).unwrap_or_default()
            }
            _ => line,
        };
        let token = rest.split_whitespace().next()?;
        parse_enhanced(token)
    })
}

fn parse_enhanced(token: &str) -> Option<(u8, u16, u16)> {
    let mut parts = token.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let class = match class {
        "2" => 2,
        "4" => 4,
        "5" => 5,
        _ => return None,
    };
    Some((class, number(subject, 3)?, number(detail, 3)?))
}

/// Diagnosis for a transport-level failure with no server reply (DNS, refused, timeout, TLS),
/// built from the `code`, the `endpoint` ("host:port") and a `detail` such as the io error.
pub fn transport(code: Code, protocol: Protocol, endpoint: &str, detail: &str) -> Diagnosis {
    let p = protocol.label();
    let tls_forms = protocol.tls_forms();
    let ports = match protocol {
        Protocol::Smtp => {
            "SMTP submission uses 587 (STARTTLS) or 465 (implicit TLS); port 25 is for server-to-server mail"
        }
        Protocol::Imap => "IMAP uses 993 (implicit TLS) or 143 (STARTTLS)",
    };
    let (summary, hint) = match code {
        Code::DnsFailed => (
            format!("Could not resolve the {p} server's host name in {endpoint}"),
            "Check the host name in the endpoint URL for typos and that this machine's DNS works (try `dig` or `nslookup` on the name).".to_owned(),
        ),
        Code::ConnectRefused => (
            format!("Nothing accepts {p} connections at {endpoint} (connection refused)"),
            format!("Check the port ({ports}), that the server is running, and that no firewall rejects the connection."),
        ),
        Code::ConnectTimeout => (
            format!("Timed out connecting to the {p} server at {endpoint}"),
            format!("A firewall is probably dropping the traffic (many networks and clouds block outbound port 25) or the host or port is wrong; {ports}."),
        ),
        Code::TlsHandshakeFailed => (
            format!("The TLS handshake with the {p} server at {endpoint} failed"),
            format!("Check that the URL's TLS mode matches the port ({tls_forms}) and that the server supports a current TLS version."),
        ),
        Code::TlsCertificateInvalid => (
            format!("The {p} server at {endpoint} presented a certificate that could not be verified"),
            "Connect using the host name the certificate was issued for, or fix the server's certificate chain; trust a self-signed certificate only deliberately, for test servers.".to_owned(),
        ),
        Code::TlsModeMismatch => (
            format!("The {p} server at {endpoint} does not speak the TLS mode the URL asked for"),
            format!("Match the URL to the port: {tls_forms}."),
        ),
        Code::StarttlsUnavailable => (
            format!("The {p} server at {endpoint} does not offer STARTTLS"),
            format!("Use implicit TLS if the server offers it ({tls_forms}); credentials are never sent over plaintext."),
        ),
        Code::Timeout => (
            format!("The {p} server at {endpoint} stopped responding"),
            "Retry; if it recurs, the network path or the server is slow, and a longer timeout may help.".to_owned(),
        ),
        Code::ConnectionClosed => (
            format!("The {p} server at {endpoint} closed the connection unexpectedly"),
            format!("Retry; if it happens right after connecting, the port probably expects a different TLS mode ({tls_forms}) or the server refuses your IP."),
        ),
        other => (
            format!("The {p} connection to {endpoint} failed ({other})"),
            "Retry; if it persists, the detail below says what failed.".to_owned(),
        ),
    };
    let detail = detail.trim();
    let summary = if detail.is_empty() {
        format!("{summary}.")
    } else {
        format!("{summary}: {}.", detail.trim_end_matches('.'))
    };
    Diagnosis {
        code,
        summary,
        hint,
        link: None,
        server_text: None,
    }
}

/// A TLS mode mismatch (e.g. STARTTLS used against an implicit-TLS port) with the endpoint URL
/// the user should use instead, e.g. `suggested_scheme = "smtps://host:465"`.
pub fn tls_mode_mismatch(
    protocol: Protocol,
    endpoint: &str,
    detected: &str,
    suggested_scheme: &str,
) -> Diagnosis {
    let detected = detected.trim().trim_end_matches('.');
    Diagnosis {
        code: Code::TlsModeMismatch,
        summary: format!(
            "Wrong TLS mode for the {} server at {endpoint}: {detected}.",
            protocol.label()
        ),
        hint: format!(
            "Use {suggested_scheme} instead; implicit TLS and STARTTLS are different modes and each port expects one ({}).",
            protocol.tls_forms()
        ),
        link: None,
        server_text: None,
    }
}

/// A port that answered with an HTTP status line (`status_line`) where a mail server was
/// expected: a web server on that port, or the wrong port number.
pub fn speaks_http(protocol: Protocol, endpoint: &str, status_line: &str) -> Diagnosis {
    let p = protocol.label();
    Diagnosis {
        code: Code::NotAMailServer,
        summary: format!(
            "The server at {endpoint} speaks HTTP, not {p}: it answered {:?}.",
            status_line.trim()
        ),
        hint: format!(
            "This port belongs to a web server or proxy, not a mail server: check the host and \
             the port number of the {p} URL ({}).",
            match protocol {
                Protocol::Smtp => "SMTP submission listens on 587 or 465",
                Protocol::Imap => "IMAP listens on 993 or 143",
            }
        ),
        link: None,
        server_text: None,
    }
}

/// Why a TLS certificate failed verification, read from the TLS library's error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertProblem {
    /// The certificate's validity period has ended.
    Expired,
    /// The certificate's validity period has not started.
    NotYetValid,
    /// The certificate does not name the host that was connected to.
    WrongName,
    /// The certificate does not chain to a trusted root (self-signed, private CA, missing
    /// intermediate).
    UnknownIssuer,
    /// Another verification failure (revoked, wrong key usage, ...).
    Other,
}

/// OpenSSL's verify-result texts (as native-tls appends them in parentheses), first match wins.
const CERT_TEXTS: &[(&str, CertProblem)] = &[
    ("certificate has expired", CertProblem::Expired),
    ("certificate is not yet valid", CertProblem::NotYetValid),
    ("hostname mismatch", CertProblem::WrongName),
    ("ip address mismatch", CertProblem::WrongName),
    ("email address mismatch", CertProblem::WrongName),
    (
        "unable to get local issuer certificate",
        CertProblem::UnknownIssuer,
    ),
    (
        "unable to get issuer certificate",
        CertProblem::UnknownIssuer,
    ),
    (
        "unable to verify the first certificate",
        CertProblem::UnknownIssuer,
    ),
    ("self-signed certificate", CertProblem::UnknownIssuer),
    ("self signed certificate", CertProblem::UnknownIssuer),
    ("certificate verify failed", CertProblem::Other),
    ("certificate", CertProblem::Other),
];

impl CertProblem {
    /// The snake_case name, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            CertProblem::Expired => "expired",
            CertProblem::NotYetValid => "not_yet_valid",
            CertProblem::WrongName => "wrong_name",
            CertProblem::UnknownIssuer => "unknown_issuer",
            CertProblem::Other => "other",
        }
    }

    /// The certificate problem a TLS error text describes, if it describes one.
    pub fn from_tls_error(text: &str) -> Option<CertProblem> {
        CERT_TEXTS
            .iter()
            .find(|(needle, _)| contains_ci(text, needle))
            .map(|(_, problem)| *problem)
    }
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `tls_certificate_invalid` with the reason: what is wrong with the certificate the server at
/// `endpoint` presented and what to do, plus the TLS library's `detail`.
pub fn tls_certificate(
    protocol: Protocol,
    endpoint: &str,
    problem: CertProblem,
    detail: &str,
) -> Diagnosis {
    let p = protocol.label();
    let (what, hint) = match problem {
        CertProblem::Expired => (
            "an expired certificate",
            "The server's administrator must renew the certificate (an ACME client such as certbot renews automatically); until then every client refuses it. Check this machine's clock too.",
        ),
        CertProblem::NotYetValid => (
            "a certificate that is not valid yet",
            "Check this machine's clock and time zone; if the clock is right, the server's certificate was issued with a future start date.",
        ),
        CertProblem::WrongName => (
            "a certificate issued for a different host name",
            "Connect using a host name the certificate names (see its names below; providers publish the exact host to use), or have the server's administrator add this name to the certificate.",
        ),
        CertProblem::UnknownIssuer => (
            "a certificate that does not chain to a trusted root (self-signed, a private CA, or a missing intermediate)",
            "If the server uses a private CA, trust it with --ca-file; otherwise the server's administrator must send the full chain (leaf plus intermediates).",
        ),
        CertProblem::Other => (
            "a certificate that could not be verified",
            "Connect using the host name the certificate was issued for, or fix the server's certificate chain; trust a self-signed certificate only deliberately, for test servers.",
        ),
    };
    let detail = detail.trim().trim_end_matches('.');
    let summary = if detail.is_empty() {
        format!("The {p} server at {endpoint} presented {what}.")
    } else {
        format!("The {p} server at {endpoint} presented {what}: {detail}.")
    };
    Diagnosis {
        code: Code::TlsCertificateInvalid,
        summary,
        hint: hint.to_owned(),
        link: None,
        server_text: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    struct Fixture {
        name: String,
        protocol: Protocol,
        stage: Stage,
        smtp_code: Option<u16>,
        imap_status: Option<String>,
        expect: Code,
        link: Option<String>,
        body: String,
    }

    fn parse_stage(s: &str) -> Stage {
        match s {
            "greeting" => Stage::Greeting,
            "ehlo" => Stage::Ehlo,
            "starttls" => Stage::StartTls,
            "auth" => Stage::Auth,
            "mail_from" => Stage::MailFrom,
            "rcpt_to" => Stage::RcptTo,
            "data" => Stage::Data,
            "login" => Stage::Login,
            "select" => Stage::Select,
            "other" => Stage::Other,
            other => panic!("unknown stage {other:?}"),
        }
    }

    fn parse_fixture(path: &Path) -> Fixture {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let raw = std::fs::read_to_string(path).unwrap();
        let (header, body) = raw
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("{name}: no blank line after the header"));
        let mut protocol = None;
        let mut stage = None;
        let mut smtp_code = None;
        let mut imap_status = None;
        let mut expect = None;
        let mut link = None;
        for line in header.lines() {
            let (key, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("{name}: bad header line {line:?}"));
            let value = value.trim();
            match key.trim() {
                "protocol" => {
                    protocol = Some(match value {
                        "smtp" => Protocol::Smtp,
                        "imap" => Protocol::Imap,
                        other => panic!("{name}: unknown protocol {other:?}"),
                    })
                }
                "stage" => stage = Some(parse_stage(value)),
                "code" => smtp_code = Some(value.parse().unwrap()),
                "status" => imap_status = Some(value.to_owned()),
                "expect" => {
                    expect = Some(
                        serde_json::from_value(serde_json::Value::String(value.to_owned()))
                            .unwrap_or_else(|e| panic!("{name}: bad expect {value:?}: {e}")),
                    )
                }
                "link" => link = Some(value.to_owned()),
                "note" => {}
                other => panic!("{name}: unknown header {other:?}"),
            }
        }
        let protocol = protocol.unwrap_or_else(|| panic!("{name}: missing protocol"));
        match protocol {
            Protocol::Smtp => assert!(smtp_code.is_some(), "{name}: smtp fixture needs code"),
            Protocol::Imap => assert!(imap_status.is_some(), "{name}: imap fixture needs status"),
        }
        Fixture {
            protocol,
            stage: stage.unwrap_or_else(|| panic!("{name}: missing stage")),
            smtp_code,
            imap_status,
            expect: expect.unwrap_or_else(|| panic!("{name}: missing expect")),
            link,
            body: body.trim_end_matches(['\n', '\r']).to_owned(),
            name,
        }
    }

    /// Drops the "535-" / "535 " prefix of every line, as a client library may already do.
    fn strip_reply_codes(text: &str) -> String {
        text.lines()
            .map(|l| match l.as_bytes() {
                [a, b, c, b'-' | b' ', ..]
                    if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() =>
                {
                    &l[4..]
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn classify_fixture(f: &Fixture, text: &str) -> Diagnosis {
        match f.protocol {
            Protocol::Smtp => classify_smtp(f.stage, f.smtp_code.unwrap(), text),
            Protocol::Imap => classify_imap(f.stage, f.imap_status.as_deref().unwrap(), text),
        }
    }

    /// Issue 18 item 3: Gmail's real refusals, on either protocol, name a wrong app password
    /// and one pasted with spaces among the causes.
    #[test]
    fn gmail_bad_credentials_name_a_spaced_or_wrong_app_password() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replies");
        for name in [
            "gmail-smtp-bad-credentials.txt",
            "gmail-imap-authentication-failed.txt",
        ] {
            let f = parse_fixture(&dir.join(name));
            let d = classify_fixture(&f, &f.body);
            assert_eq!(d.code, Code::AuthRejected, "{name}");
            assert!(d.summary.contains("Gmail"), "{name}: {}", d.summary);
            for cause in ["wrong", "revoked", "pasted with spaces", "app password"] {
                assert!(
                    d.hint.contains(cause),
                    "{name}: {cause:?} not in {}",
                    d.hint
                );
            }
        }
        // Dovecot's refusal keeps the generic advice.
        let d = classify_imap(
            Stage::Login,
            "NO",
            "[AUTHENTICATIONFAILED] Authentication failed.",
        );
        assert!(!d.summary.contains("Gmail"), "{}", d.summary);
    }

    #[test]
    fn every_fixture_classifies_as_expected() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replies");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        paths.sort();
        assert!(
            paths.len() >= 30,
            "expected at least 30 fixtures, found {}",
            paths.len()
        );
        let mut failures = Vec::new();
        for path in &paths {
            let f = parse_fixture(path);
            let d = classify_fixture(&f, &f.body);
            if d.code != f.expect {
                failures.push(format!(
                    "{}: expected {}, got {} ({})",
                    f.name, f.expect, d.code, d.summary
                ));
                continue;
            }
            assert!(!d.summary.trim().is_empty(), "{}: empty summary", f.name);
            assert!(!d.hint.trim().is_empty(), "{}: empty hint", f.name);
            assert_eq!(d.server_text.as_deref(), Some(f.body.trim()), "{}", f.name);
            if let Some(link) = &f.link {
                assert_eq!(d.link.as_deref(), Some(link.as_str()), "{}: link", f.name);
            }
            if f.protocol == Protocol::Smtp {
                let stripped = strip_reply_codes(&f.body);
                let again = classify_fixture(&f, &stripped);
                if again.code != f.expect {
                    failures.push(format!(
                        "{} (without reply-code prefixes): expected {}, got {}",
                        f.name, f.expect, again.code
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "fixture mismatches:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn enhanced_status_parses_with_and_without_prefix() {
        assert_eq!(
            enhanced_status("5.7.8 Username and Password not accepted"),
            Some((5, 7, 8))
        );
        assert_eq!(
            enhanced_status("535-5.7.8 Username and Password not accepted.\n535 5.7.8  https://x"),
            Some((5, 7, 8))
        );
        assert_eq!(
            enhanced_status("535 5.7.139 Authentication unsuccessful"),
            Some((5, 7, 139))
        );
        assert_eq!(enhanced_status("452 4.2.2 over quota"), Some((4, 2, 2)));
        assert_eq!(enhanced_status("250 2.0.0 OK"), Some((2, 0, 0)));
        assert_eq!(
            enhanced_status("Error: no enhanced code\n550 5.1.1 unknown"),
            Some((5, 1, 1))
        );
    }

    #[test]
    fn enhanced_status_rejects_non_codes() {
        assert_eq!(enhanced_status(""), None);
        assert_eq!(enhanced_status("535 Authentication failed"), None);
        assert_eq!(enhanced_status("Postfix 3.7.1 ready"), None);
        assert_eq!(enhanced_status("3.7.1 not a class"), None);
        assert_eq!(enhanced_status("5.7 too short"), None);
        assert_eq!(enhanced_status("5.7.8.1 too long"), None);
        assert_eq!(enhanced_status("5.1234.1 subject too long"), None);
        assert_eq!(enhanced_status("5.a.1 not digits"), None);
    }

    #[test]
    fn code_names_match_serde() {
        for code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(code.to_string(), code.as_str());
            let back: Code = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn transient_codes() {
        let transient: Vec<_> = Code::ALL.into_iter().filter(Code::is_transient).collect();
        assert_eq!(
            transient,
            [
                Code::ConnectTimeout,
                Code::TooManyConnections,
                Code::Greylisted,
                Code::RateLimited,
                Code::Timeout,
                Code::ConnectionClosed,
            ]
        );
    }

    #[test]
    fn every_rule_has_text_and_a_condition() {
        for (i, rule) in RULES.iter().enumerate() {
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

    #[test]
    fn fallbacks_by_class_and_stage() {
        let d = classify_smtp(Stage::Other, 500, "500 5.5.1 Command unrecognized");
        assert_eq!(d.code, Code::ServerError);
        assert!(d.summary.contains("500 5.5.1"), "{}", d.summary);

        let d = classify_smtp(Stage::Data, 451, "451 4.3.0 Error: queue file write error");
        assert_eq!(d.code, Code::ServerError);
        assert!(d.summary.contains("temporarily"), "{}", d.summary);

        assert_eq!(
            classify_smtp(Stage::RcptTo, 550, "550 No such user here").code,
            Code::RecipientRejected
        );
        assert_eq!(
            classify_smtp(Stage::MailFrom, 553, "553 sorry, that domain isn't allowed").code,
            Code::SenderRejected
        );
        assert_eq!(
            classify_smtp(Stage::Data, 554, "554 Transaction failed").code,
            Code::MessageRejected
        );
        assert_eq!(
            classify_smtp(Stage::Auth, 535, "535 nope").code,
            Code::AuthRejected
        );
        assert_eq!(
            classify_smtp(
                Stage::Auth,
                534,
                "534 5.7.9 Authentication mechanism is too weak"
            )
            .code,
            Code::AuthMechanismUnsupported
        );
        assert_eq!(
            classify_smtp(Stage::Auth, 504, "504 Unrecognized authentication type").code,
            Code::AuthMechanismUnsupported
        );
        assert_eq!(
            classify_smtp(Stage::Auth, 504, "504 5.5.4 Unsupported").code,
            Code::AuthMechanismUnsupported
        );
        assert_eq!(
            classify_smtp(Stage::Greeting, 421, "421 Service not available").code,
            Code::ConnectionClosed
        );
        assert_eq!(
            classify_smtp(Stage::RcptTo, 552, "552 Requested mail action aborted").code,
            Code::OverQuota
        );
        assert_eq!(
            classify_smtp(Stage::RcptTo, 452, "452 4.5.3 Too many recipients").code,
            Code::RateLimited
        );
        assert_eq!(
            classify_smtp(Stage::StartTls, 502, "502 5.5.1 Unrecognized command").code,
            Code::StarttlsUnavailable
        );

        assert_eq!(
            classify_imap(Stage::Login, "NO", "Nope.").code,
            Code::AuthRejected
        );
        assert_eq!(
            classify_imap(Stage::Select, "no", "Cannot open").code,
            Code::ServerError
        );
        assert_eq!(
            classify_imap(Stage::Other, "BYE", "Server shutting down.").code,
            Code::ConnectionClosed
        );
        let d = classify_imap(
            Stage::Other,
            "BAD",
            "Error in IMAP command: Unknown command.",
        );
        assert_eq!(d.code, Code::ServerError);
        assert!(d.summary.contains("BAD"), "{}", d.summary);
    }

    #[test]
    fn empty_text_has_no_server_text() {
        let d = classify_smtp(Stage::Auth, 535, "  \n");
        assert_eq!(d.code, Code::AuthRejected);
        assert_eq!(d.server_text, None);
    }

    #[test]
    fn transport_diagnoses_name_endpoint_and_detail() {
        for code in Code::ALL {
            for protocol in [Protocol::Smtp, Protocol::Imap] {
                let d = transport(
                    code,
                    protocol,
                    "127.0.0.1:25",
                    "Connection refused (os error 111)",
                );
                assert_eq!(d.code, code);
                assert!(d.summary.contains("127.0.0.1:25"), "{}", d.summary);
                assert!(d.summary.contains("os error 111"), "{}", d.summary);
                assert!(!d.hint.is_empty());
                assert_eq!(d.server_text, None);
            }
        }
        let d = transport(Code::ConnectRefused, Protocol::Smtp, "127.0.0.1:25", "");
        assert!(
            d.summary.ends_with("(connection refused)."),
            "{}",
            d.summary
        );
    }

    #[test]
    fn tls_mode_mismatch_suggests_the_url() {
        let d = tls_mode_mismatch(
            Protocol::Smtp,
            "smtp.gmail.com:465",
            "the server began a TLS handshake instead of a plaintext greeting",
            "smtps://smtp.gmail.com:465",
        );
        assert_eq!(d.code, Code::TlsModeMismatch);
        assert!(d.summary.contains("TLS handshake"), "{}", d.summary);
        assert!(d.hint.contains("smtps://smtp.gmail.com:465"), "{}", d.hint);
    }

    #[test]
    fn diagnosis_serializes_without_empty_options() {
        let d = transport(
            Code::DnsFailed,
            Protocol::Imap,
            "imap.invalid:993",
            "no such host",
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["code"], "dns_failed");
        assert!(json.get("link").is_none());
        assert!(json.get("server_text").is_none());
    }

    /// The texts native-tls (OpenSSL) gives for the embedded server's broken certificates and
    /// for common real-world failures.
    #[test]
    fn certificate_problems_from_openssl_texts() {
        let cases = [
            (
                "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:2091: (certificate has expired)",
                Some(CertProblem::Expired),
            ),
            (
                "error:0A000086:SSL routines::certificate verify failed (hostname mismatch)",
                Some(CertProblem::WrongName),
            ),
            (
                "error:0A000086:SSL routines::certificate verify failed (IP address mismatch)",
                Some(CertProblem::WrongName),
            ),
            (
                "error:0A000086:SSL routines::certificate verify failed (unable to get local issuer certificate)",
                Some(CertProblem::UnknownIssuer),
            ),
            (
                "error:0A000086:SSL routines::certificate verify failed (self-signed certificate)",
                Some(CertProblem::UnknownIssuer),
            ),
            (
                "error:0A000086:SSL routines::certificate verify failed (certificate is not yet valid)",
                Some(CertProblem::NotYetValid),
            ),
            (
                "error:0A000086:SSL routines::certificate verify failed (certificate revoked)",
                Some(CertProblem::Other),
            ),
            ("error:0A00010B:SSL routines::wrong version number", None),
        ];
        for (text, want) in cases {
            assert_eq!(CertProblem::from_tls_error(text), want, "{text}");
        }
        let d = tls_certificate(
            Protocol::Imap,
            "h:993",
            CertProblem::Expired,
            "x (certificate has expired)",
        );
        assert_eq!(d.code, Code::TlsCertificateInvalid);
        assert!(
            d.summary.contains("expired certificate") && d.summary.contains("h:993"),
            "{}",
            d.summary
        );
        assert!(d.hint.contains("renew"), "{}", d.hint);
        let json = serde_json::to_string(&CertProblem::WrongName).unwrap();
        assert_eq!(json, format!("\"{}\"", CertProblem::WrongName.as_str()));
    }

    /// Issue #20: Microsoft's reply once basic SMTP AUTH is off points at `mailtrip login`.
    #[test]
    fn basic_auth_disabled_hint_points_at_mailtrip_login_issue_20() {
        let d = classify_smtp(
            Stage::Auth,
            550,
            "5.7.30 Basic authentication is not supported for Client Submission",
        );
        assert_eq!(d.code, Code::BasicAuthDisabled);
        assert!(d.hint.contains("mailtrip login"), "{}", d.hint);
        assert!(Code::SignInRequired.is_credential_refusal());
    }
}
