//! What several integration tests share: the two halves of a fake OpenAI-compatible endpoint's
//! HTTP exchange.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

/// One request as a fake endpoint reads it.
pub struct Request {
    /// The request line (`POST /v1/chat/completions HTTP/1.1`).
    pub first: String,
    /// Header lines as sent, without their line ends.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value by its name, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Read one request (line, headers, a body of its content-length); `None` if the line cannot be read.
pub fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    r.read_line(&mut first).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        headers.push(line.trim_end().to_string());
    }
    let mut req = Request { first, headers, body: Vec::new() };
    let len = req.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0usize);
    req.body = vec![0u8; len];
    let _ = r.read_exact(&mut req.body);
    Some(req)
}

/// A whole response: `status` ("200 OK"), any `extra` header lines (each ending in `\r\n`), and `body`.
pub fn http_reply(status: &str, extra: &str, content_type: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
}
