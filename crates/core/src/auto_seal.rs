//! Unsealing through the auto seal: [`Core::auto_unseal`], and the background task that
//! retries it with exponential backoff whenever the node is initialized (or joining) and
//! sealed, until the seal answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tresor_crypto::Key32;
use tresor_seal::WrappedKey;

use crate::core::{Core, ROOT_KEY_PATH, lock};
use crate::error::CoreError;

pub(crate) mod seal_health;

pub(crate) use seal_health::seal_name;

/// Exponential backoff: each delay doubles the previous one, up to a maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial` and never exceeds `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next attempt; the one after it will be twice as long (capped).
    pub fn next_delay(&mut self) -> Duration {
        let current = self.next;
        self.next = current.saturating_mul(2).min(self.max);
        current
    }

    /// Starts over at the initial delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// `delay` scaled by a factor between 0.8 and 1.2 picked by `unit` (a number in `[0, 1)`, e.g.
/// random), so that nodes restarted together do not hit the key service in lockstep.
pub fn jittered(delay: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    delay.mul_f64(0.8 + 0.4 * unit)
}

/// A delay as operators read it in a log line: `4s`, `1.5s`, `250ms`.
pub fn format_delay(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Timing of [`run_auto_unseal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoUnsealTiming {
    /// Delay after the first failure (doubles after each further failure).
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
    /// How often the task checks whether the node needs unsealing when nothing woke it.
    pub poll: Duration,
}

impl Default for AutoUnsealTiming {
    /// 1 s doubling to 30 s; checks every second.
    fn default() -> Self {
        AutoUnsealTiming {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// Keeps the node unsealed through its auto seal: whenever it is initialized (or holds a join
/// challenge) and sealed, and no operator sealed it explicitly, it calls
/// [`Core::auto_unseal`]; failures are logged (one line each, naming the seal and the reason)
/// and retried with jittered exponential backoff. Also checks the health of every seal of
/// the set now and then (reported by [`Core::seal_status_report`]). Runs until the future is
/// dropped; does nothing useful on a Shamir node.
pub async fn run_auto_unseal(core: Arc<Core>, timing: AutoUnsealTiming) {
    // The seal-set health checks (for seal-status and health) live as long as this task.
    let _health = seal_health::SealHealthTask::spawn(core.clone(), Default::default());
    let mut backoff = Backoff::new(timing.initial_backoff, timing.max_backoff);
    loop {
        let wait = if core.auto_unseal_due().await {
            let started = std::time::Instant::now();
            let attempt = core.auto_unseal().await;
            // The state gauges change with the outcome: keep them current between scrapes.
            core.refresh_metrics();
            match attempt {
                Ok(unsealed) => {
                    if unsealed {
                        core.record_unseal_time(started);
                    }
                    backoff.reset();
                    timing.poll
                }
                Err(_) if !core.is_sealed() => {
                    backoff.reset();
                    timing.poll
                }
                Err(e) => {
                    core.record_auto_unseal_failure();
                    let delay = jittered(backoff.next_delay(), rand::random::<f64>())
                        .min(timing.max_backoff);
                    tracing::warn!(
                        "auto-unseal failed ({e}); retrying in {}",
                        format_delay(delay)
                    );
                    delay
                }
            }
        } else {
            backoff.reset();
            timing.poll
        };
        tokio::select! {
            _ = core.auto_unseal_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Core {
    /// Unseals through the auto seal(s): unwraps the stored root key with the first seal that
    /// can and opens the barrier. A node holding a join challenge answers it with the root key
    /// its seal unwraps and waits for the cluster's data. Returns whether it unsealed now
    /// (`false`: it already was). Errors name the seal and the reason.
    pub async fn auto_unseal(&self) -> Result<bool, CoreError> {
        let _guard = self.lifecycle.lock().await;
        self.auto_unseal_locked().await
    }

    /// Makes [`run_auto_unseal`] check (and try) at once instead of after its current wait,
    /// e.g. when an operator knows the key service is back.
    pub fn wake_auto_unseal(&self) {
        self.auto_unseal_wake.notify_one();
    }

    /// Failed automatic unseal attempts of the background task since start.
    pub fn auto_unseal_failures(&self) -> u64 {
        self.auto_unseal_failures.load(Ordering::Relaxed)
    }

    /// Whether an explicit `sys/seal` keeps this node sealed (auto-unseal suspended).
    pub fn is_operator_sealed(&self) -> bool {
        self.operator_sealed.load(Ordering::SeqCst)
    }

    /// Whether the background task should try to unseal now.
    pub(crate) async fn auto_unseal_due(&self) -> bool {
        self.seals.is_some()
            && self.is_sealed()
            && !self.is_operator_sealed()
            && (self.has_pending_join() || self.is_initialized().await.unwrap_or(false))
            // While a migration is pending, the node waits for `unseal -migrate` or for
            // another node's migration to show in storage (checked at every poll).
            && matches!(self.pending_migration().await, Ok(None))
    }

    /// [`Core::auto_unseal`] with the lifecycle lock held.
    pub(crate) async fn auto_unseal_locked(&self) -> Result<bool, CoreError> {
        let seals = self.auto_seals()?;
        if !self.is_sealed() {
            return Ok(false);
        }
        let config = self.seal_config().await?;
        let pending = lock(&self.pending_join).clone();
        let root = match (config, pending) {
            (None, None) => return Err(CoreError::NotInitialized),
            (None, Some(join)) => {
                let raw = seals
                    .unwrap_any(&join.challenge.wrapped_root_keys())
                    .await
                    .map_err(|e| CoreError::Seal(e.to_string()))?;
                let root = Key32::from_slice(&raw)
                    .map_err(|e| CoreError::Internal(format!("root key: {e}")))?;
                let root = self.finish_join_with_root(&join, root).await?;
                *lock(&self.pending_join) = None;
                root
            }
            (Some(c), _)
                if crate::migration::migration_by_type(&c.seal_type, Some(seals.seal_type()))
                    .is_some() =>
            {
                return Err(CoreError::invalid(format!(
                    "the stored root key is protected by the {} seal but this node is \
                     configured with the {} seal; a seal migration (operator unseal -migrate) \
                     is needed",
                    c.seal_type,
                    seals.seal_type()
                )));
            }
            (Some(c), _) if self.detect_same_type_migration(&c).await? => {
                return Err(CoreError::invalid(format!(
                    "the stored root key is wrapped under another key of the {} seal (the \
                     disabled seal stanza); a seal migration (operator unseal -migrate) is needed",
                    c.seal_type
                )));
            }
            (Some(_), _) => {
                let entry =
                    self.physical.get(ROOT_KEY_PATH).await?.ok_or_else(|| {
                        CoreError::Internal("root key missing from storage".into())
                    })?;
                let copies = WrappedKey::list_from_json(&entry)
                    .map_err(|e| CoreError::Internal(format!("corrupt root key entry: {e}")))?;
                let raw = seals
                    .unwrap_any(&copies)
                    .await
                    .map_err(|e| CoreError::Seal(e.to_string()))?;
                Key32::from_slice(&raw)
                    .map_err(|e| CoreError::Internal(format!("root key: {e}")))?
            }
        };
        self.barrier
            .unseal(&root)
            .await
            .map_err(CoreError::barrier("failed to unseal barrier"))?;
        if let Err(e) = self.after_unseal().await {
            self.barrier.seal();
            return Err(e);
        }
        self.operator_sealed.store(false, Ordering::SeqCst);
        *lock(&self.unseal_progress) = None;
        tracing::info!(seal = seals.seal_type(), "vault is unsealed (auto-unseal)");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
        let mut tiny = Backoff::new(Duration::from_secs(5), Duration::from_secs(2));
        assert_eq!(
            tiny.next_delay(),
            Duration::from_secs(2),
            "initial is capped too"
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let d = Duration::from_secs(10);
        assert_eq!(jittered(d, 0.0), Duration::from_secs(8));
        assert_eq!(jittered(d, 0.5), Duration::from_secs(10));
        assert_eq!(jittered(d, 1.0), Duration::from_secs(12));
        assert_eq!(jittered(d, 7.0), Duration::from_secs(12), "clamped");
        assert_eq!(jittered(d, f64::NAN), Duration::from_secs(10));
        for i in 0..100 {
            let j = jittered(d, f64::from(i) / 100.0);
            assert!(j >= Duration::from_secs(8) && j <= Duration::from_secs(12));
        }
    }

    #[test]
    fn delays_format_for_log_lines() {
        assert_eq!(format_delay(Duration::from_secs(4)), "4s");
        assert_eq!(format_delay(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_delay(Duration::from_millis(250)), "250ms");
    }
}
