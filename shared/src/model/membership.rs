//! Memberships: which users belong to which entities ("employee assignments").

use serde::{Deserialize, Serialize};

use super::validate::{Checker, Problem, Validate};
use crate::time::Timestamp;

/// Lifecycle state of a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipStatus {
    /// In force.
    Active,
    /// Ended.
    Inactive,
    /// Temporarily suspended.
    Suspended,
    /// Invited, not yet accepted.
    Pending,
}

impl MembershipStatus {
    /// The lowercase name used in responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Suspended => "suspended",
            Self::Pending => "pending",
        }
    }
}

/// A user's membership in an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Membership {
    /// The membership's id, reported as `assignmentId`.
    pub membership_id: String,
    /// The member. Never changes: moving is a delete plus a create.
    pub user_id: String,
    /// The entity. Never changes.
    pub entity_id: String,
    /// `direct`, `inherited` or `temporary`; reported as `"primary"` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_type: Option<String>,
    /// Lifecycle state.
    pub membership_status: MembershipStatus,
    /// Access level within the entity, for example `member` or `manager`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    /// Whether this is the user's primary membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_primary: Option<bool>,
    /// Department within the entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Job title within the entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// HR employee number; the user's employee code comes from the primary membership's (R3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    /// End of a temporary membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    /// When the status left `active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<Timestamp>,
    /// Who deactivated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_by: Option<String>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was created; the list is ordered by it (`assignedAt`).
    pub created_at: Timestamp,
}

impl Membership {
    /// Whether this membership counts for R3 (primary and active).
    pub fn is_active_primary(&self) -> bool {
        self.is_primary == Some(true) && self.membership_status == MembershipStatus::Active
    }
}

/// What the store derives for a membership from its user and entity. The user's part and
/// the entity's part are kept apart, so that a write of the user (or of the entity) can
/// bring its own part up to date without reading the other record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipDerived {
    /// The user exists in the tenant.
    #[serde(default)]
    pub user_ok: bool,
    /// The member's `isActive` is not `false` (R1 for employee assignments).
    #[serde(default)]
    pub user_active: bool,
    /// The entity exists in the tenant.
    #[serde(default)]
    pub entity_ok: bool,
    /// The entity's name, reported as `metadata.organizationName`.
    #[serde(default)]
    pub entity_name: Option<String>,
    /// The entity's code, reported as `metadata.organizationCode`.
    #[serde(default)]
    pub entity_code: Option<String>,
}

impl MembershipDerived {
    /// Both the user and the entity exist: the membership is listed. Memberships with a
    /// dangling reference are kept (sync validation reports them) but not listed.
    pub fn refs_ok(&self) -> bool {
        self.user_ok && self.entity_ok
    }
}

impl Validate for Membership {
    fn problems(&self) -> Vec<Problem> {
        let mut check = Checker::default();
        check.id("membershipId", &self.membership_id);
        check.id("userId", &self.user_id);
        check.id("entityId", &self.entity_id);
        check.finish()
    }
}

/// R3 over a user's memberships: the earliest (by `createdAt`, then `membershipId`) active
/// primary membership with a non-empty `employeeId` decides; otherwise the user id.
pub fn employee_code<'a>(user_id: &str, memberships: impl IntoIterator<Item = &'a Membership>) -> String {
    memberships
        .into_iter()
        .filter(|m| m.is_active_primary())
        .min_by(|a, b| (a.created_at, &a.membership_id).cmp(&(b.created_at, &b.membership_id)))
        .and_then(|m| m.employee_id.clone())
        .filter(|code| !code.is_empty())
        .unwrap_or_else(|| user_id.to_owned())
}
