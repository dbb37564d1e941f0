//! The Kinde key set, cached in the warm process (contract section 3.3, step 2).
//!
//! Once keys are cached, verifying a token makes no network call. The set is refetched when
//! it is older than an hour, or once when a token names a `kid` the set does not have; such
//! refetches happen at most once per cooldown per process, so a stream of tokens with
//! made-up `kid`s cannot make us fetch per request. A fetch runs under a lock, so concurrent
//! requests share one. When a refresh fails, the previous set stays in use for up to a day;
//! with no usable set at all, requests get 503: the caller's token is not at fault.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::Mutex;

/// How long a fetched set is used before it is refreshed.
pub const KEY_SET_TTL: Duration = Duration::from_secs(3600);
/// Minimum time between fetches caused by unknown `kid`s or expiry.
pub const REFETCH_COOLDOWN: Duration = Duration::from_secs(60);
/// Minimum time between fetch attempts while no set is cached.
pub const EMPTY_RETRY: Duration = Duration::from_secs(5);
/// How long a set keeps being used when refreshes fail.
pub const STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Timeout of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The cache's timing rules; production uses [`JwksTiming::default`] (the contract's
/// values), tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksTiming {
    /// How long a fetched set is used before it is refreshed.
    pub ttl: Duration,
    /// Minimum time between fetches while a set is cached.
    pub cooldown: Duration,
    /// Minimum time between fetch attempts while no set is cached.
    pub empty_retry: Duration,
    /// How long a set keeps being used when refreshes fail.
    pub stale_limit: Duration,
}

impl Default for JwksTiming {
    fn default() -> Self {
        Self { ttl: KEY_SET_TTL, cooldown: REFETCH_COOLDOWN, empty_retry: EMPTY_RETRY, stale_limit: STALE_LIMIT }
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

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
}

/// The cached key set of one issuer.
pub struct JwksCache {
    url: String,
    timing: JwksTiming,
    client: OnceLock<reqwest::Client>,
    keys: RwLock<Option<Arc<KeySet>>>,
    fetch: Mutex<FetchState>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").field("url", &self.url).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct JwkSetDocument {
    keys: Vec<JwkEntry>,
}

#[derive(Deserialize)]
struct JwkEntry {
    kty: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl JwksCache {
    /// A cache for the key set at `url`. Nothing is fetched until the first token arrives.
    pub fn new(url: String) -> Self {
        Self::with_timing(url, JwksTiming::default())
    }

    /// A cache with other timing rules (tests).
    pub fn with_timing(url: String, timing: JwksTiming) -> Self {
        Self { url, timing, client: OnceLock::new(), keys: RwLock::new(None), fetch: Mutex::new(FetchState::default()) }
    }

    /// The HTTP client, built on the first fetch: building it loads the machine's certificate
    /// store, which a cold start should not pay for before any Kinde token arrives.
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder().timeout(FETCH_TIMEOUT).connect_timeout(FETCH_TIMEOUT).build().unwrap_or_default()
        })
    }

    /// The verification key for `kid`.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, KeyLookupError> {
        if self.current().is_none_or(|set| set.fetched_at.elapsed() >= self.timing.ttl) {
            self.refresh(false).await;
        }
        match self.lookup(kid) {
            Ok(key) => Ok(key),
            Err(KeyLookupError::UnknownKid) => {
                self.refresh(true).await;
                self.lookup(kid)
            }
            Err(KeyLookupError::Unavailable) => Err(KeyLookupError::Unavailable),
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().map(|guard| guard.clone()).unwrap_or(None)
    }

    fn lookup(&self, kid: &str) -> Result<DecodingKey, KeyLookupError> {
        let set = self
            .current()
            .filter(|set| set.fetched_at.elapsed() < self.timing.stale_limit)
            .ok_or(KeyLookupError::Unavailable)?;
        set.keys.get(kid).cloned().ok_or(KeyLookupError::UnknownKid)
    }

    /// Fetches the set unless another fetch happened within the cooldown. `for_unknown_kid`
    /// marks a refetch caused by a token rather than by expiry.
    async fn refresh(&self, for_unknown_kid: bool) {
        let mut state = self.fetch.lock().await;
        let have_keys = self.current().is_some();
        let wait = if have_keys { self.timing.cooldown } else { self.timing.empty_retry };
        if state.last_attempt.is_some_and(|at| at.elapsed() < wait) {
            return;
        }
        let stale = self.current().is_none_or(|set| set.fetched_at.elapsed() >= self.timing.ttl);
        if !for_unknown_kid && !stale {
            return;
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch_set().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the Kinde key set");
                if let Ok(mut guard) = self.keys.write() {
                    *guard = Some(Arc::new(KeySet { keys, fetched_at: Instant::now() }));
                }
            }
            Err(reason) => tracing::warn!(%reason, cached = have_keys, "could not fetch the Kinde key set"),
        }
    }

    async fn fetch_set(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let response = self.client().get(&self.url).send().await.map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| format!("body unreadable: {e}"))?;
        let document: JwkSetDocument = serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        Ok(usable_keys(document))
    }
}

/// RSA signing keys with a `kid`; entries with another `use` or `alg` are ignored.
fn usable_keys(document: JwkSetDocument) -> HashMap<String, DecodingKey> {
    document
        .keys
        .into_iter()
        .filter(|k| k.kty.as_deref() == Some("RSA"))
        .filter(|k| k.usage.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == "RS256"))
        .filter_map(|k| {
            let key = DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
            Some((k.kid?, key))
        })
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
            { "kty": "RSA", "n": "sXch", "e": "AQAB" }
        ]}))
        .unwrap();
        let mut kids: Vec<String> = usable_keys(document).into_keys().collect();
        kids.sort();
        assert_eq!(kids, vec!["bare", "good"]);
    }
}
