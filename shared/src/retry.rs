//! The one retry policy for every network call longshore makes, whoever makes it: our own
//! request loops (the registry client, the daemon push, Google tokens, gcs, Artifactory, Nexus)
//! and the SDK clients that accept a policy (the AWS SDK, google-cloud-storage, the Azure
//! pipeline) are all configured from [`policy()`].
//!
//! What it decides: how many attempts (5), how long one request may keep retrying in all
//! (`PLUGIN_RETRY_MAX_TIME`, default 30 s: a dead endpoint ends a CI step in seconds, not
//! minutes), the wait between attempts (exponential from 250 ms, capped at 8 s, with jitter so
//! parallel uploads to one overloaded server do not retry in step; a server's `Retry-After`
//! honoured within the same cap), and which failures are worth another attempt (408, 429, 5xx
//! but 501 / 505, connection failures, resets, timeouts, answers cut short). A refused answer
//! is described on one line by [`refused`].
//!
//! The loops keep their own shape (a registry's auth challenge, a resumable session's resume)
//! and ask an [`Attempts`] whether, and after how long, to try again.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::settings::{Env, SettingsError};

/// The setting that changes the total time one request may keep retrying.
pub const MAX_TIME_VAR: &str = "PLUGIN_RETRY_MAX_TIME";

/// How far a failed request is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub attempts: u32,
    /// The wait after the first failure; each next one up to twice as long.
    pub base: Duration,
    /// No wait is longer, a server's `Retry-After` included.
    pub cap: Duration,
    /// No attempt starts this long after the first one started.
    pub max_time: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
            max_time: Duration::from_secs(30),
        }
    }
}

static POLICY: OnceLock<RetryPolicy> = OnceLock::new();

/// The policy of this run: the default, or what [`configure`] read from the settings.
pub fn policy() -> RetryPolicy {
    POLICY.get().copied().unwrap_or_default()
}

/// Reads `PLUGIN_RETRY_MAX_TIME` (seconds, or a number with `s` / `m`) once, at the entry point,
/// before any work. A value that is not a duration of 1 s to 1 h is an error naming the setting.
pub fn configure(env: &Env) -> Result<(), SettingsError> {
    let Some(raw) = env.string(&[MAX_TIME_VAR]) else {
        return Ok(());
    };
    let max_time = parse_duration(&raw)
        .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(d))
        .ok_or_else(|| {
            SettingsError::invalid(
                MAX_TIME_VAR,
                format!(
                    "'{}' is not a duration between 1s and 1h (e.g. 30, 45s, 2m)",
                    crate::files::excerpt(&raw, 40)
                ),
            )
        })?;
    // A second call (tests running several plugins' entry points in one process) keeps the first.
    let _ = POLICY.set(RetryPolicy {
        max_time,
        ..RetryPolicy::default()
    });
    Ok(())
}

/// `30`, `30s`, `2m`.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (number, unit) = match raw.strip_suffix('m') {
        Some(n) => (n, 60),
        None => (raw.strip_suffix('s').unwrap_or(raw), 1),
    };
    number
        .trim()
        .parse::<u64>()
        .ok()
        .map(|n| Duration::from_secs(n.saturating_mul(unit)))
}

impl RetryPolicy {
    /// The same policy with at most `attempts` attempts (a caller whose every attempt is
    /// expensive, such as a daemon push that retries each layer itself, asks for fewer).
    pub fn with_attempts(self, attempts: u32) -> Self {
        RetryPolicy {
            attempts: attempts.max(1),
            ..self
        }
    }

    /// The wait after failed attempt number `failed` (1 for the first): the server's
    /// `Retry-After` when it gave one, else exponential with jitter on the upper half; both
    /// capped.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.cap);
        }
        let ceiling = self
            .base
            .saturating_mul(1 << failed.saturating_sub(1).min(16))
            .min(self.cap);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(rand::random_range(ms / 2..=ms))
    }

    /// A counter for one request's attempts, started now.
    pub fn start(&self) -> Attempts {
        Attempts {
            policy: *self,
            started: Instant::now(),
            failed: 0,
        }
    }
}

/// The attempts of one request so far.
#[derive(Debug)]
pub struct Attempts {
    policy: RetryPolicy,
    started: Instant,
    failed: u32,
}

impl Attempts {
    /// After a transient failure: how long to wait before the next attempt, or `None` when the
    /// attempts or the time are used up (the wait counts: an attempt that would start after
    /// the time cap is not made). The first failure always gets its second attempt, whatever
    /// the time: one request that hung until its read timeout (longer than the cap) is the
    /// failure most worth trying once more.
    pub fn next_wait(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        self.failed += 1;
        if self.failed >= self.policy.attempts {
            return None;
        }
        let wait = self.policy.delay(self.failed, retry_after);
        let in_time = self.started.elapsed() + wait < self.policy.max_time;
        (self.failed == 1 || in_time).then_some(wait)
    }

    /// After a transient failure described by `why`: logs `what: why; retrying in …` and waits,
    /// then returns true; returns false (nothing logged) when no attempt is left.
    pub async fn pause(&mut self, what: &str, why: &str, retry_after: Option<Duration>) -> bool {
        let Some(wait) = self.next_wait(retry_after) else {
            return false;
        };
        tracing::warn!(
            "{what}: {why}; retrying in {:.1}s ({}/{})",
            wait.as_secs_f64(),
            self.failed,
            self.policy.attempts - 1
        );
        tokio::time::sleep(wait).await;
        true
    }

    /// The attempts made so far that failed.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// `why`, with how many attempts it took when there was more than one.
    pub fn exhausted(&self, why: &str) -> String {
        if self.failed > 1 {
            format!("{why} (after {} attempts)", self.failed)
        } else {
            why.to_string()
        }
    }
}

/// True for a status that may be gone on the next attempt: 408, 429 and the 5xx answers of an
/// overloaded or restarting server (not 501 Not Implemented or 505, which never change).
pub fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502..=504 | 506..=599)
}

/// One line for an answer we refuse: its status and [`server_message`] of its body.
pub fn refused(status: u16, body: &str) -> String {
    let body = server_message(body);
    if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    }
}

/// A server's message for an error line: whitespace folded, control characters removed, at
/// most 300 characters (the body comes from the server, and can be anything).
pub fn server_message(body: &str) -> String {
    crate::files::excerpt(&body.split_whitespace().collect::<Vec<_>>().join(" "), 300)
}

/// `Retry-After` in seconds or as an HTTP date.
#[cfg(any(
    feature = "docker",
    feature = "gcp-auth",
    feature = "nexus",
    feature = "artifactory"
))]
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// True for a transport failure worth another attempt: no connection, a timeout, a reset
/// before the answer, an answer cut short. Our requests are idempotent or carry their own
/// check (a digest, a checksum), so resending is safe.
#[cfg(any(
    feature = "docker",
    feature = "gcp-auth",
    feature = "nexus",
    feature = "artifactory"
))]
pub fn transient_transport(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

/// A transport failure on one line: what kind, then its causes (reqwest's own text is only
/// "error sending request"). The URL is left out: the caller names what was asked.
#[cfg(any(
    feature = "docker",
    feature = "gcp-auth",
    feature = "nexus",
    feature = "artifactory"
))]
pub fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    let mut text = kind.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text.replace(['\n', '\r'], " ")
}

/// The policy as the AWS SDK's retry configuration (standard mode: the same attempts and
/// backoff; the SDK has no total-time cap that does not also cut a slow transfer short).
#[cfg(feature = "aws")]
pub fn aws_retry_config(p: &RetryPolicy) -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(p.attempts)
        .with_initial_backoff(p.base)
        .with_max_backoff(p.cap)
}

/// The policy as the Azure pipeline's retry options (the same attempts, waits and total time).
#[cfg(feature = "acr")]
pub fn azure_retry_options(p: &RetryPolicy) -> azure_core::http::RetryOptions {
    let ms = |d: Duration| azure_core::time::Duration::milliseconds(d.as_millis() as i64);
    azure_core::http::RetryOptions::exponential(azure_core::http::ExponentialRetryOptions {
        initial_delay: ms(p.base),
        max_retries: p.attempts.saturating_sub(1),
        max_total_elapsed: ms(p.max_time),
        max_delay: ms(p.cap),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_are_jittered_and_capped() {
        let p = RetryPolicy::default();
        for failed in 1..30 {
            let d = p.delay(failed, None);
            let ceiling = p.base.saturating_mul(1 << (failed - 1).min(16)).min(p.cap);
            assert!(d <= ceiling && d >= ceiling / 2, "{failed}: {d:?}");
        }
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), p.cap);
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn attempts_stop_at_the_cap_or_the_time() {
        let mut a = RetryPolicy::default().start();
        let waits: Vec<_> = std::iter::from_fn(|| a.next_wait(None)).collect();
        assert_eq!(waits.len(), 4, "five attempts: four waits");
        let mut a = RetryPolicy {
            max_time: Duration::from_secs(1),
            ..RetryPolicy::default()
        }
        .start();
        // The first failure is tried again whatever the time; the next one is past the cap.
        assert_eq!(
            a.next_wait(Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        assert!(a.next_wait(Some(Duration::from_secs(5))).is_none());
        let mut one = RetryPolicy::default().with_attempts(1).start();
        assert!(one.next_wait(None).is_none());
    }

    #[test]
    fn transient_statuses_and_refusals() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(transient_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 409, 501, 505] {
            assert!(!transient_status(s), "{s}");
        }
        assert_eq!(refused(503, "  busy\n now "), "HTTP 503: busy now");
        assert_eq!(refused(404, ""), "HTTP 404");
        let long = refused(400, &"x".repeat(10_000));
        assert!(long.chars().count() < 320, "{}", long.len());
    }

    #[test]
    fn durations_parse_in_seconds_or_minutes() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("45s"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration(" 2m "), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-1"), None);
    }
}
