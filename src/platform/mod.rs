//! The seam between the application and the runtime: a KV namespace, a SQL database, outbound
//! HTTP, a clock and a rate limiter, each a small trait, and the optional queue the broadcast fans out through. `workerd` implements them on the worker's bindings (wasm only);
//! `native` implements them in memory and on SQLite, so every layer above runs in `cargo test`.
//!
//! Futures here are not `Send`: workerd is single-threaded and its bindings are JS objects.

pub mod log;
pub mod metered;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod window;
#[cfg(target_arch = "wasm32")]
pub(crate) mod workerd;

use async_trait::async_trait;
use std::rc::Rc;

/// Most keys one KV `list` call may return (the Workers KV limit).
pub(crate) const KV_LIST_LIMIT: usize = 1000;

/// A failure reported by the platform, carrying the runtime's own message; the storage layer
/// classifies it (`storage::StorageError`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PlatformError(pub String);

/// One page of a KV `list`: key names in lexicographic order, and the cursor to pass for the
/// next page (`None` once the listing is complete).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KvPage {
    pub keys: Vec<String>,
    pub cursor: Option<String>,
}

/// A Workers KV namespace: string values, eventually consistent, listable by prefix.
#[async_trait(?Send)]
pub trait KvStore {
    async fn get(&self, key: &str) -> Result<Option<String>, PlatformError>;
    async fn put(&self, key: &str, value: &str) -> Result<(), PlatformError>;
    async fn delete(&self, key: &str) -> Result<(), PlatformError>;
    /// Keys starting with `prefix`, after `cursor`, at most `limit` (1..=[`KV_LIST_LIMIT`]).
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KvPage, PlatformError>;
}

/// A value bound to a SQL parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        Self::Integer(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Self::Null, Self::Integer)
    }
}

impl From<Option<f64>> for SqlValue {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Self::Null, Self::Real)
    }
}

/// A SQL statement and its bound parameters. The text is `&'static str`: SQL is always a
/// constant in the source, so nothing a user sends can ever be concatenated into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
}

impl Statement {
    pub fn new(sql: &'static str, params: Vec<SqlValue>) -> Self {
        Self { sql, params }
    }
}

/// A result row: column name to value (integers, reals, text or null).
pub type Row = serde_json::Map<String, serde_json::Value>;

/// A D1 database: SQLite semantics, one round trip per call, `batch` atomic.
#[async_trait(?Send)]
pub trait SqlDatabase {
    /// Runs a read and returns its rows.
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError>;
    /// Runs one write and returns how many rows it changed.
    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError>;
    /// Runs writes in one transaction (all or nothing); returns rows changed per statement.
    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError>;
    /// Runs `writes`, then the read `read`, in one transaction; returns the read's rows. The
    /// stores run it in one round trip; a wrapper that only counts or hooks calls may keep this
    /// default, two calls.
    async fn query_after(
        &self,
        writes: &[Statement],
        read: &Statement,
    ) -> Result<Vec<Row>, PlatformError> {
        self.batch(writes).await?;
        self.query(read).await
    }
}

/// An outbound HTTP request (Telegram, CNN, Yahoo).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Outbound HTTP: `fetch()` in workerd, a scripted stand-in natively.
#[async_trait(?Send)]
pub trait HttpClient {
    /// Sends the request; `Err` only when no response arrived (network failure).
    async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, PlatformError>;
}

/// Wall-clock time in milliseconds since the epoch (UTC), and waiting.
#[async_trait(?Send)]
pub trait Clock {
    fn now_ms(&self) -> i64;
    /// Resolves after `ms` milliseconds (a timer in workerd; tests move a manual clock).
    async fn sleep(&self, ms: u64);
}

/// One time-series data point (Workers Analytics Engine): blobs are the dimensions, doubles
/// the numbers, the index the sampling key.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub index: String,
    pub blobs: Vec<String>,
    pub doubles: Vec<f64>,
}

/// Where metric points go when an Analytics Engine dataset is bound; writes never block and
/// never fail the caller.
pub trait MetricSink {
    fn write(&self, point: &MetricPoint);
}

/// Counts attempts per key against a budget: the Workers Rate Limiting binding where one is
/// bound, else [`window::FixedWindows`] in the isolate.
#[async_trait(?Send)]
pub trait RateLimiter {
    /// Counts one attempt by `key` at `now_ms` (the binding keeps its own time); `false` once
    /// the key is over its budget for the period.
    async fn limit(&self, key: &str, now_ms: i64) -> bool;
}

/// A Cloudflare Queue's producer side: the broadcast's fan-out (docs/broadcast-queue.md).
/// Optional: without a bound queue the broadcast sends inline.
#[async_trait(?Send)]
pub trait QueueProducer {
    /// Enqueues `bodies` (JSON texts) in one `sendBatch` call: at most 100, 256 KB together.
    async fn send_batch(&self, bodies: &[String]) -> Result<(), PlatformError>;
}

/// Everything the application needs from its runtime.
#[derive(Clone)]
pub struct Platform {
    pub kv: Rc<dyn KvStore>,
    pub db: Rc<dyn SqlDatabase>,
    pub clock: Rc<dyn Clock>,
    pub http: Rc<dyn HttpClient>,
}
