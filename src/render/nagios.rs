//! `--format nagios`: one status line with performance data, following the Nagios plugin
//! guidelines, for Nagios, Icinga, Naemon and Sensu. The exit code comes from [`status`], since
//! delivery-time thresholds can turn a delivered probe into WARNING or CRITICAL.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use super::Render;
use super::nagios_range::Range;
use crate::report::{Phase, Placement, Report, Verdict};
use strum::{Display, IntoStaticStr};

/// The Nagios renderer, with optional threshold ranges on the delivery phase's time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Nagios {
    /// Delivery time (seconds) in alert under this range is WARNING (`5s` = above 5 s).
    pub warning: Option<Range>,
    /// Delivery time (seconds) in alert under this range is CRITICAL.
    pub critical: Option<Range>,
}

impl Nagios {
    /// Rejects plain upper bounds that cannot both apply (warning above critical); report the
    /// error with [`unknown`] and exit 3. Other ranges combine as the guidelines say.
    pub fn validate(&self) -> Result<(), String> {
        let bounds = (
            self.warning.and_then(|w| w.upper_bound()),
            self.critical.and_then(|c| c.upper_bound()),
        );
        match bounds {
            (Some(w), Some(c)) if w > c => Err(format!(
                "warning threshold {w}s is above critical threshold {c}s"
            )),
            _ => Ok(()),
        }
    }
}

/// A Nagios service state, ordered by severity among OK < WARNING < CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, IntoStaticStr, Display)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum NagiosStatus {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl NagiosStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn exit_code(self) -> u8 {
        match self {
            NagiosStatus::Ok => 0,
            NagiosStatus::Warning => 1,
            NagiosStatus::Critical => 2,
            NagiosStatus::Unknown => 3,
        }
    }
}

/// The state of a report under the thresholds, and the exit code the CLI should use.
///
/// OK: delivered to the inbox within the thresholds. WARNING: delivered to spam, or delivery
/// slower than `warning`. CRITICAL: not delivered or failed, or delivery slower than `critical`.
pub fn status(report: &Report, thresholds: &Nagios) -> (NagiosStatus, u8) {
    let s = match report.verdict {
        Verdict::Delivered
            if report.placement == Some(Placement::Archive) || report.submit_unanswered() =>
        {
            NagiosStatus::Warning.max(threshold_status(report, thresholds))
        }
        Verdict::Delivered => threshold_status(report, thresholds),
        Verdict::DeliveredToSpam => NagiosStatus::Warning.max(threshold_status(report, thresholds)),
        _ => NagiosStatus::Critical,
    };
    (s, s.exit_code())
}

/// The line for a run that could not start (bad flags, missing config): exit 3 with it.
/// One line, without the trailing newline.
pub fn unknown(message: &str) -> String {
    format!("MAILTRIP UNKNOWN - {}", one_line(message))
}

/// The state the delivery-time thresholds alone give (OK when none was given).
pub fn threshold_status(r: &Report, t: &Nagios) -> NagiosStatus {
    let delivery = delivery_time(r).as_secs_f64();
    if t.critical.is_some_and(|c| c.alerts(delivery)) {
        NagiosStatus::Critical
    } else if t.warning.is_some_and(|w| w.alerts(delivery)) {
        NagiosStatus::Warning
    } else {
        NagiosStatus::Ok
    }
}

/// Delivery time: the delivery phase, or the total if the phase is missing.
fn delivery_time(r: &Report) -> Duration {
    let ms = r.phase(Phase::Delivery).map_or(r.total_ms, |p| p.ms);
    Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
}

impl Render for Nagios {
    fn render(&self, r: &Report, out: &mut dyn Write) -> io::Result<()> {
        let (state, _) = status(r, self);
        let insecure = if r.tls_verified {
            ""
        } else {
            " - WARNING: TLS certificates NOT verified (--insecure-skip-verify)"
        };
        // `one_line` trims, so the space before the bracket is added after it.
        let alias = match &r.alias_of {
            Some(m) => format!(
                " {}",
                one_line(&format!("[to {} watched in {m}'s mailbox]", r.to))
            ),
            None => String::new(),
        };
        writeln!(
            out,
            "MAILTRIP {state} - {}{alias}{insecure} | {}",
            one_line(&self.text(r)),
            self.perfdata(r)
        )
    }
}

impl Nagios {
    /// The human part of the line, before the `|`.
    fn text(&self, r: &Report) -> String {
        let taken = delivery_time(r);
        match r.verdict {
            Verdict::Delivered | Verdict::DeliveredToSpam => {
                let place = match (r.verdict, &r.evidence.mailbox) {
                    (Verdict::Delivered, Some(mailbox))
                        if r.placement == Some(Placement::Archive) =>
                    {
                        format!("archive ({mailbox})")
                    }
                    (Verdict::Delivered, _) => "inbox".to_string(),
                    (_, Some(mailbox)) => format!("spam ({mailbox})"),
                    (_, None) => "spam".to_string(),
                };
                let mut s = format!("delivered to {place} in {:.2}s", taken.as_secs_f64());
                let secs = taken.as_secs_f64();
                let broken = [("critical", self.critical), ("warning", self.warning)]
                    .into_iter()
                    .find_map(|(name, range)| range.filter(|r| r.alerts(secs)).map(|r| (name, r)));
                if let Some((name, range)) = broken {
                    let how = range.describe(secs);
                    let (verb, bounds) = how.split_once(' ').unwrap_or((&how, ""));
                    let _ = write!(s, " ({verb} {name} {bounds})");
                }
                if r.evidence.copies > 1 {
                    let _ = write!(s, ", {} copies", r.evidence.copies);
                }
                s
            }
            verdict => {
                let v = verdict.as_str();
                if let Some(e) = &r.error {
                    let d = &e.diagnosis;
                    let mut s = format!("{v} at {} ({}): {}", e.phase, d.code, d.summary);
                    if let Some(text) = &d.server_text {
                        let _ = write!(s, " Server said: {text}");
                    }
                    s
                } else {
                    // No diagnosis: the failed phase, else the one that decided the verdict.
                    let carrier = if verdict == Verdict::ContentMismatch {
                        Phase::Verify
                    } else {
                        Phase::Delivery
                    };
                    let phase = r.phases.iter().find(|p| !p.ok).or(r.phase(carrier));
                    match phase {
                        Some(p) if p.detail.is_empty() => format!("{v} at {}", p.name),
                        Some(p) => format!("{v} at {}: {}", p.name, p.detail),
                        None => v.to_string(),
                    }
                }
            }
        }
    }

    /// `label=value[UOM];[warn];[crit];[min];[max]` for each phase that ran, then the total.
    fn perfdata(&self, r: &Report) -> String {
        let secs = |r: Option<Range>| r.map(|r| r.to_string()).unwrap_or_default();
        let mut items: Vec<String> = r
            .phases
            .iter()
            .map(|p| {
                let (warn, crit) = if p.name == Phase::Delivery {
                    (secs(self.warning), secs(self.critical))
                } else {
                    (String::new(), String::new())
                };
                format!("{}={:.3}s;{warn};{crit};0;", p.name, p.ms / 1000.0)
            })
            .collect();
        items.push(format!("total={:.3}s;;;0;", r.total_ms / 1000.0));
        items.join(" ")
    }
}

/// Plugin output is one line and `|` starts the performance data, so newlines (and the space
/// runs around them) become a single space and `|` becomes `/`.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    // Server words may hold terminal escapes (ESC, BEL, NUL...): shown, never passed on.
    super::text::clean(&out).replace('|', "/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Format;
    use crate::render::samples::{THRESHOLDS, auth_failed, delivered, render};

    /// Issue 18 (docs/formats.md run as written): the alias note is its own words, after a
    /// space, not glued to the summary (`...own mailbox[to b@x watched in ...]`).
    #[test]
    fn issue18_the_alias_note_follows_the_text_after_a_space() {
        let mut r = crate::render::samples::auth_failed();
        r.alias_of = Some("alice.probe@gmail.com".into());
        let mut out = Vec::new();
        Nagios::default().render(&r, &mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        let text = line.split(" | ").next().unwrap();
        assert!(
            text.ends_with(
                " - gsmtp [to bob.probe@example.net watched in alice.probe@gmail.com's mailbox]"
            ),
            "{line}"
        );
    }

    #[test]
    fn one_line_joins_lines_and_removes_pipes() {
        assert_eq!(
            one_line("534-5.7.9 a\r\n534 5.7.9  b | c\n"),
            "534-5.7.9 a 534 5.7.9  b / c"
        );
        assert_eq!(
            unknown("no account\nconfigured"),
            "MAILTRIP UNKNOWN - no account configured"
        );
        assert_eq!(one_line("a\x1b[2J\x07b"), "a\\x1b[2J\\x07b");
    }

    #[test]
    fn validate_rejects_warning_above_critical() {
        let t = Nagios {
            warning: Some(Range::upto(30.0)),
            critical: Some(Range::upto(10.0)),
        };
        assert!(t.validate().unwrap_err().contains("above critical"));
        assert!(Nagios::default().validate().is_ok());
    }

    #[test]
    fn nagios_status_and_thresholds() {
        use super::{NagiosStatus as S, status};
        let t = THRESHOLDS;
        assert_eq!(status(&delivered(), &t), (S::Ok, 0));
        assert_eq!(status(&auth_failed(), &t), (S::Critical, 2));

        let slow = |secs: f64, verdict: Verdict| {
            let mut r = delivered();
            r.verdict = verdict;
            r.phases[6].ms = secs * 1000.0;
            r
        };
        assert_eq!(status(&slow(10.0, Verdict::Delivered), &t).0, S::Ok);
        assert_eq!(status(&slow(10.5, Verdict::Delivered), &t), (S::Warning, 1));
        assert_eq!(
            status(&slow(31.0, Verdict::Delivered), &t),
            (S::Critical, 2)
        );
        assert_eq!(
            status(&slow(1.0, Verdict::DeliveredToSpam), &t),
            (S::Warning, 1)
        );
        assert_eq!(
            status(&slow(31.0, Verdict::DeliveredToSpam), &t),
            (S::Critical, 2)
        );
        assert_eq!(
            status(&slow(31.0, Verdict::Delivered), &Nagios::default()).0,
            S::Ok
        );

        let line = render(Format::Nagios, &slow(12.5, Verdict::Delivered));
        assert!(
            line.starts_with(
                "MAILTRIP WARNING - delivered to inbox in 12.50s (over warning 10s) | "
            ),
            "{line}"
        );
        assert!(line.contains(" delivery=12.500s;10;30;0; "), "{line}");
        assert_eq!(S::Unknown.exit_code(), 3);

        let mut lost = delivered();
        lost.verdict = Verdict::NotDelivered;
        lost.phases.truncate(7);
        lost.phases[6].detail = "not seen in INBOX or Junk within 60s".into();
        let line = render(Format::Nagios, &lost);
        assert!(
            line.starts_with(
                "MAILTRIP CRITICAL - not_delivered at delivery: not seen in INBOX or Junk within 60s | "
            ),
            "{line}"
        );
    }

    #[test]
    fn nagios_output_is_one_line_with_valid_perfdata() {
        for report in [delivered(), auth_failed()] {
            let line = render(Format::Nagios, &report);
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            let (text, perf) = line.trim_end().split_once(" | ").unwrap();
            assert!(!text.contains('|'));
            assert!(text.starts_with("MAILTRIP "));
            let labels: Vec<&str> = perf
                .split(' ')
                .map(|item| {
                    let (label, data) = item.split_once('=').unwrap();
                    let fields: Vec<&str> = data.split(';').collect();
                    assert_eq!(fields.len(), 5, "{item}");
                    let value = fields[0].strip_suffix('s').unwrap();
                    value.parse::<f64>().unwrap();
                    for f in &fields[1..4] {
                        assert!(f.is_empty() || f.parse::<f64>().is_ok(), "{item}");
                    }
                    label
                })
                .collect();
            let mut expected: Vec<&str> = report.phases.iter().map(|p| p.name.as_str()).collect();
            expected.push("total");
            assert_eq!(labels, expected);
        }
    }
}
