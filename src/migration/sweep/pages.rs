//! Which entities a sweep visits, one page at a time: every entity either store holds, in KV's
//! key order, so a sweep that made its target equal its source for each of them made the two
//! stores equal.
//!
//! The per-chat repositories are listed from KV with its paginated prefix `list` (the cursor is
//! KV's, opaque, and cannot start anywhere else, so it leads); each page is completed with the
//! keys D1 holds between the last page's end and this one's, so an entity only D1 holds is
//! visited too. A page holds at most its limit of keys, both stores' together (and the keys
//! that name no entity): when D1 adds more, the page ends early, at a key of its own, and the
//! next one lists the same KV page again from there. The subscriber list is one entity, and the cache is the one cache key the bot
//! writes plus whatever D1 holds.

use super::Position;
use crate::domain::FEAR_GREED_CACHE_KEY;
use crate::platform::Platform;
use crate::storage::d1::{Finding, SweepStore};
use crate::storage::kv::{ACTIVE_POSITION_PREFIX, EXECUTION_HISTORY_PREFIX, WATCHLIST_PREFIX};
use crate::storage::{EntityKey, Operation, Repository, StorageError, StorageResult};
use std::collections::BTreeSet;

/// One page of entities, and where the sweep stands after it.
pub(super) struct Page {
    pub(super) repository: Repository,
    pub(super) entities: Vec<EntityKey>,
    /// KV keys that name no entity (a chat id that is no decimal `i64` in its canonical form).
    pub(super) bad_keys: Vec<Finding>,
    pub(super) next: Position,
}

/// The page after `at`, of at most `limit` keys, both stores' together.
pub(super) async fn next_page(
    platform: &Platform,
    store: &SweepStore,
    repository: Repository,
    at: &Position,
    limit: usize,
) -> StorageResult<Page> {
    let done = Position {
        finished: true,
        ..at.clone()
    };
    let prefix = match repository {
        Repository::Subscriptions => {
            return Ok(Page {
                repository,
                entities: vec![EntityKey::Subscribers],
                bad_keys: Vec::new(),
                next: done,
            })
        }
        Repository::Cache => {
            let mut keys: BTreeSet<String> = store
                .keys_between(repository, None, None, u32::MAX as usize)
                .await?
                .into_iter()
                .collect();
            keys.insert(FEAR_GREED_CACHE_KEY.to_owned());
            let entities = keys
                .into_iter()
                .filter_map(|key| EntityKey::parse(repository, &key).ok())
                .collect();
            return Ok(Page {
                repository,
                entities,
                bad_keys: Vec::new(),
                next: done,
            });
        }
        Repository::Watchlists => WATCHLIST_PREFIX,
        Repository::Executions => EXECUTION_HISTORY_PREFIX,
        Repository::Positions => ACTIVE_POSITION_PREFIX,
    };
    let page = platform
        .kv
        .list(prefix, at.kv_cursor.as_deref(), limit)
        .await
        .map_err(|e| StorageError::Kv {
            operation: Operation::new("sweep.list"),
            key: prefix.to_owned(),
            message: e.0,
        })?;
    // Keys up to `after_key` were swept already: a page re-listed after a truncation (below)
    // starts within the listing.
    let after = at.after_key.as_deref();
    let suffixes: Vec<&str> = page
        .keys
        .iter()
        .filter_map(|key| key.strip_prefix(prefix))
        .filter(|suffix| after.is_none_or(|after| *suffix > after))
        .collect();
    // The last page reaches to the end of D1's keys; the others to their own last key, where
    // the next page's D1 range starts, but never back before what was swept (a page listed
    // again may be shorter) and never to the end while KV has more (a page may be empty).
    let upto = match &page.cursor {
        Some(_) => {
            let last = page.keys.last().and_then(|key| key.strip_prefix(prefix));
            let floor = at.after_key.as_deref().unwrap_or("");
            Some(
                last.filter(|last| *last > floor)
                    .unwrap_or(floor)
                    .to_owned(),
            )
        }
        None => None,
    };
    let from_d1 = store
        .keys_between(repository, after, upto.as_deref(), limit + 1)
        .await?;
    let mut keys: Vec<&str> = suffixes
        .iter()
        .copied()
        .chain(from_d1.iter().map(String::as_str))
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .collect();
    // At most `limit` entities a page, D1's included: the rest is the next page's, which lists
    // this KV page again (its cursor cannot start within a page) and skips what was swept.
    let next = if keys.len() > limit {
        keys.truncate(limit);
        Position {
            kv_cursor: at.kv_cursor.clone(),
            after_key: keys.last().map(|key| (*key).to_owned()),
            finished: false,
        }
    } else {
        Position {
            kv_cursor: page.cursor.clone(),
            after_key: upto,
            finished: page.cursor.is_none(),
        }
    };
    let mut entities = Vec::new();
    let mut bad_keys = Vec::new();
    for key in keys {
        match entity_of(repository, key) {
            Some(entity) => entities.push(entity),
            None => bad_keys.push(Finding {
                entity_key: format!("{prefix}{key}"),
                problem: "bad_key".into(),
                detail: "the key's suffix is no chat id (a decimal i64 in its canonical form)"
                    .into(),
            }),
        }
    }
    Ok(Page {
        repository,
        entities,
        bad_keys,
        next,
    })
}

/// The entity a key suffix names, if it is exactly a chat id's decimal form (`007` is not: the
/// bot would never read that key).
fn entity_of(repository: Repository, suffix: &str) -> Option<EntityKey> {
    EntityKey::parse(repository, suffix)
        .ok()
        .filter(|entity| entity.to_string() == suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChatId;

    #[test]
    fn only_canonical_decimal_suffixes_are_chats() {
        assert_eq!(
            entity_of(Repository::Positions, "-1001"),
            Some(EntityKey::Position(ChatId::new(-1001)))
        );
        for bad in ["007", "+7", "abc", "", "1.5", "99999999999999999999"] {
            assert_eq!(entity_of(Repository::Watchlists, bad), None, "{bad}");
        }
    }
}
