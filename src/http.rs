//! HTTP as plain data: the parts of a request the routes look at and the response they give.
//! The `entry` glue converts to and from workers-rs types; nothing here knows the runtime or
//! any route.

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

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// A page or script: 200 with `body` as `content_type`.
    pub(crate) fn text(content_type: &'static str, body: &str) -> Self {
        Self {
            status: 200,
            content_type,
            body: body.to_owned(),
        }
    }

    /// `{"ok":true}`.
    pub(crate) fn ok() -> Self {
        Self::json(200, &json!({ "ok": true }))
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
        }
    }
}
