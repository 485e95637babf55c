//! The Monitoring Plugins threshold range, `[@]start:end`, for `-w` / `-c`: parsed from the
//! command line (durations such as `5s` or bare seconds), evaluated exactly as the guidelines'
//! `check_range()`, and written back in seconds for the performance data.

use std::fmt;
use std::str::FromStr;

/// A range on the seconds scale: alert when the value is outside `start..=end` (inclusive), or
/// inside it with the `@` prefix. `start` may be minus infinity (`~`), `end` plus infinity.
///
/// | range | alert if x … |
/// |---|---|
/// | `10` | < 0 or > 10 |
/// | `10:` | < 10 |
/// | `~:10` | > 10 |
/// | `10:20` | < 10 or > 20 |
/// | `@10:20` | ≥ 10 and ≤ 20 |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Seconds; `f64::NEG_INFINITY` for `~`.
    start: f64,
    /// Seconds; `f64::INFINITY` when the range ends in `:`.
    end: f64,
    /// `@`: alert inside the range instead of outside it.
    inside: bool,
}

impl Range {
    /// `0:secs`: alert above `secs` (or below zero), the meaning of a bare `-w 10`.
    pub const fn upto(secs: f64) -> Range {
        Range {
            start: 0.0,
            end: secs,
            inside: false,
        }
    }

    /// Whether `x` (seconds) raises the alert, as the guidelines' `check_range()` decides.
    pub fn alerts(&self, x: f64) -> bool {
        let within = self.start <= x && x <= self.end;
        within == self.inside
    }

    /// The plain "above N seconds" form (`N` or `0:N`, also `~:N`), whose end bound can be
    /// compared with another's.
    pub fn upper_bound(&self) -> Option<f64> {
        (!self.inside && self.end.is_finite() && self.start <= 0.0).then_some(self.end)
    }

    /// How `x` broke the range, for the status text: `over 10s`, `under 10s` or
    /// `inside 10s..20s`.
    pub fn describe(&self, x: f64) -> String {
        let s = |v: f64| format!("{}s", Secs(v));
        if self.inside {
            format!("inside {}..{}", s(self.start), s(self.end))
        } else if x > self.end {
            format!("over {}", s(self.end))
        } else if x < self.start {
            format!("under {}", s(self.start))
        } else {
            format!("within {}..{}", s(self.start), s(self.end))
        }
    }
}

/// A plain threshold: alert when slower than `d` (`-w 10s`).
impl From<std::time::Duration> for Range {
    fn from(d: std::time::Duration) -> Range {
        Range::upto(d.as_secs_f64())
    }
}

/// Writes the range as the performance data wants it: seconds, no unit, `~` for minus
/// infinity, and the shortest form (`10` for `0:10`).
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inside {
            f.write_str("@")?;
        }
        let end = if self.end.is_finite() {
            Secs(self.end).to_string()
        } else {
            String::new()
        };
        if self.start == 0.0 && self.end.is_finite() && !self.inside {
            return f.write_str(&end);
        }
        if self.start.is_finite() {
            write!(f, "{}:{end}", Secs(self.start))
        } else {
            write!(f, "~:{end}")
        }
    }
}

/// Seconds without a trailing `.0` and without float noise (`0.1`, `20`, `1.5`).
struct Secs(f64);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounded = (self.0 * 1e6).round() / 1e6;
        write!(f, "{}", if rounded == 0.0 { 0.0 } else { rounded })
    }
}

impl FromStr for Range {
    type Err = String;

    /// Parses `[@][start:][end]`: each bound a number of seconds with an optional unit (`us`,
    /// `ms`, `s`, `m`, `h`), `start` may be `~` (minus infinity) and may be left out (zero),
    /// an empty `end` is plus infinity; `start` must not exceed `end`.
    fn from_str(text: &str) -> Result<Range, String> {
        let s = text.trim();
        let (inside, body) = match s.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (start, end) = match body.split_once(':') {
            Some((start, end)) => {
                let start = match start.trim() {
                    "~" => f64::NEG_INFINITY,
                    "" => 0.0,
                    v => seconds(v, text)?,
                };
                let end = match end.trim() {
                    "" => f64::INFINITY,
                    v => seconds(v, text)?,
                };
                (start, end)
            }
            None if body.trim().is_empty() => {
                return Err(format!(
                    "{text:?} is not a range; use e.g. 10s, 10s:, ~:10s, 10s:20s or @10s:20s"
                ));
            }
            None => (0.0, seconds(body.trim(), text)?),
        };
        if start > end {
            return Err(format!(
                "range {text:?} starts after it ends ({}s > {}s)",
                Secs(start),
                Secs(end)
            ));
        }
        Ok(Range { start, end, inside })
    }
}

/// One bound: a number (sign and decimals allowed) and an optional unit, in seconds.
fn seconds(v: &str, whole: &str) -> Result<f64, String> {
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+')))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let within = if v == whole.trim() {
        String::new()
    } else {
        format!(" in {whole:?}")
    };
    let n: f64 = num.parse().map_err(|_| {
        format!(
            "{v:?}{within} is not a number of seconds; use e.g. 10s, 10s:, ~:10s, 10s:20s or \
             @10s:20s"
        )
    })?;
    // Divide for the small units: 100 / 1e6 is exactly the 0.0001 the perfdata will say.
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {whole:?}; use us, ms, s, m or h (seconds)"
            ));
        }
    };
    if !secs.is_finite() {
        return Err(format!("{v:?} in {whole:?} is out of range"));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The guidelines' "Example ranges" table, row by row, at and around each endpoint
    /// (endpoints are inside the range).
    #[test]
    fn issue_19_example_ranges_from_the_guidelines() {
        let cases: &[(&str, &[(f64, bool)])] = &[
            // 10: < 0 or > 10, (outside the range of {0 .. 10})
            (
                "10",
                &[
                    (-0.5, true),
                    (0.0, false),
                    (5.0, false),
                    (10.0, false),
                    (10.001, true),
                ],
            ),
            // 10: : < 10, (outside {10 .. ∞})
            (
                "10:",
                &[(9.999, true), (10.0, false), (1e9, false), (-1.0, true)],
            ),
            // ~:10 : > 10, (outside the range of {-∞ .. 10})
            ("~:10", &[(-1e9, false), (10.0, false), (10.001, true)]),
            // 10:20 : < 10 or > 20, (outside the range of {10 .. 20})
            (
                "10:20",
                &[
                    (9.9, true),
                    (10.0, false),
                    (15.0, false),
                    (20.0, false),
                    (20.1, true),
                ],
            ),
            // @10:20 : ≥ 10 and ≤ 20, (inside the range of {10 .. 20})
            (
                "@10:20",
                &[
                    (9.9, false),
                    (10.0, true),
                    (15.0, true),
                    (20.0, true),
                    (20.1, false),
                ],
            ),
        ];
        for (range, points) in cases {
            let parsed = r(range);
            for &(x, alert) in *points {
                assert_eq!(parsed.alerts(x), alert, "range {range}, x = {x}");
            }
        }
    }

    /// The guidelines' "Command line examples": CRITICAL first, then WARNING, else OK.
    #[test]
    fn issue_19_command_line_examples_from_the_guidelines() {
        #[derive(Debug, PartialEq)]
        enum S {
            Ok,
            Warn,
            Crit,
        }
        let status = |w: Option<&str>, c: Option<&str>, x: f64| {
            if c.is_some_and(|c| r(c).alerts(x)) {
                S::Crit
            } else if w.is_some_and(|w| r(w).alerts(x)) {
                S::Warn
            } else {
                S::Ok
            }
        };
        // -w10 -c20: critical over 20, else warn over 10 (critical below 0)
        for (w, c) in [("10", "20"), ("~:10", "~:20")] {
            assert_eq!(status(Some(w), Some(c), 5.0), S::Ok);
            assert_eq!(status(Some(w), Some(c), 15.0), S::Warn);
            assert_eq!(status(Some(w), Some(c), 25.0), S::Crit);
        }
        assert_eq!(status(Some("10"), Some("20"), -1.0), S::Crit);
        // -w~:10 -c~:20: same, negative is OK
        assert_eq!(status(Some("~:10"), Some("~:20"), -1.0), S::Ok);
        // -w10: -c20: critical over 20, else warn below 10 (critical below 0)
        assert_eq!(status(Some("10:"), Some("20"), 25.0), S::Crit);
        assert_eq!(status(Some("10:"), Some("20"), 5.0), S::Warn);
        assert_eq!(status(Some("10:"), Some("20"), 15.0), S::Ok);
        assert_eq!(status(Some("10:"), Some("20"), -1.0), S::Crit);
        // -c1: critical below 1
        assert_eq!(status(None, Some("1:"), 0.5), S::Crit);
        assert_eq!(status(None, Some("1:"), 1.0), S::Ok);
        // -w~:0 -c10: critical above 10, warn above zero (critical below 0)
        assert_eq!(status(Some("~:0"), Some("10"), 0.0), S::Ok);
        assert_eq!(status(Some("~:0"), Some("10"), 0.1), S::Warn);
        assert_eq!(status(Some("~:0"), Some("10"), 10.1), S::Crit);
        assert_eq!(status(Some("~:0"), Some("10"), -0.1), S::Crit);
        // -c5:6: critical below 5 or above 6
        assert_eq!(status(None, Some("5:6"), 4.9), S::Crit);
        assert_eq!(status(None, Some("5:6"), 5.5), S::Ok);
        assert_eq!(status(None, Some("5:6"), 6.1), S::Crit);
        // -c@10:20: OK below 10 or above 20, else critical
        assert_eq!(status(None, Some("@10:20"), 9.0), S::Ok);
        assert_eq!(status(None, Some("@10:20"), 10.0), S::Crit);
        assert_eq!(status(None, Some("@10:20"), 21.0), S::Ok);
    }

    #[test]
    fn units_and_perfdata_form() {
        assert_eq!(r("5s"), Range::upto(5.0));
        assert_eq!(
            Range::from(std::time::Duration::from_millis(1500)),
            r("1.5")
        );
        assert_eq!(r("500ms"), Range::upto(0.5));
        assert_eq!(r("2m"), Range::upto(120.0));
        assert_eq!(r(":10"), Range::upto(10.0));
        assert_eq!(r("0:10"), Range::upto(10.0));
        // Written back in seconds, shortest form.
        for (input, perf) in [
            ("5s", "5"),
            ("500ms", "0.5"),
            ("10s:", "10:"),
            ("~:10", "~:10"),
            ("10:20", "10:20"),
            ("@10s:20s", "@10:20"),
            ("@10", "@0:10"),
            ("~:", "~:"),
            ("-5:5", "-5:5"),
            ("100us", "0.0001"),
        ] {
            assert_eq!(r(input).to_string(), perf, "{input}");
            // What the perfdata says parses back to the same range.
            assert_eq!(r(perf), r(input), "{perf}");
        }
    }

    #[test]
    fn bad_ranges_are_rejected_with_the_syntax() {
        for bad in ["", "@", "abc", "10x", "20:10", "5s:1s", "1:2:3", "ten:"] {
            let e = bad.parse::<Range>().unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(
            "20:10"
                .parse::<Range>()
                .unwrap_err()
                .contains("starts after it ends")
        );
        assert!("x".parse::<Range>().unwrap_err().contains("@10s:20s"));
    }

    #[test]
    fn describe_says_how_the_value_broke_the_range() {
        assert_eq!(r("10").describe(12.0), "over 10s");
        assert_eq!(r("~:10").describe(12.0), "over 10s");
        assert_eq!(r("10:").describe(2.0), "under 10s");
        assert_eq!(r("10:20").describe(25.0), "over 20s");
        assert_eq!(r("10:20").describe(5.0), "under 10s");
        assert_eq!(r("@10:20").describe(15.0), "inside 10s..20s");
        assert_eq!(r("10").upper_bound(), Some(10.0));
        assert_eq!(r("~:10").upper_bound(), Some(10.0));
        assert_eq!(r("10:").upper_bound(), None);
        assert_eq!(r("@0:10").upper_bound(), None);
    }
}
