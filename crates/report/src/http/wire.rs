//! HTTP/1.1 as far as a read-only server needs it: the request line and the two headers that
//! matter (`Connection`, and any that announces a body, which is refused), and the head of an
//! answer.

use std::io::{self, Write};

use super::Answer;

/// Room kept before a buffered body for the status line and headers, written last.
pub(super) const HEAD_ROOM: usize = 320;

/// The answer to a newcomer when every slot is busy answering.
pub(super) const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";

/// A request as far as a read-only server cares.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) path: String,
    pub(super) head_only: bool,
    pub(super) http11: bool,
    pub(super) keep_alive: bool,
}

pub(super) fn parse(head: &[u8]) -> Result<Request, u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, path, version) = (
        first.next().unwrap_or(""),
        first.next().unwrap_or(""),
        first.next().unwrap_or(""),
    );
    if !version.starts_with("HTTP/1.") || !path.starts_with('/') {
        return Err(400);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(405),
    };
    let http11 = version == "HTTP/1.1";
    let mut keep_alive = http11;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if (name.eq_ignore_ascii_case("content-length") && value != "0")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            // A body: nothing here takes one.
            return Err(400);
        }
    }
    Ok(Request {
        path: path.to_string(),
        head_only,
        http11,
        keep_alive,
    })
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A chunk size as seven hex digits (leading zeros are allowed).
pub(super) fn hex7(n: usize) -> [u8; 7] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 7];
    for (k, d) in out.iter_mut().rev().enumerate() {
        *d = DIGITS[(n >> (4 * k)) & 15];
    }
    out
}

/// The status line and headers into `buf`; how many bytes.
pub(super) fn write_head(
    buf: &mut [u8],
    a: &Answer,
    len: Option<usize>,
    chunked: bool,
    keep_alive: bool,
) -> usize {
    let mut w = io::Cursor::new(buf);
    let _ = write!(
        w,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nCache-Control: no-store\r\n",
        a.status,
        reason(a.status),
        a.content_type
    );
    let _ = match (len, chunked) {
        (Some(n), _) => write!(w, "Content-Length: {n}\r\n"),
        (None, true) => write!(w, "Transfer-Encoding: chunked\r\n"),
        (None, false) => Ok(()),
    };
    let _ = write!(
        w,
        "Connection: {}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    );
    w.position() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_a_read_only_server_needs() {
        let r = parse(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: close").unwrap();
        assert_eq!(
            (r.path.as_str(), r.keep_alive, r.http11),
            ("/a?b=1", false, true)
        );
        assert_eq!(parse(b"DELETE / HTTP/1.1"), Err(405));
        assert_eq!(parse(b"GET nothing HTTP/1.1"), Err(400));
        assert!(
            parse(b"GET / HTTP/1.0\r\nConnection: keep-alive")
                .unwrap()
                .keep_alive
        );
        assert_eq!(&hex7(0x1f2), b"00001f2");
    }
}
