//! Native integration tests, one module per surface. Everything runs on real SQLite and the
//! in-memory KV through the same platform traits the worker uses in workerd.

mod admin;
mod admin_flags;
mod admin_repair;
mod admin_sweeps;
mod app;
mod backfill;
mod backfill_race;
mod bot;
mod broadcast;
mod contract;
mod d1_schema;
mod dashboard;
mod deploy;
mod entities;
mod evidence;
mod execute;
mod flags;
mod helpers;
mod kv_cleanup;
mod kv_format;
mod legacy_reads;
mod now;
mod outbound;
mod phases;
mod platform;
mod properties;
mod redelivery;
mod repair;
mod reverse_sync;
mod router;
mod router_model;
mod router_shadow;
mod shadow;
mod subscribers;
mod units;
