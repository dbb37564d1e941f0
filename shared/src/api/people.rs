//! `GET /tenants/{tenantId}/users` (9.3) and `GET /tenants/{tenantId}/tenant-users` (9.5).

use serde::Serialize;

use super::error::FieldProblem;
use super::paging::{PagedRoute, RouteFilters, ViewContext};
use super::params::{self, QueryParams};
use crate::model::{JsonObject, User, UserDerived};
use crate::store::item::Stored;
use crate::store::query::Filter;
use crate::time::Timestamp;

/// The compact "CRM" user shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    user_id: String,
    kinde_id: Option<String>,
    employee_code: String,
    personal_info: PersonalInfo,
    organization: UserOrganization,
    status: UserStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PersonalInfo {
    first_name: String,
    last_name: String,
    email: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserOrganization {
    org_code: Option<String>,
    department: String,
    designation: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserStatus {
    is_active: bool,
    last_activity_at: Option<Timestamp>,
}

/// The `users` route.
pub struct Users;

impl PagedRoute for Users {
    type Record = User;
    type View = UserView;
    const NAME: &'static str = "users";
    const TOMBSTONE: &'static [&'static str] = &["userId"];

    fn filters(query: &QueryParams, incremental: bool, problems: &mut Vec<FieldProblem>) -> RouteFilters {
        let mut filters = RouteFilters::default();
        if let Some(entity) = params::id(query, "entityId", problems) {
            if incremental {
                problems.push(FieldProblem {
                    field: "entityId".into(),
                    problem: "cannot be combined with updatedSince (a user's primary organization can change)".into(),
                });
            }
            filters.store.push(Filter::Equals(&["rec", "primaryOrganizationId"], entity.clone()));
            filters.effective.insert("entityId", entity);
        }
        filters
    }

    fn view(_ctx: &ViewContext, stored: &Stored<User, UserDerived>) -> Option<UserView> {
        let user = stored.live()?;
        let (first_name, last_name) = user.display_names();
        Some(UserView {
            user_id: user.user_id.clone(),
            kinde_id: user.kinde_user_id.clone(),
            employee_code: stored.der.employee_code.clone(),
            personal_info: PersonalInfo { first_name, last_name, email: user.email.clone() },
            organization: UserOrganization {
                org_code: user.primary_organization_id.clone(),
                department: user.department.clone().unwrap_or_default(),
                designation: user.title.clone().unwrap_or_default(),
            },
            status: UserStatus {
                is_active: user.active(),
                last_activity_at: user.last_active_at.or(user.last_login_at),
            },
            created_at: user.created_at,
            updated_at: stored.updated_at,
        })
    }
}

/// The detailed user shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantUserView {
    user_id: String,
    tenant_id: String,
    kinde_id: Option<String>,
    email: String,
    first_name: String,
    last_name: String,
    primary_organization_id: Option<String>,
    is_responsible_person: bool,
    is_tenant_admin: bool,
    is_verified: bool,
    onboarding_completed: bool,
    last_login_at: Option<Timestamp>,
    login_count: i64,
    preferences: JsonObject,
    profile: Profile,
    security: Security,
    metadata: Metadata,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    title: String,
    department: String,
    employee_code: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Security {
    is_active: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    avatar: String,
    name: String,
}

/// The `tenant-users` route.
pub struct TenantUsers;

impl PagedRoute for TenantUsers {
    type Record = User;
    type View = TenantUserView;
    const NAME: &'static str = "tenant-users";
    const TOMBSTONE: &'static [&'static str] = &["userId", "tenantId"];

    fn filters(_query: &QueryParams, _incremental: bool, _problems: &mut Vec<FieldProblem>) -> RouteFilters {
        RouteFilters::default()
    }

    fn view(ctx: &ViewContext, stored: &Stored<User, UserDerived>) -> Option<TenantUserView> {
        let user = stored.live()?;
        let (first_name, last_name) = user.display_names();
        Some(TenantUserView {
            user_id: user.user_id.clone(),
            tenant_id: ctx.tenant_id.clone(),
            kinde_id: user.kinde_user_id.clone(),
            email: user.email.clone(),
            first_name,
            last_name,
            primary_organization_id: user.primary_organization_id.clone(),
            is_responsible_person: user.is_responsible_person.unwrap_or(false),
            is_tenant_admin: user.is_tenant_admin.unwrap_or(false),
            is_verified: user.is_verified.unwrap_or(false),
            onboarding_completed: user.onboarding_completed.unwrap_or(false),
            last_login_at: user.last_login_at,
            login_count: user.login_count.unwrap_or(0),
            preferences: user.preferences.clone().unwrap_or_default(),
            profile: Profile {
                title: user.title.clone().unwrap_or_default(),
                department: user.department.clone().unwrap_or_default(),
                employee_code: stored.der.employee_code.clone(),
            },
            security: Security { is_active: user.active() },
            metadata: Metadata {
                avatar: user.avatar.clone().unwrap_or_default(),
                name: user.name.clone().unwrap_or_default(),
            },
            created_at: user.created_at,
            updated_at: stored.updated_at,
        })
    }
}
