//! Hostile input, deterministic: thousands of random and half-valid byte strings thrown at
//! both protocol sessions and at every parser of received mail. Nothing may panic, and the
//! server must still answer a well-formed session afterwards. `ci/fuzz.sh` goes further.

use mailtrip::fuzz;

/// xorshift64*: a fixed seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SMTP_WORDS: &[&str] = &[
    "EHLO x\r\n",
    "HELO x\r\n",
    "MAIL FROM:<a@b>\r\n",
    "RCPT TO:<fuzz@mailtrip.test>\r\n",
    "DATA\r\n",
    ".\r\n",
    "..\r\n",
    "RSET\r\n",
    "AUTH PLAIN\r\n",
    "AUTH LOGIN\r\n",
    "AUTH XOAUTH2 dXNlcj0BAQ==\r\n",
    "*\r\n",
    "STARTTLS\r\n",
    "BDAT 5\r\n",
    "QUIT\r\n",
    "MAIL FROM:<> SIZE=99999999999999999999\r\n",
    "\r\n",
    "\0",
    "\u{fffd}",
    "\n",
    "\r",
];

const IMAP_WORDS: &[&str] = &[
    "a LOGIN fuzz@mailtrip.test fuzz-pw\r\n",
    "b SELECT INBOX\r\n",
    "c UID FETCH 1:* (FLAGS BODY.PEEK[])\r\n",
    "d FETCH 1:*,2,*:4 (BODY[HEADER.FIELDS (X-MAILTRIP-PROBE)]<0.10>)\r\n",
    "e IDLE\r\n",
    "DONE\r\n",
    "f UID STORE 1:* +FLAGS.SILENT (\\Deleted)\r\n",
    "g UID EXPUNGE 1:4294967295\r\n",
    "h SEARCH OR HEADER X y NOT SINCE 1-Jan-2020\r\n",
    "i APPEND INBOX {5}\r\n",
    "hello",
    "j APPEND INBOX {99999999999}\r\n",
    "k UID MOVE 1 Trash\r\n",
    "l LIST \"\" *\r\n",
    "m STATUS INBOX (MESSAGES UIDNEXT)\r\n",
    "n AUTHENTICATE PLAIN\r\n",
    "AGZ1enoA\r\n",
    "o CLOSE\r\n",
    "p LOGOUT\r\n",
    "q SEARCH RETURN (MIN MAX COUNT PARTIAL 1:2 UPDATE) OR TEXT caf\u{e9} BODY hi\r\n",
    "r LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (a % *) RETURN (CHILDREN STATUS (MESSAGES))\r\n",
    "s APPEND Trash (\\Seen) {3+}\r\nabc ~{2+}\r\n\0\x01\r\n",
    "t FETCH 1:* (BODYSTRUCTURE BODY[1.2.MIME] BODY.PEEK[2.1.1] BINARY.PEEK[1] BINARY.SIZE[2])\r\n",
    "u UID SORT RETURN (ALL) (REVERSE SUBJECT DISPLAYFROM) UTF-8 ALL\r\n",
    "v THREAD REFERENCES UTF-8 ALL\r\n",
    "w CREATE x/y/z\r\n",
    "x RENAME x x2\r\n",
    "y DELETE x2/y\r\n",
    "z SUBSCRIBE x2/y/z\r\n",
    "A LSUB \"\" %\r\n",
    "B SEARCH CHARSET UTF-8 SUBJECT \"\u{e9}\" FROM \"g\"\r\n",
    "C CANCELUPDATE \"q\"\r\n",
    "D FETCH 1:* (ENVELOPE X-GM-MSGID)\r\n",
    "{3}\r\n",
    "\0",
    ")",
    "(((((((",
    "\r\n",
    "* ",
];

fn mixed(rng: &mut Rng, words: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(12) {
        match rng.below(4) {
            0 => {
                for _ in 0..rng.below(40) {
                    out.push(rng.next() as u8);
                }
            }
            _ => out.extend_from_slice(words[rng.below(words.len())].as_bytes()),
        }
    }
    out
}

/// Feeds `session` 400 inputs from `seed`, random bytes mixed with `words`; each must get
/// an answer that opens with `greeting`.
fn every_session_greets(seed: u64, words: &[&str], session: fn(&[u8]) -> Vec<u8>, greeting: &[u8]) {
    let mut rng = Rng(seed);
    for _ in 0..400 {
        let input = mixed(&mut rng, words);
        let out = session(&input);
        assert!(out.starts_with(greeting), "no greeting for {input:?}");
    }
}

#[test]
fn random_and_half_valid_smtp_sessions_never_crash() {
    every_session_greets(0x5eed_0001, SMTP_WORDS, fuzz::smtp_session, b"220 ");
    let ok = fuzz::smtp_session(b"EHLO x\r\nQUIT\r\n");
    assert!(
        ok.ends_with(b"221 2.0.0 Bye\r\n"),
        "{}",
        String::from_utf8_lossy(&ok)
    );
}

#[test]
fn random_and_half_valid_imap_sessions_never_crash() {
    every_session_greets(0x5eed_0002, IMAP_WORDS, fuzz::imap_session, b"* OK");
    let out = fuzz::imap_session(
        b"a LOGIN fuzz@mailtrip.test fuzz-pw\r\nb EXAMINE INBOX\r\nc UID SEARCH HEADER X-Mailtrip-Probe seed-1\r\nd LOGOUT\r\n",
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("a OK"), "{text}");
    assert!(text.contains("* SEARCH 2\r\n"), "{text}");
    assert!(text.contains("d OK"), "{text}");
}

#[test]
fn hostile_messages_never_crash_the_verifier_or_the_header_parsers() {
    let mut rng = Rng(0x5eed_0003);
    let pieces: &[&[u8]] = &[
        b"Received: from x by y; Tue, 32 Foo 2024 25:61:00 +0000\r\n",
        b"Authentication-Results: mx; dkim=pass (((( header.d=\"\r\n",
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
        b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--b--\r\n",
        b"Content-Type: text/plain; charset=utf-7\r\n",
        b"=?utf-8?B?////?= =?x?Q?=ZZ?=\r\n",
        b"X-Mailtrip-Probe: 01900000-0000-7000-8000-000000000000\r\n",
        b"\r\n",
        b"\xff\xfe\x00",
    ];
    for _ in 0..2000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(10) {
            if rng.below(3) == 0 {
                for _ in 0..rng.below(30) {
                    input.push(rng.next() as u8);
                }
            } else {
                input.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
        }
        fuzz::verify_message(&input);
        fuzz::auth_results(&input);
        fuzz::received(&input);
    }
}
