//! `mailtrip providers` output: every preset as an aligned block for people, or one JSON
//! document (`"schema": 1`) with each endpoint split into URL, host, port and TLS mode.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Style;
use crate::config::{Endpoint, Protocol, Security};
use crate::providers::Preset;

/// Formats for `mailtrip providers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProvidersFormat {
    /// One block per provider.
    Human,
    /// `{"schema": 1, "providers": [...]}`.
    Json,
}

fn endpoint(url: &str, protocol: Protocol) -> Option<Endpoint> {
    (!url.is_empty())
        .then(|| Endpoint::parse_for(url, protocol).ok())
        .flatten()
}

fn mode(e: &Endpoint) -> &'static str {
    match e.security {
        Security::Tls => "implicit TLS",
        Security::StartTls => "STARTTLS",
        Security::Plain => "plaintext",
    }
}

/// The presets as text blocks.
pub fn human(presets: &[Preset], style: Style) -> String {
    let bold = |s: &str| style.paint("1", s);
    let mut t = String::new();
    for p in presets {
        let aliases = if p.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", p.aliases.join(", "))
        };
        let _ = writeln!(t, "{}{aliases}: {}", bold(p.name), p.display);
        for (label, url, proto) in [
            ("smtp", p.smtp, Protocol::Smtp),
            ("imap", p.imap, Protocol::Imap),
        ] {
            match endpoint(url, proto) {
                Some(e) => {
                    let _ = writeln!(
                        t,
                        "  {label}   {url}  ({}, port {}, {})",
                        e.host,
                        e.port,
                        mode(&e)
                    );
                }
                None => {
                    let _ = writeln!(t, "  {label}   (give --{label} URL)");
                }
            }
        }
        let _ = writeln!(t, "  auth   {}", p.auth_notes);
        if let Some(url) = p.app_password_url {
            let _ = writeln!(t, "  app passwords  {url}");
        }
        if let Some(o) = p.oauth2() {
            let flow = match o.flow {
                crate::providers::oauth2::Flow::Device => "device code",
                crate::providers::oauth2::Flow::Pkce => "browser (PKCE)",
            };
            let _ = writeln!(
                t,
                "  oauth2 `mailtrip login` ({flow}; scopes {}); register a client at {}",
                o.scopes.join(" "),
                o.register_url
            );
        }
        if let Some(junk) = p.junk_folder_hint {
            let _ = writeln!(t, "  junk   usually {junk}");
        }
        for q in p.quirks {
            let _ = writeln!(t, "  quirk  {q}");
        }
        t.push('\n');
    }
    t
}

fn endpoint_json(url: &str, proto: Protocol) -> Value {
    match endpoint(url, proto) {
        Some(e) => json!({
            "url": url,
            "host": e.host,
            "port": e.port,
            "security": e.security,
        }),
        None => Value::Null,
    }
}

/// The presets as one JSON document.
pub fn json(presets: &[Preset]) -> String {
    let list: Vec<Value> = presets
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "aliases": p.aliases,
                "display": p.display,
                "smtp": endpoint_json(p.smtp, Protocol::Smtp),
                "imap": endpoint_json(p.imap, Protocol::Imap),
                "auth_notes": p.auth_notes,
                "app_password_url": p.app_password_url,
                "junk_folder_hint": p.junk_folder_hint,
                "quirks": p.quirks,
                "expunge_archives": p.expunge_archives,
                "max_imap_connections": p.max_imap_connections,
                "min_probe_interval_secs": p.min_probe_interval_secs,
                "oauth2": p.oauth2(),
            })
        })
        .collect();
    format!("{}\n", json!({ "schema": 1, "providers": list }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::PRESETS;

    #[test]
    fn every_preset_endpoint_parses_and_shows() {
        let text = human(PRESETS, Style::default());
        for p in PRESETS {
            assert!(text.contains(p.display), "{}", p.name);
            if !p.smtp.is_empty() {
                assert!(endpoint(p.smtp, Protocol::Smtp).is_some(), "{}", p.smtp);
                assert!(endpoint(p.imap, Protocol::Imap).is_some(), "{}", p.imap);
            }
        }
        let v: Value = serde_json::from_str(&json(PRESETS)).unwrap();
        assert_eq!(v["providers"][2]["name"], "outlook");
        assert_eq!(v["providers"][2]["smtp"]["security"], "start_tls");
        assert_eq!(v["providers"][2]["smtp"]["port"], 587);
        assert!(v["providers"][PRESETS.len() - 1]["smtp"].is_null());
        assert_eq!(v["providers"][2]["oauth2"]["flow"], "device");
        assert!(v["providers"][3]["oauth2"].is_null());
        assert!(
            text.contains("oauth2 `mailtrip login` (browser (PKCE)"),
            "{text}"
        );
    }
}
