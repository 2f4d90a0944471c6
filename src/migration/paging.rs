//! On-call paging (MIGRATION.md, "Watching"): which conditions fire, from the numbers the
//! maintenance cron read and the flags, and which messages to send given the pages already
//! recorded in D1 (`pages`, migration 0010). Pure: the cron step (`app::pager`) reads the
//! numbers, claims each page in D1 and sends it.
//!
//! A condition pages once when it starts firing, again every `page.repeat_seconds` while it
//! still fires, and sends one "cleared" message when it stops. A condition whose numbers could
//! not be read this run neither fires nor clears: it keeps its recorded page.

use super::flags::{GuardThresholds, PageThresholds};
use super::tally::Totals;
use crate::storage::d1::{DeadLetters, PageRow};
use crate::storage::Repository;
use std::collections::BTreeMap;

/// One condition on-call is paged about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// The repository's divergence rate over the guard window passes
    /// `guard.max_divergence_rate`.
    DivergenceRate(Repository),
    /// Its KV fallbacks over the guard window pass `page.max_fallbacks`.
    Fallbacks(Repository),
    /// Its failed second writes over the guard window pass `page.max_write_failures`.
    WriteFailures(Repository),
    /// Its queued repairs pass `page.max_repair_queue`.
    RepairQueue(Repository),
    /// `settings` could not be read.
    SettingsUnreadable,
}

impl Condition {
    /// Every condition, in the order pages are sent.
    pub fn all() -> Vec<Self> {
        let per_repository = [
            Self::DivergenceRate as fn(Repository) -> Self,
            Self::Fallbacks,
            Self::WriteFailures,
            Self::RepairQueue,
        ];
        let mut all = vec![Self::SettingsUnreadable];
        for make in per_repository {
            all.extend(Repository::ALL.into_iter().map(make));
        }
        all
    }

    /// Its key in the `pages` table, e.g. `divergence_rate.watchlists`.
    pub fn key(self) -> String {
        match self {
            Self::DivergenceRate(r) => format!("divergence_rate.{}", r.as_str()),
            Self::Fallbacks(r) => format!("fallbacks.{}", r.as_str()),
            Self::WriteFailures(r) => format!("write_failures.{}", r.as_str()),
            Self::RepairQueue(r) => format!("repair_queue.{}", r.as_str()),
            Self::SettingsUnreadable => "settings_unreadable".into(),
        }
    }

    /// The condition of a `pages` key; `None` for one this version does not know.
    pub fn parse(key: &str) -> Option<Self> {
        Self::all().into_iter().find(|c| c.key() == key)
    }

    /// What fires, for the message's first line.
    fn title(self) -> String {
        match self {
            Self::DivergenceRate(r) => format!("divergence rate of {r} above the guard"),
            Self::Fallbacks(r) => format!("KV fallbacks of {r}"),
            Self::WriteFailures(r) => format!("failed second writes of {r}"),
            Self::RepairQueue(r) => format!("repair queue of {r}"),
            Self::SettingsUnreadable => "settings unreadable".into(),
        }
    }
}

/// What one maintenance run read. `None`: not readable this run, so the conditions it decides
/// keep their recorded state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Readings {
    /// `Err` holds why `settings` could not be read.
    pub settings: Result<(), String>,
    /// Per repository, the numbers over the guard window.
    pub window: Option<BTreeMap<Repository, Totals>>,
    /// Per repository, the repairs queued.
    pub repairs_queued: Option<BTreeMap<Repository, u64>>,
}

/// The thresholds a decision uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Thresholds {
    pub guard: GuardThresholds,
    pub page: PageThresholds,
}

/// A condition this run: firing or not, with the numbers for the message; `None`: unknown.
fn assess(condition: Condition, r: &Readings, t: &Thresholds) -> Option<(bool, String)> {
    let window = || window_text(t.guard.window_ms);
    let totals = |repository: Repository| {
        r.window
            .as_ref()
            .map(|w| w.get(&repository).copied().unwrap_or_default())
    };
    Some(match condition {
        Condition::DivergenceRate(repository) => {
            let w = totals(repository)?;
            let rate = w.divergence_rate();
            (
                rate > t.guard.max_divergence_rate,
                format!(
                    "divergence rate {} ({} divergences in {} comparisons) over the last {}; \
                     guard.max_divergence_rate is {}",
                    number(rate),
                    w.divergences,
                    w.compared,
                    window(),
                    number(t.guard.max_divergence_rate)
                ),
            )
        }
        Condition::Fallbacks(repository) => {
            let w = totals(repository)?;
            (
                count(w.fallbacks) > t.page.max_fallbacks,
                format!(
                    "{} KV fallbacks in {} shadow reads over the last {}; page.max_fallbacks is {}",
                    w.fallbacks,
                    w.reads,
                    window(),
                    t.page.max_fallbacks
                ),
            )
        }
        Condition::WriteFailures(repository) => {
            let w = totals(repository)?;
            (
                count(w.write_failures) > t.page.max_write_failures,
                format!(
                    "{} failed second writes over the last {}; page.max_write_failures is {}",
                    w.write_failures,
                    window(),
                    t.page.max_write_failures
                ),
            )
        }
        Condition::RepairQueue(repository) => {
            let queued = r
                .repairs_queued
                .as_ref()?
                .get(&repository)
                .copied()
                .unwrap_or(0);
            (
                queued > t.page.max_repair_queue,
                format!(
                    "{queued} repairs queued; page.max_repair_queue is {}",
                    t.page.max_repair_queue
                ),
            )
        }
        Condition::SettingsUnreadable => match &r.settings {
            Err(error) => (
                true,
                format!(
                    "the D1 settings table could not be read ({error}); isolates run on the \
                     flags they last read, or STORAGE_PHASE_DEFAULT"
                ),
            ),
            Ok(()) => (false, "the D1 settings table reads again".into()),
        },
    })
}

/// A rate as JSON writes it (`0.05`, `0.0`), as the flags API shows rates: serde_json's
/// shortest form, not `f64`'s `Display`, whose formatting code would grow the upload.
fn number(x: f64) -> String {
    serde_json::Value::from(x).to_string()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `86400000` → `24 h`.
fn window_text(ms: i64) -> String {
    let seconds = ms / 1000;
    if seconds % 3600 == 0 {
        format!("{} h", seconds / 3600)
    } else if seconds % 60 == 0 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

/// Which message an action sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A condition that was not paged fires.
    Page,
    /// A paged condition still fires, `page.repeat_seconds` after its last page.
    Repeat,
    /// A paged condition no longer fires.
    Clear,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Repeat => "repeat",
            Self::Clear => "cleared",
        }
    }
}

/// One message to send, and the `pages` change that claims it: the row from `before` to
/// `after` (`None`: no row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Action {
    pub kind: Kind,
    pub condition: Condition,
    /// This run's numbers.
    pub numbers: String,
    /// The row as read.
    pub before: Option<PageRow>,
    /// The row once the message is sent.
    pub after: Option<PageRow>,
}

/// The messages to send at `now`, given the pages recorded (`paged`): a page for each
/// condition firing and not paged, a repeat for each firing and last paged at least
/// `page.repeat_seconds` ago, a "cleared" for each paged and no longer firing. Rows of
/// conditions this version does not know are left alone.
pub(crate) fn decide(
    readings: &Readings,
    thresholds: &Thresholds,
    paged: &[PageRow],
    now: i64,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for condition in Condition::all() {
        let Some((fires, numbers)) = assess(condition, readings, thresholds) else {
            continue;
        };
        let key = condition.key();
        let before = paged.iter().find(|row| row.condition == key).cloned();
        let (kind, first_paged_at) = match (fires, &before) {
            (true, None) => (Kind::Page, now),
            (true, Some(row)) if now - row.last_paged_at >= thresholds.page.repeat_ms => {
                (Kind::Repeat, row.first_paged_at)
            }
            (true, Some(_)) | (false, None) => continue,
            (false, Some(_)) => (Kind::Clear, 0),
        };
        let after = (kind != Kind::Clear).then(|| PageRow {
            condition: key,
            first_paged_at,
            last_paged_at: now,
            numbers: numbers.clone(),
        });
        actions.push(Action {
            kind,
            condition,
            numbers,
            before,
            after,
        });
    }
    actions
}

/// The plain-text message of `action` at `now`; `public_url` is the worker's own origin
/// (`PUBLIC_URL`), for the dashboard's link.
pub(crate) fn message(action: &Action, now: i64, public_url: Option<&str>) -> String {
    let title = action.condition.title();
    let numbers = &action.numbers;
    let body = match &action.before {
        None => format!("PAGE: {title}\n{numbers}"),
        Some(row) if action.kind == Kind::Repeat => format!(
            "STILL FIRING ({} since the first page): {title}\n{numbers}",
            duration_text(now - row.first_paged_at)
        ),
        Some(row) => format!(
            "CLEARED after {}: {title}\nnow: {numbers}\nlast paged: {}",
            duration_text(now - row.first_paged_at),
            row.numbers
        ),
    };
    page_text(&body, public_url)
}

/// The page about a broadcast run whose queue messages ran out of retries: sent once a run.
pub(crate) fn dead_letters_message(run: &DeadLetters, public_url: Option<&str>) -> String {
    let body = format!(
        "PAGE: broadcast run {} dead-lettered {} queue messages\n\
         {} of {} chats done, {} messages sent, {} refused; the chats of each dead-lettered \
         message did not get what it carried (each logged: queue message dead-lettered)",
        run.run, run.dead_lettered, run.chats_done, run.chats, run.sent, run.refused
    );
    page_text(&body, public_url)
}

/// The page's key in `PagesSent` for run `run`'s dead letters.
pub(crate) fn dead_letters_key(run: &str) -> String {
    format!("broadcast_dead_letters.{run}")
}

/// A page's whole text: `body` under the bot's name, with the dashboard's link (`public_url`:
/// the worker's own origin, `PUBLIC_URL`).
fn page_text(body: &str, public_url: Option<&str>) -> String {
    let dashboard = match public_url {
        Some(origin) => format!(
            "Dashboard: {}/admin/dashboard",
            origin.trim_end_matches('/')
        ),
        None => {
            "Dashboard: /admin/dashboard on the worker's URL (PUBLIC_URL is not set, so no link)"
                .to_owned()
        }
    };
    format!("[fear-greed-bot] {body}\n{dashboard}")
}

/// `3_900_000` → `65 min`.
fn duration_text(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    if minutes < 120 {
        format!("{minutes} min")
    } else {
        format!("{} h {} min", minutes / 60, minutes % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Repository::*;

    const NOW: i64 = 1_705_276_800_000;
    const HOUR: i64 = 3_600_000;

    fn thresholds() -> Thresholds {
        Thresholds {
            guard: GuardThresholds {
                min_compared: 1000,
                max_divergence_rate: 0.01,
                max_fallback_rate: 0.001,
                window_ms: 24 * HOUR,
            },
            page: PageThresholds {
                max_fallbacks: 5,
                max_write_failures: 2,
                max_repair_queue: 10,
                repeat_ms: HOUR,
            },
        }
    }

    /// Readings where everything is quiet and readable.
    fn quiet() -> Readings {
        Readings {
            settings: Ok(()),
            window: Some(BTreeMap::new()),
            repairs_queued: Some(BTreeMap::new()),
        }
    }

    fn with_window(repository: Repository, totals: Totals) -> Readings {
        let mut r = quiet();
        r.window.as_mut().unwrap().insert(repository, totals);
        r
    }

    fn row(condition: Condition, last_paged_at: i64) -> PageRow {
        PageRow {
            condition: condition.key(),
            first_paged_at: last_paged_at - HOUR,
            last_paged_at,
            numbers: "then".into(),
        }
    }

    /// A decision's case: its name, the readings, the pages recorded, the actions wanted.
    type Case = (
        &'static str,
        Readings,
        Vec<PageRow>,
        Vec<(&'static str, String)>,
    );

    /// Each action as `(kind, condition key)`.
    fn summary(actions: &[Action]) -> Vec<(&'static str, String)> {
        actions
            .iter()
            .map(|a| (a.kind.as_str(), a.condition.key()))
            .collect()
    }

    #[test]
    fn conditions_round_trip_through_their_keys() {
        let all = Condition::all();
        assert_eq!(all.len(), 1 + 4 * Repository::ALL.len());
        for c in all {
            assert_eq!(Condition::parse(&c.key()), Some(c));
        }
        assert_eq!(Condition::parse("nonsense"), None);
    }

    #[test]
    fn decisions_table() {
        let diverging = Totals {
            compared: 100,
            divergences: 2,
            ..Totals::default()
        };
        let at_the_limit = Totals {
            compared: 100,
            divergences: 1,
            fallbacks: 5,
            write_failures: 2,
            ..Totals::default()
        };
        let over = Totals {
            reads: 50,
            fallbacks: 6,
            write_failures: 3,
            ..Totals::default()
        };
        let mut queued = quiet();
        queued.repairs_queued = Some([(Positions, 11), (Cache, 10)].into());
        let unreadable = Readings {
            settings: Err("no such table: settings".into()),
            ..quiet()
        };
        let unknown = Readings {
            settings: Ok(()),
            window: None,
            repairs_queued: None,
        };
        let div = Condition::DivergenceRate(Watchlists);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("quiet, nothing recorded: nothing", quiet(), vec![], vec![]),
            ("a divergence spike pages", with_window(Watchlists, diverging), vec![],
                vec![("page", div.key())]),
            ("still firing within the repeat: nothing", with_window(Watchlists, diverging),
                vec![row(div, NOW - HOUR + 1)], vec![]),
            ("still firing after the repeat: again", with_window(Watchlists, diverging),
                vec![row(div, NOW - HOUR)], vec![("repeat", div.key())]),
            ("cleared: one message", quiet(), vec![row(div, NOW - 1)],
                vec![("cleared", div.key())]),
            ("at each limit is not past it", with_window(Executions, at_the_limit), vec![], vec![]),
            ("fallbacks and write failures past their limits", with_window(Executions, over), vec![],
                vec![("page", "fallbacks.executions".into()),
                     ("page", "write_failures.executions".into())]),
            ("a repair queue past its bound", queued, vec![],
                vec![("page", "repair_queue.positions".into())]),
            ("settings unreadable pages", unreadable, vec![],
                vec![("page", "settings_unreadable".into())]),
            ("numbers unreadable: neither fire nor clear", unknown,
                vec![row(div, NOW - 2 * HOUR), row(Condition::RepairQueue(Cache), NOW - 2 * HOUR)],
                vec![]),
            ("a row this version does not know is left alone", quiet(),
                vec![PageRow { condition: "future.thing".into(), ..row(div, NOW) }], vec![]),
        ];
        for (name, readings, paged, want) in cases {
            let actions = decide(&readings, &thresholds(), &paged, NOW);
            assert_eq!(summary(&actions), want, "{name}");
        }
    }

    #[test]
    fn a_first_page_records_its_numbers_and_a_repeat_keeps_its_first_time() {
        let diverging = Totals {
            compared: 100,
            divergences: 2,
            ..Totals::default()
        };
        let readings = with_window(Watchlists, diverging);
        let numbers = "divergence rate 0.02 (2 divergences in 100 comparisons) over the last \
                       24 h; guard.max_divergence_rate is 0.01";
        let key = Condition::DivergenceRate(Watchlists).key();
        let first = decide(&readings, &thresholds(), &[], NOW).remove(0);
        let recorded = PageRow {
            condition: key.clone(),
            first_paged_at: NOW,
            last_paged_at: NOW,
            numbers: numbers.to_owned(),
        };
        assert_eq!((first.kind, first.numbers.as_str()), (Kind::Page, numbers));
        assert_eq!((first.before, first.after), (None, Some(recorded.clone())));
        let later = NOW + 2 * HOUR;
        let repeat = decide(
            &readings,
            &thresholds(),
            std::slice::from_ref(&recorded),
            later,
        )
        .remove(0);
        let repeated = PageRow {
            last_paged_at: later,
            ..recorded.clone()
        };
        assert_eq!(repeat.kind, Kind::Repeat);
        assert_eq!(
            (repeat.before, repeat.after),
            (Some(recorded.clone()), Some(repeated))
        );
        let clear = decide(
            &quiet(),
            &thresholds(),
            std::slice::from_ref(&recorded),
            later,
        )
        .remove(0);
        assert_eq!(
            (clear.kind, clear.before, clear.after),
            (Kind::Clear, Some(recorded), None)
        );
    }

    #[test]
    fn messages_carry_the_condition_the_numbers_and_the_dashboard() {
        let page = Action {
            kind: Kind::Page,
            condition: Condition::RepairQueue(Cache),
            numbers: "11 repairs queued; page.max_repair_queue is 10".into(),
            before: None,
            after: None,
        };
        assert_eq!(
            message(&page, NOW, Some("https://bot.example.workers.dev/")),
            "[fear-greed-bot] PAGE: repair queue of cache\n\
             11 repairs queued; page.max_repair_queue is 10\n\
             Dashboard: https://bot.example.workers.dev/admin/dashboard"
        );
        let clear = Action {
            kind: Kind::Clear,
            condition: Condition::RepairQueue(Cache),
            numbers: "0 repairs queued; page.max_repair_queue is 10".into(),
            before: Some(PageRow {
                condition: "repair_queue.cache".into(),
                first_paged_at: NOW - 3 * HOUR - 60_000,
                last_paged_at: NOW - HOUR,
                numbers: "11 repairs queued; page.max_repair_queue is 10".into(),
            }),
            after: None,
        };
        assert_eq!(
            message(&clear, NOW, None),
            "[fear-greed-bot] CLEARED after 3 h 1 min: repair queue of cache\n\
             now: 0 repairs queued; page.max_repair_queue is 10\n\
             last paged: 11 repairs queued; page.max_repair_queue is 10\n\
             Dashboard: /admin/dashboard on the worker's URL (PUBLIC_URL is not set, so no link)"
        );
        let repeat = Action {
            kind: Kind::Repeat,
            condition: Condition::SettingsUnreadable,
            numbers: "x".into(),
            before: Some(row(Condition::SettingsUnreadable, NOW - HOUR)),
            after: None,
        };
        assert!(message(&repeat, NOW, None)
            .starts_with("[fear-greed-bot] STILL FIRING (2 h 0 min since the first page)"));
        assert_eq!(window_text(90_000), "90 s");
        assert_eq!(window_text(600_000), "10 min");
    }
}
