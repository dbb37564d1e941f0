//! The platform's app catalog (apps, modules, permissions) and a tenant's entitlements.

use serde::{Deserialize, Serialize};

use super::validate::{Checker, Problem, Validate};
use crate::time::Timestamp;

/// Whether an app can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppStatus {
    /// Available.
    Active,
    /// Withdrawn.
    Inactive,
    /// Temporarily unavailable.
    Maintenance,
}

/// One app of the platform with its modules. Platform data, shared by all tenants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogApp {
    /// The app's code, for example `crm` or `affiliate_connect`.
    pub app_code: String,
    /// Display name.
    pub app_name: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Availability.
    pub status: AppStatus,
    /// The app's modules, in catalog order.
    pub modules: Vec<CatalogModule>,
}

impl CatalogApp {
    /// Every operation of the app: `<appCode>.<moduleCode>.<permission.code>`, with the
    /// module and permission it comes from, in catalog order.
    pub fn operations(&self) -> impl Iterator<Item = (String, &CatalogModule, &CatalogPermission)> {
        self.modules.iter().flat_map(move |module| {
            module.permissions.iter().map(move |permission| {
                (format!("{}.{}.{}", self.app_code, module.module_code, permission.code), module, permission)
            })
        })
    }
}

/// A module of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogModule {
    /// Unique within the app.
    pub module_code: String,
    /// Display name.
    pub module_name: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Whether every subscription includes it.
    #[serde(default)]
    pub is_core: bool,
    /// The module's permissions.
    pub permissions: Vec<CatalogPermission>,
}

/// A permission of a module; each is an operation that can carry a credit cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogPermission {
    /// Unique within the module.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
}

/// Whether a tenant may use an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entitlement {
    /// The app.
    pub app_code: String,
    /// Switched on.
    pub is_enabled: bool,
    /// Module codes the tenant may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_modules: Option<Vec<String>>,
    /// Subscription tier for the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_tier: Option<String>,
    /// When access ends, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl Validate for CatalogApp {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.app_code("appCode", &self.app_code);
        let mut seen = std::collections::BTreeSet::new();
        for (index, module) in self.modules.iter().enumerate() {
            let field = format!("modules[{index}].moduleCode");
            check.id(&field, &module.module_code);
            if module.module_code.contains('.') {
                check.fail(&field, "must not contain '.'");
            }
            if !seen.insert(module.module_code.as_str()) {
                check.fail(&field, "must be unique within the app");
            }
            let mut codes = std::collections::BTreeSet::new();
            for (p, permission) in module.permissions.iter().enumerate() {
                let field = format!("modules[{index}].permissions[{p}].code");
                check.id(&field, &permission.code);
                if !codes.insert(permission.code.as_str()) {
                    check.fail(&field, "must be unique within the module");
                }
            }
        }
        check.finish()
    }
}

impl Validate for Entitlement {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.app_code("appCode", &self.app_code);
        check.finish()
    }
}
