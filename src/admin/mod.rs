//! The admin API (migration.md §6): operators and on-call read the move's evidence and flip
//! phases under `/admin/`. Bearer `ADMIN_API_TOKEN`, compared in constant time; without a
//! configured token every call is a 404. Bodies are JSON, at most [`MAX_BODY_BYTES`]. The
//! dashboard page (`dashboard`) is the one exception to the bearer: it holds no data.

mod cleanup;
mod dashboard;
mod error;
mod evidence;
mod facts;
mod flags;
mod repair;
mod status;
mod sweeps;

pub use error::AdminError;

use crate::app::App;
use crate::http::{Request, Response};

/// The largest body an admin call reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Answers one `/admin/` request.
pub async fn handle(app: &App, request: &Request) -> Response {
    match route(app, request).await {
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

async fn route(app: &App, request: &Request) -> Result<Response, AdminError> {
    if let Some(file) = dashboard::file(&request.path) {
        enabled(app)?;
        return match request.method.as_str() {
            "GET" => Ok(file),
            _ => Err(AdminError::MethodNotAllowed),
        };
    }
    authorise(app, request)?;
    if request.body.len() > MAX_BODY_BYTES {
        return Err(AdminError::PayloadTooLarge);
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/admin/flags") => flags::list(app).await,
        ("PUT", "/admin/flags") => flags::put(app, request).await,
        ("GET", "/admin/migration/status") => status::status(app).await,
        ("POST", "/admin/repair") => repair::repair(app, request).await,
        ("POST", "/admin/kv-cleanup") => cleanup::kv_cleanup(app, request).await,
        ("POST", "/admin/backfill") => sweeps::backfill(app, request).await,
        ("GET", "/admin/backfill") => sweeps::progress(app).await,
        ("POST", "/admin/validate") => sweeps::validate(app, request).await,
        ("POST", "/admin/reverse-sync") => sweeps::reverse_sync(app, request).await,
        ("GET", "/admin/divergences") => evidence::divergences(app, request).await,
        ("GET", "/admin/metrics") => evidence::metrics(app, request).await,
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
fn authorise(app: &App, request: &Request) -> Result<(), AdminError> {
    let token = enabled(app)?;
    let presented = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(presented) if token.matches(presented) => Ok(()),
        _ => Err(AdminError::Unauthorized),
    }
}

/// The configured token; 404 when there is none (the API is disabled).
fn enabled(app: &App) -> Result<&crate::secret::Secret, AdminError> {
    app.config()
        .admin_api_token
        .as_ref()
        .ok_or(AdminError::NotFound)
}
