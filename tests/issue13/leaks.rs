//! Issue #13, unsafe output (items 12–13): control characters a server sends never reach the
//! terminal raw in any renderer, and logs carry no colour when stderr is not a terminal or
//! with `--color never`. Item 11 (secrets in config and URL errors) lives in `secrets`.

use mailtrip::server::Faults;

use super::{ALICE, against, faulty};

/// Bytes that must never reach a terminal from a renderer: C0 controls but TAB and LF, DEL,
/// and the C1 controls (as UTF-8).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        .collect()
}

// --- 12. Server text is escaped in every renderer -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_12_control_characters_from_servers_are_escaped_in_every_renderer() {
    let hostile_smtp = "535 5.7.8 Bad\x1b[2J\x1b]0;pwned\x07 creds\0 \u{9b}31m";
    let hostile_imap = "NO [ALERT] Bad\x1b[2J\x1b]0;pwned\x07 login\0";
    for (faults, what) in [
        (
            Faults {
                smtp_auth_reject: Some(hostile_smtp.into()),
                ..Faults::default()
            },
            "smtp",
        ),
        (
            Faults {
                imap_auth_reject: Some(hostile_imap.into()),
                ..Faults::default()
            },
            "imap",
        ),
        // Without the NUL, the NO parses: the server's words come through async-imap's text.
        (
            Faults {
                imap_auth_reject: Some(hostile_imap.trim_end_matches('\0').into()),
                ..Faults::default()
            },
            "imap NO",
        ),
    ] {
        let server = faulty(faults).await;
        for (command, format) in [
            ("check", "human"),
            ("check", "nagios"),
            ("check", "junit"),
            ("check", "prometheus"),
            ("check", "json"),
            ("verify", "human"),
            ("verify", "json"),
            ("verify", "nagios"),
            ("verify", "junit"),
            ("verify", "prometheus"),
        ] {
            let out = against(
                &server,
                &[
                    command,
                    "--user",
                    ALICE,
                    "--to",
                    ALICE,
                    "--timeout",
                    "5s",
                    "--format",
                    format,
                    "--color",
                    "always",
                ],
            )
            .await;
            assert_eq!(out.code, 2, "{what} {command} {format}: {out:#?}");
            // Prometheus carries no server text (codes and phases only), nor does verify's
            // Nagios line (the summary only).
            let shows_words = format != "prometheus" && (command, format) != ("verify", "nagios");
            assert!(
                !shows_words || (out.stdout.contains("Bad") && out.stdout.contains("2J")),
                "{what} {command} {format}: the server's words are gone: {out:#?}"
            );
            // Colour is on, so ESC may only start our own SGR sequences.
            let stripped = strip_sgr(&out.stdout);
            assert_eq!(
                raw_controls(&stripped),
                Vec::<char>::new(),
                "{what} {command} {format}: {out:#?}"
            );
            assert_eq!(raw_controls(&strip_sgr(&out.stderr)), Vec::<char>::new());
            assert_one_escape(&out, &format!("{what} {command} {format}"), shows_words);
        }
    }
}

/// Server text is escaped one way in every text format (`\x1b`, never Rust's `\u{1b}` or
/// Debug text); JSON carries the real characters (as `\u001b`, JSON's own escape). A reply the
/// IMAP parser cannot read (the NUL) is the server breaking the protocol, not a closed
/// connection.
fn assert_one_escape(out: &super::Out, case: &str, shows_words: bool) {
    let all = out.all();
    for debug in [
        "\\u{1b}",
        "\\0",
        "Error {",
        "during parsing",
        "connection_closed",
    ] {
        assert!(!all.contains(debug), "{case}: {debug:?}: {out:#?}");
    }
    if case == "imap check json" {
        // An unparsable reply to LOGIN proves no refusal.
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        assert_eq!(v["verdict"], "error", "{case}: {v:#}");
        assert_eq!(v["error"]["code"], "server_error", "{case}: {v:#}");
    }
    if case.ends_with("json") {
        assert!(out.stdout.contains("\\u001b"), "{case}: {out:#?}");
        assert!(
            !out.stdout.contains("\\\\x1b"),
            "{case}: escaped twice: {out:#?}"
        );
    } else if shows_words {
        assert!(out.stdout.contains("\\x1b[2J"), "{case}: {out:#?}");
    }
}

/// Removes `ESC [ digits/; m` (the colour sequences mailtrip itself writes).
fn strip_sgr(text: &str) -> String {
    let re = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex");
    re.replace_all(text, "").into_owned()
}

// --- 13. `-v` logs carry no colour off a terminal or with --color never ---------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_13_verbose_logs_are_not_coloured_off_a_terminal_or_with_color_never() {
    let server = faulty(Faults::default()).await;
    for extra in [
        &["-vv"][..],
        &["-vv", "--color", "never"][..],
        &["-v", "--color", "never"][..],
    ] {
        let out = against(
            &server,
            &[
                &[
                    "check",
                    "--user",
                    ALICE,
                    "--timeout",
                    "20s",
                    "--format",
                    "json",
                ],
                extra,
            ]
            .concat(),
        )
        .await;
        assert_eq!(out.code, 0, "{extra:?}: {out:#?}");
        if extra.contains(&"-vv") {
            assert!(out.stderr.contains("phase"), "no debug log: {out:#?}");
        }
        assert!(
            !out.stderr.contains('\x1b'),
            "{extra:?}: coloured log: {out:#?}"
        );
    }
}
