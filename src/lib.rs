//! The Fear and Greed Telegram bot as a Cloudflare Worker, and the machinery that moves its
//! storage from Workers KV to D1 while it keeps serving users.
//!
//! # Layout
//!
//! - [`domain`]: plain data and rules that know nothing of storage: `ChatId`, `Execution`,
//!   `Position`, `CacheEntry`, market inputs, the UTC calendar and US market holidays, and
//!   JavaScript's number parsing and formatting for byte-exact texts and KV values.
//! - [`storage`]: the five repository traits the rest of the code talks to, each with two
//!   implementations: `storage::kv` (the legacy KV keys and JSON bytes) and `storage::d1` (the
//!   SQL schema in `migrations/`), plus the one error type and its classifier, and
//!   `EntityStore`: whole entities loaded and replaced in either store (repair, backfill).
//! - [`platform`]: the thin seam between the application and the runtime: `KvStore`,
//!   `SqlDatabase`, `HttpClient` and `Clock` traits, with workerd implementations (wasm only)
//!   and native ones (in-memory KV, SQLite, scripted HTTP, manual clock) so everything above
//!   runs in plain `cargo test`.
//! - `signals`: the legacy signal algorithm (indicators, decision) and its byte-exact texts.
//! - `market`: the CNN Fear & Greed and Yahoo chart clients; `outbound`: the one timeout
//!   and retry policy every outbound call follows.
//! - `bot`: Telegram updates → commands → replies, storage only through the repositories.
//! - `telegram`: the Bot API client (`sendMessage`, `getChat`).
//! - [`migration`]: the KV → D1 move: phases per repository, the runtime flags declared in
//!   `flags/flags.json` and cached per isolate, the `router` that serves each repository from
//!   KV, D1 or both as its phase says (queueing failed second writes for repair and collecting
//!   the shadow reads' evidence), the comparator (`experiment`), the guard rails, the
//!   `repair` drain that copies over what a second write missed, the `sweep`s that move the
//!   history (backfill, validation, reverse sync) in bounded, checkpointed steps, and the KV
//!   `cleanup`.
//! - [`fanout`]: the rules of the broadcast through a Cloudflare Queue (messages, `sendBatch`
//!   calls, once per chat, back-off), apart from any runtime; `app::queued` runs them.
//! - [`http`]: a request and a response as plain data, what the routes and `entry` share.
//! - [`app`]: the request and cron dispatch, the webhook pipeline, `/deploy-notify` and the
//!   broadcast, on the platform traits.
//! - `admin`: the operators' HTTP API under `/admin/`.
//! - `entry` (wasm only): the `#[event]` glue, the only code that reads `worker::Env`; in the
//!   bot worker's build it hands `/admin/` to the ops worker.
//! - [`secret`]: a credential that never prints and compares in constant time.
//! - [`schema`]: the D1 migrations, embedded so native tests apply exactly what wrangler applies.
//!
//! Visibility is `pub(crate)` by default. What is `pub` is what the integration tests
//! (`tests/it`) and the benches drive from outside: the app, the repositories and their stores,
//! the platform seam with its native stand-ins, and the migration's pieces. `admin`, `bot`,
//! `market`, `outbound`, `signals` and `telegram` are reached only through the app.

// Each worker's wasm is built with one of the `bot` and `ops` features (Cargo.toml), and what
// only the other worker uses is unused there and left out. Unused code is checked in the full
// build (both features), which the native tests and clippy run.
#![cfg_attr(
    not(all(feature = "bot", feature = "ops")),
    allow(dead_code, unused_imports)
)]
// The docs are for the people who work on the crate, rendered with its private items
// (`cargo doc --document-private-items`, which scripts/test.sh checks), so a public item's doc
// may link to a private one.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod admin;
pub mod app;
pub(crate) mod bot;
pub mod domain;
pub mod fanout;
pub mod http;
pub(crate) mod market;
pub mod migration;
pub(crate) mod outbound;
pub mod platform;
pub mod schema;
pub mod secret;
pub(crate) mod signals;
pub mod storage;
pub(crate) mod telegram;

#[cfg(target_arch = "wasm32")]
mod entry;
