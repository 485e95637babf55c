//! Who the embedded server accepts mail for: only declared users (strict), or anyone — a
//! mailbox per address created on first delivery or login (catch-all) — and how a `user+tag@`
//! sub-address maps to `user@`'s mailbox, as Postfix's `recipient_delimiter = +` does.

use secrecy::SecretString;

/// Recipient policy of [`ServerConfig`](super::ServerConfig).
///
/// With a catch-all, `RCPT TO` accepts any address at any domain; the mailbox (INBOX plus the
/// profile's folders) is created on first delivery, or on the first SMTP AUTH / IMAP LOGIN
/// with that address. Declared users keep their own passwords either way.
#[derive(Debug, Clone, Default)]
pub enum Recipients {
    /// Any address; an auto-created mailbox accepts any password (a local mail catcher).
    #[default]
    CatchAll,
    /// Any address; an auto-created mailbox accepts only this password (a shared dev box).
    CatchAllWithPassword(SecretString),
    /// Only declared users: `550 5.1.1 User unknown` for the rest.
    Strict,
}

impl Recipients {
    /// Whether undeclared addresses get a mailbox.
    pub fn is_catch_all(&self) -> bool {
        !matches!(self, Recipients::Strict)
    }
}

/// The store's catch-all for a policy and folder layout (`None` when strict).
pub fn auto_create(
    policy: &Recipients,
    layout: &super::FolderLayout,
) -> Option<super::store::AutoCreate> {
    let password = match policy {
        Recipients::Strict => return None,
        Recipients::CatchAll => None,
        Recipients::CatchAllWithPassword(p) => Some(p.clone()),
    };
    Some(super::store::AutoCreate {
        password,
        layout: layout.clone(),
    })
}

/// `user@domain` for `user+tag@domain` (the tag removed); `None` when there is no tag.
pub fn without_tag(address: &str) -> Option<String> {
    let (local, domain) = address.trim().rsplit_once('@')?;
    let (base, _tag) = local.split_once('+')?;
    (!base.is_empty()).then(|| format!("{base}@{domain}"))
}

/// Whether `address` looks like something a mailbox can be created for: `local@domain`,
/// printable ASCII or UTF-8 without spaces, controls or a second `@`.
pub fn is_mailbox_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 254
        && address.matches('@').count() == 1
        && address
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"<>\"\\,;:()[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_off_the_local_part_only() {
        assert_eq!(
            without_tag("someone+x@example.com").as_deref(),
            Some("someone@example.com")
        );
        assert_eq!(
            without_tag("a+b+c@x.test").as_deref(),
            Some("a@x.test"),
            "everything after the first + is the tag"
        );
        assert_eq!(without_tag("plain@x.test"), None);
        assert_eq!(without_tag("+tag@x.test"), None);
        assert_eq!(without_tag("a@b+c.test"), None);
    }

    #[test]
    fn mailbox_addresses() {
        assert!(is_mailbox_address("new-user+123@example.com"));
        assert!(is_mailbox_address("jörg@例え.jp"));
        for bad in ["", "user", "@x", "a@", "a b@x", "a@b@c", "a\r\n@x", "<a@x>"] {
            assert!(!is_mailbox_address(bad), "{bad:?}");
        }
    }
}
