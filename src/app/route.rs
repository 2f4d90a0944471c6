//! The request dispatch: the body's size limit, then method and path to the route that
//! answers, then whatever the handler left queued.

use super::App;
use crate::admin;
use crate::http::{Request, Response};
use crate::storage;
use futures_util::FutureExt;
use serde_json::json;

/// The largest body the worker reads outside `/admin/`: a Telegram update is at most two texts
/// of 4,096 characters (the message and the one it replies to), under 64 KiB even with every
/// character `\u`-escaped, and this leaves room for its entities and quotes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What a build may serve: its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    #[cfg(feature = "bot")]
    DeployNotify,
    #[cfg(feature = "bot")]
    Webhook,
    Healthz,
    #[cfg(feature = "ops")]
    Admin,
}

impl App {
    /// The largest body a request to `path` may carry (README, "Decisions worth knowing"):
    /// 16 KiB under `/admin/`, whose bodies are small JSON commands, 256 KiB elsewhere.
    pub fn body_limit(path: &str) -> usize {
        if path.starts_with("/admin/") {
            admin::MAX_BODY_BYTES
        } else {
            MAX_BODY_BYTES
        }
    }

    /// The 413 for a body over [`App::body_limit`], refused before routing whatever the path.
    pub fn too_large() -> Response {
        Response::error(413, "Payload Too Large")
    }

    /// The route that answers `method` on `path` in this build (the `bot` and `ops`
    /// features); `None` is a 405.
    pub fn endpoint_of(method: &str, path: &str) -> Option<Endpoint> {
        match (method, path) {
            #[cfg(feature = "bot")]
            ("POST", "/deploy-notify") => Some(Endpoint::DeployNotify),
            #[cfg(feature = "bot")]
            ("POST", "/") => Some(Endpoint::Webhook),
            ("GET", "/healthz") => Some(Endpoint::Healthz),
            #[cfg(feature = "ops")]
            (_, path) if path.starts_with("/admin/") => Some(Endpoint::Admin),
            _ => None,
        }
    }

    /// Answers one request: a 413 when its body is over the path's limit, whatever the path
    /// (docs/legacy.md §10.10), else a 405 when no route takes it, else what its route
    /// answers. Each route's future is boxed: the request's future then holds none of them
    /// inline, and a fresh isolate compiles only the code of the routes it serves.
    pub async fn handle(&self, request: &Request) -> Response {
        if request.body.len() > Self::body_limit(&request.path) {
            return Self::too_large();
        }
        let Some(endpoint) = Self::endpoint_of(&request.method, &request.path) else {
            return Response::method_not_allowed();
        };
        let response = match endpoint {
            #[cfg(feature = "bot")]
            Endpoint::DeployNotify => self.deploy_notify(request).boxed_local().await,
            #[cfg(feature = "bot")]
            Endpoint::Webhook => self.webhook(request).boxed_local().await,
            Endpoint::Healthz => self.healthz().boxed_local().await,
            #[cfg(feature = "ops")]
            Endpoint::Admin => {
                crate::admin::handle(&self.admin(), request)
                    .boxed_local()
                    .await
            }
        };
        // Whatever a handler left queued (the webhook runs its own before finishing the update).
        self.after_replies().await;
        response
    }

    /// 200 with whether each store answered a trivial request.
    async fn healthz(&self) -> Response {
        let health = storage::probe(self.platform()).await;
        let ok = health.d1 && health.kv;
        if !ok {
            tracing::warn!(
                d1 = health.d1,
                kv = health.kv,
                "health check found a store not answering"
            );
        }
        Response::json(200, &json!({ "ok": ok, "d1": health.d1, "kv": health.kv }))
    }
}
