//! Roles and role assignments.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validate::{Checker, Problem, Validate};
use crate::time::Timestamp;

/// A role definition with its permissions per app and module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Role {
    /// The role's id.
    pub role_id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `{ "<appCode>": { "<moduleCode>": ["<action>", ...] } }`, stored as given; values that
    /// are not arrays of strings are kept but skipped when flattening (R4).
    #[serde(default)]
    pub permissions: BTreeMap<String, serde_json::Value>,
    /// Ordering priority; absent counts as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Built-in roles every tenant has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_system_role: Option<bool>,
    /// `false` for a deactivated role; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// When the role was created.
    pub created_at: Timestamp,
}

impl Role {
    /// R1: a role is active unless `isActive` is `false`.
    pub fn active(&self) -> bool {
        self.is_active != Some(false)
    }

    /// R4: `<app>.<module>.<action>` for every string action of every module whose value is
    /// an array, optionally for one app only; de-duplicated and in byte order.
    pub fn flattened_permissions(&self, app: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = self
            .permissions
            .iter()
            .filter(|(code, _)| app.is_none_or(|wanted| wanted == code.as_str()))
            .filter_map(|(code, modules)| Some((code, modules.as_object()?)))
            .flat_map(|(code, modules)| {
                modules.iter().flat_map(move |(module, actions)| {
                    actions
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|action| action.as_str())
                        .map(move |action| format!("{code}.{module}.{action}"))
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Apps for which the role grants at least one permission: what the `appCode` filter of
    /// `GET /roles` matches on.
    pub fn covered_apps(&self) -> Vec<String> {
        let mut apps: Vec<String> =
            self.permissions.keys().filter(|app| !self.flattened_permissions(Some(app)).is_empty()).cloned().collect();
        apps.sort();
        apps
    }
}

/// What the store derives for a role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDerived {
    /// [`Role::covered_apps`], stored so the `appCode` filter runs inside DynamoDB.
    #[serde(default)]
    pub app_codes: Vec<String>,
}

/// A user holding a role, optionally within one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignment {
    /// The assignment's id.
    pub assignment_id: String,
    /// The user holding the role. Never changes: moving is a delete plus a create.
    pub user_id: String,
    /// The role held. Never changes.
    pub role_id: String,
    /// The entity the assignment is limited to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Who made the assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<String>,
    /// When the assignment was made; the list is ordered by it.
    pub assigned_at: Timestamp,
    /// When the assignment lapses (informational; not treated as inactive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// `false` for a revoked assignment; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

impl RoleAssignment {
    /// R1: active unless `isActive` is `false`.
    pub fn active(&self) -> bool {
        self.is_active != Some(false)
    }
}

/// What the store derives for a role assignment: whether its user and its role exist, kept
/// apart so a write of either record can update its own part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentDerived {
    /// The user exists in the tenant.
    #[serde(default)]
    pub user_ok: bool,
    /// The role exists in the tenant.
    #[serde(default)]
    pub role_ok: bool,
}

impl RoleAssignmentDerived {
    /// Both the user and the role exist: the assignment is listed. Assignments with a
    /// dangling reference are kept (sync validation reports them) but not listed.
    pub fn refs_ok(&self) -> bool {
        self.user_ok && self.role_ok
    }
}

impl Validate for Role {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("roleId", &self.role_id);
        if let Some(name) = &self.role_name {
            check.name("roleName", name);
        }
        for app in self.permissions.keys() {
            check.app_code(&format!("permissions.{app}"), app);
        }
        check.finish()
    }
}

impl Validate for RoleAssignment {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("assignmentId", &self.assignment_id);
        check.id("userId", &self.user_id);
        check.id("roleId", &self.role_id);
        check.opt_id("organizationId", self.organization_id.as_deref());
        check.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(permissions: serde_json::Value) -> Role {
        serde_json::from_value(json!({
            "roleId": "r1", "permissions": permissions, "createdAt": "2026-01-01T00:00:00.000Z"
        }))
        .unwrap()
    }

    #[test]
    fn flattening_sorts_dedups_and_skips_non_arrays() {
        let role = role(json!({
            "crm": { "leads": ["read", "create", "read"], "deals": "all" },
            "hr": { "people": ["view", 3] }
        }));
        assert_eq!(role.flattened_permissions(None), vec!["crm.leads.create", "crm.leads.read", "hr.people.view"]);
        assert_eq!(role.flattened_permissions(Some("hr")), vec!["hr.people.view"]);
    }

    #[test]
    fn covered_apps_need_a_real_permission() {
        let role = role(json!({ "crm": { "deals": "all" }, "hr": { "people": ["view"] } }));
        assert_eq!(role.covered_apps(), vec!["hr"]);
    }
}
