//! The DATA section reader: dot-unstuffing up to `<CRLF>.<CRLF>`, CRLF line endings, and a
//! size limit past which it keeps consuming to the terminator while storing nothing.

use bytes::{Buf, Bytes, BytesMut};

/// Progress of [`DataReader::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataStatus {
    NeedMore,
    /// The message, dot-unstuffed, with CRLF line endings.
    Done(Bytes),
    /// The terminator arrived but the message exceeded the limit (reply 552 5.3.4).
    TooBig,
}

/// Reads a DATA section up to `<CRLF>.<CRLF>`. It consumes partial lines as they arrive
/// (so one huge line cannot grow the buffer without bound) and, past the size limit, keeps
/// consuming to the terminator while storing nothing.
#[derive(Debug)]
pub struct DataReader {
    max: usize,
    body: BytesMut,
    at_line_start: bool,
    overflow: bool,
}

impl DataReader {
    pub fn new(max: usize) -> DataReader {
        DataReader {
            max,
            body: BytesMut::new(),
            at_line_start: true,
            overflow: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.body.len() + bytes.len() > self.max {
            self.overflow = true;
            self.body = BytesMut::new();
            return;
        }
        self.body.extend_from_slice(bytes);
    }

    /// Consumes what it can from `buf`; bytes after the terminator stay in `buf`.
    pub fn feed(&mut self, buf: &mut BytesMut) -> DataStatus {
        loop {
            if self.at_line_start {
                match buf.first() {
                    None => return DataStatus::NeedMore,
                    Some(b'.') => match (buf.get(1), buf.get(2)) {
                        (None, _) | (Some(b'\r'), None) => return DataStatus::NeedMore,
                        (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => {
                            let n = if buf[1] == b'\n' { 2 } else { 3 };
                            buf.advance(n);
                            return self.finish();
                        }
                        // Dot-stuffing (RFC 5321 4.5.2): drop the leading dot.
                        _ => buf.advance(1),
                    },
                    Some(_) => {}
                }
                self.at_line_start = false;
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = buf.split_to(i + 1);
                    let content = match line[..i].last() {
                        Some(b'\r') => &line[..i - 1],
                        _ => &line[..i],
                    };
                    self.push(content);
                    self.push(b"\r\n");
                    self.at_line_start = true;
                }
                None => {
                    // Keep a trailing CR: it may be half of the CRLF that ends the line.
                    let keep = usize::from(buf.last() == Some(&b'\r'));
                    let part = buf.split_to(buf.len() - keep);
                    self.push(&part);
                    return DataStatus::NeedMore;
                }
            }
        }
    }

    fn finish(&mut self) -> DataStatus {
        if self.overflow {
            DataStatus::TooBig
        } else {
            DataStatus::Done(std::mem::take(&mut self.body).freeze())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_data(chunks: &[&[u8]], max: usize) -> (DataStatus, BytesMut) {
        let mut reader = DataReader::new(max);
        let mut buf = BytesMut::new();
        for (i, chunk) in chunks.iter().enumerate() {
            buf.extend_from_slice(chunk);
            match reader.feed(&mut buf) {
                DataStatus::NeedMore => {}
                done => {
                    // Whatever the client sent later stays for the command framer.
                    chunks[i + 1..]
                        .iter()
                        .for_each(|c| buf.extend_from_slice(c));
                    return (done, buf);
                }
            }
        }
        (DataStatus::NeedMore, buf)
    }

    /// The status of a complete message whose unstuffed body is `body`.
    fn done(body: &'static [u8]) -> DataStatus {
        DataStatus::Done(Bytes::from_static(body))
    }

    #[test]
    fn data_is_unstuffed_and_terminated() {
        let (status, rest) = read_data(
            &[b"Subject: x\r\n\r\n..leading dot\r\n.\r\n..\r\nend\r\n.\r\nQUIT\r\n"],
            1000,
        );
        assert_eq!(status, done(b"Subject: x\r\n\r\n.leading dot\r\n"));
        assert_eq!(&rest[..], b"..\r\nend\r\n.\r\nQUIT\r\n");

        let (status, _) = read_data(&[b"..\r\n...x\r\n.\r\n"], 1000);
        assert_eq!(status, done(b".\r\n..x\r\n"));
    }

    #[test]
    fn empty_message() {
        let (status, rest) = read_data(&[b".\r\n"], 1000);
        assert_eq!(status, DataStatus::Done(Bytes::new()));
        assert!(rest.is_empty());
    }

    #[test]
    fn terminator_split_at_every_byte_boundary() {
        let wire = b"a\r\n.b\r\nc.\r\n\r\n.\r\nNOOP\r\n";
        for cut in 0..=wire.len() {
            for cut2 in cut..=wire.len() {
                let (status, rest) =
                    read_data(&[&wire[..cut], &wire[cut..cut2], &wire[cut2..]], 1000);
                assert_eq!(
                    status,
                    done(b"a\r\nb\r\nc.\r\n\r\n"),
                    "cuts at {cut}, {cut2}"
                );
                assert_eq!(&rest[..], b"NOOP\r\n", "cuts at {cut}, {cut2}");
            }
        }
    }

    #[test]
    fn bare_lf_is_accepted_and_stored_as_crlf() {
        let (status, _) = read_data(&[b"a\nb\r\n.\n"], 1000);
        assert_eq!(status, done(b"a\r\nb\r\n"));
        let (status, _) = read_data(&[b"a\rb\n.\r\n"], 1000);
        assert_eq!(status, done(b"a\rb\r\n"), "a lone CR inside a line is kept");
    }

    #[test]
    fn oversize_message_is_consumed_to_the_terminator() {
        let (status, rest) = read_data(&[b"0123456789\r\n", b"0123456789\r\n.\r\nRSET\r\n"], 15);
        assert_eq!(status, DataStatus::TooBig);
        assert_eq!(&rest[..], b"RSET\r\n");
        let (status, _) = read_data(&[b"0123456789\r\n.\r\n"], 12);
        assert_eq!(status, done(b"0123456789\r\n"), "exactly the limit fits");
    }

    #[test]
    fn a_long_line_without_lf_is_consumed_as_it_arrives() {
        let mut reader = DataReader::new(100);
        let mut buf = BytesMut::from(&[b'x'; 80][..]);
        assert_eq!(reader.feed(&mut buf), DataStatus::NeedMore);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"xxxx\r");
        assert_eq!(reader.feed(&mut buf), DataStatus::NeedMore);
        assert_eq!(&buf[..], b"\r", "a trailing CR waits for its LF");
        buf.extend_from_slice(b"\n.\r\n");
        let DataStatus::Done(body) = reader.feed(&mut buf) else {
            panic!("not done");
        };
        assert_eq!(body.len(), 86);
        assert!(body.ends_with(b"x\r\n"));
    }
}
