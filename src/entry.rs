//! The `#[event]` glue: the only code that reads `worker::Env`. It builds the platform from
//! the bindings, converts requests and responses, and hands everything else to `App`.

use crate::app::config::Config;
#[cfg(feature = "bot")]
use crate::app::queued::{Delivery, Verdict};
use crate::app::{App, Isolate};
use crate::fanout::SEND_SPACING_MS;
use crate::http;
use crate::migration::Phase;
use crate::platform::workerd::{
    self, WorkerAnalytics, WorkerClock, WorkerD1, WorkerFetch, WorkerKv, WorkerQueue,
    WorkerRateLimiter,
};
use crate::platform::Platform;
use crate::secret::Secret;
use futures_util::future::FutureExt;
#[cfg(not(feature = "ops"))]
use futures_util::future::LocalBoxFuture;
use std::rc::Rc;
#[cfg(not(feature = "ops"))]
use worker::Fetcher;
use worker::{
    event, web_sys, Context, D1Database, Env, EnvBinding, ScheduleContext, ScheduledEvent,
};
#[cfg(feature = "bot")]
use worker::{MessageBatch, MessageExt, QueueRetryOptionsBuilder};

const D1_BINDING: &str = "FEAR_GREED_D1";
const KV_BINDING: &str = "FEAR_GREED_KV";
/// The optional Workers Analytics Engine dataset of the migration counters.
const ANALYTICS_BINDING: &str = "MIGRATION_ANALYTICS";
/// The optional Workers Rate Limiting binding of failed admin bearer attempts.
const ADMIN_LIMIT_BINDING: &str = "ADMIN_AUTH_LIMIT";
/// The bot worker's service binding to the ops worker, which answers `/admin/`.
#[cfg(not(feature = "ops"))]
const OPS_BINDING: &str = "OPS";
/// The optional queue the broadcast fans out through (docs/broadcast-queue.md); without it the
/// broadcast is sent inline. The bot's alone: the ops worker neither produces nor consumes.
const QUEUE_BINDING: &str = "BROADCAST_QUEUE";
/// The queue the broadcast's messages go to once out of retries; the bot consumes it too.
#[cfg(feature = "bot")]
const DEAD_LETTER_QUEUE: &str = "fear-greed-broadcast-dlq";

/// A binding `wrangler.toml` should declare is missing.
#[derive(Debug, thiserror::Error)]
enum ConfigError {
    #[error("binding {0} is not configured")]
    MissingBinding(&'static str),
}

fn platform_from_env(env: &Env, settings: &Settings) -> Result<Platform, ConfigError> {
    let kv = workerd::binding(env, KV_BINDING).ok_or(ConfigError::MissingBinding(KV_BINDING))?;
    let db =
        binding::<D1Database>(env, D1_BINDING).ok_or(ConfigError::MissingBinding(D1_BINDING))?;
    let clock = match settings.test_clock_start_ms {
        Some(start_ms) => WorkerClock::starting_at(start_ms),
        None => WorkerClock::real(),
    };
    Ok(Platform {
        kv: Rc::new(WorkerKv(kv)),
        db: Rc::new(WorkerD1(db)),
        clock: Rc::new(clock),
        http: Rc::new(WorkerFetch),
    })
}

/// A var or secret as text; `None` when unset (or not text).
fn text_binding(env: &Env, name: &str) -> Option<String> {
    workerd::binding(env, name)?.as_string()
}

/// The binding `name` of type `T`; `None` when the worker has none of that type.
fn binding<T: EnvBinding>(env: &Env, name: &str) -> Option<T> {
    T::get(workerd::binding(env, name)?).ok()
}

/// The production endpoints, no secrets: what a deploy gets before vars and secrets apply.
fn production_config() -> Config {
    Config {
        telegram_api_base_url: "https://api.telegram.org".into(),
        bot_token: None,
        webhook_secret: None,
        admin_chat_id: None,
        cnn_base_url: "https://production.dataviz.cnn.io".into(),
        yahoo_base_url: "https://query1.finance.yahoo.com".into(),
        admin_api_token: None,
        storage_phase_default: Phase::KvOnly,
        public_url: None,
        broadcast_send_spacing_ms: SEND_SPACING_MS,
    }
}

fn config_from_env(env: &Env) -> Config {
    let defaults = production_config();
    Config {
        telegram_api_base_url: text_binding(env, "TELEGRAM_API_BASE_URL")
            .unwrap_or(defaults.telegram_api_base_url),
        bot_token: Secret::new(text_binding(env, "TELEGRAM_BOT_TOKEN_SECRET")),
        webhook_secret: Secret::new(text_binding(env, "TELEGRAM_WEBHOOK_SECRET")),
        admin_chat_id: text_binding(env, "ADMIN_CHAT_ID").filter(|id| !id.is_empty()),
        cnn_base_url: text_binding(env, "CNN_BASE_URL").unwrap_or(defaults.cnn_base_url),
        yahoo_base_url: text_binding(env, "YAHOO_BASE_URL").unwrap_or(defaults.yahoo_base_url),
        admin_api_token: Secret::new(text_binding(env, "ADMIN_API_TOKEN")),
        storage_phase_default: storage_phase_default(env),
        public_url: text_binding(env, "PUBLIC_URL").filter(|url| !url.is_empty()),
        broadcast_send_spacing_ms: text_binding(env, "BROADCAST_SEND_SPACING_MS")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(defaults.broadcast_send_spacing_ms),
    }
}

/// `STORAGE_PHASE_DEFAULT`; an unset or unknown value is logged and means `kv_only`, the
/// phase that changes nothing.
fn storage_phase_default(env: &Env) -> Phase {
    match text_binding(env, "STORAGE_PHASE_DEFAULT").map(|v| v.parse::<Phase>()) {
        Some(Ok(phase)) => phase,
        Some(Err(e)) => {
            tracing::error!(error = %e, "STORAGE_PHASE_DEFAULT is not a phase; using kv_only");
            Phase::KvOnly
        }
        None => Phase::KvOnly,
    }
}

/// The vars and secrets, read once per isolate: changing one deploys a new version of the
/// worker, which runs in new isolates.
#[derive(Clone)]
struct Settings {
    config: Config,
    /// Test-only: the workerd suite pins the date (weekends, holidays, months) with this var.
    /// It is never set in wrangler.toml, so deployed workers run on the real clock.
    test_clock_start_ms: Option<i64>,
}

thread_local! {
    /// What this isolate remembers between the requests it serves.
    static ISOLATE: Isolate = Isolate::default();
    static SETTINGS: std::cell::OnceCell<Settings> = const { std::cell::OnceCell::new() };
}

/// This isolate's [`Settings`], read from `env` by its first request.
fn settings(env: &Env) -> Settings {
    SETTINGS.with(|settings| {
        settings
            .get_or_init(|| Settings {
                config: config_from_env(env),
                test_clock_start_ms: text_binding(env, "TEST_CLOCK_START_MS")
                    .and_then(|ms| ms.parse().ok()),
            })
            .clone()
    })
}

fn app_from_env(env: &Env) -> Result<App, ConfigError> {
    let settings = settings(env);
    let platform = platform_from_env(env, &settings)?;
    let app = App::in_isolate(platform, settings.config, ISOLATE.with(Isolate::clone));
    // Optional: without the binding the counters go to D1 only.
    let app = match binding(env, ANALYTICS_BINDING) {
        Some(dataset) => app.with_analytics(Rc::new(WorkerAnalytics(dataset))),
        None => app,
    };
    // Optional: without the binding the isolate counts failed admin attempts.
    let app = match WorkerRateLimiter::bound(env, ADMIN_LIMIT_BINDING) {
        Some(limiter) => app.with_admin_limiter(Rc::new(limiter)),
        None => app,
    };
    // Optional: without the binding the broadcast is sent inline (the ops worker has none).
    Ok(match binding(env, QUEUE_BINDING) {
        Some(queue) => app.with_queue(Rc::new(WorkerQueue(queue))),
        None => app,
    })
}

/// Installs the JSON log lines, once per isolate.
#[event(start)]
fn start() {
    workerd::install_console_log();
}

/// The request and the response stay `web_sys` types: `worker::Request` would read the
/// request's `cf` object and `worker::Response` copy the body once more.
///
/// A fresh isolate compiles each wasm function on its first call, whole, whatever branch
/// runs: so the request's future is boxed (the event glue then holds none of it inline), and
/// so is each step a request may skip (the hand-off to the ops worker, reading a body, the
/// route, the work after the response). A first request compiles what it runs, and a request
/// no route takes (a `GET /`) runs almost nothing.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    serve(req, env, ctx).boxed_local().await
}

async fn serve(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let (path, query) = workerd::path_and_query(&req.url());
    #[cfg(not(feature = "ops"))]
    let req = match to_ops(req, &path, &env) {
        Ok(forwarding) => return forwarding.await,
        Err(req) => req,
    };
    let stream = req.body();
    // A request no route takes, without a body (which could be over the limit: a 413), is a
    // 405 before the vars or the headers are read.
    if stream.is_none() && App::endpoint_of(&req.method(), &path).is_none() {
        return Ok(workerd::js_response(http::Response::method_not_allowed())?);
    }
    let app = match app_from_env(&env) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "worker misconfigured");
            return worker::Response::error("Internal server error", 500).map(Into::into);
        }
    };
    let mut request = http::Request {
        method: req.method(),
        path,
        query,
        headers: worker::Headers(req.headers())
            .entries()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        body: Vec::new(),
    };
    let limit = App::body_limit(&request.path);
    let body = match stream {
        None => Ok(Vec::new()),
        Some(stream) => {
            workerd::body_within(&req, stream, request.header("content-length"), limit)
                .boxed_local()
                .await
        }
    };
    let response = match body {
        Ok(body) => {
            request.body = body;
            app.handle(&request).boxed_local().await
        }
        Err(http::TooLarge) => App::too_large(),
    };
    // Comparing and publishing the shadow evidence is not the user's wait.
    if app.has_work_after_response() {
        ctx.wait_until(async move { app.after_response().boxed_local().await });
    }
    Ok(workerd::js_response(response)?)
}

/// In the bot worker, an `/admin/` request goes as it came to the ops worker, whose answer is
/// the response; any other request (or any request when `OPS` is not bound) comes back. A
/// change made through this isolate is seen by it at once, as when one worker answered both:
/// an admin write that succeeded drops its cached flags.
#[cfg(not(feature = "ops"))]
fn to_ops(
    req: web_sys::Request,
    path: &str,
    env: &Env,
) -> Result<LocalBoxFuture<'static, worker::Result<web_sys::Response>>, web_sys::Request> {
    if !path.starts_with("/admin/") {
        return Err(req);
    }
    let Some(ops) = binding::<Fetcher>(env, OPS_BINDING) else {
        return Err(req);
    };
    let write = req.method() != "GET";
    Ok(async move {
        let response: web_sys::Response =
            ops.fetch_request(worker::Request::from(req)).await?.into();
        if write && response.ok() {
            ISOLATE.with(|isolate| isolate.flags.forget());
        }
        Ok(response)
    }
    .boxed_local())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cron = event.cron();
    #[cfg(not(feature = "ops"))]
    if to_ops_cron(&cron, &env).await {
        return;
    }
    match app_from_env(&env) {
        Ok(app) => {
            app.on_cron(&cron).await;
            app.after_response().await;
        }
        Err(e) => tracing::error!(error = %e, cron = %cron, "worker misconfigured"),
    }
}

/// In the bot worker, the maintenance cron is the ops worker's: deployed, only the ops worker
/// has it, but `wrangler dev` fires every cron on its first worker (`/__scheduled`), so the
/// bot hands it on through `OPS` when bound. Whether it did.
#[cfg(not(feature = "ops"))]
async fn to_ops_cron(cron: &str, env: &Env) -> bool {
    use crate::app::cron::Job;
    let Some(ops) = binding::<Fetcher>(env, OPS_BINDING)
        .filter(|_| Job::for_cron(cron) == Some(Job::Maintenance))
    else {
        return false;
    };
    if let Err(error) = workerd::fire_cron(ops, cron).await {
        tracing::error!(error = ?error, cron, "the ops worker's cron could not be handed on");
    }
    true
}

/// The broadcast's consumer: each message acknowledged or retried as `App::on_queue` says; on
/// the dead-letter queue, counted (`App::on_dead_letters`) and acknowledged. The bot's build
/// only: the ops worker consumes no queue.
#[cfg(feature = "bot")]
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> worker::Result<()> {
    let app = match app_from_env(&env) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "worker misconfigured");
            batch.retry_all();
            return Ok(());
        }
    };
    let now = worker::Date::now().as_millis() as i64;
    let messages: Vec<_> = batch.raw_iter().collect();
    let deliveries: Vec<Delivery> = messages
        .iter()
        .map(|message| Delivery {
            body: message.body().as_string().unwrap_or_default(),
            age_ms: now - message.timestamp().as_millis() as i64,
        })
        .collect();
    if batch.queue() == DEAD_LETTER_QUEUE {
        match app.on_dead_letters(&deliveries).await {
            true => batch.ack_all(),
            false => batch.retry_all(),
        }
        return Ok(());
    }
    let verdicts = app.on_queue(&deliveries).await;
    for (message, verdict) in messages.iter().zip(verdicts) {
        match verdict {
            Verdict::Ack => message.ack(),
            Verdict::Retry { delay_seconds } => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay_seconds)
                    .build(),
            ),
        }
    }
    app.after_response().await;
    Ok(())
}
