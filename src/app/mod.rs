//! The application behind the worker's two entry points, written against the platform traits
//! so it runs the same in workerd and in native tests: HTTP routing (`route`), the Telegram
//! webhook (`webhook`), deploy notifications (`deploy`), cron dispatch (`cron`) with the
//! broadcast (`broadcast`, through a queue when one is bound: `queued`) and the on-call pages (`pager`), configuration (`config`) and what an isolate remembers between
//! requests (`isolate`).

pub mod broadcast;
pub mod config;
pub mod cron;
mod deploy;
mod isolate;
pub mod pager;
pub mod queued;
mod route;
mod webhook;

#[cfg(feature = "testing")]
pub use crate::admin::routes as admin_routes;
pub use isolate::Isolate;

use crate::admin::AdminContext;
use crate::bot::{Bot, Outgoing};
use crate::market::Market;
use crate::migration::flags::Flags;
use crate::migration::publish::{publish, Observed};
use crate::migration::router::{self, AfterReplies, Evidence, RequestPhases};
use crate::migration::{FlagCache, Phase};
use crate::platform::{MetricSink, Platform, QueueProducer, RateLimiter};
use crate::storage::d1::UpdateClaim;
use crate::telegram::Telegram;
use config::Config;
use futures_util::FutureExt;
use std::cell::{Cell, LazyCell, RefCell};
use std::rc::Rc;

/// Everything a request or a cron run needs: the platform, the configuration and the
/// isolate's memory.
pub struct App {
    platform: Platform,
    config: Config,
    isolate: Isolate,
    /// The claim of the update this request applies, finished after the response.
    claim: RefCell<UpdateClaim>,
    /// What this request's routed repositories observed, for [`App::after_response`].
    evidence: Evidence,
    /// This request's second writes and comparator-only KV reads, run once the replies are out
    /// ([`App::after_replies`]).
    later: AfterReplies,
    /// What this request read of the flags, if a storage call needed them.
    flags_read: Rc<FlagsRead>,
    /// The maintenance steps this cron run saw fail, counted after it.
    maintenance_failed: RefCell<Vec<&'static str>>,
    /// The optional Analytics Engine dataset the counters also go to.
    analytics: Option<Rc<dyn MetricSink>>,
    /// The optional Rate Limiting binding that counts failed admin bearer attempts; without
    /// it the isolate counts them.
    admin_limiter: Option<Rc<dyn RateLimiter>>,
    /// The optional queue the broadcast fans out through; without it the broadcast is inline.
    queue: Option<Rc<dyn QueueProducer>>,
}

impl App {
    /// An app with a memory of its own, as if each request reached a new isolate; the worker
    /// shares one per isolate ([`App::in_isolate`]).
    pub fn new(platform: Platform, config: Config) -> Self {
        Self::in_isolate(platform, config, Isolate::default())
    }

    /// An app that shares `isolate`'s memory with the other requests of the isolate.
    pub fn in_isolate(platform: Platform, config: Config, isolate: Isolate) -> Self {
        Self {
            platform,
            config,
            isolate,
            claim: RefCell::default(),
            evidence: Evidence::default(),
            later: AfterReplies::queued(),
            flags_read: Rc::default(),
            maintenance_failed: RefCell::default(),
            analytics: None,
            admin_limiter: None,
            queue: None,
        }
    }

    /// Also sends every published counter to an Analytics Engine dataset.
    pub fn with_analytics(self, sink: Rc<dyn MetricSink>) -> Self {
        Self {
            analytics: Some(sink),
            ..self
        }
    }

    /// Counts failed admin bearer attempts with `limiter` (a Rate Limiting binding) rather
    /// than in the isolate.
    pub fn with_admin_limiter(self, limiter: Rc<dyn RateLimiter>) -> Self {
        Self {
            admin_limiter: Some(limiter),
            ..self
        }
    }

    /// Fans the broadcast out through `queue` (docs/broadcast-queue.md).
    pub fn with_queue(self, queue: Rc<dyn QueueProducer>) -> Self {
        Self {
            queue: Some(queue),
            ..self
        }
    }

    fn queue(&self) -> Option<&dyn QueueProducer> {
        self.queue.as_deref()
    }

    /// What the admin API may use of the app for one request.
    fn admin(&self) -> AdminContext<'_> {
        let attempts = &*self.isolate.admin_attempts.0;
        AdminContext {
            platform: &self.platform,
            flag_cache: &self.isolate.flags,
            default_phase: self.config.storage_phase_default,
            token: self.config.admin_api_token.as_ref(),
            attempts,
            limiter: self.admin_limiter.as_deref().unwrap_or(attempts),
        }
    }

    pub(crate) fn flag_cache(&self) -> &FlagCache {
        &self.isolate.flags
    }

    /// The second writes of `dual_write` and `shadow` (migration.md §2) and the KV reads of
    /// `shadow` that only the comparator needs, once the replies are sent: the user does not
    /// wait for the store that does not answer them, and the writes still finish before the
    /// request does.
    async fn after_replies(&self) {
        self.later.run().await;
    }

    /// Whether [`App::after_response`] has anything to do: a claim to mark done, or evidence
    /// to publish. The worker hands it to `wait_until` only then: a fresh isolate compiles a
    /// wasm function on its first call, so a request with nothing to do afterwards (a `/help`,
    /// a `GET /`) compiles none of it.
    pub fn has_work_after_response(&self) -> bool {
        self.claim.borrow().running()
            || !self.evidence.is_empty()
            || self.flags_read.settings_unreadable.get() > 0
            || !self.maintenance_failed.borrow().is_empty()
    }

    /// What runs after the response (the worker hands it to `wait_until`): the update's claim
    /// is marked done, the shadow reads of this request are compared and everything it
    /// observed is published.
    pub async fn after_response(&self) {
        // Each part is boxed and made only when it has work, as [`App::has_work_after_response`]
        // says.
        let claim = self.claim.take();
        if claim.running() {
            claim.finish().boxed_local().await;
        }
        let observed = Observed {
            collected: self.evidence.take(),
            settings_unreadable: self.flags_read.settings_unreadable.take(),
            maintenance_failed: self.maintenance_failed.take(),
        };
        if observed == Observed::default() {
            return;
        }
        let sink = self.analytics.as_deref();
        let counters = &self.isolate.counters;
        publish(
            &self.platform,
            self.flags_read.sample_rate.get(),
            observed,
            sink,
            counters,
        )
        .boxed_local()
        .await;
    }

    pub(crate) fn platform(&self) -> &Platform {
        &self.platform
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The bot for one update or cron run, on fresh repositories (they remember what this
    /// run read, never what an earlier one did), each routed to KV, D1 or both as its phase
    /// flag says; its first write takes `claim`, which is finished after the response. The
    /// repositories are made by the first command that uses them, and the flags are read by
    /// the first storage call, so a run that needs none makes none and reads no `settings`.
    fn bot(&self, claim: UpdateClaim) -> Bot {
        self.claim.replace(claim.clone());
        let platform = self.platform.clone();
        let (cache, read) = (self.isolate.flags.clone(), self.flags_read.clone());
        let (default_phase, evidence) = (self.config.storage_phase_default, self.evidence.clone());
        let (later, storage) = (self.later.clone(), platform.clone());
        let repos = move || {
            let (fence, reader) = (claim.clone(), storage.clone());
            let phases = RequestPhases::on_first_use(move || {
                let (platform, cache, read) = (reader.clone(), cache.clone(), read.clone());
                let claim = fence.clone();
                Box::pin(async move {
                    let flags = read.flags(&cache, &platform, default_phase).await;
                    // The claim of a write, if any, checks these are still the phases.
                    if let Some(rows) = flags.phase_rows() {
                        claim.fence(rows.clone());
                    }
                    flags.serving(platform.clock.now_ms())
                })
            });
            router::routed(&storage, phases, evidence, later, claim)
        };
        Bot {
            repos: LazyCell::new(Box::new(repos)),
            market: Market::new(
                platform.clone(),
                &self.config.cnn_base_url,
                &self.config.yahoo_base_url,
            ),
            telegram: Telegram::new(
                platform.clone(),
                &self.config.telegram_api_base_url,
                self.config.bot_token.clone(),
            ),
            clock: platform.clock,
            admin: self.config.admin_chat_id.clone(),
        }
    }
}

/// What one request read of the flags.
struct FlagsRead {
    /// `shadow.sample_rate`; 1 until a storage call reads the flags.
    sample_rate: Cell<f64>,
    /// How many reads of `settings` failed for this request (0 or 1).
    settings_unreadable: Cell<u64>,
}

impl Default for FlagsRead {
    fn default() -> Self {
        Self {
            sample_rate: Cell::new(1.0),
            settings_unreadable: Cell::new(0),
        }
    }
}

impl FlagsRead {
    /// The isolate's flags now (see [`FlagCache::current`]); notes the sample rate and whether
    /// `settings` was unreadable.
    async fn flags(&self, cache: &FlagCache, platform: &Platform, default_phase: Phase) -> Flags {
        let failures_before = cache.settings_read_failures();
        let flags = cache.current(platform, default_phase).await;
        self.sample_rate.set(flags.sample_rate());
        self.settings_unreadable
            .set(cache.settings_read_failures() - failures_before);
        flags
    }
}

/// Sends messages one after another, in order, as the legacy bot did; failures are logged by
/// the client and never stop the rest.
async fn send_all(bot: &Bot, messages: &[Outgoing]) {
    for message in messages {
        // Ignoring the outcome: a failed send is logged by the client and shown to nobody.
        let _ = bot.telegram.send_message(message.chat, &message.text).await;
    }
}
