//! Handing a repository over between `dual_write` and `shadow`, the one move that changes the
//! store reads are served from (MIGRATION.md, "Handing over between dual_write and shadow").
//!
//! Isolates read the flags at most once per TTL, so for a while after a flip some still run
//! the old phase, and each phase writes the store the other one reads second, after the
//! replies. So the move is handed over rather than flipped:
//!
//! 1. **Announced.** From the change on, an isolate that has read it still serves the old
//!    phase, with *caution*: every second write runs before the reply, and every read first
//!    looks for a repair queued towards the store it reads (a second write that failed) and,
//!    when there is one, is answered by the other store.
//! 2. **Switched**, at the same moment in every isolate that has read the change: the flags'
//!    TTL after it (plus [`SKEW_MS`]), so every isolate that can read `settings` knows of it,
//!    and once no write claimed before it is still running, so every write of the old phase
//!    has made both its writes (or queued its repair). Caution goes on.
//! 3. **Settled**: a TTL (plus [`SPAN_MS`]) after the switch, every isolate serves the new
//!    phase, and its second writes go back behind the replies; a TTL later every isolate's
//!    flags were read after any repair a cautious write queued, and reads look for queued
//!    repairs only while the flags' read says some are queued towards their store.
//!
//! So no read is served from a store that lacks a write acknowledged before it: during the
//! handover both stores receive every write before its reply, or the read finds the repair.

use super::Phase;
use crate::storage::d1::{PhaseStanding, CLAIM_EXPIRY_MS};
use crate::storage::Store;

/// How far apart two isolates' clocks may be.
pub const SKEW_MS: i64 = 1_000;
/// How long a request may run between reading its phases and its last storage call.
pub const SPAN_MS: i64 = 10_000;
/// How long after a phase change the flags' read looks at what its handover waits on: the
/// claims made before it have all expired by then, and the handover is over. (The TTL is at
/// most 10 s.)
pub const HORIZON_MS: i64 = CLAIM_EXPIRY_MS + 60_000;

/// How a request reads and writes beyond what its phase alone says: the care a handover or a
/// queued repair asks for, and what the guard rails vouched for. The default is the careful
/// reading of the phase alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caution {
    /// Second writes run before the reply (inline), not after it.
    pub writes_inline: bool,
    /// A read first looks for a repair queued towards the store it reads.
    pub reads_look_for_repairs: bool,
    /// D1 is vouched complete, which matters in `shadow`: the repository serves the phase its
    /// latest change set through the guard rails, unforced (into `shadow`: a backfill begun
    /// after dual writes, and a clean validation after it), and no repair towards D1 is
    /// queued. A D1 read that finds no record is then the user's answer, KV being read after
    /// the replies to compare; otherwise KV is read before the reply, for the fallback.
    pub d1_vouched: bool,
}

/// What the flags' read says of one repository besides its phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    handover: Option<Handover>,
    queued_to_kv: bool,
    queued_to_d1: bool,
    /// The phase's latest change passed the guard rails (see [`Caution::d1_vouched`]).
    entered_unforced: bool,
}

/// A move between `dual_write` and `shadow` made within [`HORIZON_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handover {
    from: Phase,
    changed_at: i64,
    /// When the last write claimed before the change finished (the change itself if none ran);
    /// `None` while some are still running.
    settled_at: Option<i64>,
}

impl Standing {
    /// The standing of a repository in phase `to`, from its phase row's read.
    pub(crate) fn read(to: Phase, row: &PhaseStanding) -> Self {
        let from = row
            .previous
            .as_deref()
            .and_then(|p| p.parse::<Phase>().ok());
        let handover = match (from, row.changed_at) {
            (Some(from), Some(changed_at)) if crosses(from, to) => Some(Handover {
                from,
                changed_at,
                settled_at: (row.running_before == Some(0))
                    .then(|| row.finished_before.unwrap_or(changed_at).max(changed_at)),
            }),
            _ => None,
        };
        Self {
            handover,
            queued_to_kv: row.queued_to_kv.unwrap_or(0) != 0,
            queued_to_d1: row.queued_to_d1.unwrap_or(0) != 0,
            entered_unforced: row.entered_unforced.unwrap_or(0) != 0,
        }
    }

    /// The phase a request of this repository runs at `now`, and with what caution; `to` is
    /// the repository's phase flag and `ttl_ms` the flags' cache TTL.
    pub(crate) fn serving(&self, to: Phase, ttl_ms: i64, now: i64) -> (Phase, Caution) {
        let queued = |store| match store {
            Store::Kv => self.queued_to_kv,
            Store::D1 => self.queued_to_d1,
        };
        let looks = |phase: Phase| phase.second().is_some() && queued(phase.authoritative());
        // Vouched for only while the phase the change set serves: not the old one of a
        // rollback still being handed over.
        let vouched = |phase: Phase| phase == to && self.entered_unforced && !self.queued_to_d1;
        let Some(handover) = self.handover else {
            let caution = Caution {
                writes_inline: false,
                reads_look_for_repairs: looks(to),
                d1_vouched: vouched(to),
            };
            return (to, caution);
        };
        let switch = handover.switch_at(ttl_ms);
        let phase = match switch {
            Some(switch) if now >= switch => to,
            _ => handover.from,
        };
        let settled = switch.map_or(i64::MAX, |switch| switch + ttl_ms + SPAN_MS);
        let caution = Caution {
            writes_inline: now < settled,
            reads_look_for_repairs: now < settled.saturating_add(ttl_ms) || looks(phase),
            d1_vouched: vouched(phase),
        };
        (phase, caution)
    }

    /// When the handover of this repository is over (`Some(i64::MAX)` while it cannot be
    /// known yet); `None` when none is under way at `now`.
    pub(crate) fn handing_over_until(&self, ttl_ms: i64, now: i64) -> Option<i64> {
        let handover = self.handover?;
        let until = handover
            .switch_at(ttl_ms)
            .map_or(i64::MAX, |switch| switch + 2 * ttl_ms + SPAN_MS);
        (now < until).then_some(until)
    }
}

impl Handover {
    /// The switch: every isolate has read the change, and no write claimed before it runs.
    fn switch_at(&self, ttl_ms: i64) -> Option<i64> {
        let announced = self.changed_at + ttl_ms + SKEW_MS;
        self.settled_at.map(|settled| settled.max(announced))
    }
}

/// Whether a move from `from` to `to` changes the store reads are served from while both
/// stores receive every write: `dual_write ↔ shadow`.
fn crosses(from: Phase, to: Phase) -> bool {
    from != to && [from, to].iter().all(|p| p.second().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase::{D1Only, DualWrite, KvOnly, Shadow};

    const CHANGED: i64 = 1_000_000;
    const TTL: i64 = 10_000;

    fn row(previous: Phase, running: i64, finished: Option<i64>) -> PhaseStanding {
        PhaseStanding {
            changed_at: Some(CHANGED),
            previous: Some(previous.as_str().to_owned()),
            running_before: Some(running),
            finished_before: finished,
            queued_to_kv: Some(0),
            queued_to_d1: Some(0),
            entered_unforced: Some(0),
        }
    }

    const CAREFUL: Caution = Caution {
        writes_inline: true,
        reads_look_for_repairs: true,
        d1_vouched: false,
    };

    #[test]
    fn a_move_between_dual_write_and_shadow_switches_once_announced_and_settled() {
        for (from, to) in [(DualWrite, Shadow), (Shadow, DualWrite)] {
            let standing = Standing::read(to, &row(from, 0, Some(CHANGED - 5)));
            let switch = CHANGED + TTL + SKEW_MS;
            assert_eq!(standing.serving(to, TTL, CHANGED), (from, CAREFUL));
            assert_eq!(standing.serving(to, TTL, switch - 1), (from, CAREFUL));
            assert_eq!(standing.serving(to, TTL, switch), (to, CAREFUL));
            let settled = switch + TTL + SPAN_MS;
            let reads_only = Caution {
                writes_inline: false,
                reads_look_for_repairs: true,
                d1_vouched: false,
            };
            assert_eq!(standing.serving(to, TTL, settled), (to, reads_only));
            let over = settled + TTL;
            assert_eq!(standing.serving(to, TTL, over), (to, Caution::default()));
            assert_eq!(standing.handing_over_until(TTL, over - 1), Some(over));
            assert_eq!(standing.handing_over_until(TTL, over), None);
        }
    }

    #[test]
    fn a_write_claimed_before_the_move_and_still_running_holds_the_old_phase() {
        let running = Standing::read(Shadow, &row(DualWrite, 1, None));
        let late = CHANGED + CLAIM_EXPIRY_MS;
        assert_eq!(running.serving(Shadow, TTL, late), (DualWrite, CAREFUL));
        assert_eq!(running.handing_over_until(TTL, late), Some(i64::MAX));
        // It finished well after the TTL: the switch waits for it.
        let finished = CHANGED + 60_000;
        let done = Standing::read(Shadow, &row(DualWrite, 0, Some(finished)));
        assert_eq!(done.serving(Shadow, TTL, finished - 1).0, DualWrite);
        assert_eq!(done.serving(Shadow, TTL, finished).0, Shadow);
    }

    #[test]
    fn other_moves_take_effect_at_once_and_without_caution() {
        for (from, to) in [(KvOnly, DualWrite), (DualWrite, KvOnly), (Shadow, D1Only)] {
            let standing = Standing::read(to, &row(from, 3, None));
            assert_eq!(standing.serving(to, TTL, CHANGED), (to, Caution::default()));
            assert_eq!(standing.handing_over_until(TTL, CHANGED), None);
        }
        // A change older than the read's horizon comes without its previous phase.
        let old = PhaseStanding {
            previous: None,
            ..row(DualWrite, 0, None)
        };
        let standing = Standing::read(Shadow, &old);
        assert_eq!(
            standing.serving(Shadow, TTL, CHANGED),
            (Shadow, Caution::default())
        );
    }

    #[test]
    fn reads_look_for_repairs_while_one_is_queued_towards_the_store_they_read() {
        let towards = |kv: i64, d1: i64| PhaseStanding {
            queued_to_kv: Some(kv),
            queued_to_d1: Some(d1),
            ..PhaseStanding::default()
        };
        let looks = |phase: Phase, row: PhaseStanding| {
            Standing::read(phase, &row)
                .serving(phase, TTL, CHANGED)
                .1
                .reads_look_for_repairs
        };
        // The store a phase reads: KV in dual_write, D1 in shadow.
        assert!(looks(DualWrite, towards(1, 0)));
        assert!(!looks(DualWrite, towards(0, 1)));
        assert!(looks(Shadow, towards(0, 1)));
        assert!(!looks(Shadow, towards(1, 0)));
        // The single-store phases have no other store to answer.
        assert!(!looks(KvOnly, towards(1, 1)));
        assert!(!looks(D1Only, towards(1, 1)));
    }

    #[test]
    fn d1_is_vouched_for_while_the_phase_an_unforced_change_set_serves_and_no_repair_waits() {
        let vouched = |to: Phase, from: Phase, unforced: Option<i64>, queued: i64, now: i64| {
            let row = PhaseStanding {
                entered_unforced: unforced,
                queued_to_d1: Some(queued),
                ..row(from, 0, Some(CHANGED - 5))
            };
            Standing::read(to, &row).serving(to, TTL, now).1.d1_vouched
        };
        let switched = CHANGED + TTL + SKEW_MS;
        assert!(vouched(Shadow, DualWrite, Some(1), 0, switched));
        assert!(vouched(Shadow, D1Only, Some(1), 0, CHANGED));
        // Forced past the rails, or set where no history row records it.
        assert!(!vouched(Shadow, DualWrite, Some(0), 0, switched));
        assert!(!vouched(Shadow, DualWrite, None, 0, switched));
        // A repair towards D1 is queued: D1 missed a write.
        assert!(!vouched(Shadow, DualWrite, Some(1), 1, switched));
        // A rollback to dual_write still handed over serves shadow, which it does not vouch for.
        assert!(!vouched(DualWrite, Shadow, Some(1), 0, CHANGED));
        assert_eq!(
            Standing::read(DualWrite, &row(Shadow, 0, Some(CHANGED - 5)))
                .serving(DualWrite, TTL, CHANGED)
                .0,
            Shadow
        );
    }
}
