//! One `Received:` header as the hop timeline needs it: what mail-parser made of it, and a
//! raw-text fallback for what it cannot read (dates after the last `;`, Gmail's `with SMTPS`),
//! with every date checked against the calendar.

use chrono::{DateTime, FixedOffset, NaiveDate};
use mail_parser::{HeaderName, MessageParser, Received};

use super::hops::Hop;

/// One `Received:` header: what mail-parser made of it, and its raw text for the fallback.
pub(super) struct RawReceived {
    pub parsed: Option<Received<'static>>,
    pub raw: String,
}

/// The `Received:` headers in message order (newest first). mail-parser documents that it
/// never panics, but this is hostile input, so a panic is caught and treated as "no headers".
pub(super) fn received_headers(raw_message: &[u8]) -> Vec<RawReceived> {
    std::panic::catch_unwind(|| {
        let Some(message) = MessageParser::new().parse_headers(raw_message) else {
            return Vec::new();
        };
        message
            .headers()
            .iter()
            .filter(|h| h.name == HeaderName::Received)
            .map(|h| RawReceived {
                parsed: h.value.as_received().map(|r| r.clone().into_owned()),
                raw: raw_message
                    .get(h.offset_start as usize..h.offset_end as usize)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            })
            .collect()
    })
    .unwrap_or_default()
}

impl RawReceived {
    /// mail-parser's date when it is a real calendar date, else the RFC 5322 date after the
    /// last `;` of the raw header.
    pub fn date(&self) -> Option<DateTime<FixedOffset>> {
        self.parsed
            .as_ref()
            .and_then(|r| r.date)
            .and_then(to_chrono)
            .or_else(|| {
                let text = self.date_text()?;
                mail_parser::DateTime::parse_rfc822(&text)
                    .and_then(to_chrono)
                    .or_else(|| DateTime::parse_from_rfc2822(&text).ok())
            })
    }

    /// The text after the last `;`, unfolded, if there is any.
    pub fn date_text(&self) -> Option<String> {
        let (_, tail) = self.raw.rsplit_once(';')?;
        let text = tail.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then_some(text)
    }

    /// The word after `keyword` (`with`, `id`) in the raw header, outside comments and before
    /// the date; for values mail-parser does not model, such as Gmail's `with SMTPS`.
    fn raw_word_after(&self, keyword: &str) -> Option<String> {
        let head = self
            .raw
            .rsplit_once(';')
            .map_or(self.raw.as_str(), |(h, _)| h);
        let mut depth = 0usize;
        let uncommented: String = head
            .chars()
            .map(|c| match c {
                '(' => {
                    depth += 1;
                    ' '
                }
                ')' => {
                    depth = depth.saturating_sub(1);
                    ' '
                }
                _ if depth > 0 => ' ',
                c => c,
            })
            .collect();
        let mut words = uncommented.split_whitespace();
        words.find(|w| w.eq_ignore_ascii_case(keyword))?;
        words.next().map(str::to_string)
    }

    pub fn into_hop(self, index: usize, date: Option<DateTime<FixedOffset>>) -> Hop {
        let with = self.raw_word_after("with");
        let r = self.parsed.unwrap_or_default();
        let from = match (&r.from, r.from_ip) {
            (Some(host), Some(ip)) if *host != mail_parser::Host::IpAddr(ip) => {
                Some(format!("{host} [{ip}]"))
            }
            (Some(host), _) => Some(host.to_string()),
            (None, Some(ip)) => Some(format!("[{ip}]")),
            (None, None) => None,
        };
        Hop {
            index,
            from,
            by: r.by.as_ref().map(ToString::to_string),
            with: r.with.map(|p| p.to_string()).or(with),
            id: r.id.map(|id| id.into_owned()),
            date: date.map(|d| d.to_rfc3339()),
            delay_ms: None,
        }
    }
}

/// mail-parser casts out-of-range numbers into its fields, so check them against the calendar.
fn to_chrono(d: mail_parser::DateTime) -> Option<DateTime<FixedOffset>> {
    let offset = (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60)
        * if d.tz_before_gmt { -1 } else { 1 };
    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))?
        .and_hms_opt(u32::from(d.hour), u32::from(d.minute), u32::from(d.second))?
        .and_local_timezone(FixedOffset::east_opt(offset)?)
        .single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_reads_the_date_after_the_last_semicolon() {
        let raw = RawReceived {
            parsed: None,
            raw: " from a (b; c) by d;\r\n Tue, 5 Mar 2024 09:00:01 -0130 (XYZ)\r\n".into(),
        };
        assert_eq!(
            raw.date().map(|d| d.to_rfc3339()).as_deref(),
            Some("2024-03-05T09:00:01-01:30")
        );
        let hop = raw.into_hop(1, None);
        assert_eq!(hop.with, None);
    }
}
