//! The rules that recognise one provider's own words (Microsoft 365, Gmail, Yahoo, Exchange):
//! they come first, so a provider's specific advice and help link win over generic ones.

use super::{ANY, IMAP, Rule, SMTP};
use crate::diagnose::Code;

const GOOGLE_APP_PASSWORD_HELP: &str = "https://support.google.com/accounts/answer/185833";
const GMAIL_BAD_CREDENTIALS_HELP: &str = "https://support.google.com/mail/?p=BadCredentials";
const GMAIL_BAD_CREDENTIALS_HINT: &str = "Use the full email address as the username and an app \
     password (16 letters, from https://myaccount.google.com/apppasswords; needs 2-Step \
     Verification) or OAuth2: Google no longer accepts the account password from mail clients. \
     With an app password, the usual causes are a wrong or revoked one, or one pasted with \
     spaces or other extra characters (mailtrip removes the spaces of Google's four-groups form \
     only for the gmail and google-workspace presets): copy it again, or create a new one.";
const GOOGLE_WEB_LOGIN_HELP: &str = "https://support.google.com/mail/answer/78754";
const MS_SMTP_AUTH_DISABLED: &str = "https://aka.ms/smtp_auth_disabled";
const YAHOO_SECURITY: &str = "https://login.yahoo.com/account/security";

/// Gmail refusing the password, in its SMTP words (`p=BadCredentials`) or its IMAP ones.
const GMAIL_BAD_CREDENTIALS: Rule = Rule {
    code: Code::AuthRejected,
    summary: "Gmail did not accept the username and password.",
    hint: GMAIL_BAD_CREDENTIALS_HINT,
    link: Some(GMAIL_BAD_CREDENTIALS_HELP),
    ..ANY
};

/// Provider-specific texts, in the order they are tried.
pub(super) static RULES: &[Rule] = &[
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
        ..GMAIL_BAD_CREDENTIALS
    },
    // Gmail's IMAP words for the same thing ("(Failure)" is its suffix; Dovecot and others
    // say "Authentication failed."): the generic IMAP rule below would give generic advice.
    Rule {
        protocol: IMAP,
        text: &["invalid credentials (failure)"],
        ..GMAIL_BAD_CREDENTIALS
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
];
