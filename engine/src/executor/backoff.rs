//! Delays between attempts.

use std::time::Duration;

use crate::workflow::{Backoff, RetryPolicy};

/// The wait before attempt `next_attempt` (2 for the first retry).
pub fn delay(policy: &RetryPolicy, next_attempt: u32) -> Duration {
    policy.delay_before(next_attempt)
}

impl RetryPolicy {
    /// The wait before attempt `next_attempt` (2 for the first retry): the one backoff rule
    /// for a step's attempts and for the model providers' HTTP retries (techpack-steps).
    pub fn delay_before(&self, next_attempt: u32) -> Duration {
        let retry_number = next_attempt.saturating_sub(2);
        let base = match self.backoff {
            Backoff::Fixed => self.initial_delay,
            Backoff::Exponential => self
                .initial_delay
                .saturating_mul(2u32.saturating_pow(retry_number.min(30))),
        }
        .min(self.max_delay);
        if self.jitter {
            // "Equal jitter": half fixed, half random, so retries of many runs spread out.
            let half = base / 2;
            half + Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64))
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_and_caps() {
        let policy = RetryPolicy {
            attempts: 10,
            backoff: Backoff::Exponential,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            jitter: false,
        };
        let delays: Vec<_> = (2..6).map(|a| delay(&policy, a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 350, 350]);
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let policy = RetryPolicy {
            attempts: 3,
            backoff: Backoff::Fixed,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            jitter: true,
        };
        for _ in 0..100 {
            let d = delay(&policy, 2).as_millis();
            assert!((50..=100).contains(&d), "{d}");
        }
    }
}
