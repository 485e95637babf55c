//! Pure, I/O-free analysis of a delivered message: how it was authenticated
//! (`Authentication-Results`), the path and timing it took (`Received`), the parsed
//! [`Message`] a wait returns, and the criteria a wait matches by.

pub mod auth_results;
pub mod extract;
pub mod filter;
pub mod hops;
pub mod mail;
mod received;

pub use extract::{Extract, ExtractError};
pub use filter::{Pattern, PatternError, Seen};
pub use mail::{Anchor, Attachment, Header, Message};

/// Deterministic pseudo-random byte strings for the parsers' never-panics tests: `count`
/// strings of lengths 0, 1, 2, … drawn from `alphabet` by xorshift (no dependency), where one
/// draw in `any_one_in` is any byte at all.
#[cfg(test)]
fn random_bytes(seed: u64, count: usize, alphabet: &[u8], any_one_in: u64) -> Vec<Vec<u8>> {
    let mut x = seed;
    (0..count)
        .map(|len| {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x.is_multiple_of(any_one_in) {
                        x as u8
                    } else {
                        alphabet[(x >> 8) as usize % alphabet.len()]
                    }
                })
                .collect()
        })
        .collect()
}
