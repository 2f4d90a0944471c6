//! The admin API (migration.md §6): operators and on-call read the move's evidence and flip
//! phases under `/admin/`. Bearer `ADMIN_API_TOKEN`, compared in constant time; without a
//! configured token every call is a 404; repeated failed attempts are limited (`attempts`).
//! Bodies are JSON, at most [`MAX_BODY_BYTES`] (refused before routing, `app::route`). The
//! dashboard page (`dashboard`) is the one exception to the bearer: it holds no data. Every
//! endpoint is one row of `ROUTES`, which both routing and the 404/405 refusals follow.

mod attempts;
mod body;
mod broadcast;
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

pub(crate) use attempts::Attempts;
pub(crate) use context::AdminContext;
pub(crate) use error::AdminError;

use crate::http::{Request, Response};
use crate::secret::Secret;
use futures_util::future::{ready, LocalBoxFuture};
use futures_util::FutureExt;

/// The largest body an admin call reads: its bodies are JSON commands of a few hundred bytes.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// Answers one `/admin/` request.
pub(crate) async fn handle(cx: &AdminContext<'_>, request: &Request) -> Response {
    match route(cx, request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(
                method = %request.method,
                path = %request.path,
                client = attempts::client(request),
                refusal = ?error,
                "admin request refused"
            );
            error.into_response()
        }
    }
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq)]
enum Access {
    /// The bearer token.
    Bearer,
    /// Anyone while the API is enabled: the dashboard's files, which hold no data.
    Open,
}

/// An endpoint's handler; its future is boxed so that one table holds them all.
type Handler = for<'a> fn(
    &'a AdminContext<'a>,
    &'a Request,
) -> LocalBoxFuture<'a, Result<Response, AdminError>>;

/// One endpoint: a method on a path, who may call it and what answers.
struct Route {
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: Handler,
}

impl Route {
    const fn bearer(method: &'static str, path: &'static str, handler: Handler) -> Self {
        Self {
            method,
            path,
            access: Access::Bearer,
            handler,
        }
    }

    const fn open(method: &'static str, path: &'static str, handler: Handler) -> Self {
        Self {
            method,
            path,
            access: Access::Open,
            handler,
        }
    }
}

/// Every endpoint of the API, the one list both routing and refusals follow: a path listed
/// with other methods only is a 405, a path not listed a 404 (both after the bearer check,
/// so neither tells a caller without the token which paths exist).
static ROUTES: &[Route] = &[
    Route::open("GET", "/admin/dashboard", |_, _| {
        ready(Ok(dashboard::page())).boxed_local()
    }),
    Route::open("GET", "/admin/dashboard.mjs", |_, _| {
        ready(Ok(dashboard::script())).boxed_local()
    }),
    Route::bearer("GET", "/admin/flags", |cx, _| flags::list(cx).boxed_local()),
    Route::bearer("PUT", "/admin/flags", |cx, r| {
        flags::put(cx, r).boxed_local()
    }),
    Route::bearer("GET", "/admin/migration/status", |cx, _| {
        status::status(cx).boxed_local()
    }),
    Route::bearer("POST", "/admin/repair", |cx, r| {
        repair::repair(cx, r).boxed_local()
    }),
    Route::bearer("POST", "/admin/kv-cleanup", |cx, r| {
        cleanup::kv_cleanup(cx, r).boxed_local()
    }),
    Route::bearer("POST", "/admin/backfill", |cx, r| {
        sweeps::backfill(cx, r).boxed_local()
    }),
    Route::bearer("GET", "/admin/backfill", |cx, _| {
        sweeps::progress(cx).boxed_local()
    }),
    Route::bearer("POST", "/admin/validate", |cx, r| {
        sweeps::validate(cx, r).boxed_local()
    }),
    Route::bearer("POST", "/admin/reverse-sync", |cx, r| {
        sweeps::reverse_sync(cx, r).boxed_local()
    }),
    Route::bearer("GET", "/admin/divergences", |cx, r| {
        evidence::divergences(cx, r).boxed_local()
    }),
    Route::bearer("GET", "/admin/metrics", |cx, r| {
        evidence::metrics(cx, r).boxed_local()
    }),
    Route::bearer("GET", "/admin/broadcast", |cx, _| {
        broadcast::runs(cx).boxed_local()
    }),
];

/// Every method and path of [`ROUTES`], for the tests that drive each endpoint.
#[cfg(feature = "testing")]
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES.iter().map(|route| (route.method, route.path))
}

async fn route(cx: &AdminContext<'_>, request: &Request) -> Result<Response, AdminError> {
    let on_path = || ROUTES.iter().filter(|route| route.path == request.path);
    if on_path().any(|route| route.access == Access::Open) {
        enabled(cx)?;
    } else {
        authorise(cx, request).await?;
    }
    match on_path().find(|route| route.method == request.method) {
        Some(route) => (route.handler)(cx, request).await,
        None if on_path().next().is_some() => Err(AdminError::MethodNotAllowed),
        None => Err(AdminError::NotFound),
    }
}

/// 404 when the API is disabled, 429 while the client is limited, 401 unless the bearer
/// token matches.
async fn authorise(cx: &AdminContext<'_>, request: &Request) -> Result<(), AdminError> {
    let token = enabled(cx)?;
    let client = attempts::client(request);
    attempts::refuse_if_limited(cx, client)?;
    let presented = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(presented) if token.matches(presented) => Ok(()),
        _ => Err(attempts::failed(cx, client).await),
    }
}

/// The configured token; 404 when there is none (the API is disabled).
fn enabled<'a>(cx: &AdminContext<'a>) -> Result<&'a Secret, AdminError> {
    cx.token.ok_or(AdminError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_is_routed_once_and_all_methods_of_a_path_share_its_access() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.path.starts_with("/admin/"), "{}", a.path);
            for b in &ROUTES[i + 1..] {
                assert!(
                    a.method != b.method || a.path != b.path,
                    "{} {} routed twice",
                    a.method,
                    a.path
                );
                assert!(a.path != b.path || a.access == b.access, "{}", a.path);
            }
        }
    }
}
