//! The admin API (migration.md §6): operators and on-call read the move's evidence and flip
//! phases under `/admin/`. Bearer `ADMIN_API_TOKEN`, compared in constant time; without a
//! configured token every call is a 404. Bodies are JSON, at most [`MAX_BODY_BYTES`]. The
//! dashboard page (`dashboard`) is the one exception to the bearer: it holds no data.

mod body;
mod cleanup;
mod context;
mod dashboard;
mod error;
mod evidence;
mod facts;
mod flags;
mod repair;
mod status;
mod sweeps;

pub(crate) use context::AdminContext;
pub use error::AdminError;

use crate::http::{Request, Response};
use crate::secret::Secret;

/// The largest body an admin call reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Answers one `/admin/` request.
pub(crate) async fn handle(cx: &AdminContext<'_>, request: &Request) -> Response {
    match route(cx, request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(
                method = %request.method,
                path = %request.path,
                refusal = ?error,
                "admin request refused"
            );
            error.into_response()
        }
    }
}

async fn route(cx: &AdminContext<'_>, request: &Request) -> Result<Response, AdminError> {
    if let Some(file) = dashboard::file(&request.path) {
        enabled(cx)?;
        return match request.method.as_str() {
            "GET" => Ok(file),
            _ => Err(AdminError::MethodNotAllowed),
        };
    }
    authorise(cx, request)?;
    if request.body.len() > MAX_BODY_BYTES {
        return Err(AdminError::PayloadTooLarge);
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/admin/flags") => flags::list(cx).await,
        ("PUT", "/admin/flags") => flags::put(cx, request).await,
        ("GET", "/admin/migration/status") => status::status(cx).await,
        ("POST", "/admin/repair") => repair::repair(cx, request).await,
        ("POST", "/admin/kv-cleanup") => cleanup::kv_cleanup(cx, request).await,
        ("POST", "/admin/backfill") => sweeps::backfill(cx, request).await,
        ("GET", "/admin/backfill") => sweeps::progress(cx).await,
        ("POST", "/admin/validate") => sweeps::validate(cx, request).await,
        ("POST", "/admin/reverse-sync") => sweeps::reverse_sync(cx, request).await,
        ("GET", "/admin/divergences") => evidence::divergences(cx, request).await,
        ("GET", "/admin/metrics") => evidence::metrics(cx, request).await,
        (
            _,
            "/admin/flags"
            | "/admin/migration/status"
            | "/admin/repair"
            | "/admin/kv-cleanup"
            | "/admin/backfill"
            | "/admin/validate"
            | "/admin/reverse-sync"
            | "/admin/divergences"
            | "/admin/metrics",
        ) => Err(AdminError::MethodNotAllowed),
        _ => Err(AdminError::NotFound),
    }
}

/// 404 when the API is disabled, 401 unless the bearer token matches.
fn authorise(cx: &AdminContext<'_>, request: &Request) -> Result<(), AdminError> {
    let token = enabled(cx)?;
    let presented = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(presented) if token.matches(presented) => Ok(()),
        _ => Err(AdminError::Unauthorized),
    }
}

/// The configured token; 404 when there is none (the API is disabled).
fn enabled<'a>(cx: &AdminContext<'a>) -> Result<&'a Secret, AdminError> {
    cx.token.ok_or(AdminError::NotFound)
}
