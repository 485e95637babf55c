//! Builds the hop timeline of a delivered message from its `Received:` headers, oldest first,
//! with the delay each hop added and warnings where the clocks disagree.
//! Pure: `received` reads the headers (mail-parser, and a raw-text fallback for what it cannot).

use chrono::{DateTime, FixedOffset, SubsecRound, TimeDelta, Utc};
use serde::Serialize;

use super::received::{RawReceived, received_headers};

/// One `Received:` header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    /// 1 = first hop (the oldest `Received:`, at the bottom of the header section).
    pub index: usize,
    /// The sending host as it named itself, then `[ip]` of the connection when that differs:
    /// `mail-sor-f41.google.com [192.0.2.41]`, `192.168.1.10 [203.0.113.5]`.
    pub from: Option<String>,
    /// The receiving host.
    pub by: Option<String>,
    /// The protocol (`SMTP`, `ESMTPSA`, `LMTP`, ...).
    pub with: Option<String>,
    /// The receiver's queue or transaction id.
    pub id: Option<String>,
    /// RFC 3339, in the hop's own UTC offset.
    pub date: Option<String>,
    /// Milliseconds since the previous hop, or since submission for the first hop;
    /// `None` when either date is missing or the gap is implausible (see `warnings`).
    pub delay_ms: Option<i64>,
}

/// Where the message went and how long each step took.
///
/// `Received:` dates have one-second resolution, so every delay here is a whole number of
/// seconds: submission and arrival are truncated to the second before comparing, and a hop
/// that took less than a second shows as 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// When the probe was handed to SMTP, RFC 3339.
    pub submitted: Option<String>,
    /// The `Received:` hops, oldest first.
    pub hops: Vec<Hop>,
    /// IMAP INTERNALDATE, RFC 3339.
    pub arrived: Option<String>,
    /// Milliseconds from the last hop to arrival.
    pub final_delay_ms: Option<i64>,
    /// Clock skew (negative gaps, gaps over a day, dates in the future) and unreadable dates,
    /// each naming the hop.
    pub warnings: Vec<String>,
}

/// A gap longer than this between two hops is taken as clock skew, not queueing.
const MAX_GAP: TimeDelta = TimeDelta::days(1);

/// Builds the timeline of `raw_message` (a whole message or just its header section).
///
/// `submitted` is when the probe was sent and `arrived` its IMAP INTERNALDATE; either may be
/// unknown. Dates in the future are judged against `arrived`, or the system clock without it.
pub fn timeline(
    raw_message: &[u8],
    submitted: Option<DateTime<FixedOffset>>,
    arrived: Option<DateTime<FixedOffset>>,
) -> Timeline {
    let mut warnings = Vec::new();
    let mut hops = Vec::new();
    let mut dates = Vec::new();
    for (i, raw) in received_headers(raw_message).into_iter().rev().enumerate() {
        let index = i + 1;
        let date = raw.date();
        if date.is_none() {
            let what = match raw.date_text() {
                Some(text) => format!("unreadable date {text:?}"),
                None => "no date".to_string(),
            };
            warnings.push(format!(
                "{}: {what}; its delays are unknown",
                label(index, &raw)
            ));
        }
        dates.push(date);
        hops.push(raw.into_hop(index, date));
    }

    let submitted_s = submitted.map(|d| d.trunc_subsecs(0));
    let arrived_s = arrived.map(|d| d.trunc_subsecs(0));
    let now = Utc::now().fixed_offset();
    let (reference, reference_name) = match arrived_s {
        Some(a) => (a, "arrival"),
        None => (now, "now"),
    };

    // Walk the gaps: submission → hop 1 → ... → hop n → arrival.
    let mut prev: Option<(DateTime<FixedOffset>, String)> =
        submitted_s.map(|d| (d, "submission".to_string()));
    let mut prev_suspect = false;
    let mut last_future = false;
    for (hop, date) in hops.iter_mut().zip(&dates) {
        let name = hop_name(hop);
        last_future = false;
        let Some(date) = *date else {
            prev = None;
            prev_suspect = false;
            continue;
        };
        if date > reference {
            warnings.push(format!(
                "clock skew: {name} is dated in the future: {}, {} after {reference_name} ({})",
                date.to_rfc3339(),
                human(date - reference),
                reference.to_rfc3339()
            ));
            last_future = true;
        }
        if let Some((p, pname)) = &prev {
            let (delay, suspect) = gap(date, *p, &name, pname, prev_suspect, &mut warnings);
            hop.delay_ms = delay;
            prev_suspect = suspect;
        }
        prev = Some((date, name));
    }

    let final_delay_ms = match (&prev, arrived_s, hops.is_empty()) {
        (Some((p, pname)), Some(a), false) if !last_future => {
            gap(a, *p, "arrival", pname, prev_suspect, &mut warnings).0
        }
        _ => None,
    };
    if hops.is_empty() {
        warnings.push("no Received headers: the message carries no hop history".to_string());
    }

    Timeline {
        submitted: submitted.map(|d| d.to_rfc3339()),
        hops,
        arrived: arrived.map(|d| d.to_rfc3339()),
        final_delay_ms,
        warnings,
    }
}

/// The delay from `prev` to `date` in ms, or `None` with a warning when it is implausible;
/// the flag says whether `date` itself is now suspect.
///
/// After a negative gap one of the two clocks is wrong and we cannot tell which, so the next
/// gap, which is measured from the suspect date, is not reported either.
fn gap(
    date: DateTime<FixedOffset>,
    prev: DateTime<FixedOffset>,
    name: &str,
    prev_name: &str,
    prev_suspect: bool,
    warnings: &mut Vec<String>,
) -> (Option<i64>, bool) {
    let delta = date - prev;
    if delta < TimeDelta::zero() {
        warnings.push(format!(
            "clock skew: {name} is dated {} before {prev_name}; delay not computed",
            human(-delta)
        ));
        (None, true)
    } else if prev_suspect {
        warnings.push(format!(
            "{name}: delay since {prev_name} not computed because {prev_name}'s date is inconsistent"
        ));
        (None, false)
    } else if delta > MAX_GAP {
        warnings.push(format!(
            "clock skew: {name} is dated {} after {prev_name}, more than a day; delay not computed",
            human(delta)
        ));
        (None, false)
    } else {
        (Some(delta.num_milliseconds()), false)
    }
}

fn human(d: TimeDelta) -> String {
    let s = d.num_seconds();
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 2 * 86400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

fn hop_name(hop: &Hop) -> String {
    match &hop.by {
        Some(by) => format!("hop {} (by {by})", hop.index),
        None => format!("hop {}", hop.index),
    }
}

fn label(index: usize, raw: &RawReceived) -> String {
    match raw.parsed.as_ref().and_then(|r| r.by.as_ref()) {
        Some(by) => format!("hop {index} (by {by})"),
        None => format!("hop {index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/received")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn at(s: &str) -> Option<DateTime<FixedOffset>> {
        Some(DateTime::parse_from_rfc3339(s).unwrap())
    }

    /// (by, with, date, delay_ms) per hop.
    type HopRow<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<i64>,
    );

    fn summary(t: &Timeline) -> Vec<HopRow<'_>> {
        t.hops
            .iter()
            .map(|h| {
                (
                    h.by.as_deref(),
                    h.with.as_deref(),
                    h.date.as_deref(),
                    h.delay_ms,
                )
            })
            .collect()
    }

    #[test]
    fn gmail_to_gmail_oldest_first_with_ipv6_by_and_smtps() {
        let t = timeline(
            &fixture("gmail-to-gmail.eml"),
            at("2024-03-05T10:02:01.400+01:00"),
            at("2024-03-05T09:02:06Z"),
        );
        assert_eq!(
            summary(&t),
            [
                (
                    Some("smtp.gmail.com"),
                    Some("ESMTPSA"),
                    Some("2024-03-05T01:02:02-08:00"),
                    Some(1000)
                ),
                (
                    Some("mx.google.com"),
                    Some("SMTPS"),
                    Some("2024-03-05T01:02:04-08:00"),
                    Some(2000)
                ),
                (
                    Some("2002:a05:6022:4a8:b0:5f:1234:abcd"),
                    Some("SMTP"),
                    Some("2024-03-05T01:02:05-08:00"),
                    Some(1000)
                ),
            ],
            "X-Received headers are not hops"
        );
        assert_eq!(t.hops[0].index, 1);
        assert_eq!(
            t.hops[0].from.as_deref(),
            Some("192.168.1.10 [203.0.113.5]")
        );
        assert_eq!(
            t.hops[1].from.as_deref(),
            Some("mail-sor-f41.google.com [192.0.2.41]")
        );
        assert_eq!(t.hops[2].id.as_deref(), Some("k8csp1234567lag"));
        assert_eq!(t.final_delay_ms, Some(1000));
        assert_eq!(
            t.submitted.as_deref(),
            Some("2024-03-05T10:02:01.400+01:00")
        );
        assert_eq!(t.arrived.as_deref(), Some("2024-03-05T09:02:06+00:00"));
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn postfix_to_dovecot_lmtp_sub_second_delays_are_zero() {
        let t = timeline(
            &fixture("postfix-dovecot-lmtp.eml"),
            at("2024-03-05T10:02:03.900+01:00"),
            at("2024-03-05T10:02:04+01:00"),
        );
        assert_eq!(
            summary(&t),
            [
                (
                    Some("mail.example.org"),
                    Some("ESMTPSA"),
                    Some("2024-03-05T10:02:03+01:00"),
                    Some(0)
                ),
                (
                    Some("mail.example.org"),
                    Some("LMTP"),
                    Some("2024-03-05T10:02:04+01:00"),
                    Some(1000)
                ),
            ]
        );
        assert_eq!(t.hops[0].id.as_deref(), Some("4ABC123"));
        assert_eq!(t.hops[1].id.as_deref(), Some("8K3bLx2a5mUrCgAAqB9l6A"));
        assert_eq!(t.hops[1].from.as_deref(), Some("mail.example.org"));
        assert_eq!(t.final_delay_ms, Some(0));
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn clock_skew_drops_the_negative_gap_and_the_one_after_it() {
        let t = timeline(
            &fixture("clock-skew.eml"),
            at("2024-03-05T09:00:00Z"),
            at("2024-03-05T09:00:11Z"),
        );
        let delays: Vec<_> = t.hops.iter().map(|h| h.delay_ms).collect();
        assert_eq!(delays, [Some(0), None, None]);
        assert_eq!(t.final_delay_ms, Some(1000));
        assert_eq!(
            t.warnings,
            [
                "clock skew: hop 2 (by relay.example.net) is dated 40 s before \
                 hop 1 (by mail.example.org); delay not computed",
                "hop 3 (by mx.example.com): delay since hop 2 (by relay.example.net) not \
                 computed because hop 2 (by relay.example.net)'s date is inconsistent",
            ]
        );
    }

    #[test]
    fn garbled_and_missing_dates_are_warned_not_guessed() {
        let t = timeline(
            &fixture("garbled-date.eml"),
            at("2024-03-05T09:00:00Z"),
            at("2024-03-05T09:00:10Z"),
        );
        let dates: Vec<_> = t.hops.iter().map(|h| h.date.as_deref()).collect();
        assert_eq!(
            dates,
            [
                Some("2024-03-05T09:00:01+00:00"),
                None,
                None,
                Some("2024-03-05T09:00:09+00:00")
            ]
        );
        let delays: Vec<_> = t.hops.iter().map(|h| h.delay_ms).collect();
        assert_eq!(delays, [Some(1000), None, None, None]);
        assert_eq!(t.final_delay_ms, Some(1000));
        assert_eq!(
            t.warnings,
            [
                "hop 2 (by relay1.example.net): unreadable date \
                 \"Tue, 32 Foo 2024 25:61:00 +0000\"; its delays are unknown",
                "hop 3 (by relay2.example.net): no date; its delays are unknown",
            ]
        );
    }

    #[test]
    fn no_received_headers() {
        let t = timeline(
            &fixture("no-received.eml"),
            at("2024-03-05T09:00:00Z"),
            at("2024-03-05T09:00:10Z"),
        );
        assert!(t.hops.is_empty());
        assert_eq!(t.final_delay_ms, None);
        assert_eq!(
            t.warnings,
            ["no Received headers: the message carries no hop history"]
        );
    }

    #[test]
    fn future_dates_and_day_long_gaps() {
        let raw = b"Received: by mx.example.com with ESMTP id 2; Fri, 01 Jan 2100 00:00:00 +0000\r\n\
                    Received: by relay.example.net with ESMTP id 1; Tue, 05 Mar 2024 09:00:00 +0000\r\n\
                    \r\n";
        let t = timeline(raw, at("2024-03-01T09:00:00Z"), None);
        assert_eq!(t.hops[0].delay_ms, None, "four days after submission");
        assert_eq!(t.hops[1].delay_ms, None);
        assert!(t.warnings[0].starts_with(
            "clock skew: hop 1 (by relay.example.net) is dated 4 days after submission"
        ));
        assert!(t.warnings[1].starts_with("clock skew: hop 2 (by mx.example.com) is dated"));
        assert!(t.warnings[1].contains("in the future"), "{:?}", t.warnings);

        let t = timeline(raw, None, at("2024-03-05T09:00:05Z"));
        assert_eq!(t.final_delay_ms, None);
        assert!(t.warnings[0].contains("after arrival"), "{:?}", t.warnings);
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
    }

    #[test]
    fn semicolon_in_a_comment_does_not_start_the_date() {
        let raw = b"Received: from a.example (b; c) by d.example with ESMTP id 7;\r\n\
                    \tTue, 05 Mar 2024 09:00:01 +0000\r\n\r\n";
        let parsed = received_headers(raw).remove(0).parsed.and_then(|r| r.date);
        assert_eq!(
            parsed.map(|d| d.to_rfc3339()).as_deref(),
            Some("2024-03-05T09:00:01Z")
        );
        let t = timeline(raw, None, None);
        assert_eq!(t.hops[0].date.as_deref(), Some("2024-03-05T09:00:01+00:00"));
        assert_eq!(t.hops[0].by.as_deref(), Some("d.example"));
    }

    #[test]
    fn never_panics_on_prefixes_or_random_bytes() {
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/received");
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for i in 0..=bytes.len() {
                inputs.push(bytes[..i].to_vec());
            }
        }
        let alphabet = b"Received: from by with id for ;()[]<>:,+-0123456789 Mar Tue\r\n\t\xff\x00";
        for bytes in crate::analyze::random_bytes(0x2545_F491_4F6C_DD1D, 300, alphabet, 5) {
            inputs.push([&b"Received:"[..], &bytes].concat());
        }
        let when = at("2024-03-05T09:00:00Z");
        for input in &inputs {
            let _ = timeline(input, when, when);
        }
    }
}
