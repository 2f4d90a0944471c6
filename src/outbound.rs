//! Outbound HTTP the way the legacy client made it (legacy §5.1): every attempt times out
//! after 10 s, and up to three retries follow 1, 2 and 4 s apart when the answer is 408, 429
//! or 5xx-gateway, or when no answer came at all. Telegram, CNN and Yahoo all go through here.

use crate::platform::{HttpRequest, HttpResponse, Platform, PlatformError};
use futures_util::future::{select, Either};

/// How long one attempt may take.
pub(crate) const ATTEMPT_TIMEOUT_MS: u64 = 10_000;

/// The pauses before the second, third and fourth attempt.
pub(crate) const RETRY_DELAYS_MS: [u64; 3] = [1_000, 2_000, 4_000];

/// Statuses worth another attempt; any other answer is returned at once.
fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Sends `request`, retrying as the legacy client did. On the last attempt a retryable answer
/// is returned as it is and a failure is returned as the error.
pub(crate) async fn send(
    platform: &Platform,
    request: &HttpRequest,
) -> Result<HttpResponse, PlatformError> {
    let mut delays = RETRY_DELAYS_MS.iter();
    loop {
        let result = attempt(platform, request).await;
        let again = match &result {
            Ok(response) => retryable(response.status),
            Err(_) => true,
        };
        match delays.next() {
            Some(&delay) if again => {
                // The status only: a failure's text may quote the URL, which for Telegram holds
                // the bot token (the caller logs the last failure without it).
                tracing::debug!(
                    host = host_of(&request.url),
                    status = ?result.as_ref().ok().map(|r| r.status),
                    delay_ms = delay,
                    "retrying an outbound request"
                );
                platform.clock.sleep(delay).await;
            }
            _ => return result,
        }
    }
}

/// One attempt, raced against the timeout: for callers that retry on their own terms (the
/// queued broadcast retries through the queue).
pub(crate) async fn attempt(
    platform: &Platform,
    request: &HttpRequest,
) -> Result<HttpResponse, PlatformError> {
    let response = platform.http.send(request);
    let timeout = platform.clock.sleep(ATTEMPT_TIMEOUT_MS);
    match select(response, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(PlatformError(format!(
            "Request timeout after {ATTEMPT_TIMEOUT_MS}ms"
        ))),
    }
}

/// The host of a URL, for logs: Telegram URLs carry the bot token in their path.
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// The standard reason phrase of a status, as `Response.statusText` shows it (legacy §5.3);
/// the table is Node's `http.STATUS_CODES` from 300 up (only failures are reported).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot", // as legacy A.8 shows it (Node capitalises it)
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}
