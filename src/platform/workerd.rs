//! The platform traits on the worker's real bindings (wasm only): Workers KV, D1, `fetch()`
//! and the JavaScript clock. The only code besides `entry` that calls `worker`.

use super::{
    Clock, HttpClient, HttpRequest, HttpResponse, KvPage, KvStore, MetricPoint, MetricSink,
    PlatformError, Row, SqlDatabase, SqlValue, Statement,
};
use async_trait::async_trait;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

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

/// A Workers KV namespace binding.
pub struct WorkerKv(pub worker::kv::KvStore);

#[async_trait(?Send)]
impl KvStore for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        self.0.get(key).text().await.map_err(platform_error)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), PlatformError> {
        self.0
            .put(key, value)
            .map_err(platform_error)?
            .execute()
            .await
            .map_err(platform_error)
    }

    async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.0.delete(key).await.map_err(platform_error)
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KvPage, PlatformError> {
        let mut list = self.0.list().prefix(prefix.to_owned()).limit(limit as u64);
        if let Some(cursor) = cursor {
            list = list.cursor(cursor.to_owned());
        }
        let page = list.execute().await.map_err(platform_error)?;
        Ok(KvPage {
            keys: page.keys.into_iter().map(|key| key.name).collect(),
            cursor: if page.list_complete {
                None
            } else {
                page.cursor
            },
        })
    }
}

/// A D1 database binding.
pub struct WorkerD1(pub D1Database);

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

/// Outbound HTTP through the runtime's `fetch()`.
pub struct WorkerFetch;

#[async_trait(?Send)]
impl HttpClient for WorkerFetch {
    async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, PlatformError> {
        let headers = worker::Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(platform_error)?;
        }
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::from(request.method.to_owned()))
            .with_headers(headers)
            .with_body(request.body.as_deref().map(JsValue::from_str));
        let outbound =
            worker::Request::new_with_init(&request.url, &init).map_err(platform_error)?;
        let mut response = worker::Fetch::Request(outbound)
            .send()
            .await
            .map_err(platform_error)?;
        Ok(HttpResponse {
            status: response.status_code(),
            body: response.text().await.map_err(platform_error)?,
        })
    }
}

/// The JavaScript clock (`Date.now()`; `SystemTime` panics on wasm32-unknown-unknown),
/// optionally shifted so that it reads a chosen instant when created (see `entry`).
pub struct WorkerClock {
    offset_ms: i64,
}

impl WorkerClock {
    pub fn real() -> Self {
        Self { offset_ms: 0 }
    }

    /// A clock that reads `start_ms` now and runs on from there.
    pub fn starting_at(start_ms: i64) -> Self {
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
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

/// A Workers Analytics Engine dataset binding.
pub struct WorkerAnalytics(pub worker::AnalyticsEngineDataset);

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
