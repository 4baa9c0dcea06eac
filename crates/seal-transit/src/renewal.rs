//! Background renewal of the seal's token: look its TTL up, renew at about half of it, again
//! at half of the renewed TTL, and so on. Tokens that are not renewable or never expire are left
//! alone. Outages are retried with backoff; a refusal (token revoked, expired, or not allowed to
//! renew itself) ends the renewal with an error in the log. The token is never logged.
//!
//! The scheduling rules are pure functions; [`spawn`] runs them against the server.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::SEAL_TYPE;
use crate::client::{TokenInfo, TransitClient};

/// The shortest wait before a renewal, so a token about to expire is not renewed in a loop.
const MIN_RENEW_DELAY: Duration = Duration::from_secs(1);
/// The first wait after a failed lookup or renewal.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest wait after a failed lookup or renewal.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// When to renew a token in this state: after half its TTL, or `None` if it needs no renewal
/// (not renewable, or no TTL).
pub(crate) fn renew_delay(info: &TokenInfo) -> Option<Duration> {
    if !info.renewable || info.ttl.is_zero() {
        return None;
    }
    Some((info.ttl / 2).max(MIN_RENEW_DELAY))
}

/// How long to wait before retry number `attempt` (0 for the first retry): doubling from
/// [`FIRST_RETRY_DELAY`] up to [`MAX_RETRY_DELAY`].
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
    FIRST_RETRY_DELAY
        .saturating_mul(factor)
        .min(MAX_RETRY_DELAY)
}

/// Aborts the renewal task when dropped (with the seal that owns it).
#[derive(Debug)]
pub(crate) struct RenewalTask(AbortHandle);

impl Drop for RenewalTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts renewing the client's token on the current Tokio runtime.
pub(crate) fn spawn(client: Arc<TransitClient>) -> RenewalTask {
    RenewalTask(tokio::spawn(run(client)).abort_handle())
}

/// What a retried call ended with.
enum Outcome {
    Done(TokenInfo),
    GaveUp,
}

async fn run(client: Arc<TransitClient>) {
    let Outcome::Done(mut info) = retrying(&client, "look up", |c| c.lookup_self()).await else {
        return;
    };
    loop {
        let Some(delay) = renew_delay(&info) else {
            tracing::info!(
                seal = SEAL_TYPE,
                renewable = info.renewable,
                ttl_secs = info.ttl.as_secs(),
                "transit seal token needs no renewal (not renewable or no TTL); not renewing it"
            );
            return;
        };
        tokio::time::sleep(delay).await;
        match retrying(&client, "renew", |c| c.renew_self()).await {
            Outcome::Done(renewed) => {
                tracing::debug!(
                    seal = SEAL_TYPE,
                    ttl_secs = renewed.ttl.as_secs(),
                    "renewed the transit seal token"
                );
                info = renewed;
            }
            Outcome::GaveUp => return,
        }
    }
}

/// Runs `call` until it succeeds or is refused, waiting between attempts.
async fn retrying<'a, F, Fut>(client: &'a TransitClient, what: &str, call: F) -> Outcome
where
    F: Fn(&'a TransitClient) -> Fut,
    Fut: Future<Output = Result<TokenInfo, crate::TransitError>>,
{
    let mut attempt = 0;
    loop {
        match call(client).await {
            Ok(info) => return Outcome::Done(info),
            Err(err) if err.is_retriable() => {
                let wait = retry_delay(attempt);
                tracing::warn!(
                    seal = SEAL_TYPE,
                    address = client.address(),
                    error = %err,
                    retry_in_secs = wait.as_secs(),
                    "cannot {what} the transit seal token; retrying"
                );
                tokio::time::sleep(wait).await;
                attempt = attempt.saturating_add(1);
            }
            Err(err) => {
                tracing::error!(
                    seal = SEAL_TYPE,
                    address = client.address(),
                    error = %err,
                    "cannot {what} the transit seal token; token renewal stopped"
                );
                return Outcome::GaveUp;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ttl_secs: u64, renewable: bool) -> TokenInfo {
        TokenInfo {
            ttl: Duration::from_secs(ttl_secs),
            renewable,
        }
    }

    #[test]
    fn renews_at_half_the_ttl() {
        assert_eq!(
            renew_delay(&info(3600, true)),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            renew_delay(&info(7, true)),
            Some(Duration::from_millis(3500))
        );
        // Never sooner than a second, even for a nearly expired token.
        assert_eq!(renew_delay(&info(1, true)), Some(MIN_RENEW_DELAY));
    }

    #[test]
    fn tokens_that_need_no_renewal() {
        assert_eq!(renew_delay(&info(3600, false)), None);
        assert_eq!(renew_delay(&info(0, true)), None);
        assert_eq!(renew_delay(&info(0, false)), None);
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let delays: Vec<u64> = (0..8).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }
}
