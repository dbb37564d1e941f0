//! The Kinde key set, cached in the warm process (contract section 3.3, step 2, as changed
//! in `docs/api.md`).
//!
//! Once keys are cached, verifying a token makes no network call and takes no lock. The set
//! is refreshed in the background when it is older than an hour, while requests keep using
//! the cached one. A token naming a `kid` the set does not have causes a refetch, paid from
//! a small budget (a burst of three, then one per ten seconds) and shared by every request
//! waiting at that moment: a genuine key rotation gets through within seconds, while a
//! stream of made-up `kid`s costs a few fetches a minute. A response larger than 64 KiB is
//! refused. When refreshes fail, the previous set stays in use for up to a day; with no
//! usable set at all, requests get 503: the caller's token is not at fault.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::Mutex;

/// How long a fetched set is used before it is refreshed (in the background).
pub const KEY_SET_TTL: Duration = Duration::from_secs(3600);
/// Refetches for unknown `kid`s that may happen back to back.
pub const REFETCH_BURST: u32 = 3;
/// After the burst, one more refetch for unknown `kid`s per this interval.
pub const REFETCH_EVERY: Duration = Duration::from_secs(10);
/// Minimum time between fetch attempts while no set is cached, or after a failed refresh.
pub const EMPTY_RETRY: Duration = Duration::from_secs(5);
/// How long a set keeps being used when refreshes fail.
pub const STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Timeout of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest key set document accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The cache's timing rules; production uses [`JwksTiming::default`], tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksTiming {
    /// How long a fetched set is used before it is refreshed.
    pub ttl: Duration,
    /// Refetches for unknown `kid`s that may happen back to back.
    pub refetch_burst: u32,
    /// One more refetch per this interval once the burst is spent.
    pub refetch_every: Duration,
    /// Minimum time between fetch attempts while no set is cached or after a failure.
    pub empty_retry: Duration,
    /// How long a set keeps being used when refreshes fail.
    pub stale_limit: Duration,
}

impl Default for JwksTiming {
    fn default() -> Self {
        Self {
            ttl: KEY_SET_TTL,
            refetch_burst: REFETCH_BURST,
            refetch_every: REFETCH_EVERY,
            empty_retry: EMPTY_RETRY,
            stale_limit: STALE_LIMIT,
        }
    }
}

/// Why no key can be used for a `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookupError {
    /// The set (even after a refetch) has no such key: the token is at fault (401).
    UnknownKid,
    /// No key set can be obtained: we are at fault (503).
    Unavailable,
}

struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

/// The refetch budget for unknown `kid`s: a token bucket.
#[derive(Debug)]
struct Budget {
    tokens: f64,
    updated: Instant,
}

impl Budget {
    fn full(timing: &JwksTiming) -> Self {
        Self { tokens: f64::from(timing.refetch_burst), updated: Instant::now() }
    }

    /// Takes one refetch from the budget if there is one.
    fn take(&mut self, timing: &JwksTiming) -> bool {
        let refill = self.updated.elapsed().as_secs_f64() / timing.refetch_every.as_secs_f64().max(1e-9);
        self.tokens = (self.tokens + refill).min(f64::from(timing.refetch_burst));
        self.updated = Instant::now();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct FetchState {
    last_attempt: Option<Instant>,
    budget: Budget,
}

/// The cached key set of one issuer. Share it in an [`Arc`]: background refreshes hold one.
pub struct JwksCache {
    url: String,
    timing: JwksTiming,
    client: OnceLock<reqwest::Client>,
    keys: RwLock<Option<Arc<KeySet>>>,
    fetch: Mutex<FetchState>,
    /// Bumped by every successful fetch, so a request that waited for a fetch sees it.
    generation: AtomicU64,
    refreshing: AtomicBool,
    fetches: AtomicU64,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").field("url", &self.url).finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache for the key set at `url`. Nothing is fetched until the first token arrives.
    pub fn new(url: String) -> Self {
        Self::with_timing(url, JwksTiming::default())
    }

    /// A cache with other timing rules (tests).
    pub fn with_timing(url: String, timing: JwksTiming) -> Self {
        Self {
            url,
            timing,
            client: OnceLock::new(),
            keys: RwLock::new(None),
            fetch: Mutex::new(FetchState { last_attempt: None, budget: Budget::full(&timing) }),
            generation: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
        }
    }

    /// Fetches attempted so far by this cache.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The HTTP client, built on the first fetch, so a cold start does not pay for it
    /// before any Kinde token arrives.
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder().timeout(FETCH_TIMEOUT).connect_timeout(FETCH_TIMEOUT).build().unwrap_or_default()
        })
    }

    /// The verification key for `kid`.
    pub async fn key(self: &Arc<Self>, kid: &str) -> Result<DecodingKey, KeyLookupError> {
        match self.usable() {
            None => self.fetch_when_empty().await,
            Some(set) if set.fetched_at.elapsed() >= self.timing.ttl => self.refresh_in_background(),
            Some(_) => {}
        }
        match self.lookup(kid) {
            Err(KeyLookupError::UnknownKid) => self.refetch_for_unknown_kid(kid).await,
            other => other,
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().map(|guard| guard.clone()).unwrap_or(None)
    }

    /// The cached set, unless it is older than the stale limit.
    fn usable(&self) -> Option<Arc<KeySet>> {
        self.current().filter(|set| set.fetched_at.elapsed() < self.timing.stale_limit)
    }

    fn lookup(&self, kid: &str) -> Result<DecodingKey, KeyLookupError> {
        let set = self.usable().ok_or(KeyLookupError::Unavailable)?;
        set.keys.get(kid).cloned().ok_or(KeyLookupError::UnknownKid)
    }

    /// With nothing usable cached: one fetch shared by the requests waiting, at most one
    /// attempt per `empty_retry`.
    async fn fetch_when_empty(&self) {
        let mut state = self.fetch.lock().await;
        if self.usable().is_some() || state.last_attempt.is_some_and(|at| at.elapsed() < self.timing.empty_retry) {
            return;
        }
        self.fetch_into(&mut state).await;
    }

    /// A refetch for an unknown `kid`, paid from the budget; requests that waited while
    /// another one fetched use that fetch.
    async fn refetch_for_unknown_kid(&self, kid: &str) -> Result<DecodingKey, KeyLookupError> {
        let seen = self.generation.load(Ordering::Acquire);
        let mut state = self.fetch.lock().await;
        if self.generation.load(Ordering::Acquire) == seen && state.budget.take(&self.timing) {
            self.fetch_into(&mut state).await;
        }
        drop(state);
        self.lookup(kid)
    }

    /// Starts one background refresh, unless one runs or failed within `empty_retry`.
    fn refresh_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            let mut state = cache.fetch.lock().await;
            let recent = state.last_attempt.is_some_and(|at| at.elapsed() < cache.timing.empty_retry);
            let stale = cache.current().is_none_or(|set| set.fetched_at.elapsed() >= cache.timing.ttl);
            if stale && !recent {
                cache.fetch_into(&mut state).await;
            }
            drop(state);
            cache.refreshing.store(false, Ordering::Release);
        });
    }

    async fn fetch_into(&self, state: &mut FetchState) {
        state.last_attempt = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = self.fetch_set().await;
        crate::metrics::MetricLine::new()
            .dimension("Outcome", if fetched.is_ok() { "fetched" } else { "failed" })
            .metric("JwksFetches", crate::metrics::Unit::Count, 1.0)
            .emit();
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the Kinde key set");
                if let Ok(mut guard) = self.keys.write() {
                    *guard = Some(Arc::new(KeySet { keys, fetched_at: Instant::now() }));
                }
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            Err(reason) => {
                tracing::warn!(%reason, cached = self.current().is_some(), "could not fetch the Kinde key set")
            }
        }
    }

    async fn fetch_set(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let mut response = self.client().get(&self.url).send().await.map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(format!("body over {MAX_BODY_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("body unreadable: {e}"))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("body over {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let document: JwkSetDocument = serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        Ok(usable_keys(document))
    }
}

/// A JWK set whose entries are parsed one by one, so one entry of an unknown kind does not
/// make the whole set unusable.
#[derive(Deserialize)]
struct JwkSetDocument {
    keys: Vec<serde_json::Value>,
}

/// RSA signing keys with a `kid`; entries with another `use` or `alg`, or that do not parse,
/// are ignored.
fn usable_keys(document: JwkSetDocument) -> HashMap<String, DecodingKey> {
    document
        .keys
        .into_iter()
        .filter_map(|entry| serde_json::from_value::<Jwk>(entry).ok())
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| jwk.common.public_key_use.as_ref().is_none_or(|u| *u == PublicKeyUse::Signature))
        .filter(|jwk| jwk.common.key_algorithm.is_none_or(|a| a == KeyAlgorithm::RS256))
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(&jwk).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_signing_keys_for_rs256_are_used() {
        let document: JwkSetDocument = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "good", "use": "sig", "alg": "RS256", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "bare", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "n": "sXch", "e": "AQAB" },
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "a", "y": "b" },
            { "kty": "weird", "kid": "w" },
            { "kty": "RSA", "n": "sXch", "e": "AQAB" }
        ]}))
        .unwrap();
        let mut kids: Vec<String> = usable_keys(document).into_keys().collect();
        kids.sort();
        assert_eq!(kids, vec!["bare", "good"]);
    }

    #[test]
    fn the_budget_allows_a_burst_then_one_per_interval() {
        let timing = JwksTiming { refetch_burst: 3, refetch_every: Duration::from_millis(50), ..Default::default() };
        let mut budget = Budget::full(&timing);
        assert!((0..3).all(|_| budget.take(&timing)));
        assert!(!budget.take(&timing));
        std::thread::sleep(Duration::from_millis(60));
        assert!(budget.take(&timing));
        assert!(!budget.take(&timing));
    }
}
