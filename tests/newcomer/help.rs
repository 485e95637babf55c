//! Issue 18 item 7: help texts promise only what is there: every flag the docs use is in
//! `--help`, and each subcommand lists only the formats it renders.

use std::path::Path;

use super::{mailtrip, scratch, stderr};

/// `mailtrip ARGS` with no `MAILTRIP_*` inherited, run where no config file is found.
fn help(args: &[&str]) -> String {
    let out = mailtrip(&std::env::temp_dir(), args, &[]);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `help` shows `flag` as a whole word (`--warn` is not in `--warning`).
fn shows_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        !help[i + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
    })
}

fn long_flag(word: &str) -> Option<&str> {
    let rest = word.strip_prefix("--")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(rest.len());
    (end > 0 && rest.starts_with(|c: char| c.is_ascii_lowercase())).then(|| &word[..end + 2])
}

/// Issue 18 item 7: every long flag the prose of README.md and docs/*.md uses is one the
/// binary documents: an inline `mailtrip SUB ...` span uses only flags in `mailtrip SUB
/// --help`, and an inline span starting with `--` names a flag some subcommand shows. (Code
/// blocks are stricter: `docs::*` runs them, or parses each command with clap.) Clap's prefix
/// inference stays off, so `--warn` for `--warning` would not even run.
#[test]
fn issue18_item7_every_flag_the_docs_use_is_in_help() {
    let top = help(&["--help"]);
    let subs: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .collect();
    assert!(subs.contains(&"check") && subs.contains(&"sweep"), "{top}");
    let helps: Vec<(&str, String)> = subs.iter().map(|s| (*s, help(&[s, "--help"]))).collect();
    let sub_help = |s: &str| helps.iter().find(|(n, _)| *n == s).map(|(_, h)| h.as_str());
    let mut wrong = Vec::new();
    let command_line = |line: &str, file: &str, wrong: &mut Vec<String>| {
        let mut words = line
            .trim()
            .trim_start_matches("$ ")
            .split_whitespace()
            .skip_while(|w| {
                w.split_once('=')
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            })
            .peekable();
        let first: Vec<&str> = words.clone().take(4).collect();
        if first == ["cargo", "run", "--release", "--"] {
            words.nth(3);
        } else if first.first() == Some(&"mailtrip") {
            words.next();
        } else {
            return;
        }
        let Some(help) = words.next().and_then(sub_help) else {
            return; // sample output ("mailtrip check: ...") or a subject ("mailtrip probe ...")
        };
        for w in words.take_while(|w| !w.starts_with('#') && !["|", "&&", ";"].contains(w)) {
            if let Some(flag) = long_flag(w).filter(|f| !shows_flag(help, f)) {
                wrong.push(format!("{file}: {flag} in `{}`", line.trim()));
            }
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "README.md",
        "docs/json.md",
        "docs/formats.md",
        "docs/api.md",
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect("doc");
        let mut in_block = false;
        for line in text.replace("\\\n", " ").lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                continue;
            }
            for span in line.split('`').skip(1).step_by(2) {
                command_line(span, file, &mut wrong);
                if let Some(flag) = long_flag(span)
                    && !helps.iter().any(|(_, h)| shows_flag(h, flag))
                {
                    wrong.push(format!("{file}: {flag} in `{span}`"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "flags no --help shows:\n{}",
        wrong.join("\n")
    );

    let dir = scratch("no-prefixes");
    let out = mailtrip(&dir, &["check", "--warni", "10s", "--time", "5s"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unexpected argument '--warni'"),
        "{}",
        stderr(&out)
    );
}

/// Issue 18 item 7: each subcommand's `--help` lists only the formats it renders (sweep and
/// load: human and json), and verify's describes the VerifyReport and the JUnit it writes
/// (one testcase per step, no `verdict`), which a run confirms.
#[test]
fn issue18_item7_help_lists_only_the_formats_each_subcommand_renders() {
    let formats = |sub: &str| -> (Vec<String>, String) {
        let h = help(&[sub, "--help"]);
        let names = h
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("--format"))
            .skip_while(|l| !l.contains("Possible values:"))
            .skip(1)
            .take_while(|l| l.trim_start().starts_with("- "))
            .filter_map(|l| l.trim_start()[2..].split(':').next())
            .map(str::to_string)
            .collect();
        (names, h)
    };
    let all = ["human", "json", "junit", "nagios", "prometheus"];
    for (sub, want) in [
        ("check", &all[..]),
        ("verify", &all[..]),
        ("sweep", &all[..2]),
        ("load", &all[..2]),
    ] {
        assert_eq!(formats(sub).0, want, "{sub} --help");
    }
    let (_, verify) = formats("verify");
    assert!(!verify.contains("The Report "), "{verify}");
    assert!(verify.contains("The VerifyReport"), "{verify}");
    assert!(!verify.contains("verdict"), "{verify}");
    assert!(verify.contains("one testcase per step"), "{verify}");
    for sub in ["sweep", "load"] {
        let out = mailtrip(&std::env::temp_dir(), &[sub, "--format", "junit"], &[]);
        assert_eq!(out.status.code(), Some(3));
        assert!(
            stderr(&out).contains("[possible values: human, json]"),
            "{}",
            stderr(&out)
        );
    }

    let dir = scratch("verify-junit");
    let out = mailtrip(&dir, &["verify", "--format", "junit", "-q"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains("name=\"smtp.connect\""), "{xml}");
    assert!(xml.contains("name=\"imap.auth\""), "{xml}");
    assert!(!xml.contains("verdict"), "{xml}");
}
