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

    /// R2: `firstName` and `lastName` as stored (`""` when absent); only when both are
    /// absent or blank are they split from `name` (first word, then the rest).
    pub fn display_names(&self) -> (String, String) {
        let blank = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
        if !(blank(&self.first_name) && blank(&self.last_name)) {
            return (self.first_name.clone().unwrap_or_default(), self.last_name.clone().unwrap_or_default());
        }
        let name = self.name.as_deref().unwrap_or("");
        let mut parts = name.split_whitespace();
        let first = parts.next().unwrap_or("").to_owned();
        (first, parts.collect::<Vec<_>>().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(first: Option<&str>, last: Option<&str>, name: Option<&str>) -> User {
        let mut user: User = serde_json::from_value(
            serde_json::json!({ "userId": "u", "email": "u@x.example", "createdAt": "2026-01-01T00:00:00Z" }),
        )
        .unwrap();
        user.first_name = first.map(str::to_owned);
        user.last_name = last.map(str::to_owned);
        user.name = name.map(str::to_owned);
        user
    }

    #[test]
    fn stored_names_win_over_the_full_name() {
        assert_eq!(user(Some("Ada"), None, Some("Grace Hopper")).display_names(), ("Ada".into(), "".into()));
        assert_eq!(user(None, Some("King"), Some("Grace Hopper")).display_names(), ("".into(), "King".into()));
    }

    #[test]
    fn the_full_name_is_split_only_when_both_are_absent() {
        assert_eq!(
            user(None, None, Some("  Mary   Ann  van Dijk ")).display_names(),
            ("Mary".into(), "Ann van Dijk".into())
        );
        assert_eq!(user(Some(" "), Some(""), Some("Cher")).display_names(), ("Cher".into(), "".into()));
        assert_eq!(user(None, None, None).display_names(), ("".into(), "".into()));
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
