//! `GET /tenants/{tenantId}/roles` (9.6) and `GET /tenants/{tenantId}/role-assignments` (9.12).

use serde::Serialize;

use super::error::FieldProblem;
use super::paging::{PagedRoute, RouteFilters, ViewContext};
use super::params::{self, QueryParams};
use crate::model::{Role, RoleAssignment, RoleAssignmentDerived, RoleDerived};
use crate::store::item::Stored;
use crate::store::query::Filter;
use crate::time::Timestamp;

/// A role with flattened permissions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    role_id: String,
    role_name: String,
    permissions: Vec<String>,
    priority: i64,
    is_active: bool,
    description: String,
    tenant_id: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The `roles` route. With `appCode`, only roles with a permission for the app match (in
/// DynamoDB, before paging); in incremental mode every changed role is returned, with the
/// app's permissions only (possibly none).
pub struct Roles;

impl PagedRoute for Roles {
    type Record = Role;
    type View = RoleView;
    const NAME: &'static str = "roles";
    const TOMBSTONE: &'static [&'static str] = &["roleId", "tenantId"];

    fn filters(query: &QueryParams, incremental: bool, problems: &mut Vec<FieldProblem>) -> RouteFilters {
        let mut filters = RouteFilters::default();
        if let Some(app) = params::app_code(query, problems) {
            if !incremental {
                filters.store.push(Filter::Contains(&["der", "appCodes"], app.clone()));
            }
            filters.effective.insert("appCode", app.clone());
            filters.app_code = Some(app);
        }
        filters
    }

    fn view(ctx: &ViewContext, stored: &Stored<Role, RoleDerived>) -> Option<RoleView> {
        let role = stored.live()?;
        Some(RoleView {
            role_id: role.role_id.clone(),
            role_name: role.role_name.clone().unwrap_or_default(),
            permissions: role.flattened_permissions(ctx.app_code.as_deref()),
            priority: role.priority.unwrap_or(0),
            is_active: role.active(),
            description: role.description.clone().unwrap_or_default(),
            tenant_id: ctx.tenant_id.clone(),
            created_at: role.created_at,
            updated_at: stored.updated_at,
        })
    }
}

/// A role assignment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentView {
    assignment_id: String,
    tenant_id: String,
    user_id: String,
    role_id: String,
    entity_id: String,
    assigned_by: Option<String>,
    assigned_at: Timestamp,
    expires_at: Option<Timestamp>,
    is_active: bool,
    updated_at: Timestamp,
}

/// The `role-assignments` route.
pub struct RoleAssignments;

impl PagedRoute for RoleAssignments {
    type Record = RoleAssignment;
    type View = RoleAssignmentView;
    const NAME: &'static str = "role-assignments";
    const TOMBSTONE: &'static [&'static str] = &["assignmentId", "tenantId", "userId", "roleId"];

    fn filters(query: &QueryParams, _incremental: bool, problems: &mut Vec<FieldProblem>) -> RouteFilters {
        id_filters(query, &[("userId", &["ids", "userId"]), ("roleId", &["ids", "roleId"])], problems)
    }

    fn view(ctx: &ViewContext, stored: &Stored<RoleAssignment, RoleAssignmentDerived>) -> Option<RoleAssignmentView> {
        let a = stored.live()?;
        Some(RoleAssignmentView {
            assignment_id: a.assignment_id.clone(),
            tenant_id: ctx.tenant_id.clone(),
            user_id: a.user_id.clone(),
            role_id: a.role_id.clone(),
            entity_id: a.organization_id.clone().unwrap_or_else(|| ctx.tenant_id.clone()),
            assigned_by: a.assigned_by.clone(),
            assigned_at: a.assigned_at,
            expires_at: a.expires_at,
            is_active: a.active(),
            updated_at: stored.updated_at,
        })
    }
}

/// Equality filters on id parameters (`userId`, `entityId`, `roleId`): each given one
/// becomes a DynamoDB filter on the stored member at its path. The paths name the item's
/// `ids`, which live records and tombstones both carry, so filtered incremental pulls
/// report deletions too.
pub fn id_filters(
    query: &QueryParams,
    params_and_paths: &[(&'static str, &'static [&'static str])],
    problems: &mut Vec<FieldProblem>,
) -> RouteFilters {
    let mut filters = RouteFilters::default();
    for (name, path) in params_and_paths {
        if let Some(value) = params::id(query, name, problems) {
            filters.store.push(Filter::Equals(path, value.clone()));
            filters.effective.insert(name, value);
        }
    }
    filters
}
