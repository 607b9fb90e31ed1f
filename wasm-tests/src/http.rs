//! A tiny HTTP/1.1 client over `TcpStream`, for loopback only.
//!
//! Why not a crate: tests must send raw, unnormalized paths (`//a/../b`, `%2F`) and duplicate or odd
//! headers exactly as written to probe Envoy's path handling and the plugins; URL-parsing clients rewrite
//! those. No TLS is needed. One request per connection (`Connection: close`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::Context;
use crate::{Error, Result};

/// A request to `addr` (`host:port`) with the path sent verbatim.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    addr: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

/// A complete response (body de-chunked).
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in received order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// A request; `Host` defaults to `addr` unless a `host` header is added.
    pub fn new(method: &str, addr: impl Into<String>, path: &str) -> Request {
        Request {
            method: method.to_string(),
            addr: addr.into(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: Duration::from_secs(15),
        }
    }

    /// `GET`.
    pub fn get(addr: impl Into<String>, path: &str) -> Request {
        Request::new("GET", addr, path)
    }

    /// `POST`.
    pub fn post(addr: impl Into<String>, path: &str) -> Request {
        Request::new("POST", addr, path)
    }

    /// Adds a header (repeatable: the same name twice sends two lines).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Request {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Raw body bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// JSON body with `content-type: application/json`.
    pub fn json(self, value: &serde_json::Value) -> Request {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    /// `application/x-www-form-urlencoded` body from pairs (values must already be URL-safe).
    pub fn form(self, pairs: &[(&str, &str)]) -> Request {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
    }

    /// Read/write/connect timeout (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = timeout;
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(&self) -> Result<Response> {
        let what = format!("{} http://{}{}", self.method, self.addr, self.path);
        let sock: SocketAddr = self
            .addr
            .parse()
            .context(format!("{what}: address must be ip:port"))?;
        let mut stream = TcpStream::connect_timeout(&sock, self.timeout).context(&what)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            head.push_str(&format!("host: {}\r\n", self.addr));
        }
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let has_len = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !has_len
            && (!self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH"))
        {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        head.push_str("connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).context(&what)?;
        stream.write_all(&self.body).context(&what)?;
        // Stop once a content-length body is complete: after a local reply Envoy waits up to its
        // delayed_close_timeout (1 s) for the client to close, which would count as latency.
        let head_only = self.method == "HEAD";
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = stream
                .read(&mut buf)
                .context(format!("{what}: reading response"))?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(buf.get(..n).unwrap_or_default());
            if response_complete(&raw, head_only) {
                break;
            }
        }
        parse_response(&raw, head_only).context(what)
    }
}

impl Response {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header (e.g. several `set-cookie`).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error(format!("response body is not JSON ({e}): {}", self.text())))
    }
}

/// `GET http://addr/path`.
pub fn get(addr: &str, path: &str) -> Result<Response> {
    Request::get(addr, path).send()
}

/// True when something accepts TCP connections on 127.0.0.1:port.
pub fn tcp_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// True when `raw` holds a whole response whose end is known without the connection closing:
/// a head-only status, or a `content-length` body (chunked and unsized bodies read to the close).
fn response_complete(raw: &[u8], head_only: bool) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let Ok(r) = parse_response(raw.get(..end + 4).unwrap_or_default(), true) else {
        return false;
    };
    if head_only || r.status == 204 || r.status == 304 {
        return true;
    }
    if (100..200).contains(&r.status) || r.header("transfer-encoding").is_some() {
        return false;
    }
    r.header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| raw.len() >= end + 4 + len)
}

fn parse_response(raw: &[u8], head_only: bool) -> Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::msg("incomplete response head"))?;
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default());
    let rest = raw.get(end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error(format!("bad status line: {status_line}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        rest.get(..len)
            .ok_or_else(|| Error(format!("body shorter than content-length {len}")))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| Error::msg("bad chunk"))?;
        let size_line =
            String::from_utf8_lossy(data.get(..line_end).unwrap_or_default()).into_owned();
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| Error(format!("bad chunk size {size_hex:?}")))?;
        if size == 0 {
            return Ok(out);
        }
        let start = line_end + 2;
        out.extend_from_slice(
            data.get(start..start + size)
                .ok_or_else(|| Error::msg("truncated chunk"))?,
        );
        data = data
            .get(start + size + 2..)
            .ok_or_else(|| Error::msg("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn chunked_and_content_length_bodies_are_decoded() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(chunked, false).unwrap();
        assert_eq!(
            (r.status, r.text().as_str(), r.header("x-a")),
            (200, "abcde", Some("1"))
        );
        let fixed = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nnoEXTRA";
        assert_eq!(parse_response(fixed, false).unwrap().text(), "no");
    }

    #[test]
    fn a_sized_response_is_complete_without_waiting_for_the_close() {
        use super::response_complete;
        let cases: [(&[u8], bool, bool); 6] = [
            (
                b"HTTP/1.1 503 X\r\ncontent-length: 2\r\n\r\nab",
                false,
                true,
            ),
            (
                b"HTTP/1.1 503 X\r\ncontent-length: 2\r\n\r\na",
                false,
                false,
            ),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n", false, false),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
                false,
                false,
            ),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true, true),
            (b"HTTP/1.1 204 No Content\r\n\r\n", false, true),
        ];
        for (raw, head_only, want) in cases {
            assert_eq!(
                response_complete(raw, head_only),
                want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
