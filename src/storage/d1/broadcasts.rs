//! `broadcast_runs` and `broadcast_deliveries` (migration 0011): the runs the queued broadcast
//! planned and what each chat of a run has got, written once per consumer batch
//! (docs/broadcast-queue.md).

use super::Sql;
use crate::domain::{parse_json, Bar, MarketData, Position};
use crate::fanout::{ChatPlan, Record};
use crate::platform::{Platform, Row, SqlValue, Statement};
use crate::storage::{Operation, StorageError, StorageResult};
use serde_json::{json, Value};

/// A new run; nothing if one with this id exists (its cron fired twice).
const PLAN: &str = "INSERT INTO broadcast_runs (id, kind, planned_at, chats, messages) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO NOTHING";
/// What a producer that stopped short left: claimed (the error cleared) by the one that resumes.
const RESUME: &str = "UPDATE broadcast_runs SET enqueue_error = NULL \
     WHERE id = ?1 AND enqueue_error IS NOT NULL RETURNING enqueued";
/// How far the producer got, and why it stopped short if it did.
const ENQUEUED: &str = "UPDATE broadcast_runs SET enqueued = ?2, enqueue_error = ?3 WHERE id = ?1";
/// A page of the run's plan in `d1_only`: the subscribers after subscription `?1`, in
/// subscription order (as `subscriptions.subscribers` lists them), each with its watchlist in
/// order and its position, at most `?2`: one query per page, whatever the page holds.
const PLAN_PAGE: &str = "SELECT u.subscribed_seq AS seq, u.chat_id, \
     (SELECT json_group_array(ticker) FROM \
       (SELECT ticker FROM watchlists w WHERE w.chat_id = u.chat_id ORDER BY w.id)) AS tickers, \
     p.ticker AS position_ticker, p.entry_price \
     FROM users u LEFT JOIN active_positions p ON p.chat_id = u.chat_id \
     WHERE u.subscription_status = 1 AND u.subscribed_seq > ?1 \
     ORDER BY u.subscribed_seq LIMIT ?2";
/// The records of some chats of a run (`?2`: a JSON array of chat ids).
const RECORDS: &str = "SELECT chat_id, total, handled, sent, refused FROM broadcast_deliveries \
     WHERE run_id = ?1 AND chat_id IN (SELECT value FROM json_each(?2))";
/// Every record a batch changed (`?2`: a JSON array of `[chat, total, handled, sent, refused]`);
/// a record only grows, so a late batch never undoes a later one.
const RECORD: &str = "INSERT INTO broadcast_deliveries \
     (run_id, chat_id, total, handled, sent, refused, updated_at) \
     SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, ?3 \
     FROM json_each(?2) WHERE true \
     ON CONFLICT(run_id, chat_id) DO UPDATE SET total = excluded.total, \
     handled = MAX(handled, excluded.handled), sent = MAX(sent, excluded.sent), \
     refused = MAX(refused, excluded.refused), updated_at = excluded.updated_at";
const COUNT: &str = "UPDATE broadcast_runs SET started_at = COALESCE(started_at, ?2), \
     chats_done = chats_done + ?3, sent = sent + ?4, refused = refused + ?5, \
     skipped = skipped + ?6, failed = failed + ?7, retried = retried + ?8 WHERE id = ?1";
const DEAD: &str = "UPDATE broadcast_runs SET dead_lettered = dead_lettered + 1 WHERE id = ?1";
/// The latest runs, newest first, with their duration once finished.
const LATEST: &str = "SELECT id, kind, planned_at, started_at, finished_at, \
     finished_at - planned_at AS duration_ms, chats, messages, enqueued, enqueue_error, \
     chats_done, sent, refused, \
     skipped, failed, retried, dead_lettered FROM broadcast_runs \
     ORDER BY planned_at DESC, id DESC LIMIT ?1";
/// The runs with dead letters the admin chat has not been paged about, oldest first.
const UNPAGED: &str = "SELECT id, chats, chats_done, sent, refused, dead_lettered \
     FROM broadcast_runs WHERE dead_lettered > 0 AND dead_letters_paged_at IS NULL \
     ORDER BY planned_at, id LIMIT 20";
/// A run's dead-letter page from one state to another (`IS`: either may be null).
const PAGE: &str = "UPDATE broadcast_runs SET dead_letters_paged_at = ?3 \
     WHERE id = ?1 AND dead_letters_paged_at IS ?2";
/// ?1 run, ?2 the JSON array of the tickers.
const CHARTS: &str = "SELECT ticker, chart FROM broadcast_charts \
     WHERE run_id = ?1 AND ticker IN (SELECT value FROM json_each(?2))";
/// Keeps ?3 as the run's chart of ?2 unless one is kept already, and answers the kept one.
const KEEP_CHART: &str = "INSERT INTO broadcast_charts (run_id, ticker, chart, fetched_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id, ticker) DO UPDATE SET chart = broadcast_charts.chart \
     RETURNING chart";
/// How long a run's rows are kept: its records stop redeliveries (a queue keeps a message a few
/// days at most) and `GET /admin/broadcast` shows the latest runs.
pub const RUN_RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// The most delivery records one maintenance run deletes: a run has one a chat.
const PURGE_LIMIT: i64 = 10_000;
/// ?1 the cutoff, ?2 the limit: delivery records of runs planned before the cutoff.
const PURGE_DELIVERIES: &str = "DELETE FROM broadcast_deliveries WHERE rowid IN \
     (SELECT d.rowid FROM broadcast_deliveries d JOIN broadcast_runs r ON r.id = d.run_id \
      WHERE r.planned_at < ?1 LIMIT ?2)";
/// ?1 the cutoff: the charts, then the runs, of runs planned before it whose records are gone.
const PURGE_CHARTS: &str = "DELETE FROM broadcast_charts WHERE run_id IN \
     (SELECT id FROM broadcast_runs r WHERE planned_at < ?1 \
      AND NOT EXISTS (SELECT 1 FROM broadcast_deliveries WHERE run_id = r.id))";
const PURGE_RUNS: &str = "DELETE FROM broadcast_runs WHERE planned_at < ?1 \
     AND NOT EXISTS (SELECT 1 FROM broadcast_deliveries WHERE run_id = broadcast_runs.id)";
const FINISH: &str = "UPDATE broadcast_runs SET finished_at = ?2 \
     WHERE id = ?1 AND finished_at IS NULL AND chats_done >= chats";

/// A run as the producer records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRun<'a> {
    pub id: &'a str,
    /// `broadcast` or `deploy`.
    pub kind: &'static str,
    pub chats: usize,
    pub messages: usize,
}

/// What one consumer batch did for one run: the records it changed and the run's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub records: Vec<(i64, Record)>,
    /// Chats this batch completed.
    pub chats_done: usize,
    pub sent: usize,
    pub refused: usize,
    /// Chats found done already (a redelivery).
    pub skipped: usize,
    /// Sends Telegram failed (5xx, no answer).
    pub failed: usize,
    /// Queue messages marked for retry.
    pub retried: usize,
}

/// A run with dead-lettered messages, for its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetters {
    pub run: String,
    pub chats: i64,
    pub chats_done: i64,
    pub sent: i64,
    pub refused: i64,
    pub dead_lettered: i64,
}

/// The two tables.
pub struct BroadcastRuns(Sql);

impl BroadcastRuns {
    pub fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    /// Records a run: false when a run with this id was planned already.
    pub async fn plan(&self, run: &PlannedRun<'_>) -> StorageResult<bool> {
        let statement = Statement::new(
            PLAN,
            vec![
                run.id.into(),
                run.kind.into(),
                self.0.now().into(),
                (run.chats as i64).into(),
                (run.messages as i64).into(),
            ],
        );
        let changed = self
            .0
            .execute(&Operation::new("broadcast_runs.plan"), statement)
            .await?;
        Ok(changed == 1)
    }

    /// The page of subscribers after subscription `after` (0: from the first), at most `limit`,
    /// each with its plan; the last one's subscription is where the next page starts.
    pub async fn plan_page(
        &self,
        after: i64,
        limit: i64,
    ) -> StorageResult<Vec<(i64, i64, ChatPlan)>> {
        let statement = Statement::new(PLAN_PAGE, vec![after.into(), limit.into()]);
        let op = Operation::new("broadcast_runs.plan_page");
        let rows = self.0.query(&op, statement).await?;
        rows.iter()
            .map(|row| {
                let decode = || StorageError::Decode {
                    operation: op.clone(),
                    key: format!("users.chat_id={:?}", row.get("chat_id")),
                    message: "not a plan row".into(),
                };
                let seq = row.get("seq").and_then(Value::as_i64).ok_or_else(decode)?;
                let chat = row
                    .get("chat_id")
                    .and_then(Value::as_str)
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(decode)?;
                let tickers = row
                    .get("tickers")
                    .and_then(Value::as_str)
                    .and_then(|json| parse_json(json).ok())
                    .ok_or_else(decode)?;
                let position = row
                    .get("position_ticker")
                    .and_then(Value::as_str)
                    .map(|ticker| Position {
                        ticker: ticker.to_owned(),
                        entry_price: row.get("entry_price").and_then(Value::as_f64),
                    });
                Ok((seq, chat, ChatPlan { tickers, position }))
            })
            .collect()
    }

    /// The run a producer stopped short: claims its resumption and returns how many of its
    /// queue messages are enqueued; `None` when it did not stop short (done, or a producer
    /// still at it) or another producer claimed it.
    pub async fn resume(&self, run: &str) -> StorageResult<Option<usize>> {
        let rows = self
            .0
            .query(
                &Operation::new("broadcast_runs.resume"),
                Statement::new(RESUME, vec![run.into()]),
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|row| row.get("enqueued")?.as_u64())
            .map(|n| n as usize))
    }

    /// Records that `enqueued` of `run`'s queue messages are in the queue, and `error` when
    /// the producer stopped short of the rest.
    pub async fn enqueued(
        &self,
        run: &str,
        enqueued: usize,
        error: Option<&str>,
    ) -> StorageResult<()> {
        let error = error.map_or(SqlValue::Null, SqlValue::from);
        let statement = Statement::new(ENQUEUED, vec![run.into(), (enqueued as i64).into(), error]);
        self.0
            .execute(&Operation::new("broadcast_runs.enqueued"), statement)
            .await?;
        Ok(())
    }

    /// What `chats` of `run` have got, for those with a record.
    pub async fn records(&self, run: &str, chats: &[i64]) -> StorageResult<Vec<(i64, Record)>> {
        let statement = Statement::new(RECORDS, vec![run.into(), json!(chats).to_string().into()]);
        let rows = self
            .0
            .query(&Operation::new("broadcast_deliveries.records"), statement)
            .await?;
        let number = |value: Option<&Value>| value.and_then(Value::as_u64).unwrap_or(0) as usize;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let record = Record {
                    total: number(row.get("total")),
                    handled: number(row.get("handled")),
                    sent: number(row.get("sent")),
                    refused: number(row.get("refused")),
                };
                Some((row.get("chat_id")?.as_i64()?, record))
            })
            .collect())
    }

    /// One consumer batch's progress on `run`, in one D1 batch: the records, the counters, and
    /// the finish when every chat is done.
    pub async fn record(&self, run: &str, progress: &Progress) -> StorageResult<()> {
        let now = self.0.now();
        let records: Vec<_> = progress
            .records
            .iter()
            .map(|(chat, r)| json!([chat, r.total, r.handled, r.sent, r.refused]))
            .collect();
        let statements = vec![
            Statement::new(
                RECORD,
                vec![run.into(), json!(records).to_string().into(), now.into()],
            ),
            Statement::new(
                COUNT,
                vec![
                    run.into(),
                    now.into(),
                    (progress.chats_done as i64).into(),
                    (progress.sent as i64).into(),
                    (progress.refused as i64).into(),
                    (progress.skipped as i64).into(),
                    (progress.failed as i64).into(),
                    (progress.retried as i64).into(),
                ],
            ),
            Statement::new(FINISH, vec![run.into(), now.into()]),
        ];
        self.0
            .batch(&Operation::new("broadcast_deliveries.record"), statements)
            .await?;
        Ok(())
    }

    /// The charts kept for `run` among `tickers`, by ticker.
    pub async fn charts(
        &self,
        run: &str,
        tickers: &[&str],
    ) -> StorageResult<Vec<(String, MarketData)>> {
        let params = vec![run.into(), json!(tickers).to_string().into()];
        let op = Operation::new("broadcast_charts.charts");
        let rows = self.0.query(&op, Statement::new(CHARTS, params)).await?;
        rows.iter()
            .map(|row| {
                let ticker = row
                    .get("ticker")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Ok((ticker.to_owned(), chart_of(&op, row)?))
            })
            .collect()
    }

    /// Keeps `fetched` as the chart of `ticker` for `run`, unless another invocation kept one
    /// first: answers the one kept, which every chat of the run is evaluated on.
    pub async fn keep_chart(
        &self,
        run: &str,
        ticker: &str,
        fetched: &MarketData,
    ) -> StorageResult<MarketData> {
        let bars: Vec<_> = fetched
            .bars
            .iter()
            .map(|b| (b.timestamp, b.open, b.high, b.low, b.close, b.volume))
            .collect();
        let chart = json!([fetched.current_price, bars]).to_string();
        let params = vec![run.into(), ticker.into(), chart.into(), self.0.now().into()];
        let op = Operation::new("broadcast_charts.keep");
        let rows = self
            .0
            .query(&op, Statement::new(KEEP_CHART, params))
            .await?;
        match rows.first() {
            Some(row) => chart_of(&op, row),
            None => Err(StorageError::Decode {
                operation: op,
                key: format!("{run}/{ticker}"),
                message: "no chart kept".into(),
            }),
        }
    }

    /// Forgets runs planned more than [`RUN_RETENTION_MS`] ago, a bounded step at a time (at
    /// most [`PURGE_LIMIT`] delivery records, then the charts and runs left without any), in
    /// one D1 batch; returns the rows deleted.
    pub async fn purge_old(&self) -> StorageResult<u64> {
        let before = self.0.now() - RUN_RETENTION_MS;
        let statements = vec![
            Statement::new(PURGE_DELIVERIES, vec![before.into(), PURGE_LIMIT.into()]),
            Statement::new(PURGE_CHARTS, vec![before.into()]),
            Statement::new(PURGE_RUNS, vec![before.into()]),
        ];
        let deleted = self
            .0
            .batch(&Operation::new("broadcast_runs.purge_old"), statements)
            .await?;
        Ok(deleted.iter().sum())
    }

    /// Counts a message of `run` the dead-letter queue got.
    pub async fn dead_lettered(&self, run: &str) -> StorageResult<()> {
        let statement = Statement::new(DEAD, vec![run.into()]);
        self.0
            .execute(&Operation::new("broadcast_runs.dead_lettered"), statement)
            .await?;
        Ok(())
    }

    /// The runs whose dead letters the admin chat was not paged about yet (20 at most).
    pub async fn unpaged_dead_letters(&self) -> StorageResult<Vec<DeadLetters>> {
        let rows = self
            .0
            .query(
                &Operation::new("broadcast_runs.unpaged_dead_letters"),
                Statement::new(UNPAGED, Vec::new()),
            )
            .await?;
        let number = |row: &Row, name: &str| row.get(name).and_then(Value::as_i64).unwrap_or(0);
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(DeadLetters {
                    run: row.get("id")?.as_str()?.to_owned(),
                    chats: number(row, "chats"),
                    chats_done: number(row, "chats_done"),
                    sent: number(row, "sent"),
                    refused: number(row, "refused"),
                    dead_lettered: number(row, "dead_lettered"),
                })
            })
            .collect())
    }

    /// Moves `run`'s dead-letter page from `from` to `to` (ms, `None`: not paged): claims it
    /// before the page is sent, gives it back when the send failed. False when it was not at
    /// `from` (another run claimed it).
    pub async fn swap_dead_letter_page(
        &self,
        run: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> StorageResult<bool> {
        let statement = Statement::new(PAGE, vec![run.into(), from.into(), to.into()]);
        let changed = self
            .0
            .execute(
                &Operation::new("broadcast_runs.dead_letter_page"),
                statement,
            )
            .await?;
        Ok(changed == 1)
    }

    /// The latest `limit` runs, newest first, each row as D1 returns it.
    pub async fn latest(&self, limit: i64) -> StorageResult<Vec<Row>> {
        let statement = Statement::new(LATEST, vec![limit.into()]);
        self.0
            .query(&Operation::new("broadcast_runs.latest"), statement)
            .await
    }
}

/// A kept chart, `[price, [[time, open, high, low, close, volume], …]]`.
fn chart_of(op: &Operation, row: &Row) -> StorageResult<MarketData> {
    type Kept = (f64, Vec<(i64, f64, f64, f64, f64, f64)>);
    let text = row.get("chart").and_then(Value::as_str).unwrap_or_default();
    let (current_price, bars): Kept = parse_json(text).map_err(|e| StorageError::Decode {
        operation: op.clone(),
        key: "broadcast_charts.chart".into(),
        message: e.to_string(),
    })?;
    let bars = bars
        .into_iter()
        .map(|(timestamp, open, high, low, close, volume)| Bar {
            timestamp,
            open,
            high,
            low,
            close,
            volume,
        })
        .collect();
    Ok(MarketData {
        current_price,
        bars,
    })
}
