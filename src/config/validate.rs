//! Checks what the user typed before anything connects: addresses (one mailbox with a domain,
//! no control characters), login names, and which mailbox a `--to` really reaches. Errors
//! name the flag or config key, and show the value escaped, never raw.

use lettre::message::Mailbox;

use super::ConfigError;

/// The value as it may be shown: quoted, with control characters escaped (`"a\r\nb"`).
pub fn shown(value: &str) -> String {
    format!("{value:?}")
}

/// The first control character in `value`, escaped, if any (CR, LF, NUL, ESC, DEL, C1...).
fn control(value: &str) -> Option<String> {
    value
        .chars()
        .find(|c| c.is_control())
        .map(|c| c.escape_default().to_string())
}

/// Checks one email address given as `source` (a flag such as `--to`, or a config key) and
/// returns its addr-spec (`bob@example.com` for `Bob <bob@example.com>`).
pub fn address(value: &str, source: &str) -> Result<String, ConfigError> {
    let bad = |why: String| {
        Err(ConfigError::Invalid(format!(
            "{source} {}: {why}",
            shown(value)
        )))
    };
    if value.trim().is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{source} is empty: give an email address such as someone@example.com"
        )));
    }
    if let Some(c) = control(value) {
        return bad(format!(
            "holds a control character ({c}); an address is one line of printable text"
        ));
    }
    match value.trim().parse::<Mailbox>() {
        Ok(mb) => Ok(mb.email.to_string()),
        Err(_) if value.contains(',') || value.contains(';') => {
            bad("names more than one address; mailtrip sends each probe to exactly one".into())
        }
        Err(_) if !value.contains('@') => bad(
            "is not an email address (no @domain); give a full address such as \
             someone@example.com"
                .into(),
        ),
        Err(e) => bad(format!("is not a valid email address ({e})")),
    }
}

/// Checks a login name given as `source`: not empty, no control characters.
pub fn login(value: &str, source: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{source} is empty: give the login name (usually the full email address)"
        )));
    }
    if let Some(c) = control(value) {
        return Err(ConfigError::Invalid(format!(
            "{source} {}: holds a control character ({c})",
            shown(value)
        )));
    }
    Ok(())
}

/// Whether `to` (an addr-spec) is one of the watched mailbox's own names, so a probe to it
/// lands where mailtrip looks.
pub fn is_own(to: &str, own: &[&str]) -> bool {
    own.iter().any(|o| {
        let o = o.trim();
        let o = o.parse::<Mailbox>().map(|m| m.email.to_string());
        o.is_ok_and(|o| o.eq_ignore_ascii_case(to))
    })
}

/// The refusal for `--to` someone whose mailbox is not the one watched.
pub fn foreign_recipient(to: &str, watched: &str) -> ConfigError {
    ConfigError::Invalid(format!(
        "--to {to} is not the mailbox mailtrip would watch ({watched}'s): the probe would land \
         in {to}'s own mailbox and the check would wait for nothing. To watch that mailbox, \
         give --to-account NAME with its credentials (a [accounts.NAME] table in the config \
         file); if {to} is an alias delivered into {watched}'s mailbox, add --alias"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_one_mailbox_with_a_domain_and_no_control_characters() {
        assert_eq!(address("bob@x.test", "--to").unwrap(), "bob@x.test");
        assert_eq!(address("<bob@x.test>", "--to").unwrap(), "bob@x.test");
        assert_eq!(address("Bob <bob@x.test>", "--to").unwrap(), "bob@x.test");
        for (value, says) in [
            ("bob", "no @domain"),
            ("a@x.test,b@y.test", "more than one address"),
            (
                "bob@x.test\r\nRCPT TO:<e@vil.test>",
                "control character (\\r)",
            ),
            ("", "is empty"),
            ("a@", "not a valid email address"),
        ] {
            let e = address(value, "--to").expect_err(value).to_string();
            assert!(e.starts_with("--to"), "{e}");
            assert!(e.contains(says), "{value:?}: {e}");
            assert!(
                !e.contains('\r') && !e.contains('\n'),
                "raw CRLF echoed: {e:?}"
            );
        }
        assert!(login("", "--user").is_err());
        assert!(login("alice", "--user").is_ok());
        assert!(login("a\u{1b}[2J", "--user").is_err());
    }

    #[test]
    fn own_names_compare_by_address() {
        assert!(is_own("alice@x.test", &["Alice <ALICE@x.test>"]));
        assert!(!is_own("bob@x.test", &["alice@x.test", "alice"]));
    }
}
