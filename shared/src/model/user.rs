//! Users of a tenant.

use serde::{Deserialize, Serialize};

use super::validate::{Checker, Problem, Validate};
use super::JsonObject;
use crate::time::Timestamp;

/// A person in a tenant. Pending invites have no `kindeUserId` yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// The user's id.
    pub user_id: String,
    /// The Kinde user id; absent for a pending invite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinde_user_id: Option<String>,
    /// Email address.
    pub email: String,
    /// Full display name; first and last names are derived from it only when both are absent (R2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Job title, reported as `designation` / `profile.title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Department name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// The entity the user primarily belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_organization_id: Option<String>,
    /// `false` for a deactivated user; absent means active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Whether the email address is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_verified: Option<bool>,
    /// Whether the user administers the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant_admin: Option<bool>,
    /// Whether the user is the tenant's responsible person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_responsible_person: Option<bool>,
    /// Whether the user finished onboarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding_completed: Option<bool>,
    /// Last sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<Timestamp>,
    /// Last activity of any kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<Timestamp>,
    /// Number of sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_count: Option<i64>,
    /// Free-form user preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<JsonObject>,
    /// When the user was created; the `users` list is ordered by it.
    pub created_at: Timestamp,
}

impl User {
    /// R1: a user is active unless `isActive` is `false`.
    pub fn active(&self) -> bool {
        self.is_active != Some(false)
    }
}

/// What the store derives for a user from its memberships.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDerived {
    /// R3: `employeeId` of the user's earliest active primary membership, else the user id.
    pub employee_code: String,
}

impl Validate for User {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("userId", &self.user_id);
        check.opt_id("kindeUserId", self.kinde_user_id.as_deref());
        check.opt_id("primaryOrganizationId", self.primary_organization_id.as_deref());
        if !self.email.contains('@') {
            check.fail("email", "must be an email address");
        }
        if self.login_count.is_some_and(|count| count < 0) {
            check.fail("loginCount", "must not be negative");
        }
        check.finish()
    }
}
