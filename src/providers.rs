//! Built-in presets for common mail providers: endpoint URLs, how to authenticate, and the quirks
//! that change how a probe must be sent, found and cleaned up. Data only; nothing here does I/O.

use serde::Serialize;

pub mod oauth2;

/// What mailtrip knows about one provider.
#[derive(Debug, Clone, Serialize)]
pub struct Preset {
    /// Canonical name, as given on the command line ("gmail").
    pub name: &'static str,
    /// Other accepted names, matched case-insensitively like `name`.
    pub aliases: &'static [&'static str],
    /// Human name ("Gmail").
    pub display: &'static str,
    /// SMTP submission endpoint URL, e.g. "smtps://smtp.gmail.com:465"; empty when unknown.
    pub smtp: &'static str,
    /// IMAP endpoint URL, e.g. "imaps://imap.gmail.com:993"; empty when unknown.
    pub imap: &'static str,
    /// How to authenticate (app password, OAuth2 only, ...).
    pub auth_notes: &'static str,
    /// Where to create an app password, when the provider has them.
    pub app_password_url: Option<&'static str>,
    /// Usual junk folder name; only a hint, the folder flagged `\Junk` (SPECIAL-USE) wins.
    pub junk_folder_hint: Option<&'static str>,
    /// Behaviour that affects sending, finding or cleaning up probes.
    pub quirks: &'static [&'static str],
    /// Whether EXPUNGE in INBOX only archives (the message stays in another folder).
    pub expunge_archives: bool,
    /// Documented limit on simultaneous IMAP connections per account, when known.
    pub max_imap_connections: Option<u32>,
    /// Polite minimum interval between probes for repeated runs (load, monitor).
    pub min_probe_interval_secs: u32,
}

const GMAIL_QUIRKS: &[&str] = &[
    "EXPUNGE in INBOX archives to All Mail: clean up by moving to [Gmail]/Trash",
    "mail sent to yourself never crosses the inbound path, so it cannot show spam filtering",
    "at most 15 simultaneous IMAP connections per account",
    "IMAP downloads are limited to about 2500 MB per day; exceeding it answers [OVERQUOTA] and blocks IMAP for a while",
    "folder names under [Gmail]/ vary by account and language (e.g. [Google Mail]/...); find them by SPECIAL-USE",
    "app passwords are shown as four groups of four letters (abcd efgh ijkl mnop) but work only without the spaces: mailtrip removes them",
];

/// What a preset has unless it says otherwise: no app-password page, no junk folder hint, no
/// quirks, an EXPUNGE that deletes, no known connection limit, and a probe a minute at most.
const USUAL: Preset = Preset {
    name: "",
    aliases: &[],
    display: "",
    smtp: "",
    imap: "",
    auth_notes: "",
    app_password_url: None,
    junk_folder_hint: None,
    quirks: &[],
    expunge_archives: false,
    max_imap_connections: None,
    min_probe_interval_secs: 60,
};

/// Gmail; Google Workspace is the same servers, limits and quirks under other names.
const GMAIL: Preset = Preset {
    name: "gmail",
    aliases: &["googlemail"],
    display: "Gmail",
    smtp: "smtps://smtp.gmail.com:465",
    imap: "imaps://imap.gmail.com:993",
    auth_notes: "Use an app password (needs 2-Step Verification; help: https://support.google.com/accounts/answer/185833) or OAuth2 (XOAUTH2); the account password is not accepted from mail clients.",
    app_password_url: Some("https://myaccount.google.com/apppasswords"),
    junk_folder_hint: Some("[Gmail]/Spam"),
    quirks: GMAIL_QUIRKS,
    expunge_archives: true,
    max_imap_connections: Some(15),
    ..USUAL
};

/// All presets; `generic` is last and has no endpoints.
pub static PRESETS: &[Preset] = &[
    GMAIL,
    Preset {
        name: "google-workspace",
        aliases: &["gsuite", "google-apps"],
        display: "Google Workspace",
        auth_notes: "Use an app password (needs 2-Step Verification) or OAuth2 (XOAUTH2); an administrator can turn off IMAP access or app passwords for the organization.",
        ..GMAIL
    },
    Preset {
        name: "outlook",
        aliases: &["office365", "hotmail", "microsoft365"],
        display: "Outlook / Microsoft 365",
        smtp: "smtp+starttls://smtp.office365.com:587",
        imap: "imaps://outlook.office365.com:993",
        auth_notes: "Microsoft is retiring basic (password) authentication: SMTP AUTH with a password is often disabled per tenant and IMAP needs OAuth2 (XOAUTH2) almost everywhere; use OAuth2, or have an admin enable Authenticated SMTP for the mailbox.",
        junk_folder_hint: Some("Junk Email"),
        quirks: &[
            "SMTP AUTH disabled for the tenant or mailbox answers 535 5.7.139; see https://aka.ms/smtp_auth_disabled",
            "the logged-in mailbox may only send as its own address unless granted Send As (SendAsDeniedException)",
            "Exchange Online can accept LOGIN and then answer every command with 'User is authenticated but not connected'",
        ],
        ..USUAL
    },
    Preset {
        name: "yahoo",
        display: "Yahoo Mail",
        smtp: "smtps://smtp.mail.yahoo.com:465",
        imap: "imaps://imap.mail.yahoo.com:993",
        auth_notes: "Use an app password generated on the Yahoo account security page; the account password is not accepted from mail clients.",
        app_password_url: Some("https://login.yahoo.com/account/security"),
        quirks: &[
            "repeated failed logins trigger a temporary lockout (535 5.7.0 (#AUTH005) Too many bad auth attempts); wait before retrying",
        ],
        ..USUAL
    },
    Preset {
        name: "icloud",
        aliases: &["apple"],
        display: "iCloud Mail",
        smtp: "smtp+starttls://smtp.mail.me.com:587",
        imap: "imaps://imap.mail.me.com:993",
        auth_notes: "Use an app-specific password (needs two-factor authentication for the Apple Account); the SMTP username is the full iCloud email address.",
        app_password_url: Some("https://support.apple.com/en-us/102654"),
        junk_folder_hint: Some("Junk"),
        ..USUAL
    },
    Preset {
        name: "fastmail",
        display: "Fastmail",
        smtp: "smtps://smtp.fastmail.com:465",
        imap: "imaps://imap.fastmail.com:993",
        auth_notes: "Use an app password with IMAP and SMTP access; the account password does not work for mail clients.",
        app_password_url: Some("https://www.fastmail.help/hc/en-us/articles/360058752854"),
        ..USUAL
    },
    Preset {
        name: "zoho",
        aliases: &["zohomail"],
        display: "Zoho Mail",
        smtp: "smtps://smtp.zoho.com:465",
        imap: "imaps://imap.zoho.com:993",
        auth_notes: "Use the account password, or an application-specific password when two-factor authentication is on; IMAP access must be enabled in the Zoho Mail settings.",
        quirks: &[
            "accounts in other data centres use regional hosts (e.g. smtp.zoho.eu, imap.zoho.eu)",
            "organization (custom domain) accounts use smtppro.zoho.com and imappro.zoho.com",
        ],
        ..USUAL
    },
    Preset {
        name: "gmx",
        aliases: &["gmx.net", "gmx.de"],
        display: "GMX",
        smtp: "smtp+starttls://mail.gmx.net:587",
        imap: "imaps://imap.gmx.net:993",
        auth_notes: "Use the account password; IMAP/POP access must first be enabled in the GMX mail settings.",
        quirks: &[
            "these are the gmx.net hosts; GMX accounts from other countries may use other host names",
        ],
        ..USUAL
    },
    Preset {
        name: "mailbox.org",
        aliases: &["mailbox", "mailboxorg"],
        display: "mailbox.org",
        smtp: "smtps://smtp.mailbox.org:465",
        imap: "imaps://imap.mailbox.org:993",
        auth_notes: "Log in with the full email address and the account password.",
        ..USUAL
    },
    Preset {
        name: "generic",
        aliases: &["custom", "other"],
        display: "Generic server",
        smtp: "",
        imap: "",
        auth_notes: "No preset endpoints: give --smtp and --imap URLs, e.g. smtps://mail.example.com:465 and imaps://mail.example.com:993.",
        min_probe_interval_secs: 30,
        ..USUAL
    },
];

impl Preset {
    /// How `mailtrip login` signs in to this provider, when it can.
    pub fn oauth2(&self) -> Option<&'static oauth2::OAuth2Preset> {
        oauth2::for_preset(self.name)
    }
}

/// Finds a preset by name or alias, ignoring ASCII case and surrounding whitespace.
pub fn find(name: &str) -> Option<&'static Preset> {
    let name = name.trim();
    PRESETS.iter().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Whether this preset's app passwords are shown in groups with spaces that the servers
/// refuse (Google's "abcd efgh ijkl mnop"); see [`ungroup_app_password`].
pub fn groups_app_passwords(preset: &Preset) -> bool {
    matches!(preset.name, "gmail" | "google-workspace")
}

/// The 16 letters of an app password pasted the way Google shows it: four groups of four
/// letters separated by single spaces (or no-break spaces, as copied from a web page), with
/// any surrounding whitespace. `None` for anything else, which is left as given.
pub fn ungroup_app_password(password: &str) -> Option<String> {
    let groups: Vec<&str> = password.trim().split([' ', '\u{a0}']).collect();
    let grouped = groups.len() == 4
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_alphabetic()));
    grouped.then(|| groups.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Issue 18 item 3: Google's 4x4 display form loses its spaces; nothing else changes.
    #[test]
    fn app_passwords_lose_the_spaces_google_shows() {
        let ungrouped = Some("abcdefghijklmnop".to_string());
        assert_eq!(ungroup_app_password("abcd efgh ijkl mnop"), ungrouped);
        assert_eq!(ungroup_app_password(" abcd efgh ijkl mnop\n"), ungrouped);
        assert_eq!(
            ungroup_app_password("abcd\u{a0}efgh\u{a0}ijkl\u{a0}mnop"),
            ungrouped
        );
        for left in [
            "abcdefghijklmnop",
            "abcd efgh ijkl",
            "abcd efgh ijkl mnop qrst",
            "abcd  efgh ijkl mnop",
            "ab1d efgh ijkl mnop",
            "my pass word 1234",
            "",
        ] {
            assert_eq!(ungroup_app_password(left), None, "{left:?}");
        }
        let google: Vec<&str> = PRESETS
            .iter()
            .filter(|p| groups_app_passwords(p))
            .map(|p| p.name)
            .collect();
        assert_eq!(google, ["gmail", "google-workspace"]);
    }

    /// Checks "scheme://host:port" with one of the allowed schemes and a numeric port.
    fn assert_endpoint(preset: &str, url: &str, schemes: &[&str]) {
        let (scheme, rest) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("{preset}: {url} has no scheme"));
        assert!(
            schemes.contains(&scheme),
            "{preset}: {url} scheme not in {schemes:?}"
        );
        let (host, port) = rest
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{preset}: {url} has no port"));
        assert!(
            !host.is_empty() && !host.contains('/'),
            "{preset}: bad host in {url}"
        );
        let port: u16 = port
            .parse()
            .unwrap_or_else(|_| panic!("{preset}: bad port in {url}"));
        assert!(port > 0, "{preset}: port 0 in {url}");
    }

    #[test]
    fn endpoints_have_tls_schemes_and_explicit_ports() {
        for p in PRESETS {
            if p.name == "generic" {
                assert!(p.smtp.is_empty() && p.imap.is_empty());
                continue;
            }
            assert_endpoint(p.name, p.smtp, &["smtps", "smtp+starttls"]);
            assert_endpoint(p.name, p.imap, &["imaps", "imap+starttls"]);
        }
    }

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = HashSet::new();
        for p in PRESETS {
            for n in std::iter::once(&p.name).chain(p.aliases) {
                assert!(
                    seen.insert(n.to_ascii_lowercase()),
                    "duplicate preset name {n}"
                );
            }
        }
    }

    #[test]
    fn find_is_case_insensitive_and_knows_aliases() {
        assert_eq!(find("Office365").map(|p| p.name), Some("outlook"));
        assert_eq!(find("HOTMAIL").map(|p| p.name), Some("outlook"));
        assert_eq!(find(" gmail ").map(|p| p.name), Some("gmail"));
        assert_eq!(find("Mailbox.org").map(|p| p.name), Some("mailbox.org"));
        assert!(find("nonesuch").is_none());
        assert!(find("").is_none());
    }

    #[test]
    fn every_preset_is_documented() {
        for p in PRESETS {
            assert!(
                !p.display.is_empty() && !p.auth_notes.is_empty(),
                "{}",
                p.name
            );
            assert!(p.min_probe_interval_secs > 0, "{}", p.name);
            for url in p.app_password_url.into_iter() {
                assert!(url.starts_with("https://"), "{}: {url}", p.name);
            }
        }
        let gmail = find("gmail").unwrap();
        assert!(gmail.expunge_archives);
        assert_eq!(gmail.max_imap_connections, Some(15));
    }

    #[test]
    fn presets_serialize() {
        let json = serde_json::to_value(PRESETS).unwrap();
        assert_eq!(json[0]["name"], "gmail");
        assert_eq!(json[0]["junk_folder_hint"], "[Gmail]/Spam");
    }
}
