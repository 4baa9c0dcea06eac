//! A minimal raw HTTP/1.1 client over `TcpStream`: the request target is written byte for
//! byte, so `//`, dot segments and percent-escapes reach the server exactly as generated
//! (general-purpose clients normalize some of them). Keep-alive, `Content-Length` and
//! chunked bodies; one connection per client, reopened when the server closes it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::error::DiffError;

/// Largest response body accepted (a LIST of every accessor stays far below).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest header section accepted.
const MAX_HEADERS: usize = 64 * 1024;

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from chunked transfer encoding if needed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection to one server.
#[derive(Debug)]
pub struct Client {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

impl Client {
    /// A client for `addr` (`host:port`).
    pub fn new(addr: &str) -> Client {
        Client {
            addr: addr.to_owned(),
            conn: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// The `host:port` this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one request; retries once on a fresh connection if a kept-alive one was closed
    /// by the server before answering.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, DiffError> {
        let reused = self.conn.is_some();
        match self.send_once(method, target, headers, body) {
            Ok(r) => Ok(r),
            Err(e) if reused && e.is_closed_connection() => {
                self.conn = None;
                self.send_once(method, target, headers, body)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, DiffError> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        self.conn
            .as_mut()
            .ok_or_else(|| DiffError::Http("no connection".into()))
    }

    fn send_once(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, DiffError> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            req.push_str(k);
            req.push_str(": ");
            req.push_str(v);
            req.push_str("\r\n");
        }
        let body = body.unwrap_or(&[]);
        if !body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let conn = self.connect()?;
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        conn.get_mut().write_all(&bytes)?;
        let resp = read_response(conn, method == "HEAD")?;
        let close = resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if close {
            self.conn = None;
        }
        Ok(resp)
    }
}

/// Reads one response from `r`.
pub fn read_response<R: BufRead>(r: &mut R, head_only: bool) -> Result<Response, DiffError> {
    let mut line = String::new();
    let mut total = 0usize;
    if r.read_line(&mut line)? == 0 {
        return Err(DiffError::Closed);
    }
    let status = parse_status_line(&line)?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 {
            return Err(DiffError::Http("connection closed inside headers".into()));
        }
        total += n;
        if total > MAX_HEADERS {
            return Err(DiffError::Http("header section too large".into()));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| DiffError::Http(format!("bad header line {l:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        read_chunked(r)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| DiffError::Http(format!("bad content-length {len:?}")))?;
        if len > MAX_BODY {
            return Err(DiffError::Http(format!("body of {len} bytes too large")));
        }
        let mut b = vec![0; len];
        r.read_exact(&mut b)?;
        b
    } else {
        // Delimited by the end of the connection.
        let mut b = Vec::new();
        r.take(MAX_BODY as u64 + 1).read_to_end(&mut b)?;
        if b.len() > MAX_BODY {
            return Err(DiffError::Http("body too large".into()));
        }
        headers.push(("connection".into(), "close".into()));
        b
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn parse_status_line(line: &str) -> Result<u16, DiffError> {
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(DiffError::Http(format!("bad status line {line:?}")));
    }
    parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| DiffError::Http(format!("bad status line {line:?}")))
}

fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, DiffError> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(DiffError::Http(
                "connection closed inside a chunked body".into(),
            ));
        }
        let size_text = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| DiffError::Http(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(DiffError::Http("chunked body too large".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        line.clear();
        r.read_line(&mut line)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Response {
        read_response(&mut raw.as_bytes(), false).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn content_length_body() {
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{}");
        assert_eq!(r.header("x-a"), Some("b"));
    }

    #[test]
    fn chunked_body() {
        let r = parse(
            "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(r.status, 403);
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn body_until_close_and_no_body_statuses() {
        let r = parse("HTTP/1.0 400 Bad Request\r\n\r\nbad");
        assert_eq!(r.body, b"bad");
        assert_eq!(r.header("connection"), Some("close"));
        let r = parse("HTTP/1.1 204 No Content\r\n\r\n");
        assert!(r.body.is_empty());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for raw in [
            "",
            "SSH-2.0\r\n\r\n",
            "HTTP/1.1 abc\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno-colon\r\n\r\n",
        ] {
            assert!(
                read_response(&mut raw.as_bytes(), false).is_err(),
                "{raw:?}"
            );
        }
        assert!(
            read_response(
                &mut "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n".as_bytes(),
                false
            )
            .is_err()
        );
    }
}
