//! HTTP as plain data: the parts of a request the routes look at and the response they give,
//! and how a body is held to a size limit before it is read in full ([`declared`],
//! [`BoundedBody`]). The `entry` glue converts to and from workers-rs types; nothing here knows
//! the runtime or any route.

use serde_json::json;

/// The parts of an HTTP request the routes look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// The URL path, without the query string.
    pub path: String,
    /// The query string, without the `?`; empty when there is none.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of a query parameter (`+` and `%XX` decoded); the first if repeated.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| percent_decode(value))
    }

    /// The value of a header, by its lower-case name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded` decoding of one value; invalid escapes stay as typed.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A body over its limit: answered 413, and not read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// What a request's `Content-Length` (the header as received, if any) says of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// Over the limit: refused unread.
    Over,
    /// Within it: the framing holds the body to that length, so it is read in one call.
    Within,
    /// No usable length: the body is bounded while it is read ([`BoundedBody`]).
    Unknown,
}

/// What `content_length` declares against `limit`.
pub fn declared(content_length: Option<&str>, limit: usize) -> Declared {
    match content_length.and_then(|length| length.parse::<i64>().ok()) {
        Some(length) if length > limit as i64 => Declared::Over,
        Some(length) if length >= 0 => Declared::Within,
        _ => Declared::Unknown,
    }
}

/// A body read chunk by chunk, refused as soon as it passes its limit.
pub struct BoundedBody {
    bytes: Vec<u8>,
    limit: usize,
}

impl BoundedBody {
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
        }
    }

    /// Appends the next chunk; [`TooLarge`] (the chunk dropped) once the body passes the limit,
    /// after which the rest is not to be read.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        if chunk.len() > self.limit - self.bytes.len() {
            return Err(TooLarge);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// The `Retry-After` header, in seconds (a 429 tells when to come back).
    pub retry_after: Option<u32>,
}

impl Response {
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
            retry_after: None,
        }
    }

    /// A page or script: 200 with `body` as `content_type`.
    pub(crate) fn text(content_type: &'static str, body: &str) -> Self {
        Self {
            status: 200,
            content_type,
            body: body.to_owned(),
            retry_after: None,
        }
    }

    /// `{"ok":true}`: written out rather than serialised from a `Value`, since every update
    /// is answered with it (a fresh isolate's first request compiles no JSON writer for it).
    pub(crate) fn ok() -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: r#"{"ok":true}"#.to_owned(),
            retry_after: None,
        }
    }

    /// `{"ok":false,"error":<text>}` (legacy §2.2).
    pub(crate) fn error(status: u16, text: &str) -> Self {
        Self::json(status, &json!({ "ok": false, "error": text }))
    }

    /// The legacy answer to every request no route takes (legacy §2.1).
    pub(crate) fn method_not_allowed() -> Self {
        Self {
            status: 405,
            content_type: "text/plain;charset=UTF-8",
            body: "Method not allowed".into(),
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_over_the_limit_refuses_a_body_unread_and_one_within_reads_it_whole() {
        use Declared::*;
        for (header, declares) in [
            (None, Unknown),
            (Some(""), Unknown),
            (Some("ten"), Unknown),
            (Some("-1"), Unknown),
            (Some("99999999999999999999999"), Unknown),
            (Some("0"), Within),
            (Some("10"), Within),
            (Some("11"), Over),
            (Some("9223372036854775807"), Over),
        ] {
            assert_eq!(declared(header, 10), declares, "{header:?}");
        }
    }

    #[test]
    fn a_bounded_body_keeps_chunks_up_to_the_limit_and_refuses_the_one_past_it() {
        let mut body = BoundedBody::new(5);
        assert_eq!(body.push(b"ab"), Ok(()));
        assert_eq!(body.push(b""), Ok(()));
        assert_eq!(body.push(b"cde"), Ok(()));
        assert_eq!(body.push(b"f"), Err(TooLarge));
        assert_eq!(body.into_bytes(), b"abcde");
        let mut body = BoundedBody::new(5);
        assert_eq!(body.push(&[0; 6]), Err(TooLarge));
    }
}
