//! The request dispatch: method and path to the route that answers, then whatever the handler
//! left queued.

use super::App;
use crate::http::{Request, Response};
use crate::storage;
use futures_util::FutureExt;
use serde_json::json;

impl App {
    /// Routes one request. Each route's future is boxed: the request's future then holds none
    /// of them inline, and a fresh isolate compiles only the code of the routes it serves.
    pub async fn handle(&self, request: &Request) -> Response {
        let response = match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/deploy-notify") => self.deploy_notify(request).boxed_local().await,
            ("POST", "/") => self.webhook(request).boxed_local().await,
            ("GET", "/healthz") => self.healthz().boxed_local().await,
            (_, path) if path.starts_with("/admin/") => {
                crate::admin::handle(&self.admin(), request)
                    .boxed_local()
                    .await
            }
            _ => Response::method_not_allowed(),
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
