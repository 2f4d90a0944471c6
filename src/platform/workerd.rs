//! The platform traits on the worker's real bindings (wasm only): Workers KV, D1, `fetch()`,
//! the JavaScript clock, the Rate Limiting binding and a Queue's producer; how a binding is
//! looked up, and the allocator. The only code besides `entry` that calls `worker`.

use super::log::JsonLog;
use super::{
    Clock, HttpClient, HttpRequest, HttpResponse, KvPage, KvStore, MetricPoint, MetricSink,
    PlatformError, QueueProducer, RateLimiter, Row, SqlDatabase, SqlValue, Statement,
};
use crate::http::{self, BoundedBody, Declared, TooLarge};
use async_trait::async_trait;
use js_sys::futures::JsFuture;
use tracing::Level;
use wasm_bindgen::{JsCast, JsValue};
use worker::{web_sys, D1Database, D1PreparedStatement};

/// The allocator. Every request allocates, so a fresh isolate's first request compiles the
/// allocator's code (and so does the first request after workerd flushes the module's baseline
/// code; README, "A startup warm-up cannot help here"): about 1 KiB of talc's against 6.2 KiB
/// of dlmalloc's, Rust's default on wasm, and no slower. The worker is single-threaded (no wasm
/// atomics), as `WasmDynamicTalc` requires.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn platform_error(e: impl std::fmt::Display) -> PlatformError {
    PlatformError(e.to_string())
}

/// D1 hands its failure text over as the error's cause.
fn d1_error(e: worker::Error) -> PlatformError {
    match e {
        worker::Error::D1(d1) => PlatformError(d1.cause()),
        other => platform_error(other),
    }
}

/// A Workers KV namespace binding, called through a line of JavaScript per method:
/// `worker::kv::KvStore` looks its five methods up when made (on every request, KV or not) and
/// builds each call's options through serde.
pub(crate) struct WorkerKv(pub JsValue);

#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = "export async function kvGet(kv, key) { return kv.get(key); } \
    export async function kvPut(kv, key, value) { await kv.put(key, value); } \
    export async function kvDelete(kv, key) { await kv.delete(key); } \
    export async function kvList(kv, prefix, limit, cursor) { \
    const page = await kv.list(cursor == null ? { prefix, limit } : { prefix, limit, cursor }); \
    return [page.list_complete ? null : page.cursor, ...page.keys.map((key) => key.name)]; }"
)]
extern "C" {
    /// `kv.get(key)`: the value as text, or `null`.
    #[wasm_bindgen(js_name = kvGet)]
    fn kv_get(kv: &JsValue, key: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = kvPut)]
    fn kv_put(kv: &JsValue, key: &str, value: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = kvDelete)]
    fn kv_delete(kv: &JsValue, key: &str) -> js_sys::Promise;
    /// `kv.list(…)` as one array: the next page's cursor (`null` on the last page), then the
    /// page's key names.
    #[wasm_bindgen(js_name = kvList)]
    fn kv_list(kv: &JsValue, prefix: &str, limit: f64, cursor: Option<&str>) -> js_sys::Promise;
}

#[async_trait(?Send)]
impl KvStore for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        let value = JsFuture::from(kv_get(&self.0, key))
            .await
            .map_err(js_error)?;
        Ok(value.as_string())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), PlatformError> {
        JsFuture::from(kv_put(&self.0, key, value))
            .await
            .map_err(js_error)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        JsFuture::from(kv_delete(&self.0, key))
            .await
            .map_err(js_error)?;
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KvPage, PlatformError> {
        let page = kv_list(&self.0, prefix, limit as f64, cursor);
        let page: js_sys::Array = JsFuture::from(page)
            .await
            .map_err(js_error)?
            .unchecked_into();
        let mut entries = page.iter().map(|entry| entry.as_string());
        Ok(KvPage {
            cursor: entries.next().flatten(),
            keys: entries.flatten().collect(),
        })
    }
}

/// A D1 database binding.
pub(crate) struct WorkerD1(pub D1Database);

impl WorkerD1 {
    fn prepare(&self, statement: &Statement) -> Result<D1PreparedStatement, PlatformError> {
        let params: Vec<JsValue> = statement
            .params
            .iter()
            .map(|param| match param {
                SqlValue::Null => JsValue::NULL,
                // Exact: chat ids and millisecond timestamps are far below 2^53.
                SqlValue::Integer(i) => JsValue::from_f64(*i as f64),
                SqlValue::Real(f) => JsValue::from_f64(*f),
                SqlValue::Text(s) => JsValue::from_str(s),
            })
            .collect();
        self.0
            .prepare(statement.sql)
            .bind(&params)
            .map_err(d1_error)
    }
}

fn changes(result: &worker::D1Result) -> Result<u64, PlatformError> {
    let meta = result.meta().map_err(d1_error)?;
    Ok(meta.and_then(|meta| meta.changes).unwrap_or(0) as u64)
}

#[async_trait(?Send)]
impl SqlDatabase for WorkerD1 {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError> {
        let result = self.prepare(statement)?.all().await.map_err(d1_error)?;
        result.results::<Row>().map_err(d1_error)
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        let result = self.prepare(statement)?.run().await.map_err(d1_error)?;
        changes(&result)
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        let prepared = statements
            .iter()
            .map(|statement| self.prepare(statement))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.0.batch(prepared).await.map_err(d1_error)?;
        results.iter().map(changes).collect()
    }

    async fn query_after(
        &self,
        writes: &[Statement],
        read: &Statement,
    ) -> Result<Vec<Row>, PlatformError> {
        let prepared = writes
            .iter()
            .chain(std::iter::once(read))
            .map(|statement| self.prepare(statement))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.0.batch(prepared).await.map_err(d1_error)?;
        match results.last() {
            Some(last) => last.results::<Row>().map_err(d1_error),
            None => Ok(Vec::new()),
        }
    }
}

/// Outbound HTTP through the runtime's `fetch()`, on the `web_sys` types: `worker::Request` and
/// `worker::Response` would read each message's `cf` object and stream the body through a
/// reader, where one `text()` call does.
pub(crate) struct WorkerFetch;

#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = "export async function fetchText(url, method, headers, body) { \
    const h = new Headers(); \
    for (const line of headers.split('\\n')) { if (line) { const at = line.indexOf(':'); h.set(line.slice(0, at), line.slice(at + 1)); } } \
    const response = await fetch(url, { method, headers: h, body }); \
    return response.status + ' ' + (await response.text()); }"
)]
extern "C" {
    /// `fetch(url, …)`, answered as its status, a space and its whole body as text. One import
    /// instead of a dozen `web_sys` calls: a fresh isolate compiles each glue function on its
    /// first call, and every call crosses into JavaScript once. Measured: a fresh isolate's
    /// first `/help` 1 ms faster (18.0 → 17.0 ms, median of 21), a warm one 0.6 ms.
    #[wasm_bindgen(js_name = fetchText)]
    fn fetch_text(url: &str, method: &str, headers: &str, body: Option<&str>) -> js_sys::Promise;
}

#[async_trait(?Send)]
impl HttpClient for WorkerFetch {
    async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, PlatformError> {
        // `name:value` lines: a header name holds no `:`, and no header holds a line break.
        // Pushed, not `format!`ed: a `/help` then runs none of `core::fmt`.
        let mut headers = String::new();
        for (name, value) in &request.headers {
            headers.extend([*name, ":", value, "\n"]);
        }
        let answer = fetch_text(
            &request.url,
            request.method,
            &headers,
            request.body.as_deref(),
        );
        let answer = JsFuture::from(answer).await.map_err(js_error)?;
        let answer = answer.as_string().unwrap_or_default();
        let (status, body) = answer.split_once(' ').unwrap_or((&answer, ""));
        Ok(HttpResponse {
            status: status.parse().unwrap_or(0),
            body: body.to_owned(),
        })
    }
}

/// A request's body (`stream`, as the runtime gave it), never read past `limit` bytes:
/// [`TooLarge`] unread when its `content_length` is over the limit; in one `arrayBuffer()`
/// call when it declares a length within it (what Telegram sends); else chunk by chunk,
/// refused as soon as the chunks pass the limit (the rest is left unread, and dropped with
/// the request). A body that fails to read is empty.
pub(crate) async fn body_within(
    request: &web_sys::Request,
    stream: web_sys::ReadableStream,
    content_length: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, TooLarge> {
    match http::declared(content_length, limit) {
        Declared::Over => return Err(TooLarge),
        Declared::Within => {
            let Ok(read) = request.array_buffer() else {
                return Ok(Vec::new());
            };
            return Ok(JsFuture::from(read)
                .await
                .map(|buffer| js_sys::Uint8Array::new(&buffer).to_vec())
                .unwrap_or_default());
        }
        Declared::Unknown => {}
    }
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = BoundedBody::new(limit);
    loop {
        let Ok(chunk) = JsFuture::from(reader.read()).await else {
            return Ok(Vec::new());
        };
        let value = js_sys::Reflect::get(&chunk, &"value".into()).unwrap_or_default();
        if value.is_undefined() {
            return Ok(body.into_bytes());
        }
        body.push(&js_sys::Uint8Array::new(&value).to_vec())?;
    }
}

/// The path (without query or fragment) and the query (without `?`; empty when none) of a
/// URL the runtime has already serialized, split without parsing it again: in a serialized
/// WHATWG URL the first `/` after `://` begins the path, and `?` and `#` are percent-encoded
/// within the path and `#` within the query. Searched a character at a time: a `&str` pattern
/// would compile the two-way string searcher on every fresh isolate's first request.
pub(crate) fn path_and_query(url: &str) -> (String, String) {
    let after_scheme = url
        .find(':')
        .filter(|&colon| url[colon + 1..].starts_with("//"))
        .map_or(0, |colon| colon + 3);
    let rest = url[after_scheme..]
        .find('/')
        .map_or("/", |i| &url[after_scheme + i..]);
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (path.to_owned(), query.to_owned())
}

/// `response` for the runtime: its status, body bytes, `Content-Type` and, when it has one,
/// `Retry-After`.
pub(crate) fn js_response(response: crate::http::Response) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", response.content_type)?;
    if let Some(seconds) = response.retry_after {
        headers.set("Retry-After", &seconds.to_string())?;
    }
    let mut body = response.body.into_bytes();
    let init = web_sys::ResponseInit::new();
    init.set_status(response.status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_u8_array_and_init(Some(&mut body), &init)
}

fn js_error(e: JsValue) -> PlatformError {
    PlatformError(worker::Error::from(e).to_string())
}

/// The JavaScript clock (`Date.now()`; `SystemTime` panics on wasm32-unknown-unknown),
/// optionally shifted so that it reads a chosen instant when created (see `entry`).
pub(crate) struct WorkerClock {
    offset_ms: i64,
}

impl WorkerClock {
    pub(crate) fn real() -> Self {
        Self { offset_ms: 0 }
    }

    /// A clock that reads `start_ms` now and runs on from there.
    pub(crate) fn starting_at(start_ms: i64) -> Self {
        Self {
            offset_ms: start_ms - js_sys::Date::now() as i64,
        }
    }
}

#[async_trait(?Send)]
impl Clock for WorkerClock {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64 + self.offset_ms
    }

    async fn sleep(&self, ms: u64) {
        let timer = Timer(start_timer(ms as f64));
        // A timer's promise only resolves.
        let _ = JsFuture::from(timer.0.clone()).await;
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "export function startTimer(ms) { let id; \
    const done = new Promise((resolve) => { id = setTimeout(resolve, ms); }); \
    done.timer = id; return done; } \
    export function stopTimer(done) { clearTimeout(done.timer); }")]
extern "C" {
    /// A promise resolved after `ms` by `setTimeout`, holding its timer. Two lines of
    /// JavaScript rather than `worker::Delay`, whose Rust closure and its glue a fresh isolate
    /// would compile for the outbound call's timeout.
    #[wasm_bindgen(js_name = startTimer)]
    fn start_timer(ms: f64) -> js_sys::Promise;
    /// Clears the timer of a [`start_timer`] promise.
    #[wasm_bindgen(js_name = stopTimer)]
    fn stop_timer(done: &js_sys::Promise);
}

/// A running timer, cleared when dropped: a request's timeout that lost its race ends with it.
struct Timer(js_sys::Promise);

impl Drop for Timer {
    fn drop(&mut self) {
        stop_timer(&self.0);
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn debug(line: &str);
    #[wasm_bindgen(js_namespace = console)]
    fn info(line: &str);
    #[wasm_bindgen(js_namespace = console)]
    fn warn(line: &str);
    #[wasm_bindgen(js_namespace = console)]
    fn error(line: &str);
}

/// Sends the log lines (`platform::log`) to the console, stamped by the JavaScript clock: the
/// method by level as `tracing-web` chose it (`debug` for TRACE and DEBUG, then `info`, `warn`
/// and `error`). Once per isolate.
pub(crate) fn install_console_log() {
    let log = JsonLog::new(|| js_sys::Date::now() as i64, console_line);
    // Only fails if a subscriber is already installed, which then keeps logging.
    let _ = tracing::subscriber::set_global_default(log);
}

fn console_line(level: &Level, line: &str) {
    match *level {
        Level::ERROR => error(line),
        Level::WARN => warn(line),
        Level::INFO => info(line),
        _ => debug(line),
    }
}

/// A Workers Analytics Engine dataset binding.
pub(crate) struct WorkerAnalytics(pub worker::AnalyticsEngineDataset);

impl MetricSink for WorkerAnalytics {
    fn write(&self, point: &MetricPoint) {
        let data = worker::AnalyticsEngineDataPointBuilder::new()
            .indexes([point.index.as_str()])
            .blobs(point.blobs.iter().map(String::as_str))
            .doubles(point.doubles.iter().copied())
            .build();
        if let Err(e) = self.0.write_data_point(&data) {
            tracing::warn!(error = %e, "analytics engine point not written");
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = "export async function rateLimit(binding, key) { return (await binding.limit({ key })).success; }"
)]
extern "C" {
    /// `binding.limit({ key })`'s `success`.
    #[wasm_bindgen(js_name = rateLimit)]
    fn rate_limit(binding: &JsValue, key: &str) -> js_sys::Promise;
}

/// A Workers Rate Limiting binding, called through a line of JavaScript (`worker::RateLimiter`
/// does the same through serde, at several KiB of the upload). When the binding fails, the
/// attempt counts as within the budget: the limit only adds to the bearer check, which refuses
/// a wrong token either way.
pub(crate) struct WorkerRateLimiter(JsValue);

impl WorkerRateLimiter {
    /// The binding `name`, when the worker has it.
    pub(crate) fn bound(env: &worker::Env, name: &str) -> Option<Self> {
        binding(env, name).map(Self)
    }
}

/// The binding, var or secret `name` as it is; `None` when the worker has none. (`Env`'s own
/// getters format an error text for each one that is absent, and compile that on a first request.)
pub(crate) fn binding(env: &worker::Env, name: &str) -> Option<JsValue> {
    let binding = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    (!binding.is_undefined()).then_some(binding)
}

#[async_trait(?Send)]
impl RateLimiter for WorkerRateLimiter {
    async fn limit(&self, key: &str, _now_ms: i64) -> bool {
        match JsFuture::from(rate_limit(&self.0, key)).await {
            Ok(success) => success.as_bool() != Some(false),
            Err(e) => {
                tracing::warn!(error = %js_error(e), "rate limiter failed");
                true
            }
        }
    }
}

#[cfg(not(feature = "ops"))]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A service binding seen as what workerd's `Fetcher` also is: a target of scheduled events.
    #[wasm_bindgen(extends = js_sys::Object)]
    pub(crate) type ScheduledTarget;
    #[wasm_bindgen(method, catch)]
    fn scheduled(this: &ScheduledTarget, options: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// Fires cron `cron` on the worker behind `service` and waits for its run (the bot worker's
/// build hands the ops worker its cron with it).
#[cfg(not(feature = "ops"))]
pub(crate) async fn fire_cron(service: worker::Fetcher, cron: &str) -> Result<(), JsValue> {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"cron".into(), &cron.into())?;
    JsFuture::from(service.into_rpc::<ScheduledTarget>().scheduled(&options)?).await?;
    Ok(())
}

/// A Cloudflare Queue's producer binding. Each body goes as a JS string (the queue's JSON
/// content type carries it as is); the call is the runtime's `sendBatch`, without the `worker`
/// crate's serde round trip of options this worker never sets.
pub(crate) struct WorkerQueue(pub worker::Queue);

#[async_trait(?Send)]
impl QueueProducer for WorkerQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), PlatformError> {
        let messages = js_sys::Array::new();
        for body in bodies {
            let message = js_sys::Object::new();
            js_sys::Reflect::set(&message, &"body".into(), &JsValue::from_str(body))
                .map_err(js_error)?;
            messages.push(&message);
        }
        let queue: &worker::worker_sys::Queue = self.0.as_ref().unchecked_ref();
        let sent = queue
            .send_batch(messages, JsValue::UNDEFINED)
            .map_err(js_error)?;
        JsFuture::from(sent).await.map_err(js_error)?;
        Ok(())
    }
}
