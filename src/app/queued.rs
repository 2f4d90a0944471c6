//! The broadcast through a queue (docs/broadcast-queue.md): the producer half the broadcast
//! cron runs when a queue is bound (the run recorded in D1, its chats enqueued in groups), and
//! the consumer the worker's queue handler calls ([`App::on_queue`]): each chat's messages,
//! built as the inline run builds them, sent once, what each chat got recorded once per batch.

use super::broadcast::{chat_alerts, subscribers, Broadcast, Reading};
use super::App;
use crate::bot::alerts::{Alerts, RunCharts};
use crate::bot::commands::CHAT_IDS_UNREADABLE;
use crate::bot::Bot;
use crate::domain::{ChatId, FearGreed, MarketData};
use crate::fanout::{
    backoff_seconds, decide, send_batches, split, ChatPlan, Decision, QueueMessage, Record, Work,
    CHATS_PER_MESSAGE,
};
use crate::migration::Phase;
use crate::platform::QueueProducer;
use crate::storage::d1::{BroadcastRuns, PlannedRun, Progress, UpdateClaim};
use crate::storage::{Repository, StorageResult};
use crate::telegram::Answer;
use async_trait::async_trait;
use std::cell::RefCell;
use std::collections::HashMap;

/// Subscribers a D1 query of the plan reads (`d1_only`).
pub const PLAN_PAGE: i64 = 1_000;

/// Tries of one `sendBatch` call before the producer stops short.
pub const SEND_ATTEMPTS: u32 = 3;

/// One queue message as the consumer gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub body: String,
    /// Since the producer enqueued it: the back-off after a 5xx grows with it.
    pub age_ms: i64,
}

/// What becomes of a delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done: every chat in it is delivered, refused or skipped.
    Ack,
    /// Deliver it again after this pause; Queues moves it to the dead-letter queue once it
    /// ran out of retries.
    Retry { delay_seconds: u32 },
}

/// Why a consumer batch stopped sending.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// A 429: Telegram's pause, for every message not done.
    RetryAfter(u32),
    /// A 5xx or no answer: each message not done backs off by its age.
    Unavailable,
}

impl App {
    /// Reads the run's plan, records the run and enqueues its chats, in order,
    /// `CHATS_PER_MESSAGE` to a message. The run id is the minute the cron ran in, so a cron
    /// that fires twice enqueues once. When subscriptions, watchlists and positions are all
    /// `d1_only`, the plan (each chat with its watchlist and position) is read from D1 in pages
    /// of [`PLAN_PAGE`] and carried in the messages, so no consumer reads a chat; otherwise the
    /// subscribers are read through the phase router and each consumer reads its chats.
    pub(super) async fn enqueue_broadcast(
        &self,
        bot: &Bot,
        queue: &dyn QueueProducer,
        reading: &Reading<'_>,
    ) -> Result<Broadcast, String> {
        let now = self.platform().clock.now_ms();
        let run = format!("broadcast-{}", now - now.rem_euclid(60_000));
        let (chats, plans) = if self.plan_in_d1().await {
            self.read_plan().await.map_err(|e| {
                tracing::error!(error = %e, "broadcast: the plan is unreadable");
                CHAT_IDS_UNREADABLE.to_owned()
            })?
        } else {
            let subscribers = subscribers(bot).await?;
            (
                subscribers.iter().map(|chat| chat.get()).collect(),
                Vec::new(),
            )
        };
        let work = Work::Broadcast {
            rating: reading.fear_greed.rating.clone(),
            score: reading.fear_greed.score,
            header: reading.header.to_owned(),
        };
        let messages = self
            .enqueue(queue, &run, "broadcast", &chats, &plans, &work)
            .await?;
        Ok(Broadcast::Queued {
            run,
            subscribers: chats.len(),
            messages,
        })
    }

    /// Records run `run` of `kind` (`broadcast`, `deploy`) and enqueues `chats`, in order,
    /// `CHATS_PER_MESSAGE` to a message, each to get `work`. Returns how many queue messages
    /// went out: none when the run was recorded already, unless its producer stopped short, in
    /// which case this one claims the run and enqueues the rest. A `sendBatch` call that fails
    /// is tried again ([`SEND_ATTEMPTS`]); one that still fails stops the producer: how far it
    /// got and why are recorded on the run, and the error says so, for the admin.
    pub(super) async fn enqueue(
        &self,
        queue: &dyn QueueProducer,
        run: &str,
        kind: &'static str,
        chats: &[i64],
        plans: &[ChatPlan],
        work: &Work,
    ) -> Result<usize, String> {
        let bodies = split(run, chats, plans, work);
        let planned = PlannedRun {
            id: run,
            kind,
            chats: chats.len(),
            messages: bodies.len(),
        };
        let runs = BroadcastRuns::new(self.platform());
        let from = if runs.plan(&planned).await.map_err(|e| e.to_string())? {
            0
        } else {
            match runs.resume(run).await.map_err(|e| e.to_string())? {
                Some(from) => from,
                None => {
                    tracing::info!(run, "broadcast enqueued already");
                    return Ok(0);
                }
            }
        };
        let (enqueued, error) = self.send_from(queue, &bodies, from).await;
        let recorded = runs.enqueued(run, enqueued, error.as_deref()).await;
        tracing::info!(
            run,
            chats = chats.len(),
            from,
            enqueued,
            planned = bodies.len(),
            "broadcast enqueued"
        );
        let Some(error) = error else {
            if let Err(e) = recorded {
                tracing::error!(run, error = %e, "how far the producer got is not recorded");
            }
            return Ok(enqueued - from);
        };
        let reached = (enqueued * CHATS_PER_MESSAGE).min(chats.len());
        let resumable = match recorded {
            Ok(()) => "the run, fired again, enqueues the rest".to_owned(),
            Err(e) => format!("not recorded ({e}), so not resumable"),
        };
        Err(format!(
            "broadcast run {run} enqueued {enqueued} of {} queue messages ({reached} of {} \
             chats); sendBatch failed {SEND_ATTEMPTS} times: {error}; {resumable}",
            bodies.len(),
            chats.len()
        ))
    }

    /// Whether the run's plan is read from D1: subscriptions, watchlists and positions all
    /// `d1_only`.
    async fn plan_in_d1(&self) -> bool {
        let flags = self
            .flag_cache()
            .current(self.platform(), self.config().storage_phase_default)
            .await;
        [
            Repository::Subscriptions,
            Repository::Watchlists,
            Repository::Positions,
        ]
        .into_iter()
        .all(|repository| flags.phase(repository) == Phase::D1Only)
    }

    /// The subscribers in subscription order, each with its plan, a page of [`PLAN_PAGE`] a D1
    /// query (keyset on the subscription order): `⌈subscribers / PLAN_PAGE⌉ + 1` queries at
    /// most.
    async fn read_plan(&self) -> StorageResult<(Vec<i64>, Vec<ChatPlan>)> {
        let runs = BroadcastRuns::new(self.platform());
        let (mut chats, mut plans, mut after) = (Vec::new(), Vec::new(), 0);
        loop {
            let page = runs.plan_page(after, PLAN_PAGE).await?;
            let full = page.len() as i64 == PLAN_PAGE;
            for (seq, chat, plan) in page {
                after = seq;
                chats.push(chat);
                plans.push(plan);
            }
            if !full {
                return Ok((chats, plans));
            }
        }
    }

    /// Sends `bodies[from..]` in `sendBatch` calls, in order, each tried up to
    /// [`SEND_ATTEMPTS`] times, 1 s then 2 s apart. Returns how many of `bodies` are then in
    /// the queue (all of them before the first call that still failed), and that call's error.
    /// A call that failed may have landed (its answer lost): its retry enqueues those messages
    /// twice, and the consumer's delivery records send them once.
    async fn send_from(
        &self,
        queue: &dyn QueueProducer,
        bodies: &[String],
        from: usize,
    ) -> (usize, Option<String>) {
        let mut enqueued = from;
        for call in send_batches(&bodies[from..]) {
            let mut attempt = 1;
            while let Err(e) = queue.send_batch(call).await {
                if attempt == SEND_ATTEMPTS {
                    return (enqueued, Some(e.0));
                }
                tracing::warn!(error = %e.0, attempt, enqueued, "sendBatch failed; trying again");
                self.platform().clock.sleep(1000 << (attempt - 1)).await;
                attempt += 1;
            }
            enqueued += call.len();
        }
        (enqueued, None)
    }

    /// Consumes one batch of queue messages: for each chat not yet delivered, its messages
    /// from where it stopped, `broadcast_send_spacing_ms` apart (25 a second); then what every
    /// chat got, in one D1 batch per run. Returns each message's verdict, in order.
    pub async fn on_queue(&self, deliveries: &[Delivery]) -> Vec<Verdict> {
        let bot = self.bot(UpdateClaim::none());
        let runs = BroadcastRuns::new(self.platform());
        let messages: Vec<Option<QueueMessage>> = deliveries
            .iter()
            .map(|delivery| {
                let message = QueueMessage::from_body(&delivery.body);
                if message.is_none() {
                    tracing::error!(body = %delivery.body, "queue message unreadable; dropped");
                }
                message
            })
            .collect();
        // What the batch's chats already got: one query per run (a batch holds one, or two
        // when runs meet).
        let mut chats_by_run: Vec<(&str, Vec<i64>)> = Vec::new();
        for message in messages.iter().flatten() {
            match chats_by_run.iter_mut().find(|(run, _)| *run == message.run) {
                Some((_, chats)) => chats.extend_from_slice(&message.chats),
                None => chats_by_run.push((&message.run, message.chats.clone())),
            }
        }
        let kept: Vec<KeptCharts> = chats_by_run
            .iter()
            .map(|(run, _)| KeptCharts::new(&runs, run))
            .collect();
        // The tickers the plans name (`d1_only`), each run's in one query; the other phases
        // read a chat's watchlist as it goes, and look its tickers up then.
        for charts in &kept {
            let mut tickers: Vec<String> = messages
                .iter()
                .flatten()
                .filter(|message| message.run == charts.run)
                .flat_map(|message| &message.plans)
                .flat_map(|plan| plan.evaluated_tickers().into_owned())
                .collect();
            tickers.sort_unstable();
            tickers.dedup();
            if !tickers.is_empty() {
                let tickers: Vec<&str> = tickers.iter().map(String::as_str).collect();
                charts.look_up(&tickers).await;
            }
        }
        let mut consumer = Consumer {
            bot: &bot,
            alerts: kept
                .iter()
                .map(|charts| (charts.run, Alerts::for_run(&bot, charts)))
                .collect(),
            known: Vec::new(),
            progress: Vec::new(),
            sends: 0,
            spacing_ms: self.config().broadcast_send_spacing_ms,
        };
        for (run, chats) in chats_by_run {
            match runs.records(run, &chats).await {
                Ok(records) => consumer.known.extend(
                    records
                        .into_iter()
                        .map(|(chat, record)| (run.to_owned(), chat, record)),
                ),
                // Without the records every chat might be sent twice: nothing is sent.
                Err(e) => {
                    tracing::error!(run, error = %e, "delivery records unreadable; batch retried");
                    return deliveries
                        .iter()
                        .map(|d| retry(Stop::Unavailable, d))
                        .collect();
                }
            }
        }
        let mut stop = None;
        let mut verdicts = Vec::with_capacity(deliveries.len());
        for (delivery, message) in deliveries.iter().zip(&messages) {
            if let (None, Some(message)) = (stop, message) {
                stop = consumer.deliver(message).await;
            }
            if let (Some(stop), Some(message)) = (stop, message) {
                consumer.progress(&message.run).retried += 1;
                verdicts.push(retry(stop, delivery));
            } else {
                verdicts.push(Verdict::Ack);
            }
        }
        for (run, progress) in &consumer.progress {
            if let Err(e) = runs.record(run, progress).await {
                // The sends happened: a redelivery would repeat them (the duplicate bound).
                tracing::error!(run, error = %e, "delivery records not written");
            }
        }
        self.after_replies().await;
        verdicts
    }
}

impl App {
    /// Counts each message the dead-letter queue got on its run and logs it (its run and
    /// chats): it ran out of retries. False when a count could not be written.
    pub async fn on_dead_letters(&self, deliveries: &[Delivery]) -> bool {
        let runs = BroadcastRuns::new(self.platform());
        let mut counted = true;
        for delivery in deliveries {
            tracing::error!(body = %delivery.body, "queue message dead-lettered");
            if let Some(message) = QueueMessage::from_body(&delivery.body) {
                counted &= runs.dead_lettered(&message.run).await.is_ok();
            }
        }
        counted
    }
}

fn retry(stop: Stop, delivery: &Delivery) -> Verdict {
    let delay_seconds = match stop {
        Stop::RetryAfter(seconds) => seconds,
        Stop::Unavailable => backoff_seconds(delivery.age_ms),
    };
    Verdict::Retry { delay_seconds }
}

/// A run's charts as `broadcast_charts` keeps them, and what this invocation already asked
/// of it: a ticker looked up (found or not) is not asked again.
struct KeptCharts<'a> {
    runs: &'a BroadcastRuns,
    run: &'a str,
    looked_up: RefCell<HashMap<String, Option<MarketData>>>,
}

impl<'a> KeptCharts<'a> {
    fn new(runs: &'a BroadcastRuns, run: &'a str) -> Self {
        Self {
            runs,
            run,
            looked_up: RefCell::default(),
        }
    }

    /// Looks `tickers` up in one query (the plans' tickers, known before any chat is sent).
    async fn look_up(&self, tickers: &[&str]) {
        let found = match self.runs.charts(self.run, tickers).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(run = self.run, error = %e, "kept charts unreadable; fetching them");
                return;
            }
        };
        let mut looked_up = self.looked_up.borrow_mut();
        for &ticker in tickers {
            looked_up.insert(ticker.to_owned(), None);
        }
        for (ticker, chart) in found {
            looked_up.insert(ticker, Some(chart));
        }
    }
}

#[async_trait(?Send)]
impl RunCharts for KeptCharts<'_> {
    async fn kept(&self, ticker: &str) -> Option<MarketData> {
        if let Some(known) = self.looked_up.borrow().get(ticker) {
            return known.clone();
        }
        self.look_up(&[ticker]).await;
        self.looked_up.borrow().get(ticker).cloned().flatten()
    }

    async fn keep(&self, ticker: &str, fetched: MarketData) -> MarketData {
        match self.runs.keep_chart(self.run, ticker, &fetched).await {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(run = self.run, ticker, error = %e, "chart not kept; using it here");
                fetched
            }
        }
    }
}

/// One consumer batch in progress.
struct Consumer<'a> {
    bot: &'a Bot,
    /// The signals of each run in the batch, on that run's charts.
    alerts: Vec<(&'a str, Alerts<'a>)>,
    /// What the batch's chats have got, by run and chat (a hundred at most: a list).
    known: Vec<(String, i64, Record)>,
    /// What this batch did, by run.
    progress: Vec<(String, Progress)>,
    sends: usize,
    /// The pause between two sends.
    spacing_ms: u64,
}

impl Consumer<'_> {
    /// Delivers one queue message's chats in order; `Some` when Telegram made it stop.
    async fn deliver(&mut self, message: &QueueMessage) -> Option<Stop> {
        for &chat in &message.chats {
            let known = self
                .known
                .iter()
                .position(|(run, c, _)| *c == chat && *run == message.run);
            let before = known.map(|i| self.known[i].2);
            let from = match decide(before.as_ref()) {
                Decision::Skip => {
                    self.progress(&message.run).skipped += 1;
                    continue;
                }
                Decision::SendFrom(from) => from,
            };
            let plan = message
                .chats
                .iter()
                .position(|&c| c == chat)
                .and_then(|i| message.plans.get(i));
            let texts = self
                .texts(&message.run, ChatId::new(chat), &message.work, plan)
                .await;
            let mut record = Record {
                total: texts.len(),
                ..before.unwrap_or_default()
            };
            let mut stop = None;
            for (i, text) in texts.iter().enumerate().skip(from) {
                if self.sends > 0 {
                    self.bot.clock.sleep(self.spacing_ms).await;
                }
                self.sends += 1;
                match self
                    .bot
                    .telegram
                    .send_message_once(ChatId::new(chat), text)
                    .await
                {
                    Answer::Delivered => record.sent += 1,
                    Answer::Refused => record.refused += 1,
                    Answer::RetryAfter(seconds) => stop = Some(Stop::RetryAfter(seconds)),
                    Answer::Unavailable => {
                        self.progress(&message.run).failed += 1;
                        stop = Some(Stop::Unavailable);
                    }
                }
                if stop.is_some() {
                    break;
                }
                record.handled = i + 1;
            }
            self.note(&message.run, chat, before, record);
            match known {
                Some(i) => self.known[i].2 = record,
                None => self.known.push((message.run.clone(), chat, record)),
            }
            if stop.is_some() {
                return stop;
            }
        }
        None
    }

    /// The chat's messages in this run, as the inline run would send them: on its `plan` when
    /// the producer read it, else on what the chat's reads through the phase router give.
    async fn texts(
        &self,
        run: &str,
        chat: ChatId,
        work: &Work,
        plan: Option<&ChatPlan>,
    ) -> Vec<String> {
        let Some((_, alerts)) = self.alerts.iter().find(|(r, _)| *r == run) else {
            return Vec::new();
        };
        match work {
            Work::Broadcast {
                rating,
                score,
                header,
            } => {
                let fear_greed = FearGreed {
                    rating: rating.clone(),
                    score: *score,
                };
                let reading = Reading {
                    fear_greed: &fear_greed,
                    header,
                };
                let Some(plan) = plan else {
                    return chat_alerts(self.bot, alerts, chat, Some(&reading)).await;
                };
                alerts
                    .messages_at(
                        Ok(plan.position.as_ref()),
                        &plan.evaluated_tickers(),
                        &fear_greed,
                        Some(header),
                    )
                    .await
            }
            Work::Deploy { text } => vec![text.clone()],
        }
    }

    /// Adds what changed for `chat` to its run's progress (`before`: its record when the
    /// batch started, never complete: a complete chat is skipped).
    fn note(&mut self, run: &str, chat: i64, before: Option<Record>, after: Record) {
        let before = before.unwrap_or_default();
        let progress = self.progress(run);
        progress.sent += after.sent - before.sent;
        progress.refused += after.refused - before.refused;
        progress.chats_done += usize::from(after.complete());
        match progress.records.iter_mut().find(|(c, _)| *c == chat) {
            Some((_, record)) => *record = after,
            None => progress.records.push((chat, after)),
        }
    }

    /// What this batch did for `run` so far.
    fn progress(&mut self, run: &str) -> &mut Progress {
        let i = match self.progress.iter().position(|(r, _)| r == run) {
            Some(i) => i,
            None => {
                self.progress.push((run.to_owned(), Progress::default()));
                self.progress.len() - 1
            }
        };
        &mut self.progress[i].1
    }
}
