//! The admin API's one error type and its JSON shape (migration.md §6):
//! `{"ok":false,"error":{"code":…,"message":…,"details":[…]}}`. Internal causes are logged,
//! never sent.

use crate::http::Response;
use serde_json::json;

/// Why an admin request was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AdminError {
    /// 404: the admin API is disabled (no token configured) or the path is unknown.
    NotFound,
    /// 401: the bearer token is missing or wrong.
    Unauthorized,
    /// 429: the client made too many failed bearer attempts lately; it may try again after
    /// `retry_after` seconds (the `Retry-After` header). Nothing else was looked at.
    TooManyAttempts { retry_after: u32 },
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 400: the request is malformed; the message names the problem. Nothing was changed.
    BadRequest {
        message: String,
        details: Vec<String>,
    },
    /// 409: a guard rail refused the change; the details list every unmet condition.
    Conflict {
        message: String,
        details: Vec<String>,
    },
    /// 409: the move is never allowed (it skips a phase), forced or not.
    Forbidden {
        message: String,
        details: Vec<String>,
    },
    /// 500: storage failed; the cause was logged.
    Internal,
}

impl AdminError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub(crate) fn into_response(self) -> Response {
        let retry_after = match self {
            Self::TooManyAttempts { retry_after } => Some(retry_after),
            _ => None,
        };
        let (status, code, message, details) = match self {
            Self::NotFound => (404, "not_found", "Not found".to_owned(), vec![]),
            Self::Unauthorized => (
                401,
                "unauthorized",
                "Missing or wrong bearer token".to_owned(),
                vec![],
            ),
            Self::TooManyAttempts { .. } => (
                429,
                "too_many_attempts",
                "Too many failed bearer attempts; retry after the Retry-After seconds".to_owned(),
                vec![],
            ),
            Self::MethodNotAllowed => (
                405,
                "method_not_allowed",
                "Method not allowed".to_owned(),
                vec![],
            ),
            Self::BadRequest { message, details } => (400, "bad_request", message, details),
            Self::Conflict { message, details } => (409, "guard_rail", message, details),
            Self::Forbidden { message, details } => (409, "forbidden_transition", message, details),
            Self::Internal => (
                500,
                "internal",
                "Internal error; see the worker logs".to_owned(),
                vec![],
            ),
        };
        Response {
            retry_after,
            ..Response::json(
                status,
                &json!({ "ok": false, "error": { "code": code, "message": message, "details": details } }),
            )
        }
    }
}

/// Storage failures become a logged 500.
impl From<crate::storage::StorageError> for AdminError {
    fn from(error: crate::storage::StorageError) -> Self {
        tracing::error!(error = %error, "admin request failed on storage");
        Self::Internal
    }
}
