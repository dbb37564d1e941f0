//! One sync run's work, in process: the phases in order and the SyncResults they add up to
//! (contract 10.3). The run record, the lease and the Step Functions path build on this.

use serde::{Deserialize, Serialize};

use super::phases::{self, EssentialData, EssentialPhase, ReferenceData, ReferencePhase};
use super::validation::{self, Issue, Validation};
use crate::model::CatalogApp;
use crate::store::keys::Collection;
use crate::store::writer::Writer;
use crate::store::StoreError;
use crate::time::Timestamp;

/// Options a run was started with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOptions {
    /// Skip the reference phase (and the reference checks of validation).
    pub skip_reference_data: bool,
}

/// `phases.validation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationPhase {
    /// `completeness` is 100 and there are no issues.
    pub success: bool,
    /// The checks' result.
    pub validation: Validation,
    /// Present when validation could not be completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Present when the tenant's counters differed from the records validation counted.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "counterDrift")]
    pub counter_drift: Option<super::counters::CounterDrift>,
}

/// The three phases of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Tenant, user profiles, organizations.
    pub essential: EssentialPhase,
    /// The six reference collections, or skipped.
    pub reference: ReferencePhase,
    /// Completeness and integrity.
    pub validation: ValidationPhase,
}

/// SyncResults (10.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResults {
    /// The tenant.
    pub tenant_id: String,
    /// The run (a ULID).
    pub sync_id: String,
    /// When the run started.
    pub started_at: Timestamp,
    /// When it finished.
    pub completed_at: Timestamp,
    /// Milliseconds between the two.
    pub duration: i64,
    /// essential, reference (unless skipped) and validation all succeeded.
    pub success: bool,
    /// The phases.
    pub phases: Phases,
}

impl SyncResults {
    /// The results of a run stopped by an unexpected error before it could finish: every
    /// phase failed, with a generic error.
    pub fn stopped(tenant_id: &str, sync_id: &str, started_at: Timestamp) -> Self {
        let failed = || phases::StepResult {
            success: false,
            count: 0,
            checksum: None,
            watermark: None,
            error: Some("Run stopped by an unexpected error".into()),
        };
        let completed_at = Timestamp::now();
        Self {
            tenant_id: tenant_id.to_owned(),
            sync_id: sync_id.to_owned(),
            started_at,
            completed_at,
            duration: completed_at.millis() - started_at.millis(),
            success: false,
            phases: Phases {
                essential: EssentialPhase {
                    success: false,
                    data: phases::EssentialData { tenant: failed(), user_profiles: failed(), organizations: failed() },
                },
                reference: ReferencePhase { success: false, skipped: false, data: phases::ReferenceData::default() },
                validation: ValidationPhase {
                    success: false,
                    validation: Validation { completeness: 0, issues: Vec::new() },
                    error: Some("Run stopped by an unexpected error".into()),
                    counter_drift: None,
                },
            },
        }
    }
}

/// Records a run's end and, unless it was superseded meanwhile, announces it. Returns the
/// finished record, or `None` for a superseded run (which publishes nothing).
pub async fn complete(
    store: &crate::store::Store,
    events: &super::events::EventPublisher,
    run: &super::record::RunRecord,
    results: SyncResults,
    kinde_org_id: &str,
) -> Result<Option<super::record::RunRecord>, crate::store::StoreError> {
    let finished = super::record::finish(store, run, results.clone()).await?;
    if let Some(finished) = &finished {
        events.publish(finished, kinde_org_id, &results).await;
        super::observe::run_line(&results, finished.status.as_str()).emit();
    }
    Ok(finished)
}

/// Records `results` for `run`, releases its lease and announces it; returns the run's
/// status name, `superseded` when the run was replaced meanwhile (nothing is written then).
pub async fn finish(
    store: &crate::store::Store,
    events: &super::events::EventPublisher,
    run: &super::record::RunRecord,
    results: SyncResults,
) -> Result<&'static str, crate::store::StoreError> {
    let tenant = crate::store::reader::tenant(store, &run.tenant_id).await?.and_then(|t| t.rec);
    let kinde_org_id = tenant.map(|t| t.kinde_org_id).unwrap_or_default();
    Ok(match complete(store, events, run, results, &kinde_org_id).await? {
        Some(finished) => finished.status.as_str(),
        None => "superseded",
    })
}

/// [`finish`] for a run stopped before it could finish its phases (a failed step, an execution
/// that could not start or stopped): recorded as failed, its lease released, announced.
pub async fn finish_stopped(
    store: &crate::store::Store,
    events: &super::events::EventPublisher,
    run: &super::record::RunRecord,
) -> Result<&'static str, crate::store::StoreError> {
    finish(store, events, run, SyncResults::stopped(&run.tenant_id, &run.sync_id, run.started_at)).await
}

/// A new run id.
pub fn new_sync_id() -> String {
    ulid::Ulid::generate().to_string()
}

/// Runs the validation phase; an unexpected failure becomes a `VALIDATION_ERROR` issue.
pub async fn validation_phase(writer: &Writer, tenant_id: &str, options: SyncOptions) -> ValidationPhase {
    validation_phase_of(validation::validate(writer, tenant_id, options.skip_reference_data).await, tenant_id)
}

/// The validation phase of validation's outcome.
fn validation_phase_of(outcome: Result<validation::ValidationOutcome, StoreError>, tenant_id: &str) -> ValidationPhase {
    match outcome {
        Ok(outcome) => ValidationPhase {
            success: outcome.validation.completeness == 100 && outcome.validation.issues.is_empty(),
            validation: outcome.validation,
            error: None,
            counter_drift: outcome.counter_drift,
        },
        Err(error) => {
            tracing::warn!(%error, tenant = tenant_id, "validation failed");
            let issue = Issue {
                code: "VALIDATION_ERROR".into(),
                message: "Validation could not be completed".into(),
                count: 0,
                sample: Vec::new(),
            };
            ValidationPhase {
                success: false,
                validation: Validation { completeness: 0, issues: vec![issue] },
                error: Some("Validation could not be completed".into()),
                counter_drift: None,
            }
        }
    }
}

/// The three phases in one read of the tenant: validation's read of every collection
/// (`validation::gather`) also gives each collection's default-pull tally, so the essential
/// and reference sub-results come from it instead of walking the `byActive` index of each
/// collection again (users twice). Sub-results are those of the separate phases at the
/// moment of the read. The worker uses it too, as one task, for tenants within its one-task
/// limit; its separate phase tasks cannot share the read (their state is limited to 256 KB)
/// and read per phase.
pub async fn phases_in_one_read(
    writer: &Writer,
    catalog: &[CatalogApp],
    tenant_id: &str,
    options: SyncOptions,
) -> (EssentialPhase, ReferencePhase, ValidationPhase) {
    let store = writer.store();
    let configs = async {
        match options.skip_reference_data {
            true => None,
            false => Some(phases::tally_credit_configs(store, tenant_id, catalog).await),
        }
    };
    let (tenant, configs, gathered) =
        tokio::join!(phases::tally_tenant(store, tenant_id), configs, validation::gather(store, tenant_id));
    let tenant = phases::step(tenant, "tenant");
    let mut gathered = match gathered {
        Ok(gathered) => gathered,
        Err(error) => {
            tracing::warn!(%error, tenant = tenant_id, "the sync's read failed");
            let failed = phases::failed_step;
            let essential =
                phases::essential_of(EssentialData { tenant, user_profiles: failed(), organizations: failed() });
            let reference = match options.skip_reference_data {
                true => phases::reference_skipped(),
                false => phases::reference_of(ReferenceData {
                    tenant_users: Some(failed()),
                    roles: Some(failed()),
                    credit_configs: configs.map(|c| phases::step(c, "creditConfigs")),
                    entity_credits: Some(failed()),
                    employee_assignments: Some(failed()),
                    role_assignments: Some(failed()),
                }),
            };
            return (essential, reference, validation_phase_of(Err(error), tenant_id));
        }
    };
    let mut tally = |collection| gathered.default_pull(collection).finish();
    let users = tally(Collection::Users);
    let essential = phases::essential_of(EssentialData {
        tenant,
        user_profiles: users.clone(),
        organizations: tally(Collection::Entities),
    });
    let reference = match configs {
        None => phases::reference_skipped(),
        Some(configs) => phases::reference_of(ReferenceData {
            tenant_users: Some(users),
            roles: Some(tally(Collection::Roles)),
            credit_configs: Some(phases::step(configs, "creditConfigs")),
            entity_credits: Some(tally(Collection::CreditBalances)),
            employee_assignments: Some(tally(Collection::Memberships)),
            role_assignments: Some(tally(Collection::RoleAssignments)),
        }),
    };
    let outcome = validation::conclude(writer, tenant_id, gathered, options.skip_reference_data).await;
    (essential, reference, validation_phase_of(outcome, tenant_id))
}

/// Runs every phase of a run in process, in one read of the tenant, and assembles its
/// results.
pub async fn run_phases(
    writer: &Writer,
    catalog: &[CatalogApp],
    tenant_id: &str,
    sync_id: &str,
    options: SyncOptions,
) -> SyncResults {
    let started_at = Timestamp::now();
    let timer = std::time::Instant::now();
    let (essential, reference, validation) = phases_in_one_read(writer, catalog, tenant_id, options).await;
    super::observe::phase_line("all", tenant_id, timer.elapsed()).emit();
    let success = essential.success && (options.skip_reference_data || reference.success) && validation.success;
    let completed_at = Timestamp::now();
    SyncResults {
        tenant_id: tenant_id.to_owned(),
        sync_id: sync_id.to_owned(),
        started_at,
        completed_at,
        duration: completed_at.millis() - started_at.millis(),
        success,
        phases: Phases { essential, reference, validation },
    }
}
