//! Credit balances, their per-app totals, and credit cost configurations.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::validate::{Checker, Problem, Validate};
use crate::time::Timestamp;

/// The credit balance of one entity (at most one per entity), with the per-app allocation
/// and usage totals the `entity-credits` route reports.
///
/// Amounts are exact decimals. They are stored as decimal strings so no float ever touches
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditBalance {
    /// The entity this balance belongs to; also the balance's id.
    pub entity_id: String,
    /// Credits available to the entity, shared by all apps.
    pub available_credits: Decimal,
    /// `false` for a frozen balance; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Net allocations and usage per app code, kept by the platform's credit service (or by
    /// [`crate::store::writer::Writer::post_credit_activity`]).
    #[serde(default)]
    pub app_totals: BTreeMap<String, AppCreditTotals>,
}

impl CreditBalance {
    /// R1: active unless `isActive` is `false`.
    pub fn active(&self) -> bool {
        self.is_active != Some(false)
    }
}

/// One app's credit totals for one entity: the sums the contract defines over the ledger
/// (`application_allocation:<app>` entries) and the usage records (`<app>.` operations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppCreditTotals {
    /// Net credits allocated to the app (reversals are negative entries).
    pub allocated: Decimal,
    /// Credits debited by successful usage of the app's operations.
    pub used: Decimal,
    /// `createdAt` of the latest positive allocation entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_allocated_at: Option<Timestamp>,
    /// `initiatedBy` of that entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_allocated_by: Option<String>,
}

/// What the store derives for a balance from its entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditBalanceDerived {
    /// The entity's type (`allocationType`); absent when the entity record is missing.
    #[serde(default)]
    pub allocation_type: Option<String>,
}

/// The credit cost of one operation, either for one tenant or globally (`tenantId` null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditConfig {
    /// The configuration's id.
    pub config_id: String,
    /// The tenant it applies to; absent for a global configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `<appCode>.<moduleCode>.<permissionCode>`.
    pub operation_code: String,
    /// Display name of the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    /// Credits charged per unit.
    pub credit_cost: Decimal,
    /// The unit charged, `operation` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `false` for a disabled configuration; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

impl CreditConfig {
    /// Active unless `isActive` is `false`.
    pub fn active(&self) -> bool {
        self.is_active != Some(false)
    }
}

impl Validate for CreditBalance {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("entityId", &self.entity_id);
        check_amount(&mut check, "availableCredits", self.available_credits);
        for (app, totals) in &self.app_totals {
            check.app_code(&format!("appTotals.{app}"), app);
            check_amount(&mut check, &format!("appTotals.{app}.allocated"), totals.allocated);
            check_amount(&mut check, &format!("appTotals.{app}.used"), totals.used);
        }
        check.finish()
    }
}

impl Validate for CreditConfig {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("configId", &self.config_id);
        check.opt_id("tenantId", self.tenant_id.as_deref());
        let mut parts = self.operation_code.splitn(2, '.');
        let app = parts.next().unwrap_or_default();
        if parts.next().is_none_or(str::is_empty) {
            check.fail("operationCode", "must be <appCode>.<module>.<permission>");
        } else {
            check.app_code("operationCode", app);
        }
        check.name("operationCode", &self.operation_code);
        check_amount(&mut check, "creditCost", self.credit_cost);
        if self.credit_cost.is_sign_negative() {
            check.fail("creditCost", "must not be negative");
        }
        check.finish()
    }
}

/// Credit amounts have at most 4 fractional digits (contract section 2.3).
fn check_amount(check: &mut Checker, field: &str, amount: Decimal) {
    if amount.normalize().scale() > 4 {
        check.fail(field, "must have at most 4 fractional digits");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn amounts_are_exact_decimal_strings() {
        let balance: CreditBalance = serde_json::from_str(
            r#"{"entityId":"e","availableCredits":"0.1","appTotals":{"crm":{"allocated":"12.5","used":"0.0025"}}}"#,
        )
        .unwrap();
        assert_eq!(balance.available_credits, Decimal::from_str("0.1").unwrap());
        assert_eq!(balance.app_totals["crm"].used, Decimal::from_str("0.0025").unwrap());
        assert_eq!(balance.app_totals["crm"].allocated, Decimal::from_str("12.5").unwrap());
        // A JSON number would already have passed through a float: refused.
        assert!(serde_json::from_str::<CreditBalance>(r#"{"entityId":"e","availableCredits":0.1}"#).is_err());
    }

    #[test]
    fn more_than_four_fractional_digits_is_a_problem() {
        let balance: CreditBalance = serde_json::from_str(r#"{"entityId":"e","availableCredits":"0.00001"}"#).unwrap();
        assert_eq!(balance.problems().len(), 1);
        let round: CreditBalance = serde_json::from_str(r#"{"entityId":"e","availableCredits":"1.50000"}"#).unwrap();
        assert!(round.problems().is_empty(), "trailing zeros are not extra precision");
    }
}
