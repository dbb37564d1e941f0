//! The app catalog, cached per process for up to 60 seconds (contract 8.2: changes take
//! effect within 60 seconds).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::model::{AppStatus, CatalogApp};
use crate::store::{reader, Store, StoreError};

/// How long a catalog read is reused.
pub const CATALOG_TTL: Duration = Duration::from_secs(60);

/// The cached catalog.
#[derive(Debug)]
pub struct CatalogCache {
    store: Store,
    ttl: Duration,
    cached: RwLock<Option<(Instant, Arc<Vec<CatalogApp>>)>>,
}

impl CatalogCache {
    /// A cache over `store`.
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self { store, ttl, cached: RwLock::new(None) }
    }

    /// Every app, by app code (one Query at most per TTL).
    pub async fn apps(&self) -> Result<Arc<Vec<CatalogApp>>, StoreError> {
        if let Ok(guard) = self.cached.read() {
            if let Some((_, apps)) = guard.as_ref().filter(|(at, _)| at.elapsed() < self.ttl) {
                return Ok(apps.clone());
            }
        }
        let apps = Arc::new(reader::catalog(&self.store).await?);
        if let Ok(mut guard) = self.cached.write() {
            *guard = Some((Instant::now(), apps.clone()));
        }
        Ok(apps)
    }

    /// The app with `app_code`, if the catalog has it.
    pub async fn app(&self, app_code: &str) -> Result<Option<CatalogApp>, StoreError> {
        Ok(self.apps().await?.iter().find(|a| a.app_code == app_code).cloned())
    }

    /// The codes of the active apps, in order.
    pub async fn active_codes(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.apps().await?.iter().filter(|a| a.status == AppStatus::Active).map(|a| a.app_code.clone()).collect())
    }
}
