//! Failed bearer attempts, limited per client: [`FAILED_ATTEMPTS`] per [`PERIOD_SECONDS`] per
//! `CF-Connecting-IP`, counted by the Workers Rate Limiting binding `ADMIN_AUTH_LIMIT` where it
//! is bound and by the isolate otherwise. A client over its budget gets a 429 with
//! `Retry-After` before its token is looked at, the right one included: if the right token
//! still passed, the 429 would only tell a wrong guess from a right one and slow no guessing.
//! Other clients are not affected. The token is never logged: `handle` logs each refusal
//! with its client, and a 429 is how the limiting shows in the logs.

use super::{AdminContext, AdminError};
use crate::http::Request;
use crate::platform::window::FixedWindows;
use std::rc::Rc;

/// Failed attempts a client may make per period: room for a few mistyped tokens and a
/// dashboard sign-in with a wrong one (four calls at once) twice over.
const FAILED_ATTEMPTS: u32 = 10;

/// The period, in seconds: the longest the binding offers (10 or 60).
const PERIOD_SECONDS: u32 = 60;

/// This isolate's failed attempts per client, and the clients a binding refused; clones
/// share them.
#[derive(Clone)]
pub(crate) struct Attempts(pub(crate) Rc<FixedWindows>);

impl Default for Attempts {
    fn default() -> Self {
        Self(Rc::new(FixedWindows::new(
            FAILED_ATTEMPTS,
            i64::from(PERIOD_SECONDS) * 1000,
        )))
    }
}

/// The client an attempt counts against: `CF-Connecting-IP`, which Cloudflare sets on every
/// request (a client cannot choose it); requests without one share a key.
pub(super) fn client(request: &Request) -> &str {
    request.header("cf-connecting-ip").unwrap_or("unknown")
}

/// A 429 while `client` is over its budget in this isolate.
pub(super) fn refuse_if_limited(cx: &AdminContext<'_>, client: &str) -> Result<(), AdminError> {
    let now = cx.platform.clock.now_ms();
    match cx.attempts.retry_after_ms(client, now) {
        Some(ms) => Err(AdminError::TooManyAttempts {
            retry_after: (ms as u64).div_ceil(1000) as u32,
        }),
        None => Ok(()),
    }
}

/// Counts a failed attempt by `client`: a 401, or a 429 once the limiter refuses it (then the
/// isolate refuses the client for a whole period without asking again).
pub(super) async fn failed(cx: &AdminContext<'_>, client: &str) -> AdminError {
    let now = cx.platform.clock.now_ms();
    if cx.limiter.limit(client, now).await {
        return AdminError::Unauthorized;
    }
    cx.attempts.exhaust(client, now);
    AdminError::TooManyAttempts {
        retry_after: PERIOD_SECONDS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ops_workers_configuration_binds_the_limiter_with_these_numbers() {
        let declared = format!(
            "[[ratelimits]]\nname = \"ADMIN_AUTH_LIMIT\"\nnamespace_id = \"1001\"\nsimple = {{ limit = {FAILED_ATTEMPTS}, period = {PERIOD_SECONDS} }}\n"
        );
        assert!(include_str!("../../wrangler.ops.toml").contains(&declared));
    }
}
