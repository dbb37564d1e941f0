//! Tenant resolution with a short per-process cache, so an authorized list page needs no
//! tenant read of its own (contract budget: one Query plus the counters).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{reader, Store, StoreError};

/// How long a resolution (found or not) is reused in one process.
pub const RESOLUTION_TTL: Duration = Duration::from_secs(30);

/// A tenant's two names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRef {
    /// `tenant.tenantId`.
    pub tenant_id: String,
    /// `tenant.kindeOrgId`.
    pub kinde_org_id: String,
}

/// Resolves tenant ids and Kinde org codes, caching answers for [`RESOLUTION_TTL`].
#[derive(Debug)]
pub struct TenantDirectory {
    store: Store,
    ttl: Duration,
    by_value: Mutex<HashMap<String, (Instant, Option<TenantRef>)>>,
    by_org: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl TenantDirectory {
    /// A directory over `store` with the default TTL.
    pub fn new(store: Store) -> Self {
        Self::with_ttl(store, RESOLUTION_TTL)
    }

    /// A directory with another TTL (zero disables caching).
    pub fn with_ttl(store: Store, ttl: Duration) -> Self {
        Self { store, ttl, by_value: Mutex::new(HashMap::new()), by_org: Mutex::new(HashMap::new()) }
    }

    /// The store behind the directory.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The tenant named `value`: by `tenantId` first, then by Kinde org code.
    pub async fn resolve(&self, value: &str) -> Result<Option<TenantRef>, StoreError> {
        if let Some(hit) = cached(&self.by_value, value, self.ttl) {
            return Ok(hit);
        }
        let found = match crate::auth::resolve_tenant(&self.store, value).await? {
            Some(stored) => stored
                .live()
                .map(|t| TenantRef { tenant_id: t.tenant_id.clone(), kinde_org_id: t.kinde_org_id.clone() }),
            None => None,
        };
        remember(&self.by_value, value, found.clone());
        Ok(found)
    }

    /// The tenant id whose Kinde org code is `org_code` (the alias only).
    pub async fn tenant_for_org(&self, org_code: &str) -> Result<Option<String>, StoreError> {
        if let Some(hit) = cached(&self.by_org, org_code, self.ttl) {
            return Ok(hit);
        }
        let found = reader::tenant_id_for_org(&self.store, org_code).await?;
        remember(&self.by_org, org_code, found.clone());
        Ok(found)
    }
}

fn cached<T: Clone>(map: &Mutex<HashMap<String, (Instant, T)>>, key: &str, ttl: Duration) -> Option<T> {
    let map = map.lock().ok()?;
    map.get(key).filter(|(at, _)| at.elapsed() < ttl).map(|(_, value)| value.clone())
}

fn remember<T>(map: &Mutex<HashMap<String, (Instant, T)>>, key: &str, value: T) {
    if let Ok(mut map) = map.lock() {
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key.to_owned(), (Instant::now(), value));
    }
}
