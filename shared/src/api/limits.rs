//! Per-caller and per-tenant request limits (OWASP API4: unrestricted resource consumption).
//!
//! Each function instance keeps a token bucket per caller (the token's principal: a service
//! name or a Kinde subject) and per tenant; a request over either answers 429 with
//! `Retry-After`. The buckets live in the instance, so the limit a caller meets across the
//! deployment is the configured rate times the number of instances serving it: the
//! functions' reserved concurrency bounds that (`docs/security.md`), and API Gateway's
//! stage throttling stays the global ceiling. A shared counter in DynamoDB would make the
//! limit exact at the price of a write per request; the reasons for not paying it are in
//! `docs/security.md`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ConfigError;

/// Default of `RATE_LIMIT_CALLER_PER_SECOND`.
pub const DEFAULT_CALLER_RATE: f64 = 50.0;
/// Default of `RATE_LIMIT_TENANT_PER_SECOND`.
pub const DEFAULT_TENANT_RATE: f64 = 100.0;
/// Buckets kept per limiter before idle ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// One limit: a steady rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Requests per second refilled.
    pub per_second: f64,
    /// Requests allowed back to back.
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by key.
#[derive(Debug)]
struct Buckets {
    limit: Option<Limit>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    fn new(limit: Option<Limit>) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a request for `key`; `Err(wait)` when it is over the limit.
    fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let idle = Duration::from_secs_f64(limit.burst / limit.per_second);
            buckets.retain(|_, b| now.duration_since(b.updated) < idle);
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: limit.burst, updated: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * limit.per_second;
        bucket.tokens = (bucket.tokens + refill).min(limit.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / limit.per_second))
        }
    }
}

/// The two limiters of a process.
#[derive(Debug)]
pub struct RateLimits {
    callers: Buckets,
    tenants: Buckets,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(Some(limit(DEFAULT_CALLER_RATE)), Some(limit(DEFAULT_TENANT_RATE)))
    }
}

fn limit(per_second: f64) -> Limit {
    Limit { per_second, burst: per_second * 2.0 }
}

impl RateLimits {
    /// Limits per caller and per tenant (`None`: unlimited).
    pub fn new(caller: Option<Limit>, tenant: Option<Limit>) -> Self {
        Self { callers: Buckets::new(caller), tenants: Buckets::new(tenant) }
    }

    /// No limits (tests that send many requests, benchmarks).
    pub fn unlimited() -> Self {
        Self::new(None, None)
    }

    /// `RATE_LIMIT_CALLER_PER_SECOND` and `RATE_LIMIT_TENANT_PER_SECOND` (requests per
    /// second, bursts of twice that; 0 turns a limit off).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str, default: f64| -> Result<Option<Limit>, ConfigError> {
            let rate = match lookup(name) {
                None => default,
                Some(text) => text.trim().parse::<f64>().ok().filter(|r| r.is_finite() && *r >= 0.0).ok_or(
                    ConfigError::Invalid {
                        name,
                        reason: "must be a number of requests per second (0: no limit)".into(),
                    },
                )?,
            };
            Ok((rate > 0.0).then(|| limit(rate)))
        };
        Ok(Self::new(
            read("RATE_LIMIT_CALLER_PER_SECOND", DEFAULT_CALLER_RATE)?,
            read("RATE_LIMIT_TENANT_PER_SECOND", DEFAULT_TENANT_RATE)?,
        ))
    }

    /// A request of `caller`; `Err(wait)` when the caller is over its limit.
    pub fn caller(&self, caller: &str) -> Result<(), Duration> {
        self.callers.take(caller, Instant::now())
    }

    /// A request for `tenant_id`; `Err(wait)` when the tenant is over its limit.
    pub fn tenant(&self, tenant_id: &str) -> Result<(), Duration> {
        self.tenants.take(tenant_id, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let buckets = Buckets::new(Some(Limit { per_second: 10.0, burst: 3.0 }));
        let start = Instant::now();
        assert!((0..3).all(|_| buckets.take("crm", start).is_ok()));
        let wait = buckets.take("crm", start).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(buckets.take("hr", start).is_ok(), "callers have their own buckets");
        assert!(buckets.take("crm", start + Duration::from_millis(110)).is_ok());
    }

    #[test]
    fn settings_turn_limits_off_or_refuse_nonsense() {
        let off = RateLimits::from_lookup(|_| Some("0".into())).unwrap();
        assert!((0..1_000).all(|_| off.caller("crm").is_ok()));
        assert!(RateLimits::from_lookup(|_| Some("fast".into())).is_err());
        assert!(RateLimits::from_lookup(|_| Some("-1".into())).is_err());
    }
}
