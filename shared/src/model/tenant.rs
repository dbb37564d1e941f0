//! The tenant profile and its Kinde organization alias.

use serde::{Deserialize, Serialize};

use super::validate::{Checker, Problem, Validate};
use super::JsonObject;
use crate::time::Timestamp;

/// A tenant of the platform: one customer company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// The tenant's id (a UUID today; opaque to consumers).
    pub tenant_id: String,
    /// The company name, reported as `tenantName`.
    pub company_name: String,
    /// The Kinde organization code; tokens name their tenant by it (`org_code`).
    pub kinde_org_id: String,
    /// `false` for a deactivated tenant; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Free-form tenant settings, returned as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<JsonObject>,
    /// The tenant's current subscription, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    /// End of the trial period, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_ends_at: Option<Timestamp>,
    /// When the tenant was created.
    pub created_at: Timestamp,
}

impl Tenant {
    /// Whether the tenant is active (absent counts as active, R5).
    pub fn active(&self) -> bool {
        self.is_active != Some(false)
    }
}

/// The tenant's current subscription (section 9.2's `subscription` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subscription {
    /// Plan name, for example `professional`.
    #[serde(default)]
    pub plan: Option<String>,
    /// Billing status, for example `active` or `past_due`.
    #[serde(default)]
    pub status: Option<String>,
    /// `monthly` or `yearly`.
    #[serde(default)]
    pub billing_cycle: Option<String>,
    /// Start of the current billing period.
    #[serde(default)]
    pub current_period_start: Option<Timestamp>,
    /// End of the current billing period.
    #[serde(default)]
    pub current_period_end: Option<Timestamp>,
}

/// The item that maps a Kinde org code to its tenant, so a token's `org_code` resolves with
/// one `GetItem`. Written in the same transaction as the tenant, which also makes org codes
/// unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindeOrgAlias {
    /// The Kinde organization code.
    pub kinde_org_id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
}

impl Validate for Tenant {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("tenantId", &self.tenant_id);
        check.id("kindeOrgId", &self.kinde_org_id);
        check.name("companyName", &self.company_name);
        check.finish()
    }
}
