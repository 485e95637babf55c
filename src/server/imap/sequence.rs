//! Resolves IMAP sequence sets (`1:*`, `5:2`, `3,7`) against the session's view of the
//! selected mailbox, by message sequence number or by UID.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// Why a set cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSet;

/// Inclusive ranges with `*` replaced by `largest` and each range put in ascending order.
fn ranges(set: &SequenceSet, largest: u32) -> Vec<(u32, u32)> {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => largest,
    };
    set.0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            }
        })
        .collect()
}

/// Indexes (0-based) into `uids` (the session's ascending UID list) that the set names.
///
/// By sequence number, a number beyond the mailbox is an error (RFC 3501 6.4.8 lets servers
/// answer BAD); by UID, UIDs that do not exist are skipped, and `*` is the highest UID.
pub fn resolve(set: &SequenceSet, uids: &[u32], by_uid: bool) -> Result<Vec<usize>, InvalidSet> {
    if by_uid {
        let largest = uids.last().copied().unwrap_or(0);
        let ranges = ranges(set, largest);
        Ok(uids
            .iter()
            .enumerate()
            .filter(|(_, uid)| ranges.iter().any(|&(a, b)| (a..=b).contains(*uid)))
            .map(|(i, _)| i)
            .collect())
    } else {
        let len = uids.len() as u32;
        // Explicit numbers past the end are an error; a range ending in `*` is clamped.
        let explicit = |v: &SeqOrUid| matches!(v, SeqOrUid::Value(n) if n.get() > len);
        let beyond = set.0.as_ref().iter().any(|s| match s {
            Sequence::Single(v) => explicit(v),
            Sequence::Range(a, b) => {
                (explicit(a) && explicit(b))
                    || (explicit(a) && *b != SeqOrUid::Asterisk)
                    || (explicit(b) && *a != SeqOrUid::Asterisk)
            }
        });
        if beyond {
            return Err(InvalidSet);
        }
        let ranges = ranges(set, len);
        Ok((1..=len)
            .filter(|n| ranges.iter().any(|&(a, b)| (a..=b).contains(n)))
            .map(|n| n as usize - 1)
            .collect())
    }
}

/// Whether a sequence number or UID is in the set, for SEARCH.
pub fn contains(set: &SequenceSet, largest: u32, n: u32) -> bool {
    ranges(set, largest)
        .iter()
        .any(|&(a, b)| (a..=b).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).expect("valid set")
    }

    #[test]
    fn sequence_numbers_with_star_and_reversed_ranges() {
        let uids = [3, 5, 9, 10];
        assert_eq!(resolve(&set("1:*"), &uids, false), Ok(vec![0, 1, 2, 3]));
        assert_eq!(resolve(&set("3:2"), &uids, false), Ok(vec![1, 2]));
        assert_eq!(resolve(&set("*"), &uids, false), Ok(vec![3]));
        assert_eq!(resolve(&set("5"), &uids, false), Err(InvalidSet));
        assert_eq!(resolve(&set("1:*"), &[], false), Ok(vec![]));
    }

    #[test]
    fn uids_skip_missing_and_star_is_highest() {
        let uids = [3, 5, 9, 10];
        assert_eq!(resolve(&set("4:9"), &uids, true), Ok(vec![1, 2]));
        assert_eq!(resolve(&set("100:*"), &uids, true), Ok(vec![3]));
        assert_eq!(resolve(&set("1,2,4"), &uids, true), Ok(vec![]));
        assert_eq!(resolve(&set("10:5"), &uids, true), Ok(vec![1, 2, 3]));
        assert!(contains(&set("2:*"), 7, 7));
    }
}
