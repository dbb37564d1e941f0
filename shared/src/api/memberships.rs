//! `GET /tenants/{tenantId}/employee-assignments` (9.11).

use serde::Serialize;

use super::error::FieldProblem;
use super::paging::{PagedRoute, RouteFilters, ViewContext};
use super::params::QueryParams;
use super::roles::id_filters;
use crate::model::{Membership, MembershipDerived};
use crate::store::item::{CollectionRecord, Stored};
use crate::time::Timestamp;

/// A membership as an employee assignment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeAssignmentView {
    assignment_id: String,
    tenant_id: String,
    user_id: String,
    entity_id: String,
    assignment_type: String,
    is_active: bool,
    assigned_at: Timestamp,
    expires_at: Option<Timestamp>,
    assigned_by: Option<String>,
    deactivated_at: Option<Timestamp>,
    deactivated_by: Option<String>,
    priority: u8,
    metadata: AssignmentMetadata,
    membership_status: &'static str,
    updated_at: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentMetadata {
    department: String,
    designation: String,
    employee_code: String,
    organization_name: String,
    organization_code: Option<String>,
    access_level: Option<String>,
}

/// The `employee-assignments` route.
pub struct EmployeeAssignments;

impl PagedRoute for EmployeeAssignments {
    type Record = Membership;
    type View = EmployeeAssignmentView;
    const NAME: &'static str = "employee-assignments";
    const TOMBSTONE: &'static [&'static str] = &["assignmentId", "tenantId", "userId", "entityId"];

    fn filters(query: &QueryParams, _incremental: bool, problems: &mut Vec<FieldProblem>) -> RouteFilters {
        id_filters(query, &[("userId", &["ids", "userId"]), ("entityId", &["ids", "entityId"])], problems)
    }

    fn view(ctx: &ViewContext, stored: &Stored<Membership, MembershipDerived>) -> Option<EmployeeAssignmentView> {
        let m = stored.live()?;
        Some(EmployeeAssignmentView {
            assignment_id: m.membership_id.clone(),
            tenant_id: ctx.tenant_id.clone(),
            user_id: m.user_id.clone(),
            entity_id: m.entity_id.clone(),
            assignment_type: m.membership_type.clone().unwrap_or_else(|| "primary".to_owned()),
            is_active: m.active(&stored.der),
            assigned_at: m.created_at,
            expires_at: m.valid_until,
            assigned_by: m.created_by.clone(),
            deactivated_at: m.deactivated_at,
            deactivated_by: m.deactivated_by.clone(),
            priority: if m.is_primary == Some(true) { 1 } else { 2 },
            metadata: AssignmentMetadata {
                department: m.department.clone().unwrap_or_default(),
                designation: m.job_title.clone().unwrap_or_default(),
                employee_code: m.employee_id.clone().filter(|e| !e.is_empty()).unwrap_or_else(|| m.user_id.clone()),
                organization_name: stored.der.entity_name.clone().unwrap_or_default(),
                organization_code: stored.der.entity_code.clone(),
                access_level: m.access_level.clone(),
            },
            membership_status: m.membership_status.as_str(),
            updated_at: stored.updated_at,
        })
    }
}
