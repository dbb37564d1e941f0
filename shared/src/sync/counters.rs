//! Counter repair by sync validation, safe against concurrent writes.
//!
//! Validation streams a tenant for as long as it takes and counts what it sees. Those counts
//! are a consistent picture only if no write changed what any item counts for meanwhile, so
//! the counters' version is read before streaming, and the counters are rewritten only if
//! the version is still the same at the end (a conditional put). Otherwise the difference
//! is reported in the run (`phases.validation.counterDrift`), not written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::keys::Collection;
use crate::store::reader::{self, CollectionCounts, Counters};
use crate::store::writer::Writer;
use crate::store::StoreError;

/// A collection's counts as the run reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountsView {
    /// Listed records (what `includeInactive=true` pulls).
    pub listed: i64,
    /// Active listed records (what a default pull returns).
    pub active: i64,
    /// Live records, listed or not.
    pub live: i64,
}

impl From<CollectionCounts> for CountsView {
    fn from(counts: CollectionCounts) -> Self {
        Self { listed: counts.listed, active: counts.active, live: counts.live }
    }
}

/// One collection whose counters differ from what validation counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftEntry {
    /// What the counters said.
    pub stored: CountsView,
    /// What validation counted.
    pub counted: CountsView,
}

/// `phases.validation.counterDrift`: present when the counters differed from the counted
/// records. Not a validation issue: it does not fail the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterDrift {
    /// The counters were rewritten with the counted values. `false` when writes moved them
    /// while validation read (the counts may then be out of date, so nothing was written).
    pub repaired: bool,
    /// The collections that differ, by counter name.
    pub collections: BTreeMap<String, DriftEntry>,
}

/// Compares `counted` (taken while the counters were at `read_version`) with the counters
/// now, and repairs them if nothing moved them meanwhile. `None` when they agree.
pub async fn reconcile(
    writer: &Writer,
    tenant_id: &str,
    counted: &Counters,
    read_version: Option<u64>,
) -> Result<Option<CounterDrift>, StoreError> {
    let (stored, version) = reader::counters_with_version(writer.store(), tenant_id).await?;
    let collections: BTreeMap<String, DriftEntry> = Collection::ALL
        .into_iter()
        .filter(|c| stored.get(*c) != counted.get(*c))
        .map(|c| (c.name().to_owned(), DriftEntry { stored: stored.get(c).into(), counted: counted.get(c).into() }))
        .collect();
    if collections.is_empty() {
        return Ok(None);
    }
    let repaired = version == read_version && writer.repair_counters(tenant_id, counted, read_version).await?;
    if repaired {
        tracing::warn!(tenant = tenant_id, "counters were out of step with the data; repaired");
    } else {
        tracing::info!(tenant = tenant_id, "counters differ from a count taken while the data changed; not repaired");
    }
    Ok(Some(CounterDrift { repaired, collections }))
}
