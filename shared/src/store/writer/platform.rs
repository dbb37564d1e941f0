//! Writes outside the tenant collections: the app catalog, credit configurations,
//! entitlements, tenant profiles with their Kinde org aliases, and the counters repair.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::super::error::sdk;
use super::super::item::{attr, NoDerived, RawItem, Stored};
use super::super::keys::{
    alias_pk, app_sk, credit_config_sk, tenant_pk, Collection, ACTIVE_TENANTS_PK, ALIAS_SK, CATALOG_PK, PROFILE_SK,
    STATS_SK,
};
use super::super::reader::{self, ConfigScope, Counters, COUNTERS_VERSION};
use super::super::StoreError;
use super::{reject_problems, Admission, WriteOutcome, Writer};
use crate::model::{CatalogApp, CreditConfig, Entitlement, KindeOrgAlias, Tenant, Validate};

impl Writer {
    /// Creates or replaces an app of the catalog.
    pub async fn put_catalog_app(&self, app: &CatalogApp) -> Result<WriteOutcome, StoreError> {
        reject_problems(app.problems())?;
        self.retrying(|| self.try_put_plain(CATALOG_PK.to_owned(), app_sk(&app.app_code), app)).await
    }

    /// Creates or replaces a credit configuration: a tenant override when `tenantId` is
    /// set, a global one otherwise.
    pub async fn put_credit_config(&self, config: &CreditConfig) -> Result<WriteOutcome, StoreError> {
        reject_problems(config.problems())?;
        let scope = match &config.tenant_id {
            Some(tenant_id) => ConfigScope::Tenant(tenant_id),
            None => ConfigScope::Global,
        };
        self.retrying(|| self.try_put_plain(scope.partition(), credit_config_sk(&config.operation_code), config)).await
    }

    /// Creates or replaces a tenant's entitlement to an app.
    pub async fn put_entitlement(
        &self,
        tenant_id: &str,
        entitlement: &Entitlement,
    ) -> Result<WriteOutcome, StoreError> {
        reject_problems(entitlement.problems())?;
        self.retrying(|| self.try_put_plain(tenant_pk(tenant_id), app_sk(&entitlement.app_code), entitlement)).await
    }

    async fn try_put_plain<R>(&self, pk: String, sk: String, rec: &R) -> Result<WriteOutcome, StoreError>
    where
        R: Serialize + DeserializeOwned + PartialEq + Clone + Send + Sync + 'static,
    {
        let old: Option<Stored<R, NoDerived>> = reader::get_stored(&self.store, pk.clone(), &sk).await?;
        if self.admit(old.as_ref())? == Admission::Stale {
            return Ok(WriteOutcome::Stale);
        }
        let mut plan = self.plan_for("", &sk);
        if let Some(old) = old.as_ref().filter(|o| o.live() == Some(rec)) {
            plan.keep_source(old);
            self.commit(plan).await?;
            return Ok(WriteOutcome::Unchanged);
        }
        let ver = old.as_ref().map_or(1, |o| o.ver + 1);
        plan.push_plain(Stored::plain(pk, sk, rec.clone(), plan.now, ver), old.as_ref().map(|o| o.ver));
        self.commit(plan).await?;
        Ok(if old.is_some() { WriteOutcome::Updated } else { WriteOutcome::Created })
    }

    /// Creates or updates a tenant and its Kinde org alias in one transaction. Active
    /// tenants also carry the `activeTenants` index key.
    ///
    /// Tenant ids and Kinde org codes share one namespace, because a path value is tried
    /// as a tenant id first and as an org code second (contract 3.6): a tenant whose id is
    /// another tenant's org code, or whose org code is another tenant's id, is rejected, and
    /// the same transaction checks both conditions so two racing writes cannot both pass.
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<WriteOutcome, StoreError> {
        reject_problems(tenant.problems())?;
        self.retrying(|| self.try_put_tenant(tenant)).await
    }

    async fn try_put_tenant(&self, tenant: &Tenant) -> Result<WriteOutcome, StoreError> {
        let (id, org) = (tenant.tenant_id.as_str(), tenant.kinde_org_id.as_str());
        let old = reader::tenant(&self.store, id).await?;
        if self.admit(old.as_ref())? == Admission::Stale {
            return Ok(WriteOutcome::Stale);
        }
        let old_live = old.as_ref().and_then(Stored::live);
        let mut plan = self.plan_for(id, PROFILE_SK);
        if let Some(old) = old.as_ref().filter(|_| old_live == Some(tenant)) {
            plan.keep_source(old);
            self.commit(plan).await?;
            return Ok(WriteOutcome::Unchanged);
        }
        let alias: Option<Stored<KindeOrgAlias, NoDerived>> =
            reader::get_stored(&self.store, alias_pk(org), ALIAS_SK).await?;
        if alias.as_ref().and_then(Stored::live).is_some_and(|owner| owner.tenant_id != id) {
            return Err(StoreError::Rejected(format!("kindeOrgId {org} already belongs to another tenant")));
        }
        if org != id && reader::tenant(&self.store, org).await?.is_some() {
            return Err(StoreError::Rejected(format!("kindeOrgId {org} is the tenantId of another tenant")));
        }
        if org != id && reader::tenant_id_for_org(&self.store, id).await?.is_some_and(|owner| owner != id) {
            return Err(StoreError::Rejected(format!("tenantId {id} is the kindeOrgId of another tenant")));
        }
        let ver = old.as_ref().map_or(1, |o| o.ver + 1);
        let mut profile = Stored::plain(tenant_pk(id), PROFILE_SK.to_owned(), tenant.clone(), plan.now, ver);
        if tenant.active() {
            profile.atpk = Some(ACTIVE_TENANTS_PK.to_owned());
            profile.atsk = Some(id.to_owned());
        }
        plan.push_plain(profile, old.as_ref().map(|o| o.ver));
        if alias.is_none() {
            let rec = KindeOrgAlias { kinde_org_id: org.to_owned(), tenant_id: id.to_owned() };
            plan.push_plain(Stored::plain(alias_pk(org), ALIAS_SK.to_owned(), rec, plan.now, 1), None);
        }
        let mut own_alias_removed = false;
        if let Some(previous) = old_live.filter(|t| t.kinde_org_id != org) {
            let stale: Option<Stored<KindeOrgAlias, NoDerived>> =
                reader::get_stored(&self.store, alias_pk(&previous.kinde_org_id), ALIAS_SK).await?;
            if let Some(stale) = stale.filter(|a| a.live().is_some_and(|a| a.tenant_id == id)) {
                own_alias_removed = previous.kinde_org_id == id;
                plan.push_delete(stale.pk, stale.sk, stale.ver);
            }
        }
        // One transaction may not name an item twice: skip a check on an item it writes.
        let checks = if org == id { Vec::new() } else { self.namespace_checks(id, org, !own_alias_removed)? };
        self.commit_with_checks(plan, checks).await?;
        Ok(if old_live.is_some() { WriteOutcome::Updated } else { WriteOutcome::Created })
    }

    /// Condition checks that keep `id` and `org` unambiguous: no tenant profile under the
    /// org code, and no alias under the tenant id owned by another tenant.
    fn namespace_checks(&self, id: &str, org: &str, check_alias: bool) -> Result<Vec<TransactWriteItem>, StoreError> {
        let no_profile = ConditionCheck::builder()
            .table_name(self.store.table())
            .key(attr::PK, AttributeValue::S(tenant_pk(org)))
            .key(attr::SK, AttributeValue::S(PROFILE_SK.to_owned()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(|e| StoreError::Request(e.to_string()))?;
        let no_foreign_alias = ConditionCheck::builder()
            .table_name(self.store.table())
            .key(attr::PK, AttributeValue::S(alias_pk(id)))
            .key(attr::SK, AttributeValue::S(ALIAS_SK.to_owned()))
            .condition_expression("attribute_not_exists(#pk) OR #rec.#tenant = :id")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#rec", "rec")
            .expression_attribute_names("#tenant", "tenantId")
            .expression_attribute_values(":id", AttributeValue::S(id.to_owned()))
            .build()
            .map_err(|e| StoreError::Request(e.to_string()))?;
        let checks = if check_alias { vec![no_profile, no_foreign_alias] } else { vec![no_profile] };
        Ok(checks.into_iter().map(|check| TransactWriteItem::builder().condition_check(check).build()).collect())
    }

    /// Overwrites the tenant's counters with `counts` if they are still at `read_version`
    /// (the version validation read before it started counting). Returns whether they were
    /// written: `false` means writes moved them meanwhile, so the counts may be stale.
    pub async fn repair_counters(
        &self,
        tenant_id: &str,
        counts: &Counters,
        read_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let next = read_version.map_or(1, |v| v + 1);
        let put = self
            .store
            .client()
            .put_item()
            .table_name(self.store.table())
            .set_item(Some(counters_item(tenant_id, counts, next)))
            .expression_attribute_names("#ver", COUNTERS_VERSION);
        let put = match read_version {
            Some(version) => put
                .condition_expression("#ver = :ver")
                .expression_attribute_values(":ver", AttributeValue::N(version.to_string())),
            None => put.condition_expression("attribute_not_exists(#ver)"),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(error) => Err(sdk(error)),
        }
    }
}

/// The counters item with the given counts and version.
pub fn counters_item(tenant_id: &str, counters: &Counters, version: u64) -> RawItem {
    let mut item = RawItem::new();
    item.insert(attr::PK.to_owned(), AttributeValue::S(tenant_pk(tenant_id)));
    item.insert(attr::SK.to_owned(), AttributeValue::S(STATS_SK.to_owned()));
    item.insert(COUNTERS_VERSION.to_owned(), AttributeValue::N(version.to_string()));
    for collection in Collection::ALL {
        let counts = counters.get(collection);
        let [listed, active, live] = Counters::attribute_names(collection);
        item.insert(listed, AttributeValue::N(counts.listed.to_string()));
        item.insert(active, AttributeValue::N(counts.active.to_string()));
        item.insert(live, AttributeValue::N(counts.live.to_string()));
    }
    item
}
