//! What changes from run to run in mailtrip's output (times, ports, ids, dates, host names)
//! replaced by placeholders, the same way in a doc's sample and in the real output, so that
//! the sample keeps real values and any other difference fails; then snapbox compares them
//! with the docs' cut marks (`...` alone on a line for lines left out, `…` inside a line).

use std::sync::LazyLock;

use regex::Regex;
use snapbox::{Assert, Data};

/// `(pattern, replacement)`, applied in this order.
const RULES: &[(&str, &str)] = &[
    // Probe tags and run ids (UUID v7), and the subject's short tag.
    (
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    ),
    (r"mailtrip probe [0-9a-f]{8}\b", "mailtrip probe [TAG]"),
    // RFC 3339 times (JUnit's timestamp has no zone) and RFC 5322 dates.
    (
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?",
        "[DATE]",
    ),
    (
        r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
        "[DATE]",
    ),
    // Ephemeral ports (a doc's fixed ports have four digits and are mapped back exactly).
    (r":\d{5}\b", ":[PORT]"),
    // The machine's host name, as our SMTP client says EHLO.
    (r"[\w.-]+ (\(?)\[127\.0\.0\.1\]", "[HOST] ${1}[127.0.0.1]"),
    // Timings.
    (r"[ \t]+\d+(\.\d+)? ms\b", " [MS] ms"),
    (r"\b\d+\.\d+ s\b", "[S] s"),
    (r"=\d+\.\d+s;", "=[S]s;"),
    (r"\bin \d+\.\d+s\b", "in [S]s"),
    (r#"time="[\d.]+""#, r#"time="[S]""#),
    // Hop offsets in the human timeline (whole seconds: a send that crosses a second
    // boundary shows +1 s where the sample has +0 s).
    (r"(?m)^(\s+)[+-]\d+ s  ", "$1+[S] s  "),
    // Sizes and certificate days (the generated CA's expiry is fixed; today is not).
    (r"\b\d+ bytes\b", "[N] bytes"),
    (r"\b\d+ days left\b", "[N] days left"),
    (r"cert_days=\d+", "cert_days=[N]"),
    // JSON numbers that are times, rates, percentiles or memory.
    (
        r#""(ms|size|total_ms|elapsed_ms|waited_ms|throughput_per_sec|min|mean|p50|p90|p99|max|cpu_user_s|cpu_sys_s|cpu_ms_per_probe|peak_rss_mib|days_left|delay_ms|final_delay_ms)":-?[\d.]+(e[+-]?\d+)?"#,
        r#""$1":[N]"#,
    ),
    // What made the watcher look: a race between the early-poll schedule, IDLE and the
    // connection's first look, so it varies from run to run.
    (
        r#""seen_by":"(early_poll|idle|poll|first_look)""#,
        r#""seen_by":"[SEEN-BY]""#,
    ),
    (r#""(early_poll|idle|poll|first_look)":\d+"#, r#""$1":[N]"#),
    // Prometheus samples of times and days.
    (
        r"(?m)^(mailtrip_\w*(seconds|days_left)(\{[^}]*\})?) \S+$",
        "$1 [N]",
    ),
    // The server's CA file when no --ca-out names it, and message ids (UIDVALIDITY-UID).
    (r"mailtrip-ca-\d+\.pem", "mailtrip-ca-[PID].pem"),
    (r"\b\d{9,10}-(\d+)\b", "[UIDVALIDITY]-$1"),
    // Queue ids of the embedded server (after the numbers, which can look like one).
    (r"\b[0-9A-F]{16}\b", "[QUEUE-ID]"),
];

static COMPILED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    RULES
        .iter()
        .map(|(p, r)| (Regex::new(p).expect("redaction pattern"), *r))
        .collect()
});

static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d+(\.\d+)?\b").unwrap());

/// How to compare one sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Compare as JSON text: whitespace between tokens does not count (samples are wrapped).
    pub json: bool,
    /// Every number is redacted.
    pub numbers: bool,
    /// Lines may come in any order.
    pub unordered: bool,
}

/// `text` with every variable part replaced by its placeholder.
pub fn redact(text: &str, opts: Options) -> String {
    let mut text = if opts.json {
        minify(text)
    } else {
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (re, with) in COMPILED.iter() {
        text = re.replace_all(&text, *with).into_owned();
    }
    if opts.numbers {
        text = NUMBER.replace_all(&text, "[N]").into_owned();
    }
    text.trim_end().to_string() + "\n"
}

/// A doc sample as a snapbox pattern: a line that is only `...` (or `…`), at any indentation,
/// stands for lines left out; `…` inside a line for text left out.
fn pattern(sample: &str) -> String {
    sample
        .lines()
        .map(|l| match l.trim() {
            "..." | "…" => "...".to_string(),
            _ => l.replace('…', "[..]"),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Compares a doc's sample with real output; the error is a diff of the redacted texts.
pub fn compare(name: &str, sample: &str, actual: &str, opts: Options) -> Result<(), String> {
    let expected = pattern(&redact(sample, opts));
    let actual = redact(actual, opts);
    let mut expected = Data::text(expected);
    if opts.unordered {
        expected = expected.unordered();
    }
    Assert::new()
        .normalize_paths(false)
        .try_eq(Some(&name), Data::text(actual), expected)
        .map_err(|e| e.to_string())
}

/// JSON text without the whitespace between tokens (strings are kept as they are), so a
/// sample wrapped over several lines reads as the one line the command prints. Whitespace
/// next to a `…` cut is dropped too.
pub fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[test]
fn issue18_redactions_keep_words_and_hide_what_varies() {
    let a =
        "  ✓ smtp_connect      0.6 ms  connected to 127.0.0.1:40021; EHLO answered by localhost\n";
    let b =
        "  ✓ smtp_connect     12.5 ms  connected to 127.0.0.1:33333; EHLO answered by localhost\n";
    assert_eq!(redact(a, Options::default()), redact(b, Options::default()));
    assert!(compare("t", a, &b.replace("EHLO", "HELO"), Options::default()).is_err());
    let wrapped = "{\"a\": 1,\n \"b\": \"x y\", …}";
    assert!(
        compare(
            "t",
            wrapped,
            "{\"a\":1,\"b\":\"x y\",\"c\":2}\n",
            Options {
                json: true,
                ..Options::default()
            }
        )
        .is_ok()
    );
    assert!(compare("t", "x\n    ...\nz\n", "x\ny\ny\nz\n", Options::default()).is_ok());
}
