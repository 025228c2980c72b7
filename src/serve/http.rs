//! The little HTTP/1.1 the page needs, over `std::net`: one request per
//! connection (every answer says `Connection: close`), a head of at most
//! [`MOST_HEAD_BYTES`], a body of at most [`MOST_BODY_BYTES`] announced by
//! `Content-Length` (chunked bodies are refused), and [`TIME_TO_SEND`] to
//! send the whole request. A request that breaks a bound is answered with
//! its 4xx status and a sentence, and the connection is closed.

use serde::Serialize;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The request line and headers.
pub const MOST_HEAD_BYTES: usize = 16 * 1024;

/// A program's text, in JSON: the example programs are a few kilobytes, a
/// program of 5,000 rules about half a megabyte.
pub const MOST_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long a client has to send its whole request.
pub const TIME_TO_SEND: Duration = Duration::from_secs(20);

/// How long one read of the connection waits before the time left is
/// looked at again: the connection's read timeout.
pub const READ_WAIT: Duration = Duration::from_secs(1);

/// A request as read: the method, the path (without its query), the
/// headers (names in lowercase) and the body.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of a header, by its name in lowercase.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: its status, its type and its body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON document (200).
    pub fn json(value: &impl Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status: 200,
                content_type: "application/json",
                body,
            },
            Err(error) => Response::refusal(500, &format!("cannot write the answer: {error}")),
        }
    }

    /// A file of the page (200).
    pub fn asset(content_type: &'static str, text: &'static str) -> Response {
        Response {
            status: 200,
            content_type,
            body: text.as_bytes().to_vec(),
        }
    }

    /// A request not served, with its status and the sentence that says why.
    pub fn refusal(status: u16, why: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{why}\n").into_bytes(),
        }
    }
}

/// The reason phrase of the statuses the server gives.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Writes an answer, closing the connection after it. The page's own rules
/// go with it: nothing is loaded from anywhere but the server, nothing
/// is cached.
pub fn write_response(out: &mut impl Write, response: &Response) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\n\
         Content-Type: {}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n\
         Connection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(&response.body)?;
    out.flush()
}

/// Reads one request from `input` (whose reads time out on their own),
/// within the bounds; the refusal to send when it breaks one.
pub fn read_request(input: &mut impl Read) -> Result<Request, Response> {
    let started = Instant::now();
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let end = find(&buffer, b"\r\n\r\n");
        if let Some(at) = end.filter(|at| *at <= MOST_HEAD_BYTES) {
            break at;
        }
        if end.is_some() || buffer.len() > MOST_HEAD_BYTES {
            return Err(Response::refusal(
                431,
                &format!("the request's head is longer than {MOST_HEAD_BYTES} bytes"),
            ));
        }
        let read = read_some(input, &mut chunk, started)?;
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
    };
    let head = std::str::from_utf8(buffer.get(..head_end).unwrap_or_default())
        .map_err(|_| Response::refusal(400, "the request's head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Response::refusal(
            400,
            "the request line is not `METHOD PATH HTTP/1.1`",
        ));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::refusal(400, "only HTTP/1.x is served"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Response::refusal(400, &format!("`{line}` is not a header")));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(Response::refusal(
            411,
            "send the body with a Content-Length, not in chunks",
        ));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(text) => text.parse::<usize>().map_err(|_| {
            Response::refusal(400, &format!("Content-Length `{text}` is not a size"))
        })?,
    };
    if length > MOST_BODY_BYTES {
        return Err(Response::refusal(
            413,
            &format!("the body is {length} bytes, more than the {MOST_BODY_BYTES} served"),
        ));
    }
    let mut body = buffer.split_off(head_end + 4);
    while body.len() < length {
        let read = read_some(input, &mut chunk, started)?;
        body.extend_from_slice(chunk.get(..read).unwrap_or_default());
    }
    body.truncate(length);
    request.body = body;
    Ok(request)
}

/// Reads what has come, at least a byte, waiting [`READ_WAIT`] at a time;
/// a refusal when the client closed the connection, or is out of time.
fn read_some(input: &mut impl Read, chunk: &mut [u8], started: Instant) -> Result<usize, Response> {
    loop {
        if started.elapsed() > TIME_TO_SEND {
            let took = TIME_TO_SEND.as_secs();
            return Err(Response::refusal(
                408,
                &format!("the request took more than {took} s to send"),
            ));
        }
        match input.read(chunk) {
            Ok(0) => return Err(Response::refusal(400, "the request ended early")),
            Ok(read) => return Ok(read),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                return Err(Response::refusal(
                    400,
                    &format!("cannot read the request: {e}"),
                ))
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Result<Request, Response> {
        read_request(&mut &text[..])
    }

    #[test]
    fn a_request_with_a_body_is_read_whole_and_no_further() {
        let request = read(
            b"POST /api/analyze?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello and more",
        )
        .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/api/analyze");
        assert_eq!(request.header("host"), Some("x"));
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn requests_out_of_bounds_are_refused_with_their_status() {
        let status = |text: &[u8]| read(text).map(|_| 200).unwrap_or_else(|r| r.status);
        let long_head = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MOST_HEAD_BYTES)
        );
        assert_eq!(status(long_head.as_bytes()), 431);
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MOST_BODY_BYTES + 1
        );
        assert_eq!(status(big.as_bytes()), 413);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"),
            400
        );
        assert_eq!(status(b"GET /\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 200);
    }
}
